//! Durable, atomic file writes: temp file in the target directory, fsync, then an
//! atomic replace.
//!
//! On Unix the replace is `rename` followed by an fsync of the directory. Windows
//! cannot open a directory as a file to fsync it; there the replace is
//! `MoveFileExW(MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)`, which returns
//! only once the move is on disk, and NTFS journals the directory entry. A file held
//! open for a moment by a virus scanner or the search indexer (sharing violation,
//! access denied) is retried with a bound on Windows before the error is reported.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

/// A file being written under a temporary name; becomes visible only on `commit`.
/// Dropping it without commit removes the temporary file.
pub(crate) struct AtomicFile {
    tmp: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    pub(crate) fn create(tmp: PathBuf) -> Result<Self> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .at(&tmp)?;
        Ok(AtomicFile {
            tmp,
            file: Some(file),
        })
    }

    pub(crate) fn writer(&mut self) -> &mut File {
        // Invariant: `file` is Some until commit/drop consumes it.
        match self.file.as_mut() {
            Some(f) => f,
            None => unreachable!("AtomicFile used after commit"),
        }
    }

    /// fsync the data, then replace `dest` with it durably (see the module docs).
    pub(crate) fn commit(mut self, dest: &Path) -> Result<()> {
        if let Some(file) = self.file.take() {
            file.sync_all().at(&self.tmp)?;
        }
        replace(&self.tmp, dest)?;
        // Nothing left to clean up.
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.file.take();
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Make a directory's entries durable: fsync of the directory on Unix. On Windows a
/// directory cannot be opened as a file; NTFS journals directory entries and every
/// replace is written through (see [`replace`]), so there is nothing to do.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    durable::sync_dir(dir).at(dir)
}

/// Move `src` onto `dest` (replacing it) so that after a crash either the old or the
/// new file is there, and the new one is on disk when this returns.
pub(crate) fn replace(src: &Path, dest: &Path) -> Result<()> {
    durable::replace(src, dest).at(dest)
}

/// The same steps for files outside the store (the cash system's folder, the town's
/// `gemeinde.toml`), with plain I/O errors.
pub mod durable {
    use std::path::Path;

    /// See [`super::sync_dir`].
    pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            std::fs::File::open(dir).and_then(|d| d.sync_all())
        }
        #[cfg(not(unix))]
        {
            let _ = dir;
            Ok(())
        }
    }

    /// See [`super::replace`].
    pub fn replace(src: &Path, dest: &Path) -> std::io::Result<()> {
        #[cfg(windows)]
        {
            // `MoveFileExW` takes paths longer than 260 characters only in their
            // verbatim form; std does this conversion for its own calls.
            let (src, dest) = (super::long_path(src), super::long_path(dest));
            super::with_retries(super::is_transient, || {
                atomicwrites::replace_atomic(&src, &dest)
            })
        }
        #[cfg(not(windows))]
        {
            std::fs::rename(src, dest)?;
            sync_dir(parent(dest))
        }
    }

    /// The folder a file is in (`.` for a bare name).
    #[cfg_attr(windows, allow(dead_code))]
    fn parent(path: &Path) -> &Path {
        match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }
}

/// Remove a file; on Windows a file another program holds open for a moment is
/// retried with a bound.
pub(crate) fn remove_file(path: &Path) -> std::io::Result<()> {
    #[cfg(windows)]
    {
        with_retries(is_transient, || fs::remove_file(path))
    }
    #[cfg(not(windows))]
    {
        fs::remove_file(path)
    }
}

/// Pauses between tries of an operation that met a transient error: 10 ms doubling
/// to 1.28 s, about 2.5 s in all – long enough for a virus scanner's look at a file,
/// short enough that a file locked for good is reported while the clerk waits.
#[cfg_attr(not(windows), allow(dead_code))]
const RETRY_PAUSES_MS: [u64; 8] = [10, 20, 40, 80, 160, 320, 640, 1280];

