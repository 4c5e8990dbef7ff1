//! The Rathaus-Server: one record for the whole town hall.
//!
//! PostgreSQL holds the record ([`record`]); workstations reach it over HTTPS with
//! mutual TLS ([`api`], [`tls`]); commands are decided by `office::rules`, the
//! same code the workstations and the simulation run. The server reads workflow
//! metadata only: personal content arrives and stays as age ciphertext to keys it
//! cannot unwrap; [`keys`] keeps the key ring's public and wrapped parts only. [`setup`] is the server's directory (configuration, CA, keys);
//! [`cluster`] a throwaway PostgreSQL for tests, benchmarks and the demo.

pub mod api;
pub mod backup;
pub mod cluster;
pub mod delivery;
pub mod error;
pub mod keys;
pub mod pickup;
pub mod record;
pub mod setup;
pub mod takeover;
pub mod tls;

pub use error::{Result, ServerError};
pub use record::Record;
