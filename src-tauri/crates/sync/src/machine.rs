//! The sans-IO sync core: a pure state machine. It is fed [`Input`]s (the start of a
//! run with the current time, answers of the portal, results of store operations) and
//! answers each with one [`Effect`] (a portal call, a store operation, or the end of
//! the run). It never touches the network, the disk or the clock itself, so the same
//! code runs in the workstation (driven by tokio, see `engine`) and in the
//! deterministic simulation (driven by a seeded schedule against the real store).
//!
//! The rules that make the effect exactly-once:
//! * pickup: a submission is stored (case, documents, audit and its accept item in one
//!   store transaction) before anything is said to the portal; the accept is an
//!   outbox item like every other effect;
//! * the outbox: an item is marked done only after the portal confirmed it; an id the
//!   portal assigned (a reply's submission id) is written down before the next step,
//!   so a retry resumes; a 409 on a step that may have succeeded unseen is resolved
//!   by looking into the case's signed event log instead of sending again;
//! * one item per ordering key at a time, in order; a failing item holds back only
//!   its own case.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use fitconnect::client::ClientError;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use store::{IncomingSubmission, OutboxItem, QuarantinedSubmission, Stored, SubmissionState};
use uuid::Uuid;

use crate::core::{Backoff, Connectivity, ConnectivityTracker, Failure, Outcome, after_error};

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct PushPolicy {
    pub backoff: Backoff,
    /// Attempts after which an item with a permanent error stops (shown to the admin).
    pub max_attempts: u32,
    /// Outbox items loaded at a time.
    pub batch: u32,
}

impl Default for PushPolicy {
    fn default() -> Self {
        PushPolicy {
            backoff: Backoff::default(),
            max_attempts: 8,
            batch: 100,
        }
    }
}

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pickup, then delivery.
    Full,
    PullOnly,
    PushOnly,
}

/// A submission the portal lists for pickup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub submission_id: Uuid,
    pub case_id: Uuid,
}

/// A fetched and checked submission (the driver fetches, verifies and decrypts).
#[derive(Debug, Clone)]
pub enum Fetched {
    Valid(Box<IncomingSubmission>),
    Invalid(Box<QuarantinedSubmission>),
}

/// Which step of an outbox item a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send it (or, for an item with a remote id, complete it).
    Send,
    /// Look into the case's event log whether an earlier attempt took effect.
    Confirm,
}

/// A call to the portal.
#[derive(Debug, Clone)]
pub enum Call {
    List,
    Fetch(Listed),
    Deliver { item: OutboxItem, step: Step },
}

/// What the portal answered.
#[derive(Debug, Clone)]
pub enum Answer {
    Listed(Vec<Listed>),
    Fetched(Fetched),
    /// The step went through.
    Delivered,
    /// A first step obtained this remote id (e.g. a reply's submission id); the item
    /// is not finished yet.
    Created(String),
    /// Result of [`Step::Confirm`]: was our earlier attempt recorded by the portal?
    Confirmed(bool),
}

/// A store operation.
#[derive(Debug, Clone)]
pub enum StoreOp {
    /// States of these submissions (None: never seen).
    Lookup(Vec<Uuid>),
    StoreSubmission(Box<IncomingSubmission>),
    Quarantine(Box<QuarantinedSubmission>),
    LoadDue {
        now: String,
        limit: u32,
    },
    RemoteId {
        id: i64,
        remote_id: String,
    },
    Done {
        id: i64,
    },
    Retry {
        id: i64,
        error: String,
        next_attempt_at: String,
    },
    Failed {
        id: i64,
        error: String,
    },
}

/// Result of a store operation.
#[derive(Debug, Clone)]
pub enum StoreResult {
    Known(Vec<Option<SubmissionState>>),
    Stored(Stored),
    Quarantined(bool),
    Due(Vec<OutboxItem>),
    Written,
}

#[derive(Debug, Clone)]
pub enum Input {
    Start { now: jiff::Timestamp },
    Portal(Result<Answer, ClientError>),
    Store(StoreResult),
}

