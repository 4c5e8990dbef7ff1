//! Office mode at work: this desk's replica of the Rathaus-Server's record.
//!
//! A clerk's step is checked against the replica with the server's own rules
//! (`office::rules`), stored in the upload queue inside the encrypted store, and
//! only then reported done – with or without the server. A synchronisation sends
//! the queue in order (each command under its idempotency key, so a resend after
//! a lost answer is applied once) and then reads the feed from the stored cursor.
//! A command the server refuses becomes a conflict with its German reason; nothing
//! is overwritten silently. Notes and reasons are sealed to the `fall` kind key
//! before they leave this module.

use std::collections::BTreeMap;

use serde::Serialize;
use ts_rs::TS;
use uuid::Uuid;

use domain::{CaseState, Permission, Role};
use office::keyring::{self, KeyKind};
use office::protocol::{Command, CommandBody, FeedPage, Outcome, Step};
use office::replica::Replica;
use office::rules;

use crate::background::Shared;
use crate::office::{Connection, client, invalid, refusal, runtime, unreachable};
use crate::{AppError, ErrorCode, Workstation};

pub(crate) mod views;

/// Setting: the kinds' public recipients, so that notes can be sealed offline.
pub(crate) const RECIPIENTS: &str = "buero.empfaenger";
/// What the server can send for letters (`office::protocol::Versand` as JSON).
pub(crate) const VERSAND: &str = "buero.versand";
/// The workstation id whose server holds this desk's deposit.
pub(crate) const DEPOSITED: &str = "buero.hinterlegt";
/// The server's counter of Kassenzeichen numbers (leased in blocks).
pub(crate) const KASSENZEICHEN: &str = "kassenzeichen";

/// Feed positions asked for per request.
const FEED_PAGE: i64 = 500;

/// What a synchronisation with the Rathaus-Server did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OfficeSync {
    /// The server answered (else everything stays queued for the next time).
    pub reachable: bool,
    /// Commands the server applied now.
    pub applied: u32,
    /// Commands the server refused now (they are conflicts now).
    pub refused: u32,
    /// Feed entries received.
    pub received: u32,
    /// Commands still waiting (the server went away in between).
    pub waiting: u32,
    /// Conflicts not yet dealt with.
    pub conflicts: u32,
    /// The feed position this desk has read up to.
    pub position: i64,
    /// Local accounts brought in line with the server (removed, role changed).
    pub users_changed: u32,
}

/// A case in this desk's view (the server's state with the own waiting steps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OfficeCase {
    pub id: String,
    pub file_number: String,
    pub case_type: String,
    pub state: CaseState,
    pub assignee: Option<String>,
    pub checklist_complete: bool,
    /// The server's version of the case.
    pub version: i64,
    /// Steps of this desk the server has not confirmed yet.
    pub waiting: u32,
}

/// A refused command, for the Konflikte list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OfficeConflict {
    pub seq: i64,
    pub at: String,
    pub file_number: String,
    /// "Bearbeitungsschritt", "Notiz", …
    pub what: String,
    /// The server's German reason.
    pub reason: String,
    /// The case's state when the refusal came (if this user still sees it).
    pub state_now: Option<CaseState>,
    pub assignee_now: Option<String>,
}

/// A note as the clerk reads it (opened with the `fall` key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OfficeNote {
    pub author: String,
    pub at: String,
    pub text: String,
}

/// One entry of a case's history (no content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OfficeEvent {
    pub kind: String,
    pub actor: String,
    pub at: String,
    pub from_state: Option<CaseState>,
    pub to_state: Option<CaseState>,
}

/// A document of an application, as listed in the case content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OfficeDocumentInfo {
    pub kind: String,
    pub filename: Option<String>,
    pub mime_type: String,
    pub size: u64,
}

/// A case opened at the desk: the server's metadata, the content opened with the
/// case key, the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OfficeCaseDetail {
    pub case: OfficeCase,
    pub channel: String,
    pub received_at: String,
    pub applicant: Option<String>,
    pub service: Option<String>,
    pub documents: Vec<OfficeDocumentInfo>,
    pub history: Vec<OfficeEvent>,
}

/// A document fetched from the server and opened (personal data: never log it).
#[derive(Clone, PartialEq, Eq)]
pub struct OfficeDocument {
    pub kind: String,
    pub filename: Option<String>,
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for OfficeDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfficeDocument")
            .field("kind", &self.kind)
            .field("mime_type", &self.mime_type)
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// The case content of an online application as the server sealed it.
#[derive(Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OnlineContent {
    pub applicant: Option<String>,
    pub service: Option<String>,
    /// The FIT-Connect case (online applications only).
    #[serde(default)]
    pub fc_case_id: Option<String>,
    #[serde(default)]
    pub documents: Vec<OfficeDocumentInfo>,
}

/// One document as the server sealed it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SealedDocumentBody {
    kind: String,
    filename: Option<String>,
    mime_type: String,
    data: String,
}

fn expired() -> AppError {
    AppError::new(
        ErrorCode::Forbidden,
        "Die Anmeldung am Rathaus-Server ist abgelaufen. Bitte melden Sie sich dort erneut an; wartende Schritte bleiben erhalten.",
    )
}

/// One request's failure: unreachable (try later, keep everything), the session
/// expired, or refused outright.
enum Failure {
    Away(AppError),
    Expired,
    Refused(AppError),
}

/// A request's answer: the server away, the session ended, a refusal, or `T`
/// (`unreadable` when the answer does not parse).
async fn answer<T: serde::de::DeserializeOwned>(
    sent: reqwest::Result<reqwest::Response>,
    c: &Connection,
    unreadable: &str,
) -> Result<T, Failure> {
    let resp = sent.map_err(|e| Failure::Away(unreachable(&c.url, e)))?;
    if resp.status().as_u16() == 401 {
        return Err(Failure::Expired);
    }
    if !resp.status().is_success() {
        return Err(Failure::Refused(refusal(resp).await));
    }
    resp.json()
        .await
        .map_err(|_| Failure::Refused(invalid(unreadable)))
}

async fn send(
    http: &reqwest::Client,
    c: &Connection,
    token: &str,
    command: &Command,
) -> Result<Outcome, Failure> {
    let sent = http
        .post(format!("{}/v1/befehle", c.url))
        .bearer_auth(token)
        .json(command)
        .send()
        .await;
    answer(
        sent,
        c,
        "Die Antwort des Rathaus-Servers auf einen Befehl ist unlesbar.",
    )
    .await
}

/// The server's greeting (what it can send for letters).
async fn hello(
    http: &reqwest::Client,
    c: &Connection,
    token: &str,
) -> Result<office::protocol::Hello, Failure> {
    let sent = http
        .get(format!("{}/v1/hallo", c.url))
        .bearer_auth(token)
        .send()
        .await;
    answer(sent, c, "Die Antwort des Rathaus-Servers ist unlesbar.").await
}

async fn page(
    http: &reqwest::Client,
    c: &Connection,
    token: &str,
    after: i64,
) -> Result<FeedPage, Failure> {
    let sent = http
        .get(format!("{}/v1/feed", c.url))
        .query(&[("nach", after), ("anzahl", FEED_PAGE)])
        .bearer_auth(token)
        .send()
        .await;
    answer(
        sent,
        c,
        "Die Änderungsliste des Rathaus-Servers ist unlesbar.",
    )
    .await
}

