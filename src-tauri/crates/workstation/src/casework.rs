//! Casework in the facade: the case view, transitions, checklist, notes, assignment
//! and the deadline extension. Every operation checks the role's permission and
//! whether the user may see this case (Sachbearbeitung: own and unassigned cases;
//! Leitung: all; Scanstelle and Administration: none), then applies the pure rules of
//! `domain` and records the act through the store (history + audit, one transaction).

use domain::casetype::CaseType;
use domain::deadline::{Clock, ClockKind, DeadlineStatus};
use domain::lifecycle::{self, Action, CaseState, Context};
use domain::{Channel, DocumentKind, Permission, Role};
use serde::{Deserialize, Serialize};
use store::{CaseRecord, Session, Transition};
use ts_rs::TS;

use crate::MAX_PAGE;
use crate::api::{self, WorkList, WorkListQuery};
use crate::config::CaseworkConfig;
use crate::{AppError, ErrorCode, Workstation};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ChecklistItem {
    pub item: String,
    pub checked: bool,
    pub checked_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DeadlineView {
    /// Service target date (YYYY-MM-DD).
    pub target: Option<String>,
    /// Statutory deadline (YYYY-MM-DD); none before the period started.
    pub legal: Option<String>,
    /// Which clock runs for the case type, and its legal basis.
    pub clock: ClockKind,
    pub legal_basis: String,
    /// The day the statutory period started (receipt of the complete documents, or
    /// of the application where the law says so).
    pub period_start: Option<String>,
    /// End of the period before the extension, once extended.
    pub original_end: Option<String>,
    /// § 75 VwGO: an action for failure to act is admissible from this day.
    pub inaction_from: Option<String>,
    pub status: DeadlineStatus,
    pub extended: bool,
    /// An extension may still be granted.
    pub extension_possible: bool,
    /// Shown before a request for documents while a Fiktion period runs.
    pub request_warning: Option<String>,
    /// A decision sent by post counts as delivered on this day (§41 Abs. 2 VwVfG:
    /// posting day plus the Land's days; a fixed date, not moved off weekends).
    pub deemed_delivery: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct HistoryView {
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub from_state: Option<CaseState>,
    pub to_state: Option<CaseState>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct NoteView {
    pub at: String,
    pub author: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DocumentView {
    pub id: String,
    pub kind: DocumentKind,
    pub filename: Option<String>,
    pub mime_type: String,
    /// Bytes of the document.
    #[ts(type = "number")]
    pub size: u64,
    /// Where it came from, in the clerk's words: "Antrag", "Nachreichung 1", "Scan",
    /// "Schreiben".
    pub origin: String,
    /// When it was stored (RFC 3339); unknown at an office desk.
    pub added_at: Option<String>,
}

/// Where each document of a case came from, in the order given: the documents of
/// the first submission are the application ("Antrag"), those of every later one a
/// "Nachreichung" counted from 1; scans and letters by their kind.
pub fn document_origins<'a>(
    docs: impl IntoIterator<Item = (DocumentKind, Option<&'a str>)>,
) -> Vec<String> {
    let mut submissions: Vec<&str> = Vec::new();
    docs.into_iter()
        .map(|(kind, submission)| match (kind, submission) {
            (DocumentKind::Scan, _) => "Scan".to_owned(),
            (DocumentKind::Letter, _) => "Schreiben".to_owned(),
            (_, None) => "Antrag".to_owned(),
            (_, Some(s)) => {
                let n = submissions.iter().position(|x| *x == s).unwrap_or_else(|| {
                    submissions.push(s);
                    submissions.len() - 1
                });
                if n == 0 {
                    "Antrag".to_owned()
                } else {
                    format!("Nachreichung {n}")
                }
            }
        })
        .collect()
}

/// Everything the case view shows. Holds personal data: never log it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct CaseDetail {
    pub id: String,
    pub file_number: String,
    pub case_type: String,
    pub applicant: String,
    pub state: CaseState,
    pub state_label: String,
    pub received_at: String,
    pub channel: Channel,
    /// The case's reference at the portal (FIT-Connect caseId), for online cases.
    pub portal_case_id: Option<String>,
    pub assigned_to: Option<String>,
    /// Action kinds allowed now (one button each).
    pub allowed_actions: Vec<lifecycle::ActionKind>,
    pub checklist: Vec<ChecklistItem>,
    pub deadlines: DeadlineView,
    pub history: Vec<HistoryView>,
    pub notes: Vec<NoteView>,
    pub documents: Vec<DocumentView>,
    /// How the citizen asked to be answered (metadata `replyChannel`); none: by post.
    pub reply_channel: Option<ReplyChannelView>,
    /// What the clerk has to do about this case now (e.g. a refused e-mail).
    pub tasks: Vec<String>,
    /// Every letter sent, the way it took and how far it got.
    pub answers: Vec<AnswerView>,
}

/// One letter to the citizen: the way it took, whether that was the way asked for,
/// and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AnswerView {
    /// The letter's file name.
    pub letter: String,
    /// When it was sent off (queued, or handed to print), RFC 3339.
    pub at: String,
    /// `email`, `bundid`, `postfach` or `post`.
    pub kanal: String,
    /// The way the citizen asked for (metadata key), if any.
    pub wanted: Option<String>,
    /// Another way than the one asked for was taken.
    pub fallback: bool,
    /// `wartet`, `gesendet`, `übermittelt`, `fehlgeschlagen`, `per Post`,
    /// `per Post nachgesandt`.
    pub state: String,
    pub error: Option<String>,
}

/// The answers of a case from its history, its letters and their outbox items.
pub(crate) fn answers_of(
    history: &[store::HistoryEntry],
    documents: &[store::CaseDocument],
    items: &[store::OutboxItem],
) -> Vec<AnswerView> {
    history
        .iter()
        .filter_map(|h| {
            let v: serde_json::Value = serde_json::from_str(h.detail.as_deref()?).ok()?;
            v.get("brief")?;
            let letter = v.get("datei")?.as_str()?.to_owned();
            let kanal = v.get("kanal").and_then(|k| k.as_str()).unwrap_or("post");
            let blob = documents
                .iter()
                .find(|d| d.kind == "letter" && d.filename.as_deref() == Some(letter.as_str()))
                .map(|d| d.blob_id.as_str());
            let item_key = match kanal {
                "email" => Some("mail"),
                "bundid" => Some("bundid"),
                "postfach" => Some("reply"),
                _ => None,
            };
            let item = match (item_key, blob) {
                (Some(k), Some(b)) => {
                    let key = format!("{k}:{b}");
                    items.iter().find(|i| i.idempotency_key == key)
                }
                _ => None,
            };
            let state = match item {
                None if kanal == "post" => "per Post",
                None => "wartet",
                Some(i) => match (i.state.as_str(), i.remote_id.is_some()) {
                    ("failed", _) => "fehlgeschlagen",
                    // Settled by the letter posted instead (`settle_failed_mail`).
                    ("done", _)
                        if i.last_error
                            .as_deref()
                            .is_some_and(|e| e.contains("ersetzt durch Postversand")) =>
                    {
                        "per Post nachgesandt"
                    }
                    ("done", _) => "übermittelt",
                    (_, true) => "gesendet",
                    _ => "wartet",
                },
            };
            let wanted = v["antwortweg"]["gewuenscht"].as_str().map(str::to_owned);
            Some(AnswerView {
                letter,
                at: h.at.clone(),
                kanal: kanal.to_owned(),
                fallback: v["antwortweg"]["ersatzweg"].as_bool().unwrap_or(false),
                wanted,
                state: state.to_owned(),
                error: item.and_then(|i| i.last_error.clone()),
            })
        })
        .collect()
}

/// The citizen's reply channel as the case view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ReplyChannelView {
    /// The channel's key in the metadata (`eMail`, `idBundDeMailbox`, …).
    pub key: String,
    pub label: String,
    /// Whether this installation can answer through it now; if not, letters go by
    /// post and the letter's history entry records the fallback.
    pub available: bool,
}

/// The reply channel named in a case's metadata, with whether it can be served: a
/// FIT-Connect reply where a reply destination is configured ("postfach"), an
/// e-mail where the citizen gave an OpenPGP key and a relay is set up ("email").
pub(crate) fn reply_channel_view(
    metadata: Option<&serde_json::Value>,
    reply_destination: bool,
    email_ready: bool,
    bundid_ready: bool,
) -> Option<ReplyChannelView> {
    use fitconnect::metadata::ReplyChannel;
    let channel = fitconnect::metadata::reply_channel_of(metadata?.get("replyChannel")?)?;
    Some(ReplyChannelView {
        key: channel.key().to_owned(),
        label: channel.label(),
        available: match channel {
            ReplyChannel::FitConnect => reply_destination,
            ReplyChannel::EMail { .. } => email_ready,
            ReplyChannel::BundIdPostfach { .. } => bundid_ready,
            _ => false,
        },
    })
}

/// The citizen's e-mail address and OpenPGP key, where the metadata asks for e-mail.
pub(crate) fn citizen_email(
    metadata: Option<&serde_json::Value>,
) -> Option<(String, Option<String>)> {
    match fitconnect::metadata::reply_channel_of(metadata?.get("replyChannel")?)? {
        fitconnect::metadata::ReplyChannel::EMail {
            address,
            pgp_public_key,
        } => Some((address, pgp_public_key)),
        _ => None,
    }
}

/// Can a letter go to this citizen by e-mail: a relay set up and a key that holds up?
pub(crate) fn email_ready(email: Option<&(String, Option<String>)>, relay: bool) -> bool {
    relay
        && email
            .and_then(|e| e.1.as_deref())
            .is_some_and(|k| sync::mail::check_key(k).is_ok())
}

/// The metadata channel a letter's way (`kanal`) serves.
pub(crate) fn channel_key(kanal: &str) -> Option<&'static str> {
    match kanal {
        "postfach" => Some("fitConnect"),
        "email" => Some("eMail"),
        "bundid" => Some("idBundDeMailbox"),
        _ => None,
    }
}

