//! Opening a fetched submission: decrypt every part, validate the metadata, check the
//! SHA-512 hash of the data and of every attachment, and collect the authentication
//! tags for the accept event. Any failure becomes a [`Rejection`] whose problems go
//! straight into the reject event.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha512};
use uuid::Uuid;

use crate::jwe;
use crate::keys::KeyPair;
use crate::metadata::{self, AttachmentMeta, Hash, Metadata, MetadataError};
use crate::problem::{Part, Problem, ProblemKind};
use crate::set::AuthenticationTags;

/// A submission as fetched: every part still a compact JWE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedSubmission {
    pub submission_id: Uuid,
    pub case_id: Uuid,
    pub encrypted_metadata: String,
    pub encrypted_data: Option<String>,
    pub attachments: BTreeMap<Uuid, String>,
}

/// A decrypted and fully verified submission. Holds personal data: its `Debug`
/// shows sizes and content types only, so a debug log of a sync state that holds
/// one prints nothing of the application.
#[derive(Clone, PartialEq)]
pub struct OpenedSubmission {
    pub metadata: Metadata,
    pub metadata_json: serde_json::Value,
    pub data: Option<(Vec<u8>, String)>,
    pub attachments: Vec<(AttachmentMeta, Vec<u8>)>,
    pub tags: AuthenticationTags,
}

