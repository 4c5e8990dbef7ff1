//! Vocabularies of a case's record shared by store, facade and UI: how an
//! application came in and what kind of document a case holds.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// How the application came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Channel {
    Online,
    Papier,
}

impl Channel {
    pub fn label(self) -> &'static str {
        match self {
            Channel::Online => "online",
            Channel::Papier => "Papier",
        }
    }
}

/// What a document of a case is (`case_documents.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum DocumentKind {
    /// The FIT-Connect metadata of a submission.
    Metadata,
    /// The application data (JSON) of a submission.
    Data,
    /// An attachment the citizen sent.
    Attachment,
    /// A scan product or its Transfervermerk (paper channel).
    Scan,
    /// A letter the town sent.
    Letter,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 5] = [
        DocumentKind::Metadata,
        DocumentKind::Data,
        DocumentKind::Attachment,
        DocumentKind::Scan,
        DocumentKind::Letter,
    ];

    /// Identifier as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Metadata => "metadata",
            DocumentKind::Data => "data",
            DocumentKind::Attachment => "attachment",
            DocumentKind::Scan => "scan",
            DocumentKind::Letter => "letter",
        }
    }

    pub fn parse(s: &str) -> Option<DocumentKind> {
        DocumentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialise_as_stored() {
        for k in DocumentKind::ALL {
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
            assert_eq!(DocumentKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(
            serde_json::to_string(&Channel::Papier).unwrap(),
            "\"papier\""
        );
    }
}