#[derive(Debug, Clone)]
pub enum Effect {
    Call(Call),
    Store(StoreOp),
    Finished(RunReport),
}

/// What a run did (no personal data).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub listed: usize,
    pub new_cases: usize,
    pub follow_ups: usize,
    pub quarantined: usize,
    pub already_known: usize,
    pub vanished: usize,
    /// Left for the next run after a transient failure.
    pub deferred: usize,
    pub delivered: usize,
    pub confirmed_by_log: usize,
    pub retries: usize,
    pub failed: usize,
    /// Why the run stopped early (German), if it did.
    pub problem: Option<String>,
    /// The portal asked to wait this long (`Retry-After`).
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

/// Where a run stands, for a progress display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// "abholen" or "senden"; empty when idle.
    pub phase: &'static str,
    pub done: usize,
    pub total: usize,
}

#[derive(Debug)]
enum State {
    Idle,
    Listing,
    LookingUp(Vec<Listed>),
    Fetching,
    Storing,
    LoadingDue,
    Delivering(OutboxItem, Step),
    /// An outbox write after an attempt; then the next item.
    Recording,
    /// The remote id of an item is being written; then its next step.
    RecordingRemote(OutboxItem),
    Finished,
}

/// The sync state machine for one run. Create one per run (or reuse: a finished
/// machine starts over with the next [`Input::Start`]).
pub struct Machine {
    mode: Mode,
    policy: PushPolicy,
    rng: SmallRng,
    tracker: ConnectivityTracker,
    state: State,
    now: jiff::Timestamp,
    report: RunReport,
    to_fetch: VecDeque<Listed>,
    batch: VecDeque<OutboxItem>,
    attempted: HashSet<i64>,
    progress: Progress,
    /// The portal became unreachable: end the run after the current write.
    stop_after_record: bool,
}

fn time_after(now: jiff::Timestamp, delay: Duration) -> String {
    let d = jiff::SignedDuration::try_from(delay).unwrap_or(jiff::SignedDuration::ZERO);
    now.checked_add(d).unwrap_or(now).to_string()
}

/// Kinds whose sending may have taken effect unseen, so that a 409 asks the event log.
fn confirmable(item: &OutboxItem) -> bool {
    match item.kind.as_str() {
        "accept" | "reject" => true,
        "reply" | "bundid" => item.remote_id.is_some(),
        _ => false,
    }
}

impl Machine {
    /// `seed` drives the jitter (random in the workstation, fixed in simulations).
    pub fn new(mode: Mode, policy: PushPolicy, seed: u64) -> Machine {
        Machine {
            mode,
            policy,
            rng: SmallRng::seed_from_u64(seed),
            tracker: ConnectivityTracker::default(),
            state: State::Idle,
            now: jiff::Timestamp::UNIX_EPOCH,
            report: RunReport::default(),
            to_fetch: VecDeque::new(),
            batch: VecDeque::new(),
            attempted: HashSet::new(),
            progress: Progress::default(),
            stop_after_record: false,
        }
    }

    pub fn connectivity(&self) -> Connectivity {
        self.tracker.state()
    }

    /// A machine with a random jitter seed (the workstation).
    pub fn randomly_seeded(mode: Mode, policy: PushPolicy) -> Machine {
        Machine::new(mode, policy, rand::random())
    }

    /// Carry the connectivity over from earlier runs.
    pub fn set_tracker(&mut self, tracker: ConnectivityTracker) {
        self.tracker = tracker;
    }

    pub fn tracker(&self) -> &ConnectivityTracker {
        &self.tracker
    }

    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// The submissions this run will ask to fetch after the current one, in order:
    /// a driver may fetch and open them ahead (the answers still come in this order).
    pub fn upcoming(&self) -> impl Iterator<Item = &Listed> {
        self.to_fetch.iter()
    }