/// Below this many numbers in stock a desk leases a new block of [`NUMBERS_BLOCK`].
const NUMBERS_LOW: i64 = 10;
const NUMBERS_BLOCK: i64 = 50;

fn this_year() -> i16 {
    jiff::Zoned::now().year()
}

/// The server's counter for paper applications of a year.
pub(crate) fn paper_counter(year: i16) -> String {
    format!("papier-{year:04}")
}

/// The Aktenzeichen of a paper application with number `n` of the leased blocks.
pub(crate) fn paper_file_number(year: i16, n: i64) -> String {
    format!("PA-{year:04}-{n:06}")
}

async fn lease(
    http: &reqwest::Client,
    c: &Connection,
    token: &str,
    counter: &str,
) -> Result<office::protocol::LeaseResponse, Failure> {
    let sent = http
        .post(format!("{}/v1/nummern", c.url))
        .bearer_auth(token)
        .json(&office::protocol::LeaseRequest {
            counter: counter.to_string(),
            count: NUMBERS_BLOCK,
        })
        .send()
        .await;
    answer(
        sent,
        c,
        "Der Nummernblock des Rathaus-Servers ist unlesbar.",
    )
    .await
}

/// Where a synchronisation finds the desk for each store step: the workstation
/// itself, or the app's shared one – locked per step only, never while the network
/// answers.
trait DeskAccess {
    fn step<T>(
        &mut self,
        f: impl FnOnce(&mut Workstation) -> Result<T, AppError>,
    ) -> Result<T, AppError>;
}

struct Direct<'a>(&'a mut Workstation);

impl DeskAccess for Direct<'_> {
    fn step<T>(
        &mut self,
        f: impl FnOnce(&mut Workstation) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        f(self.0)
    }
}

/// The app's shared workstation, and the user the run is for: a logout (or
/// another login) in between ends the run at its next step.
struct Locked<'a> {
    shared: &'a Shared,
    user: domain::UserName,
}

impl DeskAccess for Locked<'_> {
    fn step<T>(
        &mut self,
        f: impl FnOnce(&mut Workstation) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let mut guard = self.shared.lock().map_err(|_| {
            AppError::new(
                ErrorCode::Storage,
                "Interner Fehler: Sperre verloren. Bitte starten Sie die Anwendung neu.",
            )
        })?;
        let ws = guard.as_mut().ok_or_else(AppError::locked)?;
        if ws.me()? != self.user {
            return Err(AppError::locked());
        }
        f(ws)
    }
}

/// A synchronisation with the Rathaus-Server, prepared under the lock.
struct SyncJob {
    user: domain::UserName,
    token: String,
    c: Connection,
    http: reqwest::Client,
}

impl SyncJob {
    fn run(&self, desk: &mut impl DeskAccess) -> Result<OfficeSync, AppError> {
        let rt = runtime()?;
        match self.steps(&rt, desk) {
            Ok(mut summary) => {
                let (waiting, conflicts, position) = desk.step(|ws| {
                    let r = ws.replica_mut()?;
                    Ok((count(r.waiting()), count(r.conflicts.len()), r.cursor))
                })?;
                summary.waiting = waiting;
                summary.conflicts = conflicts;
                summary.position = position;
                Ok(summary)
            }
            Err(Failure::Expired) => {
                desk.step(|ws| {
                    ws.office.token = None;
                    Ok(())
                })?;
                Err(expired())
            }
            Err(Failure::Away(e) | Failure::Refused(e)) => Err(e),
        }
    }

