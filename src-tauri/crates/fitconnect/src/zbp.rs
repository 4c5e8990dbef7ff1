//! BundID's central citizen mailbox (Zentrales Bürgerpostfach, ZBP) reached through
//! FIT-Connect's bridge ("Brückenkopflösung"): the message and status payloads, the
//! signed envelope that travels as the submission's data, and its verification.
//!
//! **Reconstructed from public code, not from a published schema.** FITKO has not
//! published `zbp-message.schema.json` nor a schema for the status payload. What this
//! module does is rebuilt from optiGov/php-fitconnect (`Client/Zbp/EnvelopeBuilder.php`,
//! `Crypto/Signer.php`, `DTOs/Outgoing/ZbpMessage.php`, `ZbpState.php`,
//! commit 8dac2d6) and aivot-digital/gover (`FitConnectZbpCommunicationProviderV1.java`):
//! * the service URNs [`MESSAGE_SERVICE`] / [`STATUS_SERVICE`] and the schema URI
//!   [`SCHEMA_URI`] (optiGov uses it for status submissions too);
//! * the field names and length limits of [`Message`] and [`State`];
//! * the envelope `{content, sha512sum, authorToken, authorCertificate}`: `content` is
//!   the payload as a JSON *string*; `sha512sum` is, despite its name, an
//!   RSASSA-PKCS1-v1_5/SHA-512 signature over exactly those bytes (standard base64);
//!   `authorToken` a compact JWS (`RS512`, `typ: JWT`) with `iat`, `exp = iat + 1800`,
//!   `signer` = the certificate's common name and `roles: ["THIRD_PARTY"]`;
//!   `authorCertificate` the PEM certificate of the town's BPKI key pair.
//!
//! What the real bridge checks beyond this is not public; the simulator's fake bridge
//! checks everything listed here (see `portal-sim`'s `bridge` module).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// FIT-Connect service of a message to a BundID mailbox.
pub const MESSAGE_SERVICE: &str = "urn:schema-fitko-de:fit-connect:id.bund.de:message_v6";
/// FIT-Connect service of an application status update (BundID Statusmonitor).
pub const STATUS_SERVICE: &str = "urn:schema-fitko-de:fit-connect:id.bund.de:status_v6";
/// Schema URI named in the metadata of both kinds.
pub const SCHEMA_URI: &str =
    "https://schema.fitko.de/fit-connect/id.bund.de/message_v6/1.0.0/zbp-message.schema.json";
/// The metadata version the bridge submissions declare.
pub const METADATA_SCHEMA: &str =
    "https://schema.fitko.de/fit-connect/metadata/2.1.0/metadata.schema.json";
/// Lifetime of an author token in seconds.
pub const TOKEN_LIFETIME: i64 = 1800;
/// The role an authority signs its messages in.
pub const ROLE: &str = "THIRD_PARTY";
/// Upper bound of a message's text (the research names 1 MB, unconfirmed).
pub const MAX_CONTENT: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZbpError {
    /// The town's BPKI key or certificate is unusable.
    #[error("BPKI-Schlüssel oder -Zertifikat unbrauchbar: {0}")]
    Author(String),
    /// A payload field breaks the rules.
    #[error("BundID-Nachricht ungültig: {0}")]
    Payload(String),
    /// The envelope does not verify.
    #[error("Umschlag der BundID-Nachricht ungültig: {0}")]
    Envelope(String),
}

fn author(e: impl std::fmt::Display) -> ZbpError {
    ZbpError::Author(e.to_string())
}

fn envelope_err(e: impl std::fmt::Display) -> ZbpError {
    ZbpError::Envelope(e.to_string())
}

/// A file named in a message; the file itself travels as a FIT-Connect attachment
/// of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileRef {
    pub filename: String,
    /// SHA-512 of the raw file, hex.
    pub sha512sum: String,
    pub content_length: u64,
}

impl FileRef {
    pub fn of(filename: &str, bytes: &[u8]) -> FileRef {
        FileRef {
            filename: filename.to_owned(),
            sha512sum: crate::submission::sha512_hex(bytes),
            content_length: bytes.len() as u64,
        }
    }
}

/// A message to a citizen's BundID mailbox (`message_v6`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// The citizen's Postkorb-Handle.
    pub mailbox_uuid: Uuid,
    /// Trust level of the citizen's login (1–4).
    #[serde(rename = "stork_qaa_level")]
    pub stork_qaa_level: u8,
    /// The authority.
    pub sender: String,
    pub title: String,
    /// The text (HTML allowed).
    pub content: String,
    /// The Verwaltungsleistung.
    pub service: String,
    /// The application in the BundID Statusmonitor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<Uuid>,
    /// Our Aktenzeichen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<FileRef>,
}

