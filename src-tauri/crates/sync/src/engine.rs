//! The I/O edge around the [`machine`](crate::machine): it performs the machine's
//! portal calls (fetch + verify + decrypt, SETs, replies, payment requests) and its
//! store operations, and feeds the results back, until the run is finished.

use fitconnect::api::{
    CreateSubmission, PaymentRequest, ServiceType, SubmitSubmission, cents_to_euro,
};
use fitconnect::client::{
    ClientError, EventLogError, SubmissionApi, fetch_case_log, verify_case_events,
};
use fitconnect::keys::KeyPair;
use fitconnect::keys::KeyUse;
use fitconnect::set::AuthenticationTags;
use fitconnect::set::{self, Event};
use fitconnect::submission::{self, EncryptedSubmission, OpenedSubmission, Rejection};
use fitconnect::{Part, ProblemKind};
use serde::{Deserialize, Serialize};
use store::{
    BlobId, DocumentKind, IncomingDocument, IncomingSubmission, NewOutboxItem, OutboxItem,
    QuarantinedSubmission, Session,
};
use uuid::Uuid;

use crate::core::ConnectivityTracker;
use crate::machine::{
    Answer, Call, Effect, Fetched, Input, Listed, Machine, Mode, Progress, PushPolicy, RunReport,
    Step, StoreOp, StoreResult,
};
use crate::staging::{Bundle, StagedView};

/// What the engine needs to act as the destination's subscriber.
pub struct Subscriber {
    pub destination_id: Uuid,
    /// Decrypts what citizens send (the destination's encryption key); shared with
    /// the threads that decrypt while the next submissions are fetched.
    pub encryption: std::sync::Arc<KeyPair>,
    /// Signs accept/reject events (the destination's signature key).
    pub signature: KeyPair,
}

impl Subscriber {
    /// The destination's key pairs from its settings, checked against the
    /// FIT-Connect rules (German message on a bad key).
    pub fn from_settings(s: &fitconnect::client::SubscriberSettings) -> Result<Self, String> {
        s.encryption_key
            .validate(KeyUse::Encryption)
            .map_err(|e| e.to_string())?;
        s.signature_key
            .validate(KeyUse::Signature)
            .map_err(|e| e.to_string())?;
        let encryption = KeyPair::from_pem(
            s.encryption_key.clone(),
            s.encryption_private_pem.as_bytes(),
        )
        .map_err(|e| e.to_string())?;
        let signature =
            KeyPair::from_pem(s.signature_key.clone(), s.signature_private_pem.as_bytes())
                .map_err(|e| e.to_string())?;
        Ok(Subscriber {
            destination_id: s.destination_id,
            encryption: std::sync::Arc::new(encryption),
            signature,
        })
    }
}

