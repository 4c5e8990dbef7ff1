//! Supervisor figures (Leitung only): the case history is read from the store and
//! handed to the pure `reports` crate. Per-person figures only when the
//! administration switched them on (setting `berichte_personen`; documented as
//! requiring a Dienstvereinbarung with the Personalrat), then with groups of fewer
//! than five cases suppressed.

use std::collections::HashMap;

use domain::Permission;
use domain::lifecycle::CaseState;
use jiff::civil::Date;
use reports::{CaseFacts, Channel, Event, Metric, Query, Report};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{AppError, Workstation};

pub(crate) const PERSON_SETTING: &str = "berichte_personen";
const MIN_GROUP: usize = 5;
const RISK_DAYS: i64 = 14;

/// The period and filters of the dashboard.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ReportRequest {
    /// First day, YYYY-MM-DD.
    pub from: String,
    /// Last day (inclusive), YYYY-MM-DD.
    pub until: String,
    /// Only this case type (its name), if given.
    #[serde(default)]
    pub case_type: Option<String>,
    /// Only this channel, if given.
    #[serde(default)]
    pub channel: Option<Channel>,
}

/// One case behind a number.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DrillCase {
    pub id: String,
    pub file_number: String,
    pub case_type: String,
    pub state_label: String,
    pub received_at: String,
}

fn parse_day(s: &str, what: &str) -> Result<Date, AppError> {
    s.parse::<Date>()
        .map_err(|_| AppError::invalid(format!("{what}: „{s}“ ist kein Datum (JJJJ-MM-TT).")))
}

fn timestamp(s: &str) -> Option<jiff::Timestamp> {
    s.parse::<jiff::Timestamp>().ok().or_else(|| {
        s.get(..10)?
            .parse::<Date>()
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
    })
}

/// A case as the figures and the drill-down need it.
pub(crate) struct CachedCase {
    facts: CaseFacts,
    file_number: String,
    status: String,
    received_at: String,
}

/// The figures' input kept in memory between openings of the dashboard: every case
/// with its events, for one day and one configuration (deadlines depend on both).
/// Refreshed from the store's change list (`case_changes`), so only cases changed
/// since the last opening are read again.
pub(crate) struct ReportCache {
    /// Position in the change list up to which the cases are current.
    mark: i64,
    day: Date,
    /// The configuration snapshot the deadlines were computed with (the snapshot is
    /// replaced when a file changes, so the same one means the same rules).
    config: Option<std::sync::Arc<crate::config::CaseworkConfig>>,
    cases: Vec<CachedCase>,
    index: HashMap<String, usize>,
}

/// More changed cases than this: read everything again (faster than case by case).
const REREAD_ALL_ABOVE: usize = 2_000;

/// A case from its record and history; None when its arrival time is unreadable.
fn cached_case(
    r: store::CaseRecord,
    history: Vec<store::HistoryEntry>,
    cfg: Option<&crate::config::CaseworkConfig>,
) -> Option<CachedCase> {
    let channel = r.channel();
    let received = timestamp(&r.received_at)?;
    let open =
        CaseState::parse(&r.status).is_some_and(|s| s.is_open() && s != CaseState::Entschieden);
    let due = match (cfg, open) {
        (Some(cfg), true) => crate::casework::marker_from(&r, cfg, &history)
            .1
            .and_then(|d| d.parse().ok()),
        _ => None,
    };
    let events = history
        .into_iter()
        .filter_map(|h| {
            timestamp(&h.at).map(|at| Event::new(at, &h.kind, h.to_state.as_deref(), h.actor))
        })
        .collect();
    Some(CachedCase {
        facts: CaseFacts {
            id: r.id,
            case_type: r.case_type,
            channel,
            received,
            due,
            events,
        },
        file_number: r.file_number,
        status: r.status,
        received_at: r.received_at,
    })
}