fn length(field: &str, value: &str, min: usize, max: usize) -> Result<(), ZbpError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ZbpError::Payload(format!(
            "{field} hat {n} Zeichen (erlaubt {min} bis {max})"
        )));
    }
    Ok(())
}

impl Message {
    /// The limits the research reconstructs from public code.
    pub fn check(&self) -> Result<(), ZbpError> {
        if !(1..=4).contains(&self.stork_qaa_level) {
            return Err(ZbpError::Payload(format!(
                "stork_qaa_level {} (erlaubt 1 bis 4)",
                self.stork_qaa_level
            )));
        }
        length("sender", &self.sender, 1, 255)?;
        length("title", &self.title, 1, 1024)?;
        length("service", &self.service, 1, 255)?;
        if self.content.is_empty() || self.content.len() > MAX_CONTENT {
            return Err(ZbpError::Payload(format!(
                "content hat {} Bytes (erlaubt 1 bis {MAX_CONTENT})",
                self.content.len()
            )));
        }
        if let Some(r) = &self.reference {
            length("reference", r, 0, 255)?;
        }
        let mut names = std::collections::HashSet::new();
        for a in &self.attachments {
            length("attachments.filename", &a.filename, 1, 255)?;
            if !names.insert(a.filename.as_str()) {
                return Err(ZbpError::Payload(format!(
                    "Dateiname {} doppelt",
                    a.filename
                )));
            }
            if a.sha512sum.len() != 128 || !a.sha512sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ZbpError::Payload(format!(
                    "sha512sum von {} ist kein SHA-512 (hex)",
                    a.filename
                )));
            }
        }
        Ok(())
    }
}

/// The state of an application as the BundID Statusmonitor shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Initiated,
    Submitted,
    Received,
    Processing,
    ActionRequired,
    Completed,
}

impl Status {
    /// German name (for the case's outbox list).
    pub fn label(self) -> &'static str {
        match self {
            Status::Initiated => "begonnen",
            Status::Submitted => "eingereicht",
            Status::Received => "eingegangen",
            Status::Processing => "in Bearbeitung",
            Status::ActionRequired => "Mitwirkung erforderlich",
            Status::Completed => "abgeschlossen",
        }
    }
}

/// A text in German (`{"de": …}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct German {
    pub de: String,
}

/// An application status update (`status_v6`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub application_id: Uuid,
    pub status: Status,
    pub public_service_name: German,
    pub sender_name: String,
    /// ISO 8601 in UTC with milliseconds (`…000Z`).
    pub created_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<German>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_information: Option<German>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// `createdDate` for a moment: UTC, milliseconds, `Z`.
pub fn created_date(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S.%3fZ").to_string()
}

impl State {
    pub fn check(&self) -> Result<(), ZbpError> {
        length("publicServiceName.de", &self.public_service_name.de, 1, 100)?;
        length("senderName", &self.sender_name, 1, 100)?;
        if let Some(d) = &self.status_details {
            length("statusDetails.de", &d.de, 0, 50)?;
        }
        if let Some(d) = &self.additional_information {
            length("additionalInformation.de", &d.de, 0, 100)?;
        }
        if let Some(r) = &self.reference {
            length("reference", r, 0, 50)?;
        }
        let ok = self.created_date.len() == 24
            && self.created_date.ends_with('Z')
            && self.created_date.parse::<jiff::Timestamp>().is_ok();
        if !ok {
            return Err(ZbpError::Payload(format!(
                "createdDate {} ist kein Zeitpunkt der Form 2026-12-04T08:00:00.000Z",
                self.created_date.chars().take(40).collect::<String>()
            )));
        }
        Ok(())
    }
}

/// The signed envelope: the submission's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The payload as a JSON string, signed byte for byte.
    pub content: String,
    /// RSASSA-PKCS1-v1_5 with SHA-512 over `content`, standard base64.
    pub sha512sum: String,
    pub author_token: String,
    /// PEM.
    pub author_certificate: String,
}

/// The town's BPKI key pair that signs what goes to BundID.
pub struct Author {
    key: PKey<Private>,
    cert: X509,
    cert_pem: String,
    signer: String,
}

