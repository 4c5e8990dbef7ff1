//! FIT-Connect for Amtsstube: the cryptographic and validation core of the
//! Submission API v1.
//!
//! * [`jwe`] – RSA-OAEP-256 + A256GCM, compact serialisation, `cty` checks (OpenSSL via josekit)
//! * [`set`] – Security Event Tokens (PS512, `secevent+jwt`): sign and verify
//! * [`metadata`] – the Metadatensatz, validated against the official JSON schema
//! * [`submission`] – open a fetched submission: decrypt, validate, check hashes,
//!   collect authentication tags; failures carry the reject problems
//! * [`zbp`] – BundID mailbox messages and status updates through the FIT-Connect
//!   bridge: payloads and the signed envelope (reconstructed from public code)
//! * [`keys`] – JWK rules, `x5c` chain checks and a test PKI for simulators and tests
//!
//! The HTTP client and the portal simulator build on these (see the FIT-Connect issue).

pub mod api;
pub mod client;
mod error;
pub mod jwe;
pub mod keys;
pub mod metadata;
pub mod problem;
pub mod set;
pub mod submission;
pub mod zbp;

pub use error::{JweError, KeyError};
pub use problem::{Part, Problem, ProblemKind};