/// The API client's settings from the destination's settings.
pub fn client_config(
    s: &fitconnect::client::SubscriberSettings,
    timeout: std::time::Duration,
) -> fitconnect::client::ClientConfig {
    fitconnect::client::ClientConfig {
        token_url: s.token_url.clone(),
        api_url: s.api_url.clone(),
        client_id: s.client_id.clone(),
        client_secret: s.client_secret.clone(),
        timeout,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Portal(Box<ClientError>),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The store is no longer available to this run (logged out, locked).
    #[error("{0}")]
    Unavailable(String),
}

impl From<ClientError> for SyncError {
    fn from(e: ClientError) -> Self {
        SyncError::Portal(Box::new(e))
    }
}

/// What a run needs from the local store. Each call is short (one transaction), so
/// a shared store may be locked per call and stay free while the network is busy.
pub trait SyncStore {
    fn apply(&mut self, op: StoreOp) -> Result<StoreResult, SyncError>;
    /// Plaintext of a document in the vault (for a reply's attachments).
    fn read_blob(&mut self, id: &str) -> Result<Vec<u8>, SyncError>;
    /// Submissions fetched while the store was locked and not stored yet: (id, bundle).
    fn staged(&mut self) -> Result<Vec<(String, Vec<u8>)>, SyncError> {
        Ok(Vec::new())
    }
    /// Forget a staged bundle.
    fn unstage(&mut self, _submission_id: &str) -> Result<(), SyncError> {
        Ok(())
    }
    /// The service's key set (JWKS, as JSON) as last fetched live: staged bundles
    /// are checked against it when the portal cannot be asked, never against the
    /// keys a bundle brings along.
    fn pinned_jwks(&mut self) -> Result<Option<String>, SyncError> {
        Ok(None)
    }
    /// Keep the key set fetched live just now.
    fn pin_jwks(&mut self, _jwks: &str) -> Result<(), SyncError> {
        Ok(())
    }
    /// A setting of the store (e.g. where reading the bounce mailbox stopped).
    fn setting(&mut self, _key: &str) -> Result<Option<String>, SyncError> {
        Ok(None)
    }
    fn set_setting(&mut self, _key: &str, _value: &str) -> Result<(), SyncError> {
        Ok(())
    }
    /// Record a late bounce of the e-mail with this Message-ID (see
    /// `store::Session::mail_bounced`); false: not ours, or recorded before.
    fn mail_bounced(&mut self, _message_id: &str, _reason: &str) -> Result<bool, SyncError> {
        Ok(false)
    }
    /// A writer for the documents of opened submissions, if this store has a vault:
    /// the run then encrypts and fsyncs them on the blocking pool, beside the
    /// decryptions ahead, and the store's writer only commits the transaction.
    fn blob_writer(&mut self) -> Result<Option<store::BlobWriter>, SyncError> {
        Ok(None)
    }
    /// Store a submission whose documents `blob_writer`'s writer wrote (one each,
    /// in order).
    fn store_prepared(
        &mut self,
        s: Box<IncomingSubmission>,
        prepared: Vec<store::PreparedBlob>,
    ) -> Result<StoreResult, SyncError> {
        drop(prepared);
        self.apply(StoreOp::StoreSubmission(s))
    }
}

/// Where the service's key set is kept in the encrypted store.
pub const PINNED_JWKS: &str = "portal.jwks.gepinnt";

impl SyncStore for Session {
    fn apply(&mut self, op: StoreOp) -> Result<StoreResult, SyncError> {
        Ok(apply(self, op)?)
    }

    fn read_blob(&mut self, id: &str) -> Result<Vec<u8>, SyncError> {
        Ok(read_blob(self, id)?)
    }

    fn staged(&mut self) -> Result<Vec<(String, Vec<u8>)>, SyncError> {
        let mut out = Vec::new();
        for id in self.clean_staging()? {
            match self.read_staged(&id) {
                Ok(bytes) => out.push((id, bytes)),
                // Not written by this store's key: never believed, fetched again
                // from the portal (nothing is accepted before it is stored there).
                Err(store::StoreError::StagedForged(why)) => {
                    tracing::warn!("{why}");
                    self.audit("vorabruf.verworfen", &format!("submission:{id}"))?;
                    self.store().unstage(&id)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    fn unstage(&mut self, submission_id: &str) -> Result<(), SyncError> {
        Ok(self.store().unstage(submission_id)?)
    }

    fn pinned_jwks(&mut self) -> Result<Option<String>, SyncError> {
        Ok(Session::setting(self, PINNED_JWKS)?)
    }

    fn setting(&mut self, key: &str) -> Result<Option<String>, SyncError> {
        Ok(Session::setting(self, key)?)
    }

    fn set_setting(&mut self, key: &str, value: &str) -> Result<(), SyncError> {
        Ok(Session::set_setting(self, key, value)?)
    }

    fn mail_bounced(&mut self, message_id: &str, reason: &str) -> Result<bool, SyncError> {
        Ok(Session::mail_bounced(self, message_id, reason)?)
    }

    fn blob_writer(&mut self) -> Result<Option<store::BlobWriter>, SyncError> {
        Ok(Some(Session::blob_writer(self)))
    }

    fn store_prepared(
        &mut self,
        s: Box<IncomingSubmission>,
        prepared: Vec<store::PreparedBlob>,
    ) -> Result<StoreResult, SyncError> {
        Ok(StoreResult::Stored(
            self.store_submission_prepared(&s, prepared)?,
        ))
    }

    fn pin_jwks(&mut self, jwks: &str) -> Result<(), SyncError> {
        if self.setting(PINNED_JWKS)?.as_deref() != Some(jwks) {
            self.set_setting(PINNED_JWKS, jwks)?;
        }
        Ok(())
    }
}

/// Payload of an accept or reject item in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventItem {
    pub submission_id: Uuid,
    pub case_id: Uuid,
    pub payload: serde_json::Value,
}

/// JSON of the engine's own outbox and metadata types. Their serialisation cannot
/// fail (plain structs, string keys, no floats that could be NaN); the empty string
/// is never reached and would be refused by the reader rather than misread.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn applicant_of(opened: &OpenedSubmission) -> String {
    // Service data differ per form; the common portal forms carry the applicant
    // under `antragsteller`. Anything else shows as "unbekannt" until casework maps it.
    let data = opened
        .data
        .as_ref()
        .and_then(|(bytes, _)| serde_json::from_slice::<serde_json::Value>(bytes).ok());
    let person = data.as_ref().and_then(|d| d.get("antragsteller"));
    let part = |k: &str| {
        person
            .and_then(|p| p.get(k))
            .and_then(|v| v.as_str())
            .unwrap_or("")
    };
    let name = format!("{} {}", part("vorname"), part("familienname"))
        .trim()
        .to_owned();
    if name.is_empty() {
        "unbekannt".into()
    } else {
        name
    }
}

fn incoming(sub: &EncryptedSubmission, opened: &OpenedSubmission, now: &str) -> IncomingSubmission {
    let service = opened.metadata.public_service_type.as_ref();
    // publicServiceType is optional in the metadata: no identifier, no match.
    let identifier = service.map(|s| s.identifier.clone()).unwrap_or_default();
    let case_type = service
        .and_then(|s| s.name.clone())
        .unwrap_or_else(|| identifier.clone());
    let mut documents = vec![IncomingDocument {
        kind: DocumentKind::Metadata,
        filename: None,
        mime_type: "application/json".into(),
        bytes: json(&opened.metadata_json).into_bytes(),
    }];
    if let Some((bytes, cty)) = &opened.data {
        documents.push(IncomingDocument {
            kind: DocumentKind::Data,
            filename: None,
            mime_type: cty.clone(),
            bytes: bytes.clone(),
        });
    }
    for (meta, bytes) in &opened.attachments {
        documents.push(IncomingDocument {
            kind: DocumentKind::Attachment,
            filename: meta.filename.clone(),
            mime_type: meta.mime_type.clone(),
            bytes: bytes.clone(),
        });
    }
    let item = EventItem {
        submission_id: sub.submission_id,
        case_id: sub.case_id,
        payload: set::accept_payload(&opened.tags),
    };
    IncomingSubmission {
        submission_id: sub.submission_id.to_string(),
        fc_case_id: sub.case_id.to_string(),
        service: identifier,
        case_type,
        applicant: applicant_of(opened),
        received_at: now.to_owned(),
        auth_tags: json(&opened.tags),
        documents,
        accept: NewOutboxItem {
            idempotency_key: format!("accept:{}", sub.submission_id),
            kind: "accept".into(),
            ordering_key: sub.case_id.to_string(),
            payload: json(&item),
        },
    }
}

/// Payload of a reply to the citizen (kind `reply`): a FIT-Connect submission in the
/// case, to the reply destination (the citizen's portal mailbox), with structured
/// data and documents from the vault. The attachment ids are fixed when the item is
/// queued, so every attempt announces the same ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyItem {
    /// The FIT-Connect case.
    pub case_id: Uuid,
    pub destination_id: Uuid,
    pub service_type: ServiceType,
    /// Structured content (JSON) and the schema it follows.
    pub data: serde_json::Value,
    pub data_schema: String,
    pub attachments: Vec<ReplyAttachment>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyAttachment {
    pub attachment_id: Uuid,
    pub blob_id: String,
    pub filename: String,
    pub mime_type: String,
}

/// Payload of a fee booking for the portal's payment service (kind `payment`).
/// Amounts are integer cents.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentItem {
    /// Absolute URL of the service's payment-transaction endpoint.
    pub url: String,
    /// Idempotency key at the service.
    pub request_id: String,
    pub kassenzeichen: String,
    pub amount_cents: i64,
    pub due_date: String,
    pub description: String,
}

/// Payload of a booking for the town's cash system (kind `hkr`): the Annahmeanordnung
/// as CSV and XML, dropped into the exchange folder under a name fixed when the item
/// was queued. Writing is atomic (temp file, fsync, rename); a file already there
/// with the same content counts as delivered, so a retry after a crash does not
/// book twice.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HkrItem {
    /// Absolute path of the exchange folder.
    pub dir: String,
    /// File name without extension, e.g. "AO-51000100000074".
    pub file_stem: String,
    pub csv: String,
    pub xml: String,
}

impl HkrItem {
    pub fn outbox_item(&self, key: &str, ordering_key: &str) -> NewOutboxItem {
        NewOutboxItem {
            idempotency_key: key.to_owned(),
            kind: "hkr".into(),
            ordering_key: ordering_key.to_owned(),
            payload: json(self),
        }
    }

    /// Drop both files; Ok when they are there with this content.
    pub fn deliver(&self) -> Result<(), HkrError> {
        let safe = !self.file_stem.is_empty()
            && self
                .file_stem
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !safe {
            return Err(HkrError::Invalid(format!(
                "ungültiger Dateiname {}",
                self.file_stem
            )));
        }
        let dir = std::path::Path::new(&self.dir);
        for (ext, content) in [("csv", &self.csv), ("xml", &self.xml)] {
            drop_file(
                dir,
                &format!("{}.{ext}", self.file_stem),
                content.as_bytes(),
            )?;
        }
        Ok(())
    }
}

/// Why a booking file could not be dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HkrError {
    /// Permanent: a different file of that name, or an unusable name.
    #[error("{0}")]
    Invalid(String),
    /// The folder is not reachable now.
    #[error("{0}")]
    Unavailable(String),
}

