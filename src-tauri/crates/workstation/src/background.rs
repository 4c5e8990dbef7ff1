//! Background synchronisation: a scheduler thread runs the sync machine periodically
//! (poll interval from the settings, backoff with jitter after failures,
//! `Retry-After` honoured) and on demand ("Jetzt synchronisieren").
//!
//! The workstation lock is taken only for each store operation of a run (one short
//! transaction) and never while the network is busy, so the window stays responsive
//! during a long pickup. A run belongs to the user who was logged in when it started;
//! if that user logs out, the run's next store operation fails and the run ends –
//! every completed operation is committed, so nothing is lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::UserName;
use serde::Serialize;
use sync::machine::{StoreOp, StoreResult};
use sync::{SyncError, SyncStore};
use tokio::sync::{Notify, watch};
use ts_rs::TS;

use crate::{AppError, ErrorCode, SyncSummary, Workstation};

/// The workstation as the app shares it between commands and the scheduler.
pub type Shared = Arc<Mutex<Option<Workstation>>>;

/// Where a running synchronisation stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SyncProgress {
    /// "abholen" (pickup) or "senden" (outbox).
    pub phase: String,
    pub done: u32,
    pub total: u32,
}

/// The scheduler's side of the status indicator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BackgroundState {
    pub running: bool,
    pub progress: Option<SyncProgress>,
    /// Next scheduled run (RFC 3339).
    pub next_run: Option<String>,
    /// Result of the last run.
    pub last: Option<SyncSummary>,
    /// Submissions fetched (still encrypted) while nobody was logged in, since start.
    pub staged: u32,
}

#[derive(Default)]
struct Inner {
    state: BackgroundState,
    failed_runs: u32,
}

/// Handle to the scheduler thread.
pub struct Background {
    inner: Arc<Mutex<Inner>>,
    wake: Arc<Notify>,
    finished: watch::Receiver<u64>,
    stop: Arc<AtomicBool>,
    /// A user asked for the next run: waiting items skip their backoff.
    requested: Arc<AtomicBool>,
}

fn lock_shared(
    shared: &Shared,
) -> Result<std::sync::MutexGuard<'_, Option<Workstation>>, AppError> {
    shared.lock().map_err(|_| {
        AppError::new(
            ErrorCode::Storage,
            "Interner Fehler: Sperre verloren. Bitte starten Sie die Anwendung neu.",
        )
    })
}

/// The shared workstation as a run's store: locked per operation, and only while
/// the run's user is still logged in.
struct SharedStore<'a> {
    shared: &'a Shared,
    user: UserName,
}

impl SharedStore<'_> {
    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut store::Session) -> Result<T, SyncError>,
    ) -> Result<T, SyncError> {
        let mut guard =
            lock_shared(self.shared).map_err(|e| SyncError::Unavailable(e.message.clone()))?;
        let ws = guard
            .as_mut()
            .ok_or_else(|| SyncError::Unavailable("Arbeitsstation geschlossen".into()))?;
        let session = ws
            .sync_session(&self.user)
            .map_err(|_| SyncError::Unavailable("abgemeldet".into()))?;
        f(session)
    }
}

impl SyncStore for SharedStore<'_> {
    fn apply(&mut self, op: StoreOp) -> Result<StoreResult, SyncError> {
        self.with(|s| s.apply(op))
    }

    fn read_blob(&mut self, id: &str) -> Result<Vec<u8>, SyncError> {
        self.with(|s| SyncStore::read_blob(s, id))
    }

    fn staged(&mut self) -> Result<Vec<(String, Vec<u8>)>, SyncError> {
        self.with(|s| s.staged())
    }

    fn unstage(&mut self, submission_id: &str) -> Result<(), SyncError> {
        self.with(|s| s.unstage(submission_id))
    }

    fn pinned_jwks(&mut self) -> Result<Option<String>, SyncError> {
        self.with(|s| s.pinned_jwks())
    }

    fn pin_jwks(&mut self, jwks: &str) -> Result<(), SyncError> {
        self.with(|s| s.pin_jwks(jwks))
    }

    fn setting(&mut self, key: &str) -> Result<Option<String>, SyncError> {
        self.with(|s| SyncStore::setting(s, key))
    }

    fn set_setting(&mut self, key: &str, value: &str) -> Result<(), SyncError> {
        self.with(|s| SyncStore::set_setting(s, key, value))
    }

    fn mail_bounced(&mut self, message_id: &str, reason: &str) -> Result<bool, SyncError> {
        self.with(|s| SyncStore::mail_bounced(s, message_id, reason))
    }

    // The documents are written outside the workstation lock; only the
    // transaction holds it.
    fn blob_writer(&mut self) -> Result<Option<store::BlobWriter>, SyncError> {
        self.with(SyncStore::blob_writer)
    }

    fn store_prepared(
        &mut self,
        s: Box<store::IncomingSubmission>,
        prepared: Vec<store::PreparedBlob>,
    ) -> Result<StoreResult, SyncError> {
        self.with(|session| session.store_prepared(s, prepared))
    }
}

