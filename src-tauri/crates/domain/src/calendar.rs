//! Public holidays per Land, for any year (§ 193 BGB, § 31 Abs. 3 VwVfG, § 108 Abs. 3 AO).
//!
//! The configuration (`assets/config/feiertage.toml`) names rules, not dates: a fixed
//! day of the year, a day relative to Easter Sunday (computed here for every year,
//! Gregorian computus), the Wednesday before 23 November (Buß- und Bettag), or single
//! dates for one-off holidays. A rule may hold only from or until a year (Frauentag in
//! Berlin since 2019, in Mecklenburg-Vorpommern since 2023; Reformationstag in the
//! northern Länder since 2018).

use jiff::ToSpan;
use jiff::civil::{Date, Weekday};
use serde::{Deserialize, Serialize};

/// The sixteen Länder.
pub const LAENDER: [&str; 16] = [
    "BB", "BE", "BW", "BY", "HB", "HE", "HH", "MV", "NI", "NW", "RP", "SH", "SL", "SN", "ST", "TH",
];

/// One holiday rule of the configurable calendar.
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
    /// A computed rule: "buss_und_bettag" (the Wednesday before 23 November).
    #[serde(default)]
    pub regel: Option<String>,
    /// Single dates ("YYYY-MM-DD"), for one-off holidays.
    #[serde(default)]
    pub daten: Vec<String>,
    /// Länder codes (e.g. "BY", "NW"), or ["alle"].
    pub laender: Vec<String>,
    /// First year the rule holds (inclusive).
    #[serde(default)]
    pub ab: Option<i16>,
    /// Last year the rule holds (inclusive).
    #[serde(default)]
    pub bis: Option<i16>,
}

/// The configurable calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HolidayConfig {
    /// Older configurations listed the Easter dates; Easter is computed now and a
    /// list given here is only checked against the computation.
    #[serde(default)]
    pub ostersonntag: Vec<String>,
    pub feiertag: Vec<HolidayRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("Feiertagskalender: „{0}“ ist kein gültiges Datum.")]
    BadDate(String),
    #[error(
        "Feiertagskalender: „{0}“ braucht genau eine Angabe aus datum, ostern, regel oder daten."
    )]
    BadRule(String),
    #[error("Feiertagskalender: unbekanntes Land „{0}“.")]
    UnknownLand(String),
    #[error("Feiertagskalender: unbekannte Regel „{0}“ (bekannt: buss_und_bettag).")]
    UnknownComputation(String),
    #[error("Feiertagskalender: Ostersonntag {0} stimmt nicht mit der Berechnung überein ({1}).")]
    WrongEaster(String, String),
}