    /// Feed one input, get the next effect.
    pub fn handle(&mut self, input: Input) -> Effect {
        let state = std::mem::replace(&mut self.state, State::Finished);
        match (state, input) {
            (State::Idle | State::Finished, Input::Start { now }) => {
                self.now = now;
                self.report = RunReport::default();
                self.to_fetch.clear();
                self.batch.clear();
                self.attempted.clear();
                self.stop_after_record = false;
                if self.mode == Mode::PushOnly {
                    self.load_due()
                } else {
                    self.progress = Progress {
                        phase: "abholen",
                        done: 0,
                        total: 0,
                    };
                    self.state = State::Listing;
                    Effect::Call(Call::List)
                }
            }
            (State::Listing, Input::Portal(Ok(Answer::Listed(list)))) => {
                self.tracker.success(self.now);
                self.report.listed = list.len();
                let ids = list.iter().map(|l| l.submission_id).collect();
                self.state = State::LookingUp(list);
                Effect::Store(StoreOp::Lookup(ids))
            }
            (State::Listing, Input::Portal(Err(e))) => {
                self.tracker.failure(Failure::of(&e));
                if self.mode == Mode::Full && !self.must_stop(&e) {
                    // A server error on the list: deliveries may still work.
                    self.report.problem = Some(e.to_string());
                    self.report.retry_after = e.retry_after();
                    return self.load_due();
                }
                self.stop(&e)
            }
            (State::LookingUp(list), Input::Store(StoreResult::Known(states))) => {
                for (l, st) in list.into_iter().zip(states) {
                    if st.is_some() {
                        self.report.already_known += 1;
                    } else {
                        self.to_fetch.push_back(l);
                    }
                }
                self.progress.total = self.to_fetch.len();
                self.next_fetch()
            }
            (State::Fetching, Input::Portal(Ok(Answer::Fetched(f)))) => {
                self.tracker.success(self.now);
                self.state = State::Storing;
                match f {
                    Fetched::Valid(s) => Effect::Store(StoreOp::StoreSubmission(s)),
                    Fetched::Invalid(q) => Effect::Store(StoreOp::Quarantine(q)),
                }
            }
            (State::Fetching, Input::Portal(Err(e))) => {
                self.progress.done += 1;
                if e.status() == Some(404) {
                    // Gone in between (accepted elsewhere, deleted): nothing to do.
                    self.report.vanished += 1;
                    return self.next_fetch();
                }
                self.tracker.failure(Failure::of(&e));
                if self.must_stop(&e) {
                    return self.stop(&e);
                }
                self.report.deferred += 1;
                self.next_fetch()
            }
            (State::Storing, Input::Store(r)) => {
                self.progress.done += 1;
                match r {
                    StoreResult::Stored(Stored::NewCase { .. }) => self.report.new_cases += 1,
                    StoreResult::Stored(Stored::FollowUp { .. }) => self.report.follow_ups += 1,
                    StoreResult::Stored(Stored::AlreadyKnown(_)) => self.report.already_known += 1,
                    StoreResult::Quarantined(true) => self.report.quarantined += 1,
                    _ => {}
                }
                self.next_fetch()
            }
            (State::LoadingDue, Input::Store(StoreResult::Due(items))) => {
                let fresh: VecDeque<OutboxItem> = items
                    .into_iter()
                    .filter(|i| !self.attempted.contains(&i.id))
                    .collect();
                if fresh.is_empty() {
                    return self.finish();
                }
                self.progress.total += fresh.len();
                self.batch = fresh;
                self.next_item()
            }
            (State::Delivering(item, step), Input::Portal(answer)) => {
                self.delivered(item, step, answer)
            }
            (State::RecordingRemote(item), Input::Store(StoreResult::Written)) => {
                self.state = State::Delivering(item.clone(), Step::Send);
                Effect::Call(Call::Deliver {
                    item,
                    step: Step::Send,
                })
            }
            (State::Recording, Input::Store(StoreResult::Written)) => {
                if self.stop_after_record {
                    return self.finish();
                }
                self.next_item()
            }
            (state, input) => {
                // A driver that feeds something unexpected is a programming error; end
                // the run rather than guess (nothing is lost: the store is the truth).
                tracing::error!(?state, ?input, "Synchronisation: unerwartete Eingabe");
                self.report.problem = Some("Interner Ablauffehler der Synchronisation.".into());
                self.finish()
            }
        }
    }

