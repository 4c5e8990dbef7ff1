//! Golden tests: every letter type of every demo case type is rendered and checked with
//! the tools an archive or a printer would use – `qpdf --check` (structure),
//! `pdftotext` (the text a reader or a screen reader extracts, umlauts included),
//! `pdffonts` (every font embedded) and `pdftoppm` (the first page as PNG, kept under
//! `target/tmp/letters/` for a look).

use std::path::{Path, PathBuf};

use domain::casetype::CaseTypes;
use domain::fees::{FeeItem, Tariff, format_euro, kassenzeichen};
use jiff::civil::date;
use letters::{
    CaseFacts, Draft, Ergebnis, FeeSection, LetterKind, Renderer, TextBlock, TownConfig,
};

mod common;
use common::{check_pdf, tool};

type R = Result<(), Box<dyn std::error::Error>>;

const TOWN: &str = include_str!("../../../../assets/config/gemeinde.toml");
const TYPES: &str = include_str!("../../../../assets/config/vorgangsarten.toml");
const TARIFF: &str = include_str!("../../../../assets/config/gebuehren.toml");
const LOGO: &[u8] = include_bytes!("../../../../assets/branding/wappen.png");

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("letters");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn facts(t: &domain::casetype::CaseType, land: &str) -> CaseFacts {
    CaseFacts {
        aktenzeichen: format!("{}-2026-0100042", t.kuerzel),
        vorgangsart: t.name.clone(),
        kuerzel: t.kuerzel.clone(),
        land: land.into(),
        eingang: date(2026, 11, 2),
        antragsteller: "Jürgen Weiß-Öztürk".into(),
        anschrift: vec!["Mühlenstraße 7".into(), "47110 Musterstadt".into()],
        sachbearbeitung: "Frau Änne Groß".into(),
        frist: t.period_text().map(|dauer| {
            let rules = t.deadline_rules();
            letters::PeriodFacts {
                uhr: rules.uhr,
                dauer,
                rechtsgrundlage: t.rechtsgrundlage.clone(),
                ab_eingang: rules.beginn == domain::deadline::PeriodStart::Eingang,
                beginn: None,
                ende: None,
                verlaengerbar: rules.verlaengerung_monate > 0,
                nachforderung: rules.nachforderung,
                verlaengert: None,
            }
        }),
        datum: date(2026, 11, 23),
    }
}

/// The facts with a running period: begun on the day of receipt, ending `ende`.
fn period(
    f: &CaseFacts,
    ende: Option<jiff::civil::Date>,
    verlaengert: Option<(jiff::civil::Date, String)>,
) -> CaseFacts {
    let mut f = f.clone();
    if let Some(p) = f.frist.as_mut() {
        p.beginn = Some(f.eingang);
        p.ende = ende;
        p.verlaengert = verlaengert;
    }
    f
}

fn fee_section(
    tariff: &Tariff,
    stellen: &[String],
) -> Result<FeeSection, Box<dyn std::error::Error>> {
    let items: Vec<FeeItem> = stellen
        .iter()
        .map(|s| {
            let e = tariff.tarif.iter().find(|e| &e.stelle == s);
            FeeItem {
                stelle: s.clone(),
                betrag_cent: e.filter(|e| e.art == "rahmen").map(|e| e.max_cent),
                menge: e.filter(|e| e.art == "einheit").map(|_| 799),
                ermaessigung_prozent: None,
                begruendung: None,
            }
        })
        .collect();
    let total = tariff.compute(&items)?;
    Ok(FeeSection {
        lines: total.lines,
        total_cent: total.total_cent,
        kassenzeichen: kassenzeichen(&tariff.kassenzeichen_praefix, 1, 4711, &tariff.pruefziffer),
        faellig_am: "2026-12-23".into(),
        bezahlt_referenz: None,
        bezahlt_cent: None,
        rechtsgrundlagen: stellen
            .iter()
            .filter_map(|s| tariff.tarif.iter().find(|e| &e.stelle == s))
            .map(|e| e.rechtsgrundlage.clone())
            .collect(),
    })
}

