//! Answers to a citizen's BundID mailbox (ZBP) and status updates for the BundID
//! Statusmonitor, through FIT-Connect's bridge: the administration's settings (the
//! bridge destination and the town's BPKI key pair, kept only in the encrypted
//! store), the message a letter queues and the status a case's move queues.
//! `sync::bundid` sends them; `fitconnect::zbp` says what is reconstructed from
//! public code rather than from a published schema.

use crate::{AppError, Workstation};
use domain::Permission;
use domain::lifecycle::CaseState;
use fitconnect::zbp;
use serde::{Deserialize, Serialize};
use store::{CaseRecord, Session};
use ts_rs::TS;
use uuid::Uuid;

pub(crate) const SETTING: &str = "bundid_bruecke";

fn invalid(msg: impl Into<String>) -> AppError {
    AppError::invalid(msg.into())
}

/// What is kept (inside the encrypted store only).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Stored {
    bridge: Uuid,
    key_pem: String,
    cert_pem: String,
    /// Trust level of the citizens' logins the town states (1–4).
    level: u8,
}

/// The settings as the administration enters them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BundIdSettings {
    /// Zustellpunkt-ID of the ZBP bridge (from FITKO).
    pub bridge_destination_id: String,
    /// The town's BPKI private key (PEM).
    pub key_pem: String,
    /// Its certificate (PEM).
    pub cert_pem: String,
    /// Trust level of the citizens' logins (STORK-QAA 1–4); none: 3 (substantiell).
    pub level: Option<u8>,
}

/// The stored settings as the administration sees them (no key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BundIdSettingsView {
    pub bridge_destination_id: String,
    /// The certificate's common name (signs every message).
    pub signer: String,
    pub valid_until: String,
    pub level: u8,
}

fn stored(session: &Session) -> Result<Option<Stored>, AppError> {
    match session.setting(SETTING)? {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json).map(Some).map_err(|_| {
            invalid("Die gespeicherten BundID-Einstellungen sind unlesbar; bitte neu eintragen.")
        }),
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The town's BPKI key pair and the bridge, where set up and usable now.
pub(crate) struct Ready {
    pub bridge: Uuid,
    pub author: zbp::Author,
    pub level: u8,
}

pub(crate) fn ready(session: &Session) -> Result<Option<Ready>, AppError> {
    let Some(s) = stored(session)? else {
        return Ok(None);
    };
    match zbp::Author::from_pem(&s.key_pem, &s.cert_pem, now()) {
        Ok(author) => Ok(Some(Ready {
            bridge: s.bridge,
            author,
            level: s.level,
        })),
        Err(e) => {
            tracing::warn!("BundID nicht nutzbar: {e}");
            Ok(None)
        }
    }
}

fn view(s: &Stored) -> BundIdSettingsView {
    let author = zbp::Author::from_pem(&s.key_pem, &s.cert_pem, now());
    BundIdSettingsView {
        bridge_destination_id: s.bridge.to_string(),
        signer: author
            .as_ref()
            .map(|a| a.signer().to_owned())
            .unwrap_or_else(|e| e.to_string()),
        valid_until: author.map(|a| a.valid_until()).unwrap_or_default(),
        level: s.level,
    }
}

/// The citizen's Postkorb-Handle, where the metadata asks for an answer there.
pub(crate) fn mailbox_of(metadata: Option<&serde_json::Value>) -> Option<Uuid> {
    match fitconnect::metadata::reply_channel_of(metadata?.get("replyChannel")?)? {
        fitconnect::metadata::ReplyChannel::BundIdPostfach { mailbox_uuid } => Some(mailbox_uuid),
        _ => None,
    }
}

/// The application's id in the BundID Statusmonitor (metadata 2.x).
pub(crate) fn application_of(metadata: Option<&serde_json::Value>) -> Option<Uuid> {
    metadata?
        .get("additionalReferenceInfo")?
        .get("idBundDeApplicationId")?
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
}

pub(crate) use sync::bundid::status_of;

fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The ordering key of a case's BundID messages (a refused one is the clerk's task).
pub(crate) fn message_order(case_key: &str) -> String {
    format!("bundid:{case_key}")
}

/// The ordering key of a case's status updates (their own order: a refused update
/// holds back no letter).
pub(crate) fn status_order(case_key: &str) -> String {
    format!("bundid-status:{case_key}")
}

