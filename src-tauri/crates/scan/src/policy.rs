//! The scanning desk's configuration (`scan.toml`): the Verfahren, document classes
//! with their Schutzbedarf and mode, scan profiles, the QA sampling rate per class
//! and the holding period of the paper. Schutzbedarf drives behaviour through this
//! table, not through code branches (TR-03138 §4.3):
//!
//! * integrity "sehr hoch" → four-eyes principle (A.AM.IN.SH.1);
//! * availability "hoch" or more → a full visual check of every product (A.AM.VF.H.1),
//!   otherwise a sample of `stichprobe_prozent`;
//! * mode "nicht scannen" → the class cannot be chosen for a batch.
//!
//! Pure: parsing and decisions only, no I/O.

use serde::Deserialize;

use crate::evidence::Mode;

/// Schutzbedarf level of one basic value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Normal,
    Hoch,
    SehrHoch,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Level::Normal => "normal",
            Level::Hoch => "hoch",
            Level::SehrHoch => "sehr hoch",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ModeConfig {
    Ersetzend,
    Kopierend,
    NichtScannen,
}

/// The scan procedure as the procedure documentation names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VerfahrenConfig {
    pub bezeichnung: String,
    pub auspraegung: String,
    pub version: String,
    /// Release date, `YYYY-MM-DD`.
    pub stand: String,
    /// Owner unit of the procedure.
    pub pfleger: String,
}

/// A document class (Dokumentklasse).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DocumentClass {
    pub kuerzel: String,
    pub name: String,
    pub integritaet: Level,
    pub vertraulichkeit: Level,
    pub verfuegbarkeit: Level,
    modus: ModeConfig,
    /// Share of products a person checks page by page when no full check is due.
    pub stichprobe_prozent: u32,
    /// Days the paper is kept after the scan before it may be destroyed.
    pub aufbewahrung_tage: i64,
    /// The scan profile used for this class.
    pub profil: String,
}

impl DocumentClass {
    pub fn mode(&self) -> Mode {
        match self.modus {
            ModeConfig::Ersetzend => Mode::Ersetzend,
            ModeConfig::Kopierend => Mode::Kopierend,
            ModeConfig::NichtScannen => Mode::NichtScannen,
        }
    }

    pub fn mode_label(&self) -> &'static str {
        match self.modus {
            ModeConfig::Ersetzend => "ersetzend",
            ModeConfig::Kopierend => "kopierend",
            ModeConfig::NichtScannen => "nicht scannen",
        }
    }

    /// QA by someone other than the person who scanned.
    pub fn four_eyes(&self) -> bool {
        self.integritaet >= Level::SehrHoch
    }

    /// Every product is checked page by page.
    pub fn full_check(&self) -> bool {
        self.verfuegbarkeit >= Level::Hoch || self.stichprobe_prozent >= 100
    }

    /// Does the `n`-th product (0-based) of this class fall into the sample? Spread
    /// evenly: with 25 % every fourth product, starting with the first.
    pub fn sampled(&self, n: u64) -> bool {
        if self.full_check() {
            return true;
        }
        let p = u64::from(self.stichprobe_prozent.min(100));
        if p == 0 {
            return false;
        }
        // n falls into the sample when floor(n·p/100) grows at n.
        n == 0 || (n * p) / 100 != ((n - 1) * p) / 100
    }
}

/// A scan profile (what the scanner is set to).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Profile {
    pub name: String,
    pub dpi: u32,
    /// sw / grau / farbe
    pub farbe: String,
    pub duplex: bool,
    /// Allowed compressions (e.g. ccitt-g4, jpeg, flate, lzw); JBIG2 is never allowed.
    pub kompression: Vec<String>,
}

/// The whole scanning-desk configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ScanPolicy {
    /// Text of the barcode on separator sheets (default "PATCHT").
    #[serde(default = "default_separator")]
    pub trennblatt: String,
    /// Kodak patch codes that separate documents ("1", "2", "3", "4", "6", "T");
    /// default Patch T, the transfer patch; an empty list switches them off.
    #[serde(default = "default_patches")]
    pub trennblatt_patchcode: Vec<String>,
    pub verfahren: VerfahrenConfig,
    pub klasse: Vec<DocumentClass>,
    pub profil: Vec<Profile>,
}

