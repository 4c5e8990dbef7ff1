//! The town's letter configuration (`assets/config/gemeinde.toml`): letterhead,
//! contact and bank details, how letters are signed, and the Rechtsbehelfsbelehrung
//! per Land and case type – several Länder have abolished the Widerspruchsverfahren
//! (the citizen goes straight to the Verwaltungsgericht), others keep it.

use serde::Deserialize;

use crate::LetterError;

/// One Rechtsbehelfsbelehrung and where it applies.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rechtsbehelf {
    /// Länder (two-letter codes) it applies to; "*" for all.
    pub laender: Vec<String>,
    /// Case type codes it applies to; empty for all case types of those Länder.
    #[serde(default)]
    pub vorgangsarten: Vec<String>,
    /// "Widerspruch" or "Klage" (shown in the UI and recorded with the letter).
    pub art: String,
    /// The text; placeholders {behoerde}, {anschrift}, {sitz}, {gericht},
    /// {gericht_anschrift}.
    pub text: String,
    /// The Land's law that decides Widerspruch or Klage, e.g. "§ 110 JustG NRW".
    #[serde(default)]
    pub rechtsgrundlage: String,
    /// Confirmed against the primary source (the Land's law as in force)? `false`
    /// marks a rule taken from secondary sources that the town must check.
    #[serde(default)]
    pub bestaetigt: bool,
}

impl Rechtsbehelf {
    /// How closely the rule fits a (Land, case type): 3 both named, 2 the Land named,
    /// 1 the case type named under "*", 0 the catch-all; None if it does not apply.
    fn specificity(&self, land: &str, code: &str) -> Option<u8> {
        let land_named = self.laender.iter().any(|l| l == land);
        let any_land = self.laender.iter().any(|l| l == "*");
        let code_named = self.vorgangsarten.iter().any(|v| v == code);
        let all_codes = self.vorgangsarten.is_empty();
        if !(land_named || any_land) || !(code_named || all_codes) {
            return None;
        }
        Some(u8::from(land_named) * 2 + u8::from(code_named))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TownConfig {
    pub behoerde: String,
    pub abteilung: String,
    pub anschrift: Vec<String>,
    /// Seat of the authority (place only, as the Rechtsbehelfsbelehrung names it).
    pub sitz: String,
    pub telefon: String,
    pub email: String,
    #[serde(default)]
    pub web: String,
    #[serde(default)]
    pub oeffnungszeiten: String,
    pub bank: String,
    pub iban: String,
    pub bic: String,
    /// The competent Verwaltungsgericht and its address.
    pub verwaltungsgericht: String,
    pub verwaltungsgericht_anschrift: String,
    /// Signature line above the clerk's name, e.g. "Im Auftrag".
    #[serde(default = "default_zeichnung")]
    pub zeichnung: String,
    /// File name of a PNG logo next to the configuration (optional).
    #[serde(default)]
    pub logo: String,
    /// Letters as PDF/A-2b for the archive (default) – about 0.5 MB each because of the
    /// embedded colour profile – or as plain PDF of a few dozen KB.
    #[serde(default = "default_pdfa")]
    pub pdfa: bool,
    pub rechtsbehelf: Vec<Rechtsbehelf>,
}

fn default_pdfa() -> bool {
    true
}

fn default_zeichnung() -> String {
    "Im Auftrag".into()
}

impl TownConfig {
    /// Check the configuration; `cases` are the (Land, case type code) pairs in use,
    /// each of which must find a Rechtsbehelfsbelehrung.
    pub fn validate<'a>(
        &self,
        cases: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), LetterError> {
        let required = [
            ("behoerde", &self.behoerde),
            ("sitz", &self.sitz),
            ("iban", &self.iban),
            ("verwaltungsgericht", &self.verwaltungsgericht),
        ];
        for (name, value) in required {
            if value.trim().is_empty() {
                return Err(LetterError::Config(format!("{name} fehlt")));
            }
        }
        if self.anschrift.is_empty() || self.anschrift.len() > 3 {
            return Err(LetterError::Config(
                "anschrift braucht eine bis drei Zeilen".into(),
            ));
        }
        for r in &self.rechtsbehelf {
            if r.text.trim().is_empty() || !matches!(r.art.as_str(), "Widerspruch" | "Klage") {
                return Err(LetterError::Config(
                    "jede Rechtsbehelfsbelehrung braucht art (Widerspruch oder Klage) und text"
                        .into(),
                ));
            }
        }
        for (land, code) in cases {
            self.rechtsbehelf_for(land, code)?;
        }
        Ok(())
    }

    /// The Rechtsbehelfsbelehrung for a case type in a Land: the most specific rule
    /// wins (Land and case type named, then the Land, then the case type under "*",
    /// then the catch-all) – never the order in the file. Two rules equally specific
    /// for the same pair are a configuration error.
    pub fn rechtsbehelf_for(&self, land: &str, code: &str) -> Result<Rechtsbehelf, LetterError> {
        let mut best: Option<(u8, &Rechtsbehelf)> = None;
        let mut tie = false;
        for r in &self.rechtsbehelf {
            let Some(score) = r.specificity(land, code) else {
                continue;
            };
            match best {
                Some((b, _)) if b > score => {}
                Some((b, _)) if b == score => tie = true,
                _ => {
                    best = Some((score, r));
                    tie = false;
                }
            }
        }
        let Some((_, rule)) = best else {
            return Err(LetterError::Config(format!(
                "keine Rechtsbehelfsbelehrung für {code} im Land {land}"
            )));
        };
        if tie {
            return Err(LetterError::Config(format!(
                "zwei gleich genaue Rechtsbehelfsbelehrungen für {code} im Land {land}; bitte eine davon genauer fassen"
            )));
        }
        let text = rule
            .text
            .trim()
            .replace("{behoerde}", &self.behoerde)
            .replace("{anschrift}", &self.anschrift.join(", "))
            .replace("{sitz}", &self.sitz)
            .replace("{gericht}", &self.verwaltungsgericht)
            .replace("{gericht_anschrift}", &self.verwaltungsgericht_anschrift);
        Ok(Rechtsbehelf {
            text,
            ..rule.clone()
        })
    }
}

impl TownConfig {
    /// The letterhead printed on letters and reports.
    pub fn letterhead(&self, logo_png: Option<Vec<u8>>) -> crate::Letterhead {
        crate::Letterhead {
            authority: self.behoerde.clone(),
            department: self.abteilung.clone(),
            address: self.anschrift.clone(),
            phone: self.telefon.clone(),
            email: self.email.clone(),
            web: self.web.clone(),
            opening_hours: self.oeffnungszeiten.clone(),
            bank: self.bank.clone(),
            iban: self.iban.clone(),
            bic: self.bic.clone(),
            logo_png,
        }
    }
}
