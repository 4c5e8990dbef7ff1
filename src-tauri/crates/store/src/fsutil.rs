//! Durable, atomic file writes: temp file in the target directory, fsync, rename, fsync dir.

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

    /// fsync the data, rename onto `dest`, fsync the destination directory.
    pub(crate) fn commit(mut self, dest: &Path) -> Result<()> {
        if let Some(file) = self.file.take() {
            file.sync_all().at(&self.tmp)?;
        }
        fs::rename(&self.tmp, dest).at(dest)?;
        if let Some(dir) = dest.parent() {
            sync_dir(dir)?;
        }
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

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
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
