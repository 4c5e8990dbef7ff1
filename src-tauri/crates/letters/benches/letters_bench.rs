//! Letters per second: a batch of 1,000 Bescheide (with fee table, payment request and
//! Rechtsbehelfsbelehrung, two pages) rendered in memory, next to what a clerk would
//! otherwise do – `libreoffice --headless --convert-to pdf` on an .odt of the same
//! letter, measured in the same run (one process per letter, as from the file manager,
//! and one process converting a batch of 20, LibreOffice's best case).
//!
//! `cargo bench -p letters --bench letters_bench` (part of `make bench`). Without
//! LibreOffice installed the comparison is skipped with a note.

use std::process::Command;
use std::time::{Duration, Instant};

use domain::casetype::CaseTypes;
use domain::fees::{FeeItem, Tariff, kassenzeichen};
use jiff::civil::date;
use letters::{CaseFacts, Draft, Ergebnis, FeeSection, Renderer, TownConfig};

type R = Result<(), Box<dyn std::error::Error>>;

const TOWN: &str = include_str!("../../../../assets/config/gemeinde.toml");
const TYPES: &str = include_str!("../../../../assets/config/vorgangsarten.toml");
const TARIFF: &str = include_str!("../../../../assets/config/gebuehren.toml");
const LOGO: &[u8] = include_bytes!("../../../../assets/branding/wappen.png");
const BATCH: usize = 1_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The same letter as a flat ODF text document (what a Writer template would hold).
fn fodt(draft: &Draft, facts: &CaseFacts, town: &TownConfig) -> String {
    let mut paras = vec![
        town.behoerde.clone(),
        town.abteilung.clone(),
        String::new(),
        facts.antragsteller.clone(),
    ];
    paras.extend(facts.anschrift.iter().cloned());
    paras.push(format!("Aktenzeichen: {}", facts.aktenzeichen));
    paras.push(format!("Datum: {}", letters::compose::datum(facts.datum)));
    paras.push(String::new());
    paras.push(draft.betreff.clone());
    for b in &draft.blocks {
        if !b.title.is_empty() {
            paras.push(b.title.clone());
        }
        if let (true, Some(f)) = (b.key == "gebuehren", &draft.fees) {
            for l in &f.lines {
                paras.push(format!("{}\t{}", l.text, domain::fees::format_euro(l.cent)));
            }
            paras.push(format!(
                "Summe\t{}",
                domain::fees::format_euro(f.total_cent)
            ));
        }
        paras.extend(b.text.split('\n').map(str::to_owned));
    }
    let body: String = paras
        .iter()
        .map(|p| format!("<text:p>{}</text:p>", xml(p).replace('\t', "<text:tab/>")))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
<office:font-face-decls><style:font-face style:name="DejaVu Sans" svg:font-family="'DejaVu Sans'" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"/></office:font-face-decls>
<office:styles><style:default-style style:family="paragraph"><style:text-properties style:font-name="DejaVu Sans" fo:font-size="10.5pt"/></style:default-style></office:styles>
<office:body><office:text>{body}</office:text></office:body></office:document>"#
    )
}