impl From<HkrError> for ClientError {
    fn from(e: HkrError) -> Self {
        match e {
            HkrError::Invalid(m) => ClientError::Invalid(m),
            HkrError::Unavailable(m) => ClientError::Unavailable(m),
        }
    }
}

fn drop_file(dir: &std::path::Path, name: &str, content: &[u8]) -> Result<(), HkrError> {
    use std::io::Write;
    let unavailable = |e: std::io::Error| HkrError::Unavailable(format!("{}: {e}", dir.display()));
    let target = dir.join(name);
    match std::fs::read(&target) {
        Ok(existing) if existing == content => return Ok(()),
        Ok(_) => {
            return Err(HkrError::Invalid(format!(
                "{name} liegt schon mit anderem Inhalt im Kassenordner"
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(unavailable(e)),
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".amtsstube-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(unavailable)?;
    tmp.write_all(content).map_err(unavailable)?;
    tmp.as_file().sync_all().map_err(unavailable)?;
    tmp.persist_noclobber(&target)
        .map_err(|e| unavailable(e.error))?;
    store::durable::sync_dir(dir).map_err(unavailable)
}

impl ReplyItem {
    pub fn outbox_item(&self, key: &str) -> NewOutboxItem {
        NewOutboxItem {
            idempotency_key: key.to_owned(),
            kind: "reply".into(),
            ordering_key: self.case_id.to_string(),
            payload: json(self),
        }
    }
}

impl PaymentItem {
    /// Fee bookings go out in the order of their case (`ordering_key`).
    pub fn outbox_item(&self, key: &str, ordering_key: &str) -> NewOutboxItem {
        NewOutboxItem {
            idempotency_key: key.to_owned(),
            kind: "payment".into(),
            ordering_key: ordering_key.to_owned(),
            payload: json(self),
        }
    }
}

/// What one letter makes the Rathaus-Server send (office mode): sealed at the desk
/// to the server's delivery key, opened by the server only to queue and send it.
/// The routing (reply destination, payment service, exchange folder) is the
/// server's: it overwrites what the desk filled in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// The reply to the portal mailbox; its one attachment is `letter`.
    pub reply: Option<ReplyItem>,
    /// The letter (PDF), base64.
    pub letter: String,
    pub payment: Option<PaymentItem>,
    pub hkr: Option<HkrItem>,
    /// The e-mail to the citizen (the letter PGP-encrypted, or the notice that it
    /// goes by post); the server fills in its sender, Message-ID and attachment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<crate::mail::MailItem>,
    /// The letter to the citizen's BundID mailbox; the server fills in its bridge,
    /// trust level and attachment, and signs it when it sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundid: Option<crate::BundIdItem>,
}

/// The remote side as the machine's calls see it.
struct Remote<'a, A: SubmissionApi> {
    api: &'a A,
    sub: &'a Subscriber,
    /// E-mail relay and BundID key pair, where set up.
    channels: crate::bundid::Channels<'a>,
    /// Encryption keys of reply destinations, fetched once per run.
    reply_keys: std::sync::Mutex<std::collections::HashMap<Uuid, fitconnect::keys::PublicJwk>>,
    /// Submissions fetched while the store was locked.
    staged: std::collections::HashMap<Uuid, Bundle>,
    /// The service's key set to check staged bundles with: fetched live at the
    /// start of the run, else the one pinned in the store; `None`: staged bundles
    /// wait until the portal can be asked.
    trusted_jwks: Option<fitconnect::api::Jwks>,
    /// `trusted_jwks` was fetched live at the start of this run (not pinned).
    jwks_live: bool,
}

/// A mail error as the machine judges it: refused (stops, a task), temporary
/// (later), or a settings or key problem (the administration or the clerk).
fn mail_error(e: crate::mail::MailError) -> ClientError {
    use crate::mail::MailError;
    match e {
        MailError::Refused(_) | MailError::Key(_) => ClientError::Refused(e.to_string()),
        MailError::Unavailable(_) | MailError::Auth(_) | MailError::Settings(_) => {
            ClientError::Unavailable(e.to_string())
        }
        MailError::Build(_) => ClientError::Invalid(e.to_string()),
    }
}

/// An answer's documents from the vault, to seal as attachments.
fn plain_attachments(
    session: &mut impl SyncStore,
    attachments: &[ReplyAttachment],
) -> Result<Vec<submission::PlainAttachment>, String> {
    attachments
        .iter()
        .map(|a| {
            let bytes = session
                .read_blob(&a.blob_id)
                .map_err(|e| format!("Dokument fehlt im Tresor: {e}"))?;
            Ok(submission::PlainAttachment {
                id: a.attachment_id,
                filename: Some(a.filename.clone()),
                mime_type: a.mime_type.clone(),
                purpose: "attachment".into(),
                bytes,
            })
        })
        .collect()
}

/// The reasons in a reject event's payload, for the clerk.
fn problems_of(payload: &serde_json::Value) -> String {
    let reasons: Vec<String> = payload
        .get("problems")
        .and_then(serde_json::Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| {
                    p.get("detail")
                        .or_else(|| p.get("title"))
                        .and_then(serde_json::Value::as_str)
                        .map(|s| s.chars().take(300).collect())
                })
                .collect()
        })
        .unwrap_or_default();
    if reasons.is_empty() {
        "ohne Angabe von Gründen".into()
    } else {
        reasons.join("; ")
    }
}

fn unreadable(what: &str) -> ClientError {
    ClientError::Invalid(format!("{what} unlesbar"))
}

impl<A: SubmissionApi> Remote<'_, A> {
    /// The service's key set of this run, if it came from the portal now: every
    /// case's event log is checked with it instead of fetching it again per case.
    fn live_jwks(&self) -> Option<&fitconnect::api::Jwks> {
        self.trusted_jwks.as_ref().filter(|_| self.jwks_live)
    }

    async fn fetch(&self, l: Listed) -> Result<Fetched, ClientError> {
        match self.staged.get(&l.submission_id) {
            Some(bundle) => {
                let view = StagedView {
                    inner: self.api,
                    bundle,
                    jwks: self.trusted_jwks.as_ref(),
                };
                match fetch_with(&view, self.sub, self.trusted_jwks.as_ref(), l).await {
                    Ok(Fetched::Valid(found)) => Ok(Fetched::Valid(found)),
                    // What was staged does not hold up against the trusted keys (or
                    // cannot be checked now): the portal's own copy decides – never
                    // a bundle from the data folder alone.
                    staged => {
                        tracing::warn!(
                            "Vorabruf {} nicht bestätigt ({}); es gilt die Fassung des Portals",
                            l.submission_id,
                            match &staged {
                                Ok(_) => "Prüfung fehlgeschlagen".to_owned(),
                                Err(e) => e.to_string(),
                            }
                        );
                        fetch_with(self.api, self.sub, self.live_jwks(), l).await
                    }
                }
            }
            None => fetch_with(self.api, self.sub, self.live_jwks(), l).await,
        }
    }

    /// [`fetch`](Self::fetch), named by the submission it is for.
    /// Fetch, check and open one submission, then write its documents with
    /// `writer` (see [`SyncStore::blob_writer`]).
    async fn fetch_prepared(
        &self,
        l: Listed,
        writer: Option<store::BlobWriter>,
    ) -> (Uuid, Result<FetchedPrepared, ClientError>) {
        let fetched = match self.fetch(l).await {
            Ok(f) => prepare_documents(f, writer).await,
            Err(e) => Err(e),
        };
        (l.submission_id, fetched)
    }

    /// Is there an event of ours (or, for replies, the service's submit event) for
    /// this submission in the case's verified event log?
    async fn find_event(
        &self,
        case: Uuid,
        event: Event,
        submission: Uuid,
        ours: bool,
    ) -> Result<bool, ClientError> {
        let events = verify_case_events(self.api, case, self.sub.destination_id)
            .await
            .map_err(|e| match e {
                EventLogError::Client(c) => c,
                EventLogError::Invalid(i) => ClientError::Decode(i.to_string()),
            })?;
        let dest = self.sub.destination_id.to_string();
        Ok(events
            .iter()
            .any(|e| e.event == event && e.submission_id == submission && (e.iss == dest) == ours))
    }

    async fn deliver(
        &self,
        session: &mut impl SyncStore,
        item: &OutboxItem,
        step: Step,
    ) -> Result<Answer, ClientError> {
        match item.kind.as_str() {
            "accept" | "reject" => {
                let event = if item.kind == "accept" {
                    Event::AcceptSubmission
                } else {
                    Event::RejectSubmission
                };
                let p: EventItem =
                    serde_json::from_str(&item.payload).map_err(|_| unreadable("Auftrag"))?;
                if step == Step::Confirm {
                    let found = self
                        .find_event(p.case_id, event, p.submission_id, true)
                        .await?;
                    return Ok(Answer::Confirmed(found));
                }
                let token = set::sign(
                    event,
                    p.payload.clone(),
                    &self.sub.destination_id.to_string(),
                    p.submission_id,
                    p.case_id,
                    jiff::Timestamp::now().as_second(),
                    &self.sub.signature,
                )
                .map_err(|e| ClientError::Invalid(e.to_string()))?;
                self.api.post_event(p.case_id, &token).await?;
                Ok(Answer::Delivered)
            }
            "reply" => {
                let p: ReplyItem =
                    serde_json::from_str(&item.payload).map_err(|_| unreadable("Antwort"))?;
                let remote = item
                    .remote_id
                    .as_deref()
                    .and_then(|r| Uuid::parse_str(r).ok());
                match (step, remote) {
                    (Step::Confirm, Some(id)) => Ok(Answer::Confirmed(
                        self.find_event(p.case_id, Event::SubmitSubmission, id, false)
                            .await?,
                    )),
                    (_, None) => {
                        let created = self
                            .api
                            .create_submission(&CreateSubmission {
                                destination_id: p.destination_id,
                                announced_attachments: p
                                    .attachments
                                    .iter()
                                    .map(|a| a.attachment_id)
                                    .collect(),
                                service_type: p.service_type.clone(),
                                case_id: Some(p.case_id),
                            })
                            .await?;
                        Ok(Answer::Created(created.submission_id.to_string()))
                    }
                    (Step::Send, Some(id)) => {
                        self.complete_reply(session, &p, id).await?;
                        Ok(Answer::Delivered)
                    }
                }
            }
            "hkr" => {
                let p: HkrItem =
                    serde_json::from_str(&item.payload).map_err(|_| unreadable("Buchung"))?;
                p.deliver()?;
                Ok(Answer::Delivered)
            }
            "payment" => {
                let p: PaymentItem =
                    serde_json::from_str(&item.payload).map_err(|_| unreadable("Buchung"))?;
                let euro = cents_to_euro(p.amount_cents);
                let request = PaymentRequest {
                    request_id: p.request_id.clone(),
                    timestamp: jiff::Timestamp::now().to_string(),
                    currency: "EUR".into(),
                    grand_total: euro,
                    purpose: p.kassenzeichen.chars().take(27).collect(),
                    description: p.description.chars().take(250).collect(),
                    items: vec![fitconnect::api::PaymentItem {
                        id: "1".into(),
                        reference: p.kassenzeichen.clone(),
                        description: format!("Gebühr, fällig am {}", p.due_date),
                        net_amount: euro,
                        quantity: 1,
                    }],
                };
                self.api.request_payment(&p.url, &request).await?;
                Ok(Answer::Delivered)
            }
            "mail" => {
                let p: crate::mail::MailItem =
                    serde_json::from_str(&item.payload).map_err(|_| unreadable("E-Mail"))?;
                let relay = self.channels.mail.ok_or_else(|| {
                    ClientError::Unavailable(
                        "Kein Mailserver eingerichtet (Administration → E-Mail).".into(),
                    )
                })?;
                // A notice never carries the letter, whatever the item says.
                let pdf = match (&p.attachment, p.notice()) {
                    (Some(a), false) => Some(session.read_blob(&a.blob_id).map_err(|e| {
                        ClientError::Invalid(format!("Dokument fehlt im Tresor: {e}"))
                    })?),
                    _ => None,
                };
                let message =
                    crate::mail::compose(&p, relay, pdf.as_deref()).map_err(mail_error)?;
                relay.send(message).await.map_err(mail_error)?;
                Ok(Answer::Delivered)
            }
            "bundid" => {
                let p: crate::BundIdItem = serde_json::from_str(&item.payload)
                    .map_err(|_| unreadable("BundID-Nachricht"))?;
                let author = self.channels.bundid.ok_or_else(|| {
                    ClientError::Unavailable(
                        "Das BundID-Postfach ist nicht eingerichtet (Administration → BundID)."
                            .into(),
                    )
                })?;
                let remote = item
                    .remote_id
                    .as_deref()
                    .and_then(crate::bundid::parse_remote);
                match (step, remote) {
                    (Step::Confirm, Some((id, case))) => {
                        let events = self.bridge_events(p.bridge, case).await?;
                        if let Some(e) = events
                            .iter()
                            .find(|e| e.event == Event::RejectSubmission && e.submission_id == id)
                        {
                            return Err(ClientError::Refused(format!(
                                "Der BundID-Brückendienst hat abgelehnt: {}",
                                problems_of(&e.payload)
                            )));
                        }
                        Ok(Answer::Confirmed(events.iter().any(|e| {
                            e.event == Event::SubmitSubmission && e.submission_id == id
                        })))
                    }
                    (_, None) => {
                        let created = self
                            .api
                            .create_submission(&CreateSubmission {
                                destination_id: p.bridge,
                                announced_attachments: p
                                    .attachments
                                    .iter()
                                    .map(|a| a.attachment_id)
                                    .collect(),
                                service_type: ServiceType {
                                    name: Some(if p.is_status() {
                                        "ZBP State Forwarding".into()
                                    } else {
                                        "ZBP Message Forwarding".into()
                                    }),
                                    description: None,
                                    identifier: p.service.clone(),
                                },
                                case_id: None,
                            })
                            .await?;
                        Ok(Answer::Created(crate::bundid::remote_id(
                            created.submission_id,
                            created.case_id,
                        )))
                    }
                    (Step::Send, Some((id, case))) => {
                        self.complete_bundid(session, &p, author, id, case).await?;
                        // The bridge answers through the case's event log; a rejection
                        // there is final (the clerk sends by post).
                        match self.bridge_events(p.bridge, case).await {
                            Ok(events) => match events.iter().find(|e| {
                                e.event == Event::RejectSubmission && e.submission_id == id
                            }) {
                                Some(e) => Err(ClientError::Refused(format!(
                                    "Der BundID-Brückendienst hat abgelehnt: {}",
                                    problems_of(&e.payload)
                                ))),
                                None => Ok(Answer::Delivered),
                            },
                            Err(e) => {
                                tracing::warn!(
                                    "Antwort des BundID-Brückendienstes nicht lesbar: {e}"
                                );
                                Ok(Answer::Delivered)
                            }
                        }
                    }
                }
            }
            other => Err(ClientError::Invalid(format!(
                "Auftragsart {other} wird nicht unterstützt"
            ))),
        }
    }

    /// The verified event log of a bridge submission's case.
    async fn bridge_events(
        &self,
        bridge: Uuid,
        case: Uuid,
    ) -> Result<Vec<fitconnect::set::VerifiedEvent>, ClientError> {
        verify_case_events(self.api, case, bridge)
            .await
            .map_err(|e| match e {
                EventLogError::Client(c) => c,
                EventLogError::Invalid(i) => ClientError::Decode(i.to_string()),
            })
    }

    /// Sign the envelope now, encrypt it and the letter for the bridge, upload, submit.
    async fn complete_bundid(
        &self,
        session: &mut impl SyncStore,
        p: &crate::BundIdItem,
        author: &fitconnect::zbp::Author,
        submission_id: Uuid,
        case_id: Uuid,
    ) -> Result<(), ClientError> {
        let key = self.destination_key(p.bridge).await?;
        let envelope = author
            .seal(&p.content, jiff::Timestamp::now().as_second())
            .map_err(|e| ClientError::Unavailable(e.to_string()))?;
        let plain = plain_attachments(session, &p.attachments).map_err(ClientError::Invalid)?;
        let data = json(&envelope).into_bytes();
        let sealed = submission::seal(
            submission_id,
            case_id,
            &key,
            Some((&data, "application/json", fitconnect::zbp::SCHEMA_URI)),
            &plain,
            |m| {
                m.insert("$schema".into(), fitconnect::zbp::METADATA_SCHEMA.into());
            },
        )
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.upload_and_submit(submission_id, sealed).await
    }

    /// Upload a sealed submission's attachments, then submit it.
    async fn upload_and_submit(
        &self,
        submission_id: Uuid,
        sealed: EncryptedSubmission,
    ) -> Result<(), ClientError> {
        for (id, jwe) in &sealed.attachments {
            self.api.upload_attachment(submission_id, *id, jwe).await?;
        }
        self.api
            .submit(
                submission_id,
                &SubmitSubmission {
                    encrypted_metadata: sealed.encrypted_metadata,
                    encrypted_data: sealed.encrypted_data,
                },
            )
            .await
    }

    /// A destination's encryption key, fetched once per run and checked.
    async fn destination_key(
        &self,
        destination: Uuid,
    ) -> Result<fitconnect::keys::PublicJwk, ClientError> {
        let cached = self
            .reply_keys
            .lock()
            .ok()
            .and_then(|k| k.get(&destination).cloned());
        if let Some(k) = cached {
            return Ok(k);
        }
        let dest = self.api.destination(destination).await?;
        let key = self
            .api
            .destination_key(destination, &dest.encryption_kid)
            .await?;
        key.validate(KeyUse::Encryption)
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        if let Ok(mut k) = self.reply_keys.lock() {
            k.insert(destination, key.clone());
        }
        Ok(key)
    }

    /// Encrypt the reply for the mailbox, upload every attachment, submit.
    async fn complete_reply(
        &self,
        session: &mut impl SyncStore,
        p: &ReplyItem,
        submission_id: Uuid,
    ) -> Result<(), ClientError> {
        let key = self.destination_key(p.destination_id).await?;
        let plain = plain_attachments(session, &p.attachments).map_err(ClientError::Invalid)?;
        let data = json(&p.data).into_bytes();
        let sealed = submission::seal(
            submission_id,
            p.case_id,
            &key,
            Some((&data, "application/json", &p.data_schema)),
            &plain,
            |m| {
                let mut service = serde_json::json!({ "identifier": p.service_type.identifier });
                if let Some(name) = &p.service_type.name {
                    service["name"] = name.clone().into();
                }
                m.insert("publicServiceType".into(), service);
            },
        )
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.upload_and_submit(submission_id, sealed).await
    }

    async fn call(&self, session: &mut impl SyncStore, call: Call) -> Result<Answer, ClientError> {
        match call {
            Call::List => match self.api.all_for_pickup(self.sub.destination_id).await {
                Ok(list) => {
                    // Staged bundles the portal no longer lists are gone there.
                    let listed: std::collections::HashSet<Uuid> =
                        list.iter().map(|s| s.submission_id).collect();
                    for id in self.staged.keys().filter(|id| !listed.contains(id)) {
                        if let Err(e) = session.unstage(&id.to_string()) {
                            tracing::warn!("Vorabruf nicht entfernt: {e}");
                        }
                    }
                    Ok(Answer::Listed(
                        list.into_iter()
                            .map(|s| Listed {
                                submission_id: s.submission_id,
                                case_id: s.case_id,
                            })
                            .collect(),
                    ))
                }
                // Offline: what was fetched while locked can still be stored now.
                Err(e) if e.is_retryable() && !self.staged.is_empty() => Ok(Answer::Listed(
                    self.staged
                        .values()
                        .map(|b| Listed {
                            submission_id: b.submission.submission_id,
                            case_id: b.submission.case_id,
                        })
                        .collect(),
                )),
                Err(e) => Err(e),
            },
            Call::Fetch(l) => Ok(Answer::Fetched(self.fetch(l).await?)),
            Call::Deliver { item, step } => self.deliver(session, &item, step).await,
        }
    }
}

