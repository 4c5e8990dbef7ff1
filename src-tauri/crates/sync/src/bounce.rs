//! Late bounces of answers by e-mail. The relay's "250" only says it took the
//! message; when the citizen's provider refuses it later, a delivery status
//! notification (DSN, RFC 3464) comes back to the sender's mailbox. It is read
//! from there by IMAP (RFC 3501), matched to our message by its Message-ID and
//! recorded on the case ([`SyncStore::mail_bounced`]): the answer shows
//! "fehlgeschlagen" with the mail server's reason, and the clerk gets the task to
//! send the letter by post.
//!
//! Only reading: nothing in the mailbox is changed (people may read it too). Where
//! reading stopped is kept as the folder's UIDVALIDITY and the highest UID read;
//! recording is idempotent, so a crash between the two reads a few messages again
//! and changes nothing. Each message is read up to [`MAX_BYTES`] (a DSN's report
//! comes first, the returned original last), at most [`MAX_PER_RUN`] per run.

use crate::engine::{SyncError, SyncStore};
use crate::mail::{MailError, Security, is_loopback};
use futures_util::StreamExt;
use mail_parser::MimeHeaders;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Bytes of a message read at most (the report part comes before the original).
pub const MAX_BYTES: u32 = 128 * 1024;
/// Messages read at most per run; the rest in the next runs.
pub const MAX_PER_RUN: usize = 200;
/// Where the cursor is kept in the store's settings.
pub const CURSOR_SETTING: &str = "mail_bounce_cursor";

/// The mailbox the relay's bounces arrive in (administration settings, in the
/// encrypted store): usually the sender address's mailbox.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BounceBox {
    pub host: String,
    pub port: u16,
    /// `Tls` (993), `Starttls` (143) or `Keine` (only for a server on this PC).
    pub security: Security,
    pub user: String,
    pub password: String,
    /// Folder to read, usually `INBOX`.
    pub folder: String,
    /// A CA certificate (PEM) to trust beside the system's.
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for BounceBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BounceBox")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("folder", &self.folder)
            .finish_non_exhaustive()
    }
}

