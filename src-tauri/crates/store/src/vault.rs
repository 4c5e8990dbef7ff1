//! The blob vault: documents as age-encrypted files with random names.
//!
//! Write path: `tmp/<id>.part` (streamed through age, 64 KiB chunks) → fsync →
//! rename to `<id[..2]>/<id>` → fsync dir → `blobs` row committed. A crash before the
//! rename leaves only a `.part` file; a crash between rename and commit leaves an
//! orphan file without row. [`Vault::recover`] (run at every unlock) deletes both, so
//! there is never a partial blob and never a row that points to nothing.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

use rusqlite::{Connection, params};
use serde::Serialize;
use sha2::{Digest, Sha256, Sha512};

use crate::config::Layout;
use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::{AtomicFile, create_private_dir};
use crate::keyring::KeyKind;
use crate::{Session, random_hex};

/// Identifier of a blob: 32 lower-case hex characters, random.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct BlobId(String);

impl BlobId {
    fn generate() -> Self {
        BlobId(random_hex(16))
    }

    /// Parse an id from outside (IPC, database). Anything but 32 hex chars is refused,
    /// so an id can never name a path outside the vault.
    pub fn parse(s: &str) -> Result<Self> {
        if s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(BlobId(s.to_owned()))
        } else {
            Err(StoreError::InvalidInput(
                "Ungültige Dokumentkennung.".into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobInfo {
    pub id: BlobId,
    pub size: u64,
    /// SHA-256 of the plaintext (hex).
    pub sha256: String,
    /// The key the file is encrypted to.
    #[serde(skip)]
    pub(crate) sealed: Sealed,
}

/// Which key a vault file is encrypted to (`blobs.sealed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sealed {
    /// The vault key: every local account (quarantine, files from before the keys).
    Tresor,
    /// The case key: Sachbearbeitung and Leitung only (see `keyring.rs`).
    Fall,
    /// The scan key and the case key: a scan product (Scanstelle, then caseworkers).
    Scan,
}

impl Sealed {
    fn as_str(self) -> &'static str {
        match self {
            Sealed::Tresor => "tresor",
            Sealed::Fall => "fall",
            Sealed::Scan => "scan",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "fall" => Sealed::Fall,
            "scan" => Sealed::Scan,
            _ => Sealed::Tresor,
        }
    }
}

/// What a document is, for the key it goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Content {
    /// Case content: to the case key once it exists.
    Case,
    /// A scan product or its Transfervermerk: to the scan and the case key once
    /// both exist.
    Scan,
}

/// Result of the vault recovery at unlock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VaultCheck {
    /// Unfinished writes (`tmp/*.part`) removed.
    pub removed_partial: u64,
    /// Finished files without a database row (crash before commit) removed.
    pub removed_orphans: u64,
    /// Rows whose file is missing. Must stay 0; reported, never silently dropped.
    pub missing: u64,
}

/// Streaming reader of a decrypted blob, bound to its entry: read to the end, the
/// plaintext must have the size and SHA-256 recorded for this id, else the last
/// read fails – so two vault files swapped on disk (each intact for age) are
/// refused with a reason. After a seek (page-wise reading of a scan) the hash cannot
/// be followed any more; the total size is still checked then.
pub struct BlobReader {
    inner: age::stream::StreamReader<BufReader<File>>,
    id: BlobId,
    expected_size: u64,
    expected_sha256: String,
    hasher: Option<Sha256>,
    read: u64,
}

impl BlobReader {
    fn mismatch(&self, what: &str) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "Dokument {}: {what} passt nicht zum Eintrag im Datenbestand – die Datei wurde vertauscht oder ersetzt",
                self.id
            ),
        )
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        self.read += n as u64;
        if n == 0
            && !buf.is_empty()
            && let Some(h) = self.hasher.take()
        {
            if self.read != self.expected_size {
                return Err(self.mismatch("Größe"));
            }
            if hex::encode(h.finalize()) != self.expected_sha256 {
                return Err(self.mismatch("Prüfsumme"));
            }
        }
        Ok(n)
    }
}

impl std::io::Seek for BlobReader {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        // Reading out of order: the hash can no longer be followed.
        self.hasher = None;
        let at = self.inner.seek(pos)?;
        if matches!(pos, std::io::SeekFrom::End(0)) && at != self.expected_size {
            return Err(self.mismatch("Größe"));
        }
        Ok(at)
    }
}

