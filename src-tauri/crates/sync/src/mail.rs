//! Answers by e-mail (reply channel `eMail` of the metadata), through the town's
//! SMTP relay.
//!
//! * With the citizen's OpenPGP key (`replyChannel.eMail.pgpPublicKey`) the letter
//!   goes as PGP/MIME (RFC 3156): the whole inner MIME entity – text and the PDF –
//!   encrypted to the key; the outer headers carry only the addresses, a neutral
//!   subject and the Message-ID.
//! * Without a key no personal content goes by e-mail: the letter goes by post and a
//!   notice says only that a letter is on its way ([`MailItem::notice`]).
//!
//! FIT-Connect specifies the key field only, not the mail format; PGP/MIME is the
//! standard for encrypted mail (see `shared/research/rueckkanal.md`).
//!
//! Delivery is at least once: SMTP has no way to ask afterwards whether a message
//! went through. The Message-ID is fixed when the item is queued, so a message sent
//! again after a crash between the relay's "250" and the local commit is the same
//! message (mail programs show it once).

use lettre::message::header::{ContentDisposition, ContentType};
use lettre::message::{Attachment, Mailbox, Message, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use pgp::composed::{Deserializable, MessageBuilder, SignedPublicKey};
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::types::KeyDetails;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (port 587); refused without it.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on this PC (127.0.0.1, ::1, localhost).
    Keine,
}

/// The town's SMTP relay (administration settings, kept in the encrypted store).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relay {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Login at the relay; none: the relay accepts the town's network without one.
    pub user: Option<String>,
    pub password: Option<String>,
    /// Sender address, e.g. `buergerbuero@musterstadt.de`.
    pub from: String,
    /// Sender name shown to the citizen, e.g. "Stadt Musterstadt – Bürgerbüro".
    pub from_name: Option<String>,
    /// A CA certificate (PEM) to trust beside the system's, for a relay with the
    /// town's own certificate.
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// Why a mail could not be made or sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("E-Mail-Einstellung ungültig: {0}")]
    Settings(String),
    #[error("Der OpenPGP-Schlüssel der Bürgerin oder des Bürgers ist unbrauchbar: {0}")]
    Key(String),
    #[error("E-Mail nicht erstellbar: {0}")]
    Build(String),
    /// The relay refused the message for good (e.g. unknown recipient).
    #[error("Der Mailserver hat die E-Mail abgelehnt: {0}")]
    Refused(String),
    /// The relay refused the login: the administration has to fix the settings.
    #[error("Der Mailserver hat die Anmeldung abgelehnt: {0}")]
    Auth(String),
    /// Not reachable or a temporary refusal: tried again later.
    #[error("Mailserver nicht erreichbar: {0}")]
    Unavailable(String),
}

impl Relay {
    /// Check the settings (the administration's form and every send).
    pub fn validate(&self) -> Result<(), MailError> {
        let bad = |m: &str| Err(MailError::Settings(m.to_owned()));
        let host = self.host.trim();
        if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
            return bad("Der Name des Mailservers fehlt oder enthält unzulässige Zeichen.");
        }
        if self.port == 0 {
            return bad("Der Port des Mailservers fehlt.");
        }
        if self.security == Security::Keine && !is_loopback(host) {
            return bad(
                "Ohne Verschlüsselung nur zu einem Mailserver auf diesem PC (127.0.0.1). Bitte STARTTLS oder TLS wählen.",
            );
        }
        if self.user.is_some() != self.password.is_some() {
            return bad("Benutzername und Passwort des Mailservers gehören zusammen.");
        }
        self.sender()?;
        if let Some(pem) = &self.ca_pem {
            Certificate::from_pem(pem.as_bytes()).map_err(|e| {
                MailError::Settings(format!("Das CA-Zertifikat ist kein PEM-Zertifikat ({e})."))
            })?;
        }
        Ok(())
    }

    fn sender(&self) -> Result<Mailbox, MailError> {
        let address = self.from.trim().parse().map_err(|_| {
            MailError::Settings(format!("Absenderadresse „{}“ ist ungültig.", self.from))
        })?;
        Ok(Mailbox::new(
            self.from_name.as_ref().map(|n| n.trim().to_owned()),
            address,
        ))
    }

    /// The sender's domain (for Message-IDs).
    pub fn domain(&self) -> &str {
        self.from
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or("localhost")
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
        self.validate()?;
        let host = self.host.trim().to_owned();
        let tls = || -> Result<TlsParameters, MailError> {
            let mut b = TlsParameters::builder(host.clone());
            if let Some(pem) = &self.ca_pem {
                let cert = Certificate::from_pem(pem.as_bytes())
                    .map_err(|e| MailError::Settings(e.to_string()))?;
                b = b.add_root_certificate(cert);
            }
            b.build_native()
                .map_err(|e| MailError::Settings(format!("TLS: {e}")))
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
            .port(self.port)
            .timeout(Some(Duration::from_secs(30)))
            .tls(match self.security {
                Security::Starttls => Tls::Required(tls()?),
                Security::Tls => Tls::Wrapper(tls()?),
                Security::Keine => Tls::None,
            });
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(builder.build())
    }

    /// Send one message through the relay.
    pub async fn send(&self, message: Message) -> Result<(), MailError> {
        let transport = self.transport()?;
        match transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => Err(classify(&e)),
        }
    }

    /// Ask the relay whether it answers and takes the login (administration's
    /// "Verbindung testen").
    pub async fn test(&self) -> Result<(), MailError> {
        let transport = self.transport()?;
        match transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(MailError::Unavailable(
                "Der Mailserver antwortet nicht wie erwartet.".into(),
            )),
            Err(e) => Err(classify(&e)),
        }
    }
}

