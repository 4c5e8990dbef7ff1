//! Figures on a hand-built history equal hand-computed values: suspended (waiting for
//! the citizen), reopened and never-completed cases included; the drill-down returns
//! exactly the cases counted; per-person figures only on request, small groups
//! suppressed.

use jiff::Timestamp;
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use reports::{CaseFacts, Channel, Event, Metric, Query, Stats};

fn at(d: Date) -> Timestamp {
    d.to_zoned(TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::MIN)
}

fn ev(d: Date, kind: &str, to: &str, actor: &str) -> Event {
    Event::new(at(d), kind, (!to.is_empty()).then_some(to), actor)
}

fn case(
    id: &str,
    t: &str,
    ch: Channel,
    received: Date,
    due: Option<Date>,
    events: Vec<Event>,
) -> CaseFacts {
    CaseFacts {
        id: id.into(),
        case_type: t.into(),
        channel: ch,
        received: at(received),
        due,
        events,
    }
}

fn history() -> Vec<CaseFacts> {
    use Channel::*;
    vec![
        // A: a Nachforderung before completeness, decided and dispatched.
        case(
            "A",
            "Gewerbeanmeldung",
            Online,
            date(2026, 11, 2),
            None,
            vec![
                ev(date(2026, 11, 2), "pruefung_beginnen", "in_pruefung", "sb1"),
                ev(date(2026, 11, 4), "nachfordern", "nachgefordert", "sb1"),
                ev(
                    date(2026, 11, 9),
                    "nachreichung_eingegangen",
                    "in_pruefung",
                    "portal",
                ),
                ev(date(2026, 11, 10), "vollstaendig", "in_bearbeitung", "sb1"),
                ev(date(2026, 11, 12), "entscheiden", "entschieden", "sb1"),
                ev(date(2026, 11, 13), "versenden", "versandt", "sb1"),
            ],
        ),
        // B: suspended after completeness (the wait counts against the period).
        case(
            "B",
            "Gewerbeanmeldung",
            Papier,
            date(2026, 11, 3),
            None,
            vec![
                ev(date(2026, 11, 5), "vollstaendig", "in_bearbeitung", "sb1"),
                ev(date(2026, 11, 6), "nachfordern", "nachgefordert", "sb1"),
                ev(
                    date(2026, 11, 8),
                    "nachreichung_eingegangen",
                    "in_bearbeitung",
                    "portal",
                ),
                ev(date(2026, 11, 9), "entscheiden", "entschieden", "sb1"),
            ],
        ),
        // C: decided the next day.
        case(
            "C",
            "Meldebescheinigung",
            Online,
            date(2026, 11, 10),
            None,
            vec![ev(date(2026, 11, 11), "entscheiden", "entschieden", "sb2")],
        ),
        // D: never completed, old, deadline passed.
        case(
            "D",
            "Meldebescheinigung",
            Online,
            date(2026, 8, 1),
            Some(date(2026, 11, 20)),
            vec![ev(
                date(2026, 8, 2),
                "pruefung_beginnen",
                "in_pruefung",
                "sb2",
            )],
        ),
        // E: waiting for the citizen at the end, deadline soon.
        case(
            "E",
            "Gewerbeanmeldung",
            Online,
            date(2026, 11, 20),
            Some(date(2026, 12, 3)),
            vec![ev(
                date(2026, 11, 21),
                "nachfordern",
                "nachgefordert",
                "sb1",
            )],
        ),
        // F: arrived in the previous period, decided, then reopened: open again.
        case(
            "F",
            "Gewerbeanmeldung",
            Online,
            date(2026, 11, 1),
            None,
            vec![
                ev(date(2026, 11, 5), "entscheiden", "entschieden", "sb1"),
                ev(date(2026, 11, 15), "wiederaufnahme", "in_pruefung", "sb1"),
            ],
        ),
        // G: the previous period.
        case(
            "G",
            "Gewerbeanmeldung",
            Online,
            date(2026, 10, 6),
            None,
            vec![ev(date(2026, 10, 16), "entscheiden", "entschieden", "sb1")],
        ),
    ]
}

