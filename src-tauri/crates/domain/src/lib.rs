//! The centre of Amtsstube: types and rules without any I/O.
//!
//! Everything here is pure: roles and what they may do, user-name rules and the
//! read models shared by the store, the facade and the UI (their TypeScript
//! twins are generated with `ts-rs`).

pub mod calendar;
pub mod casetype;
pub mod deadline;
pub mod delivery;
pub mod fees;
pub mod lifecycle;
mod record;
mod role;
mod user;
mod worklist;

pub use lifecycle::{Action, ActionKind, CaseState, Decision, TransitionError};
pub use record::{Channel, DocumentKind};
pub use role::{Permission, Role};
pub use user::{UserName, UserNameError};
pub use worklist::CaseSummary;