impl ReportCache {
    /// Everything read from the store.
    fn load(
        session: &store::Session,
        mark: i64,
        day: Date,
        config: Option<std::sync::Arc<crate::config::CaseworkConfig>>,
    ) -> Result<ReportCache, AppError> {
        let cfg = config.as_deref();
        let records = session.all_case_records()?;
        let mut histories: HashMap<String, Vec<store::HistoryEntry>> = HashMap::new();
        for (case, h) in session.all_history()? {
            histories.entry(case).or_default().push(h);
        }
        let mut cases = Vec::with_capacity(records.len());
        for r in records {
            // A case without history entries (just arrived) has none.
            let history = histories.remove(&r.id).unwrap_or_default();
            cases.extend(cached_case(r, history, cfg));
        }
        let index = cases
            .iter()
            .enumerate()
            .map(|(i, c)| (c.facts.id.clone(), i))
            .collect();
        Ok(ReportCache {
            mark,
            day,
            config,
            cases,
            index,
        })
    }

    /// Read the changed cases again (a deleted case leaves).
    fn update(
        &mut self,
        session: &store::Session,
        changed: Vec<String>,
        mark: i64,
        cfg: Option<&crate::config::CaseworkConfig>,
    ) -> Result<(), AppError> {
        let mut removed = false;
        for id in changed {
            let fresh = match session.case_record(&id)? {
                Some(r) => {
                    let history = session.case_history(&id)?;
                    cached_case(r, history, cfg)
                }
                None => None,
            };
            match (self.index.get(&id).copied(), fresh) {
                (Some(i), Some(c)) => self.cases[i] = c,
                (None, Some(c)) => {
                    self.index.insert(id, self.cases.len());
                    self.cases.push(c);
                }
                (Some(i), None) => {
                    self.cases.remove(i);
                    removed = true;
                }
                (None, None) => {}
            }
        }
        if removed {
            self.index = self
                .cases
                .iter()
                .enumerate()
                .map(|(i, c)| (c.facts.id.clone(), i))
                .collect();
        }
        self.mark = mark;
        Ok(())
    }
}

/// The dashboard's figures read outside the workstation lock (see
/// [`Workstation::reports_prepare_job`]).
pub struct ReportsJob {
    user: String,
    reader: store::Session,
    mark: i64,
    day: Date,
    config: Option<std::sync::Arc<crate::config::CaseworkConfig>>,
}

/// What a [`ReportsJob`] read, for [`Workstation::reports_prepare_finish`].
pub struct ReportsPrepared(ReportCache, String);

impl ReportsJob {
    /// Read every case and its history and compute the deadlines (no lock held).
    pub fn run(self) -> Result<ReportsPrepared, AppError> {
        Ok(ReportsPrepared(
            ReportCache::load(&self.reader, self.mark, self.day, self.config)?,
            self.user,
        ))
    }
}

/// The dashboard's state in the facade: the figures' input kept between openings
/// (re-read per changed case; dropped at login and logout).
#[derive(Default)]
pub(crate) struct ReportState {
    pub(crate) cache: std::cell::RefCell<Option<ReportCache>>,
}

