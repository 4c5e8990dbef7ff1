//! The hot folder: the scanner's network share, watched for new files.
//!
//! A file is taken only when it is stable – size and modification time unchanged for
//! the configured delay – and its structure checks out ([`crate::inspect`]). Then it
//! goes to the caller's sink (the encrypted vault); only after the sink reports the
//! write durable does the file leave the share. A file that fails is tried again with
//! a growing pause and finally moved to `fehler/` next to a `.grund.txt` file saying
//! why – never dropped silently. Temporary and hidden files are ignored. File names
//! come from the directory listing (never a path), so `../` cannot escape; names that
//! are not UTF-8 or too long get a safe name in `fehler/`.
//!
//! Checking a file (parsing it) is the dangerous part: it runs in a thread of its
//! own with a time limit, so a parser that panics or hangs costs that file, not the
//! program ([`Config::inspect_timeout`]); and a marker (`.in-pruefung`) names the
//! file being checked, so that a file during whose check the program died (a crash,
//! the memory exhausted) goes to `fehler/` at the next start instead of being read
//! again. A pass is [`HotFolder::prepare`] (check, no sink) and
//! [`HotFolder::commit`] (store), so a caller can check without holding its lock.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use crate::inspect::{Inspection, Reject, inspect_file};

/// Settings of the intake.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long size and modification time must stay unchanged.
    pub stable_for: Duration,
    /// Attempts before a file goes to `fehler/`.
    pub max_attempts: u32,
    /// First pause after a failed attempt (doubles each time).
    pub retry_after: Duration,
    /// Largest file taken (bigger ones go to `fehler/`).
    pub max_bytes: u64,
    /// Longest check of one file; a file whose check takes longer goes to `fehler/`.
    pub inspect_timeout: Duration,
    /// The check ([`inspect_file`]; tests put a misbehaving one in its place).
    pub inspector: Inspector,
}

/// A file's check: its format and pages, or why it is refused.
pub type Inspector = fn(&Path) -> Result<Inspection, Reject>;

impl Default for Config {
    fn default() -> Self {
        Config {
            stable_for: Duration::from_secs(5),
            max_attempts: 3,
            retry_after: Duration::from_secs(10),
            max_bytes: 2 * 1024 * 1024 * 1024,
            inspect_timeout: Duration::from_secs(120),
            inspector: inspect_file,
        }
    }
}

/// The marker naming the file being checked (hidden: the pass ignores it).
const MARKER: &str = ".in-pruefung";

/// A stable, checked file for the sink.
#[derive(Debug)]
pub struct Arrival<'a> {
    /// The name as shown to people (lossy if the name was not UTF-8).
    pub name: String,
    /// Where the file lies: the sink streams it from there (it is never read whole
    /// into memory) and must check that what it stored has `sha256`.
    pub path: &'a Path,
    pub size: u64,
    pub sha256: String,
    pub inspection: Inspection,
}

/// A stable file that checked out, waiting to be stored ([`HotFolder::commit`]).
#[derive(Debug)]
pub struct Prepared {
    raw: OsString,
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub inspection: Inspection,
}

/// What the sink did with a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Stored durably: the file may leave the share.
    Stored,
    /// The same content is stored already: reported, moved to `fehler/`.
    Duplicate(String),
}

/// What happened to a file in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Stored {
        name: String,
        pages: u32,
    },
    /// Moved to `fehler/` with this reason.
    Failed {
        name: String,
        reason: String,
    },
    /// Failed for now; tried again later.
    Retrying {
        name: String,
        reason: String,
    },
}

#[derive(Debug)]
struct Seen {
    size: u64,
    modified: Option<SystemTime>,
    since: Instant,
    attempts: u32,
    not_before: Option<Instant>,
}

/// The intake state of one hot folder.
#[derive(Debug)]
pub struct HotFolder {
    dir: PathBuf,
    config: Config,
    seen: HashMap<OsString, Seen>,
    /// Stable files the last pass left for the next one (its time was up).
    ready_left: usize,
    /// Files moved to `fehler/` at start (their check ended the program), reported
    /// by the next pass.
    recovered: Vec<Outcome>,
}