#[derive(Clone)]
pub(crate) struct Vault {
    layout: Layout,
    identity: age::x25519::Identity,
    /// The kind keys' public recipients, once made: documents are written to them.
    pub(crate) recipients: BTreeMap<KeyKind, age::x25519::Recipient>,
    /// The kind keys this session's user holds.
    pub(crate) identities: BTreeMap<KeyKind, age::x25519::Identity>,
}

const BUF: usize = 64 * 1024;

/// What [`copy_hashed`] read: size, SHA-256 and (if asked for) SHA-512, in hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Copied {
    pub size: u64,
    pub sha256: String,
    pub sha512: Option<String>,
}

/// Read `source` to its end, hand every chunk to `sink` (encryption) and hash it on
/// a second thread meanwhile – SHA-256 costs more than the encryption, so the two
/// cores of a desk PC share the work; at most a few chunks are in flight. With
/// `sha512` the same thread also takes the SHA-512 (the scan product's second hash
/// for its Transfervermerk: the file is read once).
pub(crate) fn copy_hashed(
    source: &mut impl Read,
    sha512: bool,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<Copied> {
    use std::sync::mpsc::sync_channel;
    const CHUNK: usize = 4 * BUF;
    let (full_tx, full_rx) = sync_channel::<(Vec<u8>, usize)>(3);
    let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(4);
    std::thread::scope(|s| {
        let hasher = s.spawn(move || {
            let mut h = Sha256::new();
            let mut h512 = sha512.then(Sha512::new);
            for (buf, n) in full_rx {
                h.update(&buf[..n]);
                if let Some(h512) = h512.as_mut() {
                    h512.update(&buf[..n]);
                }
                // The reader may have stopped (an error): the buffer is dropped.
                let _ = empty_tx.try_send(buf);
            }
            (
                hex::encode(h.finalize()),
                h512.map(|h| hex::encode(h.finalize())),
            )
        });
        let mut size = 0u64;
        let copied = (|| {
            loop {
                let mut buf = empty_rx.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
                let n = loop {
                    match source.read(&mut buf) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            return Err(StoreError::Io {
                                path: PathBuf::from("<Quelle>"),
                                source: e,
                            });
                        }
                        Ok(n) => break n,
                    }
                };
                if n == 0 {
                    return Ok(());
                }
                sink(&buf[..n])?;
                size += n as u64;
                if full_tx.send((buf, n)).is_err() {
                    return Err(StoreError::Crypto("SHA-256 abgebrochen".into()));
                }
            }
        })();
        // Closing the channel ends the hashing thread.
        drop(full_tx);
        let (sha256, sha512) = hasher
            .join()
            .map_err(|_| StoreError::Crypto("SHA-256 abgebrochen".into()))?;
        copied.map(|()| Copied {
            size,
            sha256,
            sha512,
        })
    })
}

impl Vault {
    pub(crate) fn new(layout: Layout, identity: age::x25519::Identity) -> Self {
        Vault {
            layout,
            identity,
            recipients: BTreeMap::new(),
            identities: BTreeMap::new(),
        }
    }

    fn path(&self, id: &BlobId) -> PathBuf {
        blob_path(&self.layout, id)
    }

    /// Where content goes: the keys of its kind once they exist, else the vault
    /// key (re-encrypted later, [`Session::seal_documents`]).
    fn sealing(&self, content: Content) -> (Vec<age::x25519::Recipient>, Sealed) {
        let fall = self.recipients.get(&KeyKind::Fall);
        let scan = self.recipients.get(&KeyKind::Scan);
        match (content, fall, scan) {
            (Content::Case, Some(f), _) => (vec![f.clone()], Sealed::Fall),
            (Content::Scan, Some(f), Some(s)) => (vec![s.clone(), f.clone()], Sealed::Scan),
            _ => (vec![self.identity.to_public()], Sealed::Tresor),
        }
    }

