//! Case types (Vorgangsarten) as configured by the town (`assets/config/vorgangsarten.toml`):
//! deadlines, completeness checklist, letter templates and fee tariff references per
//! service. Parsed and checked here; reading the file is the facade's business.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::deadline::{DeadlineRules, LAENDER};

/// One case type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export, rename_all = "camelCase")]
#[serde(rename_all(serialize = "camelCase"))]
pub struct CaseType {
    /// Short code used in the Aktenzeichen, e.g. "GEW".
    pub kuerzel: String,
    pub name: String,
    /// LeiKa service identifier (as in the FIT-Connect metadata).
    pub leika: String,
    pub gesetzliche_frist_monate: u32,
    pub zielzeit_tage: u32,
    pub hemmung: bool,
    pub verlaengerung_monate: u32,
    pub checkliste: Vec<String>,
    pub vorlagen: Vec<String>,
    pub gebuehren: Vec<String>,
}

impl CaseType {
    pub fn deadline_rules(&self) -> DeadlineRules {
        DeadlineRules {
            gesetzliche_frist_monate: self.gesetzliche_frist_monate,
            zielzeit_tage: self.zielzeit_tage,
            hemmung: self.hemmung,
            verlaengerung_monate: self.verlaengerung_monate,
        }
    }

    /// Does this type cover a submission with this service (LeiKa id or name)?
    pub fn matches(&self, service: &str) -> bool {
        let tail = |s: &str| s.rsplit(':').next().unwrap_or(s).to_owned();
        service == self.name || (!service.is_empty() && tail(service) == tail(&self.leika))
    }
}

/// The town's case-type configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseTypes {
    pub land: String,
    pub zugangsfiktion_tage: u32,
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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseTypeError {
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
    /// The case type with this code (`kuerzel`), if the town has it.
    pub fn by_code(&self, kuerzel: &str) -> Option<&CaseType> {
        self.vorgangsart.iter().find(|t| t.kuerzel == kuerzel)
    }

    /// Check the configuration as a whole.
    pub fn validate(&self) -> Result<(), CaseTypeError> {
        if !LAENDER.contains(&self.land.as_str()) {
            return Err(CaseTypeError::UnknownLand(self.land.clone()));
        }
        if !(1..=7).contains(&self.zugangsfiktion_tage) {
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
            if t.gesetzliche_frist_monate > 24 || t.verlaengerung_monate > 12 {
                return Err(CaseTypeError::Incomplete(
                    t.name.clone(),
                    "Frist unplausibel lang",
                ));
            }
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
            gesetzliche_frist_monate: 3,
            zielzeit_tage: 5,
            hemmung: true,
            verlaengerung_monate: 0,
            checkliste: vec!["Angaben vollständig".into()],
            vorlagen: vec![],
            gebuehren: vec![],
        }
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
            zugangsfiktion_tage: 4,
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