fn read_blob(session: &Session, id: &str) -> Result<Vec<u8>, store::StoreError> {
    use std::io::Read;
    let id = BlobId::parse(id)?;
    let mut out = Vec::new();
    session
        .open_blob(&id)?
        .read_to_end(&mut out)
        .map_err(|e| store::StoreError::Crypto(e.to_string()))?;
    Ok(out)
}

/// The case's event log, verified with the run's key set where there is one; a log
/// that does not verify with it is checked once more with the live key set (the
/// service may have rotated its keys during the run).
async fn case_events(
    api: &impl SubmissionApi,
    jwks: Option<&fitconnect::api::Jwks>,
    case: Uuid,
    destination: Uuid,
) -> Result<Vec<set::VerifiedEvent>, EventLogError> {
    match jwks {
        Some(jwks) => {
            // Read over the network here; the PS512 checks of the tokens on the
            // blocking pool, beside the decryptions of the submissions ahead.
            let log = fetch_case_log(api, jwks, case, destination).await?;
            let keys = jwks.clone();
            // A log that does not verify with the run's keys: once more live.
            match on_blocking_pool(move || log.verify(&keys)).await? {
                Ok(events) => Ok(events),
                Err(_) => verify_case_events(api, case, destination).await,
            }
        }
        None => verify_case_events(api, case, destination).await,
    }
}

