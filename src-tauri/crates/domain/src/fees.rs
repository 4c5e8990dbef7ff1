//! Fees (Gebühren), pure: the tariff (Gebührentarif) per case type, the fee of a case
//! from its items – fixed, a range chosen by the clerk, per unit, exemption or
//! reduction with a reason – in integer cents, never floats; amounts in German
//! format ("1.234,56 €"); Kassenzeichen with a configurable check digit, numbered
//! from the workstation's own block so that offline workstations never collide.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// One position of the tariff (Tarifstelle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export, rename_all = "camelCase")]
#[serde(rename_all(serialize = "camelCase"))]
pub struct TariffEntry {
    /// Key, e.g. "GEW-01" (referenced by the case type).
    pub stelle: String,
    pub bezeichnung: String,
    /// "fest", "rahmen", "einheit" or "frei".
    pub art: String,
    /// fest: the amount; einheit: per unit (cents).
    #[serde(default)]
    pub betrag_cent: i64,
    /// rahmen: the range (cents).
    #[serde(default)]
    pub min_cent: i64,
    #[serde(default)]
    pub max_cent: i64,
    /// einheit: what is counted (e.g. "Tag", "m²").
    #[serde(default)]
    pub einheit: String,
    /// Legal basis, e.g. "Tarifstelle 40.1.1.1 AllGO".
    pub rechtsgrundlage: String,
    /// Budget position and account for the cash system.
    pub haushaltsstelle: String,
    pub sachkonto: String,
}

/// The town's tariff (`assets/config/gebuehren.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    /// Kassenzeichen: fixed prefix (e.g. the town's Mandant), digits only.
    pub kassenzeichen_praefix: String,
    /// Check digit scheme: "mod10" (Luhn) or "mod11" (weights 2–7 from the right).
    pub pruefziffer: String,
    /// Days until a fee is due.
    pub faellig_tage: u32,
    pub tarif: Vec<TariffEntry>,
}

/// A fee item as the clerk sets it for a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FeeItem {
    pub stelle: String,
    /// rahmen: the amount chosen within the range.
    #[serde(default)]
    pub betrag_cent: Option<i64>,
    /// einheit: how many units.
    #[serde(default)]
    pub menge: Option<u32>,
    /// Reduction in percent (1–100; 100 = exemption) with its reason.
    #[serde(default)]
    pub ermaessigung_prozent: Option<u32>,
    #[serde(default)]
    pub begruendung: Option<String>,
}

