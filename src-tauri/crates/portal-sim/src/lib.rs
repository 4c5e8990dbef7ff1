//! `portal-sim`: a local FIT-Connect Zustelldienst for development, demos and tests.
//!
//! It speaks the Submission API v1 (`fitconnect::api` types, checked against
//! `schemas/submission-api.v1.1.3.yaml`), keeps its state on disk, signs its own
//! event-log entries and verifies the subscriber's accept/reject SETs.

pub mod bridge;
pub mod citizen;
pub mod faults;
pub mod mail;
pub mod payment;
pub mod seed;
pub mod server;
pub mod state;

pub use faults::Faults;
pub use server::{Sim, router};
pub use state::{State, SubscriberConfig};

/// Serve `sim` on `listener` until the future is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sim: std::sync::Arc<Sim>,
) -> std::io::Result<()> {
    axum::serve(listener, router(sim)).await
}
