//! The supervisor figures through the facade on the real store: a year of demo
//! history, a case decided today through the ordinary casework, the drill-down, the
//! CSV, privacy by default and the permission (Leitung only).

use amtsstube_tests::app::login;
use amtsstube_tests::sim::BoxError;
use domain::Role;
use domain::lifecycle::{Action, Decision};
use workstation::{ErrorCode, Metric, ReportRequest, WorkListQuery};

fn year() -> ReportRequest {
    let today = jiff::Zoned::now().date();
    ReportRequest {
        from: today
            .checked_sub(jiff::ToSpan::days(365))
            .map(|d| d.to_string())
            .unwrap_or_default(),
        until: today.to_string(),
        case_type: None,
        channel: None,
    }
}

#[test]
fn leitung_sees_team_figures_that_match_their_cases() -> Result<(), BoxError> {
    let tmp = tempfile::tempdir()?;
    let mut ws = amtsstube_tests::local::workstation(
        &tmp.path().join("daten"),
        None,
        &[
            ("leitung", Role::Leitung),
            ("sb1", Role::Sachbearbeitung),
            ("sb2", Role::Sachbearbeitung),
        ],
    )?;
    login(&mut ws, "leitung")?;
    workstation::demo::demo_history(&mut ws, 300, 7, &["sb1".into(), "sb2".into()])?;
    let r = ws.report(&year())?;
    let c = &r.total.current;
    assert_eq!(c.arrivals, 300, "every demo case arrived within the year");
    assert!(c.decided > 150 && c.decided < 300, "{}", c.decided);
    assert!(
        c.arrival_to_decision
            .median_days
            .is_some_and(|m| m > 0.5 && m < 60.0)
    );
    assert!(r.total.backlog.open > 0);
    assert_eq!(r.by_type.len(), 6);
    assert!(r.by_channel.iter().all(|g| g.current.arrivals > 0));
    assert_eq!(r.weeks.iter().map(|w| w.arrivals).sum::<u32>(), 300);
    assert!(r.persons.is_none(), "privacy by default");
    // Every number opens the cases behind it.
    let decided = ws.report_cases(&year(), "alle", Metric::Decided)?;
    assert_eq!(decided.len() as u32, c.decided);
    let gew = r
        .by_type
        .iter()
        .find(|g| g.label == "Gewerbeanmeldung")
        .ok_or("GEW")?;
    let open = ws.report_cases(&year(), &gew.key, Metric::Open)?;
    assert_eq!(open.len() as u32, gew.backlog.open);
    assert!(open.iter().all(|c| c.case_type == "Gewerbeanmeldung"));
    // A filter narrows the input.
    let only = ws.report(&ReportRequest {
        case_type: Some("Gewerbeanmeldung".into()),
        ..year()
    })?;
    assert_eq!(only.total.current.arrivals, gew.current.arrivals);
    // The CSV opens in Excel and LibreOffice; both exports are saved as files, a second
    // export beside the first.
    let dir = tempfile::tempdir()?;
    let export = |e: &workstation::exports::Export| ws.save_export(e, dir.path());
    let csv_path = export(&workstation::exports::Export::ReportCsv { request: year() })?;
    let csv = std::fs::read_to_string(&csv_path)?;
    assert!(csv.starts_with('\u{feff}') && csv.contains(";Alle Vorgänge;Eingänge;300;"));
    let again = export(&workstation::exports::Export::ReportCsv { request: year() })?;
    assert_ne!(again, csv_path);
    assert_eq!(std::fs::read_to_string(&again)?, csv);
    let pdf = std::fs::read(export(&workstation::exports::Export::ReportPdf {
        request: year(),
    })?)?;
    assert!(pdf.starts_with(b"%PDF-") && pdf.len() > 10_000);

    // A case decided today through the ordinary casework counts at once.
    let before = c.decided;
    let open_case = ws
        .work_list(WorkListQuery {
            limit: 500,
            ..WorkListQuery::default()
        })?
        .items
        .into_iter()
        .find(|c| c.status.as_str() == "in_bearbeitung")
        .ok_or("no case in progress")?;
    ws.case_action(
        &open_case.id,
        Action::Entscheiden {
            ergebnis: Decision::Bewilligt,
            begruendung: String::new(),
            anhoerung_vermerk: None,
        },
    )?;
    assert_eq!(ws.report(&year())?.total.current.decided, before + 1);

    // Sachbearbeitung cannot open the dashboard.
    ws.logout();
    login(&mut ws, "sb1")?;
    let err = ws
        .report(&year())
        .err()
        .ok_or("Sachbearbeitung sees the report")?;
    assert_eq!(err.code, ErrorCode::Forbidden);
    assert!(
        !ws.reports_prepare()?,
        "nothing prepared for Sachbearbeitung"
    );

    // Per-person figures only after the administration switched them on.
    ws.logout();
    login(&mut ws, "admin")?;
    ws.set_person_reports(true)?;
    ws.logout();
    login(&mut ws, "leitung")?;
    let persons = ws.report(&year())?.persons.ok_or("switched on")?;
    assert!(persons.iter().all(|p| p.decided >= 5));
    let names: Vec<&str> = persons.iter().map(|p| p.person.as_str()).collect();
    assert!(
        names.contains(&"sb1") && names.contains(&"sb2"),
        "{names:?}"
    );
    // Bad input is refused in German.
    let bad = ws
        .report(&ReportRequest {
            from: "gestern".into(),
            ..year()
        })
        .err()
        .ok_or("accepted")?;
    assert!(bad.message.contains("kein Datum"), "{}", bad.message);
    Ok(())
}

