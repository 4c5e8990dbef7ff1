//! Store benchmarks: `make bench` (release build). Prints a Markdown table.
//!
//! * unlock (scrypt at the production work factor + SQLCipher open + vault check)
//! * insert and read of 100,000 small records
//! * blob write and read of a 100 MB file, next to the `age` command-line tool on
//!   the same file in the same run
//! * peak memory (VmHWM) after the blob runs, to show that blobs are streamed

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use domain::UserName;
use store::{Clock, InitOptions, NewCase, SecretString, Store, StoreConfig};

type R<T> = Result<T, Box<dyn std::error::Error>>;

const RECORDS: usize = 100_000;
const BLOB_MB: u64 = 100;

fn mb_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1_048_576.0 / d.as_secs_f64()
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn time_cmd(cmd: &mut Command) -> R<Duration> {
    let t = Instant::now();
    let status = cmd.status()?;
    if !status.success() {
        return Err(format!("{cmd:?} failed").into());
    }
    Ok(t.elapsed())
}

fn main() -> R<()> {
    // `cargo bench` passes `--bench`; nothing to parse.
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");
    let user = UserName::parse("admin")?;
    let password = SecretString::from("bench-passwort-1".to_owned());
    let config = StoreConfig::default();
    let (session, _recovery) = Store::init(
        &dir,
        InitOptions {
            admin: user.clone(),
            admin_display_name: "Bench".into(),
            admin_password: password.clone(),
            config: config.clone(),
        },
        Clock::system(),
    )?;
    let store = session.lock();
    let mut rows = Vec::new();

    // Unlock.
    let runs = 5;
    let mut total = Duration::ZERO;
    for _ in 0..runs {
        let t = Instant::now();
        let s = store.unlock(&user, &password)?;
        total += t.elapsed();
        drop(s.lock());
    }
    rows.push((
        format!(
            "unlock (scrypt 2^{}, SQLCipher open, vault check), mean of {runs}",
            config.scrypt_log_n
        ),
        format!("{:.0} ms", total.as_secs_f64() * 1000.0 / runs as f64),
    ));

    // Records.
    let mut s = store.unlock(&user, &password)?;
    let cases: Vec<NewCase> = (0..RECORDS)
        .map(|i| NewCase {
            file_number: format!("MB-2026-{i:06}"),
            case_type: "Meldebescheinigung".into(),
            applicant: format!("Antragstellende {i}"),
            status: "eingegangen".into(),
            received_at: format!("2026-11-{:02}T08:00:00Z", 1 + i % 28),
        })
        .collect();
    let t = Instant::now();
    s.insert_cases(&cases)?;
    let d = t.elapsed();
    rows.push((
        format!("insert {RECORDS} records (one transaction)"),
        format!(
            "{:.0} ms ({:.0} records/s)",
            d.as_secs_f64() * 1000.0,
            RECORDS as f64 / d.as_secs_f64()
        ),
    ));
    let t = Instant::now();
    let first = s.list_cases(100, 0)?;
    let d = t.elapsed();
    assert_eq!(first.len(), 100);
    rows.push((
        format!("work list first page (100 of {RECORDS}, newest first)"),
        format!("{:.2} ms", d.as_secs_f64() * 1000.0),
    ));
    let t = Instant::now();
    let mut n = 0;
    let page = 500;
    loop {
        let got = s.list_cases(page, n)?;
        if got.is_empty() {
            break;
        }
        n += got.len() as u32;
    }
    let d = t.elapsed();
    assert_eq!(n as usize, RECORDS);
    rows.push((
        format!("read {RECORDS} records (pages of {page}, sorted)"),
        format!(
            "{:.0} ms ({:.0} records/s)",
            d.as_secs_f64() * 1000.0,
            RECORDS as f64 / d.as_secs_f64()
        ),
    ));
    let t = Instant::now();
    for i in 0..1000 {
        s.insert_case(&NewCase {
            file_number: format!("EINZEL-{i:04}"),
            case_type: "Hundesteuer".into(),
            applicant: "X".into(),
            status: "eingegangen".into(),
            received_at: "2026-11-23T08:00:00Z".into(),
        })?;
    }
    let d = t.elapsed();
    rows.push((
        "insert 1,000 records, one durable transaction each (with audit entry)".into(),
        format!("{:.2} ms per record", d.as_secs_f64()),
    ));

    // Blobs: a 100 MB file of random bytes.
    let src = tmp.path().join("scan.bin");
    {
        let mut w = BufWriter::new(File::create(&src)?);
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..BLOB_MB {
            rand_fill(&mut buf);
            w.write_all(&buf)?;
        }
        w.flush()?;
    }
    let bytes = BLOB_MB * 1_048_576;
    let rss_before = peak_rss_mb();
    let t = Instant::now();
    let info = s.put_blob(File::open(&src)?)?;
    let write = t.elapsed();
    let t = Instant::now();
    let mut r = s.open_blob(&info.id)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut read_bytes = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        read_bytes += k as u64;
    }
    let read = t.elapsed();
    assert_eq!(read_bytes, bytes);
    rows.push((
        format!("vault write {BLOB_MB} MB (age X25519, fsync, rename)"),
        format!(
            "{:.0} ms ({:.0} MB/s)",
            write.as_secs_f64() * 1000.0,
            mb_s(bytes, write)
        ),
    ));
    rows.push((
        format!("vault read {BLOB_MB} MB (streaming decrypt)"),
        format!(
            "{:.0} ms ({:.0} MB/s)",
            read.as_secs_f64() * 1000.0,
            mb_s(bytes, read)
        ),
    ));
    if let (Some(before), Some(after)) = (rss_before, peak_rss_mb()) {
        rows.push((
            "peak memory before → after the 100 MB blob runs (VmHWM)".into(),
            format!("{before:.0} MB → {after:.0} MB"),
        ));
    }

    // The age command-line tool on the same file.
    let key = tmp.path().join("key.txt");
    let age_ok = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .is_ok_and(|o| o.status.success());
    if age_ok {
        let keytext = std::fs::read_to_string(&key)?;
        let recipient = keytext
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .ok_or("age-keygen printed no public key")?
            .to_owned();
        let enc = tmp.path().join("scan.age");
        let w = time_cmd(
            Command::new("age")
                .arg("-r")
                .arg(&recipient)
                .arg("-o")
                .arg(&enc)
                .arg(&src),
        )?;
        let r = time_cmd(
            Command::new("age")
                .arg("-d")
                .arg("-i")
                .arg(&key)
                .arg("-o")
                .arg("/dev/null")
                .arg(&enc),
        )?;
        rows.push((
            format!("`age` CLI encrypt {BLOB_MB} MB (no fsync)"),
            format!(
                "{:.0} ms ({:.0} MB/s)",
                w.as_secs_f64() * 1000.0,
                mb_s(bytes, w)
            ),
        ));
        rows.push((
            format!("`age` CLI decrypt {BLOB_MB} MB"),
            format!(
                "{:.0} ms ({:.0} MB/s)",
                r.as_secs_f64() * 1000.0,
                mb_s(bytes, r)
            ),
        ));
    } else {
        rows.push((
            "`age` CLI".into(),
            "not installed (apt-get install age)".into(),
        ));
    }

    // Cases as an office keeps them: another 10,000, each with five history
    // entries (one durable transaction each, as an import writes them).
    const WITH_HISTORY: usize = 10_000;
    let t = Instant::now();
    for i in 0..WITH_HISTORY {
        let at = |h: usize| format!("2026-10-{:02}T{:02}:00:00Z", 1 + i % 28, 8 + h);
        let step = |h: usize, kind: &str, from: Option<&str>, to: Option<&str>| store::PastEvent {
            at: at(h),
            actor: "sb".into(),
            kind: kind.into(),
            from_state: from.map(str::to_owned),
            to_state: to.map(str::to_owned),
        };
        s.import_case_with_history(
            &NewCase {
                file_number: format!("HU-2026-{i:06}"),
                case_type: "Hundesteuer".into(),
                applicant: format!("Halterin {i}"),
                status: "entschieden".into(),
                received_at: at(0),
            },
            Some("HU"),
            Some("sb"),
            Some(&at(2)),
            None,
            &[
                step(0, "eingang", None, Some("eingegangen")),
                step(1, "zuweisung", None, None),
                step(2, "pruefung", Some("eingegangen"), Some("in_pruefung")),
                step(
                    3,
                    "bearbeitung",
                    Some("in_pruefung"),
                    Some("in_bearbeitung"),
                ),
                step(
                    4,
                    "entscheidung",
                    Some("in_bearbeitung"),
                    Some("entschieden"),
                ),
            ],
        )?;
    }
    rows.push((
        format!("import {WITH_HISTORY} cases with five history entries each, one durable transaction each"),
        format!("{:.2} ms per case", t.elapsed().as_secs_f64() * 1000.0 / WITH_HISTORY as f64),
    ));

    // The first caseworker's login after the update that splits the store: the
    // case tables of the cases above (rows, history, search index; the audit
    // entries stay) are moved into `inhalt.db` under the case key made at that login.
    let caseworker = UserName::parse("sb")?;
    let cw_password = SecretString::from("sb-passwort-lang-1".to_owned());
    s.add_user(
        &caseworker,
        "Sachbearbeitung",
        domain::Role::Sachbearbeitung,
        &cw_password,
    )?;
    drop(s.lock());
    let t = Instant::now();
    let sb = store.unlock(&caseworker, &cw_password)?;
    let split = t.elapsed();
    if !sb.holds_case_key() {
        return Err("the caseworker holds no case key after the split".into());
    }
    let store = sb.lock();
    let t = Instant::now();
    drop(store.unlock(&caseworker, &cw_password)?.lock());
    let again = t.elapsed();
    rows.push((
        format!(
            "first caseworker login after the update: case tables of {} cases ({WITH_HISTORY} with history) moved into inhalt.db (login included)",
            RECORDS + 1000 + WITH_HISTORY
        ),
        format!("{:.0} ms", split.as_secs_f64() * 1000.0),
    ));
    rows.push((
        "the same caseworker's next login (split done)".into(),
        format!("{:.0} ms", again.as_secs_f64() * 1000.0),
    ));

    println!("| measurement | result |");
    println!("|---|---|");
    for (what, result) in rows {
        println!("| {what} | {result} |");
    }
    Ok(())
}

/// Fast non-cryptographic filler (xorshift), so the file is incompressible.
fn rand_fill(buf: &mut [u8]) {
    static SEED: std::sync::atomic::AtomicU64 =
        std::sync::atomic::AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let mut x = SEED.load(std::sync::atomic::Ordering::Relaxed);
    for chunk in buf.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
    SEED.store(x, std::sync::atomic::Ordering::Relaxed);
}
