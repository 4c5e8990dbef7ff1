//! A fake of FITKO's ZBP bridge ("Brückenkopflösung"): a destination that takes
//! BundID mailbox messages and application status updates as FIT-Connect
//! submissions, checks everything the public code shows the real one expects, and
//! files what holds up in a "Postkorb" per citizen (`/citizen/postkorb`).
//!
//! Checked on every submission: the service (`message_v6` / `status_v6`), the
//! metadata (`$schema` 2.x, the ZBP schema URI, hashes – through
//! [`fitconnect::submission::open`]), the envelope (signature over `content`, the
//! author token's key, `iat`/`exp`, `signer` = the certificate's CN, role
//! `THIRD_PARTY`, the certificate issued by the simulated BPKI), the payload's fields
//! and limits, and for messages that every file named matches an attachment by name,
//! SHA-512 and length. What holds up is accepted (`accept-submission`, signed by the
//! bridge), anything else rejected with the reason – as the real bridge answers
//! only through the event log. Everything here is reconstructed from public code;
//! see [`fitconnect::zbp`].

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fitconnect::keys::{KeyPair, KeyUse, PublicJwk, TestPki};
use fitconnect::set::AuthenticationTags;
use fitconnect::submission::{EncryptedSubmission, Rejection};
use fitconnect::zbp;
use fitconnect::{Part, ProblemKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::state::StateError;

const FILE: &str = "zbp-bruecke.json";
const POSTKORB: &str = "postkorb.json";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Key {
    public: PublicJwk,
    private_pem: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BridgeFile {
    destination_id: Uuid,
    encryption: Key,
    signature: Key,
    /// The simulated BPKI: its root, and the key pair it issued to the town.
    bpki_root_pem: String,
    author_key_pem: String,
    author_cert_pem: String,
}

/// The bridge destination and the simulated BPKI.
pub struct Bridge {
    pub destination_id: Uuid,
    pub enc: KeyPair,
    pub sig: KeyPair,
    pub bpki_root_pem: String,
    /// The town's BPKI key pair (handed to the workstation for demos and tests).
    pub author_key_pem: String,
    pub author_cert_pem: String,
}

/// The town's name in the simulated BPKI certificate.
pub const AUTHOR_CN: &str = "Gemeinde Musterstadt – Bürgerbüro";

fn key_err(e: impl std::fmt::Display) -> StateError {
    StateError::Key(e.to_string())
}

impl Bridge {
    /// Open the bridge of a state directory, creating its keys on first use.
    pub fn open(dir: &Path, key_bits: u32) -> Result<Bridge, StateError> {
        let path = dir.join(FILE);
        if !path.exists() {
            let pki = TestPki::new(key_bits).map_err(key_err)?;
            let issue = |kid: &str, usage| -> Result<Key, StateError> {
                let k = pki.issue(kid, usage, key_bits).map_err(key_err)?;
                let pem = k.private_pem().map_err(key_err)?;
                Ok(Key {
                    public: k.public.clone(),
                    private_pem: String::from_utf8_lossy(&pem).into_owned(),
                })
            };
            let (author_key_pem, author_cert_pem) =
                pki.issue_author(AUTHOR_CN, 2048).map_err(key_err)?;
            let file = BridgeFile {
                destination_id: Uuid::new_v4(),
                encryption: issue("zbp-bruecke-verschluesselung-1", KeyUse::Encryption)?,
                signature: issue("zbp-bruecke-signatur-1", KeyUse::Signature)?,
                bpki_root_pem: pki.root_pem().map_err(key_err)?,
                author_key_pem,
                author_cert_pem,
            };
            let json = serde_json::to_vec_pretty(&file)
                .map_err(|e| StateError::Corrupt(path.clone(), e.to_string()))?;
            crate::state::write_atomic(&path, &json)?;
        }
        let bytes = std::fs::read(&path).map_err(|e| StateError::Io(path.clone(), e))?;
        let file: BridgeFile = serde_json::from_slice(&bytes)
            .map_err(|e| StateError::Corrupt(path.clone(), e.to_string()))?;
        let pair = |k: &Key| {
            KeyPair::from_pem(k.public.clone(), k.private_pem.as_bytes()).map_err(key_err)
        };
        Ok(Bridge {
            destination_id: file.destination_id,
            enc: pair(&file.encryption)?,
            sig: pair(&file.signature)?,
            bpki_root_pem: file.bpki_root_pem,
            author_key_pem: file.author_key_pem,
            author_cert_pem: file.author_cert_pem,
        })
    }
}

/// A file as the citizen finds it in the mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostkorbFile {
    pub filename: String,
    pub sha512: String,
    pub length: u64,
    /// The file itself (base64): the citizen's side of the simulation.
    pub content: String,
}

/// What reached a citizen's BundID mailbox or Statusmonitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostkorbEntry {
    pub submission_id: Uuid,
    pub received_at: String,
    /// "nachricht" or "status".
    pub art: String,
    /// The certificate's common name the envelope was signed under.
    pub signer: String,
    pub mailbox_uuid: Option<Uuid>,
    pub application_id: Option<Uuid>,
    pub title: Option<String>,
    /// The status (`PROCESSING`, …) of a status update.
    pub status: Option<String>,
    pub reference: Option<String>,
    pub sender: String,
    pub files: Vec<PostkorbFile>,
}

/// The mailbox entries of a state directory.
/// What the Statusmonitor showed for one application, in order: (status, title).
pub fn statuses(inbox: &[PostkorbEntry], application: Uuid) -> Vec<(String, String)> {
    inbox
        .iter()
        .filter(|e| e.art == "status" && e.application_id == Some(application))
        .map(|e| {
            (
                e.status.clone().unwrap_or_default(),
                e.title.clone().unwrap_or_default(),
            )
        })
        .collect()
}

