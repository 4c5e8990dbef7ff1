//! Case types (Vorgangsarten) as configured by the town (`assets/config/vorgangsarten.toml`):
//! deadlines, completeness checklist, letter templates and fee tariff references per
//! service. Parsed and checked here; reading the file is the facade's business.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::deadline::{ClockKind, DeadlineRules, LAENDER, PeriodStart, RequestEffect};
use crate::delivery::{DeliveryRules, ProceduralLaw};

/// One case type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export, rename_all = "camelCase")]
#[serde(rename_all(serialize = "camelCase"))]
pub struct CaseType {
    /// Short code used in the Aktenzeichen, e.g. "GEW".
    pub kuerzel: String,
    pub name: String,
    /// LeiKa service identifier (as in the FIT-Connect metadata).
    pub leika: String,
    /// The legal basis of the procedure and of its clock, e.g. "§ 15 Abs. 1 GewO".
    #[serde(default)]
    pub rechtsgrundlage: String,
    /// Which clock runs: "fiktion" (§ 42a VwVfG, only where a law orders it),
    /// "fachfrist" (a period of another law) or "servicefrist" (none).
    #[serde(default)]
    pub uhr: Option<ClockKind>,
    /// Length of the statutory period.
    #[serde(default)]
    pub frist_monate: u32,
    #[serde(default)]
    pub frist_tage: u32,
    /// "eingang" or "vollstaendig" (receipt of the complete documents).
    #[serde(default)]
    #[ts(skip)]
    pub fristbeginn: Option<PeriodStart>,
    /// What a request for documents does to a running period: "laeuft_weiter",
    /// "neubeginn" or "hemmung".
    #[serde(default)]
    #[ts(skip)]
    pub nachforderung: Option<RequestEffect>,
    /// "vwvfg" or "ao" (deemed delivery, § 41 VwVfG / § 122 AO).
    #[serde(default)]
    #[ts(skip)]
    pub verfahrensrecht: Option<ProceduralLaw>,
    pub zielzeit_tage: u32,
    #[serde(default)]
    pub verlaengerung_monate: u32,
    /// What answers the case: "bescheid" (a permit granted or refused, the default),
    /// "empfangsbescheinigung" (a notification, e.g. § 15 Abs. 1 GewO) or
    /// "steuerbescheid" (a tax assessed under the AO, e.g. the Hundesteuer).
    #[serde(default)]
    #[ts(skip)]
    pub bescheidart: Option<AnswerKind>,
    /// Tax rates of a Steuerbescheid.
    #[serde(default)]
    #[ts(skip)]
    pub steuer: Option<TaxRates>,
    /// Older configurations: a period in months from completeness (read as a
    /// Fachfrist – never as a fiction, which needs a law that orders it).
    #[serde(default, skip_serializing)]
    #[ts(skip)]
    pub gesetzliche_frist_monate: Option<u32>,
    /// Older configurations: waiting for documents suspends that period.
    #[serde(default, skip_serializing)]
    #[ts(skip)]
    pub hemmung: Option<bool>,
    pub checkliste: Vec<String>,
    pub vorlagen: Vec<String>,
    pub gebuehren: Vec<String>,
}

/// What answers a case of a type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    #[default]
    Bescheid,
    Empfangsbescheinigung,
    Steuerbescheid,
}

/// The rates of a municipal tax as the town's by-law sets them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxRates {
    /// Annual amount in cent for the first, second, … object (the last applies to all
    /// further ones), e.g. the first dog, the second dog, each further dog.
    pub jahresbetrag_cent: Vec<i64>,
    /// Due dates of the instalments, "MM-DD" (e.g. quarterly 02-15, 05-15, 08-15, 11-15).
    pub faelligkeiten: Vec<String>,
    /// The by-law, e.g. "§ 2 Hundesteuersatzung".
    pub satzung: String,
    /// Where the cash system books the tax (Annahmeanordnung).
    pub haushaltsstelle: String,
    pub sachkonto: String,
}

/// A tax assessed from a start date: the annual amount, the share for the first
/// (partial) year and the instalments of a full year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxAssessment {
    /// The liability begins on the first day of the month after `from`.
    pub beginn: jiff::civil::Date,
    pub jahresbetrag_cent: i64,
    /// Months of the first year from `beginn` to December, and their share.
    pub monate_erstes_jahr: i8,
    pub erstes_jahr_cent: i64,
    /// Due dates ("MM-DD") and the amount of each instalment of a full year.
    pub raten: Vec<(String, i64)>,
}