/// Run CPU work on the runtime's blocking pool (every core); outside a Tokio
/// runtime it runs in place.
async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ClientError> {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => rt
            .spawn_blocking(work)
            .await
            .map_err(|e| ClientError::Invalid(format!("Prüfung abgebrochen: {e}"))),
        Err(_) => Ok(work()),
    }
}

/// Decrypt and check a fetched submission on a thread of the runtime's blocking
/// pool, so that several submissions are opened at once on every core while the
/// next ones are fetched. Outside a Tokio runtime it runs in place.
async fn open_checked(
    encrypted: EncryptedSubmission,
    key: std::sync::Arc<KeyPair>,
    tags: Result<Option<AuthenticationTags>, Rejection>,
) -> Result<(EncryptedSubmission, Result<OpenedSubmission, Rejection>), ClientError> {
    let work = move || {
        let verdict = tags.and_then(|tags| {
            let opened = submission::open(&encrypted, &key)?;
            submission::check_tags(&opened.tags, tags.as_ref())?;
            Ok(opened)
        });
        (encrypted, verdict)
    };
    on_blocking_pool(work).await
}

/// Fetch, verify against the case's event log and open one submission. `jwks`: the
/// service's key set fetched at the start of the run, if it was.
async fn fetch_with(
    api: &impl SubmissionApi,
    sub: &Subscriber,
    jwks: Option<&fitconnect::api::Jwks>,
    l: Listed,
) -> Result<Fetched, ClientError> {
    let encrypted = api.fetch_encrypted(l.submission_id).await?;
    // The service's own record of what was submitted: its time is the legal
    // receipt, its authentication tags must match what we fetched.
    let (received_at, submitted) = match case_events(api, jwks, l.case_id, sub.destination_id).await
    {
        Ok(events) => {
            let dest = sub.destination_id.to_string();
            let submit = events.iter().rev().find(|e| {
                e.event == Event::SubmitSubmission
                    && e.submission_id == l.submission_id
                    && e.iss != dest
            });
            let tags = submit.and_then(|e| {
                serde_json::from_value::<AuthenticationTags>(
                    e.payload.get("authenticationTags")?.clone(),
                )
                .ok()
            });
            let at = submit
                .and_then(|e| jiff::Timestamp::from_second(e.iat).ok())
                .unwrap_or_else(jiff::Timestamp::now);
            (at.to_string(), Ok(tags))
        }
        Err(EventLogError::Client(e)) => return Err(e),
        Err(EventLogError::Invalid(e)) => (
            jiff::Timestamp::now().to_string(),
            Err(Rejection::one(
                ProblemKind::InvalidEventLog,
                &Part::Metadata,
                e.to_string(),
            )),
        ),
    };
    let (encrypted, verdict) = open_checked(encrypted, sub.encryption.clone(), submitted).await?;
    Ok(match verdict {
        Ok(opened) => Fetched::Valid(Box::new(incoming(&encrypted, &opened, &received_at))),
        Err(rejection) => {
            let item = EventItem {
                submission_id: encrypted.submission_id,
                case_id: encrypted.case_id,
                payload: set::reject_payload(&rejection.problems),
            };
            let ciphertext = serde_json::json!({
                "encryptedMetadata": encrypted.encrypted_metadata,
                "encryptedData": encrypted.encrypted_data,
                "attachments": encrypted.attachments,
            });
            Fetched::Invalid(Box::new(QuarantinedSubmission {
                submission_id: encrypted.submission_id.to_string(),
                fc_case_id: encrypted.case_id.to_string(),
                service: String::new(),
                received_at,
                problems: json(&rejection.problems),
                ciphertext: json(&ciphertext).into_bytes(),
                reject: NewOutboxItem {
                    idempotency_key: format!("reject:{}", encrypted.submission_id),
                    kind: "reject".into(),
                    ordering_key: encrypted.case_id.to_string(),
                    payload: json(&item),
                },
            }))
        }
    })
}

