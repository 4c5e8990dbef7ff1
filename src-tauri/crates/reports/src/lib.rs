//! Supervisor figures computed from the case event history (the `case_history` of
//! every case): Durchlaufzeit from arrival and from completeness to decision and to
//! dispatch, time per state with the time waiting for the citizen kept apart,
//! throughput per week, backlog by age, deadline risk, Nachforderungsquote – for all
//! cases, per case type and per channel, this period against the one before.
//!
//! Every figure is computed from one per-case classification ([`classify`]), and the
//! drill-down ([`cases`]) uses the same one, so the cases behind a number are exactly
//! the cases counted in it.
//!
//! Privacy by default: figures for the organisation only. Per-person figures exist only
//! when the caller asks for them (the configuration needs a Dienstvereinbarung), and
//! then groups of fewer than `min_group` cases are suppressed.
//!
//! Pure: no clock, no store – events in, figures out.

use domain::lifecycle::CaseState;
use std::borrow::Borrow;
use std::collections::BTreeMap;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use domain::Channel;

/// One entry of a case's history, reduced to what the figures need (kinds and states
/// as small codes, so a million events are read fast).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: Timestamp,
    kind: Kind,
    /// Index of the state the case entered (transitions only).
    to_state: Option<u8>,
    pub actor: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Vollstaendig,
    Versenden,
    Nachfordern,
    Other,
}

impl Event {
    /// From a history entry: its kind ("nachfordern", "vollstaendig", "versenden", …)
    /// and the state it entered, if it was a transition.
    pub fn new(
        at: Timestamp,
        kind: &str,
        to_state: Option<&str>,
        actor: impl Into<String>,
    ) -> Event {
        Event {
            at,
            kind: match kind {
                "vollstaendig" => Kind::Vollstaendig,
                "versenden" => Kind::Versenden,
                "nachfordern" => Kind::Nachfordern,
                _ => Kind::Other,
            },
            to_state: to_state.map(|s| state_index(s) as u8),
            actor: actor.into(),
        }
    }
}

/// A case as the figures need it. Events in the order they happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFacts {
    pub id: String,
    pub case_type: String,
    pub channel: Channel,
    pub received: Timestamp,
    /// The next deadline (statutory, else the service target) of a case still open
    /// today, as the casework computes it.
    pub due: Option<Date>,
    pub events: Vec<Event>,
}

/// What to compute.
#[derive(Debug, Clone)]
pub struct Query {
    /// First day of the period.
    pub from: Date,
    /// Day after the period.
    pub to: Date,
    pub today: Date,
    /// "Due soon": within this many days.
    pub risk_days: i64,
    pub tz: TimeZone,
    /// Per-person figures (only with a Dienstvereinbarung; see the module docs).
    pub per_person: bool,
    /// Smallest group shown in per-person figures.
    pub min_group: usize,
}

/// Median, 90th percentile and mean of a duration in days.
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Stats {
    pub count: u32,
    pub median_days: Option<f64>,
    pub p90_days: Option<f64>,
    pub mean_days: Option<f64>,
}

impl Stats {
    pub fn of(mut days: Vec<f64>) -> Stats {
        if days.is_empty() {
            return Stats::default();
        }
        let n = days.len();
        let mean = days.iter().sum::<f64>() / n as f64;
        // The values at given ranks by selection, not a full sort: `nth(i)` puts the
        // i-th smallest at i, smaller ones before it, larger ones after.
        let mut nth = |i: usize| *days.select_nth_unstable_by(i, f64::total_cmp).1;
        // Nearest rank: the smallest value with at least p % of the values at or below it.
        let p90 = nth(((0.9 * n as f64).ceil() as usize).clamp(1, n) - 1);
        let upper = nth(n / 2);
        let median = if n % 2 == 1 {
            upper
        } else {
            // The largest of the values before the upper middle one.
            let lower = days[..n / 2]
                .iter()
                .copied()
                .max_by(f64::total_cmp)
                .unwrap_or(upper);
            (lower + upper) / 2.0
        };
        Stats {
            count: n as u32,
            median_days: Some(median),
            p90_days: Some(p90),
            mean_days: Some(mean),
        }
    }
}

