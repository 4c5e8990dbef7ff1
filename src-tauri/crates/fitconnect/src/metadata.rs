//! The Metadatensatz: validated against the official JSON schema (embedded from
//! `schemas/metadata.schema.v1.0.0.json`) before anything is read from it.
//!
//! The version is chosen by `$schema` (absent: 1.0.0). Metadata 2.x has no schema
//! file anywhere public; it is checked against 1.0.0 (whose objects admit further
//! fields) and, for the fields the 2.x senders are known to write, by the rules
//! reconstructed from public code in [`check_v2`] – `replyChannel.idBundDeMailbox`
//! (`mailboxUuid`, a UUID) and `replyChannel.fitConnect` (`encryptionPublicKey`, a
//! public JWK object). Other major versions are refused.

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
    #[error("Metadaten der Version {0} werden nicht unterstützt (bekannt: 1.x, 2.x).")]
    Version(String),
}

/// The metadata version named by `$schema` (absent: 1.0.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataVersion {
    V1,
    V2,
}

const SCHEMA_PREFIX: &str = "https://schema.fitko.de/fit-connect/metadata/";

fn version_of(value: &Value) -> Result<MetadataVersion, MetadataError> {
    let Some(uri) = value.get("$schema") else {
        return Ok(MetadataVersion::V1);
    };
    let uri = uri.as_str().unwrap_or_default();
    let version = uri
        .strip_prefix(SCHEMA_PREFIX)
        .and_then(|rest| rest.strip_suffix("/metadata.schema.json"))
        .ok_or_else(|| {
            MetadataError::Version(format!("„{}“", uri.chars().take(120).collect::<String>()))
        })?;
    match version.split('.').next() {
        Some("1") => Ok(MetadataVersion::V1),
        Some("2") => Ok(MetadataVersion::V2),
        _ => Err(MetadataError::Version(version.chars().take(40).collect())),
    }
}

