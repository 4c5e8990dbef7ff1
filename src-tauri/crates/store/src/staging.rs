//! Staging of fetched submissions that are still encrypted: while nobody is logged
//! in (the database is closed) the workstation may fetch what waits at the portal
//! and keep it here, exactly as received – JWEs encrypted to the destination key and
//! the service's signed event log, no plaintext. After the next login the sync run
//! verifies, decrypts and stores them as if they had just been fetched, even when the
//! network is gone by then. Files are written atomically (`<submission id>.json`).
//!
//! Works on a locked [`Store`]: no key is needed to stage.

use std::path::PathBuf;

use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::{create_private_dir, write_atomic};
use crate::{Session, Store};

fn valid_id(id: &str) -> bool {
    id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

impl Store {
    fn staging_dir(&self) -> PathBuf {
        self.layout().dir.join("staging")
    }

    /// Keep the encrypted bundle of one submission (replaces an older copy).
    pub fn stage(&self, submission_id: &str, bundle: &[u8]) -> Result<()> {
        if !valid_id(submission_id) {
            return Err(StoreError::InvalidInput(format!(
                "ungültige Einreichungs-ID {submission_id}"
            )));
        }
        let dir = self.staging_dir();
        create_private_dir(&dir)?;
        write_atomic(&dir.join(format!("{submission_id}.json")), bundle)
    }

    /// Ids of the staged submissions.
    pub fn staged_ids(&self) -> Result<Vec<String>> {
        let dir = self.staging_dir();
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).at(&dir)? {
            let name = entry.at(&dir)?.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".json")
                && valid_id(id)
            {
                out.push(id.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    pub fn read_staged(&self, submission_id: &str) -> Result<Vec<u8>> {
        if !valid_id(submission_id) {
            return Err(StoreError::InvalidInput(format!(
                "ungültige Einreichungs-ID {submission_id}"
            )));
        }
        let path = self.staging_dir().join(format!("{submission_id}.json"));
        std::fs::read(&path).at(&path)
    }

    /// Forget a staged copy (stored, refused or gone from the portal).
    pub fn unstage(&self, submission_id: &str) -> Result<()> {
        if !valid_id(submission_id) {
            return Ok(());
        }
        let path = self.staging_dir().join(format!("{submission_id}.json"));
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).at(&path),
            _ => Ok(()),
        }
    }
}

impl Session {
    /// Staged copies whose submission is known locally now are removed; the ids of
    /// the remaining ones are returned.
    pub fn clean_staging(&self) -> Result<Vec<String>> {
        let mut left = Vec::new();
        for id in self.store().staged_ids()? {
            if self.submission_state(&id)?.is_some() {
                self.store().unstage(&id)?;
            } else {
                left.push(id);
            }
        }
        Ok(left)
    }
}