pub(crate) fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What an SMTP error means for the item: a login refusal is the settings'
/// fault, another permanent (5xx) answer refuses this message, the rest is
/// temporary.
fn classify(e: &lettre::transport::smtp::Error) -> MailError {
    let code = e.status().map(|c| c.to_string());
    let text = e.to_string();
    match code.as_deref() {
        Some("530" | "534" | "535" | "538") => MailError::Auth(text),
        _ if e.is_permanent() => MailError::Refused(text),
        _ => MailError::Unavailable(text),
    }
}

/// An e-mail answer in the outbox (kind `mail`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailItem {
    pub to: String,
    /// The citizen's key (ASCII-armoured). Without one the item is a notice: the
    /// envelope's subject and `text` (written without personal content), never the
    /// inner subject or the attachment.
    pub pgp_public_key: Option<String>,
    /// The neutral subject of the envelope (no name, no Aktenzeichen).
    pub subject: String,
    /// The letter's subject line and text: inside the encryption only.
    pub inner_subject: String,
    pub text: String,
    /// The letter (PDF) in the vault; only with a key.
    pub attachment: Option<MailAttachment>,
    /// Fixed when queued: a resend after a crash is the same message.
    pub message_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailAttachment {
    pub blob_id: String,
    pub filename: String,
}

impl MailItem {
    /// Is this the notice without personal content?
    pub fn notice(&self) -> bool {
        self.pgp_public_key.is_none()
    }

    pub fn outbox_item(&self, key: &str, ordering_key: &str) -> store::NewOutboxItem {
        store::NewOutboxItem {
            idempotency_key: key.to_owned(),
            kind: "mail".into(),
            ordering_key: ordering_key.to_owned(),
            payload: serde_json::to_string(self).unwrap_or_default(),
        }
    }
}

/// A Message-ID for an outbox key: the same key gives the same id.
pub fn message_id(key: &str, domain: &str) -> String {
    let uuid = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes());
    format!("<{}@{}>", uuid.simple(), domain)
}

/// The citizen's key: parsed, its bindings checked, neither revoked nor expired,
/// with a key to encrypt to (a subkey flagged for encryption, else an
/// encryption-capable primary key).
pub fn check_key(armored: &str) -> Result<SignedPublicKey, MailError> {
    check_key_at(armored, pgp::types::Timestamp::now().as_secs())
}

/// [`check_key`] at a given time (seconds since 1970).
pub fn check_key_at(armored: &str, now: u32) -> Result<SignedPublicKey, MailError> {
    let (key, _) = SignedPublicKey::from_string(armored)
        .map_err(|e| MailError::Key(format!("nicht lesbar ({e})")))?;
    key.verify_bindings()
        .map_err(|e| MailError::Key(format!("Selbstsignaturen ungültig ({e})")))?;
    if !key.details.revocation_signatures.is_empty() {
        return Err(MailError::Key("er ist widerrufen".into()));
    }
    // The primary key's lifetime: from its newest self-signature.
    let newest = key
        .details
        .users
        .iter()
        .flat_map(|u| u.signatures.iter())
        .chain(key.details.direct_signatures.iter())
        .max_by_key(|s| s.created().map(|t| t.as_secs()).unwrap_or(0));
    if expired(key.primary_key.created_at().as_secs(), newest, now) {
        return Err(MailError::Key("er ist abgelaufen".into()));
    }
    let usable = key.public_subkeys.iter().any(|s| usable_subkey(s, now))
        || key.primary_key.algorithm().can_encrypt();
    if !usable {
        return Err(MailError::Key(
            "er enthält keinen gültigen Schlüssel zum Verschlüsseln".into(),
        ));
    }
    Ok(key)
}

