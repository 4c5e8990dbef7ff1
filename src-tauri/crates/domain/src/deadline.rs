//! Deadline arithmetic, pure: the statutory period of §42a VwVfG, the service target,
//! suspension while waiting for the citizen, one extension, deemed delivery of posted
//! letters, weekends and public holidays per Land.
//!
//! Rules applied (§31 VwVfG with §§187–193 BGB):
//! * the period starts with the receipt of the complete documents (§42a Abs. 2); the
//!   day of that event is not counted, so a period of months ends on the day of the
//!   last month with the same number – or on the last day of that month if it has no
//!   such day (§188 Abs. 2, 3 BGB; `jiff` clamps the same way);
//! * days spent waiting for the citizen after the start are added (suspension);
//! * one extension by the configured months, with a reason (§42a Abs. 2 S. 3);
//! * a period ending on a Saturday, Sunday or public holiday of the Land ends on the
//!   next working day (§193 BGB, §31 Abs. 3 VwVfG);
//! * deemed delivery of a posted letter is a fixed date – posting day plus the Land's
//!   days (4 federally since 2025) – and is not moved off a weekend.

use std::collections::BTreeSet;

use jiff::ToSpan;
use jiff::civil::{Date, Weekday};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The public holidays of one Land, as dates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    holidays: BTreeSet<Date>,
}

/// One holiday rule of the configurable calendar (`assets/feiertage.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HolidayRule {
    pub name: String,
    /// Fixed day of the year, "MM-DD".
    #[serde(default)]
    pub datum: Option<String>,
    /// Days relative to Easter Sunday.
    #[serde(default)]
    pub ostern: Option<i32>,
    /// Explicit dates ("YYYY-MM-DD"), for holidays without a simple rule.
    #[serde(default)]
    pub daten: Vec<String>,
    /// Länder codes (e.g. "BY", "NW"), or ["alle"].
    pub laender: Vec<String>,
}

/// The configurable calendar: holiday rules and the dates of Easter Sunday.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HolidayConfig {
    pub ostersonntag: Vec<String>,
    pub feiertag: Vec<HolidayRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("Feiertagskalender: „{0}“ ist kein gültiges Datum.")]
    BadDate(String),
    #[error("Feiertagskalender: „{0}“ braucht genau eine Angabe aus datum, ostern oder daten.")]
    BadRule(String),
    #[error("Feiertagskalender: unbekanntes Land „{0}“.")]
    UnknownLand(String),
}

/// The sixteen Länder.
pub const LAENDER: [&str; 16] = [
    "BB", "BE", "BW", "BY", "HB", "HE", "HH", "MV", "NI", "NW", "RP", "SH", "SL", "SN", "ST", "TH",
];

fn date(s: &str) -> Result<Date, CalendarError> {
    s.parse::<Date>()
        .map_err(|_| CalendarError::BadDate(s.to_owned()))
}

impl Calendar {
    /// The holidays of `land` for every year the configuration covers (the years of
    /// its Easter dates).
    pub fn for_land(cfg: &HolidayConfig, land: &str) -> Result<Calendar, CalendarError> {
        if !LAENDER.contains(&land) {
            return Err(CalendarError::UnknownLand(land.to_owned()));
        }
        let easter: Vec<Date> = cfg
            .ostersonntag
            .iter()
            .map(|s| date(s))
            .collect::<Result<_, _>>()?;
        let mut holidays = BTreeSet::new();
        for rule in &cfg.feiertag {
            for l in &rule.laender {
                if l != "alle" && !LAENDER.contains(&l.as_str()) {
                    return Err(CalendarError::UnknownLand(l.clone()));
                }
            }
            let given = usize::from(rule.datum.is_some())
                + usize::from(rule.ostern.is_some())
                + usize::from(!rule.daten.is_empty());
            if given != 1 {
                return Err(CalendarError::BadRule(rule.name.clone()));
            }
            let applies = rule.laender.iter().any(|l| l == "alle" || l == land);
            // Validate every rule, but collect only those of this Land.
            let mut dates = Vec::new();
            if let Some(md) = &rule.datum {
                for e in &easter {
                    dates.push(date(&format!("{:04}-{md}", e.year()))?);
                }
            }
            if let Some(offset) = rule.ostern {
                for e in &easter {
                    dates.push(
                        e.checked_add(i64::from(offset).days())
                            .map_err(|_| CalendarError::BadRule(rule.name.clone()))?,
                    );
                }
            }
            for d in &rule.daten {
                dates.push(date(d)?);
            }
            if applies {
                holidays.extend(dates);
            }
        }
        Ok(Calendar { holidays })
    }

