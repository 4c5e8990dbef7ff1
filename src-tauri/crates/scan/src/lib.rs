//! Scanning desk, first part: the hot-folder intake of scanner output.
//!
//! * [`inspect`] – is a file complete and acceptable (PDF, TIFF, JPEG, PNG; no
//!   encryption, no JBIG2)?
//! * [`hotfolder`] – take stable files from the scanner's share into a sink (the
//!   encrypted vault), retry failures, move what cannot be taken to `fehler/` with a
//!   reason, watch the folder with `notify` and a periodic rescan.
//!
//! * [`evidence`] – Transfervermerk (DRV structure) bound by hash, electronic seal,
//!   verifier, and the seven-condition gate for destroying the paper.
//!
//! * [`ocr`] – text recognition with the `tesseract` command through pipes, when installed.
//! * [`policy`] – `scan.toml`: Verfahren, document classes with Schutzbedarf and mode,
//!   scan profiles, QA sampling, holding period.
//! * [`split`] – one scanned file into several documents, pages unchanged.
//! * [`preview`] – a TIFF page as PNG for the QA desk.
//! * [`rules`] – TR-RESISCAN rules (QA checklist, batch flags, what counts in a batch)
//!   and the Transfervermerk of an approved product, built from plain facts.
//! * [`separator`] – separator sheets (barcode or patch code) between the documents of
//!   one scan; [`patchcode`] reads Kodak patch codes.

pub mod evidence;
pub mod hotfolder;
pub mod inspect;
pub mod ocr;
pub mod patchcode;
pub mod policy;
pub mod preview;
pub mod rules;
pub mod separator;
pub mod split;

pub use hotfolder::{
    Arrival, Config, HotFolder, Inspector, Outcome, Prepared, Taken, Watch, watch,
};
pub use inspect::{Format, Inspection, Reject, inspect, inspect_file};
