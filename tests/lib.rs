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
        std::fs::copy(
            key_template(key_dir).join("keys.json"),
            dir.path().join("keys.json"),
        )?;
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
            encryption,
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
}

/// A local SMTP sink for the e-mail tests: 127.0.0.1 on a free port, STARTTLS
/// with a throw-away certificate (required before MAIL), AUTH PLAIN, and chosen
/// recipients refused with 550. What it received is kept in memory.
pub mod smtp {
    use std::collections::HashSet;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    use base64::Engine;
    use openssl::ssl::{SslAcceptor, SslMethod, SslStream};

    use crate::sim::BoxError;

    /// One message as the sink took it.
    #[derive(Debug, Clone)]
    pub struct Received {
        pub from: String,
        pub to: Vec<String>,
        pub data: Vec<u8>,
        /// Came over TLS, after a login as this user.
        pub tls: bool,
        pub user: Option<String>,
    }

    #[derive(Default)]
    struct Shared {
        received: Vec<Received>,
        refused: HashSet<String>,
        refusals: Vec<String>,
    }

    /// A citizen's key pair as a mail program makes it (Ed25519 + Curve25519): the
    /// secret key and the armoured public key for the metadata.
    pub fn citizen_key(uid: &str) -> Result<(pgp::composed::SignedSecretKey, String), BoxError> {
        use pgp::composed::{
            EncryptionCaps, KeyType, SecretKeyParamsBuilder, SignedPublicKey, SubkeyParamsBuilder,
        };
        let mut enc = SubkeyParamsBuilder::default();
        enc.key_type(KeyType::ECDH(
            pgp::crypto::ecc_curve::ECCCurve::Curve25519Legacy,
        ))
        .can_sign(false)
        .can_encrypt(EncryptionCaps::All)
        .can_authenticate(false);
        let mut params = SecretKeyParamsBuilder::default();
        params
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .can_encrypt(EncryptionCaps::None)
            .primary_user_id(uid.into())
            .subkeys(vec![enc.build()?]);
        let secret = params.build()?.generate(rand08::thread_rng())?;
        let public = SignedPublicKey::from(secret.clone()).to_armored_string(Default::default())?;
        Ok((secret, public))
    }

    /// Open a PGP/MIME message (RFC 3156) with `key`: the inner MIME entity. Fails
    /// when the structure is not PGP/MIME or the key does not open it.
    pub fn decrypt(raw: &[u8], key: &pgp::composed::SignedSecretKey) -> Result<Vec<u8>, BoxError> {
        use mail_parser::MimeHeaders;
        let outer = mail_parser::MessageParser::default()
            .parse(raw)
            .ok_or("Nachricht nicht lesbar")?;
        let ct = outer.content_type().ok_or("kein Content-Type")?;
        if ct.ctype() != "multipart"
            || ct.subtype() != Some("encrypted")
            || ct.attribute("protocol") != Some("application/pgp-encrypted")
        {
            return Err(format!("kein PGP/MIME: {ct:?}").into());
        }
        let parts: Vec<_> = outer.parts.iter().skip(1).collect();
        if parts.len() != 2 || !String::from_utf8_lossy(parts[0].contents()).contains("Version: 1")
        {
            return Err("RFC 3156: ein Versionsteil und ein Datenteil erwartet".into());
        }
        let armored = String::from_utf8(parts[1].contents().to_vec())?;
        let (message, _) = pgp::composed::Message::from_string(&armored)?;
        let mut plain = message.decrypt(&Default::default(), key)?;
        if plain.is_compressed() {
            plain = plain.decompress()?;
        }
        Ok(plain.as_data_vec()?)
    }

    /// The letter (first attachment) of a decrypted inner entity, and its text.
    pub fn letter_of(inner: &[u8]) -> Result<(Vec<u8>, String), BoxError> {
        use mail_parser::MimeHeaders;
        let inner = mail_parser::MessageParser::default()
            .parse(inner)
            .ok_or("innere Nachricht nicht lesbar")?;
        let text = inner.body_text(0).ok_or("kein Text")?.into_owned();
        let pdf = inner
            .attachments()
            .find(|a| a.content_type().is_some_and(|c| c.subtype() == Some("pdf")))
            .ok_or("kein PDF-Anhang")?
            .contents()
            .to_vec();
        Ok((pdf, text))
    }

    /// The Message-ID header of a raw message.
    pub fn message_id(raw: &[u8]) -> Option<String> {
        mail_parser::MessageParser::default()
            .parse(raw)?
            .message_id()
            .map(str::to_owned)
    }