#[test]
fn every_letter_of_every_case_type_renders_and_checks() -> R {
    let town: TownConfig = toml::from_str(TOWN)?;
    let types: CaseTypes = toml::from_str(TYPES)?;
    let tariff: Tariff = toml::from_str(TARIFF)?;
    town.validate(
        types
            .vorgangsart
            .iter()
            .map(|t| (types.land.as_str(), t.kuerzel.as_str())),
    )?;
    let renderer = Renderer::new()?;
    let mut count = 0;
    for t in &types.vorgangsart {
        let f = facts(t, &types.land);
        let fees = fee_section(&tariff, &t.gebuehren)?;
        for vorlage in &t.vorlagen {
            let draft = match vorlage.as_str() {
                "eingangsbestaetigung" => Draft::eingangsbestaetigung(&f),
                "nachforderung" => Draft::nachforderung(
                    &f,
                    &[
                        "Nachweis der Haftpflichtversicherung".into(),
                        "Kopie des Personalausweises".into(),
                    ],
                    date(2026, 12, 7),
                ),
                "bescheid" => Draft::bescheid(&f, &town, Ergebnis::Bewilligt, Some(fees.clone()))?,
                "gebuehrenbescheid" => Draft::gebuehrenbescheid(&f, &town, fees.clone())?,
                // Complete on 2 Nov 2026, extended from 2 Feb to 2 Apr 2027; the
                // certificate after the period ran out (letter of 23 Nov, ended 20 Nov).
                "fristverlaengerung" => Draft::fristverlaengerung(&period(
                    &f,
                    Some(date(2027, 4, 2)),
                    Some((
                        date(2027, 2, 2),
                        "Die Stellungnahme der IHK steht aus.".into(),
                    )),
                ))?,
                "anhoerung" => Draft::anhoerung(&f, date(2026, 12, 11)),
                "fiktionsbescheinigung" => {
                    Draft::fiktionsbescheinigung(&period(&f, Some(date(2026, 11, 20)), None))?
                }
                other => return Err(format!("unbekannte Vorlage {other}").into()),
            };
            let pdf = letters::render(
                &renderer,
                &draft,
                &f,
                &town,
                Some(LOGO.to_vec()),
                1_795_000_000,
            )?;
            let path = out_dir().join(format!("{}-{vorlage}.pdf", t.kuerzel));
            std::fs::write(&path, &pdf)?;
            let text = check_pdf(&path)?;
            let ctx = format!("{}/{vorlage}:\n{text}", t.kuerzel);
            assert!(text.contains(&f.aktenzeichen), "{ctx}");
            assert!(text.contains("23.11.2026"), "{ctx}");
            assert!(text.contains("Jürgen Weiß-Öztürk"), "{ctx}");
            assert!(text.contains("Mühlenstraße 7"), "{ctx}");
            assert!(text.contains("Gemeinde Musterstadt"), "{ctx}");
            match draft.kind {
                LetterKind::Bescheid | LetterKind::Gebuehrenbescheid => {
                    assert!(text.contains("Rechtsbehelfsbelehrung"), "{ctx}");
                    // NW has no Widerspruchsverfahren: Klage beim Verwaltungsgericht.
                    assert!(text.contains("Klage beim"), "{ctx}");
                    assert!(text.contains("Verwaltungsgericht Düsseldorf"), "{ctx}");
                    if fees.total_cent > 0 {
                        assert!(text.contains(&fees.kassenzeichen), "{ctx}");
                        assert!(text.contains(&format_euro(fees.total_cent)), "{ctx}");
                        assert!(text.contains("23.12.2026"), "Fälligkeit: {ctx}");
                    }
                }
                LetterKind::Nachforderung => {
                    assert!(text.contains("07.12.2026"), "{ctx}");
                    assert!(text.contains("Haftpflichtversicherung"), "{ctx}");
                }
                LetterKind::Eingangsbestaetigung => {
                    assert!(text.contains("02.11.2026"), "{ctx}");
                }
                LetterKind::Fristverlaengerung => {
                    assert!(text.contains("02.04.2027"), "{ctx}");
                    assert!(text.contains("IHK"), "{ctx}");
                    assert!(!text.contains("Rechtsbehelfsbelehrung"), "{ctx}");
                }
                LetterKind::Anhoerung => {
                    assert!(text.contains("§ 28 Abs. 1 VwVfG"), "{ctx}");
                    assert!(text.contains("11.12.2026"), "{ctx}");
                    assert!(!text.contains("Rechtsbehelfsbelehrung"), "{ctx}");
                }
                LetterKind::Fiktionsbescheinigung => {
                    assert!(text.contains("als erteilt"), "{ctx}");
                    assert!(text.contains("20.11.2026"), "{ctx}");
                }
            }
            count += 1;
        }
    }
    assert_eq!(
        count,
        types
            .vorgangsart
            .iter()
            .map(|t| t.vorlagen.len())
            .sum::<usize>()
    );
    Ok(())
}