impl std::fmt::Debug for Author {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Author")
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

fn common_name(cert: &X509) -> Option<String> {
    cert.subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
        .filter(|s| !s.trim().is_empty())
}

/// Is `now` (unix seconds) inside the certificate's validity?
fn in_validity(cert: &X509, now: i64) -> Result<(), String> {
    let at = openssl::asn1::Asn1Time::from_unix(now).map_err(|e| e.to_string())?;
    let before = cert.not_before().compare(&at).map_err(|e| e.to_string())?;
    let after = cert.not_after().compare(&at).map_err(|e| e.to_string())?;
    if before == std::cmp::Ordering::Greater {
        return Err(format!("Zertifikat gilt erst ab {}", cert.not_before()));
    }
    if after == std::cmp::Ordering::Less {
        return Err(format!("Zertifikat ist am {} abgelaufen", cert.not_after()));
    }
    Ok(())
}

impl Author {
    /// The key (PKCS#8 or PKCS#1 PEM) and its certificate (PEM, the first one counts):
    /// an RSA key of at least 2048 bits, matching the certificate, which names a
    /// common name and is valid at `now`.
    pub fn from_pem(key_pem: &str, cert_pem: &str, now: i64) -> Result<Author, ZbpError> {
        let key = PKey::private_key_from_pem(key_pem.as_bytes())
            .map_err(|_| author("der private Schlüssel ist kein PEM-Schlüssel"))?;
        let rsa = key
            .rsa()
            .map_err(|_| author("der Schlüssel ist kein RSA-Schlüssel"))?;
        if rsa.size() * 8 < 2048 {
            return Err(author("der Schlüssel hat weniger als 2048 Bit"));
        }
        let cert = X509::from_pem(cert_pem.as_bytes())
            .map_err(|_| author("das Zertifikat ist kein PEM-Zertifikat"))?;
        let public = cert
            .public_key()
            .map_err(|_| author("das Zertifikat enthält keinen lesbaren Schlüssel"))?;
        if !public.public_eq(&key) {
            return Err(author("Schlüssel und Zertifikat gehören nicht zusammen"));
        }
        let signer = common_name(&cert)
            .ok_or_else(|| author("das Zertifikat nennt keinen Common Name (CN)"))?;
        in_validity(&cert, now).map_err(author)?;
        let pem = cert.to_pem().map_err(author)?;
        Ok(Author {
            key,
            cert,
            cert_pem: String::from_utf8_lossy(&pem).into_owned(),
            signer,
        })
    }

    /// The certificate's common name (the token's `signer`).
    pub fn signer(&self) -> &str {
        &self.signer
    }

    /// The certificate's end of validity (for the administration).
    pub fn valid_until(&self) -> String {
        self.cert.not_after().to_string()
    }

    /// Is the certificate valid at `now`?
    pub fn check_valid(&self, now: i64) -> Result<(), ZbpError> {
        in_validity(&self.cert, now).map_err(author)
    }

    /// Sign `content` (a payload serialised once) into an envelope at `now`.
    pub fn seal(&self, content: &str, now: i64) -> Result<Envelope, ZbpError> {
        self.check_valid(now)?;
        let mut signer = Signer::new(MessageDigest::sha512(), &self.key).map_err(author)?;
        signer.update(content.as_bytes()).map_err(author)?;
        let signature = signer.sign_to_vec().map_err(author)?;
        let mut header = josekit::jws::JwsHeader::new();
        header.set_token_type("JWT");
        let claims = serde_json::json!({
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
            "signer": self.signer,
            "roles": [ROLE],
        });
        let body = serde_json::to_vec(&claims).map_err(author)?;
        let pem = self.key.private_key_to_pem_pkcs8().map_err(author)?;
        let jws = josekit::jws::RS512.signer_from_pem(&pem).map_err(author)?;
        let token = josekit::jws::serialize_compact(&body, &header, &jws).map_err(author)?;
        Ok(Envelope {
            content: content.to_owned(),
            sha512sum: STANDARD.encode(signature),
            author_token: token,
            author_certificate: self.cert_pem.clone(),
        })
    }
}

/// Serialise a payload once: the string that is signed and sent.
pub fn content_of<T: Serialize>(payload: &T) -> Result<String, ZbpError> {
    serde_json::to_string(payload).map_err(|e| ZbpError::Payload(e.to_string()))
}

/// What a verified envelope says about its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The certificate's common name.
    pub signer: String,
    pub issued_at: i64,
}