/// Assign several cases at once (Leitung).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BulkAssignRequest {
    pub case_ids: Vec<String>,
    pub to: Option<String>,
    pub reason: Option<String>,
}

/// What a bulk assignment did: refusals name the Aktenzeichen and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BulkAssignResult {
    pub assigned: u32,
    pub refused: Vec<String>,
}

/// A named work-list filter of one user (kept in the encrypted database, since
/// search terms may name people).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SavedFilter {
    pub name: String,
    pub query: crate::WorkListQuery,
}

const MAX_FILTERS: usize = 30;

/// A document's content for display: decrypted in memory and sent to the window
/// only, never written to disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DocumentContent {
    pub filename: Option<String>,
    pub mime_type: String,
    pub content_base64: String,
}

/// Largest document shown in the app.
pub(crate) const MAX_DOCUMENT: u64 = 25 * 1024 * 1024;

/// Request to assign a case.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AssignRequest {
    pub case_id: String,
    /// User name; None: back to the organisation queue.
    pub to: Option<String>,
    /// Needed when a case assigned to someone else is reassigned.
    pub reason: Option<String>,
}

fn forbidden_case() -> AppError {
    AppError::new(
        ErrorCode::Forbidden,
        "Dieser Vorgang ist einer anderen Person zugewiesen oder gehört nicht zu Ihrer Rolle.",
    )
}

fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound, "Diesen Vorgang gibt es nicht.")
}

fn valid_case_id(id: &str) -> Result<(), AppError> {
    if id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(AppError::invalid("Ungültige Vorgangs-ID."))
    }
}

pub(crate) fn today() -> jiff::civil::Date {
    jiff::Zoned::now().date()
}

pub(crate) fn date_of(rfc3339: &str) -> Option<jiff::civil::Date> {
    rfc3339
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.to_zoned(jiff::tz::TimeZone::system()).date())
        .or_else(|| rfc3339.get(..10).and_then(|d| d.parse().ok()))
}

pub(crate) fn case_type<'a>(cfg: &'a CaseworkConfig, rec: &CaseRecord) -> Option<&'a CaseType> {
    match &rec.case_type_code {
        Some(code) => cfg.types.vorgangsart.iter().find(|t| &t.kuerzel == code),
        None => cfg.types.for_service(&rec.case_type),
    }
}

/// The deadline facts of a case from its record and the history already read.
///
/// A request for documents is answered by "Nachreichung eingegangen" (the day the
/// documents came in; paper: the intake) – or ends with a withdrawal or forwarding.
/// Requests before the "vollständig" entry decide when a completeness period starts,
/// those after it what happens to a running period.
pub(crate) fn clock_from(rec: &CaseRecord, history: &[store::HistoryEntry]) -> Clock {
    let mut before = Vec::new();
    let mut after = Vec::new();
    let mut open: Option<jiff::civil::Date> = None;
    let mut declared: Option<jiff::civil::Date> = None;
    for h in history {
        match h.kind.as_str() {
            "nachfordern" => open = date_of(&h.at),
            "nachreichung_eingegangen" | "zurueckziehen" | "weiterleiten" => {
                if let Some(from) = open.take() {
                    // Online: the portal's signed receipt of the documents; paper or
                    // a clerk's entry: the day it was recorded.
                    let receipt = h
                        .detail
                        .as_deref()
                        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                        .and_then(|v| v["eingang"].as_str().and_then(date_of));
                    let ended = receipt.or_else(|| date_of(&h.at));
                    let list = if declared.is_some() {
                        &mut after
                    } else {
                        &mut before
                    };
                    list.push((from, ended));
                }
            }
            "vollstaendig" if declared.is_none() => declared = date_of(&h.at),
            _ => {}
        }
    }
    if let Some(from) = open {
        let list = if declared.is_some() {
            &mut after
        } else {
            &mut before
        };
        list.push((from, None));
    }
    // Records taken over without the history entry still carry the day.
    let declared = declared.or_else(|| rec.complete_at.as_deref().and_then(|d| d.parse().ok()));
    Clock {
        received: date_of(&rec.received_at),
        declared_complete: declared,
        requests_before: before,
        requests_after: after,
        extended: rec.extended,
    }
}

/// Whether the case's Fiktion period (§ 42a VwVfG) ran out by `today`: computed from
/// the case type's rules and the history, as the deadline shown.
pub(crate) fn fiction_from(
    cfg: &CaseworkConfig,
    rec: &CaseRecord,
    history: &[store::HistoryEntry],
    today: jiff::civil::Date,
) -> lifecycle::Fiction {
    let Some(t) = case_type(cfg, rec) else {
        return lifecycle::Fiction::None;
    };
    let d = domain::deadline::compute(
        &t.deadline_rules(),
        &clock_from(rec, history),
        &cfg.calendar,
        today,
    );
    if d.status(today) == DeadlineStatus::FiktionEingetreten {
        lifecycle::Fiction::Expired
    } else {
        lifecycle::Fiction::None
    }
}