impl TaxAssessment {
    /// The first (partial) year as the one position to book with the cash system.
    pub fn first_year_line(&self, rates: &TaxRates, what: &str) -> crate::fees::FeeLine {
        crate::fees::FeeLine {
            stelle: "STEUER".into(),
            text: format!(
                "{what} {} ({} Monate ab {})",
                self.beginn.year(),
                self.monate_erstes_jahr,
                self.beginn.strftime("%d.%m.%Y")
            ),
            cent: self.erstes_jahr_cent,
            haushaltsstelle: rates.haushaltsstelle.clone(),
            sachkonto: rates.sachkonto.clone(),
        }
    }
}

impl TaxRates {
    /// Assess the tax for `objects` (e.g. dogs, at least one) whose keeping began on
    /// `from`: liability from the first of the following month, the first year pro rata
    /// by months, a full year in equal instalments (the last one takes the rounding).
    pub fn assess(&self, objects: u32, from: jiff::civil::Date) -> Option<TaxAssessment> {
        let rates = &self.jahresbetrag_cent;
        let last = *rates.last()?;
        let jahresbetrag_cent: i64 = (0..objects.max(1) as usize)
            .map(|i| rates.get(i).copied().unwrap_or(last))
            .sum();
        let beginn = from
            .first_of_month()
            .checked_add(jiff::ToSpan::months(1))
            .ok()?;
        let monate_erstes_jahr = 13 - beginn.month();
        let erstes_jahr_cent = (jahresbetrag_cent * i64::from(monate_erstes_jahr) + 6) / 12;
        let n = i64::try_from(self.faelligkeiten.len())
            .ok()
            .filter(|n| *n > 0)?;
        let each = jahresbetrag_cent / n;
        let raten = self
            .faelligkeiten
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let amount = if i as i64 == n - 1 {
                    jahresbetrag_cent - each * (n - 1)
                } else {
                    each
                };
                (d.clone(), amount)
            })
            .collect();
        Some(TaxAssessment {
            beginn,
            jahresbetrag_cent,
            monate_erstes_jahr,
            erstes_jahr_cent,
            raten,
        })
    }
}

impl CaseType {
    pub fn answer_kind(&self) -> AnswerKind {
        self.bescheidart.unwrap_or_default()
    }

    /// The clock in force, with older configurations read the safe way.
    pub fn clock(&self) -> ClockKind {
        match (self.uhr, self.gesetzliche_frist_monate) {
            (Some(u), _) => u,
            (None, Some(m)) if m > 0 => ClockKind::Fachfrist,
            (None, _) => ClockKind::Servicefrist,
        }
    }

    pub fn deadline_rules(&self) -> DeadlineRules {
        let legacy = self.uhr.is_none();
        DeadlineRules {
            uhr: self.clock(),
            frist_monate: if legacy {
                self.gesetzliche_frist_monate.unwrap_or(0)
            } else {
                self.frist_monate
            },
            frist_tage: if legacy { 0 } else { self.frist_tage },
            beginn: self.fristbeginn.unwrap_or_default(),
            nachforderung: match (self.nachforderung, self.hemmung) {
                (Some(n), _) => n,
                (None, Some(true)) => RequestEffect::Hemmung,
                (None, _) => RequestEffect::LaeuftWeiter,
            },
            verlaengerung_monate: self.verlaengerung_monate,
            zielzeit_tage: self.zielzeit_tage,
        }
    }

    pub fn procedural_law(&self) -> ProceduralLaw {
        self.verfahrensrecht.unwrap_or_default()
    }

    /// The period as the Eingangsbestätigung names it, e.g. "drei Monaten"; None for a
    /// Servicefrist.
    pub fn period_text(&self) -> Option<String> {
        let r = self.deadline_rules();
        if r.uhr == ClockKind::Servicefrist {
            return None;
        }
        let months = match r.frist_monate {
            0 => None,
            1 => Some("einem Monat".to_owned()),
            m => Some(format!("{} Monaten", number_word(m))),
        };
        let days = match r.frist_tage {
            0 => None,
            1 => Some("einem Tag".to_owned()),
            d => Some(format!("{} Tagen", number_word(d))),
        };
        match (months, days) {
            (Some(m), Some(d)) => Some(format!("{m} und {d}")),
            (Some(x), None) | (None, Some(x)) => Some(x),
            (None, None) => None,
        }
    }