/// The figures of one group of cases in one period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Figures {
    pub arrivals: u32,
    pub decided: u32,
    pub dispatched: u32,
    pub decided_per_week: f64,
    /// Arrival → decision.
    pub arrival_to_decision: Stats,
    /// Arrival → dispatch.
    pub arrival_to_dispatch: Stats,
    /// Completeness → decision.
    pub complete_to_decision: Stats,
    /// Completeness → dispatch.
    pub complete_to_dispatch: Stats,
    /// Arrival → decision without the time waiting for the citizen.
    pub processing: Stats,
    /// Time waiting for the citizen (Nachforderung), per decided case.
    pub waiting_for_citizen: Stats,
    /// Mean days per state of the decided cases (state, days).
    pub days_per_state: Vec<(String, f64)>,
    /// Share of the decided cases with at least one Nachforderung (0–1).
    pub nachforderungsquote: Option<f64>,
    /// Mean number of Nachforderungen of the decided cases.
    pub nachforderungen_mean: Option<f64>,
}

/// Open cases by age at the end of the period, and the deadline risk today.
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Backlog {
    pub open: u32,
    /// < 1 week, 1–4 weeks, 1–3 months, > 3 months.
    pub by_age: [u32; 4],
    pub due_soon: u32,
    pub overdue: u32,
}

pub const AGE_LABELS: [&str; 4] = ["unter 1 Woche", "1–4 Wochen", "1–3 Monate", "über 3 Monate"];

/// A group: all cases, one case type or one channel.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Group {
    /// "alle", "typ:<case type>", "kanal:online" / "kanal:papier".
    pub key: String,
    pub label: String,
    pub current: Figures,
    pub previous: Figures,
    pub backlog: Backlog,
}

/// Decisions per week.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Week {
    /// Monday of the week, YYYY-MM-DD.
    pub start: String,
    pub decided: u32,
    pub arrivals: u32,
}

/// Decisions per person (only on request, small groups suppressed).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PersonRow {
    pub person: String,
    pub decided: u32,
    pub arrival_to_decision: Stats,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Report {
    pub from: String,
    /// Last day of the period.
    pub until: String,
    pub total: Group,
    pub by_type: Vec<Group>,
    pub by_channel: Vec<Group>,
    pub weeks: Vec<Week>,
    /// None unless per-person figures are switched on.
    pub persons: Option<Vec<PersonRow>>,
    /// People left out because they decided fewer than the minimum group.
    pub persons_suppressed: u32,
}

/// What a number counts, for the drill-down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum Metric {
    Arrivals,
    Decided,
    Dispatched,
    Nachgefordert,
    Open,
    Age0,
    Age1,
    Age2,
    Age3,
    DueSoon,
    Overdue,
}

/// The states time is counted in: every case state of [`CaseState::ALL`] (index =
/// position there), so a state added to the lifecycle counts on its own; the last
/// slot is for a state this version does not know (a store written by a newer
/// version), shown as "sonstige".
const STATES: usize = CaseState::ALL.len() + 1;
const OTHER: usize = CaseState::ALL.len();

const fn index_of(state: CaseState) -> usize {
    let mut i = 0;
    while i < CaseState::ALL.len() {
        if CaseState::ALL[i] as u8 == state as u8 {
            return i;
        }
        i += 1;
    }
    OTHER
}

const WAITING: usize = index_of(CaseState::Nachgefordert);
const DECIDED: usize = index_of(CaseState::Entschieden);
/// A permit deemed granted (§ 42a Abs. 1 VwVfG) counts as decided on that day.
const DEEMED: usize = index_of(CaseState::GiltAlsErteilt);

fn state_index(s: &str) -> usize {
    CaseState::parse(s).map_or(OTHER, index_of)
}

fn state_name(i: usize) -> &'static str {
    CaseState::ALL.get(i).map_or("sonstige", |c| c.as_str())
}

fn is_open(i: usize) -> bool {
    CaseState::ALL.get(i).is_some_and(|c| c.is_open())
}

fn days(a: Timestamp, b: Timestamp) -> f64 {
    (b.as_second() - a.as_second()) as f64 / 86_400.0
}

/// What one case contributes to the figures of one period.
#[derive(Debug, Clone, Default)]
pub struct Classified {
    pub arrived: bool,
    /// Decided in the period (the last decision before its end): when, and the
    /// position of the deciding event in the case's events.
    pub decision: Option<(Timestamp, usize)>,
    pub dispatched: Option<Timestamp>,
    pub complete: Option<Timestamp>,
    /// Waiting for the citizen, before the decision (days).
    pub waiting: f64,
    pub waiting_after_complete: f64,
    /// Days per state (index into the state list) until the decision.
    pub per_state: [f64; STATES],
    pub nachforderungen: u32,
    /// Not decided at the end of the period: age in days then.
    pub open_age: Option<f64>,
}

