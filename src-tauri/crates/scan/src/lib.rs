//! Scanning desk, first part: the hot-folder intake of scanner output.
//!
//! * [`inspect`] – is a file complete and acceptable (PDF, TIFF, JPEG, PNG; no
//!   encryption, no JBIG2)?
//! * [`hotfolder`] – take stable files from the scanner's share into a sink (the
//!   encrypted vault), retry failures, move what cannot be taken to `fehler/` with a
//!   reason, watch the folder with `notify` and a periodic rescan.
//!
//! Batches, QA, Transfervermerk, seal and destruction follow (issue 7).

pub mod hotfolder;
pub mod inspect;

pub use hotfolder::{Arrival, Config, HotFolder, Outcome, Taken, watch};
pub use inspect::{Format, Inspection, Reject, inspect};