fn soffice(args: &[&str]) -> Result<Duration, Box<dyn std::error::Error>> {
    let start = Instant::now();
    let out = Command::new("soffice").args(args).output()?;
    if !out.status.success() {
        return Err(format!("soffice {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(start.elapsed())
}

fn main() -> R {
    let town: TownConfig = toml::from_str(TOWN)?;
    let types: CaseTypes = toml::from_str(TYPES)?;
    let tariff: Tariff = toml::from_str(TARIFF)?;
    let snb = types
        .vorgangsart
        .iter()
        .find(|t| t.kuerzel == "SNB")
        .ok_or("SNB")?;
    let total = tariff.compute(&[
        FeeItem {
            stelle: "SNB-01".into(),
            betrag_cent: None,
            menge: None,
            ermaessigung_prozent: None,
            begruendung: None,
        },
        FeeItem {
            stelle: "SNB-02".into(),
            betrag_cent: None,
            menge: Some(240),
            ermaessigung_prozent: None,
            begruendung: None,
        },
    ])?;
    let facts = |n: usize| CaseFacts {
        aktenzeichen: format!("SNB-2026-01{n:05}"),
        vorgangsart: snb.name.clone(),
        kuerzel: snb.kuerzel.clone(),
        land: types.land.clone(),
        eingang: date(2026, 11, 2),
        antragsteller: "Jürgen Weiß-Öztürk".into(),
        anschrift: vec!["Mühlenstraße 7".into(), "47110 Musterstadt".into()],
        sachbearbeitung: "Frau Änne Groß".into(),
        frist: Some(letters::PeriodFacts {
            uhr: domain::deadline::ClockKind::Fiktion,
            dauer: "drei Monaten".into(),
            rechtsgrundlage: "§ 6a Abs. 1 GewO i. V. m. § 42a VwVfG NRW".into(),
            ab_eingang: false,
            beginn: None,
            ende: None,
            verlaengerbar: true,
            nachforderung: domain::deadline::RequestEffect::LaeuftWeiter,
            verlaengert: None,
        }),
        datum: date(2026, 11, 23),
    };
    let draft = |n: usize| -> Result<Draft, letters::LetterError> {
        let fees = FeeSection {
            lines: total.lines.clone(),
            total_cent: total.total_cent,
            kassenzeichen: kassenzeichen("5100", 1, n as u64, "mod10"),
            faellig_am: "2026-12-27".into(),
            bezahlt_referenz: None,
            bezahlt_cent: None,
            rechtsgrundlagen: vec!["Sondernutzungssatzung, Tarif Nr. 1 und 4.2".into()],
        };
        let d = Draft::bescheid(&facts(n), &town, Ergebnis::Bewilligt, Some(fees))?;
        d.with_edits(&[letters::TextBlock {
            key: "begruendung".into(),
            title: "Begründung".into(),
            text: "Die Sondernutzung für die Baustelleneinrichtung ist erlaubnispflichtig. Die beantragte Fläche liegt im Gehwegbereich; die Restbreite für den Fußverkehr bleibt ausreichend. Die Stellungnahme des Tiefbauamts liegt vor; Bedenken bestehen nicht. ".repeat(6),
            editable: true,
        }])
    };

    // Warm-up and the font parsing once (a workstation keeps the renderer).
    let setup = Instant::now();
    let renderer = Renderer::new()?;
    let setup = setup.elapsed();
    let mut median = Duration::ZERO;
    println!("Briefe (Bescheid, 2 Seiten, Logo, Gebührentabelle), {BATCH} Stück, Release-Build");
    println!("| Messung | PDF/A-2b (Vorgabe) | einfaches PDF (pdfa = false) |");
    println!("|---|---|---|");
    let mut rows: Vec<[String; 3]> = vec![
        ["Schriften laden (einmalig)".into(), ms(setup), ms(setup)],
        ["Median je Brief".into(), String::new(), String::new()],
        ["p90 je Brief".into(), String::new(), String::new()],
        [
            "Briefe je Sekunde (Stapel)".into(),
            String::new(),
            String::new(),
        ],
        ["Größe je PDF".into(), String::new(), String::new()],
    ];
    for (col, pdfa) in [(1, true), (2, false)] {
        let town = TownConfig {
            pdfa,
            ..town.clone()
        };
        let _warm = letters::render(
            &renderer,
            &draft(0)?,
            &facts(0),
            &town,
            Some(LOGO.to_vec()),
            0,
        )?;
        let mut times = Vec::with_capacity(BATCH);
        let mut bytes = 0usize;
        let batch = Instant::now();
        for n in 1..=BATCH {
            let t = Instant::now();
            let pdf = letters::render(
                &renderer,
                &draft(n)?,
                &facts(n),
                &town,
                Some(LOGO.to_vec()),
                0,
            )?;
            times.push(t.elapsed());
            bytes += pdf.len();
        }
        let batch = batch.elapsed();
        times.sort();
        if pdfa {
            median = percentile(&times, 0.5);
        }
        rows[1][col] = ms(percentile(&times, 0.5));
        rows[2][col] = ms(percentile(&times, 0.9));
        rows[3][col] = format!("{:.0}", BATCH as f64 / batch.as_secs_f64());
        rows[4][col] = format!("{} KB", bytes / BATCH / 1024);
    }
    for r in &rows {
        println!("| {} | {} | {} |", r[0], r[1], r[2]);
    }

    // LibreOffice on the same letter, in the same run.
    let available = Command::new("soffice")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        println!(
            "\nLibreOffice (soffice) ist nicht installiert: kein Vergleich. Debian: apt-get install libreoffice-writer-nogui"
        );
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let profile = format!("-env:UserInstallation=file://{}/profil", d.display());
    let flat = d.join("bescheid.fodt");
    std::fs::write(&flat, fodt(&draft(1)?, &facts(1), &town))?;
    let out = d.join("out");
    let (flat_s, out_s) = (
        flat.to_string_lossy().into_owned(),
        out.to_string_lossy().into_owned(),
    );
    // The template as a real .odt (not timed), and a first start that creates the profile.
    soffice(&[
        &profile,
        "--headless",
        "--convert-to",
        "odt",
        "--outdir",
        &out_s,
        &flat_s,
    ])?;
    let odt = out.join("bescheid.odt");
    let odt_s = odt.to_string_lossy().into_owned();
    let runs = 10;
    let mut lo = Vec::new();
    for _ in 0..runs {
        lo.push(soffice(&[
            &profile,
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            &out_s,
            &odt_s,
        ])?);
    }
    lo.sort();
    let lo_median = percentile(&lo, 0.5);
    // Best case for LibreOffice: one process converts 20 letters.
    let many = d.join("viele");
    std::fs::create_dir(&many)?;
    let mut args: Vec<String> = vec![
        profile.clone(),
        "--headless".into(),
        "--convert-to".into(),
        "pdf".into(),
        "--outdir".into(),
        out.join("viele").to_string_lossy().into_owned(),
    ];
    for i in 0..20 {
        let p = many.join(format!("bescheid-{i}.odt"));
        std::fs::copy(&odt, &p)?;
        args.push(p.to_string_lossy().into_owned());
    }
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let lo_batch = soffice(&arg_refs)? / 20;
    println!("\nVergleich mit LibreOffice (derselbe Brief als .odt, gleicher Lauf)");
    println!("| Verfahren | je Brief | Faktor Amtsstube schneller |");
    println!("|---|---|---|");
    println!("| Amtsstube, PDF/A-2b (Median) | {} | 1 |", ms(median));
    println!(
        "| soffice --convert-to pdf, ein Prozess je Brief (Median von {runs}) | {} | {:.0}× |",
        ms(lo_median),
        lo_median.as_secs_f64() / median.as_secs_f64()
    );
    println!(
        "| soffice --convert-to pdf, 20 Briefe in einem Prozess | {} | {:.0}× |",
        ms(lo_batch),
        lo_batch.as_secs_f64() / median.as_secs_f64()
    );
    Ok(())
}