fn start_of(d: Date, tz: &TimeZone) -> Timestamp {
    d.to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::MIN)
}

/// Classify a case for the period [from, to).
pub fn classify(c: &CaseFacts, from: Timestamp, to: Timestamp) -> Classified {
    let mut out = Classified {
        arrived: c.received >= from && c.received < to,
        ..Classified::default()
    };
    if c.received >= to {
        return out;
    }
    // Replay the states up to the end of the period.
    let mut state = 0usize;
    let mut since = c.received;
    let mut per_state = [0.0; STATES];
    let mut waiting = 0.0;
    let mut waiting_after_complete = 0.0;
    let mut complete: Option<Timestamp> = None;
    let mut decided: Option<(Timestamp, usize)> = None;
    let mut dispatched: Option<Timestamp> = None;
    let mut requests = 0;
    for (i, e) in c.events.iter().enumerate().take_while(|(_, e)| e.at < to) {
        if e.kind == Kind::Vollstaendig && complete.is_none() {
            complete = Some(e.at);
        }
        if e.kind == Kind::Versenden {
            dispatched = Some(e.at);
        }
        let Some(next) = e.to_state else { continue };
        let next = usize::from(next);
        if decided.is_none() {
            let d = days(since, e.at);
            per_state[state] += d;
            if state == WAITING {
                waiting += d;
                if complete.is_some_and(|c| c <= since) {
                    waiting_after_complete += d;
                }
            }
            if e.kind == Kind::Nachfordern {
                requests += 1;
            }
        }
        if next == DECIDED || next == DEEMED {
            decided = Some((e.at, i));
        } else if is_open(next) && decided.is_some() {
            // Reopened: the earlier decision no longer counts.
            decided = None;
            dispatched = None;
        }
        state = next;
        since = e.at;
    }
    if let Some((at, i)) = decided
        && at >= from
    {
        out.decision = Some((at, i));
        out.dispatched = dispatched.filter(|d| *d >= from);
        out.complete = complete;
        out.waiting = waiting;
        out.waiting_after_complete = waiting_after_complete;
        out.per_state = per_state;
        out.nachforderungen = requests;
    } else if let Some(d) = dispatched.filter(|d| *d >= from && decided.is_some()) {
        // Decided in an earlier period, dispatched in this one.
        out.dispatched = Some(d);
    }
    if decided.is_none() && is_open(state) {
        out.open_age = Some(days(c.received, to));
    }
    out
}

fn age_bucket(age_days: f64) -> usize {
    if age_days < 7.0 {
        0
    } else if age_days < 28.0 {
        1
    } else if age_days < 91.0 {
        2
    } else {
        3
    }
}

/// Does the case count in `metric` (current period)? The drill-down's rule.
pub fn counts_in(c: &CaseFacts, k: &Classified, metric: Metric, q: &Query) -> bool {
    counts_in_until(c, k, metric, q, due_soon_until(q))
}

/// The last day that counts as "due soon".
fn due_soon_until(q: &Query) -> Date {
    q.today.checked_add(q.risk_days.days()).unwrap_or(q.today)
}

fn counts_in_until(c: &CaseFacts, k: &Classified, metric: Metric, q: &Query, soon: Date) -> bool {
    let open_today = k.open_age.is_some();
    match metric {
        Metric::Arrivals => k.arrived,
        Metric::Decided => k.decision.is_some(),
        Metric::Dispatched => k.dispatched.is_some(),
        Metric::Nachgefordert => k.decision.is_some() && k.nachforderungen > 0,
        Metric::Open => open_today,
        Metric::Age0 | Metric::Age1 | Metric::Age2 | Metric::Age3 => {
            let want = match metric {
                Metric::Age0 => 0,
                Metric::Age1 => 1,
                Metric::Age2 => 2,
                _ => 3,
            };
            k.open_age.is_some_and(|a| age_bucket(a) == want)
        }
        Metric::DueSoon => open_today && c.due.is_some_and(|d| d >= q.today && d <= soon),
        Metric::Overdue => open_today && c.due.is_some_and(|d| d < q.today),
    }
}

/// The figures of one group in one period, gathered case by case (nothing of the
/// cases is kept but the durations the statistics need).
#[derive(Default)]
struct FiguresAcc {
    arrivals: u32,
    dispatched: u32,
    arrival_to_decision: Vec<f64>,
    arrival_to_dispatch: Vec<f64>,
    complete_to_decision: Vec<f64>,
    complete_to_dispatch: Vec<f64>,
    processing: Vec<f64>,
    waiting: Vec<f64>,
    per_state: [f64; STATES],
    with_requests: u32,
    requests: u64,
}