/// Without a logged-in user (or a portal connection) the scheduler looks again after this.
const IDLE_CHECK: Duration = Duration::from_secs(5);

impl Background {
    /// Start the scheduler thread. `on_new` is called with the number of new
    /// applications after a run that brought some (desktop notification).
    pub fn start(shared: Shared, on_new: impl Fn(u32) + Send + 'static) -> Result<Self, AppError> {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let wake = Arc::new(Notify::new());
        let stop = Arc::new(AtomicBool::new(false));
        let requested = Arc::new(AtomicBool::new(false));
        let (done_tx, finished) = watch::channel(0u64);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                AppError::new(
                    ErrorCode::Storage,
                    format!("Hintergrund-Synchronisation nicht startbar: {e}"),
                )
            })?;
        let (t_inner, t_wake, t_stop, t_requested) =
            (inner.clone(), wake.clone(), stop.clone(), requested.clone());
        std::thread::Builder::new()
            .name("synchronisation".into())
            .spawn(move || {
                runtime.block_on(scheduler(
                    shared,
                    t_inner,
                    Signals {
                        wake: t_wake,
                        stop: t_stop,
                        requested: t_requested,
                    },
                    done_tx,
                    on_new,
                ));
            })
            .map_err(|e| {
                AppError::new(
                    ErrorCode::Storage,
                    format!("Hintergrund-Synchronisation nicht startbar: {e}"),
                )
            })?;
        Ok(Background {
            inner,
            wake,
            finished,
            stop,
            requested,
        })
    }

    pub fn state(&self) -> BackgroundState {
        self.inner
            .lock()
            // A poisoned lock (a panicked run) shows the idle state; the next run resets it.
            .map(|i| i.state.clone())
            .unwrap_or_default()
    }

    /// Ask for a run as soon as possible without waiting for it (a letter was queued).
    pub fn wake(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Run as soon as possible ("Jetzt synchronisieren") and wait for that run.
    pub async fn sync_now(&self) -> Option<SyncSummary> {
        let mut finished = self.finished.clone();
        let before = *finished.borrow_and_update();
        // A run already going may have started before the request: wait for one
        // that starts after it.
        let running = self.state().running;
        self.requested.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        let target = before + if running { 2 } else { 1 };
        while *finished.borrow_and_update() < target {
            if finished.changed().await.is_err() {
                return None;
            }
        }
        self.state().last
    }

    /// Stop the thread after the current run.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop();
    }
}

fn set(inner: &Arc<Mutex<Inner>>, f: impl FnOnce(&mut Inner)) {
    if let Ok(mut i) = inner.lock() {
        f(&mut i);
    }
}

struct Signals {
    wake: Arc<Notify>,
    stop: Arc<AtomicBool>,
    requested: Arc<AtomicBool>,
}

/// Fetch what waits at the portal into the staging folder, still encrypted, if
/// that is due; when it is due next.
async fn prefetch_due(
    p: &crate::portal::Prefetcher,
    store: &store::Store,
    inner: &Arc<Mutex<Inner>>,
    due: tokio::time::Instant,
) -> tokio::time::Instant {
    if tokio::time::Instant::now() < due {
        return due;
    }
    match p.run(store).await {
        Ok(n) => {
            set(inner, |i| i.state.staged += n as u32);
            tokio::time::Instant::now() + p.poll
        }
        Err(e) => {
            tracing::info!("Vorabruf nicht möglich: {e}");
            tokio::time::Instant::now() + IDLE_CHECK * 6
        }
    }
}

/// Wait a moment, or until woken.
async fn idle(wake: &Notify) {
    tokio::select! {
        _ = wake.notified() => {}
        _ = tokio::time::sleep(IDLE_CHECK) => {}
    }
}