#[test]
fn thousands_are_grouped_and_a_paid_fee_is_not_requested_again() -> R {
    let town: TownConfig = toml::from_str(TOWN)?;
    let types: CaseTypes = toml::from_str(TYPES)?;
    let tariff: Tariff = toml::from_str(TARIFF)?;
    let snb = types
        .vorgangsart
        .iter()
        .find(|t| t.kuerzel == "SNB")
        .ok_or("SNB")?;
    let f = facts(snb, "NW");
    let mut fees = fee_section(&tariff, &snb.gebuehren)?;
    // 35,00 € + 799 × 1,50 € = 1.233,50 €
    assert_eq!(fees.total_cent, 123_350);
    let renderer = Renderer::new()?;
    let pdf = letters::render(
        &renderer,
        &Draft::gebuehrenbescheid(&f, &town, fees.clone())?,
        &f,
        &town,
        None,
        0,
    )?;
    let path = out_dir().join("SNB-tausender.pdf");
    std::fs::write(&path, &pdf)?;
    let text = check_pdf(&path)?;
    assert!(text.contains("1.233,50 €"), "{text}");
    assert!(text.contains("1.198,50 €"), "{text}");
    assert!(text.contains("Bitte überweisen Sie"), "{text}");

    fees.bezahlt_referenz = Some("PAY-7781-XK".into());
    fees.bezahlt_cent = Some(fees.total_cent);
    // Paid less or more than assessed: the letter says which (a payment is reconciled,
    // not taken as "bereits bezahlt").
    let zahlung = |fees: &FeeSection| -> Result<String, Box<dyn std::error::Error>> {
        let d = Draft::bescheid(&f, &town, Ergebnis::Bewilligt, Some(fees.clone()))?;
        Ok(d.blocks
            .iter()
            .find(|b| b.key == "zahlung")
            .map(|b| b.text.clone())
            .unwrap_or_default())
    };
    let partly = FeeSection {
        bezahlt_cent: Some(100_000),
        ..fees.clone()
    };
    let t = zahlung(&partly)?;
    assert!(
        t.contains("online 1.000,00 € bezahlt") && t.contains("Restbetrag von 233,50 €"),
        "{t}"
    );
    assert!(t.contains(&fees.kassenzeichen), "{t}");
    let over = FeeSection {
        bezahlt_cent: Some(fees.total_cent + 1_000),
        ..fees.clone()
    };
    let t = zahlung(&over)?;
    assert!(
        t.contains("zu viel gezahlten Betrag von 10,00 €") && !t.contains("Bitte überweisen"),
        "{t}"
    );
    let unknown = FeeSection {
        bezahlt_cent: None,
        ..fees.clone()
    };
    let t = zahlung(&unknown)?;
    assert!(
        t.contains("der Betrag wurde nicht übermittelt") && !t.contains("bereits"),
        "{t}"
    );
    let pdf = letters::render(
        &renderer,
        &Draft::bescheid(&f, &town, Ergebnis::Bewilligt, Some(fees))?,
        &f,
        &town,
        None,
        0,
    )?;
    let path = out_dir().join("SNB-bezahlt.pdf");
    std::fs::write(&path, &pdf)?;
    let text = check_pdf(&path)?;
    assert!(
        text.contains("bereits bei der Antragstellung online bezahlt"),
        "{text}"
    );
    assert!(text.contains("PAY-7781-XK"), "{text}");
    assert!(!text.contains("Bitte überweisen Sie"), "{text}");
    Ok(())
}

