//! Opening the SQLCipher database and applying the migrations from `migrations/sqlite/`.

use std::path::Path;
use std::sync::{LazyLock, OnceLock};

use include_dir::{Dir, include_dir};
use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::Migrations;

use crate::error::{Result, StoreError};
use crate::keys::MasterKey;

static MIGRATIONS_DIR: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../../migrations/sqlite");

static MIGRATIONS: LazyLock<std::result::Result<Migrations<'static>, String>> =
    LazyLock::new(|| Migrations::from_directory(&MIGRATIONS_DIR).map_err(|e| e.to_string()));

fn migrations() -> Result<&'static Migrations<'static>> {
    MIGRATIONS
        .as_ref()
        .map_err(|e| StoreError::Database(format!("Migrationen unlesbar: {e}")))
}

/// SQLite marks itself initialised before SQLCipher's own initialisation has run
/// (`sqlite3_initialize` sets `isInit`, then calls `sqlcipher_extra_init`), so a
/// second thread opening its first connection in that window gets "sqlcipher not
/// initialized" and every `PRAGMA key` fails. The first connection of the process
/// is therefore opened here, once, while every other opener waits.
static SQLCIPHER_READY: OnceLock<std::result::Result<(), String>> = OnceLock::new();

fn sqlcipher_ready() -> Result<()> {
    SQLCIPHER_READY
        .get_or_init(|| {
            let conn = Connection::open_in_memory().map_err(|e| e.to_string())?;
            conn.execute_batch("PRAGMA cipher_log_level = NONE;")
                .map_err(|e| e.to_string())?;
            let cipher: Option<String> = conn
                .query_row("PRAGMA cipher_version", [], |r| r.get(0))
                .map_err(|e| e.to_string())?;
            cipher
                .map(|_| ())
                .ok_or_else(|| "SQLCipher ist nicht eingebunden".to_string())
        })
        .clone()
        .map_err(|e| StoreError::Database(format!("SQLCipher nicht startbar: {e}")))
}

/// Open (or create) the database with the raw key, check the key, set the pragmas
/// and bring the schema to the latest migration.
pub(crate) fn open(path: &Path, key: &MasterKey) -> Result<Connection> {
    let mut conn = open_raw(path, key)?;
    finish_open(&mut conn)?;
    Ok(conn)
}

/// Open with the key and set the pragmas, without touching the schema or rows (a
/// backup's source and snapshot, a restored file before its check).
pub(crate) fn open_raw(path: &Path, key: &MasterKey) -> Result<Connection> {
    sqlcipher_ready()?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    // SQLite's default Windows VFS stops at 260 characters; its "win32-longpath"
    // VFS (built into every Windows build of SQLite) takes the verbatim form.
    #[cfg(windows)]
    let mut conn = Connection::open_with_flags_and_vfs(
        crate::fsutil::long_path(path),
        flags,
        c"win32-longpath",
    )?;
    #[cfg(not(windows))]
    let mut conn = Connection::open_with_flags(path, flags)?;
    // Another process (the CLI beside the app) or thread may be opening the same file:
    // wait for its locks from the very first read, not only after the pragmas.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Every write transaction takes the write lock at BEGIN and so waits its turn; a
    // deferred one that read first would fail at once when another writer came between.
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    // SQLCipher would print decryption failures (wrong key) to stderr; errors reach us anyway.
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    // The key must be the first statement that touches the file.
    conn.execute_batch(&format!(
        "PRAGMA key = \"{}\";",
        key.sqlcipher_literal().as_str()
    ))?;
    // A wrong key shows only at the first real read.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let cipher: Option<String> = conn
        .query_row("PRAGMA cipher_version", [], |r| r.get(0))
        .ok();
    if cipher.is_none() {
        return Err(StoreError::Database(
            "SQLCipher ist nicht eingebunden".into(),
        ));
    }
    file_settings(&conn, "main")?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")?;
    crate::audit::register_seal(&conn, key)?;
    Ok(conn)
}