/// The status update a move of the case queues, if the portal named a Statusmonitor
/// application, BundID is set up, and what the citizen sees changes.
pub(crate) fn status_item(
    session: &Session,
    rec: &CaseRecord,
    from: CaseState,
    to: CaseState,
    service: &str,
    sender: &str,
) -> Result<Option<store::NewOutboxItem>, AppError> {
    if status_of(from) == status_of(to) {
        return Ok(None);
    }
    let Some(s) = stored(session)? else {
        return Ok(None);
    };
    let metadata = crate::letters::json_document(session, rec, "metadata");
    let Some(application) = application_of(metadata.as_ref()) else {
        return Ok(None);
    };
    let (status, details) = status_of(to);
    let state = zbp::State {
        application_id: application,
        status,
        public_service_name: zbp::German {
            de: clip(service, 100),
        },
        sender_name: clip(sender, 100),
        created_date: zbp::created_date(jiff::Timestamp::now()),
        status_details: Some(zbp::German {
            de: details.to_owned(),
        }),
        additional_information: None,
        reference: Some(clip(&rec.file_number, 50)),
    };
    state.check().map_err(|e| invalid(e.to_string()))?;
    let item = sync::BundIdItem {
        bridge: s.bridge,
        service: zbp::STATUS_SERVICE.into(),
        content: zbp::content_of(&state).map_err(|e| invalid(e.to_string()))?,
        attachments: Vec::new(),
    };
    let key = rec.fc_case_id.clone().unwrap_or_else(|| rec.id.clone());
    Ok(Some(item.outbox_item(
        &format!("bundid-status:{}:{}", rec.id, Uuid::new_v4()),
        &status_order(&key),
    )))
}

/// A letter to the citizen's BundID mailbox, before its PDF is stored.
#[derive(Clone)]
pub(crate) struct MessageDraft {
    pub bridge: Uuid,
    pub message: zbp::Message,
    pub filename: String,
}

impl MessageDraft {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        ready: (Uuid, u8),
        mailbox: Uuid,
        application: Option<Uuid>,
        sender: &str,
        letter_title: &str,
        letter_date: &str,
        service: &str,
        file_number: &str,
        filename: &str,
    ) -> MessageDraft {
        let content = format!(
            "<p>Guten Tag,</p><p>anbei erhalten Sie unser Schreiben „{}“ vom {} zu Ihrem Antrag ({}), Aktenzeichen {}, als PDF-Datei.</p><p>Bitte geben Sie bei Rückfragen das Aktenzeichen an.</p><p>Mit freundlichen Grüßen<br>{}</p>",
            escape(letter_title),
            escape(letter_date),
            escape(service),
            escape(file_number),
            escape(sender)
        );
        MessageDraft {
            bridge: ready.0,
            message: zbp::Message {
                mailbox_uuid: mailbox,
                stork_qaa_level: ready.1,
                sender: clip(sender, 255),
                title: clip(
                    &format!("{letter_title} – Aktenzeichen {file_number}"),
                    1024,
                ),
                content,
                service: clip(service, 255),
                application_id: application,
                reference: Some(clip(file_number, 255)),
                attachments: Vec::new(),
            },
            filename: filename.to_owned(),
        }
    }

    /// The outbox item, once the letter is stored as `blob_id`.
    pub(crate) fn item(&self, pdf: &[u8], blob_id: &str) -> Result<sync::BundIdItem, AppError> {
        let mut message = self.message.clone();
        message.attachments = vec![zbp::FileRef::of(&self.filename, pdf)];
        message.check().map_err(|e| invalid(e.to_string()))?;
        Ok(sync::BundIdItem {
            bridge: self.bridge,
            service: zbp::MESSAGE_SERVICE.into(),
            content: zbp::content_of(&message).map_err(|e| invalid(e.to_string()))?,
            attachments: vec![sync::ReplyAttachment {
                attachment_id: Uuid::new_v4(),
                blob_id: blob_id.to_owned(),
                filename: self.filename.clone(),
                mime_type: "application/pdf".into(),
            }],
        })
    }
}

impl Workstation {
    /// The stored BundID settings (administration); none: not set up.
    pub fn bundid_settings(&mut self) -> Result<Option<BundIdSettingsView>, AppError> {
        let session = self.session_with(Permission::ConfigurePortal)?;
        Ok(stored(session)?.as_ref().map(view))
    }

    /// Set up or change the bridge and the BPKI key pair (administration): checked
    /// (key and certificate belong together, a common name, valid now) before kept.
    pub fn set_bundid_settings(
        &mut self,
        s: &BundIdSettings,
    ) -> Result<BundIdSettingsView, AppError> {
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        let bridge = Uuid::parse_str(s.bridge_destination_id.trim())
            .map_err(|_| invalid("Die Zustellpunkt-ID des ZBP-Brückendienstes ist keine UUID."))?;
        let level = s.level.unwrap_or(3);
        if !(1..=4).contains(&level) {
            return Err(invalid("Das Vertrauensniveau ist 1, 2, 3 oder 4."));
        }
        zbp::Author::from_pem(&s.key_pem, &s.cert_pem, now())
            .map_err(|e| invalid(e.to_string()))?;
        let kept = Stored {
            bridge,
            key_pem: s.key_pem.trim().to_owned() + "\n",
            cert_pem: s.cert_pem.trim().to_owned() + "\n",
            level,
        };
        let json = serde_json::to_string(&kept).map_err(|e| invalid(e.to_string()))?;
        session.set_setting(SETTING, &json)?;
        Ok(view(&kept))
    }

    /// Remove the settings: letters to BundID mailboxes go by post.
    pub fn remove_bundid_settings(&mut self) -> Result<(), AppError> {
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        session.remove_setting(SETTING)?;
        Ok(())
    }
}