/// The figures are kept in memory between openings and only changed cases are read
/// again: after every kind of change they equal the figures read afresh (after a new
/// login), for the report and for the drill-down.
#[test]
fn figures_kept_in_memory_equal_a_fresh_read_after_changes() -> Result<(), BoxError> {
    let tmp = tempfile::tempdir()?;
    let mut ws = amtsstube_tests::local::workstation(
        &tmp.path().join("daten"),
        None,
        &[("leitung", Role::Leitung), ("sb1", Role::Sachbearbeitung)],
    )?;
    login(&mut ws, "leitung")?;
    workstation::demo::demo_history(&mut ws, 200, 3, &["sb1".into()])?;
    let first = ws.report(&year())?;
    let cases = ws
        .work_list(WorkListQuery {
            limit: 500,
            ..WorkListQuery::default()
        })?
        .items;
    let with = |status: &str| {
        cases
            .iter()
            .filter(|c| c.status.as_str() == status)
            .map(|c| c.id.clone())
            .collect::<Vec<_>>()
    };
    let (deciding, asking, withdrawing) = (
        with("in_bearbeitung"),
        with("in_pruefung"),
        with("eingegangen"),
    );
    let id =
        |list: &Vec<String>, what: &str| list.first().cloned().ok_or(format!("no case {what}"));
    let decided = id(&deciding, "in_bearbeitung")?;
    ws.case_action(
        &decided,
        Action::Entscheiden {
            ergebnis: Decision::Bewilligt,
            begruendung: String::new(),
            anhoerung_vermerk: None,
        },
    )?;
    let frist = jiff::Zoned::now()
        .date()
        .checked_add(jiff::ToSpan::days(14))?
        .to_string();
    ws.case_action(
        &id(&asking, "in_pruefung")?,
        Action::Nachfordern {
            fehlend: vec!["Personalausweis".into()],
            frist,
        },
    )?;
    ws.case_action(
        &id(&withdrawing, "eingegangen")?,
        Action::Zurueckziehen {
            grund: "Antrag zurückgenommen".into(),
        },
    )?;
    // New cases arrive.
    workstation::demo::demo_history(&mut ws, 20, 4, &["sb1".into()])?;
    let cached = ws.report(&year())?;
    assert_ne!(cached, first, "the changes show");
    assert_eq!(cached.total.current.arrivals, 220);
    let drill = |ws: &workstation::Workstation, metric| -> Result<Vec<String>, BoxError> {
        let mut ids: Vec<String> = ws
            .report_cases(&year(), "alle", metric)?
            .into_iter()
            .map(|c| c.id)
            .collect();
        ids.sort();
        Ok(ids)
    };
    let cached_open = drill(&ws, Metric::Open)?;
    let cached_decided = drill(&ws, Metric::Decided)?;
    assert!(cached_decided.contains(&decided));
    // Afresh: a new login reads everything again (prepared as the app does at login:
    // on a second connection, outside the workstation lock).
    ws.logout();
    login(&mut ws, "leitung")?;
    let shared: workstation::background::Shared =
        std::sync::Arc::new(std::sync::Mutex::new(Some(ws)));
    assert!(workstation::background::reports_prepare_shared(&shared)?);
    assert!(
        !workstation::background::reports_prepare_shared(&shared)?,
        "read once"
    );
    let ws = shared
        .lock()
        .map_err(|_| "lock")?
        .take()
        .ok_or("workstation")?;
    assert_eq!(ws.report(&year())?, cached);
    assert_eq!(drill(&ws, Metric::Open)?, cached_open);
    assert_eq!(drill(&ws, Metric::Decided)?, cached_decided);
    Ok(())
}

/// A changed configuration changes the deadlines: the figures kept in memory are
/// computed again with the new rules, as a fresh read would.
#[test]
fn figures_follow_a_changed_configuration() -> Result<(), BoxError> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("daten");
    let mut ws = amtsstube_tests::local::workstation(
        &dir,
        None,
        &[("leitung", Role::Leitung), ("sb1", Role::Sachbearbeitung)],
    )?;
    login(&mut ws, "leitung")?;
    workstation::demo::demo_history(&mut ws, 200, 3, &["sb1".into()])?;
    let first = ws.report(&year())?;
    let at_risk = |r: &workstation::Report| r.total.backlog.due_soon + r.total.backlog.overdue;
    assert!(at_risk(&first) > 0, "{:?}", first.total.backlog);
    // Ten years for every service target and no statutory period: nothing is late.
    let relaxed = workstation::config::DEFAULT_CASE_TYPES
        .lines()
        .filter(|l| {
            !["frist_monate", "frist_tage", "verlaengerung_monate"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| {
            if l.starts_with("zielzeit_tage") {
                "zielzeit_tage = 3650"
            } else if l.starts_with("uhr") {
                "uhr = \"servicefrist\""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("vorgangsarten.toml"), relaxed)?;
    let cached = ws.report(&year())?;
    assert_eq!(
        cached.total.backlog.overdue, 0,
        "{:?}",
        cached.total.backlog
    );
    ws.logout();
    login(&mut ws, "leitung")?;
    assert_eq!(ws.report(&year())?, cached);
    Ok(())
}
