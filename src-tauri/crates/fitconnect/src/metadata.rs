//! The Metadatensatz: validated against the official JSON schema (embedded from
//! `schemas/metadata.schema.v1.0.0.json`) before anything is read from it.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

static SCHEMA_TEXT: &str = include_str!("../schemas/metadata.schema.v1.0.0.json");

static VALIDATOR: LazyLock<Result<jsonschema::Validator, String>> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(SCHEMA_TEXT).map_err(|e| e.to_string())?;
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| e.to_string())
});

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("Metadaten sind kein JSON: {0}")]
    Syntax(String),
    #[error("Metadaten verletzen das Schema: {0}")]
    Schema(String),
}

/// Validate raw metadata JSON against the schema and read the typed view.
pub fn parse(raw: &[u8]) -> Result<(Metadata, Value), MetadataError> {
    let value: Value =
        serde_json::from_slice(raw).map_err(|e| MetadataError::Syntax(e.to_string()))?;
    let validator = VALIDATOR
        .as_ref()
        .map_err(|e| MetadataError::Schema(format!("Schema nicht ladbar: {e}")))?;
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .take(5)
        .map(|e| format!("{} ({})", e, e.instance_path()))
        .collect();
    if !errors.is_empty() {
        return Err(MetadataError::Schema(errors.join("; ")));
    }
    let typed: Metadata =
        serde_json::from_value(value.clone()).map_err(|e| MetadataError::Schema(e.to_string()))?;
    Ok((typed, value))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub content_structure: ContentStructure,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_service_type: Option<PublicServiceType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_channel: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_information: Option<PaymentInformation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_reference_info: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_information: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentStructure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataPart>,
    pub attachments: Vec<AttachmentMeta>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataPart {
    pub hash: Hash,
    pub submission_schema: SubmissionSchema,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmissionSchema {
    pub schema_uri: String,
    pub mime_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hash {
    #[serde(rename = "type")]
    pub kind: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentMeta {
    pub attachment_id: Uuid,
    pub hash: Hash,
    pub purpose: String,
    pub mime_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicServiceType {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub identifier: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentInformation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_url: Option<String>,
    pub transaction_id: String,
    pub transaction_reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_timestamp: Option<String>,
    pub payment_method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method_detail: Option<String>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gross_amount: Option<serde_json::Number>,
}

impl PaymentInformation {
    /// The amount in euro cents, read from the decimal text (never through a float).
    pub fn gross_amount_cents(&self) -> Option<i64> {
        let text = self.gross_amount.as_ref()?.to_string();
        let (euros, cents) = match text.split_once('.') {
            Some((e, c)) if c.len() <= 2 => (e, format!("{c:0<2}")),
            Some(_) => return None,
            None => (text.as_str(), "00".to_owned()),
        };
        let euros: i64 = euros.parse().ok()?;
        let cents: i64 = cents.parse().ok()?;
        euros.checked_mul(100)?.checked_add(cents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_exactly() {
        let p = |amount: &str| PaymentInformation {
            transaction_url: None,
            transaction_id: "t".into(),
            transaction_reference: "r".into(),
            transaction_timestamp: None,
            payment_method: "INVOICE".into(),
            payment_method_detail: None,
            status: "BOOKED".into(),
            gross_amount: serde_json::from_str(amount).ok(),
        };
        assert_eq!(p("12.5").gross_amount_cents(), Some(1250));
        assert_eq!(p("0.01").gross_amount_cents(), Some(1));
        assert_eq!(p("30").gross_amount_cents(), Some(3000));
        assert_eq!(p("1234.56").gross_amount_cents(), Some(123_456));
        assert_eq!(p("1.234").gross_amount_cents(), None);
    }

    #[test]
    fn schema_rejects_missing_content_structure_and_bad_hash() {
        assert!(matches!(parse(b"{}"), Err(MetadataError::Schema(_))));
        assert!(matches!(parse(b"not json"), Err(MetadataError::Syntax(_))));
        let bad_hash = br#"{"contentStructure":{"attachments":[{"attachmentId":"8d3a4b1c-9a3e-4b63-9a57-6f0f8f5a2f11","hash":{"type":"sha512","content":"xyz"},"purpose":"attachment","mimeType":"application/pdf"}]}}"#;
        assert!(matches!(parse(bad_hash), Err(MetadataError::Schema(_))));
    }

    #[test]
    fn minimal_valid_metadata_parses() -> Result<(), MetadataError> {
        let ok = format!(
            r#"{{"contentStructure":{{"attachments":[{{"attachmentId":"8d3a4b1c-9a3e-4b63-9a57-6f0f8f5a2f11","hash":{{"type":"sha512","content":"{}"}},"purpose":"attachment","mimeType":"application/pdf"}}]}}}}"#,
            "a".repeat(128)
        );
        let (m, _) = parse(ok.as_bytes())?;
        assert_eq!(m.content_structure.attachments.len(), 1);
        Ok(())
    }
}
