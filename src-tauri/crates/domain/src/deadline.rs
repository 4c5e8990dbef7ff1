//! Deadline arithmetic, pure. Which clock runs is a property of the case type's legal
//! basis (`vorgangsarten.toml`), never one rule for every case:
//!
//! * **Genehmigungsfiktion** (§ 42a VwVfG, only where a specific law orders it): the
//!   period (3 months unless that law says otherwise) starts with the receipt of the
//!   complete documents (§ 42a Abs. 2 S. 2) – the day the last missing document came
//!   in, not the day a clerk ticks the checklist. § 42a knows no suspension: a request
//!   after the complete receipt does not stop the period. It may be extended once,
//!   before it expires, with reasons (§ 42a Abs. 2 S. 3–4). When it ran out the
//!   permit is deemed granted (§ 42a Abs. 1).
//! * **Fachfrist**: a statutory period of another law (e.g. the receipt for a
//!   Gewerbeanzeige within three days, § 15 Abs. 1 GewO), from receipt or from
//!   completeness, with what a request for documents does configured per legal basis
//!   (runs on, restarts on completion, or is suspended while waiting).
//! * **Servicefrist**: no statutory period – the town's own service target and the
//!   three-month mark of § 75 VwGO from the application.
//!
//! Computation (§ 31 VwVfG with §§ 187–193 BGB): the day of the starting event is not
//! counted (§ 187 Abs. 1); a period of months ends on the day of the last month with the
//! same number, or on the last day of a shorter month (§ 188 Abs. 2, 3; `jiff` clamps
//! the same way); an end on a Saturday, Sunday or public holiday of the Land moves to
//! the next working day (§ 193 BGB, § 31 Abs. 3 VwVfG); an extension counts from the end
//! of the previous period (§ 190 BGB).

use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use crate::calendar::{Calendar, CalendarError, HolidayConfig, HolidayRule, LAENDER};

/// Which clock runs for a case type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ClockKind {
    /// § 42a VwVfG: the permit is deemed granted when the period runs out.
    Fiktion,
    /// A statutory period of another law, without a fiction.
    Fachfrist,
    /// No statutory period: service target and § 75 VwGO.
    #[default]
    Servicefrist,
}

/// The event that starts a statutory period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodStart {
    /// Receipt of the application.
    Eingang,
    /// Receipt of the complete documents.
    #[default]
    Vollstaendig,
}

/// What a request for missing documents does to a period that is already running.
/// (Before the documents are complete a period that starts with completeness has not
/// started; that is not a choice.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestEffect {
    /// The period runs on (§ 42a VwVfG).
    #[default]
    LaeuftWeiter,
    /// The period starts anew when the documents come in.
    Neubeginn,
    /// The period stands still while waiting (only where a law provides it).
    Hemmung,
}

/// Deadline settings of a case type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadlineRules {
    pub uhr: ClockKind,
    /// Length of the statutory period (months and days; both 0 for a Servicefrist).
    pub frist_monate: u32,
    pub frist_tage: u32,
    pub beginn: PeriodStart,
    pub nachforderung: RequestEffect,
    /// Months of the one extension allowed; 0: none.
    pub verlaengerung_monate: u32,
    /// The town's own service target in days from arrival.
    pub zielzeit_tage: u32,
}

/// What happened to a case, as far as its deadlines are concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clock {
    pub received: Option<Date>,
    /// The day the clerk found the documents complete (None: not yet).
    pub declared_complete: Option<Date>,
    /// Requests for documents recorded before completeness was found: (asked, answered).
    /// The answer is the receipt of the documents (paper: the intake date).
    pub requests_before: Vec<(Date, Option<Date>)>,
    /// Requests recorded after completeness was found.
    pub requests_after: Vec<(Date, Option<Date>)>,
    /// The one extension was granted.
    pub extended: bool,
}

/// Where a case stands with its deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum DeadlineStatus {
    /// The period has not started yet (not complete) or is in time.
    ImPlan,
    /// The period stands still or waits to start anew (waiting for the citizen).
    Ruht,
    /// The service target date has passed.
    ZielzeitErreicht,
    /// A statutory period without a fiction has passed.
    FristAbgelaufen,
    /// The Fiktion period has passed: the permit is deemed granted (§ 42a Abs. 1 VwVfG).
    FiktionEingetreten,
}

