//! The pure decisions of the sync engine (no I/O): backoff, connectivity state and
//! what to do with the answer to an outbox delivery. Driven by `engine`.

use std::time::Duration;

use serde::Serialize;

/// Exponential backoff with full jitter: attempt `n` waits a random time in
/// `[0, min(cap, base·2^n)]`, but never less than the server's `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(15 * 60),
        }
    }
}

impl Backoff {
    /// `unit` in [0, 1) is the jitter draw (from a seeded RNG in simulations).
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX));
        let ceiling = exp.min(self.cap);
        let jittered = ceiling.mul_f64(unit.clamp(0.0, 1.0));
        jittered
            .max(retry_after.unwrap_or(Duration::ZERO))
            .min(self.cap.max(retry_after.unwrap_or(Duration::ZERO)))
    }
}

/// When the scheduler runs next: after a good run the poll interval; after failed
/// runs in a row an exponential backoff with jitter (from `base`, at most the poll
/// interval), never sooner than the portal's `Retry-After`.
pub fn next_run(
    poll: Duration,
    failed_runs: u32,
    retry_after: Option<Duration>,
    unit: f64,
) -> Duration {
    if failed_runs == 0 {
        return poll.max(retry_after.unwrap_or(Duration::ZERO));
    }
    let backoff = Backoff {
        base: Duration::from_secs(10).min(poll),
        cap: poll,
    };
    // At least a second: a jitter draw near zero must not make a busy loop.
    backoff
        .delay(failed_runs, retry_after, unit)
        .max(Duration::from_secs(1))
}

/// What the status indicator shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Connectivity {
    Online,
    /// Some calls fail (server errors, overload), others work.
    Gestoert,
    /// Several calls in a row could not reach the portal.
    Offline,
    /// The portal refuses the credentials: only the administration can fix this.
    AnmeldungFehlerhaft,
}

impl Connectivity {
    pub fn label(self) -> &'static str {
        match self {
            Connectivity::Online => "online",
            Connectivity::Gestoert => "gestört",
            Connectivity::Offline => "offline",
            Connectivity::AnmeldungFehlerhaft => "Anmeldung fehlerhaft",
        }
    }
}

/// Kinds of failure as the connectivity tracker sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Network,
    Server,
    Auth,
    Permanent,
}

impl Failure {
    pub fn of(e: &fitconnect::client::ClientError) -> Failure {
        use fitconnect::client::ClientError;
        match e {
            ClientError::Network(_) | ClientError::Decode(_) => Failure::Network,
            ClientError::Auth(_) => Failure::Auth,
            ClientError::Http { status, .. } if *status == 401 || *status == 403 => Failure::Auth,
            e if e.is_retryable() => Failure::Server,
            _ => Failure::Permanent,
        }
    }
}

/// Tracks the connectivity from the outcomes of calls.
#[derive(Debug, Clone, Default)]
pub struct ConnectivityTracker {
    consecutive_network: u32,
    consecutive_server: u32,
    auth_failed: bool,
    pub last_success: Option<jiff::Timestamp>,
}

/// Network failures in a row after which the portal counts as unreachable.
pub const OFFLINE_AFTER: u32 = 3;

impl ConnectivityTracker {
    pub fn success(&mut self, now: jiff::Timestamp) {
        self.consecutive_network = 0;
        self.consecutive_server = 0;
        self.auth_failed = false;
        self.last_success = Some(now);
    }

    pub fn failure(&mut self, f: Failure) {
        match f {
            Failure::Network => self.consecutive_network += 1,
            Failure::Server => self.consecutive_server += 1,
            Failure::Auth => self.auth_failed = true,
            Failure::Permanent => {}
        }
    }

    pub fn state(&self) -> Connectivity {
        if self.auth_failed {
            Connectivity::AnmeldungFehlerhaft
        } else if self.consecutive_network >= OFFLINE_AFTER {
            Connectivity::Offline
        } else if self.consecutive_network > 0 || self.consecutive_server > 0 {
            Connectivity::Gestoert
        } else {
            Connectivity::Online
        }
    }
}