/// The hearing (§ 28 VwVfG) from the history: the last Anhörung letter sent and the
/// end of its period to comment.
pub(crate) fn hearing_from(
    history: &[store::HistoryEntry],
    today: jiff::civil::Date,
) -> lifecycle::Hearing {
    let until = history
        .iter()
        .rev()
        .filter(|h| h.kind == "brief")
        .filter_map(|h| h.detail.as_deref())
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .find(|v| v["brief"] == "anhoerung")
        .map(|v| {
            v["frist"]
                .as_str()
                .and_then(|f| f.parse::<jiff::civil::Date>().ok())
        });
    match until {
        None => lifecycle::Hearing::None,
        Some(Some(d)) if today <= d => lifecycle::Hearing::Running(d),
        // A hearing letter without a readable period counts as held.
        Some(_) => lifecycle::Hearing::Done,
    }
}

/// The intake day a clerk gives for answered documents: a date, not in the future, not
/// before the request it answers.
fn check_intake_day(day: &str, history: &[store::HistoryEntry]) -> Result<(), AppError> {
    let Ok(d) = day.trim().parse::<jiff::civil::Date>() else {
        return Err(AppError::invalid(
            "Das Eingangsdatum der Unterlagen ist kein gültiges Datum (TT.MM.JJJJ).",
        ));
    };
    if d > today() {
        return Err(AppError::invalid(
            "Das Eingangsdatum der Unterlagen liegt in der Zukunft.",
        ));
    }
    let asked = history
        .iter()
        .rev()
        .find(|h| h.kind == "nachfordern")
        .and_then(|h| date_of(&h.at));
    if asked.is_some_and(|a| d < a) {
        return Err(AppError::invalid(
            "Das Eingangsdatum liegt vor der Nachforderung, die es beantwortet.",
        ));
    }
    Ok(())
}

/// Marker and next date for the work list.
pub(crate) fn marker(
    session: &Session,
    rec: &CaseRecord,
    cfg: &CaseworkConfig,
) -> Result<(Option<DeadlineStatus>, Option<String>), AppError> {
    let open = CaseState::parse(&rec.status).is_some_and(|s| s.is_open());
    if !open || case_type(cfg, rec).is_none() {
        return Ok((None, None));
    }
    Ok(marker_from(rec, cfg, &session.case_history(&rec.id)?))
}

/// The marker from a history already read (reports read all histories at once).
pub(crate) fn marker_from(
    rec: &CaseRecord,
    cfg: &CaseworkConfig,
    history: &[store::HistoryEntry],
) -> (Option<DeadlineStatus>, Option<String>) {
    match running_deadlines(rec, cfg, history) {
        Some(d) => (
            Some(d.status(today())),
            d.legal.or(d.target).map(|x| x.to_string()),
        ),
        None => (None, None),
    }
}

/// The deadlines of an open case of a configured type as of today; none for a
/// closed case or an unknown case type.
fn running_deadlines(
    rec: &CaseRecord,
    cfg: &CaseworkConfig,
    history: &[store::HistoryEntry],
) -> Option<domain::deadline::Deadlines> {
    let open = CaseState::parse(&rec.status).is_some_and(|s| s.is_open());
    let t = case_type(cfg, rec).filter(|_| open)?;
    Some(domain::deadline::compute(
        &t.deadline_rules(),
        &clock_from(rec, history),
        &cfg.calendar,
        today(),
    ))
}

/// The case view's deadlines: which clock runs, service target, statutory period and
/// its start, extension and, for a decision sent by post, the day it counts as
/// delivered.
pub(crate) fn deadline_view(
    cfg: &CaseworkConfig,
    rec: &CaseRecord,
    state: CaseState,
    history: &[store::HistoryEntry],
) -> DeadlineView {
    let now = today();
    let string = |d: Option<jiff::civil::Date>| d.map(|x| x.to_string());
    let ctype = case_type(cfg, rec);
    let mut view = match ctype {
        Some(t) => {
            let rules = t.deadline_rules();
            let clock = clock_from(rec, history);
            let d = domain::deadline::compute(&rules, &clock, &cfg.calendar, now);
            DeadlineView {
                target: string(d.target),
                legal: string(d.legal),
                clock: rules.uhr,
                legal_basis: t.rechtsgrundlage.clone(),
                period_start: string(d.start),
                original_end: if clock.extended {
                    string(d.original)
                } else {
                    None
                },
                inaction_from: string(d.untaetigkeit),
                status: if state.is_open() {
                    d.status(now)
                } else {
                    DeadlineStatus::ImPlan
                },
                extended: rec.extended,
                extension_possible: state.is_open()
                    && state != CaseState::Nachgefordert
                    && domain::deadline::check_extension(&rules, &clock, &d, "Begründung", now)
                        .is_ok(),
                request_warning: if state.is_open() {
                    domain::deadline::request_warning(&rules, &d, now)
                } else {
                    None
                },
                deemed_delivery: None,
            }
        }
        None => DeadlineView {
            target: None,
            legal: None,
            clock: ClockKind::Servicefrist,
            legal_basis: String::new(),
            period_start: None,
            original_end: None,
            inaction_from: None,
            status: DeadlineStatus::ImPlan,
            extended: rec.extended,
            extension_possible: false,
            request_warning: None,
            deemed_delivery: None,
        },
    };
    // The day the decision counts as delivered: sent by post or by e-mail (§ 41
    // Abs. 2 S. 1 VwVfG, § 122 Abs. 2 AO: the same day count after posting or after
    // sending electronically); a refused e-mail replaced by post counts from then.
    let posted = history
        .iter()
        .rev()
        .find(|h| {
            h.kind == "ersatzversand_post"
                || (h.kind == "versenden"
                    && h.detail.as_deref().is_some_and(|d| {
                        d.contains("\"kanal\":\"post\"") || d.contains("\"kanal\":\"email\"")
                    }))
        })
        .and_then(|h| date_of(&h.at));
    let law = ctype.map(|t| t.procedural_law()).unwrap_or_default();
    view.deemed_delivery = posted
        .and_then(|p| cfg.types.delivery_rules().by_post(law, p, &cfg.calendar))
        .map(|d| d.to_string());
    view
}

/// An open case whose statutory deadline the legal review changed, for the Leitung.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DeadlineChange {
    pub id: String,
    pub file_number: String,
    pub case_type: String,
    /// The end under the previous rules and under the rules in force (YYYY-MM-DD;
    /// None: no statutory period).
    pub previous: Option<String>,
    pub current: Option<String>,
}

/// The shipped case types' settings before the legal review: (code, months of the
/// period counted under § 42a, suspension, months of the extension).
const PREVIOUS_DEFAULTS: [(&str, u32, bool, u32); 5] = [
    ("MB", 0, false, 0),
    ("HST", 3, true, 0),
    ("BWP", 3, true, 1),
    ("GEW", 3, true, 0),
    ("SNB", 3, true, 2),
];

/// The previous settings of a case type: the town's own older fields where its file
/// still has them, else the shipped defaults of that time.
fn previous_settings(t: &CaseType) -> Option<(u32, bool, u32)> {
    match t.gesetzliche_frist_monate {
        Some(m) => Some((m, t.hemmung.unwrap_or(false), t.verlaengerung_monate)),
        None => PREVIOUS_DEFAULTS
            .iter()
            .find(|(k, ..)| *k == t.kuerzel)
            .map(|(_, m, h, e)| (*m, *h, *e)),
    }
}

/// See [`Workstation::town_print`].
pub(crate) struct TownPrint {
    pub(crate) renderer: &'static ::letters::Renderer,
    pub(crate) head: ::letters::Letterhead,
    pub(crate) pdfa: bool,
}

/// A state as the store keeps it, parsed once at the boundary; an unknown text is
/// damaged data, never shown as some other state.
pub(crate) fn stored_state(s: &str) -> Result<CaseState, AppError> {
    CaseState::parse(s).ok_or_else(|| {
        AppError::new(
            ErrorCode::Storage,
            format!("Unbekannter Vorgangszustand „{s}“ im Datenbestand."),
        )
    })
}