/// The 2.x reply channels (reconstructed from public code, not from a schema): a
/// BundID mailbox is addressed by a UUID, a FIT-Connect reply by a public key object.
fn check_v2(value: &Value) -> Result<(), MetadataError> {
    let Some(channel) = value.get("replyChannel") else {
        return Ok(());
    };
    if let Some(m) = channel.get("idBundDeMailbox") {
        let ok = m
            .get("mailboxUuid")
            .and_then(Value::as_str)
            .is_some_and(|u| Uuid::parse_str(u).is_ok());
        if !ok {
            return Err(MetadataError::Schema(
                "replyChannel.idBundDeMailbox.mailboxUuid ist keine UUID (/replyChannel/idBundDeMailbox)".into(),
            ));
        }
    }
    if let Some(f) = channel.get("fitConnect") {
        let ok = f.is_object()
            && f.get("encryptionPublicKey")
                .is_none_or(|k| k.get("kty").and_then(Value::as_str).is_some());
        if !ok {
            return Err(MetadataError::Schema(
                "replyChannel.fitConnect.encryptionPublicKey ist kein öffentlicher Schlüssel (JWK) (/replyChannel/fitConnect)".into(),
            ));
        }
    }
    Ok(())
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
    if version_of(&value)? == MetadataVersion::V2 {
        check_v2(&value)?;
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

/// How the citizen asked to be answered (`replyChannel`; none: by post).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyChannel {
    EMail {
        address: String,
        /// ASCII-armoured OpenPGP key; without one no personal content goes by e-mail.
        pgp_public_key: Option<String>,
    },
    DeMail {
        address: String,
    },
    Fink {
        postfach_ref: String,
    },
    Elster {
        account_id: String,
    },
    /// BundID's central mailbox (ZBP), addressed by the citizen's Postkorb-Handle.
    BundIdPostfach {
        mailbox_uuid: Uuid,
    },
    /// A reply through FIT-Connect to the sending online service.
    FitConnect,
    /// A channel this version does not know (its name).
    Unbekannt {
        name: String,
    },
}

impl ReplyChannel {
    /// The channel's key as written in the metadata.
    pub fn key(&self) -> &str {
        match self {
            ReplyChannel::EMail { .. } => "eMail",
            ReplyChannel::DeMail { .. } => "deMail",
            ReplyChannel::Fink { .. } => "fink",
            ReplyChannel::Elster { .. } => "elster",
            ReplyChannel::BundIdPostfach { .. } => "idBundDeMailbox",
            ReplyChannel::FitConnect => "fitConnect",
            ReplyChannel::Unbekannt { name } => name,
        }
    }

    /// German name for the case view.
    pub fn label(&self) -> String {
        match self {
            ReplyChannel::EMail {
                address,
                pgp_public_key: Some(_),
            } => format!("E-Mail an {address}, verschlüsselt (PGP-Schlüssel liegt vor)"),
            ReplyChannel::EMail {
                address,
                pgp_public_key: None,
            } => format!("E-Mail an {address} – ohne Schlüssel: Inhalte nur per Post"),
            ReplyChannel::DeMail { address } => format!("De-Mail an {address}"),
            ReplyChannel::Fink { postfach_ref } => {
                format!("Servicekonto-Postfach (FINK) {postfach_ref}")
            }
            ReplyChannel::Elster { account_id } => format!("ELSTER-Konto {account_id}"),
            ReplyChannel::BundIdPostfach { .. } => "BundID-Postfach".to_owned(),
            ReplyChannel::FitConnect => "Antwort über FIT-Connect an den Onlinedienst".to_owned(),
            ReplyChannel::Unbekannt { name } => format!("unbekannter Antwortweg „{name}“"),
        }
    }
}

impl Metadata {
    /// The reply channel the citizen chose, if any (metadata 1.0.0 and 2.x).
    pub fn reply_channel(&self) -> Option<ReplyChannel> {
        reply_channel_of(self.reply_channel.as_ref()?)
    }
}

/// The reply channel of a `replyChannel` object (one property, the channel).
pub fn reply_channel_of(v: &Value) -> Option<ReplyChannel> {
    let (name, body) = v.as_object()?.iter().next()?;
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(match name.as_str() {
        "eMail" => ReplyChannel::EMail {
            address: text("address")?,
            pgp_public_key: text("pgpPublicKey"),
        },
        "deMail" => ReplyChannel::DeMail {
            address: text("address")?,
        },
        "fink" => ReplyChannel::Fink {
            postfach_ref: text("finkPostfachRef")?,
        },
        "elster" => ReplyChannel::Elster {
            account_id: text("accountId")?,
        },
        "idBundDeMailbox" => ReplyChannel::BundIdPostfach {
            mailbox_uuid: text("mailboxUuid").and_then(|u| Uuid::parse_str(&u).ok())?,
        },
        "fitConnect" => ReplyChannel::FitConnect,
        other => ReplyChannel::Unbekannt {
            name: other.chars().take(60).collect(),
        },
    })
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

    fn with(extra: &str) -> String {
        format!(
            r#"{{{extra}"contentStructure":{{"attachments":[{{"attachmentId":"8d3a4b1c-9a3e-4b63-9a57-6f0f8f5a2f11","hash":{{"type":"sha512","content":"{}"}},"purpose":"attachment","mimeType":"application/pdf"}}]}}}}"#,
            "a".repeat(128)
        )
    }

    /// 1.0.0 channels are read as typed channels; no channel means post.
    #[test]
    fn the_reply_channel_of_metadata_1_0_0() -> Result<(), MetadataError> {
        let (m, _) =
            parse(with(r#""replyChannel":{"eMail":{"address":"ayse@example.org"}},"#).as_bytes())?;
        assert_eq!(
            m.reply_channel(),
            Some(ReplyChannel::EMail {
                address: "ayse@example.org".into(),
                pgp_public_key: None
            })
        );
        let key = r"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF...\n-----END PGP PUBLIC KEY BLOCK-----";
        let (m, _) = parse(
            with(&format!(
                r#""replyChannel":{{"eMail":{{"address":"ayse@example.org","pgpPublicKey":"{key}"}}}},"#
            ))
            .as_bytes(),
        )?;
        let channel = m
            .reply_channel()
            .ok_or(MetadataError::Schema("kein Kanal".into()))?;
        assert!(
            channel.label().contains("verschlüsselt"),
            "{}",
            channel.label()
        );
        let (m, _) =
            parse(with(r#""replyChannel":{"elster":{"accountId":"1234567890"}},"#).as_bytes())?;
        assert_eq!(
            m.reply_channel().map(|c| c.key().to_owned()).as_deref(),
            Some("elster")
        );
        let (m, _) = parse(with("").as_bytes())?;
        assert_eq!(m.reply_channel(), None);
        // A key without the armour header is refused by the schema.
        assert!(
            parse(
                with(r#""replyChannel":{"eMail":{"address":"a@b.de","pgpPublicKey":"xyz"}},"#)
                    .as_bytes()
            )
            .is_err()
        );
        Ok(())
    }

    /// Metadata 2.x (samples written from the research's field list): the BundID
    /// mailbox and the FIT-Connect reply are read; a bad mailbox id, an unknown major
    /// version and a foreign `$schema` are refused; an unknown channel is shown as such.
    #[test]
    fn metadata_2_x_is_chosen_by_its_schema_and_its_channels_are_read() -> Result<(), MetadataError>
    {
        let v2 = r#""$schema":"https://schema.fitko.de/fit-connect/metadata/2.1.0/metadata.schema.json","#;
        let (m, _) = parse(
            with(&format!(
                r#"{v2}"replyChannel":{{"idBundDeMailbox":{{"mailboxUuid":"1b4e28ba-2fa1-41d2-883f-0016d3cca427"}}}},"additionalReferenceInfo":{{"idBundDeApplicationId":"6f1c2a4e-0000-4000-8000-000000000001"}},"#
            ))
            .as_bytes(),
        )?;
        assert_eq!(
            m.reply_channel(),
            Some(ReplyChannel::BundIdPostfach {
                mailbox_uuid: Uuid::from_u128(0x1b4e28ba_2fa1_41d2_883f_0016d3cca427)
            })
        );
        let (m, _) = parse(
            with(&format!(
                r#"{v2}"replyChannel":{{"fitConnect":{{"encryptionPublicKey":{{"kty":"RSA","n":"x","e":"AQAB"}},"processStandards":["urn:x"]}}}},"#
            ))
            .as_bytes(),
        )?;
        assert_eq!(m.reply_channel(), Some(ReplyChannel::FitConnect));
        let bad = with(&format!(
            r#"{v2}"replyChannel":{{"idBundDeMailbox":{{"mailboxUuid":"postfach-4711"}}}},"#
        ));
        assert!(
            matches!(parse(bad.as_bytes()), Err(MetadataError::Schema(e)) if e.contains("mailboxUuid"))
        );
        let v3 = with(
            r#""$schema":"https://schema.fitko.de/fit-connect/metadata/3.0.0/metadata.schema.json","#,
        );
        assert_eq!(
            parse(v3.as_bytes()).err(),
            Some(MetadataError::Version("3.0.0".into()))
        );
        let foreign = with(r#""$schema":"https://evil.example/metadata.schema.json","#);
        assert!(matches!(
            parse(foreign.as_bytes()),
            Err(MetadataError::Version(_))
        ));
        let (m, _) = parse(
            with(&format!(
                r#"{v2}"replyChannel":{{"brieftaube":{{"schlag":"Rathausdach"}}}},"#
            ))
            .as_bytes(),
        )?;
        let unknown = m
            .reply_channel()
            .ok_or(MetadataError::Schema("kein Kanal".into()))?;
        assert_eq!(unknown.label(), "unbekannter Antwortweg „brieftaube“");
        Ok(())
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
