//! The clerk's work list and search through the real SQLCipher store, as the app
//! asks for them (`Workstation::work_list`, first page of 50 with deadlines, the
//! count and the counts of the views): at 1,000 and 10,000 demo cases by default, `BENCH_WORKLIST_CASES`
//! sets the sizes (e.g. `1000,10000,100000`). Each query 200 times (or
//! `BENCH_WORKLIST_RUNS`), p50 and p95 in milliseconds. Also the one-off
//! computation of every case's deadline key: in the list call itself (the CLI) and
//! in the background as the app does at login, with the longest wait of the
//! window's work list meanwhile. `make bench`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amtsstube_tests::sim::BoxError;
use domain::Role;
use workstation::{LoginRequest, WorkListQuery, WorkListSort, WorkListView, Workstation};

fn login(ws: &mut Workstation, user: &str) -> Result<(), BoxError> {
    ws.login(LoginRequest {
        username: user.into(),
        password: format!("{user}-passwort-1"),
    })?;
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// p50 and p95 of `runs` calls, and the list's count (the same every time).
fn measure(
    ws: &mut Workstation,
    q: &WorkListQuery,
    runs: usize,
) -> Result<(f64, f64, u32), BoxError> {
    let mut times = Vec::with_capacity(runs);
    let mut total = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let list = ws.work_list(q.clone())?;
        times.push(t.elapsed());
        total = list.total;
    }
    times.sort();
    Ok((percentile(&times, 0.5), percentile(&times, 0.95), total))
}

fn query(
    view: Option<WorkListView>,
    search: Option<&str>,
    sort: Option<WorkListSort>,
) -> WorkListQuery {
    WorkListQuery {
        offset: 0,
        limit: 50,
        view,
        search: search.map(str::to_owned),
        sort,
    }
}