/// A PDF that could not be made, for the screen.
pub(crate) fn print_error(e: ::letters::LetterError) -> AppError {
    AppError::invalid(e.to_string())
}

impl Workstation {
    /// Case types, holidays and tariff in force (parsed once, reloaded on change).
    pub(crate) fn casework_config(&self) -> Result<std::sync::Arc<CaseworkConfig>, AppError> {
        self.config.casework(self.data_dir())
    }

    /// The town's letterhead configuration and logo in force (reloaded on change).
    pub(crate) fn town(&self) -> Result<std::sync::Arc<crate::config::Town>, AppError> {
        self.config.town(self.data_dir())
    }

    /// What the town's documents other than letters (council report, release list,
    /// separator sheets) are printed with: its letterhead, whether PDF/A, the renderer.
    pub(crate) fn town_print(&self) -> Result<TownPrint, AppError> {
        let town = self.town()?;
        let (town, logo) = (&town.0, town.1.clone());
        Ok(TownPrint {
            renderer: ::letters::Renderer::shared().map_err(print_error)?,
            head: town.letterhead(logo),
            pdfa: town.pdfa,
        })
    }

    /// The session and the case, if this user may see it.
    pub(crate) fn visible_case(
        &self,
        id: &str,
        permission: Permission,
    ) -> Result<(&Session, CaseRecord), AppError> {
        valid_case_id(id)?;
        let session = self.session_with(permission)?;
        let rec = session.case_record(id)?.ok_or_else(not_found)?;
        let user = session.user();
        if !user
            .role
            .may_see_case(user.username.as_str(), rec.assigned_to.as_deref())
        {
            return Err(forbidden_case());
        }
        Ok((session, rec))
    }

    fn context(
        &self,
        session: &Session,
        rec: &CaseRecord,
        cfg: &CaseworkConfig,
    ) -> Result<Context, AppError> {
        let items = case_type(cfg, rec)
            // A case type no longer configured has no checklist.
            .map(|t| t.checkliste.clone())
            .unwrap_or_default();
        let checked: Vec<String> = session.checks(&rec.id)?.into_iter().map(|c| c.0).collect();
        let history = session.case_history(&rec.id)?;
        Ok(Context {
            checklist_complete: items.iter().all(|i| checked.contains(i)),
            waiting_from: rec.waiting_from.as_deref().and_then(CaseState::parse),
            hearing: hearing_from(&history, today()),
            fiction: fiction_from(cfg, rec, &history, today()),
        })
    }

