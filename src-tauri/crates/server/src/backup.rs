//! Backup and restore of the Rathaus-Server (`amtsstube-server sicherung` /
//! `wiederherstellen`).
//!
//! One archive holds a consistent dump of the PostgreSQL database (`pg_dump`, one
//! snapshot) and the server's directory (configuration, office CA, server and
//! delivery keys, the destination's settings), as a tar stream encrypted with age
//! to the backup recipient whose identity the administration keeps on paper. It is
//! written beside its final name, synced and renamed, so an archive is complete
//! or absent; the newest `behalten` archives stay. The record holds personal
//! content only as ciphertext to the desks' keys, so the archive does too – the
//! backup key opens the server's own secrets and the metadata.
//!
//! Restore onto a fresh machine: the archive is opened with the backup identity,
//! the dump is checked against the manifest and loaded into an empty database
//! (`pg_restore`), the directory is written anew with the new database connection.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use office::keyring::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, ServerError};
use crate::setup::{ServerConfig, ServerDir};

/// The files of the server's directory that go into a backup (those present).
pub const DIRECTORY_FILES: &[&str] = &[
    "server.toml",
    "ca.pem",
    "ca-key.pem",
    "server.pem",
    "server-key.pem",
    "portal.json",
    "zustellung.key",
    "email.json",
    "postfach.json",
    "bundid.json",
];

const PREFIX: &str = "amtsstube-server-";
const SUFFIX: &str = ".sicherung.age";

/// What an archive says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: u32,
    pub created_at: String,
    pub town: String,
    /// SHA-256 of the database dump.
    pub dump_sha256: String,
    pub dump_bytes: u64,
    pub files: Vec<String>,
}

/// A backup written.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    /// Older archives removed by the rotation.
    pub removed: Vec<PathBuf>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ServerError + '_ {
    move |e| ServerError::file(path, e)
}

fn invalid(msg: impl Into<String>) -> ServerError {
    ServerError::Invalid(msg.into())
}