async fn scheduler(
    shared: Shared,
    inner: Arc<Mutex<Inner>>,
    signals: Signals,
    done: watch::Sender<u64>,
    on_new: impl Fn(u32),
) {
    let Signals {
        wake,
        stop,
        requested,
    } = signals;
    let mut runs = 0u64;
    // The portal client of the last logged-in run: while nobody is logged in, it
    // fetches what waits into the staging folder, still encrypted.
    let mut prefetcher: Option<crate::portal::Prefetcher> = None;
    let mut next_prefetch = tokio::time::Instant::now();
    while !stop.load(Ordering::SeqCst) {
        // Prepare under the lock (settings, keys, client); nothing to do while
        // nobody with the right to synchronise is logged in.
        let job = lock_shared(&shared)
            .ok()
            .and_then(|g| g.as_ref().map(|ws| (ws.prepare_sync(), ws.store_handle())));
        let job = match job {
            Some((Ok(job), _)) => job,
            other => {
                set(&inner, |i| i.state.next_run = None);
                if let (Some(p), Some((_, store))) = (&prefetcher, other) {
                    next_prefetch = prefetch_due(p, &store, &inner, next_prefetch).await;
                }
                idle(&wake).await;
                continue;
            }
        };
        prefetcher = job.prefetcher().ok().flatten();
        if job.prefetch_only {
            // A session without the case key: fetched ahead, still encrypted, for
            // a holder's next run; nothing is stored or sent.
            let store = lock_shared(&shared)
                .ok()
                .and_then(|g| g.as_ref().map(|ws| ws.store_handle()));
            if let (Some(p), Some(store)) = (&prefetcher, store) {
                next_prefetch = prefetch_due(p, &store, &inner, next_prefetch).await;
            }
            idle(&wake).await;
            continue;
        }
        if requested.swap(false, Ordering::SeqCst)
            && let Ok(mut g) = lock_shared(&shared)
            && let Some(ws) = g.as_mut()
            && let Err(e) = ws.sync_requested()
        {
            tracing::warn!("{}", e.message);
        }
        set(&inner, |i| {
            i.state.running = true;
            i.state.progress = None;
        });
        let mut store = SharedStore {
            shared: &shared,
            user: job.user.clone(),
        };
        let progress_inner = inner.clone();
        let result = job
            .run(&mut store, move |p| {
                set(&progress_inner, |i| {
                    i.state.progress = (!p.phase.is_empty()).then(|| SyncProgress {
                        phase: p.phase.to_owned(),
                        done: p.done as u32,
                        total: p.total as u32,
                    });
                });
            })
            .await;
        let (summary, retry_after) = match result {
            Ok(ran) => (Some(ran.summary), ran.retry_after),
            Err(e) => {
                tracing::warn!("Synchronisation abgebrochen: {}", e.message);
                (None, None)
            }
        };
        // Queue sizes and the status indicator's memory.
        let summary = summary.map(|mut s| {
            if let Ok(mut g) = lock_shared(&shared)
                && let Some(ws) = g.as_mut()
            {
                ws.record_sync(&s);
                if let Ok(status) = ws.sync_status() {
                    s.pending = status.pending;
                    s.failed = status.failed;
                }
            }
            s
        });
        let failed = summary.as_ref().is_none_or(|s| s.problem.is_some());
        // A run that did not start found nothing new.
        let new_cases = summary.as_ref().map(|s| s.new_cases).unwrap_or(0);
        let mut delay = job.poll;
        set(&inner, |i| {
            i.failed_runs = if failed { i.failed_runs + 1 } else { 0 };
            delay =
                sync::core::next_run(job.poll, i.failed_runs, retry_after, rand::random::<f64>());
            i.state.running = false;
            i.state.progress = None;
            if summary.is_some() {
                i.state.last = summary.clone();
            }
            let at = jiff::Timestamp::now()
                // The delay is at most a day; 0 would only show "now".
                .checked_add(jiff::SignedDuration::try_from(delay).unwrap_or_default())
                .ok();
            i.state.next_run = at.map(|t| t.to_string());
        });
        runs += 1;
        let _ = done.send(runs);
        if new_cases > 0 {
            on_new(new_cases);
        }
        // Wait for the next run, but notice a logout (prefetching takes over then).
        let until = tokio::time::Instant::now() + delay;
        loop {
            let step = until
                .saturating_duration_since(tokio::time::Instant::now())
                .min(IDLE_CHECK);
            if step.is_zero() {
                break;
            }
            tokio::select! {
                _ = wake.notified() => break,
                _ = tokio::time::sleep(step) => {}
            }
            let logged_in = lock_shared(&shared)
                .ok()
                .and_then(|g| g.as_ref().map(|ws| ws.session().is_some()))
                .unwrap_or(false);
            if stop.load(Ordering::SeqCst) || !logged_in {
                break;
            }
        }
    }
}