/// Temporary and hidden files the scanner or the share writes while copying.
fn ignored(name: &OsStr) -> bool {
    let n = name.to_string_lossy().to_lowercase();
    n.starts_with('.')
        || n.starts_with('~')
        || n.starts_with("~$")
        || [
            ".tmp",
            ".part",
            ".partial",
            ".crdownload",
            ".filepart",
            ".grund.txt",
        ]
        .iter()
        .any(|s| n.ends_with(s))
}

/// A name that is safe to create in `fehler/` on every file system the folder may
/// live on (ext4, NTFS, an SMB share): the original if it is plain UTF-8 of
/// reasonable length that Windows also takes as an ordinary file name, otherwise a
/// readable part plus a hash of the raw name.
fn safe_name(name: &OsStr) -> String {
    let lossy = name.to_string_lossy();
    let plain = name.to_str().is_some() && lossy.len() <= 180 && portable(&lossy);
    if plain {
        return lossy.into_owned();
    }
    let raw = name.as_encoded_bytes();
    let hash = hex::encode(&Sha256::digest(raw)[..6]);
    let readable: String = lossy
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(60)
        .collect();
    // The hash first: a readable part such as `CON.pdf` must not become the stem.
    format!("umbenannt-{hash}-{}", readable.trim_end_matches('.'))
}

/// Whether `name` is an ordinary file name on Unix and on Windows alike: no path
/// separators or characters Windows refuses (`<>:"|?*`, control characters), not
/// `.`/`..`, no trailing dot or space (Windows drops them), and not a device name
/// Windows reserves (`CON`, `PRN`, `AUX`, `NUL`, `COM0`–`COM9`, `LPT0`–`LPT9`, also
/// with an extension such as `CON.pdf`).
fn portable(name: &str) -> bool {
    if name.is_empty() || name == "." || name == ".." {
        return false;
    }
    if name.chars().any(|c| {
        c.is_control() || matches!(c, '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*')
    }) {
        return false;
    }
    if name.ends_with(['.', ' ']) {
        return false;
    }
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    let upper = stem.to_uppercase();
    let device = matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || ((upper.starts_with("COM") || upper.starts_with("LPT"))
        && upper.chars().count() == 4
        && upper
            .chars()
            .nth(3)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '¹' | '²' | '³')));
    !device
}

impl HotFolder {
    pub fn new(dir: impl Into<PathBuf>, config: Config) -> std::io::Result<HotFolder> {
        let dir = dir.into();
        std::fs::create_dir_all(dir.join("fehler"))?;
        // Windows: the folder in its verbatim form (`\\?\C:\…`, `\\?\UNC\…`), so that a
        // file the scanner or a Linux share named `CON.pdf`, `Scan.` or longer than 260
        // characters is read as the file it is – not as a device, a shortened name or
        // not at all. Some NAS shares cannot name a folder's final path; then the folder
        // is read as given (ordinary names still work) and the log says why.
        #[cfg(windows)]
        let dir = match std::fs::canonicalize(&dir) {
            Ok(verbatim) => verbatim,
            Err(e) => {
                tracing::warn!(
                    "Eingangsordner {} ohne Langform gelesen ({e}): Dateinamen wie CON.pdf \
                     werden dort nicht erkannt.",
                    dir.display()
                );
                dir
            }
        };
        let mut hot = HotFolder {
            dir,
            config,
            seen: HashMap::new(),
            ready_left: 0,
            recovered: Vec::new(),
        };
        hot.recover()?;
        Ok(hot)
    }

    /// A marker left behind: the program ended while checking that file. It goes
    /// to `fehler/` and is not read again.
    fn recover(&mut self) -> std::io::Result<()> {
        let marker = self.dir.join(MARKER);
        let named = match std::fs::read_to_string(&marker) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let wanted = named.trim();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            if hex::encode(name.as_encoded_bytes()) == wanted {
                let reason = "Beim Prüfen dieser Datei wurde Amtsstube beendet (Absturz oder Speichermangel); sie wird nicht noch einmal gelesen.".to_owned();
                self.to_failed(&name, &reason)?;
                self.recovered.push(Outcome::Failed {
                    name: name.to_string_lossy().into_owned(),
                    reason,
                });
            }
        }
        std::fs::remove_file(marker)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Files waiting (seen, not yet stable or waiting for a retry).
    pub fn waiting(&self) -> usize {
        self.seen.len()
    }

