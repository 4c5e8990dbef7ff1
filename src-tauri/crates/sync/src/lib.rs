//! Offline-first sync of an Amtsstube workstation.
//!
//! * [`core`] – pure decisions: backoff with jitter and `Retry-After`, the connectivity
//!   state (online / gestört / offline / Anmeldung fehlerhaft), what an error means for
//!   an outbox item;
//! * [`machine`] – the sans-IO state machine of a run (pickup, then delivery of the
//!   outbox): inputs are answers, store results and the time; outputs are calls and
//!   store operations;
//! * [`engine`] – the I/O edge that drives the machine over the FIT-Connect client and
//!   the store.
//!
//! Exactly-once in effect: a submission is accepted only after it and its accept item
//! were committed together; the submission id dedupes; a delivery whose answer was
//! lost is confirmed from the case's event log instead of being sent twice.

pub mod bounce;
pub mod bundid;
pub mod core;
pub mod engine;
pub mod machine;
pub mod mail;
pub mod staging;

pub use bundid::{BundIdItem, Channels};
pub use engine::{
    Delivery, EventItem, HkrItem, PINNED_JWKS, PaymentItem, ReplyAttachment, ReplyItem, Subscriber,
    SyncError, SyncStore, apply, client_config, pull, push, run, run_with,
};
pub use machine::{Machine, Mode, Progress, PushPolicy, RunReport};