/// What every database file of the store is run with, for `schema` (`main`, or an
/// attached `inhalt`): WAL, a durable commit, deleted content overwritten, and
/// 32 MiB of decrypted pages so that repeated reads do not decrypt again.
pub(crate) fn file_settings(conn: &Connection, schema: &str) -> Result<()> {
    let mode: String = conn.query_row(&format!("PRAGMA {schema}.journal_mode = WAL"), [], |r| {
        r.get(0)
    })?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Database(format!(
            "WAL-Modus für {schema} nicht verfügbar ({mode})"
        )));
    }
    conn.execute_batch(&format!(
        "PRAGMA {schema}.synchronous = FULL; PRAGMA {schema}.secure_delete = ON; PRAGMA {schema}.cache_size = -32768;"
    ))?;
    Ok(())
}

/// Bring the schema to the latest migration and trim the change list.
pub(crate) fn finish_open(conn: &mut Connection) -> Result<()> {
    migrate(conn)?;
    // A split store has its change list in `inhalt.db`: trimmed when that is attached.
    if !crate::inhalt::is_split(conn)? {
        trim_changes(conn)?;
    }
    Ok(())
}

/// The change list only serves readers that keep figures in memory: keep its
/// newest entries.
pub(crate) fn trim_changes(conn: &Connection) -> Result<()> {
    conn.execute(
        "DELETE FROM case_changes WHERE seq <= (SELECT max(seq) FROM case_changes) - ?1",
        [CHANGES_KEPT],
    )?;
    Ok(())
}

/// Entries of `case_changes` kept when the store opens.
const CHANGES_KEPT: i64 = 100_000;

pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    migrations()?.to_latest(conn)?;
    Ok(())
}

/// Number of the newest migration the code knows.
pub fn latest_schema_version() -> Result<usize> {
    Ok(MIGRATIONS_DIR.dirs().count())
}

pub(crate) fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database a newer version has migrated further is refused in German and
    /// left as it is.
    #[test]
    fn a_database_from_a_newer_version_is_refused_in_german() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Database(e.to_string()))?;
        let path = dir.path().join("t.db");
        let key = MasterKey::generate();
        let conn = open(&path, &key)?;
        let newer = latest_schema_version()? as i64 + 1;
        conn.execute_batch(&format!("PRAGMA user_version = {newer};"))?;
        drop(conn);
        let err = open(&path, &key)
            .err()
            .ok_or_else(|| StoreError::Database("opened".into()))?;
        assert!(err.to_string().contains("neueren Version"), "{err}");
        let conn = open_raw(&path, &key)?;
        assert_eq!(schema_version(&conn)?, newer, "left as it is");
        Ok(())
    }

    #[test]
    fn migrations_are_valid() -> Result<()> {
        migrations()?.validate()?;
        Ok(())
    }

    #[test]
    fn migrations_run_on_empty_and_on_migrated_database() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Database(e.to_string()))?;
        let path = dir.path().join("t.db");
        let key = MasterKey::generate();
        let conn = open(&path, &key)?;
        let v1 = schema_version(&conn)?;
        assert_eq!(v1 as usize, latest_schema_version()?);
        assert!(v1 >= 1);
        drop(conn);
        // Second open: nothing to apply, same version, data intact.
        let mut conn = open(&path, &key)?;
        conn.execute(
            "INSERT INTO secrets (name, value) VALUES ('probe', 'x')",
            [],
        )?;
        migrate(&mut conn)?;
        assert_eq!(schema_version(&conn)?, v1);
        let n: i64 = conn.query_row(
            "SELECT count(*) FROM secrets WHERE name = 'probe'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(n, 1);
        let fk: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
        assert_eq!(fk, 1);
        Ok(())
    }

    #[test]
    fn wrong_key_is_refused() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Database(e.to_string()))?;
        let path = dir.path().join("t.db");
        drop(open(&path, &MasterKey::generate())?);
        assert!(matches!(
            open(&path, &MasterKey::generate()),
            Err(StoreError::Corrupt(_))
        ));
        Ok(())
    }
}