    /// Does this type cover a submission with this service (LeiKa id or name)?
    pub fn matches(&self, service: &str) -> bool {
        let tail = |s: &str| s.rsplit(':').next().unwrap_or(s).to_owned();
        service == self.name
            || (!service.is_empty() && !self.leika.is_empty() && tail(service) == tail(&self.leika))
    }
}

/// "zwei" … "zwölf" for the letters; digits above.
fn number_word(n: u32) -> String {
    const WORDS: [&str; 11] = [
        "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn", "elf", "zwölf",
    ];
    n.checked_sub(2)
        .and_then(|i| WORDS.get(i as usize))
        .map_or_else(|| n.to_string(), |w| (*w).to_owned())
}

/// The town's case-type configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseTypes {
    pub land: String,
    /// Older configurations: deemed delivery on this day after posting, for every
    /// posting day and law. `[bekanntgabe]` replaces it.
    #[serde(default)]
    pub zugangsfiktion_tage: Option<u32>,
    /// Deemed delivery by post per procedural law and the Land's effective date.
    #[serde(default)]
    pub bekanntgabe: Option<DeliveryRules>,
    /// Pattern of the Aktenzeichen: `{kuerzel}`, `{jahr}`, `{arbeitsplatz}` (two
    /// digits), `{nummer}` (five digits) – e.g. "{kuerzel}-{jahr}-{arbeitsplatz}{nummer}".
    pub aktenzeichen: String,
    /// Number of this workstation (1–99): its own block of file numbers, so that
    /// workstations working offline never hand out the same Aktenzeichen.
    pub arbeitsplatz: u32,
    pub vorgangsart: Vec<CaseType>,
}

/// Fill the Aktenzeichen pattern.
pub fn file_number(
    pattern: &str,
    kuerzel: &str,
    year: i16,
    arbeitsplatz: u32,
    nummer: u64,
) -> String {
    pattern
        .replace("{kuerzel}", kuerzel)
        .replace("{jahr}", &format!("{year:04}"))
        .replace("{arbeitsplatz}", &format!("{arbeitsplatz:02}"))
        .replace("{nummer}", &format!("{nummer:05}"))
}

impl CaseType {
    /// A Steuerbescheid needs its rates and the AO; rates belong to nothing else.
    fn validate_answer(&self) -> Result<(), CaseTypeError> {
        let bad = |why: &'static str| Err(CaseTypeError::Clock(self.name.clone(), why));
        match (self.answer_kind(), &self.steuer) {
            (AnswerKind::Steuerbescheid, None) => {
                bad("ein Steuerbescheid braucht [vorgangsart.steuer]")
            }
            (AnswerKind::Steuerbescheid, Some(t)) => {
                if self.procedural_law() != ProceduralLaw::Ao {
                    return bad("ein Steuerbescheid folgt der AO: verfahrensrecht = \"ao\"");
                }
                let dates_ok = t
                    .faelligkeiten
                    .iter()
                    .all(|d| format!("2024-{d}").parse::<jiff::civil::Date>().is_ok());
                if t.jahresbetrag_cent.is_empty()
                    || t.jahresbetrag_cent
                        .iter()
                        .any(|c| *c <= 0 || *c > 10_000_000)
                    || t.faelligkeiten.is_empty()
                    || !dates_ok
                    || t.satzung.trim().is_empty()
                    || t.haushaltsstelle.trim().is_empty()
                    || t.sachkonto.trim().is_empty()
                {
                    return bad("Steuersätze, Fälligkeiten (MM-TT) und Satzung prüfen");
                }
                Ok(())
            }
            (_, Some(_)) => bad("Steuersätze gehören nur zu bescheidart = \"steuerbescheid\""),
            (_, None) => Ok(()),
        }
    }