/// `pg_dump`/`pg_restore`: next to `initdb` where Debian puts them, else `PATH`.
fn pg_tool(name: &str) -> PathBuf {
    crate::cluster::pg_bin()
        .map(|dir| dir.join(name))
        .ok()
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn run(tool: &str, args: &[&std::ffi::OsStr]) -> Result<()> {
    let bin = pg_tool(tool);
    let out = Command::new(&bin).args(args).output().map_err(|e| {
        invalid(format!(
            "{tool} ist nicht ausführbar ({e}); bitte das Paket postgresql-client installieren."
        ))
    })?;
    if !out.status.success() {
        return Err(invalid(format!(
            "{tool} ist fehlgeschlagen: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let read = f.read(&mut buf).map_err(io(path))?;
        if read == 0 {
            break;
        }
        h.update(&buf[..read]);
        n += read as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

fn private_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(io(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(io(path))?;
    }
    Ok(())
}

fn append_file(tar: &mut tar::Builder<impl Write>, name: &str, path: &Path) -> Result<()> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    tar.append_file(name, &mut f).map_err(io(path))
}

fn append_bytes(tar: &mut tar::Builder<impl Write>, name: &str, bytes: &[u8]) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    header.set_cksum();
    tar.append_data(&mut header, name, bytes)
        .map_err(|e| invalid(format!("Sicherung nicht schreibbar: {e}")))
}

/// Write a backup into `target` (created owner-only if missing) and keep the
/// newest `keep` archives.
pub fn backup(
    dir: &ServerDir,
    config: &ServerConfig,
    target: &Path,
    keep: usize,
) -> Result<Written> {
    let recipient = config.sicherung_empfaenger.as_deref().ok_or_else(|| {
        invalid("Es ist noch kein Sicherungsschlüssel eingerichtet: amtsstube-server sicherung-schluessel")
    })?;
    let recipient: age::x25519::Recipient = recipient
        .parse()
        .map_err(|_| invalid("Der Sicherungsschlüssel in server.toml ist unlesbar."))?;
    private_dir(target)?;
    let now = jiff::Timestamp::now();
    let stamp = now.strftime("%Y%m%d-%H%M%S").to_string();
    let work = target.join(format!(".arbeit-{stamp}-{}", std::process::id()));
    private_dir(&work)?;
    let result = write_archive(dir, config, target, &work, &recipient, &stamp, now);
    let _ = std::fs::remove_dir_all(&work); // the dump holds metadata and ciphertext only
    let (path, bytes) = result?;
    let removed = rotate(target, keep.max(1))?;
    Ok(Written {
        path,
        bytes,
        removed,
    })
}

fn write_archive(
    dir: &ServerDir,
    config: &ServerConfig,
    target: &Path,
    work: &Path,
    recipient: &age::x25519::Recipient,
    stamp: &str,
    now: jiff::Timestamp,
) -> Result<(PathBuf, u64)> {
    let dump = work.join("datenbank.dump");
    run(
        "pg_dump",
        &[
            "--format=custom".as_ref(),
            "--no-owner".as_ref(),
            "--no-privileges".as_ref(),
            "--file".as_ref(),
            dump.as_os_str(),
            "--dbname".as_ref(),
            config.datenbank.as_ref(),
        ],
    )?;
    let (dump_sha256, dump_bytes) = sha256_file(&dump)?;
    let files: Vec<String> = DIRECTORY_FILES
        .iter()
        .filter(|f| dir.path.join(f).exists())
        .map(|f| (*f).to_string())
        .collect();
    let manifest = Manifest {
        format: 1,
        created_at: now.to_string(),
        town: config.name.clone(),
        dump_sha256,
        dump_bytes,
        files: files.clone(),
    };
    // Two backups in one second get a running number.
    let mut name = format!("{PREFIX}{stamp}{SUFFIX}");
    let mut n = 1;
    while target.join(&name).exists() {
        n += 1;
        name = format!("{PREFIX}{stamp}-{n}{SUFFIX}");
    }
    let final_path = target.join(&name);
    let tmp_path = target.join(format!(".{name}.tmp"));
    let out = std::fs::File::create(&tmp_path).map_err(io(&tmp_path))?;
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .map_err(|e| invalid(e.to_string()))?;
    let writer = encryptor
        .wrap_output(std::io::BufWriter::new(out))
        .map_err(io(&tmp_path))?;
    let mut tar = tar::Builder::new(writer);
    let manifest_json = serde_json::to_vec_pretty(&manifest).map_err(|e| invalid(e.to_string()))?;
    append_bytes(&mut tar, "manifest.json", &manifest_json)?;
    append_file(&mut tar, "datenbank.dump", &dump)?;
    for f in &files {
        append_file(&mut tar, &format!("verzeichnis/{f}"), &dir.path.join(f))?;
    }
    let writer = tar.into_inner().map_err(io(&tmp_path))?;
    let buffered = writer.finish().map_err(io(&tmp_path))?;
    let file = buffered
        .into_inner()
        .map_err(|e| ServerError::file(&tmp_path, e.error().to_string()))?;
    file.sync_all().map_err(io(&tmp_path))?;
    let bytes = file.metadata().map_err(io(&tmp_path))?.len();
    drop(file);
    std::fs::rename(&tmp_path, &final_path).map_err(io(&final_path))?;
    std::fs::File::open(target)
        .and_then(|d| d.sync_all())
        .map_err(io(target))?;
    Ok((final_path, bytes))
}

/// The archives in `target`, oldest first.
pub fn archives(target: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(target)
        .map_err(io(target))?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .map(|e| {
            let modified = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH); // unknown age: oldest, removed first
            (modified, e.path())
        })
        .collect();
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

fn rotate(target: &Path, keep: usize) -> Result<Vec<PathBuf>> {
    let all = archives(target)?;
    let mut removed = Vec::new();
    if all.len() > keep {
        for old in &all[..all.len() - keep] {
            std::fs::remove_file(old).map_err(io(old))?;
            removed.push(old.clone());
        }
    }
    Ok(removed)
}

/// A new backup key: (identity for the paper sheet, recipient for server.toml).
pub fn new_backup_key() -> (SecretString, String) {
    office::keyring::generate()
}

/// What a restore brought back.
#[derive(Debug, Clone)]
pub struct Restored {
    pub manifest: Manifest,
}

/// Restore `archive` onto this machine: the directory `dir` (must not be set up
/// yet) and the empty database `conninfo`.
pub fn restore(
    archive: &Path,
    identity: &SecretString,
    dir: &ServerDir,
    conninfo: &str,
) -> Result<Restored> {
    if dir.exists() {
        return Err(invalid(format!(
            "{} ist schon eingerichtet; die Wiederherstellung schreibt nur in ein neues Verzeichnis.",
            dir.path.display()
        )));
    }
    let identity: age::x25519::Identity = identity
        .expose_secret()
        .trim()
        .parse()
        .map_err(|_| invalid("Das ist kein Sicherungsschlüssel (AGE-SECRET-KEY-1…)."))?;
    let file = std::fs::File::open(archive).map_err(io(archive))?;
    let decryptor = age::Decryptor::new(std::io::BufReader::new(file))
        .map_err(|e| invalid(format!("{} ist keine Sicherung: {e}", archive.display())))?;
    let reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|_| invalid("Der Sicherungsschlüssel passt nicht zu dieser Sicherung."))?;
    private_dir(&dir.path)?;
    let work = dir.path.join(".wiederherstellung");
    private_dir(&work)?;
    let result = unpack_and_load(reader, dir, &work, conninfo);
    let _ = std::fs::remove_dir_all(&work);
    if result.is_err() {
        // Nothing half-restored stays behind as a "set-up" directory.
        let _ = std::fs::remove_file(dir.path.join("server.toml"));
    }
    result
}

fn unpack_and_load(
    reader: impl Read,
    dir: &ServerDir,
    work: &Path,
    conninfo: &str,
) -> Result<Restored> {
    let broken = |e: std::io::Error| invalid(format!("Die Sicherung ist beschädigt: {e}"));
    let mut archive = tar::Archive::new(reader);
    let mut manifest: Option<Manifest> = None;
    let mut files = Vec::new();
    let dump = work.join("datenbank.dump");
    for entry in archive.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        let name = entry.path().map_err(broken)?.to_string_lossy().into_owned();
        if name == "manifest.json" {
            let mut json = Vec::new();
            entry.read_to_end(&mut json).map_err(broken)?;
            manifest = Some(
                serde_json::from_slice(&json)
                    .map_err(|e| invalid(format!("Manifest der Sicherung unlesbar: {e}")))?,
            );
        } else if name == "datenbank.dump" {
            let mut out = std::fs::File::create(&dump).map_err(io(&dump))?;
            std::io::copy(&mut entry, &mut out).map_err(broken)?;
            out.sync_all().map_err(io(&dump))?;
        } else if let Some(file) = name.strip_prefix("verzeichnis/") {
            if !DIRECTORY_FILES.contains(&file) {
                return Err(invalid(format!(
                    "Unerwartete Datei in der Sicherung: {name}"
                )));
            }
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(broken)?;
            files.push((file.to_string(), text));
        } else {
            return Err(invalid(format!(
                "Unerwartete Datei in der Sicherung: {name}"
            )));
        }
    }
    let manifest = manifest.ok_or_else(|| invalid("Der Sicherung fehlt ihr Manifest."))?;
    let (sha, bytes) =
        sha256_file(&dump).map_err(|_| invalid("Der Sicherung fehlt die Datenbank."))?;
    if sha != manifest.dump_sha256 || bytes != manifest.dump_bytes {
        return Err(invalid(
            "Die Datenbank in der Sicherung ist beschädigt (Prüfsumme stimmt nicht).",
        ));
    }
    run(
        "pg_restore",
        &[
            "--no-owner".as_ref(),
            "--no-privileges".as_ref(),
            "--exit-on-error".as_ref(),
            "--single-transaction".as_ref(),
            "--dbname".as_ref(),
            conninfo.as_ref(),
            dump.as_os_str(),
        ],
    )?;
    // server.toml last: its presence means "set up".
    files.sort_by_key(|(name, _)| name == "server.toml");
    for (name, text) in &files {
        let text = if name == "server.toml" {
            let mut config: ServerConfig = toml::from_str(text)
                .map_err(|e| invalid(format!("server.toml der Sicherung unlesbar: {e}")))?;
            config.datenbank = conninfo.to_string();
            toml::to_string(&config).map_err(|e| invalid(e.to_string()))?
        } else {
            text.clone()
        };
        crate::tls::write_private(&dir.path.join(name), &text)?;
    }
    Ok(Restored { manifest })
}

impl crate::Record {
    /// Per table of the record: rows and a digest over all of them (the restore
    /// drill compares two records with it).
    pub async fn table_digests(&self) -> Result<std::collections::BTreeMap<String, (i64, String)>> {
        let client = self.pool.get().await?;
        let tables = client
            .query(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
                &[],
            )
            .await?;
        let mut out = std::collections::BTreeMap::new();
        for t in tables {
            let name: String = t.try_get(0)?;
            let row = client
                .query_one(
                    &format!(
                        "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{}\" t",
                        name.replace('"', "")
                    ),
                    &[],
                )
                .await?;
            out.insert(name, (row.try_get(0)?, row.try_get(1)?));
        }
        Ok(out)
    }
}