impl FiguresAcc {
    fn add(&mut self, c: &CaseFacts, k: &Classified) {
        self.arrivals += u32::from(k.arrived);
        self.dispatched += u32::from(k.dispatched.is_some());
        let Some((at, _)) = k.decision else { return };
        self.arrival_to_decision.push(days(c.received, at));
        if let Some(d) = k.dispatched {
            self.arrival_to_dispatch.push(days(c.received, d));
        }
        if let Some(done) = k.complete {
            self.complete_to_decision
                .push(days(done, at) - k.waiting_after_complete);
            if let Some(d) = k.dispatched {
                self.complete_to_dispatch
                    .push(days(done, d) - k.waiting_after_complete);
            }
        }
        self.processing.push(days(c.received, at) - k.waiting);
        self.waiting.push(k.waiting);
        for (sum, d) in self.per_state.iter_mut().zip(k.per_state) {
            *sum += d;
        }
        self.with_requests += u32::from(k.nachforderungen > 0);
        self.requests += u64::from(k.nachforderungen);
    }

    fn finish(self, weeks: f64) -> Figures {
        let n = self.arrival_to_decision.len();
        let per_case = |x: f64| (n > 0).then(|| x / n as f64);
        Figures {
            arrivals: self.arrivals,
            decided: n as u32,
            dispatched: self.dispatched,
            decided_per_week: if weeks > 0.0 { n as f64 / weeks } else { 0.0 },
            arrival_to_decision: Stats::of(self.arrival_to_decision),
            arrival_to_dispatch: Stats::of(self.arrival_to_dispatch),
            complete_to_decision: Stats::of(self.complete_to_decision),
            complete_to_dispatch: Stats::of(self.complete_to_dispatch),
            processing: Stats::of(self.processing),
            waiting_for_citizen: Stats::of(self.waiting),
            days_per_state: (0..STATES)
                .map(state_name)
                .zip(self.per_state)
                .filter(|(_, d)| *d > 0.0)
                .map(|(s, d)| (s.to_owned(), per_case(d).unwrap_or(0.0)))
                .collect(),
            nachforderungsquote: per_case(f64::from(self.with_requests)),
            nachforderungen_mean: per_case(self.requests as f64),
        }
    }
}

impl Backlog {
    fn add(&mut self, c: &CaseFacts, k: &Classified, q: &Query, soon: Date) {
        if let Some(age) = k.open_age {
            self.open += 1;
            self.by_age[age_bucket(age)] += 1;
        }
        if counts_in_until(c, k, Metric::DueSoon, q, soon) {
            self.due_soon += 1;
        }
        if counts_in_until(c, k, Metric::Overdue, q, soon) {
            self.overdue += 1;
        }
    }
}

/// The previous period of the same length.
fn previous(q: &Query) -> (Date, Date) {
    let len = (q.to - q.from).get_days();
    (q.from.checked_sub(len.days()).unwrap_or(q.from), q.from)
}

/// Does a case belong to the group `key`?
pub fn in_group(c: &CaseFacts, key: &str) -> bool {
    match key.split_once(':') {
        None => key == "alle",
        Some(("typ", t)) => c.case_type == t,
        Some(("kanal", ch)) => c.channel.label().eq_ignore_ascii_case(ch),
        _ => false,
    }
}

