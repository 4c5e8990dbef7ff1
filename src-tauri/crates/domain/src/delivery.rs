//! When a decision counts as delivered (Bekanntgabe), pure.
//!
//! * By post, under the VwVfG (§ 41 Abs. 2 S. 1): on the fourth day after posting for
//!   letters posted from the day the Land's law adopted the federal change of
//!   1 January 2025 (before: the third day). The day is a fixed date, not the end of a
//!   period: it is not moved off a weekend or holiday.
//! * By post, under the AO (§ 122 Abs. 2 Nr. 1 AO; municipal taxes through the Land's
//!   KAG): the fourth day after posting from 1 January 2025 (before: the third); a
//!   Saturday, Sunday or holiday moves it to the next working day (§ 108 Abs. 3 AO,
//!   BFH, Urteil vom 14.10.2003 – IX R 68/98).
//! * Electronic retrieval (§ 41 Abs. 2a VwVfG): the day after the retrieval; not
//!   retrieved within ten days after the notice of provision, the provision ends and
//!   the act is not delivered that way.

use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;

/// The procedural law of a case type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProceduralLaw {
    /// The Land's Verwaltungsverfahrensgesetz.
    #[default]
    Vwvfg,
    /// The Abgabenordnung (taxes; through the Land's KAG for municipal taxes).
    Ao,
}

/// The Land's rules for deemed delivery by post (`vorgangsarten.toml`, `[bekanntgabe]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRules {
    /// Days after posting before the change (3).
    #[serde(default = "three")]
    pub tage_bisher: u32,
    /// Days after posting from the change on (4).
    #[serde(default = "four")]
    pub tage: u32,
    /// First posting day under the Land's VwVfG with `tage` (Bund: 2025-01-01).
    pub vwvfg_ab: Date,
    /// First posting day under the AO with `tage` (federal law: 2025-01-01).
    #[serde(default = "federal_change")]
    pub ao_ab: Date,
}

fn three() -> u32 {
    3
}
fn four() -> u32 {
    4
}
fn federal_change() -> Date {
    Date::constant(2025, 1, 1)
}

impl Default for DeliveryRules {
    fn default() -> Self {
        DeliveryRules {
            tage_bisher: 3,
            tage: 4,
            vwvfg_ab: federal_change(),
            ao_ab: federal_change(),
        }
    }
}

impl DeliveryRules {
    /// One number of days for every posting day (older configurations).
    pub fn fixed(days: u32) -> DeliveryRules {
        DeliveryRules {
            tage_bisher: days,
            tage: days,
            ..DeliveryRules::default()
        }
    }

    /// The day a letter posted on `posted` counts as delivered.
    pub fn by_post(&self, law: ProceduralLaw, posted: Date, cal: &Calendar) -> Option<Date> {
        let from = match law {
            ProceduralLaw::Vwvfg => self.vwvfg_ab,
            ProceduralLaw::Ao => self.ao_ab,
        };
        let days = if posted >= from {
            self.tage
        } else {
            self.tage_bisher
        };
        let day = posted.checked_add(i64::from(days).days()).ok()?;
        Some(match law {
            ProceduralLaw::Vwvfg => day,
            ProceduralLaw::Ao => cal.next_working_day(day),
        })
    }
}

/// Why a retrieval does not deliver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetrievalError {
    #[error(
        "Nicht innerhalb von zehn Tagen nach der Bereitstellung abgerufen (§ 41 Abs. 2a VwVfG): der Bescheid ist so nicht bekannt gegeben; bitte per Post zustellen."
    )]
    TooLate,
    #[error("Der Abruf liegt vor der Bereitstellung.")]
    BeforeProvision,
}