/// The computed dates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadlines {
    pub target: Option<Date>,
    /// The day of the event that started the statutory period (not counted itself).
    pub start: Option<Date>,
    /// End of the statutory period before an extension.
    pub original: Option<Date>,
    /// End of the statutory period (with the extension, if granted); None while it has
    /// not started.
    pub legal: Option<Date>,
    /// From this day an action for failure to act is admissible (§ 75 S. 2 VwGO: not
    /// before three months from the application).
    pub untaetigkeit: Option<Date>,
    /// Waiting for the citizen holds the period (Hemmung or Neubeginn).
    pub suspended: bool,
    pub fiktion: bool,
}

/// Calendar days from `a` to `b` (0 if `b` is not later).
fn days_between(a: Date, b: Date) -> i64 {
    a.until(b)
        .map(|s| i64::from(s.get_days()))
        .unwrap_or(0)
        .max(0)
}

/// The start of a period that begins with the complete documents: the receipt of the
/// last document asked for before completeness was found, or the application's receipt
/// if nothing was missing (§ 42a Abs. 2 S. 2 VwVfG). None while not complete.
pub fn completeness_start(clock: &Clock) -> Option<Date> {
    let declared = clock.declared_complete?;
    let received = clock.received.unwrap_or(declared);
    let last_answer = clock
        .requests_before
        .iter()
        .filter_map(|(_, answered)| *answered)
        .filter(|a| *a <= declared)
        .max();
    Some(last_answer.map_or(received, |a| a.max(received)))
}

fn add_period(start: Date, months: u32, days: u32) -> Option<Date> {
    start
        .checked_add(i64::from(months).months())
        .ok()?
        .checked_add(i64::from(days).days())
        .ok()
}

/// Compute the dates of a case as of `today`.
pub fn compute(rules: &DeadlineRules, clock: &Clock, cal: &Calendar, today: Date) -> Deadlines {
    let target = clock.received.and_then(|r| {
        r.checked_add(i64::from(rules.zielzeit_tage).days())
            .ok()
            .map(|d| cal.next_working_day(d))
    });
    let untaetigkeit = clock.received.and_then(|r| r.checked_add(3.months()).ok());
    let mut out = Deadlines {
        target,
        untaetigkeit,
        fiktion: rules.uhr == ClockKind::Fiktion,
        ..Deadlines::default()
    };
    if rules.uhr == ClockKind::Servicefrist || (rules.frist_monate == 0 && rules.frist_tage == 0) {
        return out;
    }
    // Which requests fall into a running period.
    let (mut start, after): (Option<Date>, Vec<(Date, Option<Date>)>) = match rules.beginn {
        PeriodStart::Eingang => (
            clock.received,
            clock
                .requests_before
                .iter()
                .chain(&clock.requests_after)
                .copied()
                .collect(),
        ),
        PeriodStart::Vollstaendig => (completeness_start(clock), clock.requests_after.clone()),
    };
    let Some(begin) = start else {
        return out;
    };
    let mut hold_days = 0;
    match rules.nachforderung {
        RequestEffect::LaeuftWeiter => {}
        RequestEffect::Hemmung => {
            for (from, until) in &after {
                let from = (*from).max(begin);
                let until = match until {
                    Some(u) => *u,
                    None => {
                        out.suspended = true;
                        today
                    }
                };
                hold_days += days_between(from, until);
            }
        }
        RequestEffect::Neubeginn => {
            if after.iter().any(|(_, until)| until.is_none()) {
                // Starts anew once the documents are in.
                out.suspended = true;
                out.start = None;
                return out;
            }
            if let Some(last) = after.iter().filter_map(|(_, u)| *u).max() {
                start = Some(last.max(begin));
            }
        }
    }
    let Some(start) = start else {
        return out;
    };
    out.start = Some(start);
    let original = add_period(start, rules.frist_monate, rules.frist_tage)
        .and_then(|e| e.checked_add(hold_days.days()).ok())
        .map(|e| cal.next_working_day(e));
    out.original = original;
    out.legal = if clock.extended && rules.verlaengerung_monate > 0 {
        // § 190 BGB: the new period counts from the end of the previous one.
        original.and_then(|o| {
            add_period(o, rules.verlaengerung_monate, 0).map(|e| cal.next_working_day(e))
        })
    } else {
        original
    };
    out
}