fn query(per_person: bool) -> Query {
    Query {
        from: date(2026, 11, 2),
        to: date(2026, 11, 30),
        today: date(2026, 11, 30),
        risk_days: 7,
        tz: TimeZone::UTC,
        per_person,
        min_group: 2,
    }
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn figures_equal_the_hand_computed_values() {
    let r = reports::report(&history(), &query(false));
    let c = &r.total.current;
    assert_eq!((c.arrivals, c.decided, c.dispatched), (4, 3, 1));
    assert!((c.decided_per_week - 0.75).abs() < 1e-9);
    // Arrival → decision: A 10, B 6, C 1 days.
    let s = &c.arrival_to_decision;
    assert_eq!(s.count, 3);
    assert!(
        close(s.median_days, 6.0) && close(s.p90_days, 10.0) && close(s.mean_days, 17.0 / 3.0),
        "{s:?}"
    );
    // Waiting for the citizen kept apart: A 5, B 2, C 0; processing 5, 4, 1.
    assert!(close(c.waiting_for_citizen.median_days, 2.0));
    assert!(close(c.processing.mean_days, 10.0 / 3.0) && close(c.processing.median_days, 4.0));
    // Completeness → decision without the wait after completeness: A 2, B 4 − 2.
    assert_eq!(c.complete_to_decision.count, 2);
    assert!(close(c.complete_to_decision.median_days, 2.0));
    assert!(close(c.arrival_to_dispatch.median_days, 11.0));
    assert!(close(c.complete_to_dispatch.median_days, 3.0));
    assert!(close(c.nachforderungsquote, 2.0 / 3.0));
    // Time per state of the decided cases: A waited 5 days, B 2 → mean 7/3 days.
    let waiting = c
        .days_per_state
        .iter()
        .find(|(s, _)| s == "nachgefordert")
        .map(|(_, d)| *d);
    assert!(close(waiting, 7.0 / 3.0), "{:?}", c.days_per_state);
    // Backlog at the end: D (121 days), E (10 days, waiting), F (reopened, 29 days).
    let b = &r.total.backlog;
    assert_eq!((b.open, b.by_age), (3, [0, 1, 1, 1]));
    assert_eq!((b.due_soon, b.overdue), (1, 1));
    // The period before: G decided; F and G arrived.
    let p = &r.total.previous;
    assert_eq!((p.arrivals, p.decided), (2, 1));
    assert!(close(p.arrival_to_decision.median_days, 10.0));
    // Per case type and channel.
    let gew = r
        .by_type
        .iter()
        .find(|g| g.label == "Gewerbeanmeldung")
        .expect("GEW");
    assert_eq!(
        (gew.current.arrivals, gew.current.decided, gew.backlog.open),
        (3, 2, 2)
    );
    let paper = r
        .by_channel
        .iter()
        .find(|g| g.key == "kanal:papier")
        .expect("Papier");
    assert_eq!((paper.current.decided, paper.current.arrivals), (1, 1));
    // Weeks from Monday 2 November.
    let decided: Vec<u32> = r.weeks.iter().map(|w| w.decided).collect();
    let arrivals: Vec<u32> = r.weeks.iter().map(|w| w.arrivals).collect();
    assert_eq!(r.weeks[0].start, "2026-11-02");
    assert_eq!((decided, arrivals), (vec![0, 3, 0, 0], vec![2, 1, 1, 0]));
    assert_eq!(
        (r.from.as_str(), r.until.as_str()),
        ("2026-11-02", "2026-11-29")
    );
    // Privacy by default.
    assert!(r.persons.is_none());
}

#[test]
fn the_drill_down_returns_exactly_the_cases_counted() {
    let (all, q) = (history(), query(false));
    let r = reports::report(&all, &q);
    let ids = |g: &str, m: Metric| reports::cases(&all, &q, g, m);
    assert_eq!(ids("alle", Metric::Decided), ["A", "B", "C"]);
    assert_eq!(ids("alle", Metric::Overdue), ["D"]);
    assert_eq!(ids("alle", Metric::DueSoon), ["E"]);
    assert_eq!(ids("alle", Metric::Age3), ["D"]);
    assert_eq!(ids("alle", Metric::Nachgefordert), ["A", "B"]);
    assert_eq!(ids("typ:Gewerbeanmeldung", Metric::Open), ["E", "F"]);
    for g in std::iter::once(&r.total)
        .chain(&r.by_type)
        .chain(&r.by_channel)
    {
        assert_eq!(
            ids(&g.key, Metric::Arrivals).len() as u32,
            g.current.arrivals,
            "{}",
            g.key
        );
        assert_eq!(
            ids(&g.key, Metric::Decided).len() as u32,
            g.current.decided,
            "{}",
            g.key
        );
        assert_eq!(
            ids(&g.key, Metric::Open).len() as u32,
            g.backlog.open,
            "{}",
            g.key
        );
    }
}

#[test]
fn per_person_only_on_request_and_small_groups_suppressed() {
    let r = reports::report(&history(), &query(true));
    let persons = r.persons.expect("switched on");
    // sb1 decided A and B; sb2 only C – fewer than the minimum, left out.
    assert_eq!(persons.len(), 1);
    assert_eq!((persons[0].person.as_str(), persons[0].decided), ("sb1", 2));
    assert_eq!(r.persons_suppressed, 1);
}

#[test]
fn csv_opens_in_excel_and_libreoffice() {
    let csv = reports::to_csv(&reports::report(&history(), &query(false)));
    assert!(csv.starts_with('\u{feff}'));
    assert!(csv.contains("2026-11-02 bis 2026-11-29;Alle Vorgänge;Durchlaufzeit Eingang–Entscheidung, Median (Tage);6,0;10,0\r\n"), "{csv}");
    assert!(csv.contains(";Alle Vorgänge;Offen, über 3 Monate;1;\r\n"));
    for line in csv.lines() {
        assert_eq!(line.matches(';').count(), 4, "{line}");
    }
}

#[test]
fn statistics_of_known_samples() {
    let s = Stats::of(vec![4.0, 1.0, 3.0, 2.0]);
    assert_eq!(s.count, 4);
    assert!(close(s.median_days, 2.5) && close(s.p90_days, 4.0) && close(s.mean_days, 2.5));
    assert_eq!(Stats::of(vec![]), Stats::default());
}

/// § 42a Abs. 1 VwVfG: a permit deemed granted counts as decided on the day the
/// fiction is recorded and leaves the backlog; its certificate counts as dispatched.
#[test]
fn a_deemed_permit_counts_as_a_decision() {
    let q = query(false);
    let deemed = case(
        "M",
        "Erlaubnis als Immobilienmakler",
        Channel::Online,
        date(2026, 8, 3),
        Some(date(2026, 11, 3)),
        vec![
            ev(date(2026, 8, 4), "pruefung_beginnen", "in_pruefung", "sb1"),
            ev(date(2026, 8, 5), "vollstaendig", "in_bearbeitung", "sb1"),
            ev(
                date(2026, 11, 5),
                "fiktion_feststellen",
                "gilt_als_erteilt",
                "sb1",
            ),
            ev(date(2026, 11, 9), "versenden", "versandt", "sb1"),
        ],
    );
    let r = reports::report(std::slice::from_ref(&deemed), &q);
    let c = &r.total.current;
    assert_eq!((c.decided, c.dispatched), (1, 1));
    assert!(close(c.arrival_to_decision.median_days, 94.0));
    assert_eq!(r.total.backlog.open, 0);
    assert_eq!(
        reports::cases(std::slice::from_ref(&deemed), &q, "alle", Metric::Decided),
        ["M"]
    );
}

proptest::proptest! {
    /// Median and 90th percentile by selection equal those of the sorted values
    /// (nearest rank; the mean of the two middle ones for an even count), repeated
    /// values and odd and even counts included.
    #[test]
    fn statistics_by_selection_equal_those_of_the_sorted_values(
        days in proptest::collection::vec(0u16..400, 1..300)
    ) {
        let days: Vec<f64> = days.into_iter().map(|d| f64::from(d) / 4.0).collect();
        let mut sorted = days.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        let p90 = sorted[((0.9 * n as f64).ceil() as usize).clamp(1, n) - 1];
        let s = Stats::of(days);
        proptest::prop_assert_eq!(s.count as usize, n);
        proptest::prop_assert_eq!(s.median_days, Some(median));
        proptest::prop_assert_eq!(s.p90_days, Some(p90));
    }
}