    /// The portal is out of reach (several network failures in a row) or refuses
    /// the credentials: the rest waits for the next run. A single reset does not stop
    /// the run.
    fn must_stop(&self, e: &ClientError) -> bool {
        matches!(Failure::of(e), Failure::Auth)
            || matches!(
                self.tracker.state(),
                Connectivity::Offline | Connectivity::AnmeldungFehlerhaft
            )
    }

    /// Unreachable or login refused: the run ends once this item's retry is recorded
    /// (`retry` has said why); the remaining items wait for the next run.
    fn end_after_record(&mut self) {
        self.batch.clear();
        self.stop_after_record = true;
    }

    fn stop(&mut self, e: &ClientError) -> Effect {
        self.report.problem = Some(e.to_string());
        self.report.retry_after = e.retry_after();
        self.finish()
    }

    fn finish(&mut self) -> Effect {
        self.state = State::Finished;
        self.progress = Progress::default();
        Effect::Finished(self.report.clone())
    }

    fn next_fetch(&mut self) -> Effect {
        match self.to_fetch.pop_front() {
            Some(l) => {
                self.state = State::Fetching;
                Effect::Call(Call::Fetch(l))
            }
            None if self.mode == Mode::PullOnly => self.finish(),
            None => self.load_due(),
        }
    }

    fn load_due(&mut self) -> Effect {
        if self.progress.phase != "senden" {
            self.progress = Progress {
                phase: "senden",
                done: 0,
                total: 0,
            };
        }
        self.state = State::LoadingDue;
        Effect::Store(StoreOp::LoadDue {
            now: self.now.to_string(),
            limit: self.policy.batch,
        })
    }

    fn next_item(&mut self) -> Effect {
        match self.batch.pop_front() {
            Some(item) => {
                self.attempted.insert(item.id);
                self.state = State::Delivering(item.clone(), Step::Send);
                Effect::Call(Call::Deliver {
                    item,
                    step: Step::Send,
                })
            }
            // The next items of the cases just served may be due now.
            None => self.load_due(),
        }
    }

    fn record(&mut self, op: StoreOp) -> Effect {
        self.progress.done += 1;
        self.state = State::Recording;
        Effect::Store(op)
    }

    fn retry(&mut self, item: &OutboxItem, e: &ClientError, delay: Duration) -> Effect {
        self.report.retries += 1;
        // The run did not get everything through: say why (the status shows it).
        self.report.problem = Some(e.to_string());
        self.record(StoreOp::Retry {
            id: item.id,
            error: e.to_string(),
            next_attempt_at: time_after(self.now, delay),
        })
    }