impl Workstation {
    /// The figures' input for a request: the cases that pass its filters, and the
    /// query. The cache is brought up to date first.
    fn with_report_input<T>(
        &self,
        req: &ReportRequest,
        f: impl FnOnce(&[&CachedCase], &Query) -> T,
    ) -> Result<T, AppError> {
        let session = self.session_with(Permission::AllCases)?;
        let from = parse_day(&req.from, "Beginn")?;
        let until = parse_day(&req.until, "Ende")?;
        if until < from {
            return Err(AppError::invalid(
                "Das Ende des Zeitraums liegt vor seinem Beginn.",
            ));
        }
        if (until - from).get_days() > 3 * 366 {
            return Err(AppError::invalid(
                "Der Zeitraum darf höchstens drei Jahre lang sein.",
            ));
        }
        let to = until
            .tomorrow()
            .map_err(|e| AppError::invalid(e.to_string()))?;
        let today = crate::casework::today();
        let wanted = |c: &&CachedCase| {
            req.case_type
                .as_ref()
                .is_none_or(|t| *t == c.facts.case_type)
                && req.channel.is_none_or(|ch| ch == c.facts.channel)
        };
        // Office mode: every case of the town hall, from the Leitung's replica.
        let office = self.office_report_cases(session)?;
        let slot = match office {
            Some(_) => None,
            None => {
                self.refresh_report_cache(session, today)?;
                Some(self.reports.cache.borrow())
            }
        };
        let kept: Vec<&CachedCase> = match (&office, &slot) {
            (Some(cases), _) => cases.iter().filter(wanted).collect(),
            (None, Some(slot)) => match slot.as_ref() {
                Some(cache) => cache.cases.iter().filter(wanted).collect(),
                None => {
                    return Err(AppError::invalid(
                        "Die Kennzahlen konnten nicht gelesen werden.",
                    ));
                }
            },
            (None, None) => Vec::new(),
        };
        let per_person = session.setting(PERSON_SETTING)?.as_deref() == Some("an");
        let query = Query {
            from,
            to,
            today,
            risk_days: RISK_DAYS,
            tz: jiff::tz::TimeZone::system(),
            per_person,
            min_group: MIN_GROUP,
        };
        Ok(f(&kept, &query))
    }

    /// Office mode (a desk connected to the Rathaus-Server): the figures' input from
    /// the replica, which for the Leitung holds every case of the town hall with
    /// its history; `None` standalone.
    fn office_report_cases(
        &self,
        session: &store::Session,
    ) -> Result<Option<Vec<CachedCase>>, AppError> {
        if session.setting(crate::office::SETTING)?.is_none() {
            return Ok(None);
        }
        let Some(cases) = session.replica_cases()? else {
            return Ok(Some(Vec::new()));
        };
        let config = self.casework_config().ok();
        let mut out = Vec::with_capacity(cases.len());
        for (meta, events) in cases {
            let (mut rec, history) =
                crate::desk::views::replica_record(&meta, events, config.as_deref());
            // The figures group by the type's name, not its short code.
            rec.case_type_code = None;
            if let Some(c) = cached_case(rec, history, config.as_deref()) {
                out.push(c);
            }
        }
        Ok(Some(out))
    }