impl Deadlines {
    pub fn status(&self, today: Date) -> DeadlineStatus {
        if self.legal.is_some_and(|d| today > d) {
            if self.fiktion {
                DeadlineStatus::FiktionEingetreten
            } else {
                DeadlineStatus::FristAbgelaufen
            }
        } else if self.suspended {
            DeadlineStatus::Ruht
        } else if self.target.is_some_and(|d| today > d) {
            DeadlineStatus::ZielzeitErreicht
        } else {
            DeadlineStatus::ImPlan
        }
    }
}

/// Why an extension is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionRefusal {
    #[error("Für diese Vorgangsart sieht die Rechtsgrundlage keine Fristverlängerung vor.")]
    NotProvided,
    #[error("Die Frist wurde bereits verlängert; eine Verlängerung ist nur einmal möglich.")]
    AlreadyExtended,
    #[error(
        "Die Frist läuft noch nicht (die Unterlagen sind nicht vollständig); es gibt nichts zu verlängern."
    )]
    NotRunning,
    #[error(
        "Die Frist ist am {0} abgelaufen; eine Verlängerung ist nur vor Ablauf möglich (§ 42a Abs. 2 S. 3 VwVfG)."
    )]
    Expired(String),
    #[error("Die Fristverlängerung muss begründet werden (§ 42a Abs. 2 S. 3 VwVfG).")]
    NoReason,
}

/// The end a case's period had under the rules before the legal review: a § 42a period
/// of `months` for every case type with one, from the day the clerk found the case
/// complete, waiting days after that added when `hemmung`, the extension's months added
/// to the period. Kept only to list for the Leitung which deadlines the review changed.
pub fn previous_rule_end(
    months: u32,
    hemmung: bool,
    extension_months: u32,
    clock: &Clock,
    cal: &Calendar,
    today: Date,
) -> Option<Date> {
    if months == 0 {
        return None;
    }
    let start = clock.declared_complete?;
    let total = months + if clock.extended { extension_months } else { 0 };
    let mut end = start.checked_add(i64::from(total).months()).ok()?;
    if hemmung {
        let mut days = 0;
        for (from, until) in clock.requests_before.iter().chain(&clock.requests_after) {
            days += days_between((*from).max(start), until.unwrap_or(today));
        }
        end = end.checked_add(days.days()).ok()?;
    }
    Some(cal.next_working_day(end))
}

/// German date "23.11.2026".
pub fn german(d: Date) -> String {
    d.strftime("%d.%m.%Y").to_string()
}

/// May the period be extended today, with this reason? (Once, before expiry, with
/// reasons: § 42a Abs. 2 S. 3 VwVfG.)
pub fn check_extension(
    rules: &DeadlineRules,
    clock: &Clock,
    deadlines: &Deadlines,
    reason: &str,
    today: Date,
) -> Result<(), ExtensionRefusal> {
    if rules.verlaengerung_monate == 0 || rules.uhr == ClockKind::Servicefrist {
        return Err(ExtensionRefusal::NotProvided);
    }
    if clock.extended {
        return Err(ExtensionRefusal::AlreadyExtended);
    }
    let Some(end) = deadlines.legal else {
        return Err(ExtensionRefusal::NotRunning);
    };
    if today > end {
        return Err(ExtensionRefusal::Expired(german(end)));
    }
    if reason.trim().is_empty() {
        return Err(ExtensionRefusal::NoReason);
    }
    Ok(())
}