#[test]
fn pdfa_by_default_or_plain_and_small() -> R {
    let mut town: TownConfig = toml::from_str(TOWN)?;
    let types: CaseTypes = toml::from_str(TYPES)?;
    let gew = types
        .vorgangsart
        .iter()
        .find(|t| t.kuerzel == "GEW")
        .ok_or("GEW")?;
    let f = facts(gew, "NW");
    let renderer = Renderer::new()?;
    let draft = Draft::eingangsbestaetigung(&f);
    assert!(town.pdfa, "PDF/A is the default");
    let pdfa = letters::render(&renderer, &draft, &f, &town, Some(LOGO.to_vec()), 0)?;
    let text = String::from_utf8_lossy(&pdfa);
    // XMP metadata, unfiltered, declaring PDF/A-2b; the output intent with its profile.
    assert!(
        text.contains("pdfaid:part") && text.contains("pdfaid:conformance"),
        "no PDF/A identification"
    );
    assert!(text.contains("/OutputIntents") && text.contains("GTS_PDFA1"));
    let path = out_dir().join("GEW-pdfa.pdf");
    std::fs::write(&path, &pdfa)?;
    check_pdf(&path)?;
    town.pdfa = false;
    let plain = letters::render(&renderer, &draft, &f, &town, Some(LOGO.to_vec()), 0)?;
    assert!(!String::from_utf8_lossy(&plain).contains("/OutputIntents"));
    // Fonts are subset to the glyphs used: a letter stays small.
    assert!(plain.len() < 100_000, "{} bytes", plain.len());
    let path = out_dir().join("GEW-einfach.pdf");
    std::fs::write(&path, &plain)?;
    check_pdf(&path)?;
    Ok(())
}

#[test]
fn long_reasons_flow_over_pages_with_page_numbers() -> R {
    let town: TownConfig = toml::from_str(TOWN)?;
    let types: CaseTypes = toml::from_str(TYPES)?;
    let gew = types
        .vorgangsart
        .iter()
        .find(|t| t.kuerzel == "GEW")
        .ok_or("GEW")?;
    let f = facts(gew, "NW");
    let sentences: Vec<String> = (1..=120)
        .map(|i| {
            format!(
                "Satz {i}: Die Prüfung der gewerberechtlichen Zuverlässigkeit ergab keine Bedenken."
            )
        })
        .collect();
    let draft =
        Draft::bescheid(&f, &town, Ergebnis::Abgelehnt, None)?.with_edits(&[TextBlock {
            key: "begruendung".into(),
            title: "Begründung".into(),
            text: sentences.join(" ") + " ENDE-DER-BEGRÜNDUNG",
            editable: true,
        }])?;
    let pdf = letters::render(&Renderer::new()?, &draft, &f, &town, None, 0)?;
    let path = out_dir().join("GEW-lang.pdf");
    std::fs::write(&path, &pdf)?;
    let text = check_pdf(&path)?;
    let pages = tool("qpdf", &["--show-npages", path.to_str().ok_or("Pfad")?])?;
    let n: usize = pages.trim().parse()?;
    assert!(n >= 2, "{n} Seiten");
    for i in 1..=n {
        assert!(
            text.contains(&format!("Seite {i} von {n}")),
            "Seite {i}: {text}"
        );
    }
    // Nothing lost at the page breaks; the text ends with the Rechtsbehelfsbelehrung.
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for i in [1, 37, 60, 119, 120] {
        assert!(
            flat.contains(&format!("Satz {i}: Die Prüfung")),
            "Satz {i} fehlt"
        );
    }
    assert!(flat.contains("ENDE-DER-BEGRÜNDUNG"));
    assert!(flat.find("ENDE-DER-BEGRÜNDUNG") < flat.find("Rechtsbehelfsbelehrung"));
    assert!(text.contains("wird abgelehnt"));
    Ok(())
}