    /// Bring the figures' input up to date: read the cases changed since the last
    /// time, or everything on a new day, after a change of the configuration, or when
    /// the change list no longer reaches back far enough.
    fn refresh_report_cache(&self, session: &store::Session, today: Date) -> Result<(), AppError> {
        // A broken configuration computes no deadlines, the same way every time.
        let config = self.casework_config().ok();
        // Read the position first: what changes while reading is read again next time.
        let (oldest, mark) = session.case_changes_span()?;
        let mut slot = self.reports.cache.borrow_mut();
        let reuse = slot.as_ref().is_some_and(|c| {
            let same_config = match (&c.config, &config) {
                (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            c.day == today && same_config && c.mark <= mark && oldest <= c.mark + 1
        });
        let changed = match (&*slot, reuse) {
            (Some(c), true) => Some(session.cases_changed(c.mark, mark)?),
            _ => None,
        };
        if changed.as_ref().is_some_and(Vec::is_empty) {
            // Nothing changed since the last opening.
            return Ok(());
        }
        match (slot.as_mut(), changed) {
            (Some(cache), Some(changed)) if changed.len() <= REREAD_ALL_ABOVE => {
                cache.update(session, changed, mark, config.as_deref())?;
            }
            _ => {
                // Drop the old copy before reading the new one.
                *slot = None;
                *slot = Some(ReportCache::load(session, mark, today, config)?);
            }
        }
        Ok(())
    }

    /// Prepare the dashboard's figures right after a Leitung logs in, so that its first
    /// opening is as fast as the later ones (the app calls it in the background).
    /// Ok(false) for anyone without the permission.
    pub fn reports_prepare(&self) -> Result<bool, AppError> {
        let Ok(session) = self.session_with(Permission::AllCases) else {
            return Ok(false);
        };
        self.refresh_report_cache(session, crate::casework::today())?;
        Ok(true)
    }

    /// The same preparation as a job that reads on a second, read-only connection
    /// outside the workstation lock ([`ReportsJob::run`]), installed with
    /// [`Self::reports_prepare_finish`]. None for anyone without the permission
    /// and when the figures are already read.
    pub fn reports_prepare_job(&self) -> Result<Option<ReportsJob>, AppError> {
        let Ok(session) = self.session_with(Permission::AllCases) else {
            return Ok(None);
        };
        if self.reports.cache.borrow().is_some() {
            return Ok(None);
        }
        // What changes after this position is read again at the next opening.
        let (_, mark) = session.case_changes_span()?;
        Ok(Some(ReportsJob {
            user: session.user().username.to_string(),
            reader: session.reader()?,
            mark,
            day: crate::casework::today(),
            config: self.casework_config().ok(),
        }))
    }

    /// Keep the figures a [`ReportsJob`] read, unless an opening read them meanwhile.
    pub fn reports_prepare_finish(&self, prepared: ReportsPrepared) {
        // Only for the login it was read for.
        if self.me().ok().map(|u| u.to_string()).as_deref() != Some(prepared.1.as_str()) {
            return;
        }
        let mut slot = self.reports.cache.borrow_mut();
        if slot.is_none() {
            *slot = Some(prepared.0);
        }
    }

    /// The dashboard's figures for a period (Leitung).
    pub fn report(&self, req: &ReportRequest) -> Result<Report, AppError> {
        self.with_report_input(req, |cases, query| {
            let facts: Vec<&CaseFacts> = cases.iter().map(|c| &c.facts).collect();
            reports::report(&facts, query)
        })
    }

    /// The report as CSV (semicolons, UTF-8 with BOM) for Excel and LibreOffice.
    pub fn report_csv(&self, req: &ReportRequest) -> Result<String, AppError> {
        Ok(reports::to_csv(&self.report(req)?))
    }

    /// The report as PDF for the council (letterhead of the town, charts, tables).
    pub fn report_pdf(&self, req: &ReportRequest) -> Result<Vec<u8>, AppError> {
        let report = self.report(req)?;
        let print = self.town_print()?;
        let audit_head = self.session_with(Permission::AllCases)?.audit_head()?;
        letters::report::report_pdf(
            print.renderer,
            &report,
            &print.head,
            print.pdfa,
            jiff::Timestamp::now().as_second(),
            audit_head.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
        )
        .map_err(crate::casework::print_error)
    }

    /// The cases behind one number of the report.
    pub fn report_cases(
        &self,
        req: &ReportRequest,
        group: &str,
        metric: Metric,
    ) -> Result<Vec<DrillCase>, AppError> {
        self.with_report_input(req, |cases, query| {
            let facts: Vec<&CaseFacts> = cases.iter().map(|c| &c.facts).collect();
            let by_id: HashMap<&str, &CachedCase> =
                cases.iter().map(|c| (c.facts.id.as_str(), *c)).collect();
            reports::cases(&facts, query, group, metric)
                .into_iter()
                .filter_map(|id| by_id.get(id.as_str()).copied())
                .map(|c| DrillCase {
                    id: c.facts.id.clone(),
                    file_number: c.file_number.clone(),
                    case_type: c.facts.case_type.clone(),
                    state_label: CaseState::parse(&c.status)
                        .map(|s| s.label().to_owned())
                        .unwrap_or_else(|| c.status.clone()),
                    received_at: c.received_at.clone(),
                })
                .collect()
        })
    }

    /// Switch per-person figures on or off (administration). Only with a
    /// Dienstvereinbarung with the Personalrat.
    pub fn set_person_reports(&mut self, on: bool) -> Result<(), AppError> {
        let session = self.session_with_mut(Permission::ManageUsers)?;
        session.set_setting(PERSON_SETTING, if on { "an" } else { "aus" })?;
        session.audit(
            if on {
                "berichte.personenbezogen.an"
            } else {
                "berichte.personenbezogen.aus"
            },
            "-",
        )?;
        Ok(())
    }
}
