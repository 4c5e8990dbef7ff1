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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stable_for: Duration::from_secs(5),
            max_attempts: 3,
            retry_after: Duration::from_secs(10),
            max_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

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

/// A name that is safe to create in `fehler/`: the original if it is plain UTF-8 of
/// reasonable length, otherwise a readable part plus a hash of the raw name.
fn safe_name(name: &OsStr) -> String {
    let lossy = name.to_string_lossy();
    let plain = name.to_str().is_some()
        && lossy.len() <= 180
        && !lossy.contains(['/', '\\', '\0'])
        && lossy != "."
        && lossy != "..";
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
    format!("{readable}-{hash}")
}

impl HotFolder {
    pub fn new(dir: impl Into<PathBuf>, config: Config) -> std::io::Result<HotFolder> {
        let dir = dir.into();
        std::fs::create_dir_all(dir.join("fehler"))?;
        Ok(HotFolder {
            dir,
            config,
            seen: HashMap::new(),
            ready_left: 0,
        })
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
        let now = Instant::now();
        self.ready_left = 0;
        let mut took_one = false;
        let mut outcomes = Vec::new();
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
                self.take(&name, &display, &mut sink)
            };
            match result {
                Ok(outcome) => {
                    self.seen.remove(&name);
                    outcomes.push(outcome);
                }
                Err((reason, permanent)) => {
                    let seen = self.seen.get_mut(&name);
                    let attempts = seen.as_ref().map(|s| s.attempts + 1).unwrap_or(1);
                    if permanent || attempts >= self.config.max_attempts {
                        self.to_failed(&name, &reason)?;
                        self.seen.remove(&name);
                        outcomes.push(Outcome::Failed {
                            name: display,
                            reason,
                        });
                    } else {
                        if let Some(s) = seen {
                            s.attempts = attempts;
                            s.not_before =
                                Some(now + self.config.retry_after * 2u32.pow(attempts - 1));
                        }
                        outcomes.push(Outcome::Retrying {
                            name: display,
                            reason,
                        });
                    }
                }
            }
        }
        // Forget files that went away (taken by someone else, deleted).
        self.seen.retain(|n, _| present.contains(n));
        Ok(outcomes)
    }

    /// Read, check, hand to the sink; Err((reason, permanent)).
    fn take(
        &self,
        name: &OsStr,
        display: &str,
        sink: &mut impl FnMut(&Arrival<'_>) -> Result<Taken, String>,
    ) -> Result<Outcome, (String, bool)> {
        let path = self.dir.join(name);
        let size = |path: &Path| {
            std::fs::metadata(path)
                .map(|m| m.len())
                .map_err(|e| (format!("Die Datei lässt sich nicht öffnen: {e}"), false))
        };
        let before = size(&path)?;
        let inspection = inspect_file(&path).map_err(|r| {
            // A damaged file may still be in transit: try again; the rest is final.
            let permanent = !matches!(r, Reject::Damaged(_));
            (r.to_string(), permanent)
        })?;
        let sha256 = sha256_of(&path)
            .map_err(|e| (format!("Die Datei lässt sich nicht lesen: {e}"), false))?;
        // Unchanged while we read it?
        if size(&path)? != before {
            return Err(("Die Datei hat sich beim Lesen geändert.".into(), false));
        }
        let arrival = Arrival {
            name: display.to_owned(),
            path: &path,
            size: before,
            sha256,
            inspection: inspection.clone(),
        };
        match sink(&arrival) {
            Ok(Taken::Stored) => {
                std::fs::remove_file(&path).map_err(|e| {
                    (
                        format!("Gespeichert, aber nicht aus dem Eingangsordner entfernbar: {e}"),
                        false,
                    )
                })?;
                Ok(Outcome::Stored {
                    name: display.to_owned(),
                    pages: inspection.pages,
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
