//! Office mode without I/O.
//!
//! A town hall's desks share one record on the Rathaus-Server. Between them travel
//! two things only: **commands** up (a clerk's decision, note, assignment, …, each
//! with an idempotency key and the case version it was based on) and a
//! **change feed** down (commit-ordered positions, filtered per role). This crate is
//! that protocol ([`protocol`]), the rules the server applies to a command before it
//! commits it ([`rules`], built on `domain`'s lifecycle), and the workstation's
//! replica ([`replica`]: what it holds, its upload queue, its conflicts). The
//! server (`server`) and the deterministic simulation run the very same code.

pub mod keyring;
pub mod protocol;
pub mod replica;
pub mod rules;

pub use protocol::{
    CaseMeta, Ciphertext, Command, CommandBody, Event, FeedItem, FeedPage, Outcome, Refusal,
    RefusalKind, Step,
};
