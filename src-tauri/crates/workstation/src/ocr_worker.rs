//! The scanning desk's background work in the app.
//!
//! * [`OcrWorker`]: text recognition – a thread takes the next checked scan from the
//!   store (holding the workstation lock only for that), recognises it with tesseract
//!   without the lock (pages can take seconds each), and records the text (lock again).
//!   A logout ends the work at the next step; what is not recognised yet stays waiting.
//! * [`IntakeWorker`]: a pass over the hot folder every few seconds while a scanning
//!   desk is logged in with an open batch, whatever screen is open.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::background::Shared;
use crate::scan::{OcrJob, ocr};

/// The text of a job, or None when recognition failed (logged without content).
pub fn recognise(job: &OcrJob) -> Option<String> {
    let engine = ocr().as_ref().ok()?;
    match engine.recognise(&job.bytes, job.format, job.pages) {
        Ok(text) => Some(text),
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    }
}

/// Stops a worker thread after its current step when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Handle to the OCR thread; dropping it stops the thread after its current step.
pub struct OcrWorker {
    _stop: StopOnDrop,
}

impl OcrWorker {
    /// Start the worker, looking for work every `every`.
    pub fn start(shared: Shared, every: Duration) -> OcrWorker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let job = match shared.lock() {
                    Ok(guard) => guard
                        .as_ref()
                        .and_then(|ws| ws.scan_ocr_next().ok().flatten()),
                    Err(_) => return,
                };
                let Some(job) = job else {
                    std::thread::sleep(every);
                    continue;
                };
                let text = recognise(&job);
                match shared.lock() {
                    Ok(mut guard) => {
                        if let Some(ws) = guard.as_mut()
                            && let Err(e) = ws.scan_ocr_store(&job.product_id, text.as_deref())
                        {
                            tracing::warn!("Texterkennung nicht gespeichert: {}", e.message);
                            std::thread::sleep(every);
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        OcrWorker {
            _stop: StopOnDrop(stop),
        }
    }
}

/// Handle to the intake thread; dropping it stops the thread after its current pass.
pub struct IntakeWorker {
    _stop: StopOnDrop,
}

impl IntakeWorker {
    /// Start the background intake, one pass every `every`.
    pub fn start(shared: Shared, every: Duration) -> IntakeWorker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(every);
                match shared.lock() {
                    Ok(mut guard) => {
                        if let Some(ws) = guard.as_mut()
                            && let Err(e) = ws.scan_intake_background()
                        {
                            tracing::warn!("Eingang: {}", e.message);
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        IntakeWorker {
            _stop: StopOnDrop(stop),
        }
    }
}
