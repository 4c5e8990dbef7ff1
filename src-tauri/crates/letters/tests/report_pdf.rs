//! The figures as a PDF for the council: valid for qpdf, fonts embedded, the numbers
//! readable by pdftotext in German formats, several pages numbered.

use std::path::Path;

use jiff::Timestamp;
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use letters::{Letterhead, Renderer};
use reports::{CaseFacts, Channel, Event, Query};

fn at(d: Date) -> Timestamp {
    d.to_zoned(TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::MIN)
}

mod common;
use common::{check_pdf, tool};

#[test]
fn the_council_report_carries_the_figures() -> Result<(), Box<dyn std::error::Error>> {
    let types = [
        "Gewerbeanmeldung",
        "Meldebescheinigung",
        "Hundesteuer-Anmeldung",
    ];
    let mut cases = Vec::new();
    for i in 0..90u32 {
        let received = date(2026, 9, 1)
            .checked_add(jiff::ToSpan::days(i64::from(i)))
            .map_err(|e| e.to_string())?;
        let decided = received
            .checked_add(jiff::ToSpan::days(6))
            .map_err(|e| e.to_string())?;
        cases.push(CaseFacts {
            id: format!("{i}"),
            case_type: types[i as usize % 3].into(),
            channel: if i % 4 == 0 {
                Channel::Papier
            } else {
                Channel::Online
            },
            received: at(received),
            due: None,
            events: if decided < date(2026, 11, 23) {
                vec![Event::new(
                    at(decided),
                    "entscheiden",
                    Some("entschieden"),
                    "sb1",
                )]
            } else {
                vec![]
            },
        });
    }
    let q = Query {
        from: date(2026, 9, 1),
        to: date(2026, 11, 24),
        today: date(2026, 11, 23),
        risk_days: 14,
        tz: TimeZone::UTC,
        per_person: false,
        min_group: 5,
    };
    let report = reports::report(&cases, &q);
    let head = Letterhead {
        authority: "Gemeinde Musterstadt".into(),
        department: "Der Bürgermeister".into(),
        address: vec!["Rathausplatz 1".into(), "47110 Musterstadt".into()],
        ..Letterhead::default()
    };
    let hash = "3f9a0c1e5b7d2468ace013579bdf2468ace013579bdf2468ace013579bdf2468";
    let pdf = letters::report::report_pdf(
        &Renderer::new()?,
        &report,
        &head,
        true,
        0,
        Some((4711, hash)),
    )?;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("letters");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("kennzahlen-bericht.pdf");
    std::fs::write(&path, &pdf)?;
    let text = check_pdf(&path)?;
    let p = path.to_str().ok_or("Pfad")?;
    let c = &report.total.current;
    assert!(text.contains("Bearbeitungszeiten, Rückstand und Fristen"));
    assert!(text.contains("01.09.2026 bis 23.11.2026"), "{text}");
    assert!(text.contains("6,0 Tage"), "{text}");
    assert!(text.contains(&c.decided.to_string()));
    for t in types {
        assert!(text.contains(t), "{t}");
    }
    assert!(text.contains("Papier") && text.contains("über 3 Monate"));
    // The audit chain's head, an anchor outside the machine (both halves of the hash).
    assert!(text.contains("Eintrag 4711"), "{text}");
    assert!(
        text.contains(&hash[..32]) && text.contains(&hash[32..]),
        "{text}"
    );
    let pages: usize = tool("qpdf", &["--show-npages", p])?.trim().parse()?;
    for i in 1..=pages {
        assert!(text.contains(&format!("Seite {i} von {pages}")));
    }
    Ok(())
}

/// The release list for destroying scanned paper: valid PDF, fonts embedded, every
/// batch with its box and pages, flowing over pages with "Seite x von y".
#[test]
fn the_release_list_names_every_batch_and_box() -> Result<(), Box<dyn std::error::Error>> {
    use letters::report::ReleaseRow;
    let rows: Vec<ReleaseRow> = (1..=70u32)
        .map(|i| ReleaseRow {
            stapel: format!("ST-2026-{i:04}"),
            karton: format!("Karton Ö-{}", 100 + i),
            klasse: "Anträge und Nachweise".into(),
            seiten: i * 3,
            freigabe: "01.12.2026, Lena Leitung".into(),
        })
        .collect();
    let head = Letterhead {
        authority: "Gemeinde Musterstadt".into(),
        department: "Der Bürgermeister".into(),
        ..Letterhead::default()
    };
    let pdf = letters::report::release_list_pdf(&Renderer::new()?, &rows, &head, true, 0)?;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("letters");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("freigabeliste.pdf");
    std::fs::write(&path, &pdf)?;
    let text = check_pdf(&path)?;
    assert!(text.contains("Freigabeliste: Vernichtung gescannter Papiervorlagen"));
    for r in &rows {
        assert!(text.contains(&r.stapel), "{} missing", r.stapel);
        assert!(text.contains(&r.karton), "{} missing", r.karton);
    }
    let total: u32 = rows.iter().map(|r| r.seiten).sum();
    assert!(
        text.contains(&format!("70 Stapel mit zusammen {total} Seiten")),
        "{text}"
    );
    let p = path.to_str().ok_or("Pfad")?;
    let pages: usize = tool("qpdf", &["--show-npages", p])?.trim().parse()?;
    assert!(pages >= 2, "70 batches fit on one page?");
    for i in 1..=pages {
        assert!(text.contains(&format!("Seite {i} von {pages}")));
    }
    // No batch released: the list says so.
    let empty = letters::report::release_list_pdf(&Renderer::new()?, &[], &head, false, 0)?;
    let path = dir.join("freigabeliste-leer.pdf");
    std::fs::write(&path, &empty)?;
    assert!(check_pdf(&path)?.contains("kein Stapel zur Vernichtung freigegeben"));
    Ok(())
}

#[test]
fn the_recovery_sheet_carries_the_whole_key_in_groups() -> Result<(), Box<dyn std::error::Error>> {
    let key = "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS";
    let lines = letters::report::recovery_key_lines(key);
    assert_eq!(lines[0], "AGE-SECRET-KEY-1");
    assert_eq!(
        lines[1..].concat().replace(' ', ""),
        key["AGE-SECRET-KEY-1".len()..],
        "nothing lost or added"
    );
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.split(' ').all(|g| g.len() <= 4))
    );
    let pdf = letters::report::recovery_sheet_pdf(
        &Renderer::new()?,
        key,
        "Bürgerbüro Musterstadt",
        "04.12.2026",
        0,
    )?;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("letters");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("wiederherstellung.pdf");
    std::fs::write(&path, &pdf)?;
    let text = check_pdf(&path)?;
    for line in &lines {
        assert!(text.contains(line.as_str()), "{line} fehlt:\n{text}");
    }
    assert!(text.contains("Wiederherstellungsschlüssel") && text.contains("04.12.2026"));
    assert!(text.contains("Verwahrt am"));
    // Not a key: refused, no sheet.
    assert!(letters::report::recovery_sheet_pdf(&Renderer::new()?, "", "", "", 0).is_err());
    Ok(())
}