    fn delivered(
        &mut self,
        item: OutboxItem,
        step: Step,
        answer: Result<Answer, ClientError>,
    ) -> Effect {
        match (step, answer) {
            (Step::Send, Ok(Answer::Delivered)) => {
                self.tracker.success(self.now);
                self.report.delivered += 1;
                self.record(StoreOp::Done { id: item.id })
            }
            (Step::Send, Ok(Answer::Created(remote_id))) => {
                self.tracker.success(self.now);
                let mut item = item;
                item.remote_id = Some(remote_id.clone());
                let id = item.id;
                self.state = State::RecordingRemote(item);
                Effect::Store(StoreOp::RemoteId { id, remote_id })
            }
            (Step::Confirm, Ok(Answer::Confirmed(true))) => {
                self.tracker.success(self.now);
                self.report.confirmed_by_log += 1;
                self.record(StoreOp::Done { id: item.id })
            }
            (Step::Confirm, Ok(Answer::Confirmed(false))) => {
                self.tracker.success(self.now);
                self.report.failed += 1;
                self.record(StoreOp::Failed {
                    id: item.id,
                    error: "Das Portal meldet einen anderen Abschluss dieses Auftrags.".into(),
                })
            }
            // The log shows the other side refused what we sent (e.g. the BundID
            // bridge's reject): final, with its reason – never marked done.
            (Step::Confirm, Err(ClientError::Refused(why))) => {
                self.tracker.success(self.now);
                self.report.failed += 1;
                self.record(StoreOp::Failed {
                    id: item.id,
                    error: format!("Zustellung abgelehnt: {why}"),
                })
            }
            (Step::Confirm, Err(e)) => {
                self.tracker.failure(Failure::of(&e));
                let unit: f64 = self.rng.random();
                let delay = self
                    .policy
                    .backoff
                    .delay(item.attempts, e.retry_after(), unit);
                let eff = self.retry(&item, &e, delay);
                if self.must_stop(&e) {
                    self.end_after_record();
                }
                eff
            }
            (Step::Send, Err(e)) => {
                self.tracker.failure(Failure::of(&e));
                let unit: f64 = self.rng.random();
                let outcome = if e.is_conflict() && confirmable(&item) {
                    Outcome::CheckEventLog
                } else {
                    after_error(
                        &e,
                        item.attempts,
                        self.policy.max_attempts,
                        &self.policy.backoff,
                        unit,
                    )
                };
                match outcome {
                    Outcome::CheckEventLog => {
                        self.state = State::Delivering(item.clone(), Step::Confirm);
                        Effect::Call(Call::Deliver {
                            item,
                            step: Step::Confirm,
                        })
                    }
                    Outcome::Retry(delay) => {
                        if let Some(ra) = e.retry_after() {
                            self.report.retry_after = Some(ra);
                        }
                        let eff = self.retry(&item, &e, delay);
                        if self.must_stop(&e) {
                            self.end_after_record();
                        }
                        eff
                    }
                    Outcome::Failed(msg) => {
                        self.report.failed += 1;
                        self.record(StoreOp::Failed {
                            id: item.id,
                            error: msg,
                        })
                    }
                    Outcome::Done => self.record(StoreOp::Done { id: item.id }),
                }
            }
            (step, Ok(other)) => {
                tracing::error!(?step, ?other, "Synchronisation: unpassende Antwort");
                self.report.failed += 1;
                self.record(StoreOp::Failed {
                    id: item.id,
                    error: "Unerwartete Antwort des Portals.".into(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> OutboxItem {
        OutboxItem {
            id: 7,
            idempotency_key: "bundid:b1".into(),
            kind: "bundid".into(),
            ordering_key: "bundid:c1".into(),
            payload: "{}".into(),
            attempts: 0,
            remote_id: Some("s/c".into()),
            state: "pending".into(),
            last_error: None,
            next_attempt_at: None,
        }
    }

    /// Deliver one item: a conflict on sending, then `confirm` from the event log.
    fn confirm_after_conflict(confirm: Result<Answer, ClientError>) -> Effect {
        let mut m = Machine::new(Mode::PushOnly, PushPolicy::default(), 1);
        let now = jiff::Timestamp::from_second(1_790_000_000).unwrap_or_default();
        assert!(matches!(
            m.handle(Input::Start { now }),
            Effect::Store(StoreOp::LoadDue { .. })
        ));
        let sent = m.handle(Input::Store(StoreResult::Due(vec![item()])));
        assert!(matches!(
            sent,
            Effect::Call(Call::Deliver {
                step: Step::Send,
                ..
            })
        ));
        let confirm_call = m.handle(Input::Portal(Err(ClientError::Http {
            status: 409,
            problem: None,
            retry_after: None,
        })));
        assert!(
            matches!(
                confirm_call,
                Effect::Call(Call::Deliver {
                    step: Step::Confirm,
                    ..
                })
            ),
            "{confirm_call:?}"
        );
        m.handle(Input::Portal(confirm))
    }

    #[test]
    fn a_refusal_found_in_the_log_fails_the_item_with_its_reason() {
        match confirm_after_conflict(Err(ClientError::Refused("Signatur falsch".into()))) {
            Effect::Store(StoreOp::Failed { id: 7, error }) => {
                assert!(error.contains("Signatur falsch"), "{error}")
            }
            other => panic!("not failed: {other:?}"),
        }
        assert!(matches!(
            confirm_after_conflict(Ok(Answer::Confirmed(true))),
            Effect::Store(StoreOp::Done { id: 7 })
        ));
    }
}
