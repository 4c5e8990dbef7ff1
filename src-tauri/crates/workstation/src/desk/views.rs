//! The app's screens on the replica: in office mode the work list, the case view
//! and the clerk's steps answer with the same types as standalone, read from this
//! desk's replica and written as commands to the upload queue. So the window does
//! not know which mode it runs in, and keeps working while the server is away
//! (the status bar says so).
//!
//! Case content (name, notes, reasons) is opened in memory with this login's case
//! key; what is opened is kept in memory only for this login (dropped at logout).

use std::collections::BTreeMap;

use domain::lifecycle::{self, Action, CaseState, Context};
use domain::{Channel, DocumentKind, Permission, Role};
use office::keyring::KeyKind;
use office::protocol::Step;
use uuid::Uuid;

use crate::api::{self, WorkList, WorkListQuery};
use crate::casework::{
    AssignRequest, CaseDetail, ChecklistItem, DocumentContent, DocumentView, HistoryView, NoteView,
    case_type, deadline_view, fiction_from, marker_from,
};
use crate::config::CaseworkConfig;
use crate::desk::{OnlineContent, in_order};

/// A replica case and its running deadline (`YYYY-MM-DD`), for the work list.
type Dated = (office::CaseMeta, Option<String>);
use crate::office::invalid;
use crate::{AppError, ErrorCode, MAX_PAGE, Workstation};

/// Setting prefix: the checklist points ticked at this desk, per case (the server
/// keeps only whether the checklist is complete).
const TICKS: &str = "buero.haken.";

/// A replica case as the standalone record and history, so that the deadline and
/// figure rules run unchanged on it. The applicant is left empty (it is content).
pub(crate) fn replica_record(
    meta: &office::CaseMeta,
    events: Vec<office::Event>,
    config: Option<&CaseworkConfig>,
) -> (store::CaseRecord, Vec<store::HistoryEntry>) {
    let events = in_order(events);
    // Paper cases carry the type's short code, online cases the service's name.
    let by_code = config.and_then(|c| c.types.by_code(&meta.case_type));
    let (case_type, case_type_code) = match by_code {
        Some(t) => (t.name.clone(), Some(meta.case_type.clone())),
        None => (meta.case_type.clone(), None),
    };
    let complete_at = events
        .iter()
        .rev()
        .find(|e| e.kind == "vollstaendig")
        .and_then(|e| crate::casework::date_of(&e.at))
        .map(|d| d.to_string());
    let rec = store::CaseRecord {
        id: meta.id.simple().to_string(),
        file_number: meta.file_number.clone(),
        case_type,
        case_type_code,
        applicant: String::new(),
        status: meta.state.as_str().to_owned(),
        received_at: meta.received_at.clone(),
        assigned_to: meta.assignee.clone(),
        complete_at,
        waiting_from: meta.waiting_from.map(|s| s.as_str().to_owned()),
        extended: meta.extended,
        fc_case_id: (meta.channel == "online").then(String::new),
    };
    let history = events
        .into_iter()
        .map(|e| store::HistoryEntry {
            at: e.at,
            actor: e.actor,
            kind: e.kind,
            from_state: e.from_state.map(|s| s.as_str().to_owned()),
            to_state: e.to_state.map(|s| s.as_str().to_owned()),
            detail: None,
        })
        .collect();
    (rec, history)
}

fn not_here() -> AppError {
    AppError::new(
        ErrorCode::NotFound,
        "Diesen Vorgang gibt es an diesem Arbeitsplatz nicht (oder er ist einer anderen Person zugewiesen).",
    )
}