/// Perform one store operation of the machine.
pub fn apply(session: &mut Session, op: StoreOp) -> Result<StoreResult, store::StoreError> {
    Ok(match op {
        StoreOp::Lookup(ids) => StoreResult::Known(
            ids.iter()
                .map(|id| session.submission_state(&id.to_string()))
                .collect::<Result<_, _>>()?,
        ),
        StoreOp::StoreSubmission(s) => StoreResult::Stored(session.store_submission(&s)?),
        StoreOp::Quarantine(q) => StoreResult::Quarantined(session.quarantine_submission(&q)?),
        StoreOp::LoadDue { now, limit } => StoreResult::Due(session.due_outbox(&now, limit)?),
        StoreOp::RemoteId { id, remote_id } => {
            session.outbox_remote_id(id, &remote_id)?;
            StoreResult::Written
        }
        StoreOp::Done { id } => {
            session.outbox_done(id)?;
            StoreResult::Written
        }
        StoreOp::Retry {
            id,
            error,
            next_attempt_at,
        } => {
            session.outbox_retry(id, &error, &next_attempt_at)?;
            StoreResult::Written
        }
        StoreOp::Failed { id, error } => {
            session.outbox_failed(id, &error)?;
            StoreResult::Written
        }
    })
}

/// Drive `machine` through one run against the portal and the store. Store errors
/// end the run with an error; portal trouble ends up in the report.
/// `progress` is called after every step (for the UI).
pub async fn run(
    api: &impl SubmissionApi,
    session: &mut impl SyncStore,
    sub: &Subscriber,
    machine: &mut Machine,
    progress: impl FnMut(Progress),
) -> Result<(RunReport, Option<ClientError>), SyncError> {
    run_with(api, session, sub, Default::default(), machine, progress).await
}