    /// Remove partial writes and orphan files; count rows whose file is missing.
    pub(crate) fn recover(&self, conn: &Connection) -> Result<VaultCheck> {
        let mut check = VaultCheck::default();
        let tmp = self.layout.vault_tmp();
        create_private_dir(&tmp)?;
        for entry in fs::read_dir(&tmp).at(&tmp)? {
            let entry = entry.at(&tmp)?;
            crate::fsutil::remove_file(&entry.path()).at(&entry.path())?;
            check.removed_partial += 1;
        }
        let root = self.layout.vault();
        let mut known = conn.prepare("SELECT 1 FROM blobs WHERE id = ?1")?;
        for shard in fs::read_dir(&root).at(&root)? {
            let shard = shard.at(&root)?;
            let shard_path = shard.path();
            if !shard_path.is_dir() || shard.file_name() == "tmp" {
                continue;
            }
            for file in fs::read_dir(&shard_path).at(&shard_path)? {
                let file = file.at(&shard_path)?;
                let name = file.file_name().to_string_lossy().into_owned();
                let referenced = match BlobId::parse(&name) {
                    Ok(id) => known.exists(params![id.0])?,
                    Err(_) => false,
                };
                if !referenced {
                    crate::fsutil::remove_file(&file.path()).at(&file.path())?;
                    check.removed_orphans += 1;
                }
            }
        }
        let mut stmt = conn.prepare("SELECT id FROM blobs")?;
        let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for id in ids {
            let id = BlobId::parse(&id?)?;
            if !self.path(&id).is_file() {
                check.missing += 1;
            }
        }
        Ok(check)
    }
}

/// Encrypt `source` to `recipient` into a new vault file: `tmp/<id>.part`, fsync,
/// rename into its shard, fsync the directory. No row: see [`insert_blob_row`].
fn write_file(
    layout: &Layout,
    (recipients, sealed): (&[age::x25519::Recipient], Sealed),
    source: impl Read,
    sha512: bool,
) -> Result<(BlobInfo, Option<String>)> {
    let id = BlobId::generate();
    write_file_as(layout, (recipients, sealed), id, source, sha512)
}

/// [`write_file`] under a given id: a file already there is replaced atomically
/// (a document re-encrypted to another key).
fn write_file_as(
    layout: &Layout,
    (recipients, sealed): (&[age::x25519::Recipient], Sealed),
    id: BlobId,
    mut source: impl Read,
    sha512: bool,
) -> Result<(BlobInfo, Option<String>)> {
    let tmp = layout.vault_tmp().join(format!("{id}.part"));
    let dest = blob_path(layout, &id);
    let mut file = AtomicFile::create(tmp.clone())?;
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| StoreError::Crypto(e.to_string()))?;
    let copied = {
        let out = BufWriter::with_capacity(BUF, file.writer());
        let mut w = encryptor.wrap_output(out).at(&tmp)?;
        let hashed = copy_hashed(&mut source, sha512, |chunk| w.write_all(chunk).at(&tmp))?;
        let mut out = w.finish().at(&tmp)?;
        out.flush().at(&tmp)?;
        hashed
    };
    if let Some(shard) = dest.parent() {
        create_private_dir(shard)?;
    }
    file.commit(&dest)?;
    Ok((
        BlobInfo {
            id,
            size: copied.size,
            sha256: copied.sha256,
            sealed,
        },
        copied.sha512,
    ))
}

fn blob_path(layout: &Layout, id: &BlobId) -> PathBuf {
    layout.vault().join(&id.0[..2]).join(&id.0)
}

/// Writes documents into the vault without touching the database, so that the
/// encryption and the fsyncs of a document can run on another thread than the
/// store's single writer (the pickup writes the documents of the next submissions
/// on every core while the writer commits the current one). It holds only the
/// vault's public recipient: what it writes, it cannot read back.
#[derive(Clone)]
pub struct BlobWriter {
    layout: Layout,
    recipients: Vec<age::x25519::Recipient>,
    sealed: Sealed,
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobWriter(…)")
    }
}

impl BlobWriter {
    /// Write one document durably; its row follows with the transaction that
    /// takes the [`PreparedBlob`].
    pub fn write(&self, source: impl Read) -> Result<PreparedBlob> {
        let (info, _) = write_file(&self.layout, (&self.recipients, self.sealed), source, false)?;
        Ok(PreparedBlob {
            path: blob_path(&self.layout, &info.id),
            info,
            kept: false,
        })
    }
}

/// A document written durably into the vault whose row is not committed yet.
/// Dropped before its transaction reached the commit (the submission was known
/// already, a statement failed and the transaction rolled back, the run ended
/// first), it removes its file. A file whose commit was attempted stays, whatever
/// the commit reported; after a crash or a failed commit a file without a row is
/// an orphan that the next unlock removes ([`VaultCheck::removed_orphans`]).
pub struct PreparedBlob {
    info: BlobInfo,
    path: PathBuf,
    kept: bool,
}

