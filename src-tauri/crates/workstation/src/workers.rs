//! The scanning desk's background work in the app.
//!
//! * [`OcrWorker`]: text recognition – a thread takes the next checked scan from the
//!   store (holding the workstation lock only for that), recognises it with tesseract
//!   without the lock (pages can take seconds each), and records the text (lock again).
//!   A logout ends the work at the next step; what is not recognised yet stays waiting.
//! * [`IntakeWorker`]: a pass over the hot folder every few seconds while a scanning
//!   desk is logged in with an open batch, whatever screen is open.
//! * [`OfficeWorker`]: office mode – the synchronisation with the Rathaus-Server
//!   while a user is signed in there.
//! * [`BackupWorker`]: the scheduled backup of the standalone store.
//!
//! The app owns both handles; dropping one (or calling `stop`) wakes the thread,
//! lets it finish its current step and joins it, so nothing is cut off at exit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;

use crate::background::Shared;
use crate::scan::{OcrJob, ocr};

/// The text of a job, or None when recognition failed (logged without content).
/// Reads (decrypts) the product here, outside the workstation's lock.
pub fn recognise(mut job: OcrJob) -> Option<String> {
    let engine = ocr().as_ref().ok()?;
    let mut bytes = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(&mut job.reader, &mut bytes) {
        tracing::warn!("Scanprodukt für die Texterkennung nicht lesbar: {e}");
        return None;
    }
    match engine.recognise(&bytes, job.format, job.pages) {
        Ok(text) => Some(text),
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    }
}

