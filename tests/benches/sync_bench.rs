//! Sync end to end: the portal simulator on loopback, the real SQLCipher store and
//! vault on disk, the sync machine driven as in the workstation. Prints a Markdown
//! table. `make bench`.
//!
//! 1. Pickup of `BENCH_SUBMISSIONS` (default 10,000) submissions with one 200 KB
//!    attachment each: list, fetch, verify the event log, decrypt, store (case,
//!    documents in the vault, audit, accept item) – then the accepts drain.
//! 2. Incremental sync (10 new submissions) with 0, with the submissions of (1), and
//!    with 100,000 submissions already known locally: the cost must not grow.
//! 3. Outbox drain: fee bookings (payment requests) and replies (sealed for the
//!    citizen's mailbox, one PDF each).

use std::path::Path;
use std::time::{Duration, Instant};

use amtsstube_tests::bench::{env_usize, peak_mb};
use amtsstube_tests::local::{store, subscriber};
use amtsstube_tests::sim::{BoxError, Running, client};
use store::{DocumentKind, IncomingDocument, IncomingSubmission, NewOutboxItem, Session};
use sync::core::ConnectivityTracker;
use sync::{PaymentItem, PushPolicy, RunReport};
use uuid::Uuid;

const ATTACHMENT: usize = 200 * 1024;

struct Timed {
    report: RunReport,
    took: Duration,
}

async fn pull(run: &Running, session: &mut Session) -> Result<Timed, BoxError> {
    let api = client(&run.config)?;
    let sub = subscriber(run)?;
    let mut tracker = ConnectivityTracker::default();
    let start = Instant::now();
    let report = sync::pull(&api, session, &sub, &mut tracker).await?;
    Ok(Timed {
        report,
        took: start.elapsed(),
    })
}

async fn push(run: &Running, session: &mut Session) -> Result<Timed, BoxError> {
    let api = client(&run.config)?;
    let sub = subscriber(run)?;
    let mut tracker = ConnectivityTracker::default();
    let policy = PushPolicy {
        batch: 500,
        ..PushPolicy::default()
    };
    let start = Instant::now();
    let report = sync::push(&api, session, &sub, &policy, &mut tracker).await?;
    Ok(Timed {
        report,
        took: start.elapsed(),
    })
}

/// Pick up 10 new submissions and deliver their accepts.
async fn incremental(
    run: &Running,
    session: &mut Session,
    seed: u64,
) -> Result<Duration, BoxError> {
    portal_sim::seed::seed_sized(&mut run.sim.lock(), 10, ATTACHMENT, seed)?;
    let p = pull(run, session).await?;
    assert_eq!(p.report.new_cases, 10, "{:?}", p.report);
    let q = push(run, session).await?;
    assert_eq!(q.report.delivered, 10, "{:?}", q.report);
    Ok(p.took + q.took)
}

/// OpenSSL's RSA-4096 OAEP (SHA-256) private-key operations per second, summed
/// over `threads` threads decrypting at once for about three seconds: the bound
/// for opening FIT-Connect submissions on this machine, measured in the same run.
pub fn rsa_private_rate(threads: usize) -> Result<f64, BoxError> {
    use openssl::encrypt::{Decrypter, Encrypter};
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::{Padding, Rsa};
    use std::time::{Duration, Instant};
    let key = PKey::from_rsa(Rsa::generate(4096)?)?;
    let mut enc = Encrypter::new(&key)?;
    enc.set_rsa_padding(Padding::PKCS1_OAEP)?;
    enc.set_rsa_oaep_md(MessageDigest::sha256())?;
    enc.set_rsa_mgf1_md(MessageDigest::sha256())?;
    let cek = [7u8; 32];
    let mut ct = vec![0u8; enc.encrypt_len(&cek)?];
    let n = enc.encrypt(&cek, &mut ct)?;
    ct.truncate(n);
    let one = |key: &PKey<openssl::pkey::Private>| -> Result<f64, openssl::error::ErrorStack> {
        let mut dec = Decrypter::new(key)?;
        dec.set_rsa_padding(Padding::PKCS1_OAEP)?;
        dec.set_rsa_oaep_md(MessageDigest::sha256())?;
        dec.set_rsa_mgf1_md(MessageDigest::sha256())?;
        let mut out = vec![0u8; dec.decrypt_len(&ct)?];
        let start = Instant::now();
        let mut ops = 0u64;
        while start.elapsed() < Duration::from_secs(3) {
            dec.decrypt(&ct, &mut out)?;
            ops += 1;
        }
        Ok(ops as f64 / start.elapsed().as_secs_f64())
    };
    let rates: Vec<Result<f64, BoxError>> = std::thread::scope(|s| {
        let running: Vec<_> = (0..threads.max(1)).map(|_| s.spawn(|| one(&key))).collect();
        running
            .into_iter()
            .map(|t| match t.join() {
                Ok(rate) => rate.map_err(Into::into),
                Err(_) => Err("RSA-Messung abgebrochen".into()),
            })
            .collect()
    });
    let mut sum = 0.0;
    for r in rates {
        sum += r?;
    }
    Ok(sum)
}