/// Run `op`; while it fails with an error `transient` accepts, pause and try again,
/// at most once per pause of [`RETRY_PAUSES_MS`]. The last error is returned.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn with_retries<T>(
    transient: impl Fn(&std::io::Error) -> bool,
    mut op: impl FnMut() -> std::io::Result<T>,
) -> std::io::Result<T> {
    let mut pauses = RETRY_PAUSES_MS.iter();
    loop {
        match op() {
            Err(e) if transient(&e) => match pauses.next() {
                Some(ms) => std::thread::sleep(std::time::Duration::from_millis(*ms)),
                None => return Err(e),
            },
            other => return other,
        }
    }
}

/// Errors Windows gives while another program (virus scanner, search indexer,
/// backup agent) has a file open: access denied (5), sharing violation (32), lock
/// violation (33).
pub(crate) fn is_transient(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(5 | 32 | 33))
}

/// Write `bytes` to `dest` atomically (same directory temp file).
pub(crate) fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let dir = dest.parent().unwrap_or_else(|| Path::new("."));
    let name = dest
        .file_name()
        // Callers pass file paths; without a name the temp file is still unique.
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", crate::random_hex(8)));
    let mut f = AtomicFile::create(tmp)?;
    f.writer().write_all(bytes).at(dest)?;
    f.commit(dest)
}

/// A path Windows APIs take at any length: absolute, in its verbatim form
/// (`\\?\C:\…`, `\\?\UNC\server\share\…`). Paths that cannot be made absolute
/// are returned as given.
#[cfg(windows)]
pub(crate) fn long_path(path: &Path) -> PathBuf {
    // `absolute` uses GetFullPathNameW: separators and `..` normalised, as the
    // verbatim form requires.
    match std::path::absolute(path) {
        Ok(abs) => match abs.to_str().and_then(verbatim) {
            Some(v) => PathBuf::from(v),
            None => abs,
        },
        Err(_) => path.to_path_buf(),
    }
}

/// The verbatim form of an absolute Windows path, or `None` when it has one already
/// (`\\?\`, `\\.\`) or is not a drive or UNC path.
#[cfg_attr(not(windows), allow(dead_code))]
fn verbatim(abs: &str) -> Option<String> {
    if abs.starts_with(r"\\?\") || abs.starts_with(r"\\.\") {
        return None;
    }
    if let Some(unc) = abs.strip_prefix(r"\\") {
        return Some(format!(r"\\?\UNC\{unc}"));
    }
    let bytes = abs.as_bytes();
    let drive =
        bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && bytes[2] == b'\\';
    drive.then(|| format!(r"\\?\{abs}"))
}

/// Create the top folder of a store or backup: like [`create_private_dir`], and on
/// Windows a folder created here gets an access list of its own – full control for
/// the signed-in user and SYSTEM (backup agents), nothing inherited, so other
/// accounts of the PC see nothing – which everything below inherits. A folder that
/// exists already keeps its list (the installer's shared folder has one made for
/// all clerks of the PC). Where the list cannot be set (FAT-formatted stick) the
/// folder is used anyway, with a warning in the log: its content is encrypted.
pub(crate) fn create_private_root(dir: &Path) -> Result<()> {
    #[cfg(windows)]
    {
        let existed = dir.exists();
        create_private_dir(dir)?;
        if !existed && let Err(e) = restrict_to_user(dir) {
            tracing::warn!("Zugriffsliste für {} nicht gesetzt: {e}", dir.display());
        }
        Ok(())
    }
    #[cfg(not(windows))]
    {
        create_private_dir(dir)
    }
}

/// The arguments to `icacls` that give `dir` a list of its own: inheritance removed,
/// full control for `user` and for SYSTEM (S-1-5-18), passed on to every subfolder
/// and file.
#[cfg_attr(not(windows), allow(dead_code))]
fn icacls_args(dir: &Path, user: &str) -> Vec<std::ffi::OsString> {
    vec![
        dir.as_os_str().to_owned(),
        "/inheritance:r".into(),
        "/grant:r".into(),
        format!("{user}:(OI)(CI)F").into(),
        "*S-1-5-18:(OI)(CI)F".into(),
        "/q".into(),
    ]
}