    /// Stable files the last pass left for the next one because its time was up.
    pub fn ready_left(&self) -> usize {
        self.ready_left
    }

    /// Forget [`HotFolder::ready_left`] (no pass will follow soon: logged out, no batch).
    pub fn clear_ready(&mut self) {
        self.ready_left = 0;
    }

    /// One pass over the folder: take every file that is stable and checks out.
    pub fn scan(
        &mut self,
        sink: impl FnMut(&Arrival<'_>) -> Result<Taken, String>,
    ) -> std::io::Result<Vec<Outcome>> {
        self.scan_within(None, sink)
    }

    /// One pass that takes files only while `budget` lasts (at least one file), so a
    /// caller holding a lock for the sink can let others in between; the rest stays
    /// stable for the next pass ([`HotFolder::ready_left`]).
    pub fn scan_within(
        &mut self,
        budget: Option<Duration>,
        mut sink: impl FnMut(&Arrival<'_>) -> Result<Taken, String>,
    ) -> std::io::Result<Vec<Outcome>> {
        let (prepared, mut outcomes) = self.prepare(budget)?;
        for p in prepared {
            outcomes.push(self.commit(p, &mut sink)?);
        }
        Ok(outcomes)
    }

    /// The first half of a pass, without the sink: find the stable files and check
    /// them (while `budget` lasts, at least one). Returns the files ready to store
    /// and what happened to the others.
    pub fn prepare(
        &mut self,
        budget: Option<Duration>,
    ) -> std::io::Result<(Vec<Prepared>, Vec<Outcome>)> {
        let now = Instant::now();
        self.ready_left = 0;
        let mut took_one = false;
        let mut outcomes = std::mem::take(&mut self.recovered);
        let mut prepared = Vec::new();
        let mut present = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(_) => continue,
            };
            if !meta.is_file() || ignored(&name) {
                continue;
            }
            present.push(name.clone());
            let (size, modified) = (meta.len(), meta.modified().ok());
            let seen = self.seen.entry(name.clone()).or_insert(Seen {
                size,
                modified,
                since: now,
                attempts: 0,
                not_before: None,
            });
            if seen.size != size || seen.modified != modified {
                // Still being written: start the stability clock again.
                seen.size = size;
                seen.modified = modified;
                seen.since = now;
                continue;
            }
            if now.duration_since(seen.since) < self.config.stable_for
                || seen.not_before.is_some_and(|t| now < t)
            {
                continue;
            }
            if took_one && budget.is_some_and(|b| now.elapsed() >= b) {
                self.ready_left += 1;
                continue;
            }
            took_one = true;
            let display = name.to_string_lossy().into_owned();
            let result = if size > self.config.max_bytes {
                Err((
                    format!(
                        "Die Datei ist größer als {} MB.",
                        self.config.max_bytes / 1024 / 1024
                    ),
                    true,
                ))
            } else {
                self.check(&name, &display)
            };
            match result {
                Ok(p) => prepared.push(p),
                Err((reason, permanent)) => {
                    outcomes.push(self.failed(&name, display, reason, permanent)?);
                }
            }
        }
        // Forget files that went away (taken by someone else, deleted).
        self.seen.retain(|n, _| present.contains(n));
        Ok((prepared, outcomes))
    }

