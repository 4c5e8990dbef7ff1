//! Staging of fetched submissions that are still encrypted: while nobody is logged
//! in (the database is closed) the workstation may fetch what waits at the portal
//! and keep it here, exactly as received – JWEs encrypted to the destination key and
//! the service's signed event log, no plaintext. After the next login the sync run
//! verifies, decrypts and stores them as if they had just been fetched, even when the
//! network is gone by then. Files are written atomically (`<submission id>.json`).
//!
//! Works on a locked [`Store`], but not without a key: every staged file carries an
//! HMAC-SHA256 under a [`StagingKey`] derived from the master key, over the
//! submission id and the bundle. The key is handed out by a logged-in session and
//! kept in memory by whoever fetches after the logout (the app's background task);
//! it is never written down. Whoever can write the data folder but does not know the
//! master key cannot plant a bundle, change one or swap two: [`Session::read_staged`]
//! refuses it, and the sync run fetches that submission again from the portal.

use std::path::PathBuf;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::{create_private_dir, write_atomic};
use crate::{Session, Store};

/// First line of a staged file: the format and its version.
const MAGIC: &[u8] = b"AMTSSTUBE-VORABRUF-1\n";

/// The key that seals staged bundles: derived from the master key, never stored.
pub struct StagingKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for StagingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StagingKey(…)")
    }
}

impl StagingKey {
    fn mac(&self, submission_id: &str, bundle: &[u8]) -> Result<Hmac<Sha256>> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.0[..])
            .map_err(|e| StoreError::Crypto(e.to_string()))?;
        m.update(&(submission_id.len() as u64).to_be_bytes());
        m.update(submission_id.as_bytes());
        m.update(bundle);
        Ok(m)
    }
}

/// Why a staged file is not believed.
fn forged(submission_id: &str, why: &str) -> StoreError {
    StoreError::StagedForged(format!(
        "Der vorab abgerufene Antrag {submission_id} ist nicht so, wie Amtsstube ihn abgelegt hat ({why}). \
         Er wird verworfen und neu vom Portal abgerufen."
    ))
}

fn valid_id(id: &str) -> bool {
    id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

impl Store {
    fn staging_dir(&self) -> PathBuf {
        self.layout().dir.join("staging")
    }

    /// Keep the encrypted bundle of one submission (replaces an older copy), sealed
    /// with `key`.
    pub fn stage(&self, submission_id: &str, bundle: &[u8], key: &StagingKey) -> Result<()> {
        if !valid_id(submission_id) {
            return Err(StoreError::InvalidInput(format!(
                "ungültige Einreichungs-ID {submission_id}"
            )));
        }
        let tag = hex::encode(key.mac(submission_id, bundle)?.finalize().into_bytes());
        let mut file = Vec::with_capacity(MAGIC.len() + tag.len() + 1 + bundle.len());
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(tag.as_bytes());
        file.push(b'\n');
        file.extend_from_slice(bundle);
        let dir = self.staging_dir();
        create_private_dir(&dir)?;
        write_atomic(&dir.join(format!("{submission_id}.json")), &file)
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

    /// The bundle of one staged submission, if its seal fits `key`; a file that
    /// Amtsstube did not write this way is [`StoreError::StagedForged`].
    pub fn read_staged(&self, submission_id: &str, key: &StagingKey) -> Result<Vec<u8>> {
        if !valid_id(submission_id) {
            return Err(StoreError::InvalidInput(format!(
                "ungültige Einreichungs-ID {submission_id}"
            )));
        }
        let path = self.staging_dir().join(format!("{submission_id}.json"));
        let file = std::fs::read(&path).at(&path)?;
        let Some(rest) = file.strip_prefix(MAGIC) else {
            return Err(forged(submission_id, "ohne Siegel"));
        };
        let Some(newline) = rest.iter().position(|b| *b == b'\n') else {
            return Err(forged(submission_id, "Siegel unvollständig"));
        };
        let (tag, bundle) = (&rest[..newline], &rest[newline + 1..]);
        let Ok(tag) = hex::decode(tag) else {
            return Err(forged(submission_id, "Siegel unlesbar"));
        };
        // `verify_slice` compares in constant time.
        if key.mac(submission_id, bundle)?.verify_slice(&tag).is_err() {
            return Err(forged(submission_id, "Siegel passt nicht"));
        }
        Ok(bundle.to_vec())
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
    /// The key that seals staged bundles, for fetching after this session ends.
    pub fn staging_key(&self) -> Result<StagingKey> {
        let mut k = Hmac::<Sha256>::new_from_slice(self.key.bytes())
            .map_err(|e| StoreError::Crypto(e.to_string()))?;
        k.update(b"amtsstube/vorabruf/v1");
        Ok(StagingKey(Zeroizing::new(k.finalize().into_bytes().into())))
    }

    /// The bundle of one staged submission, checked with this store's key.
    pub fn read_staged(&self, submission_id: &str) -> Result<Vec<u8>> {
        self.store()
            .read_staged(submission_id, &self.staging_key()?)
    }

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