/// Easter Sunday of a Gregorian year (anonymous Gregorian algorithm, Meeus/Jones/Butcher).
pub fn easter_sunday(year: i16) -> Option<Date> {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::new(year, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()
}

/// Buß- und Bettag: the Wednesday before 23 November.
fn buss_und_bettag(year: i16) -> Option<Date> {
    let mut d = Date::new(year, 11, 22).ok()?;
    while d.weekday() != Weekday::Wednesday {
        d = d.yesterday().ok()?;
    }
    Some(d)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum When {
    Fixed(i8, i8),
    Easter(i32),
    BussUndBettag,
    Dates(Vec<Date>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    when: When,
    from: Option<i16>,
    until: Option<i16>,
}

impl Rule {
    fn falls_on(&self, d: Date) -> bool {
        if self.from.is_some_and(|y| d.year() < y) || self.until.is_some_and(|y| d.year() > y) {
            return false;
        }
        match &self.when {
            When::Fixed(m, day) => d.month() == *m && d.day() == *day,
            When::Easter(offset) => easter_sunday(d.year())
                .and_then(|e| e.checked_add(i64::from(*offset).days()).ok())
                .is_some_and(|h| h == d),
            When::BussUndBettag => buss_und_bettag(d.year()) == Some(d),
            When::Dates(dates) => dates.contains(&d),
        }
    }
}

/// The public holidays of one Land.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    rules: Vec<Rule>,
}

fn date(s: &str) -> Result<Date, CalendarError> {
    s.parse::<Date>()
        .map_err(|_| CalendarError::BadDate(s.to_owned()))
}

impl Calendar {
    /// The holidays of `land`. Every rule is checked, also those of other Länder.
    pub fn for_land(cfg: &HolidayConfig, land: &str) -> Result<Calendar, CalendarError> {
        if !LAENDER.contains(&land) {
            return Err(CalendarError::UnknownLand(land.to_owned()));
        }
        for given in &cfg.ostersonntag {
            let d = date(given)?;
            let computed = easter_sunday(d.year());
            if computed != Some(d) {
                return Err(CalendarError::WrongEaster(
                    given.clone(),
                    computed.map(|c| c.to_string()).unwrap_or_default(),
                ));
            }
        }
        let mut rules = Vec::new();
        for rule in &cfg.feiertag {
            for l in &rule.laender {
                if l != "alle" && !LAENDER.contains(&l.as_str()) {
                    return Err(CalendarError::UnknownLand(l.clone()));
                }
            }
            let given = usize::from(rule.datum.is_some())
                + usize::from(rule.ostern.is_some())
                + usize::from(rule.regel.is_some())
                + usize::from(!rule.daten.is_empty());
            if given != 1 {
                return Err(CalendarError::BadRule(rule.name.clone()));
            }
            let when = if let Some(md) = &rule.datum {
                // Checked against a leap year so that 02-29 is not refused.
                let d = date(&format!("2024-{md}"))?;
                When::Fixed(d.month(), d.day())
            } else if let Some(offset) = rule.ostern {
                if !(-100..=100).contains(&offset) {
                    return Err(CalendarError::BadRule(rule.name.clone()));
                }
                When::Easter(offset)
            } else if let Some(r) = &rule.regel {
                match r.as_str() {
                    "buss_und_bettag" => When::BussUndBettag,
                    other => return Err(CalendarError::UnknownComputation(other.to_owned())),
                }
            } else {
                When::Dates(
                    rule.daten
                        .iter()
                        .map(|d| date(d))
                        .collect::<Result<_, _>>()?,
                )
            };
            if rule.laender.iter().any(|l| l == "alle" || l == land) {
                rules.push(Rule {
                    when,
                    from: rule.ab,
                    until: rule.bis,
                });
            }
        }
        Ok(Calendar { rules })
    }

    pub fn is_holiday(&self, d: Date) -> bool {
        self.rules.iter().any(|r| r.falls_on(d))
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

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn easter_is_computed_for_any_year() {
        // Dates as published (e.g. by the Physikalisch-Technische Bundesanstalt).
        for (y, m, d) in [
            (1943, 4, 25),
            (2000, 4, 23),
            (2008, 3, 23),
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2030, 4, 21),
            (2038, 4, 25),
            (2049, 4, 18),
            (2285, 3, 22),
        ] {
            assert_eq!(easter_sunday(y), Some(date(y, m, d)), "{y}");
        }
    }

    #[test]
    fn buss_und_bettag_is_the_wednesday_before_23_november() {
        assert_eq!(buss_und_bettag(2026), Some(date(2026, 11, 18)));
        assert_eq!(buss_und_bettag(2027), Some(date(2027, 11, 17)));
        // 23 November 2033 is itself a Wednesday: the one before is the 16th.
        assert_eq!(buss_und_bettag(2033), Some(date(2033, 11, 16)));
    }

    fn rule(name: &str, laender: &[&str]) -> HolidayRule {
        HolidayRule {
            name: name.into(),
            datum: None,
            ostern: None,
            regel: None,
            daten: vec![],
            laender: laender.iter().map(|l| (*l).to_owned()).collect(),
            ab: None,
            bis: None,
        }
    }

    #[test]
    fn rules_hold_from_and_until_a_year() {
        let cfg = HolidayConfig {
            ostersonntag: vec![],
            feiertag: vec![HolidayRule {
                datum: Some("03-08".into()),
                ab: Some(2023),
                ..rule("Frauentag", &["MV"])
            }],
        };
        let mv = Calendar::for_land(&cfg, "MV").unwrap();
        assert!(mv.is_holiday(date(2023, 3, 8)));
        assert!(!mv.is_holiday(date(2022, 3, 8)));
        assert!(mv.is_holiday(date(2091, 3, 8)));
    }

    #[test]
    fn bad_calendars_are_refused() {
        let twice = HolidayConfig {
            ostersonntag: vec![],
            feiertag: vec![HolidayRule {
                datum: Some("01-01".into()),
                ostern: Some(1),
                ..rule("Doppelt", &["alle"])
            }],
        };
        assert!(matches!(
            Calendar::for_land(&twice, "NW"),
            Err(CalendarError::BadRule(_))
        ));
        assert!(matches!(
            Calendar::for_land(&twice, "XX"),
            Err(CalendarError::UnknownLand(_))
        ));
        let unknown = HolidayConfig {
            ostersonntag: vec![],
            feiertag: vec![HolidayRule {
                regel: Some("vollmond".into()),
                ..rule("Mond", &["alle"])
            }],
        };
        assert!(matches!(
            Calendar::for_land(&unknown, "NW"),
            Err(CalendarError::UnknownComputation(_))
        ));
        let wrong_easter = HolidayConfig {
            ostersonntag: vec!["2026-04-12".into()],
            feiertag: vec![],
        };
        assert!(matches!(
            Calendar::for_land(&wrong_easter, "NW"),
            Err(CalendarError::WrongEaster(..))
        ));
        let bad_day = HolidayConfig {
            ostersonntag: vec![],
            feiertag: vec![HolidayRule {
                datum: Some("02-30".into()),
                ..rule("Nie", &["alle"])
            }],
        };
        assert!(matches!(
            Calendar::for_land(&bad_day, "NW"),
            Err(CalendarError::BadDate(_))
        ));
    }
}