    /// The second half of a pass: hand a checked file to the sink; once stored
    /// durably it leaves the share.
    pub fn commit(
        &mut self,
        p: Prepared,
        sink: &mut impl FnMut(&Arrival<'_>) -> Result<Taken, String>,
    ) -> std::io::Result<Outcome> {
        match self.store(&p, sink) {
            Ok(outcome) => {
                self.seen.remove(&p.raw);
                Ok(outcome)
            }
            Err((reason, permanent)) => self.failed(&p.raw, p.name, reason, permanent),
        }
    }

    /// A failed attempt: tried again later with a growing pause, or (final, or too
    /// many attempts) moved to `fehler/` with the reason.
    fn failed(
        &mut self,
        name: &OsStr,
        display: String,
        reason: String,
        permanent: bool,
    ) -> std::io::Result<Outcome> {
        let seen = self.seen.get_mut(name);
        let attempts = seen.as_ref().map(|s| s.attempts + 1).unwrap_or(1);
        if permanent || attempts >= self.config.max_attempts {
            self.to_failed(name, &reason)?;
            self.seen.remove(name);
            return Ok(Outcome::Failed {
                name: display,
                reason,
            });
        }
        if let Some(s) = seen {
            s.attempts = attempts;
            s.not_before = Some(Instant::now() + self.config.retry_after * 2u32.pow(attempts - 1));
        }
        Ok(Outcome::Retrying {
            name: display,
            reason,
        })
    }

    /// Check a file (bounded, see [`HotFolder::inspect_bounded`]) and hash it;
    /// Err((reason, permanent)).
    fn check(&self, name: &OsStr, display: &str) -> Result<Prepared, (String, bool)> {
        let path = self.dir.join(name);
        let before = file_size(&path)?;
        let marker = self.dir.join(MARKER);
        write_marker(&marker, name).map_err(|e| {
            (
                format!("Der Eingangsordner ist nicht beschreibbar: {e}"),
                false,
            )
        })?;
        let checked = self.inspect_bounded(&path);
        // Decided either way (a file that ran out of time goes to `fehler/` now).
        let _ = std::fs::remove_file(&marker); // gone already: nothing to undo
        let inspection = checked?;
        let sha256 = sha256_of(&path)
            .map_err(|e| (format!("Die Datei lässt sich nicht lesen: {e}"), false))?;
        // Unchanged while we read it?
        if file_size(&path)? != before {
            return Err(("Die Datei hat sich beim Lesen geändert.".into(), false));
        }
        Ok(Prepared {
            raw: name.to_owned(),
            name: display.to_owned(),
            path,
            size: before,
            sha256,
            inspection,
        })
    }

    /// The check in a thread of its own: a panic or a hang of the parser refuses
    /// the file for good instead of taking the program down or holding it. (A
    /// check that ran out of time goes on in the background until it ends.)
    fn inspect_bounded(&self, path: &Path) -> Result<Inspection, (String, bool)> {
        let (tx, rx) = std::sync::mpsc::channel();
        let inspector = self.config.inspector;
        let file = path.to_path_buf();
        std::thread::Builder::new()
            .name("scan-pruefung".into())
            .spawn(move || {
                let _ = tx.send(inspector(&file)); // the pass may have given up waiting
            })
            .map_err(|e| (format!("Die Prüfung ließ sich nicht starten: {e}"), false))?;
        let limit = self.config.inspect_timeout;
        match rx.recv_timeout(limit) {
            Ok(Ok(inspection)) => Ok(inspection),
            // A damaged file may still be in transit: try again; the rest is final.
            Ok(Err(r)) => Err((r.to_string(), !matches!(r, Reject::Damaged(_)))),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err((
                format!(
                    "Die Prüfung der Datei dauerte länger als {} s und wurde aufgegeben; die Datei wird nicht noch einmal gelesen.",
                    limit.as_secs_f64().ceil()
                ),
                true,
            )),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err((
                "Die Prüfung der Datei ist abgebrochen (Fehler beim Lesen des Formats); die Datei wird nicht noch einmal gelesen.".into(),
                true,
            )),
        }
    }

    /// Hand a checked file to the sink; Err((reason, permanent)).
    fn store(
        &self,
        p: &Prepared,
        sink: &mut impl FnMut(&Arrival<'_>) -> Result<Taken, String>,
    ) -> Result<Outcome, (String, bool)> {
        // Changed or replaced since it was checked?
        if file_size(&p.path)? != p.size {
            return Err((
                "Die Datei hat sich nach der Prüfung geändert.".into(),
                false,
            ));
        }
        let arrival = Arrival {
            name: p.name.clone(),
            path: &p.path,
            size: p.size,
            sha256: p.sha256.clone(),
            inspection: p.inspection.clone(),
        };
        match sink(&arrival) {
            Ok(Taken::Stored) => {
                std::fs::remove_file(&p.path).map_err(|e| {
                    (
                        format!("Gespeichert, aber nicht aus dem Eingangsordner entfernbar: {e}"),
                        false,
                    )
                })?;
                Ok(Outcome::Stored {
                    name: p.name.clone(),
                    pages: p.inspection.pages,
                })
            }
            Ok(Taken::Duplicate(of)) => Err((
                format!("Doppelt eingereicht: derselbe Inhalt liegt schon vor ({of})."),
                true,
            )),
            Err(e) => Err((format!("Speichern fehlgeschlagen: {e}"), false)),
        }
    }

    /// Move a file to `fehler/` with a reason file; never overwrites.
    fn to_failed(&self, name: &OsStr, reason: &str) -> std::io::Result<()> {
        let failed = self.dir.join("fehler");
        std::fs::create_dir_all(&failed)?;
        let base = safe_name(name);
        let mut target = failed.join(&base);
        let mut n = 1;
        while target.exists() {
            target = failed.join(format!("{n}-{base}"));
            n += 1;
        }
        std::fs::rename(self.dir.join(name), &target)?;
        let mut reason_file = target.clone().into_os_string();
        reason_file.push(".grund.txt");
        std::fs::write(
            reason_file,
            format!("Datei: {}\nGrund: {reason}\n", name.to_string_lossy()),
        )
    }
}

/// A running watch of the hot folder; dropping it stops watching.
pub type Watch = notify_debouncer_full::Debouncer<
    notify::RecommendedWatcher,
    notify_debouncer_full::RecommendedCache,
>;

fn file_size(path: &Path) -> Result<u64, (String, bool)> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| (format!("Die Datei lässt sich nicht öffnen: {e}"), false))
}