/// The lifecycle action as the server's step, and the reason that travels sealed.
fn step_of(action: Action) -> (Step, Option<String>) {
    match action {
        Action::PruefungBeginnen => (Step::PruefungBeginnen, None),
        Action::Nachfordern { fehlend, frist } => (Step::Nachfordern { frist }, {
            let list = fehlend.join("\n");
            (!list.trim().is_empty()).then_some(list)
        }),
        // The intake date stays at the desk: the server records its own time.
        Action::NachreichungEingegangen { .. } => (Step::NachreichungEingegangen, None),
        Action::VollstaendigFeststellen => (Step::Vollstaendig, None),
        Action::Entscheiden {
            ergebnis,
            begruendung,
            anhoerung_vermerk,
        } => (
            Step::Entscheiden { ergebnis },
            // The note on the hearing travels encrypted with the reasons.
            Some(match anhoerung_vermerk.filter(|v| !v.trim().is_empty()) {
                Some(v) => format!("{begruendung}\n\nAnhörung (§ 28 VwVfG): {v}"),
                None => begruendung,
            }),
        ),
        Action::Versenden { kanal } => (Step::Versenden { kanal }, None),
        Action::Abschliessen => (Step::Abschliessen, None),
        Action::Zurueckziehen { grund } => (Step::Zurueckziehen, Some(grund)),
        Action::Weiterleiten { an, grund } => (Step::Weiterleiten { an }, Some(grund)),
        Action::FiktionFeststellen => (Step::FiktionFeststellen, None),
    }
}

impl Workstation {
    /// Whether this desk works on a Rathaus-Server's record.
    pub(crate) fn office_mode(&self) -> Result<bool, AppError> {
        Ok(self
            .session_with(Permission::RunSync)?
            .setting(crate::office::SETTING)?
            .is_some())
    }

    /// Whether this login has a replica yet (signed in here at least once).
    fn office_has_replica(&mut self) -> Result<bool, AppError> {
        if self.office.replica.is_some() || self.office.role.is_some() {
            return Ok(true);
        }
        Ok(self
            .session_with(Permission::RunSync)?
            .replica_role()?
            .is_some())
    }

    /// The events of a case this desk holds, in the lifecycle's order.
    pub(crate) fn office_events(&mut self, case_id: Uuid) -> Result<Vec<office::Event>, AppError> {
        Ok(in_order(
            self.replica_mut()?
                .cases
                .get(&case_id)
                .map(|c| c.events.values().cloned().collect())
                .unwrap_or_default(),
        ))
    }

    /// The replica case behind the window's id, if this user may see it.
    pub(crate) fn office_visible(&mut self, id: &str) -> Result<office::CaseMeta, AppError> {
        let case_id = Uuid::parse_str(id.trim()).map_err(|_| invalid("Ungültige Vorgangs-ID."))?;
        let replica = self.replica_mut()?;
        let meta = replica.view(case_id).ok_or_else(not_here)?;
        if !office::rules::visible(&replica.actor, meta.assignee.as_deref()) {
            return Err(not_here());
        }
        Ok(meta)
    }

    /// The opened content of a case (name, service, documents), cached for this login.
    fn office_content(&mut self, case_id: Uuid) -> Result<Option<OnlineContent>, AppError> {
        if let Some(c) = self.office.opened.get(&case_id) {
            return Ok(Some(c.clone()));
        }
        let Some(sealed) = self
            .session_with(Permission::RunSync)?
            .replica_content(case_id)?
        else {
            return Ok(None);
        };
        if !self.office.kinds.contains_key(&KeyKind::Fall) {
            // Not signed in at the server yet: the content stays closed.
            return Ok(None);
        }
        let plain = self.office_open(KeyKind::Fall, &sealed)?;
        let content: OnlineContent = serde_json::from_slice(&plain).map_err(|_| {
            AppError::new(
                ErrorCode::Storage,
                "Der Inhalt des Vorgangs ist beschädigt.",
            )
        })?;
        self.office.opened.insert(case_id, content.clone());
        Ok(Some(content))
    }