/// What to do with an outbox item after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered.
    Done,
    /// The portal says the step was already made (409 / 422 invalid-state where an
    /// earlier attempt may have worked unseen): look
    /// into the event log whether it was ours.
    CheckEventLog,
    /// Try again after this delay.
    Retry(Duration),
    /// Stop; the administration has to look at it.
    Failed(String),
}

/// Decide about an attempt that failed with `e` after `attempts` earlier attempts.
/// (Whether a conflict is looked up in the event log first is the machine's call.)
pub fn after_error(
    e: &fitconnect::client::ClientError,
    attempts: u32,
    max_attempts: u32,
    backoff: &Backoff,
    unit: f64,
) -> Outcome {
    if e.is_retryable() {
        return Outcome::Retry(backoff.delay(attempts, e.retry_after(), unit));
    }
    if let fitconnect::client::ClientError::Refused(why) = e {
        return Outcome::Failed(format!("Zustellung abgelehnt: {why}"));
    }
    if attempts + 1 >= max_attempts {
        Outcome::Failed(e.to_string())
    } else {
        Outcome::Retry(backoff.delay(attempts, None, unit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fitconnect::client::ClientError;

    fn http(status: u16) -> ClientError {
        ClientError::Http {
            status,
            problem: None,
            retry_after: None,
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let b = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        };
        assert_eq!(b.delay(0, None, 1.0), Duration::from_secs(1));
        assert_eq!(b.delay(3, None, 1.0), Duration::from_secs(8));
        assert_eq!(b.delay(30, None, 1.0), Duration::from_secs(60));
        assert_eq!(b.delay(3, None, 0.5), Duration::from_secs(4));
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(30)), 0.0),
            Duration::from_secs(30)
        );
        // A Retry-After beyond the cap is still honoured.
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(120)), 0.3),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn next_run_polls_backs_off_and_honours_retry_after() {
        let poll = Duration::from_secs(300);
        assert_eq!(next_run(poll, 0, None, 0.5), poll);
        assert_eq!(
            next_run(poll, 0, Some(Duration::from_secs(900)), 0.5),
            Duration::from_secs(900)
        );
        // 10 s · 2^1 = 20 s ceiling, half of it with this draw.
        assert_eq!(next_run(poll, 1, None, 0.5), Duration::from_secs(10));
        // Grows, but never beyond the poll interval.
        assert_eq!(next_run(poll, 10, None, 1.0), poll);
        assert_eq!(next_run(poll, 3, None, 0.0), Duration::from_secs(1));
        assert_eq!(
            next_run(poll, 2, Some(Duration::from_secs(60)), 0.0),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn connectivity_follows_the_outcomes() {
        let mut t = ConnectivityTracker::default();
        assert_eq!(t.state(), Connectivity::Online);
        t.failure(Failure::Server);
        assert_eq!(t.state(), Connectivity::Gestoert);
        for _ in 0..OFFLINE_AFTER {
            t.failure(Failure::Network);
        }
        assert_eq!(t.state(), Connectivity::Offline);
        t.success(jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(t.state(), Connectivity::Online);
        t.failure(Failure::of(&http(401)));
        assert_eq!(t.state(), Connectivity::AnmeldungFehlerhaft);
        assert_eq!(Failure::of(&http(401)), Failure::Auth);
        assert_eq!(Failure::of(&http(503)), Failure::Server);
        assert_eq!(Failure::of(&http(422)), Failure::Permanent);
        assert_eq!(
            Failure::of(&ClientError::Network("x".into())),
            Failure::Network
        );
    }

    #[test]
    fn outcomes_of_errors() {
        let b = Backoff::default();
        assert!(matches!(
            after_error(&http(409), 4, 5, &b, 0.5),
            Outcome::Failed(_)
        ));
        assert!(matches!(
            after_error(&http(503), 40, 5, &b, 0.5),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            after_error(&http(422), 1, 5, &b, 0.5),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            after_error(&http(422), 4, 5, &b, 0.5),
            Outcome::Failed(_)
        ));
    }
}
