//! The Rathaus-Server measured on loopback against a throwaway PostgreSQL cluster
//! (`make bench`): commands per second from twenty enrolled workstations over
//! mutual TLS (this also fills the record with `OFFICE_BENCH_CASES` cases, default
//! 100,000), the PostgreSQL size per 100,000 cases, the first replica of a Leitung
//! desk (time, bytes on the wire, replica size; in memory and written into a desk's
//! SQLCipher store), and the propagation of one desk's
//! command to another desk's replica (p50/p95). Where the time goes: the same
//! commands and feed pages straight on the record, without HTTPS.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use domain::Role;
use office::replica::Replica;
use office::rules::Actor;
use office::{Ciphertext, Command, CommandBody, FeedItem, FeedPage, Outcome};
use reqwest::{Certificate, Client, Identity};
use server::Record;
use server::api::{ApiState, EnrolRequest, EnrolResponse};
use server::cluster::Cluster;
use server::tls::{OfficeCa, certificate_request};
use uuid::Uuid;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const PASSWORD: &str = "lang-genug-2026";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Stand-in for an application's age ciphertext (about the size of a real one).
fn content(n: usize) -> Result<Ciphertext, BoxError> {
    let mut b = b"age-encryption.org/v1\n-> X25519 bench\n".to_vec();
    b.extend((0..1200).map(|i| ((i * 31 + n) % 251) as u8));
    Ciphertext::new(b).map_err(|r| r.reason.into())
}

fn create(desk: usize, i: usize) -> Result<Command, BoxError> {
    Ok(Command {
        key: Uuid::new_v4(),
        body: CommandBody::CreateCase {
            case_id: Uuid::new_v4(),
            file_number: format!("PA-{desk:02}-{i:06}"),
            case_type: "HU".into(),
            received_at: "2026-12-02T09:00:00Z".into(),
            content: content(i)?,
        },
    })
}

struct Desk {
    http: Client,
    token: String,
}