    /// The case view.
    pub fn case_detail(&mut self, id: &str) -> Result<CaseDetail, AppError> {
        if self.office_mode()? {
            return self.office_case_detail(id);
        }
        let (session, rec) = self.visible_case(id, Permission::ReadCases)?;
        let cfg = self.casework_config()?;
        let state = stored_state(&rec.status)?;
        let ctx = self.context(session, &rec, &cfg)?;
        let ctype = case_type(&cfg, &rec);
        let checks = session.checks(&rec.id)?;
        let checklist = ctype
            // A case type no longer configured has no checklist.
            .map(|t| t.checkliste.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let c = checks.iter().find(|c| c.0 == item);
                ChecklistItem {
                    checked: c.is_some(),
                    checked_by: c.map(|c| c.1.clone()),
                    item,
                }
            })
            .collect();
        let history = session.case_history(&rec.id)?;
        let mut deadlines = deadline_view(&cfg, &rec, state, &history);
        let may_edit = session.user().role.may(Permission::EditCases);
        let reply_destination = session
            .setting(crate::portal::SETTING)?
            .and_then(|j| serde_json::from_str::<crate::PortalSettings>(&j).ok())
            .is_some_and(|p| p.reply_destination_id.is_some());
        let metadata = crate::letters::json_document(session, &rec, "metadata");
        let email_ready = email_ready(
            citizen_email(metadata.as_ref()).as_ref(),
            crate::mail::relay(session)?.is_some(),
        );
        let bundid_ready = crate::bundid::ready(session)?.is_some()
            && crate::bundid::mailbox_of(metadata.as_ref()).is_some();
        let reply_channel = reply_channel_view(
            metadata.as_ref(),
            reply_destination,
            email_ready,
            bundid_ready,
        );
        // A refused e-mail is the clerk's task: the letter has to go another way.
        let key = rec.fc_case_id.clone().unwrap_or_else(|| rec.id.clone());
        // (A refused notice needs nothing: its letter went by post already; the
        // case's outbox table shows it.)
        let answer_items = session.outbox_items_for(&[
            key.as_str(),
            &format!("mail:{key}"),
            &crate::bundid::message_order(&key),
        ])?;
        let documents = session.case_documents(&rec.id)?;
        let answers = answers_of(&history, &documents, &answer_items);
        let tasks: Vec<String> = answer_items
            .into_iter()
            .filter(|i| i.kind == "mail" || i.kind == "bundid")
            .filter(|i| {
                i.state == "failed"
                    && match i.kind.as_str() {
                        "mail" => !crate::letters::mail_notice(&i.payload),
                        "bundid" => !crate::letters::bundid_status(&i.payload),
                        _ => false,
                    }
            })
            .map(|i| {
                format!(
                    "{} ({}). Bitte den gespeicherten Brief (Unterlagen) ausdrucken und per Post senden, dann „Per Post versandt“ wählen.",
                    if i.kind == "bundid" {
                        "Nicht im BundID-Postfach zugestellt"
                    } else {
                        "E-Mail nicht zugestellt"
                    },
                    i.last_error.unwrap_or_else(|| "ohne Angabe des Grundes".into())
                )
            })
            .collect();
        // A letter whose e-mail was refused is not delivered until it goes by post.
        if !tasks.is_empty() {
            deadlines.deemed_delivery = None;
        }
        Ok(CaseDetail {
            reply_channel,
            tasks,
            answers,
            allowed_actions: if may_edit {
                lifecycle::allowed_actions(state, ctx)
            } else {
                Vec::new()
            },
            checklist,
            deadlines,
            history: history
                .into_iter()
                .map(|h| {
                    Ok(HistoryView {
                        at: h.at,
                        actor: h.actor,
                        kind: h.kind,
                        from_state: h.from_state.as_deref().map(stored_state).transpose()?,
                        to_state: h.to_state.as_deref().map(stored_state).transpose()?,
                        detail: h.detail,
                    })
                })
                .collect::<Result<_, AppError>>()?,
            notes: session
                .notes(&rec.id)?
                .into_iter()
                .map(|n| NoteView {
                    at: n.at,
                    author: n.author,
                    text: n.text,
                })
                .collect(),
            documents: {
                let kinds = documents
                    .iter()
                    .map(|d| {
                        DocumentKind::parse(&d.kind).ok_or_else(|| {
                            AppError::new(
                                ErrorCode::Storage,
                                format!("Unbekannte Dokumentart „{}“ im Datenbestand.", d.kind),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, AppError>>()?;
                let origins = document_origins(
                    kinds
                        .iter()
                        .zip(&documents)
                        .map(|(k, d)| (*k, d.submission_id.as_deref())),
                );
                documents
                    .into_iter()
                    .zip(kinds)
                    .zip(origins)
                    .map(|((d, kind), origin)| DocumentView {
                        id: d.id.to_string(),
                        kind,
                        filename: d.filename,
                        mime_type: d.mime_type,
                        size: d.size,
                        origin,
                        added_at: Some(d.created_at),
                    })
                    .collect()
            },
            portal_case_id: rec.fc_case_id.clone(),
            channel: rec.channel(),
            state_label: state.label().into(),
            state,
            id: rec.id,
            file_number: rec.file_number,
            case_type: rec.case_type,
            applicant: rec.applicant,
            received_at: rec.received_at,
            assigned_to: rec.assigned_to,
        })
    }

    /// Carry out a lifecycle action. A Sachbearbeiter working on an unassigned case
    /// takes it.
    pub fn case_action(&mut self, id: &str, action: Action) -> Result<CaseDetail, AppError> {
        if self.office_mode()? {
            return self.office_case_action(id, action);
        }
        let (session, rec) = self.visible_case(id, Permission::EditCases)?;
        let cfg = self.casework_config()?;
        let state = stored_state(&rec.status)?;
        if let Action::NachreichungEingegangen { eingang: Some(day) } = &action {
            check_intake_day(day, &session.case_history(&rec.id)?)?;
        }
        let ctx = self.context(session, &rec, &cfg)?;
        let next = lifecycle::apply(state, &action, ctx)
            .map_err(|e| AppError::new(ErrorCode::InvalidInput, e.to_string()))?;
        let detail = serde_json::to_string(&action).ok();
        let me = session.user().username.to_string();
        let role = session.user().role;
        let session = self.session_with_mut(Permission::EditCases)?;
        if rec.assigned_to.is_none() && role == Role::Sachbearbeitung {
            session.assign_case(&rec.id, Some(&me), None)?;
        }
        let town = self.town()?;
        let service = case_type(&cfg, &rec)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| rec.case_type.clone());
        let session = self.session_with_mut(Permission::EditCases)?;
        let status =
            crate::bundid::status_item(session, &rec, state, next, &service, &town.0.behoerde)?;
        session.record_transition_with(
            &Transition {
                case_id: &rec.id,
                from: state.as_str(),
                to: next.as_str(),
                kind: action.kind().as_str(),
                detail,
                complete_at: matches!(action, Action::VollstaendigFeststellen)
                    .then(|| today().to_string()),
                waiting_from: match action {
                    Action::Nachfordern { .. } => Some(Some(state.as_str().to_owned())),
                    Action::NachreichungEingegangen { .. } | Action::FiktionFeststellen => {
                        Some(None)
                    }
                    _ => None,
                },
            },
            status.as_slice(),
        )?;
        self.case_detail(id)
    }

    /// Tick or untick a checklist item of the case's type.
    pub fn set_check(&mut self, id: &str, item: &str, checked: bool) -> Result<(), AppError> {
        if self.office_mode()? {
            return self.office_set_check(id, item, checked);
        }
        let (_, rec) = self.visible_case(id, Permission::EditCases)?;
        let cfg = self.casework_config()?;
        let known = case_type(&cfg, &rec).is_some_and(|t| t.checkliste.iter().any(|c| c == item));
        if !known {
            return Err(AppError::invalid(
                "Diesen Punkt gibt es in der Checkliste dieser Vorgangsart nicht.",
            ));
        }
        self.session_with_mut(Permission::EditCases)?
            .set_check(&rec.id, item, checked)?;
        Ok(())
    }

    /// Add a note to a case.
    pub fn add_note(&mut self, id: &str, text: &str) -> Result<(), AppError> {
        if self.office_mode()? {
            return self.office_add_note(id, text);
        }
        let (_, rec) = self.visible_case(id, Permission::EditCases)?;
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 5_000 {
            return Err(AppError::invalid(
                "Eine Notiz braucht Text (höchstens 5.000 Zeichen).",
            ));
        }
        self.session_with_mut(Permission::EditCases)?
            .add_note(&rec.id, text)?;
        Ok(())
    }

    /// Assign a case. Leitung assigns to anyone (a reassignment needs a reason); a
    /// Sachbearbeiter may only take an unassigned case or give back their own.
    pub fn assign_case(&mut self, req: AssignRequest) -> Result<(), AppError> {
        if self.office_mode()? {
            return self.office_assign_case(req);
        }
        let (session, rec) = self.visible_case(&req.case_id, Permission::EditCases)?;
        let me = session.user().username.to_string();
        let leitung = session.user().role.may(Permission::AllCases);
        let to = req.to.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let reason = req
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if let Some(user) = to {
            let target = session
                .list_users()?
                .into_iter()
                .find(|u| u.username.as_str() == user && u.active)
                .ok_or_else(|| {
                    AppError::invalid(format!("Den Benutzer „{user}“ gibt es nicht."))
                })?;
            if !target.role.may(Permission::EditCases) {
                return Err(AppError::invalid(format!(
                    "„{user}“ bearbeitet keine Vorgänge (Rolle {}).",
                    target.role.label()
                )));
            }
        }
        if !leitung {
            let allowed = match to {
                Some(u) => u == me && rec.assigned_to.as_deref().is_none_or(|a| a == me),
                None => rec.assigned_to.as_deref() == Some(me.as_str()),
            };
            if !allowed {
                return Err(AppError::new(
                    ErrorCode::Forbidden,
                    "Nur die Leitung weist Vorgänge anderen Personen zu.",
                ));
            }
        }
        let reassign = rec
            .assigned_to
            .as_deref()
            .is_some_and(|a| Some(a) != to && a != me);
        if reassign && reason.is_none() {
            return Err(AppError::invalid(
                "Für eine Umverteilung ist eine Begründung nötig.",
            ));
        }
        let detail = serde_json::json!({ "an": to, "grund": reason }).to_string();
        self.session_with_mut(Permission::EditCases)?
            .assign_case(&rec.id, to, Some(detail))?;
        Ok(())
    }

    /// The content of one document of a case, for the viewer.
    /// Viewing is audited (who read which case's document).
    pub fn document(
        &mut self,
        case_id: &str,
        document_id: &str,
    ) -> Result<DocumentContent, AppError> {
        use base64::Engine;
        use std::io::Read;
        if self.office_mode()? {
            return self.office_document(case_id, document_id);
        }
        let (session, rec) = self.visible_case(case_id, Permission::ReadCases)?;
        let doc = session
            .case_documents(&rec.id)?
            .into_iter()
            .find(|d| d.id.to_string() == document_id)
            .ok_or_else(|| {
                AppError::new(
                    ErrorCode::NotFound,
                    "Dieses Dokument gibt es im Vorgang nicht.",
                )
            })?;
        let blob = store::BlobId::parse(&doc.blob_id)?;
        if session.blob_info(&blob)?.size > MAX_DOCUMENT {
            return Err(AppError::invalid(
                "Das Dokument ist zu groß für die Anzeige (mehr als 25 MB).",
            ));
        }
        let mut bytes = Vec::new();
        session
            .open_blob(&blob)?
            .read_to_end(&mut bytes)
            .map_err(|e| {
                AppError::new(ErrorCode::Storage, format!("Dokument nicht lesbar: {e}"))
            })?;
        self.session_with_mut(Permission::ReadCases)?
            .audit("vorgang.dokument.angezeigt", &rec.file_number)?;
        Ok(DocumentContent {
            filename: doc.filename,
            mime_type: doc.mime_type,
            content_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
        })
    }

    /// Assign several cases at once (Leitung only). Each case is assigned on its
    /// own; refusals are reported, the others go through.
    pub fn assign_cases(&mut self, req: BulkAssignRequest) -> Result<BulkAssignResult, AppError> {
        self.session_with(Permission::AllCases)?;
        if req.case_ids.len() > 500 {
            return Err(AppError::invalid("Höchstens 500 Vorgänge auf einmal."));
        }
        let mut result = BulkAssignResult {
            assigned: 0,
            refused: Vec::new(),
        };
        for id in req.case_ids {
            match self.assign_case(AssignRequest {
                case_id: id.clone(),
                to: req.to.clone(),
                reason: req.reason.clone(),
            }) {
                Ok(()) => result.assigned += 1,
                Err(e) => {
                    let name = self
                        .session_with(Permission::ReadCases)
                        .ok()
                        .and_then(|s| s.case_record(&id).ok().flatten())
                        .map(|r| r.file_number)
                        .unwrap_or(id);
                    result.refused.push(format!("{name}: {}", e.message));
                }
            }
        }
        Ok(result)
    }

    fn filter_key(&self) -> Result<String, AppError> {
        let session = self.session_with(Permission::ReadCases)?;
        Ok(format!("filter.{}", session.user().username))
    }

    /// The user's saved work-list filters.
    pub fn saved_filters(&self) -> Result<Vec<SavedFilter>, AppError> {
        let key = self.filter_key()?;
        let json = self.session_with(Permission::ReadCases)?.setting(&key)?;
        let Some(json) = json else {
            return Ok(Vec::new());
        };
        match serde_json::from_str(&json) {
            Ok(filters) => Ok(filters),
            Err(e) => {
                // Saved filters are a convenience of the work list: damaged ones must
                // not block it. Said in the log; the next save writes them anew.
                tracing::warn!("Gespeicherte Filter nicht lesbar, sie werden übergangen: {e}");
                Ok(Vec::new())
            }
        }
    }

    /// Save (or replace) a named filter.
    pub fn save_filter(&mut self, filter: SavedFilter) -> Result<Vec<SavedFilter>, AppError> {
        let name = filter.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(AppError::invalid(
                "Ein Filter braucht einen Namen (höchstens 60 Zeichen).",
            ));
        }
        let mut all = self.saved_filters()?;
        all.retain(|f| f.name != name);
        if all.len() >= MAX_FILTERS {
            return Err(AppError::invalid("Höchstens 30 gespeicherte Filter."));
        }
        all.push(SavedFilter {
            name,
            query: filter.query,
        });
        all.sort_by_key(|f| f.name.to_lowercase());
        let key = self.filter_key()?;
        let json = serde_json::to_string(&all).map_err(|e| AppError::invalid(e.to_string()))?;
        self.session_with_mut(Permission::ReadCases)?
            .set_setting(&key, &json)?;
        Ok(all)
    }

    pub fn delete_filter(&mut self, name: &str) -> Result<Vec<SavedFilter>, AppError> {
        let mut all = self.saved_filters()?;
        all.retain(|f| f.name != name);
        let key = self.filter_key()?;
        let json = serde_json::to_string(&all).map_err(|e| AppError::invalid(e.to_string()))?;
        self.session_with_mut(Permission::ReadCases)?
            .set_setting(&key, &json)?;
        Ok(all)
    }

    /// Who can be assigned cases (active Sachbearbeitung and Leitung): for the
    /// assignment menu. Names only.
    pub fn case_workers(&mut self) -> Result<Vec<crate::UserRow>, AppError> {
        if self.office_mode()? {
            return self.office_case_workers();
        }
        let session = self.session_with(Permission::EditCases)?;
        Ok(session
            .list_users()?
            .iter()
            .filter(|u| u.active && u.role.may(Permission::EditCases))
            .map(crate::UserRow::from)
            .collect())
    }

    /// Extend the statutory period once, before it expires, with a reason (§ 42a Abs. 2
    /// S. 3 VwVfG); the new end counts from the end of the original period (§ 190 BGB).
    pub fn extend_deadline(&mut self, id: &str, reason: &str) -> Result<(), AppError> {
        self.session_with(Permission::EditCases)?;
        let office = self.office_mode()?;
        let cfg = self.casework_config()?;
        let (rec, history) = if office {
            // The replica's case and history; the server applies the extension once.
            let meta = self.office_visible(id)?;
            let events = self.office_events(meta.id)?;
            crate::desk::views::replica_record(&meta, events, Some(&cfg))
        } else {
            let (session, rec) = self.visible_case(id, Permission::EditCases)?;
            let history = session.case_history(&rec.id)?;
            (rec, history)
        };
        let state = stored_state(&rec.status)?;
        let Some(t) = case_type(&cfg, &rec) else {
            return Err(AppError::invalid(
                "Für diesen Vorgang ist keine Vorgangsart eingerichtet; es gibt keine Frist.",
            ));
        };
        if !state.is_open() {
            return Err(AppError::invalid(
                "Der Vorgang ist entschieden; eine Fristverlängerung ist nicht mehr möglich.",
            ));
        }
        let rules = t.deadline_rules();
        let clock = clock_from(&rec, &history);
        let now = today();
        let before = domain::deadline::compute(&rules, &clock, &cfg.calendar, now);
        domain::deadline::check_extension(&rules, &clock, &before, reason, now)
            .map_err(|e| AppError::invalid(e.to_string()))?;
        let extended = Clock {
            extended: true,
            ..clock
        };
        let after = domain::deadline::compute(&rules, &extended, &cfg.calendar, now);
        if office {
            self.office_extend(&rec.file_number, reason)?;
            return Ok(());
        }
        let d = serde_json::json!({
            "grund": reason.trim(),
            "bisher": before.legal.map(|x| x.to_string()),
            "neu": after.legal.map(|x| x.to_string()),
        })
        .to_string();
        self.session_with_mut(Permission::EditCases)?
            .extend_case(id, d)?;
        Ok(())
    }
}

impl Workstation {
    /// The open cases whose statutory deadline differs between the rules before the
    /// legal review and those in force (the Leitung's list after an update: letters
    /// may have named the old date). Each case keeps its history; the dates are
    /// computed from it.
    pub fn deadline_changes(&mut self) -> Result<Vec<DeadlineChange>, AppError> {
        let session = self.session_with(Permission::AllCases)?;
        let cfg = self.casework_config()?;
        let cases: Vec<(CaseRecord, Vec<store::HistoryEntry>)> = if session
            .setting(crate::office::SETTING)?
            .is_some()
        {
            // Office mode: the Leitung's replica holds every case with its history.
            session
                .replica_cases()?
                .unwrap_or_default()
                .into_iter()
                .map(|(meta, events)| crate::desk::views::replica_record(&meta, events, Some(&cfg)))
                .collect()
        } else {
            let mut histories: std::collections::HashMap<String, Vec<store::HistoryEntry>> =
                std::collections::HashMap::new();
            for (case, h) in session.all_history()? {
                histories.entry(case).or_default().push(h);
            }
            session
                .all_case_records()?
                .into_iter()
                .map(|r| {
                    let h = histories.remove(&r.id).unwrap_or_default();
                    (r, h)
                })
                .collect()
        };
        let now = today();
        let mut out = Vec::new();
        for (r, history) in cases {
            let open = CaseState::parse(&r.status).is_some_and(|s| s.is_open());
            let Some(t) = case_type(&cfg, &r).filter(|_| open) else {
                continue;
            };
            let Some((months, hemmung, extension)) = previous_settings(t) else {
                continue;
            };
            let clock = clock_from(&r, &history);
            let previous = domain::deadline::previous_rule_end(
                months,
                hemmung,
                extension,
                &clock,
                &cfg.calendar,
                now,
            );
            let current =
                domain::deadline::compute(&t.deadline_rules(), &clock, &cfg.calendar, now).legal;
            if previous != current {
                out.push(DeadlineChange {
                    id: r.id,
                    file_number: r.file_number,
                    case_type: r.case_type,
                    previous: previous.map(|d| d.to_string()),
                    current: current.map(|d| d.to_string()),
                });
            }
        }
        out.sort_by(|a, b| {
            a.current
                .cmp(&b.current)
                .then_with(|| a.file_number.cmp(&b.file_number))
        });
        Ok(out)
    }

    /// The work list (Arbeitskorb).
    pub fn work_list(&mut self, query: WorkListQuery) -> Result<WorkList, AppError> {
        if self.office_mode()? {
            return self.office_work_list(query);
        }
        let limit = query.limit.clamp(1, MAX_PAGE);
        self.allowed(Permission::ReadCases)?;
        let search = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty());
        if search.is_some_and(|q| q.chars().count() > 200) {
            return Err(AppError::invalid(
                "Der Suchbegriff ist zu lang (höchstens 200 Zeichen).",
            ));
        }
        let cfg = self.casework_config().ok();
        // Deadline order, windows and counts read the keys: bring them up to date
        // (or leave that to the background job when it has many to compute).
        let dues_pending = self.refresh_dues(cfg.as_deref())?;
        let session = self.session_with(Permission::ReadCases)?;
        let me = session.user().username.to_string();
        let all = session.user().role.may(Permission::AllCases);
        let scope = if all {
            store::CaseFilter::All
        } else {
            store::CaseFilter::OwnOrUnassigned(me.clone())
        };
        let (overdue, soon) = due_windows(today());
        let (filter, window) = match query.view {
            Some(api::WorkListView::Meine) => (store::CaseFilter::AssignedTo(me.clone()), None),
            Some(api::WorkListView::Eingang) => (store::CaseFilter::Unassigned, None),
            Some(api::WorkListView::Faellig) => (scope.clone(), Some(&soon)),
            Some(api::WorkListView::Ueberfaellig) => (scope.clone(), Some(&overdue)),
            None => (scope.clone(), None),
        };
        let records = match search {
            Some(q) => session.search_cases_due(q, &filter, window, limit, query.offset)?,
            None => {
                let order = match query.sort {
                    Some(api::WorkListSort::EingangAlt) => store::CaseOrder::OldestFirst,
                    Some(api::WorkListSort::Aktenzeichen) => store::CaseOrder::FileNumber,
                    Some(api::WorkListSort::Frist) => store::CaseOrder::Deadline,
                    Some(api::WorkListSort::Status) => store::CaseOrder::Status,
                    Some(api::WorkListSort::Zustaendig) => store::CaseOrder::Assignee,
                    Some(api::WorkListSort::EingangNeu) | None => store::CaseOrder::NewestFirst,
                };
                session.case_records_due(&filter, window, order, limit, query.offset)?
            }
        };
        let mut items = Vec::new();
        for r in records {
            let (deadline, due) = match &cfg {
                Some(cfg) => marker(session, &r, cfg)?,
                None => (None, None),
            };
            items.push(domain::CaseSummary {
                id: r.id,
                file_number: r.file_number,
                case_type: r.case_type,
                applicant: r.applicant,
                status: stored_state(&r.status)?,
                received_at: r.received_at,
                deadline,
                due,
                assigned_to: r.assigned_to,
            });
        }
        let total = match search {
            Some(q) => session.count_search_due(q, &filter, window)?,
            None => session.count_case_records_due(&filter, window)?,
        };
        let total = u32::try_from(total).unwrap_or(u32::MAX);
        // The view on screen was just counted; the others are counted here.
        let shown = if search.is_none() { query.view } else { None };
        let count = |view: Option<api::WorkListView>,
                     f: &store::CaseFilter,
                     w: Option<&store::DueWindow>| {
            if search.is_none() && shown == view {
                return Ok(total);
            }
            session
                .count_case_records_due(f, w)
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        };
        use api::WorkListView as V;
        let counts = api::ViewCounts {
            alle: count(None, &scope, None)?,
            meine: count(Some(V::Meine), &store::CaseFilter::AssignedTo(me), None)?,
            eingang: count(Some(V::Eingang), &store::CaseFilter::Unassigned, None)?,
            faellig: count(Some(V::Faellig), &scope, Some(&soon))?,
            ueberfaellig: count(Some(V::Ueberfaellig), &scope, Some(&overdue))?,
        };
        Ok(WorkList {
            items,
            total,
            counts,
            dues_pending,
        })
    }

    /// Compute the deadline keys of the cases changed since they were last set
    /// (all of them under other rules): a handful after a day's work, every case
    /// once after an update or a change of the case types or holidays.
    /// Returns true when a background job computes many keys (or all, under other
    /// rules): nothing is computed here then (it would hold the window for seconds).
    fn refresh_dues(&mut self, cfg: Option<&CaseworkConfig>) -> Result<bool, AppError> {
        let background = self.dues_background;
        let session = self.session_with_mut(Permission::ReadCases)?;
        // Without a readable configuration no case has a deadline; once it is
        // repaired the basis differs again and everything is computed anew.
        let basis = due_basis_of(cfg);
        if session.due_basis()?.as_deref() != Some(basis) {
            if background {
                // The job computes every key under the new rules.
                return Ok(true);
            }
            session.renew_due_basis(basis)?;
        }
        if !session.due_work_above(0, false)? {
            return Ok(false);
        }
        if background && session.due_work_above(DUES_INLINE, false)? {
            return Ok(true);
        }
        let mut dues = Vec::new();
        session.for_each_due_case(false, |r, history| {
            let due = due_of(&r, &history, cfg);
            dues.push((r.id, due));
        })?;
        session.set_case_dues(&dues)?;
        Ok(false)
    }

    /// Many deadline keys to compute (the first login after an update, other case
    /// types or holidays): a job that computes them on a second session of this
    /// login outside the workstation lock ([`DueJob::run`]) and stores them through
    /// it a slice at a time ([`DueKeys::store_next`]); [`Self::due_keys_done`] when it
    /// ends. None when there are few (the next work list computes them at once), in
    /// office mode, or when nobody may read cases.
    pub fn due_keys_job(&mut self) -> Result<Option<DueJob>, AppError> {
        if self.office_mode()? {
            return Ok(None);
        }
        let cfg = self.casework_config().ok();
        let Ok(session) = self.session_with_mut(Permission::ReadCases) else {
            return Ok(None);
        };
        let basis = due_basis_of(cfg.as_deref()).to_owned();
        // Other rules: every key is computed again (the basis is recorded once
        // all are stored – marking every case stale here would hold the lock).
        let all = session.due_basis()?.as_deref() != Some(basis.as_str());
        if !session.due_work_above(DUES_INLINE, all)? {
            return Ok(None);
        }
        // What changes after this position is computed again by the next work list.
        let (_, mark) = session.case_changes_span()?;
        let basis_was = session.due_basis()?;
        let worker = session.worker()?;
        self.dues_background = true;
        Ok(Some(DueJob {
            worker,
            cfg,
            basis,
            basis_was,
            mark,
            all,
        }))
    }

    /// The background job ended (done, failed or abandoned at a logout): work lists
    /// compute stale keys themselves again.
    pub fn due_keys_done(&mut self) {
        self.dues_background = false;
    }
}

/// Up to this many stale deadline keys a work list computes itself (a few
/// milliseconds); more are left to the background job while one runs.
pub const DUES_INLINE: u64 = 2_000;

fn due_basis_of(cfg: Option<&CaseworkConfig>) -> &str {
    cfg.map_or("ohne Konfiguration", |c| c.deadline_basis.as_str())
}

/// The key of one case read with its history (`None`: no configuration).
fn due_of(
    r: &CaseRecord,
    history: &[store::HistoryEntry],
    cfg: Option<&CaseworkConfig>,
) -> Option<String> {
    cfg.and_then(|cfg| due_key(r, cfg, history))
}

/// Deadline keys computed and stored beside the window: a second session of its
/// own (writes take turns with the window's through SQLite's lock, never the
/// workstation lock), the rules in force and the position of the change list when
/// it began.
pub struct DueJob {
    worker: store::Session,
    cfg: Option<std::sync::Arc<CaseworkConfig>>,
    basis: String,
    /// The rules' record when the job began: another one means someone renewed it.
    basis_was: Option<String>,
    mark: i64,
    /// Every case (other rules), not only the stale ones.
    all: bool,
}

/// The keys a [`DueJob`] computed, stored a slice at a time by [`DueKeys::store_next`].
pub struct DueKeys {
    job: DueJob,
    dues: Vec<(String, Option<String>)>,
}

impl DueJob {
    /// Read the cases with their histories and compute their keys (no lock held),
    /// one case at a time: only the keys are kept.
    pub fn run(self) -> Result<DueKeys, AppError> {
        let mut dues = Vec::new();
        let cfg = self.cfg.as_deref();
        self.worker.for_each_due_case(self.all, |r, history| {
            let due = due_of(&r, &history, cfg);
            dues.push((r.id, due));
        })?;
        Ok(DueKeys { job: self, dues })
    }
}

impl DueKeys {
    /// Keys still to be stored.
    pub fn len(&self) -> usize {
        self.dues.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dues.is_empty()
    }