/// Verify an envelope as the bridge would (the fake bridge in the simulator and the
/// tests use it): the certificate is valid at `now` and, where `trusted` is given,
/// issued by it; the signature over `content` verifies with the certificate's key;
/// the token is an RS512 JWS by the same key, not expired, at most
/// [`TOKEN_LIFETIME`] long, for the certificate's common name and the third-party role.
pub fn verify(env: &Envelope, now: i64, trusted: Option<&X509>) -> Result<Verified, ZbpError> {
    let cert = X509::from_pem(env.author_certificate.as_bytes())
        .map_err(|_| envelope_err("authorCertificate ist kein PEM-Zertifikat"))?;
    in_validity(&cert, now).map_err(envelope_err)?;
    if let Some(ca) = trusted {
        let ca_key = ca.public_key().map_err(envelope_err)?;
        let issued = cert.verify(&ca_key).unwrap_or(false)
            && ca.subject_name().try_cmp(cert.issuer_name()).ok()
                == Some(std::cmp::Ordering::Equal);
        if !issued {
            return Err(envelope_err(
                "authorCertificate stammt nicht von der vertrauten BPKI",
            ));
        }
    }
    let public: PKey<Public> = cert
        .public_key()
        .map_err(|_| envelope_err("authorCertificate ohne lesbaren Schlüssel"))?;
    let signature = STANDARD
        .decode(env.sha512sum.trim())
        .map_err(|_| envelope_err("sha512sum ist kein Base64"))?;
    let mut verifier = Verifier::new(MessageDigest::sha512(), &public).map_err(envelope_err)?;
    verifier
        .update(env.content.as_bytes())
        .map_err(envelope_err)?;
    if !verifier.verify(&signature).unwrap_or(false) {
        return Err(envelope_err(
            "die Signatur (sha512sum) passt nicht zum Inhalt",
        ));
    }
    let pem = public.public_key_to_pem().map_err(envelope_err)?;
    let jws = josekit::jws::RS512
        .verifier_from_pem(&pem)
        .map_err(envelope_err)?;
    let (body, header) = josekit::jws::deserialize_compact(&env.author_token, &jws)
        .map_err(|_| envelope_err("authorToken ist nicht mit dem Zertifikatsschlüssel signiert"))?;
    if header.token_type() != Some("JWT") {
        return Err(envelope_err("authorToken: typ ist nicht JWT"));
    }
    let claims: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| envelope_err("authorToken unlesbar"))?;
    let number = |k: &str| claims.get(k).and_then(serde_json::Value::as_i64);
    let (Some(iat), Some(exp)) = (number("iat"), number("exp")) else {
        return Err(envelope_err("authorToken ohne iat oder exp"));
    };
    if exp <= now {
        return Err(envelope_err("authorToken ist abgelaufen"));
    }
    if iat > now + 60 || exp - iat > TOKEN_LIFETIME {
        return Err(envelope_err(
            "authorToken: Ausstellungszeit oder Laufzeit unzulässig",
        ));
    }
    let cn = common_name(&cert)
        .ok_or_else(|| envelope_err("authorCertificate nennt keinen Common Name"))?;
    if claims.get("signer").and_then(serde_json::Value::as_str) != Some(cn.as_str()) {
        return Err(envelope_err(
            "authorToken: signer ist nicht der Common Name des Zertifikats",
        ));
    }
    let third_party = claims
        .get("roles")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|r| r.iter().any(|v| v.as_str() == Some(ROLE)));
    if !third_party {
        return Err(envelope_err("authorToken ohne Rolle THIRD_PARTY"));
    }
    Ok(Verified {
        signer: cn,
        issued_at: iat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::TestPki;

    fn now() -> i64 {
        jiff::Timestamp::now().as_second()
    }

    fn message() -> Message {
        Message {
            mailbox_uuid: Uuid::from_u128(7),
            stork_qaa_level: 3,
            sender: "Gemeinde Musterstadt".into(),
            title: "Bescheid zu Ihrem Antrag".into(),
            content: "<p>Anbei Ihr Bescheid.</p>".into(),
            service: "Hundesteuer".into(),
            application_id: Some(Uuid::from_u128(9)),
            reference: Some("MS-HST-2026-0001".into()),
            attachments: vec![FileRef::of("bescheid.pdf", b"%PDF-1.7")],
        }
    }

    fn author_of(pki: &TestPki, cn: &str) -> Result<Author, Box<dyn std::error::Error>> {
        let (key, cert) = pki.issue_author(cn, 2048)?;
        Ok(Author::from_pem(&key, &cert, now())?)
    }

    #[test]
    fn an_envelope_verifies_and_every_tampering_is_refused()
    -> Result<(), Box<dyn std::error::Error>> {
        let pki = TestPki::new(2048)?;
        let author = author_of(&pki, "Gemeinde Musterstadt")?;
        let content = content_of(&message())?;
        let env = author.seal(&content, now())?;
        let v = verify(&env, now(), Some(&pki.root))?;
        assert_eq!(v.signer, "Gemeinde Musterstadt");
        // The content travels as a string: the signature is over exactly those bytes.
        let json: serde_json::Value = serde_json::to_value(&env)?;
        assert!(json["content"].is_string());
        assert_eq!(
            serde_json::from_str::<Message>(&env.content)?,
            message(),
            "payload round-trips"
        );

        let mut changed = env.clone();
        changed.content = changed.content.replace("Bescheid", "Beschied");
        assert!(
            matches!(verify(&changed, now(), None), Err(ZbpError::Envelope(m)) if m.contains("Signatur"))
        );

        let mut other_token = env.clone();
        let stranger = author_of(&pki, "Gemeinde Musterstadt")?;
        other_token.author_token = stranger.seal(&content, now())?.author_token;
        assert!(
            verify(&other_token, now(), None).is_err(),
            "token of another key"
        );

        // Expired after 30 minutes.
        assert!(verify(&env, now() + TOKEN_LIFETIME + 1, None).is_err());
        // A certificate from another PKI is not trusted.
        let other = TestPki::new(2048)?;
        assert!(verify(&env, now(), Some(&other.root)).is_err());
        Ok(())
    }

    #[test]
    fn the_signer_must_be_the_certificates_common_name() -> Result<(), Box<dyn std::error::Error>> {
        let pki = TestPki::new(2048)?;
        let a = author_of(&pki, "Gemeinde Musterstadt")?;
        let b = author_of(&pki, "Gemeinde Anderswo")?;
        let content = content_of(&message())?;
        // a's signature and certificate, b's token (b signs "Gemeinde Anderswo").
        let mut env = a.seal(&content, now())?;
        let foreign = b.seal(&content, now())?;
        env.author_token = foreign.author_token;
        assert!(verify(&env, now(), None).is_err());
        Ok(())
    }

    #[test]
    fn unusable_key_material_is_refused_in_german() -> Result<(), Box<dyn std::error::Error>> {
        let pki = TestPki::new(2048)?;
        let (key, cert) = pki.issue_author("Gemeinde Musterstadt", 2048)?;
        let (other_key, _) = pki.issue_author("Gemeinde Musterstadt", 2048)?;
        let e = Author::from_pem(&other_key, &cert, now())
            .map(|_| ())
            .unwrap_err();
        assert!(e.to_string().contains("gehören nicht zusammen"), "{e}");
        assert!(Author::from_pem("kein pem", &cert, now()).is_err());
        assert!(Author::from_pem(&key, "kein pem", now()).is_err());
        // Expired by then.
        let e = Author::from_pem(&key, &cert, now() + 900 * 86_400)
            .map(|_| ())
            .unwrap_err();
        assert!(e.to_string().contains("abgelaufen"), "{e}");
        Ok(())
    }

    #[test]
    fn field_limits_are_checked() {
        assert!(message().check().is_ok());
        let mut m = message();
        m.title = "x".repeat(1025);
        assert!(m.check().is_err());
        let mut m = message();
        m.stork_qaa_level = 5;
        assert!(m.check().is_err());
        let mut m = message();
        m.sender.clear();
        assert!(m.check().is_err());
        let mut m = message();
        m.attachments.push(m.attachments[0].clone());
        assert!(m.check().is_err(), "duplicate file name");

        let state = State {
            application_id: Uuid::from_u128(9),
            status: Status::Processing,
            public_service_name: German {
                de: "Hundesteuer".into(),
            },
            sender_name: "Gemeinde Musterstadt".into(),
            created_date: created_date(
                jiff::Timestamp::from_second(1_790_000_000).unwrap_or_default(),
            ),
            status_details: Some(German {
                de: "in Bearbeitung".into(),
            }),
            additional_information: None,
            reference: Some("MS-HST-2026-0001".into()),
        };
        assert!(state.check().is_ok(), "{:?}", state.check());
        assert_eq!(state.created_date.len(), 24);
        let json = serde_json::to_value(&state).unwrap_or_default();
        assert_eq!(json["status"], "PROCESSING");
        let mut s = state.clone();
        s.status_details = Some(German { de: "x".repeat(51) });
        assert!(s.check().is_err());
        let mut s = state;
        s.created_date = "gestern".into();
        assert!(s.check().is_err());
    }
}