impl BounceBox {
    /// Check the settings (the administration's form and every run).
    pub fn validate(&self) -> Result<(), MailError> {
        let bad = |m: &str| Err(MailError::Settings(m.to_owned()));
        let host = self.host.trim();
        if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
            return bad(
                "Der Name des Postfach-Servers (IMAP) fehlt oder enthält unzulässige Zeichen.",
            );
        }
        if self.port == 0 {
            return bad("Der Port des Postfach-Servers (IMAP) fehlt.");
        }
        if self.security == Security::Keine && !is_loopback(host) {
            return bad(
                "Ohne Verschlüsselung nur zu einem Postfach-Server auf diesem PC (127.0.0.1). Bitte TLS oder STARTTLS wählen.",
            );
        }
        if self.user.trim().is_empty() || self.password.is_empty() {
            return bad("Für das Postfach (IMAP) sind Benutzername und Passwort nötig.");
        }
        let folder = self.folder.trim();
        if folder.is_empty()
            || folder.len() > 200
            || folder
                .chars()
                .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            return bad("Der Ordner des Postfachs fehlt oder enthält unzulässige Zeichen.");
        }
        if let Some(pem) = &self.ca_pem {
            tokio_native_tls::native_tls::Certificate::from_pem(pem.as_bytes()).map_err(|e| {
                MailError::Settings(format!("Das CA-Zertifikat ist kein PEM-Zertifikat ({e})."))
            })?;
        }
        Ok(())
    }

    fn tls(&self) -> Result<tokio_native_tls::TlsConnector, MailError> {
        let mut b = tokio_native_tls::native_tls::TlsConnector::builder();
        if let Some(pem) = &self.ca_pem {
            let cert = tokio_native_tls::native_tls::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| MailError::Settings(e.to_string()))?;
            b.add_root_certificate(cert);
        }
        b.build()
            .map(tokio_native_tls::TlsConnector::from)
            .map_err(|e| MailError::Settings(format!("TLS: {e}")))
    }

    /// The messages after `cursor` (all on the first run, or when the folder was
    /// made anew), at most [`MAX_PER_RUN`], each cut at [`MAX_BYTES`]; and the
    /// cursor after them.
    pub async fn fetch(&self, cursor: Option<Cursor>) -> Result<(Vec<Vec<u8>>, Cursor), MailError> {
        self.validate()?;
        tokio::time::timeout(Duration::from_secs(120), self.fetch_inner(cursor))
            .await
            .map_err(|_| {
                MailError::Unavailable("Das Postfach antwortet nicht (Zeitüberschreitung).".into())
            })?
    }

    async fn fetch_inner(
        &self,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Vec<u8>>, Cursor), MailError> {
        let host = self.host.trim();
        let tcp = tokio::net::TcpStream::connect((host, self.port))
            .await
            .map_err(|e| {
                MailError::Unavailable(format!("Postfach-Server {host}:{}: {e}", self.port))
            })?;
        match self.security {
            Security::Keine => read_box(self, greeted(tcp).await?, cursor).await,
            Security::Tls => {
                let tls = self
                    .tls()?
                    .connect(host, tcp)
                    .await
                    .map_err(|e| MailError::Unavailable(format!("TLS: {e}")))?;
                read_box(self, greeted(tls).await?, cursor).await
            }
            Security::Starttls => {
                let mut client = greeted(tcp).await?;
                client
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|e| MailError::Unavailable(format!("STARTTLS abgelehnt: {e}")))?;
                let tls = self
                    .tls()?
                    .connect(host, client.into_inner())
                    .await
                    .map_err(|e| MailError::Unavailable(format!("TLS: {e}")))?;
                read_box(self, async_imap::Client::new(tls), cursor).await
            }
        }
    }

    /// "Verbindung testen": connect, log in, open the folder; nothing is read.
    pub async fn test(&self) -> Result<(), MailError> {
        let end = Cursor {
            validity: 0,
            last_uid: u32::MAX,
        };
        self.fetch(Some(end)).await.map(|_| ())
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send> Stream for T {}

/// The client after the server's greeting.
async fn greeted<T: Stream>(stream: T) -> Result<async_imap::Client<T>, MailError> {
    let mut client = async_imap::Client::new(stream);
    match client.read_response().await {
        Ok(Some(_)) => Ok(client),
        Ok(None) => Err(MailError::Unavailable(
            "Der Postfach-Server hat die Verbindung ohne Gruß beendet.".into(),
        )),
        Err(e) => Err(MailError::Unavailable(e.to_string())),
    }
}

async fn read_box<T: Stream>(
    b: &BounceBox,
    client: async_imap::Client<T>,
    cursor: Option<Cursor>,
) -> Result<(Vec<Vec<u8>>, Cursor), MailError> {
    let mut session = client
        .login(b.user.trim(), &b.password)
        .await
        .map_err(|(e, _)| MailError::Auth(format!("am Postfach als {} ({e})", b.user.trim())))?;
    let folder = b.folder.trim();
    let mailbox = session
        .select(folder)
        .await
        .map_err(|e| MailError::Settings(format!("Ordner „{folder}“ nicht lesbar: {e}")))?;
    let validity = mailbox.uid_validity.unwrap_or(0);
    // A folder made anew (another UIDVALIDITY) is read from its start.
    let after = match cursor {
        Some(c) if c.validity == validity || c.last_uid == u32::MAX => c.last_uid,
        _ => 0,
    };
    let mut out = Vec::new();
    let mut last_uid = after;
    if after < u32::MAX && mailbox.exists > 0 {
        let found = session
            .uid_search(format!("UID {}:*", after.saturating_add(1)))
            .await
            .map_err(|e| MailError::Unavailable(format!("Suche im Postfach: {e}")))?;
        // `n:*` always names the newest message, even below n.
        let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > after).collect();
        uids.sort_unstable();
        uids.truncate(MAX_PER_RUN);
        if let Some(max) = uids.last() {
            last_uid = *max;
            let set = uids
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let mut fetches = session
                .uid_fetch(&set, format!("(UID BODY.PEEK[]<0.{MAX_BYTES}>)"))
                .await
                .map_err(|e| MailError::Unavailable(format!("Abruf aus dem Postfach: {e}")))?;
            while let Some(f) = fetches.next().await {
                let f =
                    f.map_err(|e| MailError::Unavailable(format!("Abruf aus dem Postfach: {e}")))?;
                if let Some(body) = f.body() {
                    out.push(body[..body.len().min(MAX_BYTES as usize)].to_vec());
                }
            }
        }
    }
    let _ = session.logout().await;
    Ok((out, Cursor { validity, last_uid }))
}