    pub struct Sink {
        pub port: u16,
        /// The sink's certificate (PEM), to be trusted as the town's CA.
        pub ca_pem: String,
        shared: Arc<Mutex<Shared>>,
    }

    impl Sink {
        /// Start the sink; `login` is the one user and password it accepts.
        pub fn start(login: (&str, &str)) -> Result<Sink, BoxError> {
            let (cert, key) = certificate()?;
            let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
            acceptor.set_certificate(&cert)?;
            acceptor.set_private_key(&key)?;
            let acceptor = Arc::new(acceptor.build());
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let port = listener.local_addr()?.port();
            let shared = Arc::new(Mutex::new(Shared::default()));
            let (user, password) = (login.0.to_owned(), login.1.to_owned());
            let s = shared.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (acceptor, s, user, password) =
                        (acceptor.clone(), s.clone(), user.clone(), password.clone());
                    std::thread::spawn(move || {
                        // A broken connection is the client's business.
                        let _ = serve(stream, &acceptor, &s, (&user, &password));
                    });
                }
            });
            Ok(Sink {
                port,
                ca_pem: String::from_utf8(cert.to_pem()?)?,
                shared,
            })
        }

        /// Answer 550 to this recipient from now on.
        pub fn refuse(&self, address: &str) {
            if let Ok(mut s) = self.shared.lock() {
                s.refused.insert(address.to_ascii_lowercase());
            }
        }

        pub fn received(&self) -> Vec<Received> {
            self.shared
                .lock()
                .map(|s| s.received.clone())
                .unwrap_or_default()
        }

        /// The recipients it refused (one entry per refusal).
        pub fn refusals(&self) -> Vec<String> {
            self.shared
                .lock()
                .map(|s| s.refusals.clone())
                .unwrap_or_default()
        }
    }

    fn certificate() -> Result<
        (
            openssl::x509::X509,
            openssl::pkey::PKey<openssl::pkey::Private>,
        ),
        BoxError,
    > {
        use openssl::x509::extension::SubjectAlternativeName;
        let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048)?)?;
        let mut name = openssl::x509::X509NameBuilder::new()?;
        name.append_entry_by_text("CN", "localhost")?;
        let name = name.build();
        let mut b = openssl::x509::X509::builder()?;
        b.set_version(2)?;
        let serial = openssl::bn::BigNum::from_u32(1)?.to_asn1_integer()?;
        b.set_serial_number(&serial)?;
        b.set_subject_name(&name)?;
        b.set_issuer_name(&name)?;
        b.set_pubkey(&key)?;
        let (start, end) = (
            openssl::asn1::Asn1Time::days_from_now(0)?,
            openssl::asn1::Asn1Time::days_from_now(2)?,
        );
        b.set_not_before(&start)?;
        b.set_not_after(&end)?;
        let san = SubjectAlternativeName::new()
            .dns("localhost")
            .ip("127.0.0.1")
            .build(&b.x509v3_context(None, None))?;
        b.append_extension(san)?;
        b.append_extension(
            openssl::x509::extension::BasicConstraints::new()
                .critical()
                .ca()
                .build()?,
        )?;
        b.sign(&key, openssl::hash::MessageDigest::sha256())?;
        Ok((b.build(), key))
    }

    enum Conn {
        Plain(TcpStream),
        Tls(Box<SslStream<TcpStream>>),
        Gone,
    }

    impl Read for Conn {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self {
                Conn::Plain(s) => s.read(buf),
                Conn::Tls(s) => s.read(buf),
                Conn::Gone => Ok(0),
            }
        }
    }

    impl Write for Conn {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            match self {
                Conn::Plain(s) => s.write(buf),
                Conn::Tls(s) => s.write(buf),
                Conn::Gone => Err(std::io::ErrorKind::BrokenPipe.into()),
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            match self {
                Conn::Plain(s) => s.flush(),
                Conn::Tls(s) => s.flush(),
                Conn::Gone => Ok(()),
            }
        }
    }

    /// The next CRLF line (without it), reading in chunks; `None` at the end.
    fn line(conn: &mut Conn, buf: &mut Vec<u8>) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                let rest = buf.split_off(i + 2);
                let mut l = std::mem::replace(buf, rest);
                l.truncate(i);
                return Ok(Some(l));
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = conn.read(&mut chunk)?;
            if n == 0 {
                return Ok(None);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn address(arg: &str) -> String {
        let a = arg.split_once(':').map(|(_, a)| a).unwrap_or(arg).trim();
        let a = a.split_whitespace().next().unwrap_or("");
        a.trim_matches(|c| c == '<' || c == '>')
            .to_ascii_lowercase()
    }

    fn serve(
        stream: TcpStream,
        acceptor: &SslAcceptor,
        shared: &Mutex<Shared>,
        login: (&str, &str),
    ) -> Result<(), BoxError> {
        let mut conn = Conn::Plain(stream);
        let mut buf = Vec::new();
        let (mut tls, mut user) = (false, None::<String>);
        let (mut from, mut to) = (None::<String>, Vec::<String>::new());
        conn.write_all(b"220 sink.localhost ESMTP\r\n")?;
        while let Some(raw) = line(&mut conn, &mut buf)? {
            let text = String::from_utf8_lossy(&raw).to_string();
            let upper = text.to_ascii_uppercase();
            let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                let mut r = String::from("250-sink.localhost\r\n");
                if tls {
                    r.push_str("250-AUTH PLAIN\r\n");
                } else {
                    r.push_str("250-STARTTLS\r\n");
                }
                r.push_str("250 HELP\r\n");
                r
            } else if upper == "STARTTLS" && !tls {
                conn.write_all(b"220 2.0.0 Bereit fuer TLS\r\n")?;
                let Conn::Plain(plain) = std::mem::replace(&mut conn, Conn::Gone) else {
                    return Ok(());
                };
                conn = Conn::Tls(Box::new(acceptor.accept(plain)?));
                tls = true;
                buf.clear();
                continue;
            } else if upper.starts_with("AUTH PLAIN") && tls {
                let arg = match text.split_whitespace().nth(2) {
                    Some(a) => a.to_owned(),
                    None => {
                        conn.write_all(b"334 \r\n")?;
                        let l = line(&mut conn, &mut buf)?.unwrap_or_default();
                        String::from_utf8_lossy(&l).to_string()
                    }
                };
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(arg.trim())
                    .unwrap_or_default();
                let parts: Vec<&[u8]> = decoded.split(|b| *b == 0).collect();
                if parts.len() == 3
                    && parts[1] == login.0.as_bytes()
                    && parts[2] == login.1.as_bytes()
                {
                    user = Some(login.0.to_owned());
                    "235 2.7.0 Angemeldet\r\n".into()
                } else {
                    "535 5.7.8 Anmeldung abgelehnt\r\n".into()
                }
            } else if upper.starts_with("MAIL FROM:") {
                if !tls || user.is_none() {
                    "530 5.7.0 Erst STARTTLS und Anmeldung\r\n".into()
                } else {
                    from = Some(address(&text));
                    to.clear();
                    "250 2.1.0 OK\r\n".into()
                }
            } else if upper.starts_with("RCPT TO:") {
                let a = address(&text);
                let mut s = shared.lock().map_err(|_| "sink poisoned")?;
                if s.refused.contains(&a) {
                    s.refusals.push(a);
                    "550 5.1.1 Postfach unbekannt\r\n".into()
                } else {
                    to.push(a);
                    "250 2.1.5 OK\r\n".into()
                }
            } else if upper == "DATA" {
                if from.is_none() || to.is_empty() {
                    "554 5.5.1 Keine gueltigen Empfaenger\r\n".into()
                } else {
                    conn.write_all(b"354 Daten, Ende mit <CRLF>.<CRLF>\r\n")?;
                    let mut data = Vec::new();
                    loop {
                        let l = line(&mut conn, &mut buf)?.ok_or("Verbindung im DATA beendet")?;
                        if l == b"." {
                            break;
                        }
                        let l = l.strip_prefix(b".").unwrap_or(&l);
                        data.extend_from_slice(l);
                        data.extend_from_slice(b"\r\n");
                    }
                    shared
                        .lock()
                        .map_err(|_| "sink poisoned")?
                        .received
                        .push(Received {
                            from: from.take().unwrap_or_default(),
                            to: std::mem::take(&mut to),
                            data,
                            tls,
                            user: user.clone(),
                        });
                    "250 2.0.0 Angenommen\r\n".into()
                }
            } else if upper == "RSET" {
                from = None;
                to.clear();
                "250 2.0.0 OK\r\n".into()
            } else if upper == "NOOP" {
                "250 2.0.0 OK\r\n".into()
            } else if upper == "QUIT" {
                conn.write_all(b"221 2.0.0 Tschuess\r\n")?;
                return Ok(());
            } else {
                "502 5.5.2 Unbekannter Befehl\r\n".into()
            };
            conn.write_all(reply.as_bytes())?;
        }
        Ok(())
    }
}