/// A worker thread: asked to stop, woken, and joined when dropped.
struct Thread {
    stop: Arc<AtomicBool>,
    wake: Sender<()>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Thread {
    /// Run `body` on a new thread with the stop flag, the wake-up receiver and a
    /// sender for wake-ups of its own (e.g. from a file watch).
    fn spawn(
        body: impl FnOnce(Arc<AtomicBool>, Receiver<()>, Sender<()>) + Send + 'static,
    ) -> Thread {
        let stop = Arc::new(AtomicBool::new(false));
        let (wake, rx) = std::sync::mpsc::channel::<()>();
        let (flag, tx) = (stop.clone(), wake.clone());
        let handle = std::thread::spawn(move || body(flag, rx, tx));
        Thread {
            stop,
            wake,
            handle: Some(handle),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The thread may already have ended; then nobody listens.
        let _ = self.wake.send(());
        if let Some(h) = self.handle.take()
            && h.join().is_err()
        {
            tracing::error!("Ein Hintergrunddienst ist mit einem Fehler beendet worden.");
        }
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Wait for `every` or until woken; false when the worker is to stop.
fn pause(rx: &Receiver<()>, every: Duration, stop: &AtomicBool) -> bool {
    match rx.recv_timeout(every) {
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return false,
    }
    !stop.load(Ordering::Relaxed)
}

/// Handle to the office-mode thread: while a user is signed in at the
/// Rathaus-Server it sends waiting steps and reads the feed every `every`, holding
/// the workstation only for the store steps. Dropping it stops the thread.
pub struct OfficeWorker {
    thread: Thread,
}

impl OfficeWorker {
    pub fn start(shared: Shared, every: Duration) -> OfficeWorker {
        let thread = Thread::spawn(move |flag, rx, _| {
            while pause(&rx, every, &flag) {
                match crate::desk::office_sync_shared(&shared) {
                    Ok(Some(s)) if !s.reachable => {
                        tracing::info!(
                            "Rathaus-Server nicht erreichbar; {} Schritte warten",
                            s.waiting
                        )
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("Abgleich mit dem Rathaus-Server: {}", e.message),
                }
            }
        });
        OfficeWorker { thread }
    }

    /// Synchronise now (after the sign-in), without waiting for it.
    pub fn wake(&self) {
        let _ = self.thread.wake.send(());
    }

    /// Stop after the current step and wait for the thread.
    pub fn stop(mut self) {
        self.thread.stop();
    }
}

/// Handle to the backup thread: every `every` it asks whether a scheduled backup
/// is due and writes it, holding the workstation only to take and record it.
pub struct BackupWorker {
    thread: Thread,
}

impl BackupWorker {
    pub fn start(shared: Shared, every: Duration) -> BackupWorker {
        let thread = Thread::spawn(move |flag, rx, _| {
            while pause(&rx, every, &flag) {
                match crate::backup::backup_shared(&shared, false) {
                    Ok(Some(done)) => tracing::info!("Datensicherung geschrieben: {}", done.file),
                    Ok(None) => {}
                    Err(e) => tracing::warn!("Datensicherung fehlgeschlagen: {}", e.message),
                }
            }
        });
        BackupWorker { thread }
    }

    /// Stop after the current backup and wait for the thread.
    pub fn stop(mut self) {
        self.thread.stop();
    }
}

/// Handle to the OCR thread; dropping it stops the thread after its current step.
pub struct OcrWorker {
    thread: Thread,
}

impl OcrWorker {
    /// Start the worker, looking for work every `every`.
    pub fn start(shared: Shared, every: Duration) -> OcrWorker {
        let thread = Thread::spawn(move |flag, rx, _| {
            while !flag.load(Ordering::Relaxed) {
                let job = match shared.lock() {
                    Ok(guard) => guard
                        .as_ref()
                        .and_then(|ws| ws.scan_ocr_next().ok().flatten()),
                    Err(_) => return,
                };
                let Some(job) = job else {
                    if !pause(&rx, every, &flag) {
                        return;
                    }
                    continue;
                };
                let product_id = job.product_id.clone();
                let text = recognise(job);
                match shared.lock() {
                    Ok(mut guard) => {
                        if let Some(ws) = guard.as_mut()
                            && let Err(e) = ws.scan_ocr_store(&product_id, text.as_deref())
                        {
                            tracing::warn!("Texterkennung nicht gespeichert: {}", e.message);
                            if !pause(&rx, every, &flag) {
                                return;
                            }
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        OcrWorker { thread }
    }

    /// Stop after the current step and wait for the thread.
    pub fn stop(mut self) {
        self.thread.stop();
    }
}

/// Watch `dir` for changes that wake the intake thread (`tx`); without a watch
/// (folder missing, no events on a share) the passes run on the timer alone.
fn watch_folder(
    dir: std::path::PathBuf,
    tx: &Sender<()>,
    every: Duration,
) -> (std::path::PathBuf, Option<scan::Watch>) {
    let tx = tx.clone();
    // The timer is the intake loop's.
    let watch = scan::watch(&dir, None, move || {
        let _ = tx.send(());
    });
    let watch = match watch {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(
                "Eingangsordner wird nicht beobachtet, nur alle {} s gelesen: {e}",
                every.as_secs()
            );
            None
        }
    };
    (dir, watch)
}

/// One background pass: begun under the lock, the files checked (parsed) without
/// it, each stored under it, ended under it. Err only when the lock is poisoned.
fn intake_pass(shared: &Shared) -> Result<(), ()> {
    let begun = match shared.lock() {
        Ok(mut guard) => guard.as_mut().map(|ws| ws.scan_intake_begin()),
        Err(_) => return Err(()),
    };
    let mut pass = match begun {
        Some(Ok(Some(pass))) => pass,
        Some(Err(e)) => {
            tracing::warn!("Eingang: {}", e.message);
            return Ok(());
        }
        _ => return Ok(()),
    };
    // The parsing of the scanner's files, and their storing through the pass's
    // own session, while the window's commands run.
    let mut failed = pass.check(crate::scan::BACKGROUND_SLICE).err();
    while failed.is_none() && pass.waiting_to_store() > 0 {
        // Logged out (or another login) meanwhile: the files stay for the next pass.
        let still = shared
            .lock()
            .map_err(|_| ())?
            .as_ref()
            .is_some_and(|ws| ws.scan_intake_by(&pass));
        if !still {
            break;
        }
        failed = pass.store_next().err();
    }
    if let Some(e) = failed {
        tracing::warn!("Eingang: {}", e.message);
    }
    let mut guard = shared.lock().map_err(|_| ())?;
    if let Some(ws) = guard.as_mut() {
        ws.scan_intake_end(pass);
    }
    Ok(())
}

/// Handle to the intake thread; dropping it stops the thread after its current pass.
pub struct IntakeWorker {
    thread: Thread,
}

impl IntakeWorker {
    /// Start the background intake: a pass as soon as the hot folder reports a change
    /// (`notify`, debounced), and at least every `every` as a safety net for network
    /// shares that send no events. The watch follows the configured folder and the
    /// login; without a watch (folder missing, no events) the passes run on the timer.
    pub fn start(shared: Shared, every: Duration) -> IntakeWorker {
        let thread = Thread::spawn(move |flag, rx, tx| {
            let mut watched: Option<(std::path::PathBuf, Option<scan::Watch>)> = None;
            // The first pass at once (it also sets up the watch).
            let mut wait = Duration::ZERO;
            while !flag.load(Ordering::Relaxed) {
                // Woken by a change or by the timer; several changes make one pass.
                if !pause(&rx, wait, &flag) {
                    return;
                }
                while rx.try_recv().is_ok() {}
                if intake_pass(&shared).is_err() {
                    return;
                }
                let (folder, waiting, ready) = match shared.lock() {
                    Ok(guard) => match guard.as_ref() {
                        Some(ws) => (
                            ws.scan_watched_folder(),
                            ws.scan_intake_waiting(),
                            ws.scan_intake_ready(),
                        ),
                        None => (None, 0, 0),
                    },
                    Err(_) => return,
                };
                // Stable files left by a pass whose time was up: go on right after the
                // window's waiting commands. A file still being written sends no
                // further event once complete: look again soon while one is waiting.
                wait = if ready > 0 {
                    every.min(Duration::from_millis(20))
                } else if waiting > 0 {
                    every.min(Duration::from_secs(1))
                } else {
                    every
                };
                if watched.as_ref().map(|(dir, _)| dir) != folder.as_ref() {
                    watched = folder.map(|dir| watch_folder(dir, &tx, every));
                }
            }
        });
        IntakeWorker { thread }
    }

    /// Stop after the current pass and wait for the thread.
    pub fn stop(mut self) {
        self.thread.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `stop` wakes the thread out of its wait and joins it: afterwards no thread
    /// holds the shared workstation any more (the app exits with nothing running).
    #[test]
    fn stopped_workers_have_ended() {
        let shared: Shared = Arc::new(std::sync::Mutex::new(None));
        // Long waits: only the wake-up can end them in time for the join.
        let ocr = OcrWorker::start(shared.clone(), Duration::from_secs(3_600));
        let intake = IntakeWorker::start(shared.clone(), Duration::from_secs(3_600));
        assert!(Arc::strong_count(&shared) > 1);
        ocr.stop();
        intake.stop();
        assert_eq!(
            Arc::strong_count(&shared),
            1,
            "a worker thread is still running"
        );
        // Dropping a handle stops it the same way.
        drop(IntakeWorker::start(
            shared.clone(),
            Duration::from_secs(3_600),
        ));
        assert_eq!(Arc::strong_count(&shared), 1);
    }
}
