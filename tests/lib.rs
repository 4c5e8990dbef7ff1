//! Shared helpers of the cross-crate tests.

use std::io::Read;

/// Deterministic content of the `i`-th test blob: the first 8 bytes are `i`
/// (little endian), the rest comes from a xorshift generator seeded with `i`.
/// Sizes vary between 64 KiB and about 2 MiB so that writes take varying time.
pub fn blob_content(i: u64) -> impl Read {
    let size = 64 * 1024 + (i.wrapping_mul(7919) % (2 * 1024 * 1024));
    BlobSource {
        header: i.to_le_bytes(),
        pos: 0,
        size,
        state: i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
    }
}

struct BlobSource {
    header: [u8; 8],
    pos: u64,
    size: u64,
    state: u64,
}

impl Read for BlobSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() && self.pos < self.size {
            buf[n] = if self.pos < 8 {
                self.header[self.pos as usize]
            } else {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                self.state as u8
            };
            n += 1;
            self.pos += 1;
        }
        Ok(n)
    }
}

/// A portal simulator running in this process on loopback, and what a subscriber
/// needs to talk to it.
pub mod sim {
    use std::path::Path;
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use fitconnect::client::{ClientConfig, V1Client};
    use fitconnect::keys::KeyPair;
    use portal_sim::{Sim, State, SubscriberConfig};

    pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

    /// Keys are made once (4096-bit RSA is slow to generate) and copied into every
    /// simulator directory. They stay in `dir` between runs.
    pub fn key_template(dir: &Path) -> &'static Path {
        static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            let dir = dir.join("portal-sim-keys");
            State::open(&dir, 4096).unwrap_or_else(|e| panic!("{e}"));
            dir
        })
    }

    pub struct Running {
        pub sim: Arc<Sim>,
        pub config: SubscriberConfig,
        pub dir: tempfile::TempDir,
    }

    /// Start a simulator with fresh state (keys from the template in `key_dir`).
    pub async fn start(key_dir: &Path) -> Result<Running, BoxError> {
        let dir = tempfile::tempdir()?;
        for file in ["keys.json", "zbp-bruecke.json"] {
            std::fs::copy(key_template(key_dir).join(file), dir.path().join(file))?;
        }
        let state = State::open(dir.path(), 4096)?;
        let sim = Sim::new(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(portal_sim::serve(listener, sim.clone()));
        let config = sim.lock().subscriber_config(&url)?;
        Ok(Running { sim, config, dir })
    }

    pub fn client(c: &SubscriberConfig) -> Result<V1Client, BoxError> {
        Ok(V1Client::new(ClientConfig {
            token_url: c.token_url.clone(),
            api_url: c.api_url.clone(),
            client_id: c.client_id.clone(),
            client_secret: c.client_secret.clone(),
            timeout: Duration::from_secs(20),
        })?)
    }

    /// The destination's encryption and signature keys.
    pub fn keys(c: &SubscriberConfig) -> Result<(KeyPair, KeyPair), BoxError> {
        Ok((
            KeyPair::from_pem(
                c.encryption_key.clone(),
                c.encryption_private_pem.as_bytes(),
            )?,
            KeyPair::from_pem(c.signature_key.clone(), c.signature_private_pem.as_bytes())?,
        ))
    }
}

/// A real store on disk for a sync test, with a fast key derivation.
pub mod local {
    use std::path::Path;

    use domain::UserName;
    use store::{Clock, InitOptions, SecretString, Session, Store, StoreConfig};
    use sync::Subscriber;

    use crate::sim::{BoxError, Running, keys};

    pub const USER: &str = "sync";
    pub const PASSWORD: &str = "sync-passwort-1";

    pub fn store(dir: &Path) -> Result<Session, BoxError> {
        let (s, _) = Store::init(
            dir,
            InitOptions {
                admin: UserName::parse(USER)?,
                admin_display_name: "Synchronisation".into(),
                admin_password: SecretString::from(PASSWORD.to_owned()),
                config: StoreConfig {
                    scrypt_log_n: 10,
                    ..StoreConfig::default()
                },
            },
            Clock::system(),
        )?;
        Ok(s)
    }

    /// The process "dies" and starts again: the session is closed and reopened from disk.
    pub fn reopen(session: Session) -> Result<Session, BoxError> {
        let store = session.lock();
        Ok(store.unlock(
            &UserName::parse(USER)?,
            &SecretString::from(PASSWORD.to_owned()),
        )?)
    }