/// The warning shown before a request for documents while a Fiktion period runs: the
/// request does not stop it (§ 42a VwVfG knows no suspension).
pub fn request_warning(
    rules: &DeadlineRules,
    deadlines: &Deadlines,
    today: Date,
) -> Option<String> {
    if rules.uhr != ClockKind::Fiktion || rules.nachforderung != RequestEffect::LaeuftWeiter {
        return None;
    }
    let end = deadlines.legal.filter(|e| today <= *e)?;
    let left = days_between(today, end);
    let mut text = format!(
        "Die Fiktionsfrist läuft weiter: Eine Nachforderung hält sie nicht an (§ 42a VwVfG kennt keine Hemmung). Sie endet am {}",
        german(end)
    );
    if left <= 30 {
        text.push_str(&format!(
            " – in {left} Tagen. Wird bis dahin nicht entschieden, gilt die Genehmigung als erteilt."
        ));
    } else {
        text.push('.');
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    /// The shipped holiday rules that matter here, for NW and SN.
    fn calendar(land: &str) -> Calendar {
        let text =
            |name: &str, when: (&str, Option<&str>, Option<i32>), laender: &[&str]| HolidayRule {
                name: name.into(),
                datum: when.1.map(str::to_owned),
                ostern: when.2,
                regel: None,
                daten: vec![],
                laender: laender.iter().map(|l| (*l).to_owned()).collect(),
                ab: None,
                bis: None,
            };
        let cfg = HolidayConfig {
            ostersonntag: vec![],
            feiertag: vec![
                text("Neujahr", ("", Some("01-01"), None), &["alle"]),
                text("Karfreitag", ("", None, Some(-2)), &["alle"]),
                text("Ostermontag", ("", None, Some(1)), &["alle"]),
                text("Fronleichnam", ("", None, Some(60)), &["BY", "NW"]),
            ],
        };
        Calendar::for_land(&cfg, land).unwrap()
    }

    /// § 42a VwVfG: three months, no suspension, one extension of two months.
    fn fiktion() -> DeadlineRules {
        DeadlineRules {
            uhr: ClockKind::Fiktion,
            frist_monate: 3,
            frist_tage: 0,
            beginn: PeriodStart::Vollstaendig,
            nachforderung: RequestEffect::LaeuftWeiter,
            verlaengerung_monate: 2,
            zielzeit_tage: 14,
        }
    }

    fn complete_on(received: Date, declared: Date) -> Clock {
        Clock {
            received: Some(received),
            declared_complete: Some(declared),
            ..Clock::default()
        }
    }

    #[test]
    fn vwvfg_42a_period_starts_with_the_complete_receipt_not_the_clerks_tick() {
        // Complete application received Thu 15 Jan 2026; the clerk ticks the checklist
        // only on Mon 26 Jan. § 42a Abs. 2 S. 2: the period runs from 15 Jan → Wed 15 Apr.
        let d = compute(
            &fiktion(),
            &complete_on(date(2026, 1, 15), date(2026, 1, 26)),
            &calendar("NW"),
            date(2026, 1, 26),
        );
        assert_eq!(d.start, Some(date(2026, 1, 15)));
        assert_eq!(d.legal, Some(date(2026, 4, 15)));
    }

    #[test]
    fn vwvfg_42a_period_starts_with_the_last_missing_document() {
        // Received 2 Jan 2026, documents asked for on 5 Jan, the last one came in on
        // Tue 20 Jan, the clerk found it complete on 23 Jan: start 20 Jan → Mon 20 Apr.
        let mut clock = complete_on(date(2026, 1, 2), date(2026, 1, 23));
        clock
            .requests_before
            .push((date(2026, 1, 5), Some(date(2026, 1, 20))));
        let d = compute(&fiktion(), &clock, &calendar("NW"), date(2026, 1, 23));
        assert_eq!(d.start, Some(date(2026, 1, 20)));
        assert_eq!(d.legal, Some(date(2026, 4, 20)));
        // Not complete yet: no period (an incomplete application has not started it).
        clock.declared_complete = None;
        let open = compute(&fiktion(), &clock, &calendar("NW"), date(2026, 1, 23));
        assert_eq!((open.start, open.legal), (None, None));
        assert_eq!(
            open.status(date(2026, 6, 1)),
            DeadlineStatus::ZielzeitErreicht
        );
    }

    #[test]
    fn vwvfg_42a_a_request_after_the_complete_receipt_does_not_stop_the_period() {
        // Complete 15 Jan 2026; a further request on 1 Feb answered on 11 Feb: the end
        // stays Wed 15 Apr (§ 42a knows no Hemmung), and the warning says so.
        let mut clock = complete_on(date(2026, 1, 15), date(2026, 1, 15));
        clock
            .requests_after
            .push((date(2026, 2, 1), Some(date(2026, 2, 11))));
        let d = compute(&fiktion(), &clock, &calendar("NW"), date(2026, 3, 1));
        assert_eq!(d.legal, Some(date(2026, 4, 15)));
        assert!(!d.suspended);
        let far = request_warning(&fiktion(), &d, date(2026, 2, 1)).unwrap();
        assert!(
            far.contains("15.04.2026") && far.contains("keine Hemmung"),
            "{far}"
        );
        assert!(!far.contains("Tagen"));
        let near = request_warning(&fiktion(), &d, date(2026, 3, 26)).unwrap();
        assert!(near.contains("in 20 Tagen") && near.contains("gilt die Genehmigung als erteilt"));
        // After the end there is nothing left to warn about; a non-Fiktion clock has none.
        assert_eq!(request_warning(&fiktion(), &d, date(2026, 4, 16)), None);
        let fach = DeadlineRules {
            uhr: ClockKind::Fachfrist,
            ..fiktion()
        };
        assert_eq!(request_warning(&fach, &d, date(2026, 2, 1)), None);
    }

    #[test]
    fn fachfrist_with_hemmung_adds_the_waiting_days() {
        // A law with suspension: 10 days waiting in February → 15 Apr + 10 =
        // Sat 25 Apr → Mon 27 Apr 2026 (§ 193 BGB).
        let rules = DeadlineRules {
            uhr: ClockKind::Fachfrist,
            nachforderung: RequestEffect::Hemmung,
            ..fiktion()
        };
        let mut clock = complete_on(date(2026, 1, 15), date(2026, 1, 15));
        clock
            .requests_after
            .push((date(2026, 2, 1), Some(date(2026, 2, 11))));
        assert_eq!(
            compute(&rules, &clock, &calendar("NW"), date(2026, 3, 1)).legal,
            Some(date(2026, 4, 27))
        );
        // Still waiting on 11 Mar: the period stands still, 38 days so far: 15 Apr + 38 =
        // Sat 23 May → Mon 25 May (this test calendar leaves out Whit Monday).
        clock.requests_after = vec![(date(2026, 2, 1), None)];
        let d = compute(&rules, &clock, &calendar("NW"), date(2026, 3, 11));
        assert!(d.suspended);
        assert_eq!(d.status(date(2026, 3, 11)), DeadlineStatus::Ruht);
        assert_eq!(d.legal, Some(date(2026, 5, 25)));
    }

    #[test]
    fn fachfrist_with_neubeginn_starts_again_when_the_documents_come() {
        let rules = DeadlineRules {
            uhr: ClockKind::Fachfrist,
            nachforderung: RequestEffect::Neubeginn,
            ..fiktion()
        };
        let mut clock = complete_on(date(2026, 1, 15), date(2026, 1, 15));
        clock.requests_after.push((date(2026, 2, 1), None));
        let waiting = compute(&rules, &clock, &calendar("NW"), date(2026, 2, 5));
        assert_eq!((waiting.legal, waiting.suspended), (None, true));
        // Answered Tue 10 Feb 2026: three months from then → Sun 10 May → Mon 11 May.
        clock.requests_after = vec![(date(2026, 2, 1), Some(date(2026, 2, 10)))];
        let d = compute(&rules, &clock, &calendar("NW"), date(2026, 2, 11));
        assert_eq!(d.start, Some(date(2026, 2, 10)));
        assert_eq!(d.legal, Some(date(2026, 5, 11)));
    }

    #[test]
    fn gewo_15_receipt_within_three_days_of_the_notification() {
        // § 15 Abs. 1 GewO: the receipt of a Gewerbeanzeige within three days from its
        // receipt. Received Thu 2 Apr 2026: 5 Apr is Easter Sunday, 6 Apr Easter
        // Monday → Tue 7 Apr 2026. Completeness plays no part.
        let rules = DeadlineRules {
            uhr: ClockKind::Fachfrist,
            frist_monate: 0,
            frist_tage: 3,
            beginn: PeriodStart::Eingang,
            nachforderung: RequestEffect::LaeuftWeiter,
            verlaengerung_monate: 0,
            zielzeit_tage: 5,
        };
        let clock = Clock {
            received: Some(date(2026, 4, 2)),
            ..Clock::default()
        };
        let d = compute(&rules, &clock, &calendar("NW"), date(2026, 4, 2));
        assert_eq!(d.legal, Some(date(2026, 4, 7)));
        assert_eq!(d.status(date(2026, 4, 8)), DeadlineStatus::FristAbgelaufen);
    }

    #[test]
    fn servicefrist_has_no_statutory_period_only_target_and_vwgo_75_mark() {
        // Meldebescheinigung received Mon 30 Nov 2026: target 3 days → Thu 3 Dec;
        // § 75 VwGO: an action for failure to act not before 28 Feb 2027 (no
        // statutory period, so no § 193 shift of a mark that is not a deadline).
        let rules = DeadlineRules {
            uhr: ClockKind::Servicefrist,
            frist_monate: 0,
            zielzeit_tage: 3,
            ..DeadlineRules::default()
        };
        let d = compute(
            &rules,
            &complete_on(date(2026, 11, 30), date(2026, 11, 30)),
            &calendar("NW"),
            date(2026, 12, 1),
        );
        assert_eq!(d.legal, None);
        assert_eq!(d.target, Some(date(2026, 12, 3)));
        assert_eq!(d.untaetigkeit, Some(date(2027, 2, 28)));
        assert_eq!(d.status(date(2027, 3, 1)), DeadlineStatus::ZielzeitErreicht);
    }

    #[test]
    fn bgb_188_end_of_month_and_193_land_specific_holiday() {
        // Complete on Mon 30 Nov 2026: February 2027 has no 30th → Sun 28 Feb →
        // Mon 1 Mar 2027 (§ 188 Abs. 3, § 193 BGB).
        let d = compute(
            &fiktion(),
            &complete_on(date(2026, 11, 30), date(2026, 11, 30)),
            &calendar("NW"),
            date(2026, 12, 1),
        );
        assert_eq!(d.legal, Some(date(2027, 3, 1)));
        // Fronleichnam (Thu 4 Jun 2026) is a holiday in NW, not in Sachsen.
        let start = date(2026, 3, 4);
        assert_eq!(
            compute(
                &fiktion(),
                &complete_on(start, start),
                &calendar("NW"),
                start
            )
            .legal,
            Some(date(2026, 6, 5))
        );
        assert_eq!(
            compute(
                &fiktion(),
                &complete_on(start, start),
                &calendar("SN"),
                start
            )
            .legal,
            Some(date(2026, 6, 4))
        );
    }

    #[test]
    fn good_friday_and_easter_monday_move_the_end() {
        // Complete on Sat 3 Jan 2026: 3 Apr 2026 is Good Friday, 4/5 the weekend,
        // 6 Easter Monday → Tue 7 Apr 2026.
        let d = compute(
            &fiktion(),
            &complete_on(date(2026, 1, 3), date(2026, 1, 3)),
            &calendar("NW"),
            date(2026, 1, 3),
        );
        assert_eq!(d.legal, Some(date(2026, 4, 7)));
    }

    #[test]
    fn bgb_190_extension_counts_from_the_end_of_the_original_period() {
        // Complete Fri 10 Jan 2025: the period ends Thu 10 Apr 2025; two months more →
        // Tue 10 Jun 2025.
        let mut clock = complete_on(date(2025, 1, 10), date(2025, 1, 10));
        clock.extended = true;
        let d = compute(&fiktion(), &clock, &calendar("NW"), date(2025, 4, 1));
        assert_eq!(d.original, Some(date(2025, 4, 10)));
        assert_eq!(d.legal, Some(date(2025, 6, 10)));
        // The original end moved by § 193 BGB: complete Sat 11 Jan 2025 → Fri 11 Apr;
        // complete Sun 12 Jan → Sat 12 Apr → Mon 14 Apr 2025. The extension counts from
        // that end: 14 Jun 2025 is a Saturday → Mon 16 Jun 2025 (start + 5 months would
        // have given Thu 12 Jun).
        let mut moved = complete_on(date(2025, 1, 12), date(2025, 1, 12));
        moved.extended = true;
        let d = compute(&fiktion(), &moved, &calendar("NW"), date(2025, 4, 1));
        assert_eq!(d.original, Some(date(2025, 4, 14)));
        assert_eq!(d.legal, Some(date(2025, 6, 16)));
    }

    #[test]
    fn vwvfg_42a_extension_once_before_expiry_with_reasons() {
        let rules = fiktion();
        let clock = complete_on(date(2026, 1, 15), date(2026, 1, 15));
        let d = compute(&rules, &clock, &calendar("NW"), date(2026, 4, 15));
        // On the last day of the period: allowed with a reason, not without.
        assert_eq!(
            check_extension(&rules, &clock, &d, "Gutachten steht aus", date(2026, 4, 15)),
            Ok(())
        );
        assert_eq!(
            check_extension(&rules, &clock, &d, "  ", date(2026, 4, 15)),
            Err(ExtensionRefusal::NoReason)
        );
        // A day later the permit is deemed granted: too late.
        assert_eq!(
            check_extension(&rules, &clock, &d, "Gutachten", date(2026, 4, 16)),
            Err(ExtensionRefusal::Expired("15.04.2026".into()))
        );
        assert_eq!(
            d.status(date(2026, 4, 16)),
            DeadlineStatus::FiktionEingetreten
        );
        // Only once.
        let twice = Clock {
            extended: true,
            ..clock.clone()
        };
        assert_eq!(
            check_extension(&rules, &twice, &d, "noch einmal", date(2026, 4, 1)),
            Err(ExtensionRefusal::AlreadyExtended)
        );
        // Not before the period runs.
        let open = Clock {
            declared_complete: None,
            ..clock.clone()
        };
        let d_open = compute(&rules, &open, &calendar("NW"), date(2026, 2, 1));
        assert_eq!(
            check_extension(&rules, &open, &d_open, "x", date(2026, 2, 1)),
            Err(ExtensionRefusal::NotRunning)
        );
        // Not where the legal basis has none.
        let none = DeadlineRules {
            verlaengerung_monate: 0,
            ..rules
        };
        assert_eq!(
            check_extension(&none, &clock, &d, "x", date(2026, 2, 1)),
            Err(ExtensionRefusal::NotProvided)
        );
    }

    #[test]
    fn the_previous_rule_is_kept_only_for_the_list_of_changed_deadlines() {
        // Before the review: complete found on Mon 26 Jan 2026 → 26 Apr (Sun) → Mon 27 Apr;
        // now (§ 42a Abs. 2 S. 2) from the complete receipt on 15 Jan → Wed 15 Apr.
        let clock = complete_on(date(2026, 1, 15), date(2026, 1, 26));
        let cal = calendar("NW");
        assert_eq!(
            previous_rule_end(3, true, 0, &clock, &cal, date(2026, 2, 1)),
            Some(date(2026, 4, 27))
        );
        assert_eq!(
            compute(&fiktion(), &clock, &cal, date(2026, 2, 1)).legal,
            Some(date(2026, 4, 15))
        );
        // A request after completeness used to add its days.
        let mut waited = clock.clone();
        waited
            .requests_after
            .push((date(2026, 2, 2), Some(date(2026, 2, 12))));
        assert_eq!(
            previous_rule_end(3, true, 0, &waited, &cal, date(2026, 3, 1)),
            Some(date(2026, 5, 6))
        );
        assert_eq!(
            previous_rule_end(0, true, 0, &waited, &cal, date(2026, 3, 1)),
            None
        );
    }

    #[test]
    fn status_markers() {
        let d = compute(
            &fiktion(),
            &complete_on(date(2026, 1, 15), date(2026, 1, 15)),
            &calendar("NW"),
            date(2026, 1, 15),
        );
        // Target: 15 Jan + 14 = Thu 29 Jan.
        assert_eq!(d.target, Some(date(2026, 1, 29)));
        assert_eq!(d.status(date(2026, 1, 29)), DeadlineStatus::ImPlan);
        assert_eq!(
            d.status(date(2026, 1, 30)),
            DeadlineStatus::ZielzeitErreicht
        );
        assert_eq!(
            d.status(date(2026, 4, 16)),
            DeadlineStatus::FiktionEingetreten
        );
        let fach = compute(
            &DeadlineRules {
                uhr: ClockKind::Fachfrist,
                ..fiktion()
            },
            &complete_on(date(2026, 1, 15), date(2026, 1, 15)),
            &calendar("NW"),
            date(2026, 1, 15),
        );
        assert_eq!(
            fach.status(date(2026, 4, 16)),
            DeadlineStatus::FristAbgelaufen
        );
    }
}