impl std::fmt::Debug for OpenedSubmission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedSubmission")
            .field(
                "data",
                &self
                    .data
                    .as_ref()
                    .map(|(d, cty)| format!("{} Bytes {cty}", d.len())),
            )
            .field(
                "attachments",
                &self
                    .attachments
                    .iter()
                    .map(|(_, b)| b.len())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Why a submission must be rejected; `problems` go into the reject SET.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Einreichung fehlerhaft: {}", .problems.iter().map(|p| p.detail.clone().unwrap_or_else(|| p.title.clone())).collect::<Vec<_>>().join("; "))]
pub struct Rejection {
    pub problems: Vec<Problem>,
}

impl Rejection {
    pub fn one(kind: ProblemKind, part: &Part, detail: impl Into<String>) -> Self {
        Rejection {
            problems: vec![Problem::new(kind, part, detail)],
        }
    }

    /// Does any problem have this kind?
    pub fn has(&self, kind: ProblemKind) -> bool {
        self.problems.iter().any(|p| p.type_uri == kind.type_uri())
    }
}

fn check_hash(expected: &Hash, bytes: &[u8], part: &Part) -> Option<Problem> {
    if expected.kind != "sha512" {
        return Some(Problem::new(
            ProblemKind::UnsupportedSchema,
            part,
            format!("Hash-Verfahren {} wird nicht unterstützt", expected.kind),
        ));
    }
    let actual = hex::encode(Sha512::digest(bytes));
    (!actual.eq_ignore_ascii_case(&expected.content)).then(|| {
        Problem::new(
            ProblemKind::HashMismatch,
            part,
            format!("{part}: SHA-512 stimmt nicht mit den Metadaten überein"),
        )
    })
}

fn tag(jwe: &str) -> String {
    // Called after the part decrypted, so it has its five segments and a tag.
    jwe::authentication_tag(jwe).unwrap_or_default().to_owned()
}

/// Decrypt and verify a submission with the destination's private key.
pub fn open(sub: &EncryptedSubmission, key: &KeyPair) -> Result<OpenedSubmission, Rejection> {
    let (raw_meta, _) = jwe::decrypt(
        &sub.encrypted_metadata,
        key,
        &Part::Metadata,
        Some("application/json"),
    )
    .map_err(|e| Rejection {
        problems: vec![e.problem()],
    })?;
    let (metadata, metadata_json) = metadata::parse(&raw_meta).map_err(|e| match e {
        MetadataError::Syntax(d) => {
            Rejection::one(ProblemKind::SyntaxViolation, &Part::Metadata, d)
        }
        MetadataError::Schema(d) => {
            Rejection::one(ProblemKind::SchemaViolation, &Part::Metadata, d)
        }
        e @ MetadataError::Version(_) => Rejection::one(
            ProblemKind::UnsupportedSchema,
            &Part::Metadata,
            e.to_string(),
        ),
    })?;

    let mut problems = Vec::new();
    let data = match (&metadata.content_structure.data, &sub.encrypted_data) {
        (Some(described), Some(enc)) => {
            let expected = &described.submission_schema.mime_type;
            match jwe::decrypt(enc, key, &Part::Data, Some(expected)) {
                Ok((bytes, cty)) => {
                    problems.extend(check_hash(&described.hash, &bytes, &Part::Data));
                    Some((bytes, cty))
                }
                Err(e) => {
                    problems.push(e.problem());
                    None
                }
            }
        }
        (Some(_), None) => {
            problems.push(Problem::new(
                ProblemKind::MissingData,
                &Part::Data,
                "Die Metadaten beschreiben Fachdaten, die Einreichung enthält keine",
            ));
            None
        }
        (None, Some(_)) => {
            problems.push(Problem::new(
                ProblemKind::SchemaViolation,
                &Part::Data,
                "Die Einreichung enthält Fachdaten, die die Metadaten nicht beschreiben",
            ));
            None
        }
        (None, None) => None,
    };

    let announced: BTreeSet<Uuid> = metadata
        .content_structure
        .attachments
        .iter()
        .map(|a| a.attachment_id)
        .collect();
    let delivered: BTreeSet<Uuid> = sub.attachments.keys().copied().collect();
    for missing in announced.difference(&delivered) {
        problems.push(Problem::new(
            ProblemKind::AttachmentsMismatch,
            &Part::Attachment(missing.to_string()),
            "In den Metadaten genannte Anlage fehlt",
        ));
    }
    for extra in delivered.difference(&announced) {
        problems.push(Problem::new(
            ProblemKind::AttachmentsMismatch,
            &Part::Attachment(extra.to_string()),
            "Anlage ist in den Metadaten nicht genannt",
        ));
    }

    let mut attachments = Vec::new();
    let mut tags = AuthenticationTags {
        metadata: tag(&sub.encrypted_metadata),
        data: sub.encrypted_data.as_deref().map(tag),
        attachments: BTreeMap::new(),
    };
    for meta in &metadata.content_structure.attachments {
        let Some(enc) = sub.attachments.get(&meta.attachment_id) else {
            continue;
        };
        let part = Part::Attachment(meta.attachment_id.to_string());
        match jwe::decrypt(enc, key, &part, None) {
            Ok((bytes, _cty)) => {
                if let Some(p) = check_hash(&meta.hash, &bytes, &part) {
                    problems.push(p);
                }
                tags.attachments
                    .insert(meta.attachment_id.to_string(), tag(enc));
                attachments.push((meta.clone(), bytes));
            }
            Err(e) => problems.push(e.problem()),
        }
    }

    if problems.is_empty() {
        Ok(OpenedSubmission {
            metadata,
            metadata_json,
            data,
            attachments,
            tags,
        })
    } else {
        Err(Rejection { problems })
    }
}

/// SHA-512 as lower-case hex, for building metadata.
pub fn sha512_hex(bytes: &[u8]) -> String {
    hex::encode(Sha512::digest(bytes))
}

/// An attachment to seal into a submission.
#[derive(Debug, Clone)]
pub struct PlainAttachment {
    pub id: Uuid,
    pub bytes: Vec<u8>,
    pub mime_type: String,
    pub purpose: String,
    pub filename: Option<String>,
}

/// Sender side: build metadata (with SHA-512 hashes) and encrypt every part to the
/// destination key. `extra` may add fields to the metadata (service, reply channel,
/// payment information) before it is validated and encrypted.
pub fn seal(
    submission_id: Uuid,
    case_id: Uuid,
    destination_key: &crate::keys::PublicJwk,
    data: Option<(&[u8], &str, &str)>,
    attachments: &[PlainAttachment],
    extra: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> Result<EncryptedSubmission, crate::KeyError> {
    use serde_json::{Value, json};
    let mut content = serde_json::Map::new();
    if let Some((bytes, mime, schema_uri)) = data {
        content.insert(
            "data".into(),
            json!({
                "hash": { "type": "sha512", "content": sha512_hex(bytes) },
                "submissionSchema": { "schemaUri": schema_uri, "mimeType": mime },
            }),
        );
    }
    let list: Vec<Value> = attachments
        .iter()
        .map(|a| {
            let mut m = json!({
                "attachmentId": a.id.to_string(),
                "hash": { "type": "sha512", "content": sha512_hex(&a.bytes) },
                "purpose": a.purpose,
                "mimeType": a.mime_type,
            });
            if let (Some(name), Some(obj)) = (&a.filename, m.as_object_mut()) {
                obj.insert("filename".into(), Value::String(name.clone()));
            }
            m
        })
        .collect();
    content.insert("attachments".into(), Value::Array(list));
    let mut meta = serde_json::Map::new();
    meta.insert("contentStructure".into(), Value::Object(content));
    extra(&mut meta);
    let meta_bytes = serde_json::to_vec(&Value::Object(meta))
        .map_err(|e| crate::KeyError::Invalid(e.to_string()))?;
    let encrypted_metadata = jwe::encrypt(&meta_bytes, "application/json", destination_key)?;
    let encrypted_data = match data {
        Some((bytes, mime, _)) => Some(jwe::encrypt(bytes, mime, destination_key)?),
        None => None,
    };
    let mut enc_attachments = BTreeMap::new();
    for a in attachments {
        enc_attachments.insert(a.id, jwe::encrypt(&a.bytes, &a.mime_type, destination_key)?);
    }
    Ok(EncryptedSubmission {
        submission_id,
        case_id,
        encrypted_metadata,
        encrypted_data,
        attachments: enc_attachments,
    })
}

/// Compare the tags of what was fetched with the tags the service recorded in its
/// `submit-submission` event (`submitted`). Any difference means a part was exchanged
/// between submission and pickup.
pub fn check_tags(
    fetched: &AuthenticationTags,
    submitted: Option<&AuthenticationTags>,
) -> Result<(), Rejection> {
    let Some(expected) = submitted else {
        return Err(Rejection::one(
            ProblemKind::MissingAuthenticationTag,
            &Part::Metadata,
            "Das Ereignisprotokoll enthält keine Authentifizierungs-Tags zu dieser Einreichung",
        ));
    };
    let mut problems = Vec::new();
    if expected.metadata != fetched.metadata {
        problems.push(Problem::new(
            ProblemKind::IncorrectAuthenticationTag,
            &Part::Metadata,
            "Metadaten weichen vom eingereichten Stand ab",
        ));
    }
    if expected.data != fetched.data {
        problems.push(Problem::new(
            ProblemKind::IncorrectAuthenticationTag,
            &Part::Data,
            "Fachdaten weichen vom eingereichten Stand ab",
        ));
    }
    for (id, tag) in &fetched.attachments {
        if expected.attachments.get(id) != Some(tag) {
            problems.push(Problem::new(
                ProblemKind::IncorrectAuthenticationTag,
                &Part::Attachment(id.clone()),
                "Anlage weicht vom eingereichten Stand ab",
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Rejection { problems })
    }
}