/// Has a key made at `created` expired by `now`, as its newest binding says?
fn expired(created: u32, binding: Option<&pgp::packet::Signature>, now: u32) -> bool {
    binding
        .and_then(|s| s.key_expiration_time())
        .map(|d| d.as_secs())
        .filter(|d| *d > 0)
        .is_some_and(|d| u64::from(created) + u64::from(d) <= u64::from(now))
}

/// A subkey to encrypt to: flagged for it, able to, not revoked, not expired.
fn usable_subkey(s: &pgp::composed::SignedPublicSubKey, now: u32) -> bool {
    use pgp::packet::SignatureType;
    let revoked = s
        .signatures
        .iter()
        .any(|sig| sig.typ() == Some(SignatureType::SubkeyRevocation));
    let binding = s
        .signatures
        .iter()
        .filter(|sig| sig.typ() == Some(SignatureType::SubkeyBinding))
        .max_by_key(|sig| sig.created().map(|t| t.as_secs()).unwrap_or(0));
    let flagged = binding
        .is_some_and(|sig| sig.key_flags().encrypt_comms() || sig.key_flags().encrypt_storage());
    !revoked
        && flagged
        && s.key.algorithm().can_encrypt()
        && !expired(s.key.created_at().as_secs(), binding, now)
}

/// `data` encrypted to the key, ASCII-armoured (AES-256, SEIPD v1 – what every
/// OpenPGP program reads).
pub fn encrypt(key: &SignedPublicKey, data: Vec<u8>) -> Result<String, MailError> {
    use rand08::rngs::OsRng;
    let build = |e: pgp::errors::Error| MailError::Build(e.to_string());
    let now = pgp::types::Timestamp::now().as_secs();
    let mut builder =
        MessageBuilder::from_bytes("", data).seipd_v1(OsRng, SymmetricKeyAlgorithm::AES256);
    let mut recipients = 0;
    for sub in key.public_subkeys.iter().filter(|s| usable_subkey(s, now)) {
        builder.encrypt_to_key(OsRng, &sub.key).map_err(build)?;
        recipients += 1;
    }
    if recipients == 0 {
        if !key.primary_key.algorithm().can_encrypt() {
            return Err(MailError::Key(
                "er enthält keinen gültigen Schlüssel zum Verschlüsseln".into(),
            ));
        }
        builder
            .encrypt_to_key(OsRng, &key.primary_key)
            .map_err(build)?;
    }
    builder
        .to_armored_string(OsRng, Default::default())
        .map_err(build)
}

