//! The citizen's side of answers by e-mail: a local SMTP server (the mail provider
//! the town's relay hands over to) on 127.0.0.1 with STARTTLS (a throw-away
//! certificate, required before MAIL) and AUTH PLAIN, refusing chosen recipients
//! with 550; the citizens' OpenPGP keys; and reading what arrived (PGP/MIME opened
//! with the citizen's key). For tests and the demo only.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine;
use openssl::ssl::{SslAcceptor, SslMethod, SslStream};

/// Errors of the sink's helpers (test and demo side).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    /// Taken at RCPT, refused afterwards by a DSN to the sender.
    bounce_later: HashSet<String>,
    /// The town's mailbox (the sender's): what the IMAP side serves.
    town_box: Vec<Vec<u8>>,
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
    if parts.len() != 2 || !String::from_utf8_lossy(parts[0].contents()).contains("Version: 1") {
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

/// One received e-mail as the citizen's mail program shows it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MailView {
    pub to: String,
    pub subject: String,
    pub message_id: Option<String>,
    /// Sent as PGP/MIME (RFC 3156).
    pub pgp_mime: bool,
    /// Opened with the citizen's key.
    pub opened: bool,
    /// The text (of the decrypted part, or of a plain notice).
    pub text: String,
    pub attachments: Vec<AttachmentView>,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentView {
    pub filename: String,
    pub sha512: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn view(m: &Received, keys: &std::collections::HashMap<String, String>) -> MailView {
    use mail_parser::MimeHeaders;
    let to = m.to.first().cloned().unwrap_or_default();
    let parsed = mail_parser::MessageParser::default().parse(&m.data);
    let subject = parsed
        .as_ref()
        .and_then(|p| p.subject().map(str::to_owned))
        .unwrap_or_default();
    let pgp_mime = parsed
        .as_ref()
        .and_then(|p| p.content_type())
        .is_some_and(|c| c.subtype() == Some("encrypted"));
    let mut v = MailView {
        to: to.clone(),
        subject,
        message_id: message_id(&m.data),
        pgp_mime,
        opened: false,
        text: String::new(),
        attachments: Vec::new(),
        problem: None,
    };
    let inner = if pgp_mime {
        let key = keys
            .get(&to)
            .ok_or("kein Schlüssel der Bürgerin bekannt")
            .and_then(|k| {
                <pgp::composed::SignedSecretKey as pgp::composed::Deserializable>::from_string(k)
                    .map(|(k, _)| k)
                    .map_err(|_| "Schlüssel unlesbar")
            });
        match key
            .map_err(|e| e.to_string())
            .and_then(|k| decrypt(&m.data, &k).map_err(|e| e.to_string()))
        {
            Ok(inner) => {
                v.opened = true;
                inner
            }
            Err(e) => {
                v.problem = Some(e);
                return v;
            }
        }
    } else {
        m.data.clone()
    };
    if let Some(p) = mail_parser::MessageParser::default().parse(&inner) {
        v.text = p.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
        v.attachments = p
            .attachments()
            .map(|a| AttachmentView {
                filename: a.attachment_name().unwrap_or("").to_owned(),
                sha512: hex(&openssl::sha::sha512(a.contents())),
            })
            .collect();
    }
    v
}

pub struct Sink {
    pub port: u16,
    /// IMAP (TLS from the first byte, same certificate and login) serving the
    /// town's mailbox, where the delivery status notifications arrive.
    pub imap_port: u16,
    /// The sink's certificate (PEM), to be trusted as the town's CA.
    pub ca_pem: String,
    shared: Arc<Mutex<Shared>>,
}

impl Sink {
    /// Start the sink; `login` is the one user and password it accepts.
    pub fn start(login: (&str, &str)) -> Result<Sink, BoxError> {
        Self::start_on("127.0.0.1:0", login)
    }

    /// As [`Sink::start`], on a chosen loopback address.
    pub fn start_on(addr: &str, login: (&str, &str)) -> Result<Sink, BoxError> {
        let (cert, key) = certificate()?;
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
        acceptor.set_certificate(&cert)?;
        acceptor.set_private_key(&key)?;
        let acceptor = Arc::new(acceptor.build());
        let listener = TcpListener::bind(addr)?;
        if !listener.local_addr()?.ip().is_loopback() {
            return Err("Der SMTP-Dienst des Simulators lauscht nur auf 127.0.0.1.".into());
        }
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let imap = TcpListener::bind("127.0.0.1:0")?;
        let imap_port = imap.local_addr()?.port();
        let (a, s, user, password) = (
            acceptor.clone(),
            shared.clone(),
            login.0.to_owned(),
            login.1.to_owned(),
        );
        std::thread::spawn(move || {
            for stream in imap.incoming().flatten() {
                let (a, s, user, password) = (a.clone(), s.clone(), user.clone(), password.clone());
                std::thread::spawn(move || {
                    let _ = serve_imap(stream, &a, &s, (&user, &password));
                });
            }
        });
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
            imap_port,
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

    /// Take mail for this recipient, then report it undeliverable: a delivery
    /// status notification (RFC 3464) to the sender's mailbox, as a provider does
    /// that refuses after the relay's "250".
    pub fn bounce_later(&self, address: &str) {
        if let Ok(mut s) = self.shared.lock() {
            s.bounce_later.insert(address.to_ascii_lowercase());
        }
    }

    /// The provider of a recipient of `m` (taken before) refuses it after all: its
    /// delivery status notification goes to the sender's mailbox.
    pub fn bounce_afterwards(&self, m: &Received) {
        if let Ok(mut s) = self.shared.lock() {
            for rcpt in &m.to {
                s.town_box.push(dsn(&m.from, rcpt, &m.data));
            }
        }
    }

    /// Put a message into the town's mailbox (other mail that is no bounce).
    pub fn to_town_box(&self, raw: &[u8]) {
        if let Ok(mut s) = self.shared.lock() {
            s.town_box.push(raw.to_vec());
        }
    }

    /// The town's mailbox as the IMAP side serves it.
    pub fn town_box(&self) -> Vec<Vec<u8>> {
        self.shared
            .lock()
            .map(|s| s.town_box.clone())
            .unwrap_or_default()
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared
            .lock()
            .map(|s| s.received.clone())
            .unwrap_or_default()
    }

    /// What arrived, as the citizens see it: each message opened with the key of
    /// its recipient where the simulator holds one (armoured secret keys by
    /// address).
    pub fn citizen_view(&self, keys: &std::collections::HashMap<String, String>) -> Vec<MailView> {
        self.received().iter().map(|m| view(m, keys)).collect()
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
            if parts.len() == 3 && parts[1] == login.0.as_bytes() && parts[2] == login.1.as_bytes()
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
                let mut s = shared.lock().map_err(|_| "sink poisoned")?;
                let sender = from.take().unwrap_or_default();
                let bounced: Vec<Vec<u8>> = to
                    .iter()
                    .filter(|r| s.bounce_later.contains(*r))
                    .map(|rcpt| dsn(&sender, rcpt, &data))
                    .collect();
                s.town_box.extend(bounced);
                s.received.push(Received {
                    from: sender,
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

/// A delivery status notification (RFC 3464) as Postfix writes it: the report
/// for `rcpt` and the original's headers.
fn dsn(sender: &str, rcpt: &str, original: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(original);
    let headers = text.split("\r\n\r\n").next().unwrap_or_default();
    let id = uuid::Uuid::new_v4().simple();
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@sink.localhost>\r\n\
         To: {sender}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <{id}@sink.localhost>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\
         \tboundary=\"dsn-{id}\"\r\n\
         \r\n\
         --dsn-{id}\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         \r\n\
         This is the mail system at host sink.localhost.\r\n\
         Your message could not be delivered to one or more recipients.\r\n\
         \r\n\
         --dsn-{id}\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; sink.localhost\r\n\
         \r\n\
         Final-Recipient: rfc822; {rcpt}\r\n\
         Original-Recipient: rfc822;{rcpt}\r\n\
         Action: failed\r\n\
         Status: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected:\r\n\
         \tUser unknown in virtual mailbox table\r\n\
         \r\n\
         --dsn-{id}\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n\
         {headers}\r\n\
         --dsn-{id}--\r\n"
    )
    .into_bytes()
}

/// The IMAP words of a command line: atoms and quoted strings.
fn imap_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {}
            '"' => {
                let mut w = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => w.extend(chars.next()),
                        '"' => break,
                        c => w.push(c),
                    }
                }
                out.push(w);
            }
            c => {
                let mut w = String::from(c);
                while let Some(&c) = chars.peek() {
                    if c == ' ' {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(w);
            }
        }
    }
    out
}

/// The town's mailbox over IMAP4rev1 (RFC 3501), as far as a client reading
/// bounces needs it: LOGIN, SELECT, UID SEARCH UID n:*, UID FETCH of BODY.PEEK[]
/// (with a partial range), NOOP, LOGOUT. UIDs are the messages' positions.
fn serve_imap(
    stream: TcpStream,
    acceptor: &SslAcceptor,
    shared: &Mutex<Shared>,
    login: (&str, &str),
) -> Result<(), BoxError> {
    let mut conn = Conn::Tls(Box::new(acceptor.accept(stream)?));
    let mut buf = Vec::new();
    let mut authed = false;
    conn.write_all(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] sink.localhost bereit\r\n")?;
    while let Some(raw) = line(&mut conn, &mut buf)? {
        let words = imap_words(&String::from_utf8_lossy(&raw));
        let Some(tag) = words.first().cloned() else {
            continue;
        };
        let cmd: Vec<String> = words[1..].iter().map(|w| w.to_ascii_uppercase()).collect();
        let mail = shared.lock().map_err(|_| "sink poisoned")?.town_box.clone();
        let reply = match cmd.first().map(String::as_str) {
            Some("CAPABILITY") => {
                format!("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK CAPABILITY\r\n")
            }
            Some("NOOP") => format!("{tag} OK NOOP\r\n"),
            Some("LOGIN") if words.len() == 4 => {
                if words[2] == login.0 && words[3] == login.1 {
                    authed = true;
                    format!("{tag} OK LOGIN erfolgreich\r\n")
                } else {
                    format!("{tag} NO [AUTHENTICATIONFAILED] Anmeldung abgelehnt\r\n")
                }
            }
            Some("LOGOUT") => {
                conn.write_all(format!("* BYE Tschuess\r\n{tag} OK LOGOUT\r\n").as_bytes())?;
                return Ok(());
            }
            _ if !authed => format!("{tag} NO Erst anmelden\r\n"),
            Some("SELECT" | "EXAMINE") if words.len() == 3 => {
                if words[2].eq_ignore_ascii_case("INBOX") {
                    format!(
                        "* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)\r\n\
                         * {} EXISTS\r\n* 0 RECENT\r\n\
                         * OK [UIDVALIDITY 1] UIDs gueltig\r\n\
                         * OK [UIDNEXT {}] naechste UID\r\n\
                         {tag} OK [READ-ONLY] SELECT\r\n",
                        mail.len(),
                        mail.len() + 1
                    )
                } else {
                    format!("{tag} NO [NONEXISTENT] Ordner unbekannt\r\n")
                }
            }
            Some("UID") if cmd.get(1).map(String::as_str) == Some("SEARCH") => {
                // UID SEARCH UID n:* – `*` is the newest, always included.
                let from = cmd
                    .get(3)
                    .and_then(|r| r.split(':').next())
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(1);
                let mut uids: Vec<usize> = (from.max(1)..=mail.len()).collect();
                if uids.is_empty() && !mail.is_empty() {
                    uids.push(mail.len());
                }
                let list: String = uids.iter().map(|u| format!(" {u}")).collect();
                format!("* SEARCH{list}\r\n{tag} OK SEARCH\r\n")
            }
            Some("UID") if cmd.get(1).map(String::as_str) == Some("FETCH") => {
                let max = cmd
                    .iter()
                    .find_map(|w| {
                        w.split_once("<0.")
                            .map(|(_, n)| n.trim_end_matches([')', '>']))
                    })
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(usize::MAX);
                let set = cmd.get(2).cloned().unwrap_or_default();
                for uid in set.split(',').filter_map(|u| u.parse::<usize>().ok()) {
                    let Some(m) = mail.get(uid.wrapping_sub(1)) else {
                        continue;
                    };
                    let part = &m[..m.len().min(max)];
                    conn.write_all(
                        format!("* {uid} FETCH (UID {uid} BODY[]<0> {{{}}}\r\n", part.len())
                            .as_bytes(),
                    )?;
                    conn.write_all(part)?;
                    conn.write_all(b")\r\n")?;
                }
                format!("{tag} OK FETCH\r\n")
            }
            _ => format!("{tag} BAD Unbekannter Befehl\r\n"),
        };
        conn.write_all(reply.as_bytes())?;
    }
    Ok(())
}
