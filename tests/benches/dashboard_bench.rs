//! The dashboard as the Leitung opens it: cases and their whole history read from the
//! real SQLCipher store, deadlines of open cases computed, figures for a quarter.
//! `BENCH_DASHBOARD_CASES` (default 10,000) demo cases with a year of history each
//! (about 8 events per case). `make bench` (the pure computation over 100,000 cases
//! with 1,000,000 events is `reports_bench`).

use std::time::Instant;

use amtsstube_tests::sim::BoxError;
use domain::Role;
use workstation::{LoginRequest, ReportRequest};

fn main() -> Result<(), BoxError> {
    let n: usize = std::env::var("BENCH_DASHBOARD_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let tmp = tempfile::tempdir()?;
    let mut ws = amtsstube_tests::local::workstation(
        &tmp.path().join("daten"),
        None,
        &[("leitung", Role::Leitung)],
    )?;
    ws.login(LoginRequest {
        username: "leitung".into(),
        password: "leitung-passwort-1".into(),
    })?;
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
    let mut times = Vec::new();
    let mut decided = 0;
    for _ in 0..5 {
        let t = Instant::now();
        decided = ws.report(&req)?.total.current.decided;
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "| Vorgänge (Store) | Übernahme | Dashboard öffnen (Median von 5) | Entschieden im Quartal |"
    );
    println!("|---|---|---|---|");
    println!(
        "| {n} | {:.1} s | {:.0} ms | {decided} |",
        setup.as_secs_f64(),
        times[2].as_secs_f64() * 1000.0
    );
    Ok(())
}
