//! The dashboard's computation over 10,000 and 100,000 cases with ten events each
//! (1,000,000 events), a year of history: the full report (both periods, all groups,
//! weeks) and one drill-down. `cargo bench -p reports --bench reports_bench`.

use std::time::{Duration, Instant};

use jiff::civil::date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use reports::{CaseFacts, Channel, Event, Metric, Query};

const TYPES: [&str; 5] = [
    "Meldebescheinigung",
    "Hundesteuer-Anmeldung",
    "Anwohnerparkausweis",
    "Gewerbeanmeldung",
    "Sondernutzung für Baustelleneinrichtung",
];

/// A deterministic pseudo-random history: arrivals over a year, most cases decided.
fn history(n: usize) -> Vec<CaseFacts> {
    let start = date(2025, 11, 23)
        .to_zoned(TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::MIN);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| {
            let received = start + ((next() % (365 * 86_400)) as i64).seconds();
            let mut t = received;
            let mut step = |hours: u64| {
                t += ((1 + hours) as i64 * 3_600).seconds();
                t
            };
            let mut events = Vec::with_capacity(10);
            let mut push = |at: Timestamp, kind: &str, to: Option<&str>| {
                events.push(Event::new(at, kind, to, format!("sb{}", i % 7)));
            };
            let h = next();
            push(step(h % 48), "zuweisen", None);
            push(step(h % 24), "pruefung_beginnen", Some("in_pruefung"));
            push(step(h % 12), "notiz", None);
            push(step(h % 96), "nachfordern", Some("nachgefordert"));
            push(
                step(h % 300),
                "nachreichung_eingegangen",
                Some("in_pruefung"),
            );
            push(step(h % 24), "vollstaendig", Some("in_bearbeitung"));
            push(step(h % 200), "notiz", None);
            push(step(h % 100), "entscheiden", Some("entschieden"));
            push(step(h % 48), "versenden", Some("versandt"));
            push(step(h % 500), "abschliessen", Some("abgeschlossen"));
            let now = Timestamp::now();
            events.retain(|e| e.at < now);
            CaseFacts {
                id: format!("{i:032x}"),
                case_type: TYPES[i % TYPES.len()].to_owned(),
                channel: if h % 5 == 0 {
                    Channel::Papier
                } else {
                    Channel::Online
                },
                received,
                due: Some(date(2026, 12, 1)),
                events,
            }
        })
        .collect()
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let q = Query {
        from: date(2026, 10, 1),
        to: date(2026, 11, 24),
        today: date(2026, 11, 23),
        risk_days: 14,
        tz: TimeZone::UTC,
        per_person: false,
        min_group: 5,
    };
    println!(
        "| Vorgänge | Ereignisse | Bericht (Median von 5) | Drill-down | Entscheidungen im Zeitraum |"
    );
    println!("|---|---|---|---|---|");
    for n in [10_000, 100_000] {
        let all = history(n);
        let events: usize = all.iter().map(|c| c.events.len()).sum();
        let mut times = Vec::new();
        let mut decided = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let r = reports::report(&all, &q);
            times.push(t.elapsed());
            decided = r.total.current.decided;
        }
        times.sort();
        let t = Instant::now();
        let ids = reports::cases(&all, &q, "typ:Gewerbeanmeldung", Metric::Decided);
        let drill = t.elapsed();
        println!(
            "| {n} | {events} | {} | {} ({} Vorgänge) | {decided} |",
            ms(times[2]),
            ms(drill),
            ids.len()
        );
    }
}