/// Name the file being checked, durably, before the check begins.
fn write_marker(marker: &Path, name: &OsStr) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::File::create(marker)?;
    f.write_all(hex::encode(name.as_encoded_bytes()).as_bytes())?;
    f.sync_all()
}

/// SHA-256 (hex) of a file, read in chunks.
fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Watch the folder: `on_change` is called (debounced) when files appear or change,
/// and with `rescan` at least that often as a safety net for shares that send no
/// events (None: the caller has its own timer).
pub fn watch(
    dir: &Path,
    rescan: Option<Duration>,
    on_change: impl Fn() + Send + Sync + 'static,
) -> Result<Watch, notify::Error> {
    use notify::RecursiveMode;
    let on_change = std::sync::Arc::new(on_change);
    if let Some(rescan) = rescan {
        let tick = on_change.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(rescan);
                if std::sync::Arc::strong_count(&tick) == 1 {
                    break;
                }
                tick();
            }
        });
    }
    let mut debouncer = notify_debouncer_full::new_debouncer(
        Duration::from_millis(500),
        None,
        move |_result: notify_debouncer_full::DebounceEventResult| on_change(),
    )?;
    debouncer.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(debouncer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_windows_would_refuse_or_misread_are_renamed_for_the_error_folder() {
        for hostile in [
            "CON",
            "con.pdf",
            "NUL.tif",
            "Aux.tar.gz",
            "COM1.pdf",
            "lpt9",
            "COM¹.pdf",
            "CONIN$",
            "scan.pdf.",
            "scan.pdf ",
            "a<b>.pdf",
            "frage?.pdf",
            "x:y.pdf",
            "pipe|.pdf",
            "stern*.pdf",
            "zeile\nneu.pdf",
            "\"zitat\".pdf",
            "a\\b.pdf",
        ] {
            let safe = safe_name(OsStr::new(hostile));
            assert_ne!(safe, hostile, "{hostile:?} must not be used as it is");
            assert!(portable(&safe), "{hostile:?} became {safe:?}");
        }
    }

    #[test]
    fn ordinary_names_stay_as_they_are() {
        for name in [
            "Antrag Müller 2026-12-04.pdf",
            "CONTRACT.pdf",
            "console.tif",
            "COM10.pdf",
            "LPT.pdf",
            "Scan 001.tiff",
            "Bescheid.v2.pdf",
        ] {
            assert_eq!(safe_name(OsStr::new(name)), name);
        }
    }

    #[test]
    fn long_names_are_shortened_with_a_hash() {
        let long = format!("{}.pdf", "a".repeat(300));
        let safe = safe_name(OsStr::new(&long));
        assert!(safe.len() < 100 && portable(&safe), "{safe}");
        // Two different long names stay apart.
        let other = format!("{}b.pdf", "a".repeat(300));
        assert_ne!(safe, safe_name(OsStr::new(&other)));
    }
}