    /// The work list from the replica: the same views, orders and search as
    /// standalone (search looks at Aktenzeichen, case type and name).
    pub(crate) fn office_work_list(&mut self, query: WorkListQuery) -> Result<WorkList, AppError> {
        self.session_with(Permission::ReadCases)?;
        if !self.office_has_replica()? {
            return Ok(WorkList {
                items: Vec::new(),
                total: 0,
                counts: api::ViewCounts::default(),
                dues_pending: false,
            });
        }
        let limit = query.limit.clamp(1, MAX_PAGE) as usize;
        let search = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_lowercase);
        if search.as_ref().is_some_and(|q| q.chars().count() > 200) {
            return Err(AppError::invalid(
                "Der Suchbegriff ist zu lang (höchstens 200 Zeichen).",
            ));
        }
        let cfg = self.casework_config().ok();
        let replica = self.replica_mut()?;
        let me = replica.actor.user.clone();
        // Metadata only for the whole list (and each case's running deadline,
        // from its events in memory); the content is read for the page.
        let visible: Vec<office::CaseMeta> = replica
            .cases
            .keys()
            .filter_map(|id| replica.view(*id))
            .filter(|m| office::rules::visible(&replica.actor, m.assignee.as_deref()))
            .collect();
        let mut dated = Vec::with_capacity(visible.len());
        for m in visible {
            let due = match &cfg {
                Some(cfg) => {
                    let (rec, history) =
                        replica_record(&m, self.office_events(m.id)?, Some(cfg.as_ref()));
                    crate::casework::due_key(&rec, cfg, &history)
                }
                None => None,
            };
            dated.push((m, due));
        }
        let (overdue, soon) = crate::casework::due_windows(crate::casework::today());
        let within = |due: &Option<String>, w: &store::DueWindow| {
            due.as_deref().is_some_and(|d| w.contains(d))
        };
        let count = |keep: &dyn Fn(&Dated) -> bool| {
            u32::try_from(dated.iter().filter(|r| keep(r)).count()).unwrap_or(u32::MAX)
        };
        let counts = api::ViewCounts {
            alle: count(&|_| true),
            meine: count(&|(m, _)| m.assignee.as_deref() == Some(me.as_str())),
            eingang: count(&|(m, _)| m.assignee.is_none()),
            faellig: count(&|(_, d)| within(d, &soon)),
            ueberfaellig: count(&|(_, d)| within(d, &overdue)),
        };
        let mut rows: Vec<Dated> = dated
            .into_iter()
            .filter(|(m, due)| match query.view {
                Some(api::WorkListView::Meine) => m.assignee.as_deref() == Some(me.as_str()),
                Some(api::WorkListView::Eingang) => m.assignee.is_none(),
                Some(api::WorkListView::Faellig) => within(due, &soon),
                Some(api::WorkListView::Ueberfaellig) => within(due, &overdue),
                None => true,
            })
            .collect();
        if let Some(q) = &search {
            let mut kept = Vec::new();
            for (m, due) in rows {
                let mut hay = format!("{} {}", m.file_number, m.case_type).to_lowercase();
                if let Some(c) = self.office_content(m.id)? {
                    hay.push(' ');
                    hay.push_str(&c.applicant.unwrap_or_default().to_lowercase());
                    hay.push(' ');
                    hay.push_str(&c.service.unwrap_or_default().to_lowercase());
                }
                if q.split_whitespace().all(|w| hay.contains(w)) {
                    kept.push((m, due));
                }
            }
            rows = kept;
        }
        let rank = |s: CaseState| match s {
            CaseState::Eingegangen => 0,
            CaseState::InPruefung => 1,
            CaseState::Nachgefordert => 2,
            CaseState::InBearbeitung => 3,
            CaseState::Entschieden => 4,
            CaseState::Versandt => 5,
            _ => 6,
        };
        match query.sort {
            Some(api::WorkListSort::EingangAlt) => {
                rows.sort_by(|(a, _), (b, _)| a.received_at.cmp(&b.received_at));
            }
            Some(api::WorkListSort::Aktenzeichen) => {
                rows.sort_by(|(a, _), (b, _)| a.file_number.cmp(&b.file_number));
            }
            Some(api::WorkListSort::Frist) => rows.sort_by(|(a, da), (b, db)| {
                let key = |d: &Option<String>| d.clone().unwrap_or_else(|| store::NO_DUE.into());
                key(da)
                    .cmp(&key(db))
                    .then_with(|| a.file_number.cmp(&b.file_number))
            }),
            Some(api::WorkListSort::Status) => rows.sort_by(|(a, _), (b, _)| {
                rank(a.state)
                    .cmp(&rank(b.state))
                    .then_with(|| b.received_at.cmp(&a.received_at))
            }),
            Some(api::WorkListSort::Zustaendig) => rows.sort_by(|(a, _), (b, _)| {
                (a.assignee.is_some(), &a.assignee)
                    .cmp(&(b.assignee.is_some(), &b.assignee))
                    .then_with(|| b.received_at.cmp(&a.received_at))
            }),
            Some(api::WorkListSort::EingangNeu) | None => {
                rows.sort_by(|(a, _), (b, _)| b.received_at.cmp(&a.received_at));
            }
        }
        let rows: Vec<office::CaseMeta> = rows.into_iter().map(|(m, _)| m).collect();
        let total = rows.len();
        let mut items = Vec::new();
        for meta in rows.into_iter().skip(query.offset as usize).take(limit) {
            let events = self.office_events(meta.id)?;
            let (rec, history) = replica_record(&meta, events, cfg.as_deref());
            let (deadline, due) = match &cfg {
                Some(cfg) => marker_from(&rec, cfg, &history),
                None => (None, None),
            };
            let content = self.office_content(meta.id)?;
            items.push(domain::CaseSummary {
                applicant: content
                    .as_ref()
                    .and_then(|c| c.applicant.clone())
                    .unwrap_or_else(|| "(verschlüsselt)".into()),
                case_type: rec.case_type,
                id: rec.id,
                file_number: rec.file_number,
                status: meta.state,
                received_at: rec.received_at,
                deadline,
                due,
                assigned_to: rec.assigned_to,
            });
        }
        Ok(WorkList {
            items,
            total: u32::try_from(total).unwrap_or(u32::MAX),
            counts,
            dues_pending: false,
        })
    }

    /// The case view from the replica.
    pub(crate) fn office_case_detail(&mut self, id: &str) -> Result<CaseDetail, AppError> {
        let role = self.session_with(Permission::ReadCases)?.user().role;
        let meta = self.office_visible(id)?;
        let cfg = self.casework_config()?;
        let events = self.office_events(meta.id)?;
        let (mut rec, history) = replica_record(&meta, events, Some(&cfg));
        let content = self.office_content(meta.id)?;
        let notes = self.office_notes(&meta.file_number)?;
        let ticks = self.office_ticks(meta.id)?;
        let checklist = case_type(&cfg, &rec)
            .map(|t| t.checkliste.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let mine = ticks.get(&item).cloned();
                ChecklistItem {
                    checked: mine.is_some() || meta.checklist_complete,
                    checked_by: mine
                        .or_else(|| meta.checklist_complete.then(|| "Rathaus-Server".to_owned())),
                    item,
                }
            })
            .collect();
        rec.applicant = content
            .as_ref()
            .and_then(|c| c.applicant.clone())
            .unwrap_or_else(|| "(verschlüsselt – bitte am Rathaus-Server anmelden)".into());
        rec.fc_case_id = content.as_ref().and_then(|c| c.fc_case_id.clone());
        let deadlines = deadline_view(&cfg, &rec, meta.state, &history);
        let fiction = fiction_from(&cfg, &rec, &history, crate::casework::today());
        let documents = match self.office.fetched.get(&meta.id) {
            Some(list) => list.clone(),
            None => content
                .as_ref()
                .map(|c| c.documents.clone())
                .unwrap_or_default(),
        }
        .into_iter()
        .enumerate()
        .map(|(n, d)| {
            let kind = DocumentKind::parse(&d.kind).unwrap_or(DocumentKind::Attachment);
            DocumentView {
                id: n.to_string(),
                // The server's list names no submission: one application.
                origin: crate::casework::document_origins([(kind, None)]).concat(),
                kind,
                filename: d.filename,
                mime_type: d.mime_type,
                size: d.size,
                added_at: None,
            }
        })
        .collect();
        let may_edit = role.may(Permission::EditCases);
        Ok(CaseDetail {
            // The metadata stays at the Rathaus-Server, which answers the citizen.
            reply_channel: None,
            // An e-mail the mail server refused: the letter has to go by post.
            tasks: self
                .office_refused_mails(meta.id)?
                .into_iter()
                .map(|(kanal, reason)| {
                    format!(
                        "{} ({reason}). Bitte den gespeicherten Brief (Unterlagen) ausdrucken und per Post senden, dann „Per Post versandt“ wählen.",
                        if kanal == "bundid" {
                            "Nicht im BundID-Postfach zugestellt"
                        } else {
                            "E-Mail nicht zugestellt"
                        }
                    )
                })
                .collect(),
            answers: Vec::new(),
            allowed_actions: if may_edit {
                lifecycle::allowed_actions(
                    meta.state,
                    Context {
                        checklist_complete: meta.checklist_complete,
                        waiting_from: meta.waiting_from,
                        hearing: lifecycle::Hearing::None,
                        fiction,
                    },
                )
            } else {
                Vec::new()
            },
            checklist,
            deadlines,
            history: history
                .into_iter()
                .map(|h| HistoryView {
                    at: h.at,
                    actor: h.actor,
                    kind: h.kind,
                    from_state: h.from_state.as_deref().and_then(CaseState::parse),
                    to_state: h.to_state.as_deref().and_then(CaseState::parse),
                    detail: None,
                })
                .collect(),
            notes: notes
                .into_iter()
                .map(|n| NoteView {
                    at: n.at,
                    author: n.author,
                    text: n.text,
                })
                .collect(),
            documents,
            portal_case_id: rec.fc_case_id.clone(),
            channel: if meta.channel == "online" {
                Channel::Online
            } else {
                Channel::Papier
            },
            state_label: meta.state.label().into(),
            state: meta.state,
            id: rec.id,
            file_number: rec.file_number,
            case_type: rec.case_type,
            applicant: rec.applicant,
            received_at: rec.received_at,
            assigned_to: rec.assigned_to,
        })
    }

    /// A lifecycle step in office mode: checked with the server's rules here,
    /// queued, sent at the next synchronisation. A Sachbearbeiter working on an
    /// unassigned case takes it first (as standalone).
    pub(crate) fn office_case_action(
        &mut self,
        id: &str,
        action: Action,
    ) -> Result<CaseDetail, AppError> {
        let role = self.session_with(Permission::EditCases)?.user().role;
        let meta = self.office_visible(id)?;
        let me = self.me()?.to_string();
        // The Fiktion period is computed here (the server leaves it to the desk).
        let cfg = self.casework_config()?;
        let events = self.office_events(meta.id)?;
        let (rec, history) = replica_record(&meta, events, Some(&cfg));
        let fiction = fiction_from(&cfg, &rec, &history, crate::casework::today());
        // The domain's own check first, for its German reason.
        lifecycle::apply(
            meta.state,
            &action,
            // The replica does not show which letter was a hearing: an adverse
            // decision needs the clerk's note on it (§ 28 VwVfG).
            Context {
                checklist_complete: meta.checklist_complete,
                waiting_from: meta.waiting_from,
                hearing: lifecycle::Hearing::None,
                fiction,
            },
        )
        .map_err(|e| AppError::new(ErrorCode::InvalidInput, e.to_string()))?;
        if meta.assignee.is_none() && role == Role::Sachbearbeitung {
            self.office_assign(&meta.file_number, Some(&me))?;
        }
        let (step, reason) = step_of(action);
        self.office_step(&meta.file_number, step, reason.as_deref())?;
        self.office_case_detail(id)
    }

    fn ticks_key(case_id: Uuid) -> String {
        format!("{TICKS}{}", case_id.simple())
    }

    /// The checklist points ticked at this desk: item → who.
    fn office_ticks(&self, case_id: Uuid) -> Result<BTreeMap<String, String>, AppError> {
        Ok(self
            .session_with(Permission::RunSync)?
            .setting(&Self::ticks_key(case_id))?
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default())
    }

    /// Tick a checklist point. The server learns when the list becomes complete
    /// (or no longer is); the single ticks stay at this desk.
    pub(crate) fn office_set_check(
        &mut self,
        id: &str,
        item: &str,
        checked: bool,
    ) -> Result<(), AppError> {
        self.session_with(Permission::EditCases)?;
        let meta = self.office_visible(id)?;
        let cfg = self.casework_config()?;
        let (rec, _) = replica_record(&meta, Vec::new(), Some(&cfg));
        let items = case_type(&cfg, &rec)
            .map(|t| t.checkliste.clone())
            .unwrap_or_default();
        if !items.iter().any(|c| c == item) {
            return Err(AppError::invalid(
                "Diesen Punkt gibt es in der Checkliste dieser Vorgangsart nicht.",
            ));
        }
        let mut ticks = self.office_ticks(meta.id)?;
        if meta.checklist_complete && ticks.is_empty() {
            // Completed elsewhere: every point counts as ticked until one is taken back.
            for i in &items {
                ticks.insert(i.clone(), "Rathaus-Server".into());
            }
        }
        let me = self.me()?.to_string();
        if checked {
            ticks.insert(item.to_owned(), me);
        } else {
            ticks.remove(item);
        }
        let complete = items.iter().all(|i| ticks.contains_key(i));
        let json = serde_json::to_string(&ticks).map_err(|e| invalid(e.to_string()))?;
        self.session_with_mut(Permission::EditCases)?
            .set_setting(&Self::ticks_key(meta.id), &json)?;
        if complete != meta.checklist_complete {
            self.office_checklist(&meta.file_number, complete)?;
        }
        Ok(())
    }

    pub(crate) fn office_add_note(&mut self, id: &str, text: &str) -> Result<(), AppError> {
        self.session_with(Permission::EditCases)?;
        let meta = self.office_visible(id)?;
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 5_000 {
            return Err(AppError::invalid(
                "Eine Notiz braucht Text (höchstens 5.000 Zeichen).",
            ));
        }
        self.office_note(&meta.file_number, text)?;
        Ok(())
    }

    /// Assignment in office mode: the server's rules decide (Leitung assigns to
    /// anyone; a Sachbearbeiter takes an unassigned case or gives back their own).
    /// A reassignment's reason travels as a note on the case.
    pub(crate) fn office_assign_case(&mut self, req: AssignRequest) -> Result<(), AppError> {
        self.session_with(Permission::EditCases)?;
        let meta = self.office_visible(&req.case_id)?;
        let me = self.me()?.to_string();
        let to = req.to.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let reason = req
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if let Some(user) = to {
            let replica = self.replica_mut()?;
            let target = replica
                .users
                .get(user)
                .filter(|u| u.active)
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
        let reassign = meta
            .assignee
            .as_deref()
            .is_some_and(|a| Some(a) != to && a != me);
        if reassign && reason.is_none() {
            return Err(AppError::invalid(
                "Für eine Umverteilung ist eine Begründung nötig.",
            ));
        }
        self.office_assign(&meta.file_number, to)?;
        if let Some(r) = reason {
            let whom = to.unwrap_or("das Team");
            self.office_note(&meta.file_number, &format!("Zugewiesen an {whom}: {r}"))?;
        }
        Ok(())
    }

    /// Who can be assigned cases, as the server's user list says.
    pub(crate) fn office_case_workers(&mut self) -> Result<Vec<crate::UserRow>, AppError> {
        self.session_with(Permission::EditCases)?;
        if !self.office_has_replica()? {
            return Ok(Vec::new());
        }
        let replica = self.replica_mut()?;
        Ok(replica
            .users
            .values()
            .filter(|u| u.active && u.role.may(Permission::EditCases))
            .map(|u| crate::UserRow {
                username: u.name.clone(),
                display_name: u.name.clone(),
                role: u.role,
                active: u.active,
            })
            .collect())
    }

    /// The letters of a case and where they stand: the Rathaus-Server sends
    /// them, this desk knows whether the server has taken them over yet.
    pub(crate) fn office_case_outbox(
        &mut self,
        id: &str,
    ) -> Result<Vec<crate::OutboxView>, AppError> {
        self.session_with(Permission::ReadCases)?;
        let meta = self.office_visible(id)?;
        let replica = self.replica_mut()?;
        let view = |kanal: &str, state: &str| crate::OutboxView {
            what: match kanal {
                "postfach" => {
                    "Brief an das Portal (FIT-Connect-Einreichung, versendet der Rathaus-Server)"
                        .into()
                }
                "post" => "Brief per Post (druckt und versendet der Rathaus-Server)".into(),
                "email" => "Brief per E-Mail (verschlüsselt, versendet der Rathaus-Server)".into(),
                "bundid" => "Brief an das BundID-Postfach (versendet der Rathaus-Server)".into(),
                _ => "Brief (versendet der Rathaus-Server)".into(),
            },
            state: state.into(),
            attempts: 0,
            error: None,
        };
        let mut out: Vec<crate::OutboxView> = replica
            .cases
            .get(&meta.id)
            .map(|c| {
                in_order(c.events.values().cloned().collect())
                    .iter()
                    .filter(|e| e.kind == "brief")
                    .map(|_| view("", "beim Rathaus-Server"))
                    .collect()
            })
            .unwrap_or_default();
        for cmd in &replica.queue {
            if let office::protocol::CommandBody::Letter { case_id, kanal, .. } = &cmd.body
                && *case_id == meta.id
            {
                out.push(view(kanal, "wartet auf den Rathaus-Server"));
            }
        }
        Ok(out)
    }

    /// One document of a case, fetched from the server (needs the connection) and
    /// opened here; the list of what the server holds is kept for this login so the
    /// case view shows documents added later (scans, letters) too.
    pub(crate) fn office_document(
        &mut self,
        id: &str,
        document_id: &str,
    ) -> Result<DocumentContent, AppError> {
        use base64::Engine as _;
        self.session_with(Permission::ReadCases)?;
        let meta = self.office_visible(id)?;
        let n: usize = document_id
            .parse()
            .map_err(|_| invalid("Ungültige Dokument-ID."))?;
        let docs = self.office_documents(&meta.file_number)?;
        self.office.fetched.insert(
            meta.id,
            docs.iter()
                .map(|d| crate::desk::OfficeDocumentInfo {
                    kind: d.kind.clone(),
                    filename: d.filename.clone(),
                    mime_type: d.mime_type.clone(),
                    size: d.bytes.len() as u64,
                })
                .collect(),
        );
        let doc = docs.into_iter().nth(n).ok_or_else(|| {
            AppError::new(
                ErrorCode::NotFound,
                "Dieses Dokument gibt es im Vorgang nicht.",
            )
        })?;
        if doc.bytes.len() as u64 > crate::casework::MAX_DOCUMENT {
            return Err(AppError::invalid(
                "Das Dokument ist zu groß für die Anzeige (mehr als 25 MB).",
            ));
        }
        self.session_with_mut(Permission::ReadCases)?
            .audit("vorgang.dokument.angezeigt", &meta.file_number)?;
        Ok(DocumentContent {
            filename: doc.filename,
            mime_type: doc.mime_type,
            content_base64: base64::engine::general_purpose::STANDARD.encode(&doc.bytes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_becomes_the_servers_step_with_its_reason() {
        let (s, r) = step_of(Action::Nachfordern {
            fehlend: vec!["Personalausweis".into(), "Meldebescheinigung".into()],
            frist: "2026-12-20".into(),
        });
        assert_eq!(
            s,
            Step::Nachfordern {
                frist: "2026-12-20".into()
            }
        );
        assert_eq!(r.as_deref(), Some("Personalausweis\nMeldebescheinigung"));
        let (s, r) = step_of(Action::Zurueckziehen {
            grund: "Antrag zurückgenommen".into(),
        });
        assert_eq!(s, Step::Zurueckziehen);
        assert_eq!(r.as_deref(), Some("Antrag zurückgenommen"));
        let (s, r) = step_of(Action::Weiterleiten {
            an: "Landratsamt".into(),
            grund: "zuständig".into(),
        });
        assert_eq!(
            s,
            Step::Weiterleiten {
                an: "Landratsamt".into()
            }
        );
        assert_eq!(r.as_deref(), Some("zuständig"));
        assert_eq!(
            step_of(Action::VollstaendigFeststellen).0,
            Step::Vollstaendig
        );
        assert_eq!(step_of(Action::Abschliessen), (Step::Abschliessen, None));
    }

    #[test]
    fn a_paper_case_keeps_its_short_code_and_its_completion_day() {
        let meta = office::CaseMeta {
            extended: false,
            id: Uuid::nil(),
            file_number: "PA-2026-000001".into(),
            case_type: "HU".into(),
            channel: "papier".into(),
            state: CaseState::InBearbeitung,
            waiting_from: None,
            checklist_complete: true,
            assignee: Some("anna".into()),
            received_at: "2026-12-01T08:00:00Z".into(),
            version: 3,
            state_version: 3,
        };
        let event = |kind: &str, at: &str| office::Event {
            id: Uuid::new_v4(),
            case_id: Uuid::nil(),
            kind: kind.into(),
            actor: "anna".into(),
            at: at.into(),
            from_state: None,
            to_state: None,
            content: None,
        };
        let (rec, history) = replica_record(
            &meta,
            vec![
                event("vollstaendig", "2026-12-02T09:00:00Z"),
                event("eingang", "2026-12-01T08:00:00Z"),
            ],
            None,
        );
        assert_eq!(rec.id.len(), 32);
        assert_eq!(rec.complete_at.as_deref(), Some("2026-12-02"));
        assert_eq!(rec.fc_case_id, None);
        assert_eq!(history[0].kind, "eingang");
        assert_eq!(history[1].kind, "vollstaendig");
    }
}
