//! Problems of a `reject-submission` event (RFC 7807-like).
//!
//! FIT-Connect requires `type` and `instance` to be taken verbatim from its
//! documented list (docs.fitko.de, "Einreichung überprüfen"). That list was not in
//! the material available while this was written (see `shared/research/fitconnect.md`
//! §16); the identifiers below follow the documented naming scheme and must be
//! checked against the current documentation before going live. They live only here.

use serde::{Deserialize, Serialize};

const BASE: &str = "https://schema.fitko.de/fit-connect/events/problems/";

/// Why a submission is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// A part cannot be decrypted (wrong key, damaged JWE, wrong algorithm).
    EncryptionIssue,
    /// A part is not a syntactically valid JWE / JSON.
    SyntaxViolation,
    /// The JWE header lacks the content type (`cty`).
    MissingContentType,
    /// The metadata violate the metadata schema.
    SchemaViolation,
    /// The data or an attachment does not match the SHA-512 hash in the metadata.
    HashMismatch,
    /// The metadata announce an attachment that was not delivered, or the reverse.
    AttachmentsMismatch,
    /// The metadata announce data, but none was delivered.
    MissingData,
    /// Hash type or data schema not supported.
    UnsupportedSchema,
    /// The service's submit event names no authentication tags for this submission.
    MissingAuthenticationTag,
    /// A part's authentication tag differs from the one in the service's submit event
    /// (the part was exchanged on the way).
    IncorrectAuthenticationTag,
    /// The case's event log does not verify (signature, issuer or case).
    InvalidEventLog,
}

impl ProblemKind {
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::EncryptionIssue => "encryption-issue",
            ProblemKind::SyntaxViolation => "syntax-violation",
            ProblemKind::MissingContentType => "missing-content-type",
            ProblemKind::SchemaViolation => "schema-violation",
            ProblemKind::HashMismatch => "hash-mismatch",
            ProblemKind::AttachmentsMismatch => "attachments-mismatch",
            ProblemKind::MissingData => "missing-data",
            ProblemKind::UnsupportedSchema => "unsupported-schema",
            ProblemKind::MissingAuthenticationTag => "missing-authentication-tag",
            ProblemKind::IncorrectAuthenticationTag => "incorrect-authentication-tag",
            ProblemKind::InvalidEventLog => "invalid-event-log",
        }
    }

    pub fn type_uri(self) -> String {
        format!("{BASE}{}", self.slug())
    }

    /// German title, as the documentation gives them.
    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::EncryptionIssue => "Entschlüsselungs-Fehler",
            ProblemKind::SyntaxViolation => "Syntax-Fehler",
            ProblemKind::MissingContentType => "Fehlender Content-Type",
            ProblemKind::SchemaViolation => "Schema-Fehler",
            ProblemKind::HashMismatch => "Prüfsumme stimmt nicht",
            ProblemKind::AttachmentsMismatch => "Fehlerhafte Anlagen-Liste",
            ProblemKind::MissingData => "Fachdaten fehlen",
            ProblemKind::UnsupportedSchema => "Nicht unterstütztes Schema",
            ProblemKind::MissingAuthenticationTag => "Authentifizierungs-Tags fehlen",
            ProblemKind::IncorrectAuthenticationTag => "Authentifizierungs-Tag ungültig",
            ProblemKind::InvalidEventLog => "Ereignisprotokoll ungültig",
        }
    }
}

/// Which part of a submission a problem concerns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Part {
    Metadata,
    Data,
    Attachment(String),
}

impl Part {
    /// The `instance` value: `metadata`, `data` or `attachment:<id>`.
    pub fn instance(&self) -> String {
        match self {
            Part::Metadata => "metadata".into(),
            Part::Data => "data".into(),
            Part::Attachment(id) => format!("attachment:{id}"),
        }
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Part::Metadata => f.write_str("Metadaten"),
            Part::Data => f.write_str("Fachdaten"),
            Part::Attachment(id) => write!(f, "Anlage {id}"),
        }
    }
}

/// One problem as it goes into the reject SET.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub instance: String,
}

impl Problem {
    pub fn new(kind: ProblemKind, part: &Part, detail: impl Into<String>) -> Self {
        Problem {
            type_uri: kind.type_uri(),
            title: kind.title().to_owned(),
            detail: Some(detail.into()),
            instance: part.instance(),
        }
    }
}