    /// A new workstation (administration `admin` / `admin-passwort-1`, fast key
    /// derivation), with the portal connection of `run` if given and these users,
    /// each with the password `<name>-passwort-1`.
    pub fn workstation(
        dir: &Path,
        run: Option<&Running>,
        users: &[(&str, domain::Role)],
    ) -> Result<workstation::Workstation, BoxError> {
        Ok(workstation_with_recovery(dir, run, users)?.0)
    }

    /// As [`workstation`], with the recovery key shown at set-up (backup tests).
    pub fn workstation_with_recovery(
        dir: &Path,
        run: Option<&Running>,
        users: &[(&str, domain::Role)],
    ) -> Result<(workstation::Workstation, SecretString), BoxError> {
        let (mut ws, recovery) = workstation::Workstation::init(
            dir,
            workstation::InitOptions {
                admin: UserName::parse("admin")?,
                admin_display_name: "Admin".into(),
                admin_password: "admin-passwort-1".to_owned().into(),
                config: StoreConfig {
                    scrypt_log_n: 10,
                    ..StoreConfig::default()
                },
            },
        )?;
        if let Some(run) = run {
            ws.configure_portal(&serde_json::to_string(&run.config)?)?;
        }
        for (name, role) in users {
            ws.add_user(name, name, *role, format!("{name}-passwort-1"))?;
        }
        Ok((ws, recovery.secret_text()))
    }

    /// A reply to the citizen in FIT-Connect case `case`: structured data with the
    /// number `n` and one PDF from the vault (`blob_id`), queued as `reply:<n>`.
    pub fn reply(
        case: uuid::Uuid,
        destination: uuid::Uuid,
        n: usize,
        blob_id: &str,
    ) -> sync::ReplyItem {
        sync::ReplyItem {
            case_id: case,
            destination_id: destination,
            service_type: fitconnect::api::ServiceType {
                name: Some("Bescheid".into()),
                description: None,
                identifier: "urn:de:fim:leika:leistung:99102013000000".into(),
            },
            data: serde_json::json!({ "nummer": n }),
            data_schema: "https://schema.amtsstube.invalid/antwort/1.0.0.json".into(),
            attachments: vec![sync::ReplyAttachment {
                attachment_id: uuid::Uuid::new_v4(),
                blob_id: blob_id.to_owned(),
                filename: format!("bescheid-{n}.pdf"),
                mime_type: "application/pdf".into(),
            }],
        }
    }

    pub fn subscriber(run: &Running) -> Result<Subscriber, BoxError> {
        let (encryption, signature) = keys(&run.config)?;
        Ok(Subscriber {
            destination_id: run.config.destination_id,
            encryption: std::sync::Arc::new(encryption),
            signature,
        })
    }
}

/// The `amtsstube` CLI next to the test binary, and logging in through the facade.
/// Every file below `dir` with its bytes (canary checks: a planted name must be
/// found in clear nowhere). Read only after the stores in this process are closed:
/// a raw read of a database file drops SQLite's POSIX locks of open connections.
pub fn walk(dir: &std::path::Path, f: &mut dyn FnMut(&std::path::Path, &[u8])) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, f);
        } else if let Ok(bytes) = std::fs::read(&p) {
            f(&p, &bytes);
        }
    }
}

/// A chaos test's rounds (`<PREFIX>_ROUNDS`, else `default`) and seed
/// (`<PREFIX>_SEED`, else the clock), printed so that a failure can be replayed.
pub fn chaos_rounds_and_seed(prefix: &str, default: u64) -> (u64, u64) {
    let var = |name: String| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let rounds = var(format!("{prefix}_ROUNDS")).unwrap_or(default);
    let seed = var(format!("{prefix}_SEED")).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1)
    });
    println!("{prefix}_SEED={seed} {prefix}_ROUNDS={rounds}");
    (rounds, seed)
}

pub mod app {
    use std::path::{Path, PathBuf};

    use crate::sim::BoxError;

    /// The workstation CLI next to this test binary (`target/<profile>/amtsstube`).
    pub fn amtsstube_bin() -> Result<PathBuf, BoxError> {
        let exe = std::env::current_exe()?;
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .ok_or("no target directory")?;
        let bin = dir.join(format!("amtsstube{}", std::env::consts::EXE_SUFFIX));
        if !bin.exists() {
            return Err(format!(
                "{} fehlt: erst `cargo build --workspace` (make build)",
                bin.display()
            )
            .into());
        }
        Ok(bin)
    }