/// The report for a period.
pub fn report<C: Borrow<CaseFacts> + Sync>(all: &[C], q: &Query) -> Report {
    let all: Vec<&CaseFacts> = all.iter().map(Borrow::borrow).collect();
    let (from, to) = (start_of(q.from, &q.tz), start_of(q.to, &q.tz));
    let (pf, pt) = previous(q);
    let (pfrom, pto) = (start_of(pf, &q.tz), start_of(pt, &q.tz));
    let weeks = (q.to - q.from).get_days() as f64 / 7.0;

    // Each case's groups, worked out once: all, its case type, its channel. Case
    // types are numbered as met, then put in name order.
    let mut met: BTreeMap<&str, usize> = BTreeMap::new();
    let first_met: Vec<usize> = all
        .iter()
        .map(|c| {
            let next = met.len();
            *met.entry(c.case_type.as_str()).or_insert(next)
        })
        .collect();
    let types: Vec<&str> = met.keys().copied().collect();
    let mut rank = vec![0; types.len()];
    for (sorted, m) in met.values().enumerate() {
        rank[*m] = sorted;
    }
    let channels = [Channel::Online, Channel::Papier];
    // Buckets: 0 = all, 1..=types = case types, then the channels.
    let buckets = 1 + types.len() + channels.len();
    let bucket_of = |i: usize| {
        let ch = channels
            .iter()
            // `channels` lists every channel: always found.
            .position(|ch| *ch == all[i].channel)
            .unwrap_or(0);
        [0, 1 + rank[first_met[i]], 1 + types.len() + ch]
    };

    // Weeks from the Monday on or before the first day.
    let mut week_rows = Vec::new();
    let mut monday = q.from;
    while monday.weekday() != Weekday::Monday {
        monday = monday.yesterday().unwrap_or(monday);
    }
    let mut index: BTreeMap<Date, usize> = BTreeMap::new();
    while monday < q.to {
        index.insert(monday, week_rows.len());
        week_rows.push(Week {
            start: monday.to_string(),
            decided: 0,
            arrivals: 0,
        });
        monday = monday.checked_add(7.days()).unwrap_or(q.to);
    }
    let week_of = |t: Timestamp| {
        let d = t.to_zoned(q.tz.clone()).date();
        let back = i64::from(d.weekday().to_monday_zero_offset());
        d.checked_sub(back.days())
            .ok()
            .and_then(|m| index.get(&m).copied())
    };

    // Every case classified once per period and added to its groups at once; the
    // two periods side by side (a workstation has at least two cores).
    let period_before = || {
        let mut acc: Vec<FiguresAcc> = (0..buckets).map(|_| FiguresAcc::default()).collect();
        for (i, c) in all.iter().enumerate() {
            let k = classify(c, pfrom, pto);
            for b in bucket_of(i) {
                acc[b].add(c, &k);
            }
        }
        acc
    };
    let soon = due_soon_until(q);
    let period_now = |week_rows: &mut Vec<Week>| {
        let mut acc: Vec<FiguresAcc> = (0..buckets).map(|_| FiguresAcc::default()).collect();
        let mut backlog = vec![Backlog::default(); buckets];
        let mut by_person: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for (i, c) in all.iter().enumerate() {
            let k = classify(c, from, to);
            for b in bucket_of(i) {
                acc[b].add(c, &k);
                backlog[b].add(c, &k, q, soon);
            }
            if let Some((at, e)) = k.decision {
                if let Some(w) = week_of(at) {
                    week_rows[w].decided += 1;
                }
                if q.per_person
                    && let Some(e) = c.events.get(e)
                {
                    by_person
                        .entry(e.actor.as_str())
                        .or_default()
                        .push(days(c.received, at));
                }
            }
            if k.arrived
                && let Some(w) = week_of(c.received)
            {
                week_rows[w].arrivals += 1;
            }
        }
        (acc, backlog, by_person)
    };
    let ((current, backlog, by_person), before) = std::thread::scope(|s| {
        let before = s.spawn(period_before);
        let now = period_now(&mut week_rows);
        let before = before.join().unwrap_or_else(|_| period_before());
        (now, before)
    });

    let (persons, persons_suppressed) = if q.per_person {
        let mut rows = Vec::new();
        let mut suppressed = 0;
        for (person, d) in by_person {
            if d.len() < q.min_group {
                suppressed += 1;
                continue;
            }
            rows.push(PersonRow {
                person: person.to_owned(),
                decided: d.len() as u32,
                arrival_to_decision: Stats::of(d),
            });
        }
        (Some(rows), suppressed)
    } else {
        (None, 0)
    };

    let mut groups: Vec<Group> = current
        .into_iter()
        .zip(before)
        .zip(backlog)
        .enumerate()
        .map(|(b, ((cur, prev), backlog))| {
            let (key, label) = if b == 0 {
                ("alle".to_owned(), "Alle Vorgänge".to_owned())
            } else if let Some(t) = types.get(b - 1) {
                (format!("typ:{t}"), (*t).to_owned())
            } else {
                let ch = channels[(b - 1 - types.len()).min(channels.len() - 1)];
                (
                    format!("kanal:{}", ch.label().to_lowercase()),
                    ch.label().to_owned(),
                )
            };
            Group {
                current: cur.finish(weeks),
                previous: prev.finish(weeks),
                backlog,
                key,
                label,
            }
        })
        .collect();
    let by_channel = groups.split_off(1 + types.len());
    let by_type = groups.split_off(1);
    let total = groups.pop().unwrap_or_else(|| Group {
        key: "alle".into(),
        label: "Alle Vorgänge".into(),
        current: Figures::default(),
        previous: Figures::default(),
        backlog: Backlog::default(),
    });

    Report {
        from: q.from.to_string(),
        until: q.to.yesterday().unwrap_or(q.to).to_string(),
        total,
        by_type,
        by_channel,
        weeks: week_rows,
        persons,
        persons_suppressed,
    }
}