pub fn postkorb(dir: &Path) -> Vec<PostkorbEntry> {
    std::fs::read(dir.join(POSTKORB))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

pub(crate) fn file_entry(dir: &Path, entry: PostkorbEntry) -> Result<(), StateError> {
    let mut all = postkorb(dir);
    all.push(entry);
    let path = dir.join(POSTKORB);
    let json = serde_json::to_vec_pretty(&all)
        .map_err(|e| StateError::Corrupt(path.clone(), e.to_string()))?;
    crate::state::write_atomic(&path, &json)
}

fn refuse(kind: ProblemKind, part: &Part, detail: impl Into<String>) -> Rejection {
    Rejection::one(kind, part, detail)
}

/// Check a submission to the bridge as the bridge would; what holds up becomes a
/// mailbox entry.
pub fn check(
    bridge: &Bridge,
    sub: &EncryptedSubmission,
    service: &str,
    now: i64,
) -> Result<(PostkorbEntry, AuthenticationTags), Rejection> {
    let kind = match service {
        zbp::MESSAGE_SERVICE => "nachricht",
        zbp::STATUS_SERVICE => "status",
        other => {
            return Err(refuse(
                ProblemKind::UnsupportedSchema,
                &Part::Metadata,
                format!("Leistung {other} wird vom ZBP-Brückendienst nicht angeboten"),
            ));
        }
    };
    let opened = fitconnect::submission::open(sub, &bridge.enc)?;
    let version = opened
        .metadata_json
        .get("$schema")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    if !version.starts_with("https://schema.fitko.de/fit-connect/metadata/2.") {
        return Err(refuse(
            ProblemKind::UnsupportedSchema,
            &Part::Metadata,
            "Metadaten der Version 2.x erwartet ($schema)",
        ));
    }
    let schema_ok = opened
        .metadata
        .content_structure
        .data
        .as_ref()
        .is_some_and(|d| d.submission_schema.schema_uri == zbp::SCHEMA_URI);
    let Some((data, _)) = &opened.data else {
        return Err(refuse(
            ProblemKind::MissingData,
            &Part::Data,
            "Umschlag fehlt",
        ));
    };
    if !schema_ok {
        return Err(refuse(
            ProblemKind::UnsupportedSchema,
            &Part::Data,
            format!("Fachdatenschema {} erwartet", zbp::SCHEMA_URI),
        ));
    }
    let schema = |e: String| refuse(ProblemKind::SchemaViolation, &Part::Data, e);
    let envelope: zbp::Envelope =
        serde_json::from_slice(data).map_err(|e| schema(format!("Umschlag unlesbar: {e}")))?;
    let root = openssl::x509::X509::from_pem(bridge.bpki_root_pem.as_bytes())
        .map_err(|e| schema(e.to_string()))?;
    let verified = zbp::verify(&envelope, now, Some(&root)).map_err(|e| schema(e.to_string()))?;
    let received_at = jiff::Timestamp::from_second(now)
        .map(|t| t.to_string())
        .unwrap_or_default();
    if kind == "status" {
        let state: zbp::State = serde_json::from_str(&envelope.content)
            .map_err(|e| schema(format!("Statusmeldung unlesbar: {e}")))?;
        state.check().map_err(|e| schema(e.to_string()))?;
        if !opened.attachments.is_empty() {
            return Err(refuse(
                ProblemKind::AttachmentsMismatch,
                &Part::Metadata,
                "Statusmeldungen haben keine Anlagen",
            ));
        }
        return Ok((
            PostkorbEntry {
                submission_id: sub.submission_id,
                received_at,
                art: kind.into(),
                signer: verified.signer,
                mailbox_uuid: None,
                application_id: Some(state.application_id),
                title: state.status_details.map(|d| d.de),
                status: serde_json::to_value(state.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned)),
                reference: state.reference,
                sender: state.sender_name,
                files: Vec::new(),
            },
            opened.tags,
        ));
    }
    let message: zbp::Message = serde_json::from_str(&envelope.content)
        .map_err(|e| schema(format!("Nachricht unlesbar: {e}")))?;
    message.check().map_err(|e| schema(e.to_string()))?;
    if message.attachments.len() != opened.attachments.len() {
        return Err(refuse(
            ProblemKind::AttachmentsMismatch,
            &Part::Metadata,
            "Die Nachricht nennt andere Dateien, als angehängt sind",
        ));
    }
    let mut files = Vec::new();
    for named in &message.attachments {
        let found = opened
            .attachments
            .iter()
            .find(|(meta, _)| meta.filename.as_deref() == Some(named.filename.as_str()));
        let Some((_, bytes)) = found else {
            return Err(refuse(
                ProblemKind::AttachmentsMismatch,
                &Part::Metadata,
                format!("Datei {} fehlt", named.filename),
            ));
        };
        let sha = fitconnect::submission::sha512_hex(bytes);
        if !sha.eq_ignore_ascii_case(&named.sha512sum) || bytes.len() as u64 != named.content_length
        {
            return Err(refuse(
                ProblemKind::HashMismatch,
                &Part::Metadata,
                format!("Prüfsumme oder Länge von {} stimmt nicht", named.filename),
            ));
        }
        files.push(PostkorbFile {
            filename: named.filename.clone(),
            sha512: sha,
            length: bytes.len() as u64,
            content: STANDARD.encode(bytes),
        });
    }
    Ok((
        PostkorbEntry {
            submission_id: sub.submission_id,
            received_at,
            art: kind.into(),
            signer: verified.signer,
            mailbox_uuid: Some(message.mailbox_uuid),
            application_id: message.application_id,
            title: Some(message.title),
            status: None,
            reference: message.reference,
            sender: message.sender,
            files,
        },
        opened.tags,
    ))
}