    pub fn is_holiday(&self, d: Date) -> bool {
        self.holidays.contains(&d)
    }

    pub fn is_working_day(&self, d: Date) -> bool {
        !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) && !self.is_holiday(d)
    }

    /// `d` itself if it is a working day, else the next one.
    pub fn next_working_day(&self, d: Date) -> Date {
        let mut day = d;
        // At most a few days; the bound guards against a broken configuration.
        for _ in 0..31 {
            if self.is_working_day(day) {
                return day;
            }
            match day.tomorrow() {
                Ok(t) => day = t,
                Err(_) => return day,
            }
        }
        day
    }
}

/// Deadline settings of a case type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeadlineRules {
    /// Statutory period in months from completeness (§42a: 3 unless the law says otherwise).
    pub gesetzliche_frist_monate: u32,
    /// The town's own service target in days from arrival.
    pub zielzeit_tage: u32,
    /// Waiting for the citizen suspends the period.
    pub hemmung: bool,
    /// Months of the one extension allowed; 0: none.
    pub verlaengerung_monate: u32,
}

/// What happened to a case, as far as its deadlines are concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clock {
    pub received: Option<Date>,
    /// Receipt of the complete documents (start of the period).
    pub complete: Option<Date>,
    /// Waiting periods for the citizen: (from, until); `until` None while waiting.
    pub waiting: Vec<(Date, Option<Date>)>,
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
    /// The period is suspended (waiting for the citizen).
    Ruht,
    /// The service target date has passed.
    ZielzeitErreicht,
    /// The statutory deadline has passed (e.g. Genehmigungsfiktion risk).
    FristAbgelaufen,
}

/// The computed dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub target: Option<Date>,
    /// The statutory deadline; None before completeness.
    pub legal: Option<Date>,
    pub suspended: bool,
}

/// Calendar days from `a` to `b` (0 if `b` is not later).
fn days_between(a: Date, b: Date) -> i64 {
    // `Date::until` measures in days by default.
    a.until(b)
        .map(|s| i64::from(s.get_days()))
        .unwrap_or(0)
        .max(0)
}

/// Compute the dates of a case as of `today`.
pub fn compute(rules: &DeadlineRules, clock: &Clock, cal: &Calendar, today: Date) -> Deadlines {
    let target = clock.received.and_then(|r| {
        r.checked_add(i64::from(rules.zielzeit_tage).days())
            .ok()
            .map(|d| cal.next_working_day(d))
    });
    let mut suspended = false;
    let legal = clock.complete.and_then(|start| {
        let months = rules.gesetzliche_frist_monate
            + if clock.extended {
                rules.verlaengerung_monate
            } else {
                0
            };
        let mut end = start.checked_add(i64::from(months).months()).ok()?;
        if rules.hemmung {
            let mut days = 0;
            for (from, until) in &clock.waiting {
                // Only waiting after the start suspends the period.
                let from = (*from).max(start);
                let until = match until {
                    Some(u) => *u,
                    None => {
                        suspended = true;
                        today
                    }
                };
                days += days_between(from, until);
            }
            end = end.checked_add(days.days()).ok()?;
        }
        Some(cal.next_working_day(end))
    });
    Deadlines {
        target,
        legal,
        suspended,
    }
}

impl Deadlines {
    pub fn status(&self, today: Date) -> DeadlineStatus {
        if self.legal.is_some_and(|d| today > d) {
            DeadlineStatus::FristAbgelaufen
        } else if self.suspended {
            DeadlineStatus::Ruht
        } else if self.target.is_some_and(|d| today > d) {
            DeadlineStatus::ZielzeitErreicht
        } else {
            DeadlineStatus::ImPlan
        }
    }
}