/// The cases behind a number: group key and metric of the current period.
pub fn cases<C: Borrow<CaseFacts>>(
    all: &[C],
    q: &Query,
    group: &str,
    metric: Metric,
) -> Vec<String> {
    let (from, to) = (start_of(q.from, &q.tz), start_of(q.to, &q.tz));
    all.iter()
        .map(Borrow::borrow)
        .filter(|c| in_group(c, group))
        .filter(|c| counts_in(c, &classify(c, from, to), metric, q))
        .map(|c| c.id.clone())
        .collect()
}

/// The report as CSV for Excel and LibreOffice: UTF-8 with BOM, semicolons, German
/// decimal commas, one line per group and figure.
pub fn to_csv(r: &Report) -> String {
    let num = |v: Option<f64>| {
        // No value (no cases): an empty CSV cell.
        v.map(|x| format!("{x:.1}").replace('.', ","))
            .unwrap_or_default()
    };
    let field = |s: &str| {
        if s.contains([';', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let mut out = String::from("\u{feff}Zeitraum;Gruppe;Kennzahl;Wert;Vorperiode\r\n");
    let period = format!("{} bis {}", r.from, r.until);
    let mut line = |g: &str, k: &str, v: String, p: String| {
        out.push_str(&format!(
            "{};{};{};{};{}\r\n",
            field(&period),
            field(g),
            field(k),
            v,
            p
        ));
    };
    for g in std::iter::once(&r.total)
        .chain(&r.by_type)
        .chain(&r.by_channel)
    {
        let (c, p) = (&g.current, &g.previous);
        line(
            &g.label,
            "Eingänge",
            c.arrivals.to_string(),
            p.arrivals.to_string(),
        );
        line(
            &g.label,
            "Entschieden",
            c.decided.to_string(),
            p.decided.to_string(),
        );
        line(
            &g.label,
            "Versandt",
            c.dispatched.to_string(),
            p.dispatched.to_string(),
        );
        line(
            &g.label,
            "Entscheidungen je Woche",
            num(Some(c.decided_per_week)),
            num(Some(p.decided_per_week)),
        );
        for (name, s, ps) in [
            (
                "Durchlaufzeit Eingang–Entscheidung",
                &c.arrival_to_decision,
                &p.arrival_to_decision,
            ),
            (
                "Durchlaufzeit Eingang–Versand",
                &c.arrival_to_dispatch,
                &p.arrival_to_dispatch,
            ),
            (
                "Vollständigkeit–Entscheidung",
                &c.complete_to_decision,
                &p.complete_to_decision,
            ),
            (
                "Bearbeitungszeit ohne Wartezeit",
                &c.processing,
                &p.processing,
            ),
            (
                "Wartezeit auf Bürger",
                &c.waiting_for_citizen,
                &p.waiting_for_citizen,
            ),
        ] {
            line(
                &g.label,
                &format!("{name}, Median (Tage)"),
                num(s.median_days),
                num(ps.median_days),
            );
            line(
                &g.label,
                &format!("{name}, P90 (Tage)"),
                num(s.p90_days),
                num(ps.p90_days),
            );
            line(
                &g.label,
                &format!("{name}, Mittel (Tage)"),
                num(s.mean_days),
                num(ps.mean_days),
            );
        }
        line(
            &g.label,
            "Nachforderungsquote (%)",
            num(c.nachforderungsquote.map(|x| x * 100.0)),
            num(p.nachforderungsquote.map(|x| x * 100.0)),
        );
        line(
            &g.label,
            "Offen am Periodenende",
            g.backlog.open.to_string(),
            String::new(),
        );
        for (i, label) in AGE_LABELS.iter().enumerate() {
            line(
                &g.label,
                &format!("Offen, {label}"),
                g.backlog.by_age[i].to_string(),
                String::new(),
            );
        }
        line(
            &g.label,
            "Frist bald fällig",
            g.backlog.due_soon.to_string(),
            String::new(),
        );
        line(
            &g.label,
            "Frist überschritten",
            g.backlog.overdue.to_string(),
            String::new(),
        );
    }
    out
}
