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

/// The cases as the figures need them, the query, and the records for the drill-down.
type ReportInput = (Vec<CaseFacts>, Query, Vec<store::CaseRecord>);

impl Workstation {
    fn report_input(&self, req: &ReportRequest) -> Result<ReportInput, AppError> {
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
        let cfg = self.casework_config().ok();
        let records = session.all_case_records()?;
        let mut histories: HashMap<String, Vec<store::HistoryEntry>> = HashMap::new();
        for (case, h) in session.all_history()? {
            histories.entry(case).or_default().push(h);
        }
        let mut facts = Vec::with_capacity(records.len());
        let mut kept = Vec::with_capacity(records.len());
        for r in records {
            let channel = if r.fc_case_id.is_some() {
                Channel::Online
            } else {
                Channel::Papier
            };
            if req.case_type.as_ref().is_some_and(|t| *t != r.case_type)
                || req.channel.is_some_and(|c| c != channel)
            {
                continue;
            }
            let Some(received) = timestamp(&r.received_at) else {
                continue;
            };
            let history = histories.remove(&r.id).unwrap_or_default();
            let open = CaseState::parse(&r.status)
                .is_some_and(|s| s.is_open() && s != CaseState::Entschieden);
            let due = match (&cfg, open) {
                (Some(cfg), true) => crate::casework::marker_from(&r, cfg, &history)
                    .1
                    .and_then(|d| d.parse().ok()),
                _ => None,
            };
            let events = history
                .into_iter()
                .filter_map(|h| {
                    timestamp(&h.at)
                        .map(|at| Event::new(at, &h.kind, h.to_state.as_deref(), h.actor))
                })
                .collect();
            facts.push(CaseFacts {
                id: r.id.clone(),
                case_type: r.case_type.clone(),
                channel,
                received,
                due,
                events,
            });
            kept.push(r);
        }
        let per_person = session.setting(PERSON_SETTING)?.as_deref() == Some("an");
        let query = Query {
            from,
            to,
            today: crate::casework::today(),
            risk_days: RISK_DAYS,
            tz: jiff::tz::TimeZone::system(),
            per_person,
            min_group: MIN_GROUP,
        };
        Ok((facts, query, kept))
    }

    /// The dashboard's figures for a period (Leitung).
    pub fn report(&self, req: &ReportRequest) -> Result<Report, AppError> {
        let (facts, query, _) = self.report_input(req)?;
        Ok(reports::report(&facts, &query))
    }

    /// The report as CSV (semicolons, UTF-8 with BOM) for Excel and LibreOffice.
    pub fn report_csv(&self, req: &ReportRequest) -> Result<String, AppError> {
        Ok(reports::to_csv(&self.report(req)?))
    }

    /// The report as PDF for the council (letterhead of the town, charts, tables).
    pub fn report_pdf(&self, req: &ReportRequest) -> Result<Vec<u8>, AppError> {
        let report = self.report(req)?;
        let cfg = self.casework_config()?;
        let (town, logo) = crate::casework_config::load_town(self.data_dir(), &cfg)?;
        let head = town.letterhead(logo);
        let err = |e: letters::LetterError| AppError::invalid(e.to_string());
        let renderer = letters::Renderer::new().map_err(err)?;
        letters::report::report_pdf(
            &renderer,
            &report,
            &head,
            town.pdfa,
            jiff::Timestamp::now().as_second(),
        )
        .map_err(err)
    }

    /// The cases behind one number of the report.
    pub fn report_cases(
        &self,
        req: &ReportRequest,
        group: &str,
        metric: Metric,
    ) -> Result<Vec<DrillCase>, AppError> {
        let (facts, query, records) = self.report_input(req)?;
        let by_id: HashMap<&str, &store::CaseRecord> =
            records.iter().map(|r| (r.id.as_str(), r)).collect();
        Ok(reports::cases(&facts, &query, group, metric)
            .into_iter()
            .filter_map(|id| by_id.get(id.as_str()).copied())
            .map(|r| DrillCase {
                id: r.id.clone(),
                file_number: r.file_number.clone(),
                case_type: r.case_type.clone(),
                state_label: CaseState::parse(&r.status)
                    .map(|s| s.label().to_owned())
                    .unwrap_or_else(|| r.status.clone()),
                received_at: r.received_at.clone(),
            })
            .collect())
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