fn default_separator() -> String {
    crate::separator::DEFAULT_MARKER.to_owned()
}

fn default_patches() -> Vec<String> {
    vec!["T".to_owned()]
}

/// What is wrong with a configuration (German, for the administration).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scan.toml: {0}")]
pub struct PolicyError(pub String);

impl ScanPolicy {
    /// Parse and check `scan.toml`.
    pub fn parse(text: &str) -> Result<ScanPolicy, PolicyError> {
        let p: ScanPolicy = toml::from_str(text).map_err(|e| PolicyError(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    /// What makes a page a separator sheet.
    pub fn separators(&self) -> Result<crate::separator::Separators, PolicyError> {
        let mut patches = Vec::new();
        for p in &self.trennblatt_patchcode {
            patches.push(
                p.parse()
                    .map_err(|e| PolicyError(format!("trennblatt_patchcode: {e}")))?,
            );
        }
        Ok(crate::separator::Separators {
            marker: self.trennblatt.trim().to_owned(),
            patches,
        })
    }

    pub fn validate(&self) -> Result<(), PolicyError> {
        let err = |m: String| Err(PolicyError(m));
        self.separators()?;
        if jiff::civil::Date::strptime("%Y-%m-%d", &self.verfahren.stand).is_err() {
            return err(format!(
                "Das Datum des Verfahrens „{}“ ist kein Datum (JJJJ-MM-TT).",
                self.verfahren.stand
            ));
        }
        if self.klasse.is_empty() {
            return err("Es ist keine Dokumentklasse festgelegt.".into());
        }
        for (i, c) in self.klasse.iter().enumerate() {
            if self.klasse[..i].iter().any(|o| o.kuerzel == c.kuerzel) {
                return err(format!("Die Dokumentklasse {} steht doppelt.", c.kuerzel));
            }
            if c.stichprobe_prozent > 100 {
                return err(format!(
                    "Dokumentklasse {}: die Stichprobe ist höchstens 100 %.",
                    c.kuerzel
                ));
            }
            if c.aufbewahrung_tage < 0 {
                return err(format!(
                    "Dokumentklasse {}: die Aufbewahrungsfrist ist negativ.",
                    c.kuerzel
                ));
            }
            if !self.profil.iter().any(|p| p.name == c.profil) {
                return err(format!(
                    "Dokumentklasse {} nennt das Scanprofil „{}“, das es nicht gibt.",
                    c.kuerzel, c.profil
                ));
            }
        }
        for p in &self.profil {
            if p.kompression
                .iter()
                .any(|k| k.to_lowercase().contains("jbig2"))
            {
                return err(format!(
                    "Scanprofil {}: JBIG2 ist nicht zulässig (Zeichenersetzung verfälscht Inhalte).",
                    p.name
                ));
            }
            if p.dpi < 150 {
                return err(format!(
                    "Scanprofil {}: {} dpi reichen für die Lesbarkeit nicht (mindestens 150).",
                    p.name, p.dpi
                ));
            }
        }
        Ok(())
    }

    pub fn class(&self, kuerzel: &str) -> Option<&DocumentClass> {
        self.klasse.iter().find(|c| c.kuerzel == kuerzel)
    }

    pub fn profile_of(&self, class: &DocumentClass) -> Option<&Profile> {
        self.profil.iter().find(|p| p.name == class.profil)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = include_str!("../../../../assets/config/scan.toml");

    #[test]
    fn the_shipped_configuration_is_valid() -> Result<(), PolicyError> {
        let p = ScanPolicy::parse(DEFAULT)?;
        assert!(p.klasse.len() >= 2);
        assert!(p.klasse.iter().any(|c| c.mode() == Mode::Ersetzend));
        let sep = p.separators()?;
        assert_eq!(sep.marker, "PATCHT");
        assert_eq!(sep.patches, vec![crate::patchcode::Patch::T]);
        Ok(())
    }

    #[test]
    fn separator_kinds_default_and_switch_off() -> Result<(), PolicyError> {
        let without = DEFAULT
            .replace("trennblatt = \"PATCHT\"", "")
            .replace("trennblatt_patchcode = [\"T\"]", "");
        assert_ne!(without, DEFAULT);
        let sep = ScanPolicy::parse(&without)?.separators()?;
        assert_eq!(sep.marker, "PATCHT");
        assert_eq!(sep.patches, vec![crate::patchcode::Patch::T]);
        let off = DEFAULT
            .replace("trennblatt = \"PATCHT\"", "trennblatt = \"\"")
            .replace(
                "trennblatt_patchcode = [\"T\"]",
                "trennblatt_patchcode = []",
            );
        let sep = ScanPolicy::parse(&off)?.separators()?;
        assert!(sep.marker.is_empty() && sep.patches.is_empty());
        Ok(())
    }

    fn class(integ: Level, avail: Level, rate: u32) -> DocumentClass {
        DocumentClass {
            kuerzel: "k".into(),
            name: "K".into(),
            integritaet: integ,
            vertraulichkeit: Level::Normal,
            verfuegbarkeit: avail,
            modus: ModeConfig::Ersetzend,
            stichprobe_prozent: rate,
            aufbewahrung_tage: 90,
            profil: "Standard".into(),
        }
    }

    #[test]
    fn schutzbedarf_decides_four_eyes_and_full_check() {
        assert!(!class(Level::Hoch, Level::Normal, 10).four_eyes());
        assert!(class(Level::SehrHoch, Level::Normal, 10).four_eyes());
        assert!(!class(Level::Normal, Level::Normal, 10).full_check());
        assert!(class(Level::Normal, Level::Hoch, 10).full_check());
        assert!(class(Level::Normal, Level::Normal, 100).full_check());
    }

    #[test]
    fn the_sample_has_the_configured_share_and_starts_with_the_first() {
        for rate in [1u32, 4, 10, 25, 33, 50, 99] {
            let c = class(Level::Normal, Level::Normal, rate);
            assert!(c.sampled(0));
            let n = (0..1000).filter(|&i| c.sampled(i)).count();
            assert!(
                n.abs_diff(rate as usize * 10) <= 1,
                "{rate} %: {n} of 1000 sampled"
            );
        }
        let none = class(Level::Normal, Level::Normal, 0);
        assert!((0..100).all(|i| !none.sampled(i)));
        let high = class(Level::Normal, Level::Hoch, 0);
        assert!((0..100).all(|i| high.sampled(i)));
    }

    #[test]
    fn bad_configurations_are_refused_with_a_reason() {
        let cases = [
            (DEFAULT.replace("\"ccitt-g4\"", "\"jbig2\""), "JBIG2"),
            (
                DEFAULT.replace("stand = \"2026-11-01\"", "stand = \"gestern\""),
                "kein Datum",
            ),
            (
                DEFAULT.replacen("profil = \"Standard\"", "profil = \"Fehlt\"", 1),
                "Fehlt",
            ),
            (
                DEFAULT.replacen("stichprobe_prozent = ", "stichprobe_prozent = 1", 1),
                "100 %",
            ),
            (
                DEFAULT.replace("integritaet = \"hoch\"", "integritaet = \"mittel\""),
                "mittel",
            ),
            (
                DEFAULT.replace(
                    "trennblatt_patchcode = [\"T\"]",
                    "trennblatt_patchcode = [\"T\", \"5\"]",
                ),
                "„5“ ist kein Patchcode",
            ),
        ];
        for (text, needle) in cases {
            assert_ne!(text, DEFAULT, "the test changed nothing for {needle}");
            match ScanPolicy::parse(&text) {
                Ok(_) => panic!("accepted a configuration with {needle}"),
                Err(e) => assert!(e.to_string().contains(needle), "{e}"),
            }
        }
    }
}