/// DIN 5008 Form B: the recipient's six lines stay inside the address window (62.7 to
/// 90 mm from the top; measured in the PDF with `pdftotext -bbox`), a long street is
/// shortened to "Str.", and what cannot fit is refused with a reason.
#[test]
fn din_5008_the_address_stays_inside_the_window() -> R {
    let town: TownConfig = toml::from_str(TOWN)?;
    let types: CaseTypes = toml::from_str(TYPES)?;
    let t = types.by_code("MB").ok_or("MB")?;
    let renderer = Renderer::new()?;
    let mut f = facts(t, &types.land);
    f.antragsteller = "Prof. Dr. Jürgen Weiß-Öztürk".into();
    f.anschrift = vec![
        "c/o Familie Groß".into(),
        "Wohnung 12, 3. Obergeschoss links".into(),
        "Hinterhaus".into(),
        "Mühlenstraße 7".into(),
        "47110 Musterstadt".into(),
    ];
    let draft = Draft::eingangsbestaetigung(&f);
    let pdf = letters::render(&renderer, &draft, &f, &town, None, 1_795_000_000)?;
    let path = out_dir().join("anschrift-sechs-zeilen.pdf");
    std::fs::write(&path, &pdf)?;
    let html = tool(
        "pdftotext",
        &[
            "-bbox",
            "-f",
            "1",
            "-l",
            "1",
            path.to_str().ok_or("Pfad")?,
            "-",
        ],
    )?;
    // Words in the address column (x < 105 mm) between 60 and 100 mm from the top.
    let mm = |pt: f32| pt * 25.4 / 72.0;
    let mut lowest: f32 = 0.0;
    let mut highest: f32 = f32::MAX;
    let mut words = Vec::new();
    for line in html.lines().filter(|l| l.trim_start().starts_with("<word")) {
        let attr = |name: &str| -> Option<f32> {
            let start = line.find(&format!("{name}=\""))? + name.len() + 2;
            line[start..].split('"').next()?.parse().ok()
        };
        let (Some(x), Some(y0), Some(y1)) = (attr("xMin"), attr("yMin"), attr("yMax")) else {
            continue;
        };
        if mm(x) < 105.0 && mm(y0) > 60.0 && mm(y1) < 100.0 {
            lowest = lowest.max(mm(y1));
            highest = highest.min(mm(y0));
            words.push(
                line.rsplit('>')
                    .nth(1)
                    .unwrap_or("")
                    .trim_end_matches("</word")
                    .to_owned(),
            );
        }
    }
    assert!(words.iter().any(|w| w.contains("Musterstadt")), "{words:?}");
    assert!(highest >= 62.7, "address begins at {highest} mm");
    assert!(
        lowest <= 90.0,
        "the sixth line ends at {lowest} mm, below the window"
    );
    // Seven lines: refused with the reason.
    f.anschrift.insert(0, "Abteilung Einkauf".into());
    let err = letters::render(&renderer, &draft, &f, &town, None, 1_795_000_000)
        .err()
        .ok_or("seven address lines accepted")?;
    assert!(err.to_string().contains("höchstens 6"), "{err}");
    // A long street is shortened by the DIN rule; a line that still does not fit is refused.
    // A street just too long for 80 mm at 10 pt, which "Str." brings inside.
    let mut name = "Bürgermeister-Karl-Heinz-Müller".to_owned();
    while renderer.width(&format!("{name}-Straße 117a"), 10.0, false) <= 80.0 {
        name.push('e');
    }
    let long = format!("{name}-Straße 117a");
    assert!(renderer.width(&format!("{name}-Str. 117a"), 10.0, false) <= 80.0);
    f.anschrift = vec![long, "47110 Musterstadt".into()];
    let fitted = renderer
        .fit_address(&f.anschrift)
        .map_err(|e| e.to_string())?;
    assert_eq!(fitted[0], format!("{name}-Str. 117a"));
    f.anschrift = vec![
        "Ein Name, der auch nach jeder Kürzung noch viel zu lang für jedes Fenster ist".into(),
    ];
    let err = letters::render(&renderer, &draft, &f, &town, None, 1_795_000_000)
        .err()
        .ok_or("overlong line accepted")?;
    assert!(
        err.to_string().contains("zu lang für das Anschriftfeld"),
        "{err}"
    );
    Ok(())
}