/// [`run`] with the ways out besides the portal: the town's SMTP relay for answers
/// by e-mail, its BPKI key pair for answers to BundID mailboxes.
pub async fn run_with(
    api: &impl SubmissionApi,
    session: &mut impl SyncStore,
    sub: &Subscriber,
    channels: crate::bundid::Channels<'_>,
    machine: &mut Machine,
    mut progress: impl FnMut(Progress),
) -> Result<(RunReport, Option<ClientError>), SyncError> {
    let mut staged = std::collections::HashMap::new();
    for (id, bytes) in session.staged()? {
        match serde_json::from_slice::<Bundle>(&bytes) {
            Ok(b) => {
                staged.insert(b.submission.submission_id, b);
            }
            Err(e) => {
                tracing::warn!("Vorabruf {id} unlesbar, wird neu abgerufen: {e}");
                session.unstage(&id)?;
            }
        }
    }
    // Keys to check staged bundles with: live (and pinned for runs without the
    // portal), or pinned by an earlier run.
    let (trusted_jwks, jwks_live) = match api.jwks().await {
        Ok(jwks) => {
            if let Ok(json) = serde_json::to_string(&jwks) {
                session.pin_jwks(&json)?;
            }
            (Some(jwks), true)
        }
        Err(_) => (
            session
                .pinned_jwks()?
                .and_then(|j| serde_json::from_str(&j).ok()),
            false,
        ),
    };
    let remote = Remote {
        api,
        sub,
        channels,
        reply_keys: Default::default(),
        staged,
        trusted_jwks,
        jwks_live,
    };
    // The documents of the submissions ahead are written into the vault on the
    // blocking pool too; the store's writer then only commits.
    let writer = session.blob_writer()?;
    let mut prepared: std::collections::HashMap<Uuid, Vec<store::PreparedBlob>> =
        Default::default();
    let mut ahead = Ahead::default();
    let mut last_error = None;
    let mut input = Input::Start {
        now: jiff::Timestamp::now(),
    };
    loop {
        let effect = machine.handle(input);
        progress(machine.progress());
        input = match effect {
            Effect::Finished(report) => return Ok((report, last_error)),
            Effect::Call(Call::Fetch(l)) => {
                // This one and the next few are fetched and opened at once; the
                // machine still gets every answer in its own order.
                for next in std::iter::once(l).chain(machine.upcoming().take(FETCH_AHEAD).copied())
                {
                    if ahead.wants(next.submission_id) {
                        ahead.start(
                            next.submission_id,
                            remote.fetch_prepared(next, writer.clone()),
                        );
                    }
                }
                let answer = ahead.take(l.submission_id).await.map(|(fetched, blobs)| {
                    if let Some(blobs) = blobs {
                        prepared.insert(l.submission_id, blobs);
                    }
                    Answer::Fetched(fetched)
                });
                if let Err(e) = &answer {
                    last_error = Some(e.clone());
                }
                Input::Portal(answer)
            }
            Effect::Call(call) => {
                let answer = remote.call(session, call).await;
                if let Err(e) = &answer {
                    last_error = Some(e.clone());
                }
                Input::Portal(answer)
            }
            Effect::Store(StoreOp::StoreSubmission(s)) => {
                let blobs = Uuid::parse_str(&s.submission_id)
                    .ok()
                    .and_then(|id| prepared.remove(&id));
                Input::Store(match blobs {
                    Some(blobs) => session.store_prepared(s, blobs)?,
                    None => session.apply(StoreOp::StoreSubmission(s))?,
                })
            }
            Effect::Store(op) => Input::Store(session.apply(op)?),
        };
    }
}

