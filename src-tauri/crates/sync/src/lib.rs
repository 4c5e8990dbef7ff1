//! Offline-first sync of an Amtsstube workstation.
//!
//! * [`core`] – pure decisions: backoff with jitter and `Retry-After`, the connectivity
//!   state (online / gestört / offline / Anmeldung fehlerhaft), what an error means for
//!   an outbox item;
//! * [`engine`] – the I/O edge over the FIT-Connect client and the store: pickup and
//!   outbox delivery.
//!
//! Exactly-once in effect: a submission is accepted only after it and its accept item
//! were committed together; the submission id dedupes; a delivery whose answer was
//! lost is confirmed from the case's event log instead of being sent twice.

pub mod core;
pub mod engine;

pub use engine::{PullReport, PushPolicy, PushReport, Subscriber, SyncError, pull, push};