    /// A Bescheid of a case by the way `kanal`, with the default fees and texts.
    pub fn bescheid(case_id: &str, kanal: &str) -> workstation::LetterRequest {
        workstation::LetterRequest {
            case_id: case_id.to_owned(),
            kind: workstation::LetterKind::Bescheid,
            fees: Vec::new(),
            edits: Vec::new(),
            kanal: kanal.to_owned(),
        }
    }

    /// Take a case from "Eingegangen" to "Entschieden" (granted), checklist ticked.
    pub fn decide(ws: &mut workstation::Workstation, id: &str) -> Result<(), BoxError> {
        use domain::lifecycle::{Action, Decision};
        ws.case_action(id, Action::PruefungBeginnen)?;
        for item in ws.case_detail(id)?.checklist {
            ws.set_check(id, &item.item, true)?;
        }
        ws.case_action(id, Action::VollstaendigFeststellen)?;
        ws.case_action(
            id,
            Action::Entscheiden {
                ergebnis: Decision::Bewilligt,
                begruendung: String::new(),
                anhoerung_vermerk: None,
            },
        )?;
        Ok(())
    }

    /// Log in a user created by `local::workstation` (password `<name>-passwort-1`).
    pub fn login(ws: &mut workstation::Workstation, user: &str) -> Result<(), BoxError> {
        ws.login(workstation::LoginRequest {
            username: user.into(),
            password: format!("{user}-passwort-1"),
        })?;
        Ok(())
    }
}

/// Helpers of the benchmark binaries.
pub mod bench {
    /// A number from the environment (e.g. `BENCH_SUBMISSIONS`), or the default.
    pub fn env_usize(name: &str, default: usize) -> usize {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    fn status_mb(field: &str) -> f64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    }

    /// Peak resident memory of this process so far (Linux `VmHWM`), in MB.
    pub fn peak_mb() -> f64 {
        status_mb("VmHWM:")
    }

    /// Resident memory now (Linux `VmRSS`), in MB.
    pub fn rss_mb() -> f64 {
        status_mb("VmRSS:")
    }

    /// Start a new peak: the high-water mark is set back to the present (Linux ≥ 4.0).
    pub fn reset_peak() -> std::io::Result<()> {
        std::fs::write("/proc/self/clear_refs", "5")
    }

    /// Run `work` while a "window" asks the shared workstation for the work list's
    /// first page every 20 ms, as the app's window does: `work`'s result, the
    /// longest wait of one of those calls (lock and answer) and how many there were.
    pub fn window_waits<T>(
        shared: &workstation::background::Shared,
        work: impl FnOnce() -> T,
    ) -> (T, std::time::Duration, usize) {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::{Duration, Instant};
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let window = {
            let (shared, done) = (shared.clone(), done.clone());
            std::thread::spawn(move || {
                let (mut longest, mut calls) = (Duration::ZERO, 0);
                while !done.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    if let Ok(mut g) = shared.lock()
                        && let Some(ws) = g.as_mut()
                    {
                        let _ = ws.work_list(workstation::WorkListQuery {
                            limit: 50,
                            ..workstation::WorkListQuery::default()
                        });
                    }
                    longest = longest.max(t.elapsed());
                    calls += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                (longest, calls)
            })
        };
        let out = work();
        done.store(true, Ordering::Relaxed);
        let (longest, calls) = window.join().unwrap_or((Duration::MAX, 0));
        (out, longest, calls)
    }
}

/// The SMTP sink and the citizens' keys live in the simulator (the citizen's side).
pub mod smtp {
    pub use portal_sim::mail::*;
}

/// What the outside world must show once answers went out: the citizen's mailbox at
/// the simulator, the cash system's folder, the payment service.
pub mod delivery {
    use std::path::Path;

    use base64::Engine;
    use domain::lifecycle::CaseState;
    use portal_sim::citizen::CitizenCase;
    use portal_sim::payment::PaymentRecord;
    use portal_sim::state::SubmissionState;
    use sha2::{Digest, Sha512};
    use workstation::Workstation;

    use crate::sim::{BoxError, Running};