/// Is somebody still logged in (bulk work off the lock stops at a logout)?
fn logged_in(shared: &Shared) -> Result<bool, AppError> {
    Ok(shared
        .lock()
        .map_err(|_| crate::backup::lost_lock())?
        .as_ref()
        .is_some_and(|ws| ws.session.is_some()))
}

/// Documents looked at per pass by [`seal_documents_shared`].
const SEAL_SLICE: usize = 20;

/// Re-encrypt the documents still under the vault key to the keys of their kind
/// (a store from before the key ring, or documents written before the keys were
/// made), on a second connection outside the workstation lock, a few at a time
/// while the user stays logged in. The number re-encrypted; a logout stops it (the
/// rest at the next login).
pub fn seal_documents_shared(shared: &Shared) -> Result<usize, AppError> {
    let lost = crate::backup::lost_lock;
    let mut worker = {
        let guard = shared.lock().map_err(|_| lost())?;
        match guard.as_ref().and_then(|ws| ws.session.as_ref()) {
            Some(s) => s.worker()?,
            None => return Ok(0),
        }
    };
    let mut total = 0;
    let mut after = String::new();
    loop {
        if !logged_in(shared)? {
            break;
        }
        let (n, next) = worker.seal_documents(&after, SEAL_SLICE)?;
        total += n;
        match next {
            Some(id) => after = id,
            None => break,
        }
    }
    Ok(total)
}

/// Keys stored per transaction by [`due_keys_shared`].
const DUE_KEYS_SLICE: usize = 500;

/// Compute many stale deadline keys (the first login after an update, other case
/// types or holidays) and store them a slice at a time on a second connection,
/// outside the workstation lock: the window's commands never wait behind them
/// (their reads not at all, their writes at most one slice). The number of keys
/// computed; None when there was nothing for the background (few or no stale
/// keys, office mode, nobody logged in) or the user logged out meanwhile.
pub fn due_keys_shared(shared: &Shared) -> Result<Option<usize>, AppError> {
    let lost = crate::backup::lost_lock;
    let job = {
        let mut guard = shared.lock().map_err(|_| lost())?;
        match guard.as_mut() {
            Some(ws) if ws.session.is_some() => ws.due_keys_job()?,
            _ => return Ok(None),
        }
    };
    let Some(job) = job else { return Ok(None) };
    let done = |shared: &Shared| {
        if let Ok(mut guard) = shared.lock()
            && let Some(ws) = guard.as_mut()
        {
            ws.due_keys_done();
        }
    };
    let mut keys = match job.run() {
        Ok(keys) => keys,
        Err(e) => {
            done(shared);
            return Err(e);
        }
    };
    let total = keys.len();
    loop {
        // Logged out meanwhile: stop (the job's key copy goes with it); the keys
        // not stored stay stale and the next login starts again.
        if !logged_in(shared)? {
            return Ok(None);
        }
        match keys.store_next(DUE_KEYS_SLICE) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                done(shared);
                return Err(e);
            }
        }
    }
    done(shared);
    Ok(Some(total))
}

/// Prepare the dashboard's figures (a Leitung's login) outside the workstation lock:
/// read on a second connection, kept under the lock in a moment. Ok(false) when
/// there was nothing to prepare (another role, already read, nobody logged in).
pub fn reports_prepare_shared(shared: &Shared) -> Result<bool, AppError> {
    let job = {
        let guard = shared.lock().map_err(|_| crate::backup::lost_lock())?;
        match guard.as_ref() {
            Some(ws) if ws.session.is_some() => ws.reports_prepare_job()?,
            _ => return Ok(false),
        }
    };
    let Some(job) = job else { return Ok(false) };
    let prepared = job.run()?;
    let guard = shared.lock().map_err(|_| crate::backup::lost_lock())?;
    if let Some(ws) = guard.as_ref() {
        ws.reports_prepare_finish(prepared);
    }
    Ok(true)
}