    /// The clock's settings fit its kind and the law.
    fn validate_clock(&self) -> Result<(), CaseTypeError> {
        let bad = |why: &'static str| Err(CaseTypeError::Clock(self.name.clone(), why));
        if self.uhr.is_some() && (self.gesetzliche_frist_monate.is_some() || self.hemmung.is_some())
        {
            return bad(
                "gesetzliche_frist_monate und hemmung sind die alten Angaben; neben uhr bitte frist_monate und nachforderung verwenden",
            );
        }
        let r = self.deadline_rules();
        if r.frist_monate > 24 || r.frist_tage > 366 || r.verlaengerung_monate > 12 {
            return bad("Frist unplausibel lang");
        }
        match r.uhr {
            ClockKind::Servicefrist => {
                if r.frist_monate > 0 || r.frist_tage > 0 || r.verlaengerung_monate > 0 {
                    return bad(
                        "eine Servicefrist hat keine gesetzliche Frist und keine Verlängerung",
                    );
                }
            }
            ClockKind::Fiktion | ClockKind::Fachfrist => {
                if r.frist_monate == 0 && r.frist_tage == 0 {
                    return bad("die gesetzliche Frist fehlt (frist_monate oder frist_tage)");
                }
                if self.uhr.is_some() && self.rechtsgrundlage.trim().is_empty() {
                    return bad("die Rechtsgrundlage der Frist fehlt (rechtsgrundlage)");
                }
            }
        }
        if r.uhr == ClockKind::Fiktion {
            if r.beginn != PeriodStart::Vollstaendig {
                return bad(
                    "die Fiktionsfrist beginnt mit dem Eingang der vollständigen Unterlagen (§ 42a Abs. 2 S. 2 VwVfG)",
                );
            }
            if r.nachforderung != RequestEffect::LaeuftWeiter {
                return bad(
                    "§ 42a VwVfG kennt keine Hemmung und keinen Neubeginn: nachforderung = \"laeuft_weiter\"",
                );
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseTypeError {
    #[error("Vorgangsarten: Frist von „{0}“: {1}.")]
    Clock(String, &'static str),
    #[error("Vorgangsarten: unbekanntes Land „{0}“.")]
    UnknownLand(String),
    #[error("Vorgangsarten: das Kürzel „{0}“ ist doppelt oder ungültig (2–5 Großbuchstaben).")]
    BadCode(String),
    #[error("Vorgangsarten: „{0}“ ist unvollständig ({1}).")]
    Incomplete(String, &'static str),
    #[error("Vorgangsarten: die Zugangsfiktion muss 1 bis 7 Tage betragen.")]
    BadDelivery,
    #[error("Vorgangsarten: arbeitsplatz muss zwischen 1 und 99 liegen.")]
    BadWorkstation,
    #[error(
        "Vorgangsarten: das Aktenzeichen-Muster braucht {0}, sonst sind Aktenzeichen nicht eindeutig."
    )]
    BadPattern(&'static str),
}

impl CaseTypes {
    /// The rules for deemed delivery in force (older configurations: one fixed day).
    pub fn delivery_rules(&self) -> DeliveryRules {
        match (&self.bekanntgabe, self.zugangsfiktion_tage) {
            (Some(r), _) => r.clone(),
            (None, Some(days)) => DeliveryRules::fixed(days),
            (None, None) => DeliveryRules::default(),
        }
    }

    /// The case type with this code (`kuerzel`), if the town has it.
    pub fn by_code(&self, kuerzel: &str) -> Option<&CaseType> {
        self.vorgangsart.iter().find(|t| t.kuerzel == kuerzel)
    }

    /// Check the configuration as a whole.
    pub fn validate(&self) -> Result<(), CaseTypeError> {
        if !LAENDER.contains(&self.land.as_str()) {
            return Err(CaseTypeError::UnknownLand(self.land.clone()));
        }
        let delivery = self.delivery_rules();
        if !(1..=7).contains(&delivery.tage) || !(1..=7).contains(&delivery.tage_bisher) {
            return Err(CaseTypeError::BadDelivery);
        }
        if !(1..=99).contains(&self.arbeitsplatz) {
            return Err(CaseTypeError::BadWorkstation);
        }
        for part in ["{kuerzel}", "{jahr}", "{arbeitsplatz}", "{nummer}"] {
            if !self.aktenzeichen.contains(part) {
                return Err(CaseTypeError::BadPattern(part));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.vorgangsart {
            let code_ok = (2..=5).contains(&t.kuerzel.len())
                && t.kuerzel.chars().all(|c| c.is_ascii_uppercase());
            if !code_ok || !seen.insert(t.kuerzel.clone()) {
                return Err(CaseTypeError::BadCode(t.kuerzel.clone()));
            }
            if t.name.trim().is_empty() {
                return Err(CaseTypeError::Incomplete(t.kuerzel.clone(), "Name fehlt"));
            }
            if t.checkliste.iter().any(|c| c.trim().is_empty()) {
                return Err(CaseTypeError::Incomplete(
                    t.name.clone(),
                    "leerer Checklistenpunkt",
                ));
            }
            t.validate_clock()?;
            t.validate_answer()?;
        }
        Ok(())
    }

    /// The case type of a submission's service, if configured.
    pub fn for_service(&self, service: &str) -> Option<&CaseType> {
        self.vorgangsart.iter().find(|t| t.matches(service))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one() -> CaseType {
        CaseType {
            kuerzel: "GEW".into(),
            name: "Gewerbeanmeldung".into(),
            leika: "urn:de:fim:leika:leistung:99050012104000".into(),
            rechtsgrundlage: "§ 15 Abs. 1 GewO".into(),
            uhr: Some(ClockKind::Fachfrist),
            frist_tage: 3,
            fristbeginn: Some(PeriodStart::Eingang),
            zielzeit_tage: 5,
            checkliste: vec!["Angaben vollständig".into()],
            ..CaseType::default()
        }
    }

    fn parse(text: &str) -> CaseType {
        toml_like(text)
    }

    /// The fields as the TOML file would give them (serde through JSON here).
    fn toml_like(json: &str) -> CaseType {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn older_configurations_never_turn_into_a_fiction() {
        // The shipped file used to give every type "3 months, Hemmung" under § 42a.
        let old = parse(
            r#"{"kuerzel":"BWP","name":"Anwohnerparkausweis","leika":"x","gesetzliche_frist_monate":3,
                "zielzeit_tage":10,"hemmung":true,"verlaengerung_monate":1,
                "checkliste":[],"vorlagen":[],"gebuehren":[]}"#,
        );
        let r = old.deadline_rules();
        assert_eq!(r.uhr, ClockKind::Fachfrist);
        assert_eq!(
            (r.frist_monate, r.nachforderung),
            (3, RequestEffect::Hemmung)
        );
        assert_eq!(old.period_text().as_deref(), Some("drei Monaten"));
        let none = parse(
            r#"{"kuerzel":"MB","name":"Meldebescheinigung","leika":"x","gesetzliche_frist_monate":0,
                "zielzeit_tage":3,"hemmung":false,"checkliste":[],"vorlagen":[],"gebuehren":[]}"#,
        );
        assert_eq!(none.clock(), ClockKind::Servicefrist);
        assert_eq!(none.period_text(), None);
        assert!(none.validate_clock().is_ok() && old.validate_clock().is_ok());
    }

    /// Hundesteuer (a tax, AO via the KAG): 96 € for the first dog, 120 € for the
    /// second; registered on 10 Mar 2026 → liable from 1 Apr 2026, nine months in 2026:
    /// 216 € × 9/12 = 162 €; a full year in four instalments of 54 €.
    #[test]
    fn hundesteuer_is_assessed_per_year_with_instalments() {
        let rates = TaxRates {
            jahresbetrag_cent: vec![9600, 12000],
            faelligkeiten: vec![
                "02-15".into(),
                "05-15".into(),
                "08-15".into(),
                "11-15".into(),
            ],
            satzung: "§ 2 Hundesteuersatzung".into(),
            haushaltsstelle: "6.1.1.01".into(),
            sachkonto: "403200".into(),
        };
        let a = rates.assess(2, jiff::civil::date(2026, 3, 10)).unwrap();
        assert_eq!(a.beginn, jiff::civil::date(2026, 4, 1));
        assert_eq!(
            (
                a.jahresbetrag_cent,
                a.monate_erstes_jahr,
                a.erstes_jahr_cent
            ),
            (21600, 9, 16200)
        );
        assert_eq!(a.raten[0], ("02-15".to_owned(), 5400));
        assert_eq!(a.raten.iter().map(|r| r.1).sum::<i64>(), 21600);
        // A third dog costs the last rate again; registered in December: from January.
        let b = rates.assess(3, jiff::civil::date(2026, 12, 3)).unwrap();
        assert_eq!(b.jahresbetrag_cent, 33600);
        assert_eq!(
            (b.beginn, b.monate_erstes_jahr),
            (jiff::civil::date(2027, 1, 1), 12)
        );
        // Settings are checked: rates only for a Steuerbescheid under the AO.
        let hst = CaseType {
            bescheidart: Some(AnswerKind::Steuerbescheid),
            verfahrensrecht: Some(ProceduralLaw::Ao),
            steuer: Some(rates.clone()),
            ..CaseType::default()
        };
        assert!(hst.validate_answer().is_ok());
        let vwvfg = CaseType {
            verfahrensrecht: None,
            ..hst.clone()
        };
        assert!(vwvfg.validate_answer().is_err());
        let no_rates = CaseType {
            steuer: None,
            ..hst.clone()
        };
        assert!(no_rates.validate_answer().is_err());
        let stray = CaseType {
            bescheidart: None,
            ..hst
        };
        assert!(stray.validate_answer().is_err());
    }

    #[test]
    fn vwvfg_42a_clock_settings_are_checked_against_the_law() {
        let fiktion = CaseType {
            rechtsgrundlage: "§ 6a Abs. 1 GewO i. V. m. § 42a VwVfG".into(),
            uhr: Some(ClockKind::Fiktion),
            frist_monate: 3,
            frist_tage: 0,
            fristbeginn: None,
            verlaengerung_monate: 2,
            ..one()
        };
        assert!(fiktion.validate_clock().is_ok());
        assert_eq!(fiktion.period_text().as_deref(), Some("drei Monaten"));
        let hemmung = CaseType {
            nachforderung: Some(RequestEffect::Hemmung),
            ..fiktion.clone()
        };
        assert!(
            matches!(hemmung.validate_clock(), Err(CaseTypeError::Clock(_, m)) if m.contains("keine Hemmung"))
        );
        let from_receipt = CaseType {
            fristbeginn: Some(PeriodStart::Eingang),
            ..fiktion.clone()
        };
        assert!(from_receipt.validate_clock().is_err());
        let no_basis = CaseType {
            rechtsgrundlage: " ".into(),
            ..fiktion.clone()
        };
        assert!(no_basis.validate_clock().is_err());
        let no_period = CaseType {
            frist_monate: 0,
            ..fiktion.clone()
        };
        assert!(no_period.validate_clock().is_err());
        let mixed = CaseType {
            hemmung: Some(false),
            ..fiktion
        };
        assert!(mixed.validate_clock().is_err());
        let service_with_period = CaseType {
            uhr: Some(ClockKind::Servicefrist),
            frist_monate: 3,
            ..one()
        };
        assert!(service_with_period.validate_clock().is_err());
        assert_eq!(one().period_text().as_deref(), Some("drei Tagen"));
    }

    #[test]
    fn matches_by_leika_or_name() {
        let t = one();
        assert!(t.matches("urn:de:fim:leika:leistung:99050012104000"));
        assert!(t.matches("99050012104000"));
        assert!(t.matches("Gewerbeanmeldung"));
        assert!(!t.matches("99115004012000"));
        assert!(!t.matches(""));
    }

    #[test]
    fn validation() {
        let ok = CaseTypes {
            land: "NW".into(),
            zugangsfiktion_tage: None,
            bekanntgabe: None,
            aktenzeichen: "{kuerzel}-{jahr}-{arbeitsplatz}{nummer}".into(),
            arbeitsplatz: 1,
            vorgangsart: vec![one()],
        };
        assert!(ok.validate().is_ok());
        let mut twice = ok.clone();
        twice.vorgangsart.push(one());
        assert!(matches!(twice.validate(), Err(CaseTypeError::BadCode(_))));
        let mut land = ok.clone();
        land.land = "XY".into();
        assert!(land.validate().is_err());
        let mut code = ok.clone();
        code.vorgangsart[0].kuerzel = "gew".into();
        assert!(code.validate().is_err());
        let mut pattern = ok.clone();
        pattern.aktenzeichen = "{kuerzel}-{nummer}".into();
        assert_eq!(pattern.validate(), Err(CaseTypeError::BadPattern("{jahr}")));
        let mut days = ok.clone();
        days.zugangsfiktion_tage = Some(9);
        assert_eq!(days.validate(), Err(CaseTypeError::BadDelivery));
        let mut ws = ok;
        ws.arbeitsplatz = 0;
        assert_eq!(ws.validate(), Err(CaseTypeError::BadWorkstation));
    }

    #[test]
    fn file_numbers() {
        assert_eq!(
            file_number(
                "{kuerzel}-{jahr}-{arbeitsplatz}{nummer}",
                "GEW",
                2026,
                3,
                17
            ),
            "GEW-2026-0300017"
        );
    }

    proptest::proptest! {
        /// Blocks of different workstations never collide, whatever the counters.
        #[test]
        fn workstation_blocks_never_collide(
            a in 1u32..=99, b in 1u32..=99, n in 1u64..=99_999, m in 1u64..=99_999,
            year in 2020i16..2100
        ) {
            let pattern = "{kuerzel}-{jahr}-{arbeitsplatz}{nummer}";
            let x = file_number(pattern, "GEW", year, a, n);
            let y = file_number(pattern, "GEW", year, b, m);
            proptest::prop_assert_eq!(x == y, a == b && n == m);
        }
    }
}
