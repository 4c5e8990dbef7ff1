use crate::problem::{Part, Problem, ProblemKind};

/// Problems with keys (publishing, importing, trusting).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("Ungültiger Schlüssel: {0}")]
    Invalid(String),
    #[error("Die Zertifikatskette des Schlüssels {0} führt zu keiner vertrauenswürdigen Wurzel.")]
    Untrusted(String),
}

/// A JWE that cannot be opened, with the part it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JweError {
    #[error("{part}: keine gültige JWE-Kompaktdarstellung ({detail})")]
    Syntax { part: Part, detail: String },
    #[error("{part}: nicht unterstützter Algorithmus {found} (erwartet {expected})")]
    Algorithm {
        part: Part,
        found: String,
        expected: &'static str,
    },
    #[error("{part}: der JWE-Kopf nennt keinen Inhaltstyp (cty)")]
    MissingContentType { part: Part },
    #[error("{part}: Inhaltstyp {found} statt {expected}")]
    WrongContentType {
        part: Part,
        found: String,
        expected: String,
    },
    #[error("{part}: Entschlüsselung fehlgeschlagen – falscher Schlüssel oder beschädigte Daten")]
    Decryption { part: Part },
    #[error(
        "{part}: komprimierter Inhalt (zip) ist nach den FIT-Connect-Regeln nicht erlaubt und wird nicht entpackt"
    )]
    Compressed { part: Part },
}

impl JweError {
    pub fn problem(&self) -> Problem {
        match self {
            JweError::Syntax { part, detail } => {
                Problem::new(ProblemKind::SyntaxViolation, part, detail.clone())
            }
            JweError::Algorithm { part, .. }
            | JweError::Decryption { part }
            | JweError::Compressed { part } => {
                Problem::new(ProblemKind::EncryptionIssue, part, self.to_string())
            }
            JweError::MissingContentType { part } | JweError::WrongContentType { part, .. } => {
                Problem::new(ProblemKind::MissingContentType, part, self.to_string())
            }
        }
    }
}