/// Set the list of [`icacls_args`] with Windows' own `icacls` (from the system
/// folder, not from `PATH`) for the signed-in account (`USERDOMAIN\USERNAME`).
#[cfg(windows)]
fn restrict_to_user(dir: &Path) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    let name = std::env::var("USERNAME")
        .ok()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::new(ErrorKind::NotFound, "USERNAME ist nicht gesetzt"))?;
    let user = match std::env::var("USERDOMAIN") {
        Ok(domain) if !domain.is_empty() => format!("{domain}\\{name}"),
        _ => name,
    };
    let system = std::env::var_os("SystemRoot").unwrap_or_else(|| r"C:\Windows".into());
    let icacls = Path::new(&system).join("System32").join("icacls.exe");
    // No console window flashing up over the app.
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    use std::os::windows::process::CommandExt as _;
    let out = std::process::Command::new(icacls)
        .args(icacls_args(dir, &user))
        .stdin(std::process::Stdio::null())
        .creation_flags(CREATE_NO_WINDOW)
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::other(format!(
            "icacls endete mit {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Create a directory (and parents) with owner-only permissions where the OS supports it.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .at(dir)
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(dir).at(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn sharing_violation() -> std::io::Error {
        std::io::Error::from_raw_os_error(32)
    }

    #[test]
    fn a_file_held_for_a_moment_is_retried_then_succeeds() {
        let tries = Cell::new(0);
        let r = with_retries(is_transient, || {
            tries.set(tries.get() + 1);
            if tries.get() < 4 {
                Err(sharing_violation())
            } else {
                Ok("ok")
            }
        });
        assert_eq!(r.ok(), Some("ok"));
        assert_eq!(tries.get(), 4);
    }

    #[test]
    fn a_file_locked_for_good_is_reported_after_a_bounded_number_of_tries() {
        let tries = Cell::new(0);
        let r: std::io::Result<()> = with_retries(is_transient, || {
            tries.set(tries.get() + 1);
            Err(sharing_violation())
        });
        assert_eq!(r.err().and_then(|e| e.raw_os_error()), Some(32));
        assert_eq!(tries.get(), RETRY_PAUSES_MS.len() + 1);
    }

    #[test]
    fn other_errors_are_not_retried() {
        let tries = Cell::new(0);
        let r: std::io::Result<()> = with_retries(is_transient, || {
            tries.set(tries.get() + 1);
            Err(std::io::Error::new(std::io::ErrorKind::NotFound, "weg"))
        });
        assert!(r.is_err());
        assert_eq!(tries.get(), 1);
    }

    #[test]
    fn windows_paths_get_their_verbatim_form_once() {
        assert_eq!(
            verbatim(r"C:\Users\Anna\AppData\Local\amtsstube\keys\x.age").as_deref(),
            Some(r"\\?\C:\Users\Anna\AppData\Local\amtsstube\keys\x.age")
        );
        assert_eq!(
            verbatim(r"\\rathaus\daten\amtsstube").as_deref(),
            Some(r"\\?\UNC\rathaus\daten\amtsstube")
        );
        assert_eq!(verbatim(r"\\?\C:\daten"), None);
        assert_eq!(verbatim(r"\\.\COM1"), None);
        assert_eq!(verbatim("daten"), None);
        assert_eq!(verbatim("C:daten"), None);
    }

    #[test]
    fn the_access_list_is_for_the_user_and_system_only_and_inherited_below() {
        let args = icacls_args(Path::new(r"C:\Daten\Amtsstube"), r"RATHAUS\anna");
        let args: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
        assert_eq!(
            args,
            [
                r"C:\Daten\Amtsstube",
                "/inheritance:r",
                "/grant:r",
                r"RATHAUS\anna:(OI)(CI)F",
                "*S-1-5-18:(OI)(CI)F",
                "/q"
            ]
        );
    }

    #[test]
    fn replace_swaps_the_file_in_one_step() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let dest = dir.path().join("ziel.json");
        write_atomic(&dest, b"alt")?;
        write_atomic(&dest, b"neu")?;
        assert_eq!(fs::read(&dest).ok().as_deref(), Some(&b"neu"[..]));
        // Only the file itself is left: no temporary file.
        let names: Vec<_> = fs::read_dir(dir.path())
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(names.len(), 1, "{names:?}");
        Ok(())
    }
}