/// One computed line of a fee notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FeeLine {
    pub stelle: String,
    pub text: String,
    pub cent: i64,
    pub haushaltsstelle: String,
    pub sachkonto: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FeeTotal {
    pub lines: Vec<FeeLine>,
    pub total_cent: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeeError {
    #[error("Die Tarifstelle „{0}“ gibt es nicht.")]
    UnknownEntry(String),
    #[error("{0}: der Betrag muss zwischen {1} und {2} liegen.")]
    OutOfRange(String, String, String),
    #[error("{0}: bitte die Menge angeben (mindestens 1).")]
    NoQuantity(String),
    #[error("{0}: eine Ermäßigung oder Befreiung braucht 1 bis 100 % und eine Begründung.")]
    BadReduction(String),
    #[error("Gebührentarif: {0}")]
    BadTariff(String),
}

/// Cents as German currency: 123456 → "1.234,56 €".
pub fn format_euro(cent: i64) -> String {
    let sign = if cent < 0 { "-" } else { "" };
    let abs = cent.unsigned_abs();
    let euros = (abs / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in euros.chars().enumerate() {
        if i > 0 && (euros.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(ch);
    }
    format!("{sign}{grouped},{:02} €", abs % 100)
}

impl Tariff {
    pub fn validate(&self) -> Result<(), FeeError> {
        if self.kassenzeichen_praefix.is_empty()
            || !self
                .kassenzeichen_praefix
                .chars()
                .all(|c| c.is_ascii_digit())
        {
            return Err(FeeError::BadTariff(
                "kassenzeichen_praefix muss aus Ziffern bestehen".into(),
            ));
        }
        if !["mod10", "mod11"].contains(&self.pruefziffer.as_str()) {
            return Err(FeeError::BadTariff(
                "pruefziffer ist mod10 oder mod11".into(),
            ));
        }
        for e in &self.tarif {
            let ok = match e.art.as_str() {
                "fest" | "einheit" => e.betrag_cent > 0,
                "rahmen" => 0 <= e.min_cent && e.min_cent < e.max_cent,
                "frei" => true,
                _ => false,
            };
            if !ok {
                return Err(FeeError::BadTariff(format!(
                    "Tarifstelle {} ist unvollständig",
                    e.stelle
                )));
            }
        }
        Ok(())
    }

    fn entry(&self, stelle: &str) -> Result<&TariffEntry, FeeError> {
        self.tarif
            .iter()
            .find(|e| e.stelle == stelle)
            .ok_or_else(|| FeeError::UnknownEntry(stelle.to_owned()))
    }

    /// The fee of a case from its items.
    pub fn compute(&self, items: &[FeeItem]) -> Result<FeeTotal, FeeError> {
        let mut lines = Vec::new();
        for item in items {
            let e = self.entry(&item.stelle)?;
            let (base, text) = match e.art.as_str() {
                "fest" => (e.betrag_cent, e.bezeichnung.clone()),
                "rahmen" => {
                    let chosen = item.betrag_cent.unwrap_or(-1);
                    if !(e.min_cent..=e.max_cent).contains(&chosen) {
                        return Err(FeeError::OutOfRange(
                            e.bezeichnung.clone(),
                            format_euro(e.min_cent),
                            format_euro(e.max_cent),
                        ));
                    }
                    (chosen, e.bezeichnung.clone())
                }
                "einheit" => {
                    // No quantity counts as none: refused just below.
                    let n = item.menge.unwrap_or(0);
                    if n == 0 {
                        return Err(FeeError::NoQuantity(e.bezeichnung.clone()));
                    }
                    (
                        e.betrag_cent.saturating_mul(i64::from(n)),
                        format!(
                            "{} ({n} {} × {})",
                            e.bezeichnung,
                            e.einheit,
                            format_euro(e.betrag_cent)
                        ),
                    )
                }
                _ => (0, format!("{} (gebührenfrei)", e.bezeichnung)),
            };
            let (cent, text) = match item.ermaessigung_prozent {
                None => (base, text),
                Some(p) => {
                    let reason = item.begruendung.as_deref().map(str::trim).unwrap_or("");
                    if !(1..=100).contains(&p) || reason.is_empty() {
                        return Err(FeeError::BadReduction(e.bezeichnung.clone()));
                    }
                    // The reduction is rounded up to whole cents: a fraction of a cent
                    // goes in the citizen's favour.
                    let cut = (base.saturating_mul(i64::from(p)) + 99).div_euclid(100);
                    let reduced = (base - cut).max(0);
                    let label = if p == 100 { "befreit" } else { "ermäßigt" };
                    (reduced, format!("{text} – {label} um {p} %: {reason}"))
                }
            };
            lines.push(FeeLine {
                stelle: e.stelle.clone(),
                text,
                cent,
                haushaltsstelle: e.haushaltsstelle.clone(),
                sachkonto: e.sachkonto.clone(),
            });
        }
        let total_cent = lines.iter().map(|l| l.cent).sum();
        Ok(FeeTotal { lines, total_cent })
    }
}

/// The booking record for the town's cash system (Annahmeanordnung): written as a
/// CSV and an XML file into the HKR exchange folder. Amounts in cents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Annahmeanordnung {
    pub kassenzeichen: String,
    pub aktenzeichen: String,
    /// YYYY-MM-DD.
    pub faellig_am: String,
    pub zahlungspflichtiger: String,
    pub anschrift: String,
    pub grund: String,
    /// Already paid online (paymentInformation BOOKED): the transaction reference.
    pub bezahlt_referenz: Option<String>,
    /// The amount paid online, where the portal said it.
    pub bezahlt_cent: Option<i64>,
    pub positionen: Vec<FeeLine>,
    pub summe_cent: i64,
}

/// How an online payment compares with the assessed amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentMatch {
    /// Paid exactly.
    Paid,
    /// Paid less: this much is still open.
    Partly { open_cent: i64 },
    /// Paid more: this much is refunded.
    Overpaid { refund_cent: i64 },
    /// Booked without an amount: to be reconciled with the cash office.
    AmountUnknown,
}

/// Reconcile a payment booked at the portal against the assessed amount.
pub fn reconcile(assessed_cent: i64, paid_cent: Option<i64>) -> PaymentMatch {
    match paid_cent {
        None => PaymentMatch::AmountUnknown,
        Some(p) if p == assessed_cent => PaymentMatch::Paid,
        Some(p) if p < assessed_cent => PaymentMatch::Partly {
            open_cent: assessed_cent - p,
        },
        Some(p) => PaymentMatch::Overpaid {
            refund_cent: p - assessed_cent,
        },
    }
}

/// Cents as a plain decimal for machine records: 123456 → "1234.56".
fn decimal(cent: i64) -> String {
    let sign = if cent < 0 { "-" } else { "" };
    let abs = cent.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn csv_field(s: &str) -> String {
    // Semicolon-separated; a field with ; " or a line break is quoted, quotes doubled.
    if s.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

impl Annahmeanordnung {
    /// One line per position: UTF-8 with BOM, semicolons, a header line.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "\u{feff}Kassenzeichen;Aktenzeichen;Faellig;Zahlungspflichtiger;Anschrift;Grund;Tarifstelle;Haushaltsstelle;Sachkonto;Betrag;Bezahlt\r\n",
        );
        for p in &self.positionen {
            let fields = [
                self.kassenzeichen.as_str(),
                self.aktenzeichen.as_str(),
                self.faellig_am.as_str(),
                self.zahlungspflichtiger.as_str(),
                self.anschrift.as_str(),
                self.grund.as_str(),
                p.stelle.as_str(),
                p.haushaltsstelle.as_str(),
                p.sachkonto.as_str(),
                &decimal(p.cent),
                self.bezahlt_referenz.as_deref().unwrap_or(""),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&line.join(";"));
            out.push_str("\r\n");
        }
        out
    }

    /// The same record as XML (UTF-8).
    pub fn to_xml(&self) -> String {
        use quick_xml::escape::escape;
        let mut out =
            String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Annahmeanordnung>\n");
        let mut field = |name: &str, value: &str| {
            out.push_str(&format!("  <{name}>{}</{name}>\n", escape(value)));
        };
        field("Kassenzeichen", &self.kassenzeichen);
        field("Aktenzeichen", &self.aktenzeichen);
        field("Faellig", &self.faellig_am);
        field("Zahlungspflichtiger", &self.zahlungspflichtiger);
        field("Anschrift", &self.anschrift);
        field("Grund", &self.grund);
        field("Summe", &decimal(self.summe_cent));
        if let Some(r) = &self.bezahlt_referenz {
            field("BezahltReferenz", r);
        }
        if let Some(c) = self.bezahlt_cent {
            field("BezahltBetrag", &decimal(c));
        }
        for p in &self.positionen {
            out.push_str(&format!(
                "  <Position Tarifstelle=\"{}\" Haushaltsstelle=\"{}\" Sachkonto=\"{}\" Betrag=\"{}\">{}</Position>\n",
                escape(p.stelle.as_str()),
                escape(p.haushaltsstelle.as_str()),
                escape(p.sachkonto.as_str()),
                decimal(p.cent),
                escape(p.text.as_str())
            ));
        }
        out.push_str("</Annahmeanordnung>\n");
        out
    }
}

fn luhn_digit(digits: &str) -> u32 {
    // Luhn: double every second digit from the right of the payload.
    let sum: u32 = digits
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

fn mod11_digit(digits: &str) -> u32 {
    // Weights 2, 3, …, 7, 2, … from the right; remainder 0 or 1 give 0.
    let sum: u32 = digits
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| d * (2 + (i as u32 % 6)))
        .sum();
    let r = sum % 11;
    if r <= 1 { 0 } else { 11 - r }
}

/// The check digit of a payload under a scheme.
pub fn check_digit(payload: &str, scheme: &str) -> u32 {
    if scheme == "mod11" {
        mod11_digit(payload)
    } else {
        luhn_digit(payload)
    }
}

/// A Kassenzeichen: prefix, two digits of the workstation, six of the number, the
/// check digit – e.g. "5100" + "03" + "000017" + "4".
pub fn kassenzeichen(prefix: &str, arbeitsplatz: u32, nummer: u64, scheme: &str) -> String {
    let payload = format!("{prefix}{arbeitsplatz:02}{nummer:06}");
    let digit = check_digit(&payload, scheme);
    format!("{payload}{digit}")
}

/// Does the Kassenzeichen carry a correct check digit?
pub fn kassenzeichen_valid(kz: &str, scheme: &str) -> bool {
    if kz.len() < 2 || !kz.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let (payload, digit) = kz.split_at(kz.len() - 1);
    digit.parse::<u32>().ok() == Some(check_digit(payload, scheme))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An online payment is reconciled against the assessed amount, not taken as
    /// "bereits bezahlt" whatever it was.
    #[test]
    fn online_payment_is_reconciled_against_the_assessment() {
        assert_eq!(reconcile(2600, Some(2600)), PaymentMatch::Paid);
        assert_eq!(
            reconcile(2600, Some(1000)),
            PaymentMatch::Partly { open_cent: 1600 }
        );
        assert_eq!(
            reconcile(2600, Some(3000)),
            PaymentMatch::Overpaid { refund_cent: 400 }
        );
        assert_eq!(reconcile(2600, None), PaymentMatch::AmountUnknown);
    }

    fn tariff() -> Tariff {
        let e = |stelle: &str, art: &str, betrag: i64, min: i64, max: i64| TariffEntry {
            stelle: stelle.into(),
            bezeichnung: format!("Gebühr {stelle}"),
            art: art.into(),
            betrag_cent: betrag,
            min_cent: min,
            max_cent: max,
            einheit: "Tag".into(),
            rechtsgrundlage: "Verwaltungsgebührensatzung".into(),
            haushaltsstelle: "1.2.2.01".into(),
            sachkonto: "431100".into(),
        };
        Tariff {
            kassenzeichen_praefix: "5100".into(),
            pruefziffer: "mod10".into(),
            faellig_tage: 30,
            tarif: vec![
                e("F", "fest", 2600, 0, 0),
                e("R", "rahmen", 0, 1000, 50000),
                e("E", "einheit", 150, 0, 0),
                e("0", "frei", 0, 0, 0),
            ],
        }
    }

    fn item(stelle: &str) -> FeeItem {
        FeeItem {
            stelle: stelle.into(),
            betrag_cent: None,
            menge: None,
            ermaessigung_prozent: None,
            begruendung: None,
        }
    }

    #[test]
    fn euro_format() {
        assert_eq!(format_euro(123_456), "1.234,56 €");
        assert_eq!(format_euro(5), "0,05 €");
        assert_eq!(format_euro(100_000_000), "1.000.000,00 €");
        assert_eq!(format_euro(-2600), "-26,00 €");
    }

    #[test]
    fn fixed_range_unit_free_and_reductions() {
        let t = tariff();
        assert!(t.validate().is_ok());
        let total = t
            .compute(&[
                item("F"),
                FeeItem {
                    betrag_cent: Some(12_345),
                    ..item("R")
                },
                FeeItem {
                    menge: Some(14),
                    ..item("E")
                },
                item("0"),
            ])
            .unwrap();
        assert_eq!(total.total_cent, 2600 + 12_345 + 14 * 150);
        assert!(total.lines[2].text.contains("14 Tag × 1,50 €"));
        // 33 % off 26,00 € = 8,58 € → 17,42 €.
        let reduced = t
            .compute(&[FeeItem {
                ermaessigung_prozent: Some(33),
                begruendung: Some("Ehrenamtskarte".into()),
                ..item("F")
            }])
            .unwrap();
        assert_eq!(reduced.total_cent, 1742);
        // 15 % off 1,50 € = 0,225 € → 0,23 € off (the citizen's favour) → 1,27 €.
        let t2 = t
            .compute(&[FeeItem {
                menge: Some(1),
                ermaessigung_prozent: Some(15),
                begruendung: Some("Härtefall".into()),
                ..item("E")
            }])
            .unwrap();
        assert_eq!(t2.total_cent, 127);
        let exempt = t
            .compute(&[FeeItem {
                ermaessigung_prozent: Some(100),
                begruendung: Some("Gemeinnützigkeit".into()),
                ..item("F")
            }])
            .unwrap();
        assert_eq!(exempt.total_cent, 0);
        assert!(exempt.lines[0].text.contains("befreit"));
    }

    #[test]
    fn refusals() {
        let t = tariff();
        assert!(matches!(
            t.compute(&[item("X")]),
            Err(FeeError::UnknownEntry(_))
        ));
        assert!(matches!(
            t.compute(&[FeeItem {
                betrag_cent: Some(60_000),
                ..item("R")
            }]),
            Err(FeeError::OutOfRange(..))
        ));
        assert!(matches!(
            t.compute(&[item("E")]),
            Err(FeeError::NoQuantity(_))
        ));
        assert!(matches!(
            t.compute(&[FeeItem {
                ermaessigung_prozent: Some(50),
                ..item("F")
            }]),
            Err(FeeError::BadReduction(_))
        ));
    }

    #[test]
    fn kassenzeichen_examples() {
        // Luhn of 79927398713 is the textbook example: payload 7992739871 → 3.
        assert_eq!(check_digit("7992739871", "mod10"), 3);
        let kz = kassenzeichen("5100", 3, 17, "mod10");
        assert_eq!(&kz[..12], "510003000017");
        assert!(kassenzeichen_valid(&kz, "mod10"));
        let kz11 = kassenzeichen("5100", 3, 17, "mod11");
        assert!(kassenzeichen_valid(&kz11, "mod11"));
    }

    #[test]
    fn booking_record_as_csv_and_xml() {
        let t = tariff();
        let total = t.compute(&[item("F")]).unwrap();
        let a = Annahmeanordnung {
            kassenzeichen: kassenzeichen("5100", 1, 7, "mod10"),
            aktenzeichen: "GEW-2026-0100007".into(),
            faellig_am: "2026-12-23".into(),
            zahlungspflichtiger: "Ayşe Öztürk".into(),
            anschrift: "Hauptstraße 1; 12345 Musterstadt".into(),
            grund: "Gewerbeanzeige <Neugründung> & \"Café\"".into(),
            bezahlt_referenz: None,
            bezahlt_cent: None,
            summe_cent: total.total_cent,
            positionen: total.lines,
        };
        let csv = a.to_csv();
        assert!(csv.starts_with('\u{feff}'));
        assert!(
            csv.contains(";\"Hauptstraße 1; 12345 Musterstadt\";"),
            "{csv}"
        );
        assert!(csv.contains(";1.2.2.01;431100;26.00;"), "{csv}");
        let xml = a.to_xml();
        assert!(
            xml.contains(
                "<Grund>Gewerbeanzeige &lt;Neugründung&gt; &amp; &quot;Café&quot;</Grund>"
            ),
            "{xml}"
        );
        assert!(xml.contains("<Summe>26.00</Summe>"));
        assert!(xml.contains("Betrag=\"26.00\""));
    }

    proptest::proptest! {
        /// Every Kassenzeichen validates; a changed digit is caught; blocks of
        /// different workstations never collide.
        #[test]
        fn kassenzeichen_properties(
            a in 1u32..=99, b in 1u32..=99, n in 1u64..=999_999, m in 1u64..=999_999,
            pos in 0usize..12, delta in 1u32..=9, mod11 in proptest::bool::ANY
        ) {
            let scheme = if mod11 { "mod11" } else { "mod10" };
            let x = kassenzeichen("5100", a, n, scheme);
            proptest::prop_assert!(kassenzeichen_valid(&x, scheme));
            let y = kassenzeichen("5100", b, m, scheme);
            proptest::prop_assert_eq!(x == y, a == b && n == m);
            // A single wrong digit is always detected by Luhn. (Mod 11 folds the
            // remainders 0 and 1 onto the digit 0, so it misses some.)
            if !mod11 {
                let mut digits: Vec<u32> = x.chars().filter_map(|c| c.to_digit(10)).collect();
                digits[pos] = (digits[pos] + delta) % 10;
                let changed: String = digits
                    .iter()
                    .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
                    .collect();
                proptest::prop_assert!(!kassenzeichen_valid(&changed, scheme));
            }
        }
    }
}