/// Where reading stopped in the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    pub validity: u32,
    pub last_uid: u32,
}

/// What a bounce says about one of our messages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bounce {
    /// Message-IDs of the returned message (with angle brackets).
    pub message_ids: Vec<String>,
    /// The refused recipient, status code (`5.1.1`) and the server's words.
    pub recipient: Option<String>,
    pub status: Option<String>,
    pub diagnostic: Option<String>,
}

impl Bounce {
    /// The reason as the case shows it (German frame, the server's words as given).
    pub fn reason(&self) -> String {
        let mut why = match self.status.as_deref() {
            Some(s) if s.starts_with("5.1.") => "Empfängeradresse unbekannt".to_owned(),
            Some(s) if s.starts_with("5.2.") => "Postfach voll oder gesperrt".to_owned(),
            Some(s) if s.starts_with("5.7.") => "vom Empfänger-Server abgewiesen".to_owned(),
            _ => "nicht zustellbar".to_owned(),
        };
        if let Some(s) = &self.status {
            why.push_str(&format!(" (Status {s})"));
        }
        if let Some(d) = &self.diagnostic {
            let d: String = d.chars().filter(|c| !c.is_control()).take(300).collect();
            why.push_str(&format!(": {d}"));
        }
        why
    }
}

/// Read a message as a bounce: a DSN (`multipart/report; report-type=
/// delivery-status`) with a failed recipient, or – for servers that send plain
/// text – a message from the mailer daemon or postmaster that quotes the
/// original's headers. `None`: not a bounce (or only "delayed", "delivered").
pub fn parse(raw: &[u8]) -> Option<Bounce> {
    let message = mail_parser::MessageParser::default().parse(raw)?;
    let is_report = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    });
    let mut bounce = Bounce::default();
    let mut failed = false;
    for part in message.parts.iter().skip(1) {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let sub = ct.subtype().unwrap_or("").to_ascii_lowercase();
        match (ct.ctype().to_ascii_lowercase().as_str(), sub.as_str()) {
            ("message", "delivery-status") => {
                let text = String::from_utf8_lossy(part.contents());
                failed |= read_status(&text, &mut bounce);
            }
            ("text", "rfc822-headers") => {
                quoted_ids(&String::from_utf8_lossy(part.contents()), &mut bounce);
            }
            ("message", "rfc822") | ("message", "global") => {
                if let Some(inner) = part.message() {
                    if let Some(id) = inner.message_id() {
                        push_id(&mut bounce, id);
                    }
                } else {
                    quoted_ids(&String::from_utf8_lossy(part.contents()), &mut bounce);
                }
            }
            _ => {}
        }
    }
    if is_report {
        return (failed && !bounce.message_ids.is_empty()).then_some(bounce);
    }
    // A plain-text bounce: only from the mail system, quoting our headers.
    let from_daemon = message
        .from()
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .is_some_and(|a| {
            let local = a.split('@').next().unwrap_or("").to_ascii_lowercase();
            local == "mailer-daemon" || local == "postmaster"
        });
    if !from_daemon {
        return None;
    }
    for part in &message.parts {
        if part.is_text() {
            quoted_ids(&String::from_utf8_lossy(part.contents()), &mut bounce);
        }
    }
    (!bounce.message_ids.is_empty()).then_some(bounce)
}