    fn steps(
        &self,
        rt: &tokio::runtime::Runtime,
        desk: &mut impl DeskAccess,
    ) -> Result<OfficeSync, Failure> {
        let (http, c, token) = (&self.http, &self.c, self.token.as_str());
        let mut summary = OfficeSync::default();
        loop {
            let front = desk
                .step(|ws| Ok(ws.replica_mut()?.queue.front().cloned()))
                .map_err(Failure::Refused)?;
            let Some(command) = front else { break };
            let outcome = match rt.block_on(send(http, c, token, &command)) {
                Ok(o) => o,
                // The server is away: the rest waits for the next synchronisation.
                Err(Failure::Away(_)) => return Ok(summary),
                Err(other) => return Err(other),
            };
            summary.reachable = true;
            match &outcome {
                Outcome::Applied {
                    version, position, ..
                } => {
                    tracing::debug!(
                        "Befehl {} {} angewandt: Version {version}, Position {position}",
                        command.body.label(),
                        command.key
                    );
                    summary.applied += 1
                }
                Outcome::Refused { refusal, .. } => {
                    tracing::debug!(
                        "Befehl {} {} abgelehnt ({:?})",
                        command.body.label(),
                        command.key,
                        refusal.kind
                    );
                    summary.refused += 1
                }
            }
            desk.step(|ws| {
                ws.with_replica(|s, r| Ok(s.replica_answer(r, command.key, &outcome)?))
            })
            .map_err(Failure::Refused)?;
        }
        // Documents of cases this desk created, once the server has the case.
        let uploads = desk
            .step(|ws| Ok(ws.session_with(Permission::RunSync)?.office_uploads()?))
            .map_err(Failure::Refused)?;
        for u in uploads {
            let Ok(case_id) = Uuid::parse_str(&u.case_id) else {
                continue;
            };
            let body = desk
                .step(|ws| {
                    let queued = ws
                        .replica_mut()?
                        .queue
                        .iter()
                        .any(|c| c.body.case_id() == case_id);
                    if queued {
                        return Ok(None);
                    }
                    let mut bytes = Vec::new();
                    {
                        let s = ws.session_with(Permission::RunSync)?;
                        let blob = store::BlobId::parse(&u.blob_id)?;
                        std::io::Read::read_to_end(&mut s.open_blob(&blob)?, &mut bytes)
                            .map_err(|e| invalid(format!("Dokument {}: {e}", u.key)))?;
                    }
                    use base64::Engine as _;
                    let json = serde_json::json!({
                        "kind": u.kind,
                        "filename": u.filename,
                        "mimeType": u.mime_type,
                        "data": base64::engine::general_purpose::STANDARD.encode(&bytes),
                    });
                    Ok(Some(
                        ws.seal_document_for_scans(json.to_string().as_bytes())?,
                    ))
                })
                .map_err(Failure::Refused)?;
            let Some(body) = body else { continue };
            let sent = rt.block_on(async {
                let sent = http
                    .post(format!("{}/v1/dokumente/neu", c.url))
                    .query(&[("fall", case_id.to_string()), ("dokument", u.key.clone())])
                    .bearer_auth(token)
                    .header("content-type", "application/octet-stream")
                    .body(body)
                    .send()
                    .await;
                answer::<bool>(sent, c, "Die Antwort des Rathaus-Servers ist unlesbar.").await
            });
            match sent {
                Ok(_) => desk
                    .step(|ws| {
                        Ok(ws
                            .session_with_mut(Permission::RunSync)?
                            .office_upload_done(u.seq)?)
                    })
                    .map_err(Failure::Refused)?,
                Err(Failure::Away(_)) => return Ok(summary),
                Err(Failure::Expired) => return Err(Failure::Expired),
                // Refused (the case was refused, say): it stays queued and is
                // named in the log; the conflict tells the clerk.
                Err(Failure::Refused(e)) => {
                    tracing::warn!("Dokument {} nicht angenommen: {}", u.key, e.message);
                }
            }
        }
        loop {
            let cursor = desk
                .step(|ws| Ok(ws.replica_mut()?.cursor))
                .map_err(Failure::Refused)?;
            let p = match rt.block_on(page(http, c, token, cursor)) {
                Ok(p) => p,
                Err(Failure::Away(_)) => return Ok(summary),
                Err(other) => return Err(other),
            };
            summary.reachable = true;
            summary.received += count(p.items.len());
            tracing::debug!(
                "Änderungsliste nach {cursor}: {} Einträge {:?}, weiter ab {}",
                p.items.len(),
                p.items.iter().map(|i| i.position()).collect::<Vec<_>>(),
                p.next
            );
            let users: Vec<office::protocol::UserEntry> = p
                .items
                .iter()
                .filter_map(|i| match i {
                    office::FeedItem::User { user, .. } => Some(user.clone()),
                    _ => None,
                })
                .collect();
            let changed = desk
                .step(|ws| {
                    ws.with_replica(|s, r| {
                        s.replica_apply_page(r, &p)?;
                        Ok(if users.is_empty() {
                            0
                        } else {
                            s.apply_server_users(&users)?.len()
                        })
                    })
                })
                .map_err(Failure::Refused)?;
            summary.users_changed += count(changed);
            if !p.more {
                break;
            }
        }
        // The desk's deposit at the server (so that users new there can log in
        // here), once per enrolment; and its connection for logins before any
        // session.
        let deposit = desk
            .step(|ws| {
                if !ws.has_pre_login() {
                    ws.write_pre_login(c)?;
                }
                let done = ws.session_with(Permission::RunSync)?.setting(DEPOSITED)?;
                if ws.store.has_escrow() && done.as_deref() == Some(c.id().as_str()) {
                    return Ok(None);
                }
                Ok(Some(
                    ws.session_with_mut(Permission::RunSync)?
                        .deposit_for_server()?,
                ))
            })
            .map_err(Failure::Refused)?;
        if let Some(identity) = deposit {
            use age::secrecy::ExposeSecret;
            let body = office::protocol::DeskDeposit {
                schluessel: identity.expose_secret().to_string(),
            };
            let sent = rt.block_on(async {
                let sent = http
                    .post(format!("{}/v1/arbeitsplatz/schluessel", c.url))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await;
                answer::<()>(sent, c, "Die Antwort des Rathaus-Servers ist unlesbar.").await
            });
            match sent {
                Ok(()) => desk
                    .step(|ws| {
                        Ok(ws
                            .session_with_mut(Permission::RunSync)?
                            .set_setting(DEPOSITED, &c.id())?)
                    })
                    .map_err(Failure::Refused)?,
                Err(Failure::Away(_)) => return Ok(summary),
                Err(other) => return Err(other),
            }
        }
        // What the server can send for letters (kept for offline work).
        match rt.block_on(hello(http, c, token)) {
            Ok(h) => {
                let json = serde_json::to_string(&h.versand).unwrap_or_default(); // plain data
                desk.step(|ws| {
                    let s = ws.session_with_mut(Permission::RunSync)?;
                    if s.setting(VERSAND)?.as_deref() != Some(json.as_str()) {
                        s.set_setting(VERSAND, &json)?;
                    }
                    Ok(())
                })
                .map_err(Failure::Refused)?;
            }
            Err(Failure::Away(_)) => return Ok(summary),
            Err(other) => return Err(other),
        }
        // A desk that takes in paper keeps Aktenzeichen in stock for offline work,
        // a caseworker's desk Kassenzeichen for the fees of its letters.
        for (counter, permission) in [
            (paper_counter(this_year()), Permission::ScanIntake),
            (KASSENZEICHEN.to_string(), Permission::EditCases),
        ] {
            let low = desk
                .step(|ws| {
                    if !ws.replica_mut()?.actor.role.may(permission) {
                        return Ok(false);
                    }
                    let s = ws.session_with(Permission::RunSync)?;
                    Ok(s.office_numbers_left(&counter)? < NUMBERS_LOW)
                })
                .map_err(Failure::Refused)?;
            if !low {
                continue;
            }
            match rt.block_on(lease(http, c, token, &counter)) {
                Ok(block) => desk
                    .step(|ws| {
                        Ok(ws
                            .session_with_mut(Permission::RunSync)?
                            .office_add_numbers(&counter, block.first, block.last)?)
                    })
                    .map_err(Failure::Refused)?,
                Err(Failure::Away(_)) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(summary)
    }
}

/// Synchronise the app's shared workstation with the Rathaus-Server, holding its
/// lock only for the store steps. `None` when nobody is signed in at a server.
pub fn office_sync_shared(shared: &Shared) -> Result<Option<OfficeSync>, AppError> {
    let job = {
        let mut guard = shared.lock().map_err(|_| {
            AppError::new(
                ErrorCode::Storage,
                "Interner Fehler: Sperre verloren. Bitte starten Sie die Anwendung neu.",
            )
        })?;
        let Some(ws) = guard.as_mut() else {
            return Ok(None);
        };
        if ws.session.is_none() || !ws.office_signed_in() {
            return Ok(None);
        }
        ws.office_sync_job()?
    };
    let mut desk = Locked {
        shared,
        user: job.user.clone(),
    };
    job.run(&mut desk).map(Some)
}

impl Workstation {
    fn office_token(&self) -> Result<String, AppError> {
        self.office.token.clone().ok_or_else(|| {
            AppError::new(
                ErrorCode::Forbidden,
                "Nicht am Rathaus-Server angemeldet. Bitte zuerst anmelden („amtsstube buero anmelden“).",
            )
        })
    }

    /// The replica of this login, loaded from the store (or begun) on first use.
    /// Without the server (offline) the stored replica is used as it is.
    pub(crate) fn replica_mut(&mut self) -> Result<&mut Replica, AppError> {
        if self.office.replica.is_none() {
            let stored = self.session_with(Permission::RunSync)?.replica_role()?;
            let role = self.office.role.or(stored).ok_or_else(|| {
                invalid("Dieser Benutzer war an diesem Arbeitsplatz noch nie am Rathaus-Server angemeldet.")
            })?;
            let session = self.session_with_mut(Permission::RunSync)?;
            let replica = match session.replica_load(role)? {
                Some(r) => r,
                None => session.replica_reset(role)?,
            };
            self.office.replica = Some(replica);
        }
        self.office
            .replica
            .as_mut()
            .ok_or_else(|| invalid("Das Replikat fehlt."))
    }

    /// Send the waiting commands in order, then read the feed to its end. Stops
    /// quietly where the server goes away (everything stays queued); an expired
    /// server session ends the sign-in and says so.
    pub fn office_sync(&mut self) -> Result<OfficeSync, AppError> {
        let job = self.office_sync_job()?;
        job.run(&mut Direct(self))
    }

    /// What a synchronisation needs, read under the lock.
    fn office_sync_job(&mut self) -> Result<SyncJob, AppError> {
        let token = self.office_token()?;
        let c = self.connection()?.ok_or_else(|| {
            invalid("Dieser Arbeitsplatz ist an keinen Rathaus-Server angeschlossen.")
        })?;
        let http = client(&c.ca_pem, Some((&c.cert_pem, &c.key_pem)))?;
        self.replica_mut()?;
        Ok(SyncJob {
            user: self.me()?,
            token,
            c,
            http,
        })
    }

    /// The replica taken out for a store step, put back afterwards.
    fn with_replica<T>(
        &mut self,
        f: impl FnOnce(&mut store::Session, &mut Replica) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        self.replica_mut()?;
        let mut replica = self
            .office
            .replica
            .take()
            .ok_or_else(|| invalid("Das Replikat fehlt."))?;
        let result = self
            .session_with_mut(Permission::RunSync)
            .and_then(|s| f(s, &mut replica));
        self.office.replica = Some(replica);
        result
    }

    /// Check a step against this desk's view with the server's rules and queue it.
    pub(crate) fn office_act(&mut self, body: CommandBody) -> Result<Uuid, AppError> {
        let replica = self.replica_mut()?;
        let command = Command {
            key: Uuid::new_v4(),
            body,
        };
        let current = replica.view(command.body.case_id());
        let role_of = |name: &str| replica.users.get(name).map(|u| u.role);
        rules::decide(&replica.actor, current.as_ref(), &command, "", &role_of)
            .map_err(|r| AppError::new(ErrorCode::Forbidden, r.reason))?;
        let key = command.key;
        self.with_replica(|s, r| Ok(s.replica_enqueue(r, command)?))?;
        Ok(key)
    }

    /// The case behind an Aktenzeichen or a case id, and its version on this desk.
    pub(crate) fn office_case_id(&mut self, file_number: &str) -> Result<(Uuid, i64), AppError> {
        let replica = self.replica_mut()?;
        let by_id = Uuid::parse_str(file_number.trim())
            .ok()
            .filter(|id| replica.cases.contains_key(id));
        let id = by_id
            .or_else(|| {
                replica
                    .cases
                    .values()
                    .find(|c| c.meta.file_number == file_number.trim())
                    .map(|c| c.meta.id)
            })
            .ok_or_else(|| {
                AppError::new(
                    ErrorCode::NotFound,
                    format!("Einen Vorgang {file_number} gibt es an diesem Arbeitsplatz nicht."),
                )
            })?;
        let version = replica.view(id).map(|m| m.version).unwrap_or_default();
        Ok((id, version))
    }

    pub(crate) fn seal_for_cases(&self, text: &str) -> Result<office::Ciphertext, AppError> {
        self.seal_for_kinds(text, &[KeyKind::Fall])
    }

    /// Seal a document (no size limit) to the case key and the scan key.
    pub(crate) fn seal_document_for_scans(&self, bytes: &[u8]) -> Result<Vec<u8>, AppError> {
        let recipients = self.recipients_for(&[KeyKind::Fall, KeyKind::Scan])?;
        let refs: Vec<&str> = recipients.iter().map(String::as_str).collect();
        keyring::seal_document(bytes, &refs)
            .map_err(|r| AppError::new(ErrorCode::InvalidInput, r.reason))
    }

    /// The case key's recipient and, where they exist, the other kinds'.
    fn recipients_for(&self, kinds: &[KeyKind]) -> Result<Vec<String>, AppError> {
        let stored = self
            .session_with(Permission::RunSync)?
            .setting(RECIPIENTS)?
            .and_then(|json| serde_json::from_str::<BTreeMap<KeyKind, String>>(&json).ok())
            .unwrap_or_default();
        let known = |k: &KeyKind| self.office.recipients.get(k).or_else(|| stored.get(k));
        let fall = known(&KeyKind::Fall).ok_or_else(|| {
            invalid("Es gibt noch keinen Schlüssel für Fallinhalte: Die Leitung muss sich einmal am Rathaus-Server anmelden.")
        })?;
        let mut recipients = vec![fall.clone()];
        for k in kinds.iter().filter(|k| **k != KeyKind::Fall) {
            if let Some(r) = known(k) {
                recipients.push(r.clone());
            }
        }
        Ok(recipients)
    }

    /// Seal to the case key and, where it exists, the other kinds' keys.
    fn seal_for_kinds(
        &self,
        text: &str,
        kinds: &[KeyKind],
    ) -> Result<office::Ciphertext, AppError> {
        let recipients = self.recipients_for(kinds)?;
        let refs: Vec<&str> = recipients.iter().map(String::as_str).collect();
        keyring::seal(text.as_bytes(), &refs)
            .map_err(|r| AppError::new(ErrorCode::InvalidInput, r.reason))
    }

    /// A processing step on a case (office mode), with an optional reason that
    /// travels encrypted. Returns the command's key.
    pub fn office_step(
        &mut self,
        file_number: &str,
        step: Step,
        reason: Option<&str>,
    ) -> Result<Uuid, AppError> {
        let (case_id, based_on) = self.office_case_id(file_number)?;
        // A decision's reason travels with its result (the Bescheid needs both).
        let text = match (&step, reason.filter(|r| !r.trim().is_empty())) {
            (Step::Entscheiden { ergebnis }, Some(r)) => {
                Some(serde_json::json!({ "ergebnis": ergebnis, "begruendung": r }).to_string())
            }
            (_, r) => r.map(str::to_owned),
        };
        let content = text.map(|r| self.seal_for_cases(&r)).transpose()?;
        self.office_act(CommandBody::Transition {
            case_id,
            based_on,
            step,
            content,
        })
    }

    /// A paper application taken in at the scanning desk becomes a case on the
    /// shared record: an Aktenzeichen from the leased block (works offline), the
    /// content sealed to the case key (and the scan key), queued as a command.
    pub fn office_paper_case(
        &mut self,
        case_type: &str,
        applicant: &str,
    ) -> Result<String, AppError> {
        if case_type.trim().is_empty() || applicant.trim().is_empty() {
            return Err(invalid(
                "Ein Papiereingang braucht Vorgangsart und Antragsteller/in.",
            ));
        }
        let role = self.replica_mut()?.actor.role;
        if !role.may(Permission::ScanIntake) {
            return Err(AppError::new(
                ErrorCode::Forbidden,
                format!("Die Rolle „{}“ nimmt keine Papieranträge an.", role.label()),
            ));
        }
        let year = this_year();
        let number = self
            .session_with_mut(Permission::RunSync)?
            .office_take_number(&paper_counter(year))?
            .ok_or_else(|| {
                invalid("Keine Aktenzeichen mehr vorrätig: Bitte einmal mit dem Rathaus-Server abgleichen.")
            })?;
        let file_number = paper_file_number(year, number);
        let json = serde_json::json!({
            "applicant": applicant.trim(),
            "service": case_type.trim(),
            "documents": [],
        });
        let content = self.seal_for_kinds(&json.to_string(), &[KeyKind::Fall, KeyKind::Scan])?;
        self.office_act(CommandBody::CreateCase {
            case_id: Uuid::new_v4(),
            file_number: file_number.clone(),
            case_type: case_type.trim().to_string(),
            received_at: jiff::Timestamp::now().to_string(),
            content,
        })?;
        Ok(file_number)
    }

    /// A note on a case (office mode): appended, never in conflict.
    pub fn office_note(&mut self, file_number: &str, text: &str) -> Result<Uuid, AppError> {
        if text.trim().is_empty() || text.chars().count() > 10_000 {
            return Err(invalid(
                "Eine Notiz braucht Text (höchstens 10 000 Zeichen).",
            ));
        }
        let (case_id, _) = self.office_case_id(file_number)?;
        let content = self.seal_for_cases(text)?;
        self.office_act(CommandBody::Note { case_id, content })
    }

    /// The way (`email`, `bundid`) and reason of the refused letters of a case not
    /// yet settled by post (the oldest first): the Rathaus-Server's refusals less
    /// the letters posted since, those still waiting in the upload queue included.
    pub(crate) fn office_refused_mails(
        &mut self,
        case_id: Uuid,
    ) -> Result<Vec<(String, String)>, AppError> {
        let events = self.office_events(case_id)?;
        let queued = self
            .replica_mut()?
            .queue
            .iter()
            .filter(
                |c| matches!(&c.body, CommandBody::Posted { case_id: id, .. } if *id == case_id),
            )
            .count();
        // Counted, not paired in order: events of the same second may come in
        // any order.
        let mut refused = Vec::new();
        let mut settled = queued;
        for e in &events {
            match e.kind.as_str() {
                office::rules::MAIL_REFUSED => {
                    let v = e
                        .content
                        .as_ref()
                        .and_then(|c| self.office_open(KeyKind::Fall, c).ok())
                        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                        .unwrap_or_default();
                    let kanal = v["kanal"].as_str().unwrap_or("email").to_owned();
                    let reason = v["grund"]
                        .as_str()
                        .unwrap_or("ohne Angabe des Grundes")
                        .to_owned();
                    refused.push((kanal, reason));
                }
                office::rules::POSTED => settled += 1,
                _ => {}
            }
        }
        Ok(refused.into_iter().skip(settled).collect())
    }

    /// A letter whose e-mail was refused went by post (office mode): recorded with
    /// the posting date, sealed to the case key; refused when no refusal is open.
    pub fn office_posted(&mut self, file_number: &str) -> Result<Uuid, AppError> {
        let (case_id, _) = self.office_case_id(file_number)?;
        if self.office_refused_mails(case_id)?.is_empty() {
            return Err(invalid(
                "Für diesen Vorgang ist keine abgelehnte E-Mail offen.",
            ));
        }
        let detail = serde_json::json!({
            "kanal": "post",
            "grund": "elektronisch nicht zugestellt",
            "aufgegeben": crate::casework::today().to_string(),
        });
        let content = self.seal_for_cases(&detail.to_string())?;
        self.office_act(CommandBody::Posted { case_id, content })
    }

    /// Extend the statutory period once (office mode): the reasons sealed to the case
    /// key, the server applies it once for an open case. Whether the period still runs
    /// is checked by the caller (`Workstation::extend_deadline`).
    pub fn office_extend(&mut self, file_number: &str, reason: &str) -> Result<Uuid, AppError> {
        let (case_id, based_on) = self.office_case_id(file_number)?;
        let content = self.seal_for_cases(reason.trim())?;
        self.office_act(CommandBody::Extend {
            case_id,
            based_on,
            content,
        })
    }

    /// Assign a case (office mode); `None` gives it back to the team.
    pub fn office_assign(&mut self, file_number: &str, to: Option<&str>) -> Result<Uuid, AppError> {
        let (case_id, based_on) = self.office_case_id(file_number)?;
        self.office_act(CommandBody::Assign {
            case_id,
            based_on,
            to: to.map(str::to_string),
        })
    }

    /// Tick the completeness checklist of a case as done (or not).
    pub fn office_checklist(
        &mut self,
        file_number: &str,
        complete: bool,
    ) -> Result<Uuid, AppError> {
        let (case_id, based_on) = self.office_case_id(file_number)?;
        self.office_act(CommandBody::Checklist {
            case_id,
            based_on,
            complete,
        })
    }

    /// The cases this user sees, as this desk holds them (newest receipt first).
    pub fn office_cases(&mut self) -> Result<Vec<OfficeCase>, AppError> {
        let replica = self.replica_mut()?;
        let mut out: Vec<OfficeCase> = replica
            .cases
            .keys()
            .filter_map(|id| replica.view(*id))
            .map(|m| OfficeCase {
                id: m.id.to_string(),
                waiting: count(
                    replica
                        .queue
                        .iter()
                        .filter(|c| c.body.case_id() == m.id)
                        .count(),
                ),
                file_number: m.file_number,
                case_type: m.case_type,
                state: m.state,
                assignee: m.assignee,
                checklist_complete: m.checklist_complete,
                version: m.version,
            })
            .collect();
        out.sort_by(|a, b| b.file_number.cmp(&a.file_number));
        Ok(out)
    }

    /// The notes on a case the server confirmed, opened with this login's keys.
    pub fn office_notes(&mut self, file_number: &str) -> Result<Vec<OfficeNote>, AppError> {
        let (case_id, _) = self.office_case_id(file_number)?;
        let events: Vec<office::Event> = self
            .office
            .replica
            .as_ref()
            .and_then(|r| r.cases.get(&case_id))
            .map(|c| {
                c.events
                    .values()
                    .filter(|e| e.kind == "notiz")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut notes = Vec::new();
        for e in events {
            let Some(content) = &e.content else { continue };
            let text = self.office_open(KeyKind::Fall, content)?;
            notes.push(OfficeNote {
                author: e.actor.clone(),
                at: e.at.clone(),
                text: String::from_utf8_lossy(&text).into_owned(),
            });
        }
        notes.sort_by(|a, b| a.at.cmp(&b.at));
        Ok(notes)
    }

    /// A case as this desk holds it, its content opened with the case key (needs
    /// the sign-in at the server for the key; works offline after it).
    pub fn office_case(&mut self, file_number: &str) -> Result<OfficeCaseDetail, AppError> {
        let summary = self
            .office_cases()?
            .into_iter()
            .find(|c| c.file_number == file_number.trim())
            .ok_or_else(|| {
                AppError::new(
                    ErrorCode::NotFound,
                    format!("Einen Vorgang {file_number} gibt es an diesem Arbeitsplatz nicht."),
                )
            })?;
        let id = Uuid::parse_str(&summary.id).map_err(|_| invalid("Ungültige Kennung."))?;
        let (channel, received_at, history) = {
            let replica = self.replica_mut()?;
            let case = replica
                .cases
                .get(&id)
                .ok_or_else(|| invalid("Der Vorgang fehlt im Replikat."))?;
            let history: Vec<OfficeEvent> = in_order(case.events.values().cloned().collect())
                .into_iter()
                .map(|e| OfficeEvent {
                    kind: e.kind.clone(),
                    actor: e.actor.clone(),
                    at: e.at.clone(),
                    from_state: e.from_state,
                    to_state: e.to_state,
                })
                .collect();
            (
                case.meta.channel.clone(),
                case.meta.received_at.clone(),
                history,
            )
        };
        let content = self
            .session_with(Permission::RunSync)?
            .replica_content(id)?;
        let parsed = match content {
            Some(c) => {
                let plain = self.office_open(KeyKind::Fall, &c)?;
                serde_json::from_slice::<OnlineContent>(&plain).ok()
            }
            None => None,
        };
        let (applicant, service, documents) = match parsed {
            Some(p) => (p.applicant, p.service, p.documents),
            None => (None, None, Vec::new()),
        };
        Ok(OfficeCaseDetail {
            case: summary,
            channel,
            received_at,
            applicant,
            service,
            documents,
            history,
        })
    }

    /// The documents of a case, fetched from the server and opened with the case key.
    pub fn office_documents(&mut self, file_number: &str) -> Result<Vec<OfficeDocument>, AppError> {
        let (case_id, _) = self.office_case_id(file_number)?;
        let token = self.office_token()?;
        let c = self.connection()?.ok_or_else(|| {
            invalid("Dieser Arbeitsplatz ist an keinen Rathaus-Server angeschlossen.")
        })?;
        let http = client(&c.ca_pem, Some((&c.cert_pem, &c.key_pem)))?;
        let sealed: Vec<office::protocol::SealedDocument> = runtime()?
            .block_on(async {
                let sent = http
                    .get(format!("{}/v1/dokumente", c.url))
                    .query(&[("fall", case_id.to_string())])
                    .bearer_auth(&token)
                    .send()
                    .await;
                answer(sent, &c, "Die Dokumente des Rathaus-Servers sind unlesbar.").await
            })
            .map_err(|f| match f {
                Failure::Away(e) | Failure::Refused(e) => e,
                Failure::Expired => expired(),
            })?;
        let identity = self.office.kinds.get(&KeyKind::Fall).ok_or_else(|| {
            AppError::new(
                ErrorCode::Forbidden,
                "Mit dieser Anmeldung lassen sich keine Fallinhalte öffnen.",
            )
        })?;
        let mut out = Vec::with_capacity(sealed.len());
        for d in sealed {
            let plain = keyring::open_document(&d.content, identity)
                .map_err(|r| AppError::new(ErrorCode::Forbidden, r.reason))?;
            let body: SealedDocumentBody = serde_json::from_slice(&plain)
                .map_err(|_| invalid(format!("Dokument {} ist beschädigt.", d.id)))?;
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(body.data.as_bytes())
                .map_err(|_| invalid(format!("Dokument {} ist beschädigt.", d.id)))?;
            out.push(OfficeDocument {
                kind: body.kind,
                filename: body.filename,
                mime_type: body.mime_type,
                bytes,
            });
        }
        Ok(out)
    }

    /// The refused commands waiting for the clerk.
    pub fn office_conflicts(&mut self) -> Result<Vec<OfficeConflict>, AppError> {
        // What the case looks like now (after the feed), else when the refusal came.
        let now: BTreeMap<Uuid, office::CaseMeta> = self
            .replica_mut()?
            .cases
            .values()
            .map(|c| (c.meta.id, c.meta.clone()))
            .collect();
        let stored = self
            .session_with(Permission::RunSync)?
            .replica_conflicts()?;
        Ok(stored
            .into_iter()
            .map(|s| {
                let id = s.conflict.command.body.case_id();
                let case = now.get(&id).cloned().or(s.conflict.case_now);
                OfficeConflict {
                    seq: s.seq,
                    at: s.at,
                    file_number: case
                        .as_ref()
                        .map(|m| m.file_number.clone())
                        .unwrap_or_else(|| id.to_string()),
                    what: s.conflict.command.body.label().to_string(),
                    reason: s.conflict.refusal.reason,
                    state_now: case.as_ref().map(|m| m.state),
                    assignee_now: case.and_then(|m| m.assignee),
                }
            })
            .collect())
    }

    /// The clerk has dealt with a conflict (took the server's state, or did the
    /// step again on top of it).
    pub fn office_conflict_done(&mut self, seq: i64) -> Result<(), AppError> {
        self.with_replica(|s, r| Ok(s.replica_conflict_done(r, seq)?))
    }

    /// Do a refused step again on top of the case as it is now: the same step,
    /// based on the version this desk knows now, under a new key – if the rules
    /// allow it now (else a German reason, and the conflict stays). Then the
    /// conflict is done.
    pub fn office_conflict_redo(&mut self, seq: i64) -> Result<Uuid, AppError> {
        let conflict = self
            .session_with(Permission::RunSync)?
            .replica_conflicts()?
            .into_iter()
            .find(|c| c.seq == seq)
            .ok_or_else(|| {
                AppError::new(
                    ErrorCode::NotFound,
                    format!("Einen Konflikt Nr. {seq} gibt es nicht (mehr)."),
                )
            })?
            .conflict;
        let case_id = conflict.command.body.case_id();
        let now = self
            .replica_mut()?
            .view(case_id)
            .map(|m| m.version)
            .ok_or_else(|| {
                AppError::new(
                    ErrorCode::NotFound,
                    "Der Vorgang ist an diesem Arbeitsplatz nicht mehr sichtbar.",
                )
            })?;
        let body = match conflict.command.body {
            CommandBody::Transition {
                case_id,
                step,
                content,
                ..
            } => CommandBody::Transition {
                case_id,
                based_on: now,
                step,
                content,
            },
            CommandBody::Assign { case_id, to, .. } => CommandBody::Assign {
                case_id,
                based_on: now,
                to,
            },
            CommandBody::Checklist {
                case_id, complete, ..
            } => CommandBody::Checklist {
                case_id,
                based_on: now,
                complete,
            },
            CommandBody::Extend {
                case_id, content, ..
            } => CommandBody::Extend {
                case_id,
                based_on: now,
                content,
            },
            note @ (CommandBody::Note { .. } | CommandBody::Posted { .. }) => note,
            CommandBody::CreateCase { .. } => {
                return Err(invalid(
                    "Ein abgelehnter Papiereingang lässt sich nicht wiederholen; bitte neu aufnehmen.",
                ));
            }
            CommandBody::Letter { .. } => {
                return Err(invalid(
                    "Ein abgelehnter Brief wird nicht unverändert wiederholt: Bitte den Brief zum jetzigen Stand des Vorgangs neu erstellen.",
                ));
            }
        };
        let key = self.office_act(body)?;
        self.office_conflict_done(seq)?;
        Ok(key)
    }

    /// The role the server holds for this login (office mode), if signed in.
    pub fn office_role(&self) -> Option<Role> {
        self.office.role
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What `amtsstube buero uebernehmen` moved into the Rathaus-Server.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfficeTakeover {
    /// Cases of this store, and how many of them were new at the server.
    pub cases: u32,
    pub new_cases: u32,
    /// History entries and notes sent with the new cases.
    pub events: u32,
    /// Documents sent (those the server held already are left out).
    pub documents: u32,
    /// Entries of this store's audit chain the server keeps.
    pub audit: u32,
}

impl Workstation {
    /// Move this standalone store into the Rathaus-Server without losing a case,
    /// document, history entry, note or audit entry: each case with its content
    /// and history sealed to the case key, its documents one by one, the audit
    /// chain as it is. Needs a Leitung logged in here and signed in at the server,
    /// and nothing waiting in the outbox (what was queued must have gone out, so
    /// nothing is sent twice). Can be run again after any break: what the server
    /// holds is left out. `progress(done, total)` after each case.
    pub fn office_take_over(
        &mut self,
        mut progress: impl FnMut(u32, u32),
    ) -> Result<OfficeTakeover, AppError> {
        use base64::Engine as _;
        use office::protocol::{
            TakeoverAnswer, TakeoverAuditEntry, TakeoverCase, TakeoverEvent, TakeoverSubmission,
        };
        let token = self.office_token()?;
        let c = self.connection()?.ok_or_else(|| {
            invalid("Dieser Arbeitsplatz ist an keinen Rathaus-Server angeschlossen.")
        })?;
        if self.office.role != Some(Role::Leitung) {
            return Err(AppError::new(
                ErrorCode::Forbidden,
                "Einen Datenbestand übernimmt die Leitung (hier und am Rathaus-Server angemeldet).",
            ));
        }
        let (records, waiting) = {
            let s = self.session_with(Permission::AllCases)?;
            let counts = s.outbox_counts()?;
            (s.all_case_records()?, counts.pending + counts.failed)
        };
        if waiting > 0 {
            return Err(invalid(format!(
                "Im Ausgang warten noch {waiting} Sendung(en): Erst alles versenden (amtsstube sync), dann übernehmen – sonst ginge etwas doppelt oder gar nicht hinaus."
            )));
        }
        let fall = self
            .session_with(Permission::RunSync)?
            .setting(RECIPIENTS)?
            .and_then(|json| serde_json::from_str::<BTreeMap<KeyKind, String>>(&json).ok())
            .and_then(|m| m.get(&KeyKind::Fall).cloned())
            .or_else(|| self.office.recipients.get(&KeyKind::Fall).cloned())
            .ok_or_else(|| {
                invalid("Es gibt noch keinen Schlüssel für Fallinhalte: Die Leitung muss sich einmal am Rathaus-Server anmelden.")
            })?;
        let seal = |bytes: &[u8]| {
            keyring::seal_document(bytes, &[fall.as_str()])
                .map_err(|r| AppError::new(ErrorCode::InvalidInput, r.reason))
        };
        let sealed = |bytes: &[u8]| -> Result<office::Ciphertext, AppError> {
            keyring::seal(bytes, &[fall.as_str()])
                .map_err(|r| AppError::new(ErrorCode::InvalidInput, r.reason))
        };
        let http = client(&c.ca_pem, Some((&c.cert_pem, &c.key_pem)))?;
        let rt = runtime()?;
        let failed = |f: Failure| match f {
            Failure::Away(e) | Failure::Refused(e) => e,
            Failure::Expired => expired(),
        };
        let mut report = OfficeTakeover {
            cases: count(records.len()),
            ..OfficeTakeover::default()
        };
        let cfg = self.casework_config().ok();
        for (n, rec) in records.iter().enumerate() {
            let id = Uuid::parse_str(&rec.id)
                .map_err(|_| invalid(format!("Vorgang {}: Kennung unlesbar.", rec.file_number)))?;
            let (history, notes, documents, submissions, application) = {
                let s = self.session_with(Permission::AllCases)?;
                let metadata = crate::letters::json_document(s, rec, "metadata");
                (
                    s.case_history(&rec.id)?,
                    s.notes(&rec.id)?,
                    s.case_documents(&rec.id)?,
                    s.case_submissions(&rec.id)?,
                    crate::bundid::application_of(metadata.as_ref()),
                )
            };
            // The Statusmonitor's service name, as this desk reported it.
            let statusmonitor = application.map(|application_id| {
                let service = cfg
                    .as_ref()
                    .and_then(|cfg| crate::casework::case_type(cfg, rec))
                    .map(|t| t.name.clone())
                    .unwrap_or_else(|| rec.case_type.clone());
                office::protocol::TakeoverMonitor {
                    application_id,
                    service,
                }
            });
            let state = crate::casework::stored_state(&rec.status)?;
            let content = serde_json::json!({
                "applicant": rec.applicant,
                "service": rec.case_type,
                "caseType": rec.case_type,
                "fcCaseId": rec.fc_case_id,
                "documents": documents.iter().map(|d| serde_json::json!({
                    "kind": d.kind,
                    "filename": d.filename,
                    "mimeType": d.mime_type,
                    "size": d.size,
                })).collect::<Vec<_>>(),
            });
            let mut events = Vec::with_capacity(history.len() + notes.len());
            for h in &history {
                events.push(TakeoverEvent {
                    kind: h.kind.clone(),
                    actor: h.actor.clone(),
                    at: h.at.clone(),
                    from_state: h.from_state.as_deref().and_then(CaseState::parse),
                    to_state: h.to_state.as_deref().and_then(CaseState::parse),
                    content: h
                        .detail
                        .as_deref()
                        .map(|d| sealed(d.as_bytes()))
                        .transpose()?,
                });
            }
            for note in &notes {
                events.push(TakeoverEvent {
                    kind: "notiz".into(),
                    actor: note.author.clone(),
                    at: note.at.clone(),
                    from_state: None,
                    to_state: None,
                    content: Some(sealed(note.text.as_bytes())?),
                });
            }
            let mut subs = Vec::new();
            for (sub, fc, service, at) in &submissions {
                if let (Ok(sub), Ok(fc)) = (Uuid::parse_str(sub), Uuid::parse_str(fc)) {
                    subs.push(TakeoverSubmission {
                        submission_id: sub,
                        fc_case_id: fc,
                        service: service.clone(),
                        received_at: at.clone(),
                    });
                }
            }
            let case = TakeoverCase {
                meta: office::CaseMeta {
                    extended: false,
                    id,
                    file_number: rec.file_number.clone(),
                    case_type: rec
                        .case_type_code
                        .clone()
                        .unwrap_or_else(|| rec.case_type.clone()),
                    channel: match rec.channel() {
                        domain::Channel::Online => "online",
                        domain::Channel::Papier => "papier",
                    }
                    .to_owned(),
                    state,
                    waiting_from: rec.waiting_from.as_deref().and_then(CaseState::parse),
                    checklist_complete: rec.complete_at.is_some(),
                    assignee: rec.assigned_to.clone(),
                    received_at: rec.received_at.clone(),
                    version: 0,
                    state_version: 0,
                },
                content: sealed(content.to_string().as_bytes())?,
                events,
                submissions: subs,
                statusmonitor,
            };
            let held: TakeoverAnswer = rt
                .block_on(async {
                    let sent = http
                        .post(format!("{}/v1/uebernahme", c.url))
                        .bearer_auth(&token)
                        .json(&case)
                        .send()
                        .await;
                    answer(sent, &c, "Die Antwort des Rathaus-Servers ist unlesbar.").await
                })
                .map_err(failed)?;
            if held.neu {
                report.new_cases += 1;
                report.events += count(case.events.len());
            }
            for d in &documents {
                let key = d.blob_id.clone();
                if held.dokumente.contains(&key) {
                    continue;
                }
                let bytes = {
                    let s = self.session_with(Permission::AllCases)?;
                    let blob = store::BlobId::parse(&d.blob_id)?;
                    let mut out = Vec::new();
                    std::io::Read::read_to_end(&mut s.open_blob(&blob)?, &mut out)
                        .map_err(|e| invalid(format!("Dokument {}: {e}", d.id)))?;
                    out
                };
                let body = serde_json::json!({
                    "kind": d.kind,
                    "filename": d.filename,
                    "mimeType": d.mime_type,
                    "data": base64::engine::general_purpose::STANDARD.encode(&bytes),
                });
                let age = seal(body.to_string().as_bytes())?;
                let _: bool = rt
                    .block_on(async {
                        let sent = http
                            .post(format!("{}/v1/uebernahme/dokument", c.url))
                            .query(&[("fall", id.to_string()), ("dokument", key.clone())])
                            .bearer_auth(&token)
                            .header("content-type", "application/octet-stream")
                            .body(age)
                            .send()
                            .await;
                        answer(sent, &c, "Die Antwort des Rathaus-Servers ist unlesbar.").await
                    })
                    .map_err(failed)?;
                report.documents += 1;
            }
            progress(count(n + 1), report.cases);
        }
        // The audit chain as it is, oldest first, in batches.
        let mut entries = self
            .session_with(Permission::AllCases)?
            .audit_entries(u32::MAX)?;
        entries.reverse();
        for chunk in entries.chunks(500) {
            let batch: Vec<TakeoverAuditEntry> = chunk
                .iter()
                .map(|e| TakeoverAuditEntry {
                    seq: e.seq,
                    at: e.at.clone(),
                    actor: e.actor.clone(),
                    action: e.action.clone(),
                    object: e.object.clone(),
                    hash: e.hash.clone(),
                })
                .collect();
            let _: u64 = rt
                .block_on(async {
                    let sent = http
                        .post(format!("{}/v1/uebernahme/protokoll", c.url))
                        .bearer_auth(&token)
                        .json(&batch)
                        .send()
                        .await;
                    answer(sent, &c, "Die Antwort des Rathaus-Servers ist unlesbar.").await
                })
                .map_err(failed)?;
        }
        report.audit = count(entries.len());
        self.session_with_mut(Permission::RunSync)?.audit(
            "buero_uebernahme",
            &format!(
                "{} Vorgänge ({} neu), {} Dokumente, {} Protokolleinträge",
                report.cases, report.new_cases, report.documents, report.audit
            ),
        )?;
        Ok(report)
    }
}

impl Workstation {
    /// A scan approved at the scanning desk in office mode: the case goes to the
    /// Rathaus-Server (content sealed to the case and scan keys), its documents
    /// (the scan product and its Transfervermerk) wait in the upload queue and
    /// follow once the server has the case.
    pub(crate) fn office_scan_case(
        &mut self,
        file_number: &str,
        t: &domain::casetype::CaseType,
        applicant: &str,
        received_at: &str,
    ) -> Result<(), AppError> {
        let (rec, documents) = {
            let s = self.session_with(Permission::ScanIntake)?;
            let rec = s.case_by_file_number(file_number)?.ok_or_else(|| {
                invalid(format!(
                    "Der Vorgang {file_number} fehlt nach der Freigabe."
                ))
            })?;
            let docs = s.case_documents(&rec.id)?;
            (rec, docs)
        };
        let case_id = Uuid::parse_str(&rec.id)
            .map_err(|_| invalid(format!("Vorgang {file_number}: Kennung unlesbar.")))?;
        let json = serde_json::json!({
            "applicant": applicant,
            "service": t.name,
            "caseType": t.name,
            "documents": documents.iter().map(|d| serde_json::json!({
                "kind": d.kind,
                "filename": d.filename,
                "mimeType": d.mime_type,
                "size": d.size,
            })).collect::<Vec<_>>(),
        });
        let content = self.seal_for_kinds(&json.to_string(), &[KeyKind::Fall, KeyKind::Scan])?;
        self.office_act(CommandBody::CreateCase {
            case_id,
            file_number: file_number.to_string(),
            case_type: t.kuerzel.clone(),
            received_at: received_at.to_string(),
            content,
        })?;
        let uploads: Vec<store::OfficeUpload> = documents
            .iter()
            .map(|d| store::OfficeUpload {
                seq: 0,
                case_id: case_id.to_string(),
                key: format!("{}-{}", d.kind, d.blob_id),
                blob_id: d.blob_id.clone(),
                kind: d.kind.clone(),
                filename: d.filename.clone(),
                mime_type: d.mime_type.clone(),
            })
            .collect();
        self.session_with_mut(Permission::ScanIntake)?
            .office_upload_add(&uploads)?;
        Ok(())
    }
}

/// Events in the order they happened. The server stamps them to the second, so
/// steps taken within one second are put in the order of the lifecycle: each next
/// step starts where the one before ended; notes keep their place by time; a
/// refused e-mail's settlement ("Per Post versandt") comes after the refusal.
pub(crate) fn in_order(mut events: Vec<office::Event>) -> Vec<office::Event> {
    events.sort_by(|a, b| a.at.cmp(&b.at));
    let mut out: Vec<office::Event> = Vec::with_capacity(events.len());
    let mut state: Option<CaseState> = None;
    let mut rest = std::collections::VecDeque::from(events);
    while let Some(first) = rest.front() {
        let at = first.at.clone();
        let group: Vec<&office::Event> = rest.iter().take_while(|e| e.at == at).collect();
        // What settles an event that is still to come in this second waits for it.
        let waits = |e: &office::Event| {
            e.kind == office::rules::POSTED
                && group.iter().any(|o| o.kind == office::rules::MAIL_REFUSED)
        };
        // The group of this second, and in it the step that follows `state`.
        let pick = group
            .iter()
            .position(|e| {
                !waits(e)
                    && (e.to_state.is_none() || e.from_state == state || e.from_state.is_none())
            })
            .unwrap_or(0);
        if let Some(e) = rest.remove(pick) {
            if e.to_state.is_some() {
                state = e.to_state;
            }
            out.push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, at: &str, from: Option<CaseState>, to: Option<CaseState>) -> office::Event {
        office::Event {
            id: Uuid::new_v4(),
            case_id: Uuid::nil(),
            kind: kind.into(),
            actor: "anna".into(),
            at: at.into(),
            from_state: from,
            to_state: to,
            content: None,
        }
    }

    #[test]
    fn steps_within_one_second_follow_the_lifecycle() {
        use CaseState::*;
        let t = "2026-12-03T07:32:53Z";
        let events = vec![
            ev("entscheiden", t, Some(InBearbeitung), Some(Entschieden)),
            ev("notiz", "2026-12-03T07:32:54Z", None, None),
            ev("vollstaendig", t, Some(InPruefung), Some(InBearbeitung)),
            ev("eingang", "2026-12-03T07:30:00Z", None, Some(Eingegangen)),
            ev("pruefung_beginnen", t, Some(Eingegangen), Some(InPruefung)),
        ];
        let kinds: Vec<String> = in_order(events).into_iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                "eingang",
                "pruefung_beginnen",
                "vollstaendig",
                "entscheiden",
                "notiz"
            ]
        );
    }

    #[test]
    fn a_posting_within_the_second_of_the_refusal_comes_after_it() {
        let t = "2026-12-05T17:40:00Z";
        for events in [
            vec![
                ev(office::rules::POSTED, t, None, None),
                ev(office::rules::MAIL_REFUSED, t, None, None),
            ],
            vec![
                ev(office::rules::MAIL_REFUSED, t, None, None),
                ev(office::rules::POSTED, t, None, None),
            ],
        ] {
            let kinds: Vec<String> = in_order(events).into_iter().map(|e| e.kind).collect();
            assert_eq!(kinds, [office::rules::MAIL_REFUSED, office::rules::POSTED]);
        }
        // A later refusal (a second letter's) does not pull an earlier posting.
        let events = vec![
            ev(
                office::rules::MAIL_REFUSED,
                "2026-12-05T17:41:00Z",
                None,
                None,
            ),
            ev(office::rules::POSTED, t, None, None),
        ];
        let kinds: Vec<String> = in_order(events).into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [office::rules::POSTED, office::rules::MAIL_REFUSED]);
    }
}