/// What the store's single writer can take: `n` opened submissions (metadata, data
/// and a 200 KB attachment, as the pickup stores them) committed one by one. With
/// `ahead` the documents are written into the vault first (as the pickup does on
/// the blocking pool) and only the transactions are timed.
fn store_alone(session: &mut Session, n: usize, ahead: bool) -> Result<Duration, BoxError> {
    let attachment = vec![0x25u8; ATTACHMENT];
    let mut took = Duration::ZERO;
    let salt = if ahead { 0x1000_0000_0000 } else { 0 };
    for i in 0..n {
        let i = i + salt;
        let sid = Uuid::from_u128(0xC000_0000_0000_0000 + i as u128).to_string();
        let case = Uuid::from_u128(0xD000_0000_0000_0000 + i as u128).to_string();
        let doc = |kind, mime: &str, bytes: Vec<u8>| IncomingDocument {
            kind,
            filename: None,
            mime_type: mime.into(),
            bytes,
        };
        let incoming = IncomingSubmission {
            submission_id: sid.clone(),
            fc_case_id: case.clone(),
            service: "99102013000000".into(),
            case_type: "Meldebescheinigung".into(),
            applicant: format!("Person {i}"),
            received_at: "2026-12-01T08:00:00Z".into(),
            auth_tags: "{}".into(),
            documents: vec![
                doc(DocumentKind::Metadata, "application/json", vec![b'{'; 1200]),
                doc(DocumentKind::Data, "application/json", vec![b'{'; 900]),
                doc(
                    DocumentKind::Attachment,
                    "application/pdf",
                    attachment.clone(),
                ),
            ],
            accept: NewOutboxItem {
                idempotency_key: format!("accept:{sid}"),
                kind: "accept".into(),
                ordering_key: case,
                payload: "{}".into(),
            },
        };
        if ahead {
            let writer = session.blob_writer();
            let prepared = incoming
                .documents
                .iter()
                .map(|d| writer.write(d.bytes.as_slice()))
                .collect::<Result<Vec<_>, _>>()?;
            let start = Instant::now();
            session.store_submission_prepared(&incoming, prepared)?;
            took += start.elapsed();
        } else {
            let start = Instant::now();
            session.store_submission(&incoming)?;
            took += start.elapsed();
        }
    }
    Ok(took)
}

/// 100,000 submissions known locally (accepted long ago), without documents.
fn known_submissions(session: &mut Session, n: usize) -> Result<(), BoxError> {
    for i in 0..n {
        let sid = Uuid::from_u128(0xA000_0000_0000_0000 + i as u128).to_string();
        let case = Uuid::from_u128(0xB000_0000_0000_0000 + i as u128).to_string();
        session.store_submission(&IncomingSubmission {
            submission_id: sid.clone(),
            fc_case_id: case.clone(),
            service: "99102013000000".into(),
            case_type: "Meldebescheinigung".into(),
            applicant: format!("Person {i}"),
            received_at: "2025-06-01T08:00:00Z".into(),
            auth_tags: "{}".into(),
            // Their documents do not matter for what is measured (lookups by id).
            documents: Vec::new(),
            accept: NewOutboxItem {
                idempotency_key: format!("accept:{sid}"),
                kind: "accept".into(),
                ordering_key: case,
                payload: "{}".into(),
            },
        })?;
    }
    // They were accepted long ago: mark them done without the network.
    for item in session.outbox_items(Some("pending"))? {
        session.outbox_done(item.id)?;
    }
    Ok(())
}