/// A fetched submission, with its documents already in the vault if there was a
/// writer and it was valid.
type FetchedPrepared = (Fetched, Option<Vec<store::PreparedBlob>>);

/// Write the documents of a valid submission with `writer` on the blocking pool.
/// If that fails (a full disk), the store's writer tries again and reports it.
async fn prepare_documents(
    fetched: Fetched,
    writer: Option<store::BlobWriter>,
) -> Result<FetchedPrepared, ClientError> {
    let (writer, incoming) = match (writer, fetched) {
        (Some(writer), Fetched::Valid(incoming)) => (writer, incoming),
        (_, fetched) => return Ok((fetched, None)),
    };
    let (incoming, blobs) = on_blocking_pool(move || {
        let blobs = incoming
            .documents
            .iter()
            .map(|doc| writer.write(doc.bytes.as_slice()))
            .collect::<Result<Vec<_>, _>>();
        (incoming, blobs)
    })
    .await?;
    Ok(match blobs {
        Ok(blobs) => (Fetched::Valid(incoming), Some(blobs)),
        Err(e) => {
            tracing::warn!("Dokumente vorab nicht abgelegt, der Speicher versucht es selbst: {e}");
            (Fetched::Valid(incoming), None)
        }
    })
}

/// How many submissions are fetched and decrypted ahead of the one being stored.
const FETCH_AHEAD: usize = 4;

/// Fetches running ahead of the machine, and their results until it asks for them.
struct Ahead<F> {
    running: futures_util::stream::FuturesUnordered<F>,
    pending: std::collections::HashSet<Uuid>,
    ready: std::collections::HashMap<Uuid, Result<FetchedPrepared, ClientError>>,
}

impl<F> Default for Ahead<F> {
    fn default() -> Self {
        Ahead {
            running: Default::default(),
            pending: Default::default(),
            ready: Default::default(),
        }
    }
}

impl<F> Ahead<F>
where
    F: std::future::Future<Output = (Uuid, Result<FetchedPrepared, ClientError>)>,
{
    /// Not under way and not waiting to be taken.
    fn wants(&self, id: Uuid) -> bool {
        !self.pending.contains(&id) && !self.ready.contains_key(&id)
    }

    fn start(&mut self, id: Uuid, fetch: F) {
        self.pending.insert(id);
        self.running.push(fetch);
    }

    /// The result for `id`, driving every fetch under way until it is there.
    async fn take(&mut self, id: Uuid) -> Result<FetchedPrepared, ClientError> {
        use futures_util::StreamExt;
        loop {
            if let Some(result) = self.ready.remove(&id) {
                return result;
            }
            match self.running.next().await {
                Some((done, result)) => {
                    self.pending.remove(&done);
                    self.ready.insert(done, result);
                }
                None => {
                    return Err(ClientError::Invalid(
                        "Interner Ablauffehler: Abruf nicht begonnen".into(),
                    ));
                }
            }
        }
    }
}

async fn run_mode(
    api: &impl SubmissionApi,
    session: &mut Session,
    sub: &Subscriber,
    mode: Mode,
    policy: &PushPolicy,
    tracker: &mut ConnectivityTracker,
) -> Result<RunReport, SyncError> {
    let mut machine = Machine::randomly_seeded(mode, policy.clone());
    machine.set_tracker(tracker.clone());
    let (report, last_error) = run(api, session, sub, &mut machine, |_| {}).await?;
    *tracker = machine.tracker().clone();
    match (&report.problem, last_error) {
        (Some(_), Some(e)) => Err(SyncError::from(e)),
        _ => Ok(report),
    }
}

/// Pick up everything that is waiting: unknown submissions are fetched, verified and
/// stored with their accept queued (one transaction each); invalid ones go to the
/// quarantine with their reject queued. Known ones are skipped (dedupe).
pub async fn pull(
    api: &impl SubmissionApi,
    session: &mut Session,
    sub: &Subscriber,
    tracker: &mut ConnectivityTracker,
) -> Result<RunReport, SyncError> {
    run_mode(
        api,
        session,
        sub,
        Mode::PullOnly,
        &PushPolicy::default(),
        tracker,
    )
    .await
}

/// Deliver every due outbox item once; each is marked done only after the portal
/// confirmed it; a 409 is resolved through the case's event log.
pub async fn push(
    api: &impl SubmissionApi,
    session: &mut Session,
    sub: &Subscriber,
    policy: &PushPolicy,
    tracker: &mut ConnectivityTracker,
) -> Result<RunReport, SyncError> {
    run_mode(api, session, sub, Mode::PushOnly, policy, tracker).await
}
