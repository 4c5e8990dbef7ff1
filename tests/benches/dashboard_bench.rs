//! The dashboard as the Leitung opens it, through the real SQLCipher store:
//! `BENCH_DASHBOARD_CASES` (default 10,000) demo cases with a year of history each
//! (about 8 events per case), figures for a quarter. Three ways of opening it:
//! the first time after login (every case and its whole history read from the
//! store, deadlines of open cases computed), the same after the app prepared the
//! figures at login, again after 20 cases were decided (only those read again), and
//! again without changes. `make bench` (the pure
//! computation over 100,000 cases with 1,000,000 events is `reports_bench`).

use std::time::{Duration, Instant};

use amtsstube_tests::sim::BoxError;
use domain::Role;
use domain::lifecycle::{Action, Decision};
use workstation::{LoginRequest, ReportRequest, WorkListQuery};

fn login(ws: &mut workstation::Workstation) -> Result<(), BoxError> {
    ws.login(LoginRequest {
        username: "leitung".into(),
        password: "leitung-passwort-1".into(),
    })?;
    Ok(())
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn main() -> Result<(), BoxError> {
    let n = amtsstube_tests::bench::env_usize("BENCH_DASHBOARD_CASES", 10_000);
    let tmp = tempfile::tempdir()?;
    let mut ws = amtsstube_tests::local::workstation(
        &tmp.path().join("daten"),
        None,
        &[("leitung", Role::Leitung)],
    )?;
    login(&mut ws)?;
    let t = Instant::now();
    workstation::demo::demo_history(&mut ws, n, 1, &["sb1".into(), "sb2".into(), "sb3".into()])?;
    let setup = t.elapsed();
    let today = jiff::Zoned::now().date();
    let req = ReportRequest {
        from: today.checked_sub(jiff::ToSpan::days(90))?.to_string(),
        until: today.to_string(),
        case_type: None,
        channel: None,
    };
    // Cases to decide between openings.
    let mut to_decide = Vec::new();
    let mut offset = 0;
    while to_decide.len() < 100 {
        let page = ws.work_list(WorkListQuery {
            limit: 500,
            offset,
            ..WorkListQuery::default()
        })?;
        if page.items.is_empty() {
            break;
        }
        offset += page.items.len() as u32;
        to_decide.extend(
            page.items
                .into_iter()
                .filter(|c| c.status == domain::lifecycle::CaseState::InBearbeitung)
                .map(|c| c.id),
        );
    }
    let mut cold = Vec::new();
    for _ in 0..3 {
        ws.logout();
        login(&mut ws)?;
        let t = Instant::now();
        ws.report(&req)?;
        cold.push(t.elapsed());
    }
    // As the app does it: the figures prepared in the background at login.
    let mut prepare = Vec::new();
    let mut prepared = Vec::new();
    for _ in 0..3 {
        ws.logout();
        login(&mut ws)?;
        let t = Instant::now();
        ws.reports_prepare()?;
        prepare.push(t.elapsed());
        let t = Instant::now();
        ws.report(&req)?;
        prepared.push(t.elapsed());
    }
    let mut changed = Vec::new();
    let mut unchanged = Vec::new();
    let mut decided = 0;
    for batch in to_decide.chunks(20).take(5) {
        for id in batch {
            ws.case_action(
                id,
                Action::Entscheiden {
                    ergebnis: Decision::Bewilligt,
                    begruendung: String::new(),
                    anhoerung_vermerk: None,
                },
            )?;
        }
        let t = Instant::now();
        ws.report(&req)?;
        changed.push(t.elapsed());
        let t = Instant::now();
        decided = ws.report(&req)?.total.current.decided;
        unchanged.push(t.elapsed());
    }
    println!(
        "| Vorgänge (Store) | Übernahme | erstes Öffnen ohne Vorbereitung (Median von 3) | Vorbereitung bei der Anmeldung (Hintergrund) | erstes Öffnen danach | nach 20 Entscheidungen (Median von {}) | ohne Änderung | Entschieden im Quartal |",
        changed.len()
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {n} | {:.1} s | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {decided} |",
        setup.as_secs_f64(),
        median(cold),
        median(prepare),
        median(prepared),
        median(changed),
        median(unchanged),
    );
    // As the app does it now: prepared on a second connection outside the
    // workstation lock, while the window asks for the work list every 20 ms.
    ws.logout();
    login(&mut ws)?;
    let shared: workstation::background::Shared =
        std::sync::Arc::new(std::sync::Mutex::new(Some(ws)));
    let t = Instant::now();
    let (done, longest, calls) = amtsstube_tests::bench::window_waits(&shared, || {
        workstation::background::reports_prepare_shared(&shared)
    });
    if !done? {
        return Err("nothing prepared".into());
    }
    println!(
        "Vorbereitung außerhalb der Sperre: {:.0} ms; längste Wartezeit des Fensters {:.0} ms bei {calls} Abrufen der Arbeitsliste",
        t.elapsed().as_secs_f64() * 1000.0,
        longest.as_secs_f64() * 1000.0
    );
    Ok(())
}