impl std::fmt::Debug for PreparedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PreparedBlob({}, {} Bytes)",
            self.info.id, self.info.size
        )
    }
}

impl PreparedBlob {
    pub fn info(&self) -> &BlobInfo {
        &self.info
    }

    /// Its row goes to the commit: the file stays.
    pub(crate) fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for PreparedBlob {
    fn drop(&mut self) {
        if !self.kept {
            // Best effort: the next unlock removes what is left.
            let _ = crate::fsutil::remove_file(&self.path);
        }
    }
}

/// Record a durable blob file in the `blobs` table (inside the caller's transaction).
pub(crate) fn insert_blob_row(conn: &Connection, info: &BlobInfo, now: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO blobs (id, size, sha256, created_at, sealed) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            info.id.0,
            i64::try_from(info.size).unwrap_or(i64::MAX),
            info.sha256,
            now,
            info.sealed.as_str()
        ],
    )?;
    Ok(())
}

impl Session {
    /// Store a document from a stream. Memory use is constant (64 KiB buffers),
    /// whatever the size. The blob exists once this returns; a crash before that
    /// leaves nothing behind after the next unlock.
    pub fn put_blob(&mut self, source: impl Read) -> Result<BlobInfo> {
        let info = self.write_blob_file(source)?;
        insert_blob_row(&self.conn, &info, &self.now())?;
        Ok(info)
    }

    /// Write the encrypted file (to the vault key: every account) durably but record
    /// no row yet: the caller inserts the row with [`insert_blob_row`] inside its own
    /// transaction. Until then the file is an orphan that the next unlock removes.
    pub(crate) fn write_blob_file(&mut self, source: impl Read) -> Result<BlobInfo> {
        write_file(
            &self.vault.layout,
            (&[self.vault.identity.to_public()], Sealed::Tresor),
            source,
            false,
        )
        .map(|(blob, _)| blob)
    }

    /// Write a document of a kind: case content to the case key, a scan product to
    /// the scan and the case key (each once it exists). Like
    /// [`Session::write_blob_file`], the row follows in the caller's transaction.
    pub(crate) fn write_content_file(
        &mut self,
        content: Content,
        source: impl Read,
        sha512: bool,
    ) -> Result<(BlobInfo, Option<String>)> {
        let (recipients, sealed) = self.vault.sealing(content);
        write_file(&self.vault.layout, (&recipients, sealed), source, sha512)
    }

    /// A writer for case documents off this session's thread (an application's
    /// documents at the pickup): see [`BlobWriter`]. It writes to the case key once
    /// that exists, whoever runs the pickup.
    pub fn blob_writer(&self) -> BlobWriter {
        let (recipients, sealed) = self.vault.sealing(Content::Case);
        BlobWriter {
            layout: self.vault.layout.clone(),
            recipients,
            sealed,
        }
    }

    /// Remove a blob file written by [`Session::write_blob_file`] whose row was never
    /// inserted (best effort: the next unlock removes orphans anyway).
    pub(crate) fn discard_blob_file(&self, blob: &BlobInfo) {
        let _ = crate::fsutil::remove_file(&self.vault.path(&blob.id));
    }