/// The per-recipient fields of a `message/delivery-status` part. True if a
/// recipient failed (the first failed one is kept).
fn read_status(text: &str, bounce: &mut Bounce) -> bool {
    let mut failed = false;
    // Blocks are separated by blank lines; the first is per message.
    for block in text.replace("\r\n", "\n").split("\n\n") {
        let mut fields = std::collections::HashMap::new();
        let mut last: Option<String> = None;
        for line in block.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(k) = &last
                    && let Some(v) = fields.get_mut(k)
                {
                    let v: &mut String = v;
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                fields.insert(k.clone(), v.trim().to_owned());
                last = Some(k);
            }
        }
        let action = fields.get("action").map(|a| a.to_ascii_lowercase());
        if action.as_deref() == Some("failed") && !failed {
            failed = true;
            let after_type = |v: &String| {
                v.split_once(';')
                    .map(|(_, r)| r.trim().to_owned())
                    .unwrap_or_else(|| v.clone())
            };
            bounce.recipient = fields
                .get("final-recipient")
                .or(fields.get("original-recipient"))
                .map(after_type);
            bounce.status = fields.get("status").map(|s| s.trim().to_owned());
            bounce.diagnostic = fields.get("diagnostic-code").map(after_type);
        }
    }
    failed
}

/// `Message-ID:` lines of quoted headers.
fn quoted_ids(text: &str, bounce: &mut Bounce) {
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case("message-id")
        {
            let v = v.trim();
            if let (Some(a), Some(b)) = (v.find('<'), v.find('>'))
                && a < b
            {
                push_id(bounce, &v[a + 1..b]);
            }
        }
    }
}

fn push_id(bounce: &mut Bounce, id: &str) {
    let id = format!("<{}>", id.trim().trim_matches(|c| c == '<' || c == '>'));
    if id.len() > 2 && id.len() <= 250 && !bounce.message_ids.contains(&id) {
        bounce.message_ids.push(id);
    }
}

/// The reason a late bounce is recorded with (the task names it), at a desk and
/// at the Rathaus-Server alike.
pub use store::late_bounce_reason as late_reason;

/// What one check of the mailbox did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    /// Messages read.
    pub read: usize,
    /// Bounces of our e-mails recorded now.
    pub recorded: usize,
}