    /// Store up to `max` keys in one short transaction of the job's own session;
    /// true while more are left. Keys of cases changed since the job began are not
    /// stored (they stay stale), and none at all once the rules' record changed.
    /// After the last slice of a job over every case, the rules are recorded.
    pub fn store_next(&mut self, max: usize) -> Result<bool, AppError> {
        let take = self.dues.len().min(max.max(1));
        let slice: Vec<(String, Option<String>)> = self.dues.drain(..take).collect();
        let stored =
            self.job
                .worker
                .store_due_keys(&slice, self.job.mark, self.job.basis_was.as_deref())?;
        if stored.is_none() {
            self.dues.clear();
            return Ok(false);
        }
        if self.dues.is_empty() {
            if self.job.all {
                self.job.worker.set_due_basis(&self.job.basis)?;
            }
            return Ok(false);
        }
        Ok(true)
    }
}

/// The running deadline of a case as the work list orders it: the statutory
/// period, else the service target; none for a closed case, a case type without
/// rules, or a suspended period (its end moves every day until the documents
/// are in).
pub(crate) fn due_key(
    rec: &CaseRecord,
    cfg: &CaseworkConfig,
    history: &[store::HistoryEntry],
) -> Option<String> {
    let d = running_deadlines(rec, cfg, history).filter(|d| !d.suspended)?;
    d.legal.or(d.target).map(|x| x.to_string())
}

/// The windows "überfällig" (running deadline before `today`) and "fällig"
/// (`today` and the next 14 days).
pub(crate) fn due_windows(today: jiff::civil::Date) -> (store::DueWindow, store::DueWindow) {
    use jiff::ToSpan;
    let yesterday = today.checked_sub(1.day()).unwrap_or(today);
    let in14 = today.checked_add(14.days()).unwrap_or(today);
    (
        store::DueWindow {
            from: None,
            until: yesterday.to_string(),
        },
        store::DueWindow {
            from: Some(today.to_string()),
            until: in14.to_string(),
        },
    )
}

#[cfg(test)]
mod clock_tests {
    use super::*;
    use jiff::civil::date;