fn main() -> Result<(), BoxError> {
    let sizes: Vec<usize> = std::env::var("BENCH_WORKLIST_CASES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runs = amtsstube_tests::bench::env_usize("BENCH_WORKLIST_RUNS", 200).max(1);
    println!("| Vorgänge | Abfrage | Treffer | p50 | p95 |");
    println!("|---|---|---|---|---|");
    for n in sizes {
        let tmp = tempfile::tempdir()?;
        let mut ws = amtsstube_tests::local::workstation(
            &tmp.path().join("daten"),
            None,
            &[("leitung", Role::Leitung), ("sb1", Role::Sachbearbeitung)],
        )?;
        login(&mut ws, "leitung")?;
        let colleagues = ["sb1".to_owned(), "sb2".to_owned(), "sb3".to_owned()];
        workstation::demo::demo_history(&mut ws, n, 1, &colleagues)?;
        // The first list computes every case's deadline key once (as after the
        // update that brings them, or a change of the case types or holidays).
        let t = Instant::now();
        ws.work_list(query(None, None, Some(WorkListSort::Frist)))?;
        let first = t.elapsed().as_secs_f64() * 1000.0;
        println!(
            "| {n} | Leitung: erste Liste, Fristen aller Vorgänge berechnet | {n} | {first:.1} ms (einmal) | – |"
        );
        // The same in the background, as the app does at login after an update
        // (every key "none" until computed, then each one written): the keys made
        // "none" by an unreadable vorgangsarten.toml, then the file repaired – other
        // rules, every key computed outside the workstation lock and stored in
        // slices; meanwhile the window asks for the first page every 20 ms.
        let types = tmp.path().join("daten").join("vorgangsarten.toml");
        std::fs::write(&types, "[kaputt")?;
        ws.work_list(query(None, None, Some(WorkListSort::Frist)))?;
        std::fs::remove_file(&types)?;
        let shared: workstation::background::Shared = Arc::new(Mutex::new(Some(ws)));
        let t = Instant::now();
        let (stored, longest, calls) = amtsstube_tests::bench::window_waits(&shared, || {
            workstation::background::due_keys_shared(&shared)
        });
        let stored = stored?.unwrap_or(0);
        let background = t.elapsed().as_secs_f64() * 1000.0;
        println!(
            "| {n} | Leitung: Fristen aller Vorgänge im Hintergrund ({stored} gespeichert); längste Wartezeit des Fensters {:.0} ms bei {calls} Abrufen | {n} | {background:.1} ms (einmal) | – |",
            longest.as_secs_f64() * 1000.0
        );
        let mut ws = shared
            .lock()
            .map_err(|_| "lock")?
            .take()
            .ok_or("workstation")?;
        // A file number from the middle of the list: a word found once.
        let middle = ws.work_list(WorkListQuery {
            offset: u32::try_from(n / 2)?,
            limit: 1,
            ..WorkListQuery::default()
        })?;
        let rare = middle
            .items
            .first()
            .map(|c| c.file_number.clone())
            .ok_or("keine Vorgänge")?;
        let leitung: Vec<(&str, WorkListQuery)> = vec![
            ("alle, neueste zuerst", query(None, None, None)),
            (
                "alle, älteste zuerst",
                query(None, None, Some(WorkListSort::EingangAlt)),
            ),
            (
                "alle, nach Aktenzeichen",
                query(None, None, Some(WorkListSort::Aktenzeichen)),
            ),
            (
                "alle, nach Frist",
                query(None, None, Some(WorkListSort::Frist)),
            ),
            (
                "alle, nach Status",
                query(None, None, Some(WorkListSort::Status)),
            ),
            (
                "alle, nach Zuständigkeit",
                query(None, None, Some(WorkListSort::Zustaendig)),
            ),
            (
                "fällig in 14 Tagen, nach Frist",
                query(Some(WorkListView::Faellig), None, Some(WorkListSort::Frist)),
            ),
            (
                "überfällig, nach Frist",
                query(
                    Some(WorkListView::Ueberfaellig),
                    None,
                    Some(WorkListSort::Frist),
                ),
            ),
            (
                "Eingangskorb (niemandem zugewiesen)",
                query(Some(WorkListView::Eingang), None, None),
            ),
            (
                "Suche: häufiger Name „Schulz“",
                query(None, Some("Schulz"), None),
            ),
            (
                "Suche: seltenes Wort (ein Aktenzeichen)",
                query(None, Some(&rare), None),
            ),
            ("Suche: Wortanfang „Schu“", query(None, Some("Schu"), None)),
            (
                "Suche: zwei Wörter „Anna Schulz“",
                query(None, Some("Anna Schulz"), None),
            ),
            (
                "Suche: kein Treffer „Zeppelin“",
                query(None, Some("Zeppelin"), None),
            ),
        ];
        for (what, q) in &leitung {
            let (p50, p95, total) = measure(&mut ws, q, runs)?;
            println!("| {n} | Leitung: {what} | {total} | {p50:.1} ms | {p95:.1} ms |");
        }
        let mut second = query(None, Some("Schulz"), None);
        second.offset = 50;
        let (p50, p95, total) = measure(&mut ws, &second, runs)?;
        println!(
            "| {n} | Leitung: Suche „Schulz“, zweite Seite | {total} | {p50:.1} ms | {p95:.1} ms |"
        );
        ws.logout();
        login(&mut ws, "sb1")?;
        let caseworker: Vec<(&str, WorkListQuery)> = vec![
            ("eigene und offene, neueste zuerst", query(None, None, None)),
            (
                "„Meine“ (zugewiesen an sb1)",
                query(Some(WorkListView::Meine), None, None),
            ),
            (
                "eigene und offene, nach Frist",
                query(None, None, Some(WorkListSort::Frist)),
            ),
            (
                "überfällig in eigenen und offenen",
                query(
                    Some(WorkListView::Ueberfaellig),
                    None,
                    Some(WorkListSort::Frist),
                ),
            ),
            (
                "Suche „Schulz“ in eigenen und offenen",
                query(None, Some("Schulz"), None),
            ),
        ];
        for (what, q) in &caseworker {
            let (p50, p95, total) = measure(&mut ws, q, runs)?;
            println!("| {n} | sb1: {what} | {total} | {p50:.1} ms | {p95:.1} ms |");
        }
    }
    Ok(())
}
