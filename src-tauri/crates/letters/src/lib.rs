//! Letters of a case as PDF: Eingangsbestätigung, Nachforderung, Bescheid
//! (bewilligt / abgelehnt / teilweise) and Gebührenbescheid.
//!
//! * [`town`] – the authority's letterhead, signature and Rechtsbehelfsbelehrungen per
//!   Land and case type (configuration, parsed and checked here);
//! * [`compose`] – a draft per letter type from the case's facts: text blocks the clerk
//!   may edit before sending, fee lines and the payment request;
//! * [`layout`] – DIN 5008 layout with printpdf and embedded fonts;
//! * [`report`] – the supervisor figures as a PDF report for the council.
//!
//! Pure: no files, no clock, no network – bytes and facts in, PDF bytes out.

pub mod compose;
pub mod layout;
pub mod report;
pub mod town;

pub use compose::{
    CaseFacts, Draft, Ergebnis, FeeSection, LetterKind, PeriodFacts, TextBlock, render,
};
pub use layout::{Block, Letterhead, Page, Renderer};
pub use town::{Rechtsbehelf, TownConfig};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LetterError {
    #[error("Schrift: {0}")]
    Font(String),
    #[error("{0}")]
    Input(String),
    #[error("Gemeinde-Konfiguration: {0}")]
    Config(String),
}