fn main() -> Result<(), BoxError> {
    // The portal on threads of its own, as a remote one would be (the cores are
    // shared all the same).
    let portal = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("portal")
        .enable_all()
        .build()?;
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let running = portal.block_on(amtsstube_tests::sim::start(target))?;
    // The synchronisation as the app runs it: one thread for the run and the
    // store, CPU work on the blocking pool (`workstation::background`). With
    // `BENCH_SYNC_RUNTIME=multi` on two worker threads instead.
    let rt = match std::env::var("BENCH_SYNC_RUNTIME").as_deref() {
        Ok("multi") => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?,
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
    };
    rt.block_on(run(running))
}

async fn run(run: Running) -> Result<(), BoxError> {
    let count = env_usize("BENCH_SUBMISSIONS", 10_000);
    let known = env_usize("BENCH_KNOWN", 100_000);
    let outbox = env_usize("BENCH_OUTBOX", 1_000);
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut rows: Vec<(String, String)> = Vec::new();

    // 1. Full pickup.
    let t = Instant::now();
    portal_sim::seed::seed_sized(&mut run.sim.lock(), count, ATTACHMENT, 1)?;
    eprintln!("{count} Einreichungen vorbereitet in {:?}", t.elapsed());
    let tmp = tempfile::tempdir_in(target)?;
    let mut session = store(&tmp.path().join("daten"))?;
    let before = peak_mb();
    let p = pull(&run, &mut session).await?;
    assert_eq!(p.report.new_cases, count, "{:?}", p.report);
    let q = push(&run, &mut session).await?;
    assert_eq!(q.report.delivered, count, "{:?}", q.report);
    let total = p.took + q.took;
    rows.push((
        format!(
            "pickup of {count} submissions (200 KB attachment each) into the store, end to end"
        ),
        format!(
            "{:.1} s ({:.1} submissions/s)",
            total.as_secs_f64(),
            count as f64 / total.as_secs_f64()
        ),
    ));
    rows.push((
        "of which list + fetch + verify + decrypt + store".into(),
        format!(
            "{:.1} s ({:.1} ms each)",
            p.took.as_secs_f64(),
            p.took.as_secs_f64() * 1000.0 / count as f64
        ),
    ));
    rows.push((
        "of which accepts delivered (signed SET, POST, commit)".into(),
        format!(
            "{:.1} s ({:.0} items/s)",
            q.took.as_secs_f64(),
            count as f64 / q.took.as_secs_f64()
        ),
    ));
    // The bound: OpenSSL's RSA rate on every core, measured in this run (three
    // unwraps per submission), and what the store alone takes.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rsa_one = rsa_private_rate(1)?;
    let rsa_all = rsa_private_rate(cores)?;
    let bound = rsa_all / 3.0;
    let pulled = count as f64 / p.took.as_secs_f64();
    rows.push((
        format!(
            "OpenSSL RSA-4096 OAEP private-key operations, same run: 1 thread / all {cores} cores"
        ),
        format!("{rsa_one:.0} /s / {rsa_all:.0} /s"),
    ));
    rows.push((
        "bound on all cores (3 unwraps per submission)".into(),
        format!("{bound:.0} submissions/s"),
    ));
    rows.push((
        "pickup (list + fetch + verify + decrypt + store): share of the all-core bound (target ≥ 70 %)".into(),
        format!("{:.0} % ({pulled:.1} submissions/s)", pulled / bound * 100.0),
    ));
    let alone_tmp = tempfile::tempdir_in(target)?;
    let mut alone = store(&alone_tmp.path().join("daten"))?;
    let n_alone = count.min(2_000);
    let rate = |took: Duration| {
        format!(
            "{:.1} submissions/s ({:.1} ms each)",
            n_alone as f64 / took.as_secs_f64(),
            took.as_secs_f64() * 1000.0 / n_alone as f64
        )
    };
    rows.push((
        format!(
            "the store alone: {n_alone} opened submissions committed (3 vault files each, fsync)"
        ),
        rate(store_alone(&mut alone, n_alone, false)?),
    ));
    rows.push((
        format!(
            "the store's writer alone, documents written ahead: {n_alone} transactions committed"
        ),
        rate(store_alone(&mut alone, n_alone, true)?),
    ));
    drop(alone);
    rows.push((
        "peak memory before → after the pickup (VmHWM)".into(),
        format!("{before:.0} MB → {:.0} MB", peak_mb()),
    ));

    // 2. Incremental syncs.
    let fresh_tmp = tempfile::tempdir_in(target)?;
    let mut fresh = store(&fresh_tmp.path().join("daten"))?;
    let empty = incremental(&run, &mut fresh, 100).await?;
    let after_full = incremental(&run, &mut session, 101).await?;
    let big_tmp = tempfile::tempdir_in(target)?;
    let mut big = store(&big_tmp.path().join("daten"))?;
    let t = Instant::now();
    known_submissions(&mut big, known)?;
    eprintln!(
        "{known} bekannte Einreichungen angelegt in {:?}",
        t.elapsed()
    );
    let with_known = incremental(&run, &mut big, 102).await?;
    for (label, d) in [
        ("0".to_owned(), empty),
        (format!("{}", count + 10), after_full),
        (format!("{known}"), with_known),
    ] {
        rows.push((
            format!("incremental sync, 10 new, {label} already local"),
            format!("{:.0} ms", d.as_secs_f64() * 1000.0),
        ));
    }

    // 3. Outbox drain: fee bookings and replies.
    let payment_url = format!(
        "{}/payment/v1/paymenttransaction/amtsstube/gebuehren",
        run.config.api_url
    );
    let cases: Vec<Uuid> = run.sim.lock().cases.keys().copied().take(50).collect();
    for n in 0..outbox {
        let case = cases[n % cases.len()];
        session.enqueue(
            &PaymentItem {
                url: payment_url.clone(),
                request_id: format!("bench-{n}"),
                kassenzeichen: format!("5.0100.{n:06}"),
                amount_cents: 2_500,
                due_date: "2026-12-23".into(),
                description: "Gebühr".into(),
            }
            .outbox_item(&format!("payment:{n}"), &case.to_string()),
        )?;
    }
    let d = push(&run, &mut session).await?;
    assert_eq!(d.report.delivered, outbox, "{:?}", d.report);
    rows.push((
        format!("outbox drain: {outbox} fee bookings (payment requests)"),
        format!("{:.0} items/s", outbox as f64 / d.took.as_secs_f64()),
    ));
    let replies = outbox / 5;
    let pdf = vec![b'%'; ATTACHMENT];
    for n in 0..replies {
        let case = cases[n % cases.len()];
        let blob = session.put_blob(pdf.as_slice())?;
        session.enqueue(
            &amtsstube_tests::local::reply(
                case,
                run.config.reply_destination_id,
                n,
                blob.id.as_str(),
            )
            .outbox_item(&format!("reply:{n}")),
        )?;
    }
    let d = push(&run, &mut session).await?;
    assert_eq!(d.report.delivered, replies, "{:?}", d.report);
    rows.push((
        format!("outbox drain: {replies} replies (200 KB PDF each, sealed, 3 requests each)"),
        format!("{:.0} items/s", replies as f64 / d.took.as_secs_f64()),
    ));

    println!("| measurement | result |");
    println!("|---|---|");
    for (k, v) in rows {
        println!("| {k} | {v} |");
    }
    Ok(())
}
