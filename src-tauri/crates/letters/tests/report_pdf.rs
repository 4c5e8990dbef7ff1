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
    let pdf = letters::report::report_pdf(&Renderer::new()?, &report, &head, true, 0)?;
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
    let pages: usize = tool("qpdf", &["--show-npages", p])?.trim().parse()?;
    for i in 1..=pages {
        assert!(text.contains(&format!("Seite {i} von {pages}")));
    }
    Ok(())
}