/// Read the new messages of the bounce mailbox and record the bounces of our
/// e-mails on their cases. The cursor is kept after the recording.
pub async fn check(b: &BounceBox, store: &mut impl SyncStore) -> Result<Checked, SyncError> {
    let cursor = store
        .setting(CURSOR_SETTING)?
        .and_then(|json| serde_json::from_str::<Cursor>(&json).ok());
    let (messages, next) = b
        .fetch(cursor)
        .await
        .map_err(|e| SyncError::Unavailable(e.to_string()))?;
    let mut checked = Checked {
        read: messages.len(),
        recorded: 0,
    };
    for raw in &messages {
        let Some(bounce) = parse(raw) else {
            continue;
        };
        let reason = bounce.reason();
        for id in &bounce.message_ids {
            if store.mail_bounced(id, &reason)? {
                checked.recorded += 1;
                break;
            }
        }
    }
    if cursor != Some(next) {
        let json =
            serde_json::to_string(&next).map_err(|e| SyncError::Unavailable(e.to_string()))?;
        store.set_setting(CURSOR_SETTING, &json)?;
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(action: &str, original: &str) -> Vec<u8> {
        format!(
            "From: MAILER-DAEMON@mx.example.org\r\nTo: buergerbuero@musterstadt.example\r\n\
             Subject: Delivery Status Notification\r\nMessage-ID: <dsn-1@mx.example.org>\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n\
             --b\r\nContent-Type: message/delivery-status\r\n\r\n\
             Reporting-MTA: dns; mx.example.org\r\n\r\n\
             Final-Recipient: rfc822; anna@example.org\r\nAction: {action}\r\nStatus: 5.2.2\r\n\
             Diagnostic-Code: smtp; 552 5.2.2 Mailbox full,\r\n  quota exceeded\r\n\r\n\
             --b\r\n{original}\r\n--b--\r\n"
        )
        .into_bytes()
    }

    const HEADERS: &str = "Content-Type: text/rfc822-headers\r\n\r\n\
        From: buergerbuero@musterstadt.example\r\nMessage-ID: <abc123@musterstadt.example>\r\n\
        Subject: Nachricht von Musterstadt\r\n";

    #[test]
    fn a_failed_report_names_our_message_recipient_status_and_words() {
        let b = parse(&report("failed", HEADERS)).expect("a bounce");
        assert_eq!(b.message_ids, vec!["<abc123@musterstadt.example>"]);
        assert_eq!(b.recipient.as_deref(), Some("anna@example.org"));
        assert_eq!(b.status.as_deref(), Some("5.2.2"));
        assert_eq!(
            b.diagnostic.as_deref(),
            Some("552 5.2.2 Mailbox full, quota exceeded")
        );
        let why = b.reason();
        assert!(
            why.starts_with("Postfach voll oder gesperrt (Status 5.2.2): 552"),
            "{why}"
        );
    }

    #[test]
    fn the_returned_whole_message_is_read_too() {
        let original = "Content-Type: message/rfc822\r\n\r\n\
            From: buergerbuero@musterstadt.example\r\nMessage-ID: <whole@musterstadt.example>\r\n\
            Subject: x\r\n\r\nverschluesselt\r\n";
        let b = parse(&report("failed", original)).expect("a bounce");
        assert_eq!(b.message_ids, vec!["<whole@musterstadt.example>"]);
    }

    #[test]
    fn delayed_or_delivered_is_no_bounce() {
        assert_eq!(parse(&report("delayed", HEADERS)), None);
        assert_eq!(parse(&report("delivered", HEADERS)), None);
    }

    #[test]
    fn a_plain_text_bounce_counts_only_from_the_mail_system() {
        let text = |from: &str| {
            format!(
                "From: {from}\r\nTo: buergerbuero@musterstadt.example\r\nSubject: failure notice\r\n\r\n\
                 Sorry, we were unable to deliver your message.\r\n\r\n\
                 --- Below this line is a copy of the message.\r\n\
                 Message-ID: <abc123@musterstadt.example>\r\nSubject: Nachricht\r\n"
            )
            .into_bytes()
        };
        let b = parse(&text("MAILER-DAEMON@mx.example.org")).expect("a bounce");
        assert_eq!(b.message_ids, vec!["<abc123@musterstadt.example>"]);
        assert_eq!(b.reason(), "nicht zustellbar");
        assert!(parse(&text("postmaster@example.org")).is_some());
        // A citizen quoting our message is no bounce.
        assert_eq!(parse(&text("anna@example.org")), None);
    }

    #[test]
    fn cut_garbled_or_empty_input_is_no_bounce_and_no_panic() {
        let full = report("failed", HEADERS);
        for cut in [0, 10, 200, full.len() / 2, full.len() - 3] {
            let _ = parse(&full[..cut]);
        }
        assert_eq!(parse(b""), None);
        assert_eq!(parse(&[0xff; 300]), None);
        // A report without our headers names no message: nothing to record.
        assert_eq!(
            parse(&report("failed", "Content-Type: text/plain\r\n\r\nx")),
            None
        );
    }

    #[test]
    fn settings_are_checked() {
        let ok = BounceBox {
            host: "imap.musterstadt.example".into(),
            port: 993,
            security: Security::Tls,
            user: "rathaus".into(),
            password: "geheim".into(),
            folder: "INBOX".into(),
            ca_pem: None,
        };
        assert!(ok.validate().is_ok());
        for bad in [
            BounceBox {
                security: Security::Keine,
                ..ok.clone()
            },
            BounceBox {
                host: "".into(),
                ..ok.clone()
            },
            BounceBox {
                port: 0,
                ..ok.clone()
            },
            BounceBox {
                password: "".into(),
                ..ok.clone()
            },
            BounceBox {
                folder: "IN\"BOX".into(),
                ..ok.clone()
            },
            BounceBox {
                ca_pem: Some("kein pem".into()),
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert!(
            BounceBox {
                host: "127.0.0.1".into(),
                security: Security::Keine,
                ..ok.clone()
            }
            .validate()
            .is_ok()
        );
        assert!(!format!("{ok:?}").contains("geheim"));
    }
}