    /// Open a stored document for streaming decryption. Integrity is checked chunk
    /// by chunk by age; a damaged or truncated file fails with an I/O error while reading.
    pub fn open_blob(&self, id: &BlobId) -> Result<BlobReader> {
        let known: bool = self
            .conn
            .prepare_cached("SELECT 1 FROM blobs WHERE id = ?1")?
            .exists(params![id.0])?;
        let path = self.vault.path(id);
        if !known {
            return Err(StoreError::BlobMissing(id.to_string()));
        }
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::BlobMissing(id.to_string()));
            }
            Err(e) => return Err(e).at(&path),
        };
        let info = self.blob_info(id)?;
        let inner = self.decrypt_file(id, file, info.sealed)?;
        Ok(BlobReader {
            inner,
            id: id.clone(),
            expected_size: info.size,
            expected_sha256: info.sha256,
            hasher: Some(Sha256::new()),
            read: 0,
        })
    }

    /// Decrypt a vault file with the keys this session holds. A document sealed
    /// to keys this session does not hold is refused with the reason, not as damage.
    fn decrypt_file(
        &self,
        id: &BlobId,
        file: File,
        sealed: Sealed,
    ) -> Result<age::stream::StreamReader<BufReader<File>>> {
        let held = |k: KeyKind| self.vault.identities.contains_key(&k);
        match sealed {
            Sealed::Fall if !held(KeyKind::Fall) => return Err(self.key_missing(KeyKind::Fall)),
            Sealed::Scan if !held(KeyKind::Fall) && !held(KeyKind::Scan) => {
                return Err(self.key_missing(KeyKind::Scan));
            }
            _ => {}
        }
        let decryptor = age::Decryptor::new_buffered(BufReader::with_capacity(BUF, file))
            .map_err(|e| StoreError::Corrupt(format!("Dokument {id}: {e}")))?;
        let mut identities: Vec<&dyn age::Identity> = vec![&self.vault.identity];
        identities.extend(
            self.vault
                .identities
                .values()
                .map(|i| i as &dyn age::Identity),
        );
        decryptor
            .decrypt(identities.into_iter())
            .map_err(|e| StoreError::Corrupt(format!("Dokument {id}: {e}")))
    }

    /// Why a document of `kind` stays closed to this session.
    fn key_missing(&self, kind: KeyKind) -> StoreError {
        let role = self.user().role;
        let (what, holders) = match kind {
            KeyKind::Fall => ("ein Vorgangsinhalt", "Sachbearbeitung oder Leitung"),
            KeyKind::Scan => ("ein Scanprodukt", "Scanstelle oder Leitung"),
        };
        StoreError::CaseKeyMissing(if office::keyring::may_hold(role, kind) {
            format!(
                "Dieses Dokument ist {what}; sein Schlüssel ist für Ihren Zugang noch nicht \
                 freigeschaltet. Das geschieht, sobald sich eine Kollegin oder ein Kollege aus \
                 {holders} an diesem Datenbestand anmeldet."
            )
        } else {
            format!(
                "Dieses Dokument ist {what}; die Rolle {} kann es nicht öffnen.",
                role.label()
            )
        })
    }

    /// Re-encrypt up to `max` documents still under the vault key to the keys of
    /// their kind – case documents to the case key, scan products and their
    /// Transfervermerk to the scan and the case key – once those keys exist (stores
    /// from before the key ring, documents written before the keys were made). Any
    /// session may do it: what is under the vault key every account opens, and the
    /// new keys' recipients are public. Files are taken in id order after `after`;
    /// each is replaced atomically and then marked, so a crash between the two
    /// leaves a file that a session holding its new key re-encrypts once more
    /// (others skip it). Returns how many were re-encrypted and the id to go on
    /// after (`None`: nothing left).
    pub fn seal_documents(&mut self, after: &str, max: usize) -> Result<(usize, Option<String>)> {
        let candidates: Vec<(String, bool)> = {
            let mut stmt = self.conn.prepare(
                "SELECT b.id, EXISTS (SELECT 1 FROM scan_products p WHERE p.blob_id = b.id OR p.vermerk_blob = b.id)
                 FROM blobs b WHERE b.sealed = 'tresor' AND b.id > ?1
                   AND (EXISTS (SELECT 1 FROM case_documents d WHERE d.blob_id = b.id)
                        OR EXISTS (SELECT 1 FROM scan_products p WHERE p.blob_id = b.id OR p.vermerk_blob = b.id))
                 ORDER BY b.id LIMIT ?2",
            )?;
            let rows = stmt.query_map(
                params![after, i64::try_from(max).unwrap_or(i64::MAX)],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)),
            )?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let next = candidates.last().map(|(id, _)| id.clone());
        let mut done = 0;
        for (id, scan) in candidates {
            let content = if scan { Content::Scan } else { Content::Case };
            let (recipients, sealed) = self.vault.sealing(content);
            if sealed == Sealed::Tresor {
                continue;
            }
            let id = BlobId::parse(&id)?;
            match self.reseal(&id, &recipients, sealed) {
                Ok(()) => done += 1,
                // Re-encrypted already by a pass that ended before marking it, to
                // keys this session does not hold: left to a holder.
                Err(e) => tracing::warn!("Dokument {id} nicht umgeschlüsselt: {e}"),
            }
        }
        Ok((done, next))
    }

    /// Re-encrypt one vault file in place, then mark its row.
    fn reseal(
        &mut self,
        id: &BlobId,
        recipients: &[age::x25519::Recipient],
        sealed: Sealed,
    ) -> Result<()> {
        // Streamed: the reader checks size and SHA-256 of the entry as it goes,
        // so a damaged file fails here and stays as it was.
        let expected = self.blob_info(id)?;
        let reader = self.open_blob(id)?;
        let (written, _) = write_file_as(
            &self.vault.layout,
            (recipients, sealed),
            id.clone(),
            reader,
            false,
        )?;
        if written.sha256 != expected.sha256 {
            return Err(StoreError::Corrupt(format!(
                "Dokument {id}: beim Umschlüsseln verändert"
            )));
        }
        self.conn.execute(
            "UPDATE blobs SET sealed = ?2 WHERE id = ?1",
            params![id.0, sealed.as_str()],
        )?;
        Ok(())
    }

    /// Stored metadata of a blob.
    pub fn blob_info(&self, id: &BlobId) -> Result<BlobInfo> {
        let (size, sha256, sealed): (i64, String, String) = self
            .conn
            .query_row(
                "SELECT size, sha256, sealed FROM blobs WHERE id = ?1",
                params![id.0],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => StoreError::BlobMissing(id.to_string()),
                e => e.into(),
            })?;
        Ok(BlobInfo {
            id: id.clone(),
            // A byte count of a file just written is never negative.
            size: u64::try_from(size).unwrap_or(0),
            sha256,
            sealed: Sealed::parse(&sealed),
        })
    }

    /// All blob ids (for consistency checks).
    pub fn blob_ids(&self) -> Result<Vec<BlobId>> {
        let mut stmt = self.conn.prepare("SELECT id FROM blobs ORDER BY id")?;
        let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
        ids.map(|id| BlobId::parse(&id?)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::copy_hashed;
    use crate::error::StoreError;
    use sha2::{Digest, Sha256, Sha512};
    use std::io::Read;

    /// Gives `data` in pieces of `step` bytes with an `Interrupted` before every
    /// third piece, and fails once `fail_at` bytes were given.
    struct Pieces {
        data: Vec<u8>,
        at: usize,
        step: usize,
        calls: usize,
        fail_at: Option<usize>,
    }

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(3) {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            if self.fail_at.is_some_and(|f| self.at >= f) {
                return Err(std::io::Error::other("Freigabe getrennt"));
            }
            let n = self.step.min(buf.len()).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn pieces(len: usize, step: usize, fail_at: Option<usize>) -> Pieces {
        Pieces {
            data: (0..len).map(|i| (i * 13 + i / 509) as u8).collect(),
            at: 0,
            step,
            calls: 0,
            fail_at,
        }
    }

    #[test]
    fn every_byte_reaches_the_sink_in_order_and_the_hash_is_of_the_whole() -> crate::Result<()> {
        for (len, step) in [
            (0, 1),
            (1, 1),
            (65_535, 70_000),
            (262_144, 262_144),
            (3_000_001, 99_999),
        ] {
            let mut p = pieces(len, step, None);
            let whole = p.data.clone();
            let mut out = Vec::new();
            let sha512 = len % 2 == 1;
            let c = copy_hashed(&mut p, sha512, |chunk| {
                out.extend_from_slice(chunk);
                Ok(())
            })?;
            assert_eq!(c.size as usize, len);
            assert_eq!(out, whole, "{len} / {step}");
            assert_eq!(
                c.sha256,
                hex::encode(Sha256::digest(&whole)),
                "{len} / {step}"
            );
            assert_eq!(
                c.sha512,
                sha512.then(|| hex::encode(Sha512::digest(&whole))),
                "{len} / {step}"
            );
        }
        Ok(())
    }

    #[test]
    fn a_read_error_or_a_refusing_sink_ends_the_copy_with_that_error() {
        let r = copy_hashed(&mut pieces(2_000_000, 100_000, Some(700_000)), true, |_| {
            Ok(())
        });
        assert!(
            matches!(&r, Err(StoreError::Io { source, .. }) if source.to_string().contains("Freigabe getrennt")),
            "{r:?}"
        );
        let mut written = 0;
        let r = copy_hashed(&mut pieces(2_000_000, 100_000, None), true, |chunk| {
            written += chunk.len();
            if written > 500_000 {
                Err(StoreError::Crypto("Datenträger voll".into()))
            } else {
                Ok(())
            }
        });
        assert!(
            matches!(&r, Err(StoreError::Crypto(m)) if m == "Datenträger voll"),
            "{r:?}"
        );
    }
}