    fn entry(at: &str, kind: &str, detail: Option<&str>) -> store::HistoryEntry {
        store::HistoryEntry {
            at: at.into(),
            actor: "portal".into(),
            kind: kind.into(),
            from_state: None,
            to_state: None,
            detail: detail.map(str::to_owned),
        }
    }

    fn record() -> CaseRecord {
        CaseRecord {
            id: "a".repeat(32),
            file_number: "MAK-2026-0100001".into(),
            case_type: "Erlaubnis als Immobilienmakler".into(),
            case_type_code: None,
            applicant: String::new(),
            status: "in_bearbeitung".into(),
            received_at: "2026-01-02T09:00:00+01:00".into(),
            assigned_to: None,
            complete_at: Some("2026-01-23".into()),
            waiting_from: None,
            extended: false,
            fc_case_id: None,
        }
    }

    /// § 42a Abs. 2 S. 2 VwVfG: an online answer counts from the portal's signed receipt
    /// (Tue 20 Jan 2026), not from the day the workstation stored it (Thu 22 Jan);
    /// a request after the "vollständig" entry belongs to the running period.
    #[test]
    fn vwvfg_42a_online_answer_counts_from_the_portal_receipt() {
        let history = [
            entry("2026-01-05T10:00:00+01:00", "nachfordern", None),
            entry(
                "2026-01-22T08:00:00+01:00",
                "nachreichung_eingegangen",
                Some(r#"{"einreichung":"x","eingang":"2026-01-20T16:30:00+01:00"}"#),
            ),
            entry("2026-01-23T11:00:00+01:00", "vollstaendig", None),
            entry("2026-02-01T11:00:00+01:00", "nachfordern", None),
        ];
        let clock = clock_from(&record(), &history);
        assert_eq!(clock.declared_complete, Some(date(2026, 1, 23)));
        assert_eq!(
            clock.requests_before,
            vec![(date(2026, 1, 5), Some(date(2026, 1, 20)))]
        );
        assert_eq!(clock.requests_after, vec![(date(2026, 2, 1), None)]);
        assert_eq!(
            domain::deadline::completeness_start(&clock),
            Some(date(2026, 1, 20))
        );
        // A paper answer recorded by the clerk counts from its entry.
        let paper = [
            entry("2026-01-05T10:00:00+01:00", "nachfordern", None),
            entry(
                "2026-01-21T08:00:00+01:00",
                "nachreichung_eingegangen",
                None,
            ),
            entry("2026-01-23T11:00:00+01:00", "vollstaendig", None),
        ];
        assert_eq!(
            domain::deadline::completeness_start(&clock_from(&record(), &paper)),
            Some(date(2026, 1, 21))
        );
    }
}

#[cfg(test)]
mod origin_tests {
    use super::*;
    use DocumentKind::{Attachment, Data, Letter, Metadata, Scan};

