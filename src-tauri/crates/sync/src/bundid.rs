//! Answers to a citizen's BundID mailbox (ZBP) and status updates for the BundID
//! Statusmonitor: each an outbox item (kind `bundid`) that becomes a FIT-Connect
//! submission to the configured bridge destination. The payload (message or status,
//! as a JSON string) is fixed when the item is queued; the envelope is signed with
//! the town's BPKI key when it is sent, so an author token never expires in the
//! queue. See [`fitconnect::zbp`] for what is reconstructed from public code.

use serde::{Deserialize, Serialize};
use store::NewOutboxItem;
use uuid::Uuid;

use crate::engine::ReplyAttachment;

/// Payload of an outbox item of kind `bundid`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundIdItem {
    /// The bridge destination.
    pub bridge: Uuid,
    /// [`fitconnect::zbp::MESSAGE_SERVICE`] or [`fitconnect::zbp::STATUS_SERVICE`].
    pub service: String,
    /// The message or status, serialised once: what is signed and sent.
    pub content: String,
    /// The files the message names (its letter), from the vault.
    pub attachments: Vec<ReplyAttachment>,
}

impl BundIdItem {
    pub fn outbox_item(&self, key: &str, ordering_key: &str) -> NewOutboxItem {
        NewOutboxItem {
            idempotency_key: key.to_owned(),
            kind: "bundid".into(),
            ordering_key: ordering_key.to_owned(),
            payload: serde_json::to_string(self).unwrap_or_default(),
        }
    }

    /// A status update (no letter)?
    pub fn is_status(&self) -> bool {
        self.service == fitconnect::zbp::STATUS_SERVICE
    }
}

/// What the Statusmonitor shows for a case state.
pub fn status_of(state: domain::lifecycle::CaseState) -> (fitconnect::zbp::Status, &'static str) {
    use domain::lifecycle::CaseState;
    use fitconnect::zbp::Status;
    match state {
        CaseState::Eingegangen => (Status::Received, "eingegangen"),
        CaseState::InPruefung => (Status::Received, "Vollständigkeit wird geprüft"),
        CaseState::Nachgefordert => (Status::ActionRequired, "Unterlagen nachgefordert"),
        CaseState::InBearbeitung => (Status::Processing, "in Bearbeitung"),
        CaseState::Entschieden => (Status::Processing, "entschieden, Bescheid folgt"),
        CaseState::Versandt => (Status::Completed, "Bescheid versandt"),
        CaseState::Abgeschlossen => (Status::Completed, "abgeschlossen"),
        CaseState::Zurueckgezogen => (Status::Completed, "Antrag zurückgezogen"),
        CaseState::Weitergeleitet => (Status::Completed, "an zuständige Stelle weitergeleitet"),
        CaseState::GiltAlsErteilt => (Status::Completed, "Genehmigung gilt als erteilt"),
    }
}

/// The remote id of a `bundid` item: the bridge submission and its case.
pub(crate) fn remote_id(submission: Uuid, case: Uuid) -> String {
    format!("{submission}/{case}")
}

pub(crate) fn parse_remote(remote: &str) -> Option<(Uuid, Uuid)> {
    let (s, c) = remote.split_once('/')?;
    Some((Uuid::parse_str(s).ok()?, Uuid::parse_str(c).ok()?))
}

/// The ways out besides the portal a run can use.
#[derive(Debug, Default, Clone, Copy)]
pub struct Channels<'a> {
    /// The town's SMTP relay for answers by e-mail; none: e-mail items wait.
    pub mail: Option<&'a crate::mail::Relay>,
    /// The town's BPKI key pair and the bridge; none: BundID items wait.
    pub bundid: Option<&'a fitconnect::zbp::Author>,
}