/// Case types with their own nature: a Gewerbeanzeige is answered by an
/// Empfangsbescheinigung (§ 15 Abs. 1 GewO), the Hundesteuer by a Steuerbescheid (AO via
/// the KAG) – never "Ihrem Antrag wird stattgegeben" with an administrative fee.
#[test]
fn gewerbeanzeige_and_hundesteuer_get_their_own_answer() -> R {
    let town: TownConfig = toml::from_str(TOWN)?;
    let types: CaseTypes = toml::from_str(TYPES)?;
    let tariff: Tariff = toml::from_str(TARIFF)?;
    let renderer = Renderer::new()?;
    let gew = types.by_code("GEW").ok_or("GEW")?;
    assert_eq!(
        gew.answer_kind(),
        domain::casetype::AnswerKind::Empfangsbescheinigung
    );
    let f = facts(gew, &types.land);
    let fees = fee_section(&tariff, &gew.gebuehren)?;
    let d = Draft::empfangsbescheinigung(&f, &town, &gew.rechtsgrundlage, Some(fees.clone()))?;
    let pdf = letters::render(&renderer, &d, &f, &town, None, 1_795_000_000)?;
    let path = out_dir().join("GEW-empfangsbescheinigung.pdf");
    std::fs::write(&path, &pdf)?;
    let text = check_pdf(&path)?;
    assert!(text.contains("Hiermit wird bescheinigt"), "{text}");
    assert!(text.contains("§ 15 Abs. 1 GewO"), "{text}");
    assert!(!text.contains("stattgegeben"), "{text}");
    assert!(text.contains(&format_euro(fees.total_cent)), "{text}");
    assert!(
        text.contains("Klage beim"),
        "the fee's Rechtsbehelfsbelehrung: {text}"
    );

    let hst = types.by_code("HST").ok_or("HST")?;
    assert_eq!(
        hst.answer_kind(),
        domain::casetype::AnswerKind::Steuerbescheid
    );
    let rates = hst.steuer.as_ref().ok_or("rates")?;
    // Registered on 2 Nov 2026: liable from 1 Dec 2026, one month: 96 € / 12 = 8 €.
    let f = facts(hst, &types.land);
    let d = Draft::steuerbescheid(&f, &town, &hst.rechtsgrundlage, rates, 1, None)?;
    let pdf = letters::render(&renderer, &d, &f, &town, None, 1_795_000_000)?;
    let path = out_dir().join("HST-steuerbescheid.pdf");
    std::fs::write(&path, &pdf)?;
    let text = check_pdf(&path)?;
    assert!(text.contains("01.12.2026"), "{text}");
    assert!(
        text.contains("96,00 €") && text.contains("8,00 €"),
        "{text}"
    );
    assert!(
        text.contains("15.02.") && text.contains("24,00 €"),
        "{text}"
    );
    assert!(text.contains("Abgabenordnung"), "{text}");
    assert!(
        !text.contains("stattgegeben") && !text.contains("Verwaltungsgebühr"),
        "{text}"
    );
    assert!(text.contains("Klage beim"), "{text}");
    // Booked with the cash system: the first year's amount with a Kassenzeichen and a
    // due date, without a fee table.
    let booking = FeeSection {
        lines: vec![],
        total_cent: 800,
        kassenzeichen: "5100010000017".into(),
        faellig_am: "2026-12-27".into(),
        bezahlt_referenz: None,
        bezahlt_cent: None,
        rechtsgrundlagen: vec![],
    };
    let d = Draft::steuerbescheid(&f, &town, &hst.rechtsgrundlage, rates, 1, Some(booking))?;
    let text: String = d
        .blocks
        .iter()
        .map(|b| format!("{}\n{}\n", b.title, b.text))
        .collect();
    assert!(text.contains("bis zum 27.12.2026 zu zahlen"), "{text}");
    assert!(
        text.contains("Bitte überweisen Sie 8,00 €") && text.contains("5100010000017"),
        "{text}"
    );
    assert!(!text.contains("Gebühren"), "{text}");
    Ok(())
}