    #[test]
    fn documents_are_named_by_the_submission_that_brought_them() {
        let got = document_origins([
            (Metadata, Some("s1")),
            (Data, Some("s1")),
            (Attachment, Some("s1")),
            (Letter, None),
            (Metadata, Some("s2")),
            (Attachment, Some("s2")),
            (Attachment, Some("s3")),
            // A late part of the first submission still belongs to the application.
            (Attachment, Some("s1")),
            (Scan, None),
            (Data, None),
        ]);
        assert_eq!(
            got,
            [
                "Antrag",
                "Antrag",
                "Antrag",
                "Schreiben",
                "Nachreichung 1",
                "Nachreichung 1",
                "Nachreichung 2",
                "Antrag",
                "Scan",
                "Antrag",
            ]
        );
        assert!(document_origins(std::iter::empty()).is_empty());
    }
}

#[cfg(test)]
mod channel_tests {
    use super::*;

    /// A channel this version does not know is shown by its name and never
    /// offered: the letter goes by post, recorded as the fallback.
    #[test]
    fn an_unknown_channel_is_shown_and_never_available() {
        let metadata = serde_json::json!({ "replyChannel": { "brieftaube": { "schlag": "7" } } });
        let v = reply_channel_view(Some(&metadata), true, true, true).expect("a channel");
        assert_eq!(v.label, "unbekannter Antwortweg „brieftaube“");
        assert!(!v.available);
        assert_eq!(channel_key("post"), None);
        // Known channels follow what is set up.
        let mail =
            serde_json::json!({ "replyChannel": { "eMail": { "address": "a@example.org" } } });
        assert!(reply_channel_view(Some(&mail), false, true, false).is_some_and(|v| v.available));
        assert!(reply_channel_view(Some(&mail), true, false, true).is_some_and(|v| !v.available));
        assert!(reply_channel_view(None, true, true, true).is_none());
    }
}