/// Deemed delivery of a posted letter: a fixed date, not moved off weekends.
pub fn deemed_delivery(posted: Date, days: u32) -> Option<Date> {
    posted.checked_add(i64::from(days).days()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn calendar(land: &str) -> Calendar {
        let cfg = HolidayConfig {
            ostersonntag: vec!["2026-04-05".into(), "2027-03-28".into()],
            feiertag: vec![
                HolidayRule {
                    name: "Neujahr".into(),
                    datum: Some("01-01".into()),
                    ostern: None,
                    daten: vec![],
                    laender: vec!["alle".into()],
                },
                HolidayRule {
                    name: "Karfreitag".into(),
                    datum: None,
                    ostern: Some(-2),
                    daten: vec![],
                    laender: vec!["alle".into()],
                },
                HolidayRule {
                    name: "Ostermontag".into(),
                    datum: None,
                    ostern: Some(1),
                    daten: vec![],
                    laender: vec!["alle".into()],
                },
                HolidayRule {
                    name: "Fronleichnam".into(),
                    datum: None,
                    ostern: Some(60),
                    daten: vec![],
                    laender: vec!["BY".into(), "NW".into()],
                },
                HolidayRule {
                    name: "Buß- und Bettag".into(),
                    datum: None,
                    ostern: None,
                    daten: vec!["2026-11-18".into()],
                    laender: vec!["SN".into()],
                },
            ],
        };
        Calendar::for_land(&cfg, land).unwrap()
    }

    fn rules() -> DeadlineRules {
        DeadlineRules {
            gesetzliche_frist_monate: 3,
            zielzeit_tage: 14,
            hemmung: true,
            verlaengerung_monate: 2,
        }
    }

    fn complete_on(d: Date) -> Clock {
        Clock {
            received: Some(d),
            complete: Some(d),
            ..Clock::default()
        }
    }

    #[test]
    fn example_three_months_from_completeness() {
        // Complete on Thu 15 Jan 2026 → Wed 15 Apr 2026.
        let d = compute(
            &rules(),
            &complete_on(date(2026, 1, 15)),
            &calendar("NW"),
            date(2026, 1, 15),
        );
        assert_eq!(d.legal, Some(date(2026, 4, 15)));
    }

    #[test]
    fn example_suspension_is_added_and_weekend_moves_the_end() {
        // 10 days waiting in February: 15 Apr + 10 = Sat 25 Apr → Mon 27 Apr 2026.
        let mut clock = complete_on(date(2026, 1, 15));
        clock
            .waiting
            .push((date(2026, 2, 1), Some(date(2026, 2, 11))));
        let d = compute(&rules(), &clock, &calendar("NW"), date(2026, 3, 1));
        assert_eq!(d.legal, Some(date(2026, 4, 27)));
        assert!(!d.suspended);
        // Without Hemmung in the case type, waiting does not count.
        let no = DeadlineRules {
            hemmung: false,
            ..rules()
        };
        assert_eq!(
            compute(&no, &clock, &calendar("NW"), date(2026, 3, 1)).legal,
            Some(date(2026, 4, 15))
        );
    }

    #[test]
    fn example_waiting_before_completeness_does_not_count() {
        // The period only starts with completeness: earlier waiting is irrelevant.
        let mut clock = complete_on(date(2026, 1, 15));
        clock.received = Some(date(2026, 1, 2));
        clock
            .waiting
            .push((date(2026, 1, 5), Some(date(2026, 1, 15))));
        let d = compute(&rules(), &clock, &calendar("NW"), date(2026, 1, 20));
        assert_eq!(d.legal, Some(date(2026, 4, 15)));
    }

    #[test]
    fn example_running_suspension_rests_the_clock() {
        let mut clock = complete_on(date(2026, 1, 15));
        clock.waiting.push((date(2026, 3, 1), None));
        let today = date(2026, 3, 11);
        let d = compute(&rules(), &clock, &calendar("NW"), today);
        // 10 days so far: 15 Apr + 10 = Sat 25 Apr → Mon 27 Apr.
        assert_eq!(d.legal, Some(date(2026, 4, 27)));
        assert_eq!(d.status(today), DeadlineStatus::Ruht);
    }

    #[test]
    fn example_good_friday_and_easter_monday() {
        // Complete on Sat 3 Jan 2026: 3 Apr 2026 is Good Friday, 4/5 the weekend,
        // 6 Easter Monday → Tue 7 Apr 2026.
        let d = compute(
            &rules(),
            &complete_on(date(2026, 1, 3)),
            &calendar("NW"),
            date(2026, 1, 3),
        );
        assert_eq!(d.legal, Some(date(2026, 4, 7)));
    }

    #[test]
    fn example_end_of_month_and_land_specific_holiday() {
        // Complete on Mon 30 Nov 2026: February 2027 has no 30th → Sun 28 Feb →
        // Mon 1 Mar 2027 (§188 Abs. 3, §193 BGB).
        let d = compute(
            &rules(),
            &complete_on(date(2026, 11, 30)),
            &calendar("NW"),
            date(2026, 12, 1),
        );
        assert_eq!(d.legal, Some(date(2027, 3, 1)));
        // Fronleichnam (Thu 4 Jun 2026) is a holiday in NW, not in Sachsen.
        let start = date(2026, 3, 4);
        assert_eq!(
            compute(&rules(), &complete_on(start), &calendar("NW"), start).legal,
            Some(date(2026, 6, 5))
        );
        assert_eq!(
            compute(&rules(), &complete_on(start), &calendar("SN"), start).legal,
            Some(date(2026, 6, 4))
        );
        assert!(calendar("SN").is_holiday(date(2026, 11, 18)));
        assert!(!calendar("NW").is_holiday(date(2026, 11, 18)));
    }

    #[test]
    fn example_one_extension() {
        let mut clock = complete_on(date(2026, 1, 15));
        clock.extended = true;
        // 3 + 2 months → Mon 15 Jun 2026.
        let d = compute(&rules(), &clock, &calendar("NW"), date(2026, 1, 15));
        assert_eq!(d.legal, Some(date(2026, 6, 15)));
    }

    #[test]
    fn example_deemed_delivery_is_not_moved() {
        // Posted Thu 19 Nov 2026, 4 days → Mon 23 Nov 2026.
        assert_eq!(
            deemed_delivery(date(2026, 11, 19), 4),
            Some(date(2026, 11, 23))
        );
        // Posted Wed 18 Nov → Sun 22 Nov, stays a Sunday (a date, not a deadline).
        assert_eq!(
            deemed_delivery(date(2026, 11, 18), 4),
            Some(date(2026, 11, 22))
        );
        // A Land still on three days.
        assert_eq!(
            deemed_delivery(date(2026, 11, 19), 3),
            Some(date(2026, 11, 22))
        );
    }

    #[test]
    fn status_markers() {
        let d = compute(
            &rules(),
            &complete_on(date(2026, 1, 15)),
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
        assert_eq!(d.status(date(2026, 4, 16)), DeadlineStatus::FristAbgelaufen);
        // Not complete yet: no statutory deadline.
        let open = Clock {
            received: Some(date(2026, 1, 15)),
            ..Clock::default()
        };
        assert_eq!(
            compute(&rules(), &open, &calendar("NW"), date(2026, 1, 15)).legal,
            None
        );
    }

    #[test]
    fn bad_calendars_are_refused() {
        let bad = HolidayConfig {
            ostersonntag: vec!["2026-04-05".into()],
            feiertag: vec![HolidayRule {
                name: "Doppelt".into(),
                datum: Some("01-01".into()),
                ostern: Some(1),
                daten: vec![],
                laender: vec!["alle".into()],
            }],
        };
        assert!(matches!(
            Calendar::for_land(&bad, "NW"),
            Err(CalendarError::BadRule(_))
        ));
        assert!(matches!(
            Calendar::for_land(&bad, "XX"),
            Err(CalendarError::UnknownLand(_))
        ));
    }
}