async fn desk(url: &str, ca: &OfficeCa, record: &Record, user: &str) -> Result<Desk, BoxError> {
    let root = Certificate::from_pem(ca.cert_pem.as_bytes())?;
    let code = record.new_enrolment_code(10).await?;
    let req = certificate_request(user)?;
    let enrolled: EnrolResponse = Client::builder()
        .tls_certs_only([root.clone()])
        .build()?
        .post(format!("{url}/v1/arbeitsplatz"))
        .json(&EnrolRequest {
            code,
            name: user.into(),
            csr: req.cert_pem.clone(),
            schluessel: None,
        })
        .send()
        .await?
        .json()
        .await?;
    let http = Client::builder()
        .tls_certs_only([root])
        .identity(Identity::from_pkcs8_pem(
            enrolled.certificate.as_bytes(),
            req.key_pem.as_bytes(),
        )?)
        .pool_max_idle_per_host(1)
        .build()?;
    let v: serde_json::Value = http
        .post(format!("{url}/v1/sitzung"))
        .json(&serde_json::json!({"user": user, "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = v["token"].as_str().ok_or("keine Sitzung")?.to_string();
    Ok(Desk { http, token })
}

async fn send(d: &Desk, url: &str, cmd: &Command) -> Result<Outcome, BoxError> {
    Ok(d.http
        .post(format!("{url}/v1/befehle"))
        .bearer_auth(&d.token)
        .json(cmd)
        .send()
        .await?
        .json()
        .await?)
}

async fn page(d: &Desk, url: &str, after: i64) -> Result<(FeedPage, usize), BoxError> {
    let bytes = d
        .http
        .get(format!("{url}/v1/feed?nach={after}&anzahl=500"))
        .bearer_auth(&d.token)
        .send()
        .await?
        .bytes()
        .await?;
    Ok((serde_json::from_slice(&bytes)?, bytes.len()))
}

async fn database_size(cluster: &Cluster) -> Result<i64, BoxError> {
    let (client, conn) =
        tokio_postgres::connect(&cluster.conninfo("bench"), tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client.batch_execute("VACUUM ANALYZE").await?;
    Ok(client
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await?
        .get(0))
}

async fn run(cluster: &Cluster) -> Result<(), BoxError> {
    let n = env_usize("OFFICE_BENCH_CASES", 100_000);
    let desks_n = 20;
    cluster.create_database("bench")?;
    let record = Arc::new(Record::connect(&cluster.conninfo("bench"), 24).await?);
    record.migrate().await?;
    let empty = database_size(cluster).await?;
    for (name, role) in [("lea", Role::Leitung), ("anna", Role::Sachbearbeitung)] {
        record.add_user(name, role, PASSWORD).await?;
    }
    for d in 0..desks_n {
        record
            .add_user(&format!("scan{d:02}"), Role::Scanstelle, PASSWORD)
            .await?;
    }
    let ca = Arc::new(OfficeCa::create("Benchstadt")?);
    let tls = ca.server_config(&ca.server_cert(&["127.0.0.1".into()])?)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("https://{}", listener.local_addr()?);
    let state = ApiState {
        record: record.clone(),
        ca: ca.clone(),
    };
    tokio::spawn(server::api::serve(
        listener,
        state,
        tls,
        std::future::pending(),
    ));

    println!("## Rathaus-Server ({n} Vorgänge, {desks_n} Arbeitsplätze)");
    // 1. Commands per second from twenty desks (this fills the record).
    let mut tasks = Vec::new();
    let per_desk = n / desks_n;
    let latency_us = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    for d in 0..desks_n {
        let dk = desk(&url, &ca, &record, &format!("scan{d:02}")).await?;
        let url = url.clone();
        let latency_us = latency_us.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_desk {
                let cmd = create(d, i)?;
                let s = Instant::now();
                match send(&dk, &url, &cmd).await? {
                    Outcome::Applied { .. } => {}
                    other => return Err::<(), BoxError>(format!("{other:?}").into()),
                }
                latency_us.fetch_add(s.elapsed().as_micros() as u64, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    let setup = t.elapsed();
    for task in tasks {
        task.await??;
    }
    let total = per_desk * desks_n;
    let secs = (t.elapsed() - setup).as_secs_f64();
    println!(
        "| commands, 20 desks over HTTPS (CreateCase, 1.2 KB ciphertext) | {total} in {secs:.1} s = {:.0}/s, mean latency {:.1} ms |",
        total as f64 / secs,
        latency_us.load(Ordering::Relaxed) as f64 / total as f64 / 1000.0
    );

    // Where the time goes: the same command straight on the record, one at a time.
    let sam = Actor {
        user: "scan00".into(),
        role: Role::Scanstelle,
    };
    let ws = Uuid::new_v4();
    let t = Instant::now();
    for i in 0..1000 {
        record.apply(&sam, ws, &create(99, i)?).await?;
    }
    println!(
        "| the same on the record, no HTTPS, one at a time | {:.2} ms per command |",
        t.elapsed().as_secs_f64()
    );
    // Its parts: a round trip to PostgreSQL, and a durable commit of one small row.
    let (client, conn) =
        tokio_postgres::connect(&cluster.conninfo("bench"), tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let select = client.prepare("SELECT 1").await?;
    let t = Instant::now();
    for _ in 0..1000 {
        client.execute(&select, &[]).await?;
    }
    let round_trip = t.elapsed().as_secs_f64();
    let insert = client
        .prepare("INSERT INTO audit (action, detail) VALUES ('bench', 'x')")
        .await?;
    let t = Instant::now();
    for _ in 0..1000 {
        client.execute(&insert, &[]).await?;
    }
    println!(
        "| its parts: one round trip to PostgreSQL / one durable commit of a small row | {:.2} ms / {:.2} ms |",
        round_trip,
        t.elapsed().as_secs_f64()
    );
    let size = database_size(cluster).await? - empty;
    let cases = total + 1000;
    println!(
        "| PostgreSQL size ({cases} cases with change log, commands, audit; empty schema subtracted) | {:.0} MB, {:.0} MB per 100,000 cases |",
        size as f64 / 1e6,
        size as f64 / 1e6 * 100_000.0 / cases as f64
    );

    // 2. The first replica of a Leitung desk.
    let lea = desk(&url, &ca, &record, "lea").await?;
    let mut replica = Replica::new(Actor {
        user: "lea".into(),
        role: Role::Leitung,
    });
    let mut wire = 0usize;
    let mut pages = Vec::new();
    let t = Instant::now();
    loop {
        let (p, bytes) = page(&lea, &url, replica.cursor).await?;
        wire += bytes;
        replica.apply_page(&p);
        let more = p.more;
        pages.push(p);
        if !more {
            break;
        }
    }
    let first = t.elapsed();
    let replica_bytes: usize = replica
        .cases
        .values()
        .map(|c| {
            serde_json::to_vec(&c.meta).map_or(0, |v| v.len())
                + c.content.as_ref().map_or(0, |c| c.as_bytes().len())
                + c.events.len() * 120
        })
        .sum();
    println!(
        "| first replica (Leitung, {} cases, pages of 500) | {:.1} s, {:.0} MB on the wire, replica ≈ {:.0} MB |",
        replica.cases.len(),
        first.as_secs_f64(),
        wire as f64 / 1e6,
        replica_bytes as f64 / 1e6
    );
    // The same pages into a desk's SQLCipher store, as `office_sync` writes them
    // (one transaction per page, content on disk only).
    let dir = tempfile::tempdir()?;
    let (mut session, _) = store::Store::init(
        &dir.path().join("daten"),
        store::InitOptions {
            admin: domain::UserName::parse("lea")?,
            admin_display_name: "Lea".into(),
            admin_password: store::SecretString::from("lea-passwort-1".to_owned()),
            config: store::StoreConfig {
                scrypt_log_n: 10,
                ..store::StoreConfig::default()
            },
        },
        store::Clock::system(),
    )?;
    let mut stored = session.replica_reset(Role::Leitung)?;
    let t = Instant::now();
    for p in &pages {
        session.replica_apply_page(&mut stored, p)?;
    }
    let persisted = t.elapsed();
    drop(session);
    drop(pages);
    let mut store_bytes = 0u64;
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)?.flatten() {
            let meta = e.metadata()?;
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                store_bytes += meta.len();
            }
        }
    }
    println!(
        "| the same pages into the desk's SQLCipher store (a transaction per page) | {:.1} s, store {:.0} MB on disk |",
        persisted.as_secs_f64(),
        store_bytes as f64 / 1e6
    );
    let lea_actor = replica.actor.clone();
    let t = Instant::now();
    let mut cursor = 0;
    loop {
        let p = record.feed(&lea_actor, cursor, 500).await?;
        cursor = p.next;
        if !p.more {
            break;
        }
    }
    println!(
        "| the same pages on the record, no HTTPS and JSON | {:.1} s |",
        t.elapsed().as_secs_f64()
    );

    // 3. Propagation: a note at one desk, seen by the Leitung's replica (polling every 10 ms).
    let anna = desk(&url, &ca, &record, "anna").await?;
    let case_id = replica.cases.keys().next().copied().ok_or("kein Vorgang")?;
    let mut samples = Vec::new();
    for _ in 0..200 {
        let note = Command {
            key: Uuid::new_v4(),
            body: CommandBody::Note {
                case_id,
                content: content(7)?,
            },
        };
        let t = Instant::now();
        send(&anna, &url, &note).await?;
        'seen: loop {
            let (p, _) = page(&lea, &url, replica.cursor).await?;
            replica.apply_page(&p);
            for item in &p.items {
                if let FeedItem::Case { events, .. } = item
                    && events.iter().any(|e| e.id == note.key)
                {
                    break 'seen;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        samples.push(t.elapsed());
    }
    println!(
        "| propagation desk → desk (note, Leitung polls every 10 ms), 200 samples | p50 {:.1} ms, p95 {:.1} ms |",
        pct(&mut samples, 0.5),
        pct(&mut samples, 0.95)
    );
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let parent = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../target/bench-pg");
    let cluster = Cluster::start(&parent)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(&cluster))
}