/// Electronic retrieval (§ 41 Abs. 2a VwVfG): delivered the day after retrieval, if it
/// was retrieved within ten days after the notice of provision.
pub fn by_retrieval(provided: Date, retrieved: Date) -> Result<Date, RetrievalError> {
    if retrieved < provided {
        return Err(RetrievalError::BeforeProvision);
    }
    let last = provided
        .checked_add(10.days())
        .map_err(|_| RetrievalError::TooLate)?;
    if retrieved > last {
        return Err(RetrievalError::TooLate);
    }
    retrieved.tomorrow().map_err(|_| RetrievalError::TooLate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{HolidayConfig, HolidayRule};
    use jiff::civil::date;

    fn nw() -> Calendar {
        let cfg = HolidayConfig {
            ostersonntag: vec![],
            feiertag: vec![HolidayRule {
                name: "Tag der Deutschen Einheit".into(),
                datum: Some("10-03".into()),
                ostern: None,
                regel: None,
                daten: vec![],
                laender: vec!["alle".into()],
                ab: None,
                bis: None,
            }],
        };
        Calendar::for_land(&cfg, "NW").unwrap()
    }

    #[test]
    fn vwvfg_41_fourth_day_from_2025_third_before() {
        let rules = DeliveryRules::default();
        // Posted Thu 19 Nov 2026 → Mon 23 Nov 2026.
        assert_eq!(
            rules.by_post(ProceduralLaw::Vwvfg, date(2026, 11, 19), &nw()),
            Some(date(2026, 11, 23))
        );
        // Posted Wed 18 Nov 2026 → Sun 22 Nov: a fixed date, not moved.
        assert_eq!(
            rules.by_post(ProceduralLaw::Vwvfg, date(2026, 11, 18), &nw()),
            Some(date(2026, 11, 22))
        );
        // Posted Mon 30 Dec 2024, before the change: the third day, Thu 2 Jan 2025.
        assert_eq!(
            rules.by_post(ProceduralLaw::Vwvfg, date(2024, 12, 30), &nw()),
            Some(date(2025, 1, 2))
        );
    }

    #[test]
    fn a_land_that_adopted_the_change_later_keeps_three_days_until_then() {
        let rules = DeliveryRules {
            vwvfg_ab: date(2025, 7, 1),
            ..DeliveryRules::default()
        };
        // Posted Mon 3 Mar 2025 under that Land's VwVfG: still the third day.
        assert_eq!(
            rules.by_post(ProceduralLaw::Vwvfg, date(2025, 3, 3), &nw()),
            Some(date(2025, 3, 6))
        );
        // The AO is federal law: the fourth day already.
        assert_eq!(
            rules.by_post(ProceduralLaw::Ao, date(2025, 3, 3), &nw()),
            Some(date(2025, 3, 7))
        );
    }

    #[test]
    fn ao_122_weekend_or_holiday_moves_to_the_next_working_day() {
        let rules = DeliveryRules::default();
        // Hundesteuerbescheid posted Wed 18 Nov 2026: fourth day Sun 22 Nov → Mon 23 Nov
        // (§ 108 Abs. 3 AO).
        assert_eq!(
            rules.by_post(ProceduralLaw::Ao, date(2026, 11, 18), &nw()),
            Some(date(2026, 11, 23))
        );
        // Posted Tue 29 Sep 2026: fourth day Sat 3 Oct (also Tag der Deutschen Einheit)
        // → Mon 5 Oct 2026.
        assert_eq!(
            rules.by_post(ProceduralLaw::Ao, date(2026, 9, 29), &nw()),
            Some(date(2026, 10, 5))
        );
        // Under the VwVfG the same letter counts as delivered on Sat 3 Oct.
        assert_eq!(
            rules.by_post(ProceduralLaw::Vwvfg, date(2026, 9, 29), &nw()),
            Some(date(2026, 10, 3))
        );
    }

    #[test]
    fn vwvfg_41_2a_retrieval_counts_from_the_day_after() {
        // Provided Mon 2 Nov 2026, retrieved Fri 6 Nov → delivered Sat 7 Nov.
        assert_eq!(
            by_retrieval(date(2026, 11, 2), date(2026, 11, 6)),
            Ok(date(2026, 11, 7))
        );
        // Retrieved on the tenth day still counts; on the eleventh not.
        assert_eq!(
            by_retrieval(date(2026, 11, 2), date(2026, 11, 12)),
            Ok(date(2026, 11, 13))
        );
        assert_eq!(
            by_retrieval(date(2026, 11, 2), date(2026, 11, 13)),
            Err(RetrievalError::TooLate)
        );
        assert_eq!(
            by_retrieval(date(2026, 11, 2), date(2026, 11, 1)),
            Err(RetrievalError::BeforeProvision)
        );
    }
}