    pub async fn citizen_case(run: &Running, case: &str) -> Result<CitizenCase, BoxError> {
        Ok(reqwest::Client::new()
            .get(format!("{}/citizen/cases/{case}", run.config.api_url))
            .send()
            .await?
            .json()
            .await?)
    }

    pub async fn payments(run: &Running) -> Result<Vec<PaymentRecord>, BoxError> {
        Ok(reqwest::Client::new()
            .get(format!("{}/citizen/payments", run.config.api_url))
            .send()
            .await?
            .json()
            .await?)
    }

    /// What the outside world must show for the sent cases: one reply per case whose PDF
    /// is the stored letter (by SHA-512), one booking file pair per Kassenzeichen, one
    /// payment request per unpaid fee.
    pub async fn check_delivered(
        ws: &mut Workstation,
        run: &Running,
        hkr: &Path,
        sent: &[(String, String)],
        posted_kassenzeichen: &[String],
    ) -> Result<(), BoxError> {
        let mut kassenzeichen = posted_kassenzeichen.to_vec();
        let mut unpaid = Vec::new();
        for (id, file_number) in sent {
            let detail = ws.case_detail(id)?;
            assert_eq!(detail.state, CaseState::Versandt, "{file_number}");
            let letters: Vec<_> = detail
                .documents
                .iter()
                .filter(|d| d.kind == domain::DocumentKind::Letter)
                .collect();
            assert_eq!(letters.len(), 1, "{file_number}: one letter");
            let content = ws.document(id, &letters[0].id)?;
            let pdf = base64::engine::general_purpose::STANDARD.decode(content.content_base64)?;
            assert!(pdf.starts_with(b"%PDF-"));
            let hash = hex::encode(Sha512::digest(&pdf));

            let portal_case = detail.portal_case_id.clone().ok_or("kein Portalvorgang")?;
            let view = citizen_case(run, &portal_case).await?;
            let replies: Vec<_> = view
                .replies
                .iter()
                .filter(|r| r.state != SubmissionState::Incomplete)
                .collect();
            assert_eq!(replies.len(), 1, "{file_number}: exactly one reply");
            let r = replies[0];
            assert!(r.verified, "{:?}", r.problems);
            assert_eq!(r.attachments.len(), 1);
            assert_eq!(
                r.attachments[0].sha512, hash,
                "{file_number}: PDF identical"
            );
            let data = r.data.as_ref().ok_or("keine Daten")?;
            assert_eq!(data["aktenzeichen"], file_number.as_str());
            if let Some(kz) = data["kassenzeichen"].as_str() {
                assert!(domain::fees::kassenzeichen_valid(kz, "mod10"), "{kz}");
                kassenzeichen.push(kz.to_owned());
                let assessed = data["betragCent"].as_i64().unwrap_or(-1);
                if data["bereitsBezahlt"] == false {
                    unpaid.push((kz.to_owned(), assessed));
                } else if let Some(paid) = data["bezahltCent"].as_i64()
                    && paid < assessed
                {
                    // Paid less online than assessed: the rest is requested.
                    unpaid.push((kz.to_owned(), assessed - paid));
                }
            }
            for o in ws.case_outbox(id)? {
                assert_eq!(
                    o.state, "bestätigt",
                    "{file_number}: {} {:?}",
                    o.what, o.error
                );
            }
        }
        assert!(!kassenzeichen.is_empty(), "no case with a fee");
        // The cash system: one CSV and one XML per Kassenzeichen, nothing else.
        let mut files: Vec<String> = std::fs::read_dir(hkr)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with(".amtsstube-"))
            .collect();
        files.sort();
        let mut want: Vec<String> = kassenzeichen
            .iter()
            .flat_map(|kz| [format!("AO-{kz}.csv"), format!("AO-{kz}.xml")])
            .collect();
        want.sort();
        assert_eq!(files, want);
        for kz in &kassenzeichen {
            let csv = std::fs::read_to_string(hkr.join(format!("AO-{kz}.csv")))?;
            assert!(csv.contains(kz.as_str()));
        }
        // The payment service: one request per unpaid fee (or unpaid rest), none for fees
        // paid online in full.
        let paid_requests = payments(run).await?;
        let mut got: Vec<(String, i64)> = paid_requests
            .iter()
            .map(|p| (p.request_id.clone(), p.amount_cents))
            .collect();
        got.sort();
        unpaid.sort();
        assert_eq!(got, unpaid);
        Ok(())
    }
}
