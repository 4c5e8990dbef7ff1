//! Chaos with real processes: the `amtsstube-server` binary, set up through its
//! own CLI, is killed with SIGKILL again and again and PostgreSQL is stopped hard
//! and restarted while four desks send commands and read the feed. Every command
//! is retried until it has an answer; at the end each was applied exactly once,
//! the feed is gapless and a desk's replica holds every case.
//!
//! `SERVER_CHAOS_COMMANDS` sets the number of commands per desk (`make chaos`
//! runs more).
// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::time::Duration;

use office::replica::Replica;
use office::rules::Actor;
use office::{Command, CommandBody, FeedPage, Outcome};
use reqwest::{Certificate, Client, Identity};
use server::api::{EnrolRequest, EnrolResponse};
use server::tls::certificate_request;
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_amtsstube-server");
const PASSWORD: &str = "lang-genug-2026";

fn cli(dir: &Path, args: &[&str], stdin: &str) -> String {
    let mut child = Process::new(BIN)
        .arg("--verzeichnis")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "amtsstube-server {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The server's log (stdout and stderr of every start) goes to `log`.
fn serve(dir: &Path, log: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let err = out.try_clone().unwrap();
    Process::new(BIN)
        .arg("--verzeichnis")
        .arg(dir)
        .arg("serve")
        .env("RUST_LOG", "debug")
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap()
}

/// A name planted in every application: it must appear nowhere in clear.
const CANARY: &str = "Kanarienvogel-Quittenbrot";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn send_until_answered(http: &Client, url: &str, token: &str, cmd: &Command) -> Outcome {
    for _ in 0..600 {
        let sent = http
            .post(format!("{url}/v1/befehle"))
            .bearer_auth(token)
            .json(cmd)
            .send()
            .await;
        if let Ok(resp) = sent
            && resp.status().is_success()
            && let Ok(outcome) = resp.json::<Outcome>().await
        {
            return outcome;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("Befehl {} nie beantwortet", cmd.key);
}

#[test]
fn kill_the_server_and_restart_postgres_during_the_desks_work() {
    let per_desk: usize = std::env::var("SERVER_CHAOS_COMMANDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let cluster = common::cluster();
    let db = format!("c{}", Uuid::new_v4().simple());
    cluster.create_database(&db).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("server");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let url = format!("https://{addr}");
    let init = cli(
        &dir,
        &[
            "init",
            "--datenbank",
            &cluster.conninfo(&db),
            "--name",
            "Musterstadt",
            "--adresse",
            &addr,
            "--rechnername",
            "127.0.0.1",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(init.contains("Fingerabdruck der Büro-CA"), "{init}");
    cli(
        &dir,
        &["user", "add", "sam", "--rolle", "scanstelle"],
        &format!("{PASSWORD}\n"),
    );
    cli(
        &dir,
        &["user", "add", "lea", "--rolle", "leitung"],
        &format!("{PASSWORD}\n"),
    );
    let listed = cli(&dir, &["user", "liste"], "");
    assert!(
        listed.contains("sam") && listed.contains("Scanstelle"),
        "{listed}"
    );
    let code_out = cli(&dir, &["arbeitsplatz", "code"], "");
    let code = code_out.split_whitespace().nth(1).unwrap().to_string();
    let ca_pem = std::fs::read_to_string(dir.join("ca.pem")).unwrap();

    let log = tmp.path().join("server.log");
    let mut server = serve(&dir, &log);
    let rt = common::rt();
    let result = rt.block_on(async {
        let root = Certificate::from_pem(ca_pem.as_bytes()).unwrap();
        let plain = Client::builder()
            .tls_certs_only([root.clone()])
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let req = certificate_request("Scanstelle").unwrap();
        let mut enrolled = None;
        for _ in 0..100 {
            let r = plain
                .post(format!("{url}/v1/arbeitsplatz"))
                .json(&EnrolRequest {
                    code: code.clone(),
                    name: "Scanstelle".into(),
                    csr: req.cert_pem.clone(),
                    schluessel: None,
                })
                .send()
                .await;
            if let Ok(r) = r {
                enrolled = Some(r.json::<EnrolResponse>().await.unwrap());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let enrolled = enrolled.expect("Server nicht erreichbar");
        let http = Client::builder()
            .tls_certs_only([root])
            .identity(
                Identity::from_pkcs8_pem(enrolled.certificate.as_bytes(), req.key_pem.as_bytes())
                    .unwrap(),
            )
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let login = |user: &'static str| {
            let http = http.clone();
            let url = url.clone();
            async move {
                let v: serde_json::Value = http
                    .post(format!("{url}/v1/sitzung"))
                    .json(&serde_json::json!({"user": user, "password": PASSWORD}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                v["token"].as_str().unwrap().to_string()
            }
        };
        let token = Arc::new(login("sam").await);
        let lea_token = login("lea").await;
        let key = Arc::new(common::ContentKey::new());

        let mut desks = Vec::new();
        for desk in 0..4 {
            let (http, url, token, key) = (http.clone(), url.clone(), token.clone(), key.clone());
            desks.push(tokio::spawn(async move {
                let mut keys = Vec::new();
                for i in 0..per_desk {
                    let cmd = Command {
                        key: Uuid::new_v4(),
                        body: CommandBody::CreateCase {
                            case_id: Uuid::new_v4(),
                            file_number: format!("PA-{desk}-{i:05}"),
                            case_type: "HU".into(),
                            received_at: "2026-12-02T09:00:00Z".into(),
                            content: key.seal(&format!("Papierantrag von {CANARY}")),
                        },
                    };
                    // Sent once more after an answer: a lost answer's retry.
                    let first = send_until_answered(&http, &url, &token, &cmd).await;
                    let again = send_until_answered(&http, &url, &token, &cmd).await;
                    assert!(matches!(first, Outcome::Applied { .. }), "{first:?}");
                    assert_eq!(again, first.as_replay());
                    keys.push(cmd.key);
                }
                keys
            }));
        }
        // Meanwhile: SIGKILL the server again and again, and once stop PostgreSQL hard.
        let mut kills = 0;
        let mut pg_restarted = false;
        while !desks.iter().all(|d| d.is_finished()) {
            tokio::time::sleep(Duration::from_millis(250 + (kills % 5) * 90)).await;
            server.kill().unwrap();
            server.wait().unwrap();
            kills += 1;
            if kills == 3 && !pg_restarted {
                cluster.restart_hard().unwrap();
                pg_restarted = true;
            }
            server = serve(&dir, &log);
        }
        let mut sent = 0;
        for d in desks {
            sent += d.await.unwrap().len();
        }
        assert!(kills >= 3, "nur {kills} Abstürze");
        assert!(pg_restarted);

        // The Leitung's replica reads the whole feed and holds every case once.
        let mut replica = Replica::new(Actor {
            user: "lea".into(),
            role: domain::Role::Leitung,
        });
        loop {
            let page: Option<FeedPage> = async {
                http.get(format!("{url}/v1/feed?nach={}&anzahl=100", replica.cursor))
                    .bearer_auth(&lea_token)
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()
            }
            .await;
            let Some(page) = page else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            replica.apply_page(&page);
            if !page.more {
                break;
            }
        }
        (sent, replica.cases.len(), replica.cursor)
    });
    server.kill().ok();
    server.wait().ok();
    let (sent, held, cursor) = result;
    assert_eq!(held, sent, "Vorgänge im Replikat");
    let status = cli(&dir, &["status"], "");
    assert!(
        status.contains(&format!("Vorgänge:        {sent}")),
        "{status}"
    );
    // Users (admin, sam, lea) and cases: every position used once, none skipped.
    assert_eq!(cursor, sent as i64 + 3, "{status}");
    assert!(status.contains("(0 abgelehnt)"), "{status}");

    // The canary: not in the server's log, its directory, or PostgreSQL's files.
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("lauscht"),
        "das Protokoll des Servers fehlt"
    );
    assert!(!log_text.contains(CANARY));
    let mut files = 0;
    for root in [dir.clone(), cluster.data_dir()] {
        for (path, bytes) in walk(&root) {
            files += 1;
            assert!(
                !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
                "Klartext in {}",
                path.display()
            );
        }
    }
    assert!(files > 100, "nur {files} Dateien durchsucht");
}

fn walk(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, bytes));
        }
    }
    out
}