/// Build the message: PGP/MIME with the letter, or the notice without content.
/// `pdf` is the attachment's content (read from the vault by the caller).
pub fn compose(item: &MailItem, relay: &Relay, pdf: Option<&[u8]>) -> Result<Message, MailError> {
    let to: Mailbox =
        item.to.trim().parse().map_err(|_| {
            MailError::Refused(format!("Empfängeradresse „{}“ ist ungültig", item.to))
        })?;
    let ct = |s: &str| ContentType::parse(s).map_err(|e| MailError::Build(e.to_string()));
    let builder = Message::builder()
        .from(relay.sender()?)
        .to(to)
        .subject(item.subject.clone())
        .message_id(Some(item.message_id.clone()));
    let message = match &item.pgp_public_key {
        None => builder.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(item.text.clone()),
        ),
        Some(armored) => {
            let key = check_key(armored)?;
            let mut inner = MultiPart::mixed().singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(format!("{}\r\n\r\n{}", item.inner_subject, item.text)),
            );
            if let Some(a) = &item.attachment {
                let bytes = pdf.ok_or_else(|| MailError::Build("Brief fehlt".into()))?;
                inner = inner.singlepart(
                    Attachment::new(a.filename.clone())
                        .body(bytes.to_vec(), ct("application/pdf")?),
                );
            }
            let armored = encrypt(&key, inner.formatted())?;
            builder.multipart(
                MultiPart::encrypted("application/pgp-encrypted".into())
                    .singlepart(
                        SinglePart::builder()
                            .header(ct("application/pgp-encrypted")?)
                            .header(ContentDisposition::attachment("version.asc"))
                            .body(String::from("Version: 1\r\n")),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ct("application/octet-stream")?)
                            .header(ContentDisposition::inline_with_name("encrypted.asc"))
                            .body(armored),
                    ),
            )
        }
    };
    message.map_err(|e| MailError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay() -> Relay {
        Relay {
            host: "127.0.0.1".into(),
            port: 2525,
            security: Security::Keine,
            user: None,
            password: None,
            from: "buergerbuero@musterstadt.example".into(),
            from_name: Some("Stadt Musterstadt".into()),
            ca_pem: None,
        }
    }

    #[test]
    fn settings_are_checked_and_the_password_is_not_printed() {
        assert!(relay().validate().is_ok());
        let open = Relay {
            host: "mail.musterstadt.example".into(),
            ..relay()
        };
        assert!(matches!(open.validate(), Err(MailError::Settings(m)) if m.contains("STARTTLS")));
        let half = Relay {
            user: Some("rathaus".into()),
            ..relay()
        };
        assert!(half.validate().is_err());
        let bad_from = Relay {
            from: "kein absender".into(),
            ..relay()
        };
        assert!(
            matches!(bad_from.validate(), Err(MailError::Settings(m)) if m.contains("Absender"))
        );
        let bad_ca = Relay {
            ca_pem: Some("kein zertifikat".into()),
            ..relay()
        };
        assert!(bad_ca.validate().is_err());
        let secret = Relay {
            user: Some("rathaus".into()),
            password: Some("geheim-4711".into()),
            ..relay()
        };
        assert!(!format!("{secret:?}").contains("geheim-4711"));
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/pgp/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| format!("{path}: {e}"))
    }

    #[test]
    fn a_revoked_or_expired_key_is_refused_a_valid_one_taken() {
        // 04.12.2026
        let now = 1_796_342_400;
        assert!(check_key_at(&fixture("valid.asc"), now).is_ok());
        let expired = check_key_at(&fixture("expired.asc"), now).err();
        assert!(
            matches!(&expired, Some(MailError::Key(m)) if m.contains("abgelaufen")),
            "{expired:?}"
        );
        // Before its end (June 2020) the same key was good.
        assert!(check_key_at(&fixture("expired.asc"), 1_590_000_000).is_ok());
        let revoked = check_key_at(&fixture("revoked.asc"), now).err();
        assert!(
            matches!(&revoked, Some(MailError::Key(m)) if m.contains("widerrufen")),
            "{revoked:?}"
        );
        // What encrypts to a valid key is an armoured OpenPGP message.
        let key = check_key(&fixture("valid.asc")).map_err(|e| e.to_string());
        let armored =
            key.and_then(|k| encrypt(&k, b"Bescheid".to_vec()).map_err(|e| e.to_string()));
        assert!(
            armored
                .as_deref()
                .is_ok_and(|a| a.starts_with("-----BEGIN PGP MESSAGE-----")),
            "{armored:?}"
        );
    }

    #[test]
    fn the_same_key_gives_the_same_message_id() {
        let a = message_id("mail:blob-1", "musterstadt.example");
        assert_eq!(a, message_id("mail:blob-1", "musterstadt.example"));
        assert_ne!(a, message_id("mail:blob-2", "musterstadt.example"));
        assert!(a.starts_with('<') && a.ends_with("@musterstadt.example>"));
    }

    #[test]
    fn a_notice_carries_nothing_but_its_text_and_a_broken_key_is_refused() {
        let item = MailItem {
            to: "ayse@example.org".into(),
            pgp_public_key: None,
            subject: "Nachricht der Stadt Musterstadt".into(),
            inner_subject: "Bescheid 32-2026-0001 für Ayşe Yılmaz".into(),
            text: "Ein Schreiben ist per Post unterwegs.".into(),
            attachment: None,
            message_id: message_id("k", "musterstadt.example"),
        };
        let raw = String::from_utf8(
            compose(&item, &relay(), Some(b"%PDF-1.7"))
                .map(|m| m.formatted())
                .unwrap_or_default(),
        )
        .unwrap_or_default();
        assert!(
            raw.contains("Ein Schreiben ist per Post unterwegs."),
            "{raw}"
        );
        assert!(
            !raw.contains("32-2026-0001") && !raw.contains("Yılmaz"),
            "{raw}"
        );
        assert!(!raw.contains("PDF"), "{raw}");

        let broken = MailItem {
            pgp_public_key: Some(
                "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nkaputt\n-----END PGP PUBLIC KEY BLOCK-----\n"
                    .into(),
            ),
            ..item.clone()
        };
        assert!(matches!(
            compose(&broken, &relay(), Some(b"%PDF")),
            Err(MailError::Key(_))
        ));
        let bad_to = MailItem {
            to: "nicht-adresse".into(),
            ..item
        };
        assert!(matches!(
            compose(&bad_to, &relay(), None),
            Err(MailError::Refused(_))
        ));
    }
}
