//! The case content's own database: `inhalt.db`, a second SQLCipher file whose key
//! is derived from the case key (`keyring.rs`). Only Sachbearbeitung and Leitung
//! hold the case key, so only their sessions open it; every other local password
//! opens `amtsstube.db` (users, settings, audit chain, scans, counters, the vault's
//! rows) and nothing of the cases.
//!
//! * **Split**: at the first login of a holder (a new store, or one from before),
//!   the case tables ([`CASE_TABLES`]: cases, their documents' rows, history,
//!   notes, checklist, search index, change list, deadline keys, submissions and
//!   the outbox) are copied into `inhalt.db` in one transaction of that file, then
//!   dropped from `amtsstube.db` (with `secure_delete`, WAL truncated) in one
//!   transaction that also records the split. A crash between the two leaves the
//!   store unsplit; the next holder's login copies again from the start.
//! * **Attached**: a holder's connections attach `inhalt.db` as schema `inhalt`;
//!   the unqualified SQL of the store finds the case tables there. Other sessions
//!   attach an empty in-memory copy of the schema whose tables refuse every write:
//!   their lists of cases are empty, and a write that needs case content fails with
//!   the reason instead of landing anywhere.
//! * **Two files, one transaction**: SQLite commits a transaction over both files
//!   (WAL) file by file, `amtsstube.db` first. A crash in between can leave that
//!   file's part (an audit entry, a counter step, a vault row) without the case's
//!   part: an Aktenzeichen is skipped or an audit entry names an act that did not
//!   land – never a case change without its audit entry, never a number twice.
//! * **Migrations** run on `amtsstube.db` before anything is attached, so in a split
//!   store they do not reach the case tables (a migration naming one fails there). A
//!   later change of a case table needs its own step for `inhalt.db` at a holder's
//!   login – not built yet, as no such change exists; the split copies the schema the
//!   migrations made.

use std::path::Path;
use std::sync::OnceLock;

use age::secrecy::ExposeSecret;
use rusqlite::{Connection, OptionalExtension, params};

use crate::config::Layout;
use crate::error::{IoContext, Result, StoreError};
use crate::keys::MasterKey;

/// The case tables, parents before children.
pub(crate) const CASE_TABLES: [&str; 12] = [
    "cases",
    "fc_submissions",
    "case_documents",
    "case_history",
    "case_notes",
    "case_checklist",
    "case_search",
    "case_changes",
    "case_due",
    "case_due_stale",
    "case_due_basis",
    "outbox",
];

/// `secrets` row in `amtsstube.db` once the split is done.
const SPLIT: &str = "inhalt_geteilt";
/// Purpose label of the key derived from the case key.
const KEY_LABEL: &str = "amtsstube inhalt.db 1";
/// The message of a write refused in a session without the case key.
pub(crate) const REFUSED: &str = "Vorgangsinhalte nur mit dem Fallschlüssel";

impl crate::Session {
    /// May this session store case content? Not in a split store without the case
    /// key: its sync runs only fetch ahead, still encrypted (`staging`), for a
    /// holder's next run.
    pub fn may_store_cases(&self) -> Result<bool> {
        Ok(self.holds_case_key() || !is_split(&self.conn)?)
    }
}

/// Has the store been split?
pub(crate) fn is_split(conn: &Connection) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM main.secrets WHERE name = ?1",
            params![SPLIT],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// The key of `inhalt.db`, derived from the case key.
pub(crate) fn key(fall: &age::x25519::Identity) -> MasterKey {
    MasterKey::derived(KEY_LABEL, fall.to_string().expose_secret().as_bytes())
}

/// A path as SQLite's ATTACH takes it on the connection's VFS (Windows: the long
/// form, like the main file).
fn attach_path(path: &Path) -> String {
    #[cfg(windows)]
    let path = crate::fsutil::long_path(path);
    path.to_string_lossy().replace('\'', "''")
}

fn attach_file(conn: &Connection, path: &Path, key: &MasterKey) -> Result<()> {
    conn.execute_batch(&format!(
        "ATTACH DATABASE '{}' AS inhalt KEY \"{}\";",
        attach_path(path),
        key.sqlcipher_literal().as_str()
    ))?;
    conn.query_row("SELECT count(*) FROM inhalt.sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| StoreError::Corrupt(format!("inhalt.db: {e}")))?;
    crate::db::file_settings(conn, "inhalt")
}

/// On every connection of a split store: `inhalt.db` for a holder of the case key,
/// the empty read-only copy for everybody else. Nothing on a store not split yet.
pub(crate) fn attach(
    conn: &Connection,
    layout: &Layout,
    fall: Option<&age::x25519::Identity>,
) -> Result<()> {
    if !is_split(conn)? {
        return Ok(());
    }
    match fall {
        Some(id) => attach_file(conn, &layout.inhalt_db(), &key(id)),
        None => attach_shadow(conn),
    }
}

/// At a login: a holder splits a store not split yet, and every session attaches
/// what it may (see [`attach`]).
pub(crate) fn open(
    conn: &mut Connection,
    layout: &Layout,
    fall: Option<&age::x25519::Identity>,
    actor: &str,
    now: &str,
) -> Result<()> {
    match fall {
        Some(id) if !is_split(conn)? => split(conn, layout, id, actor, now),
        _ => {
            attach(conn, layout, fall)?;
            if fall.is_some() {
                crate::db::trim_changes(conn)?;
            }
            Ok(())
        }
    }
}

/// One schema object: type (`table`, `index`, `trigger`), name, SQL.
type SchemaObject = (String, String, String);

/// The case tables' schema as the migrations make it (tables, indexes, triggers),
/// read once from a migrated in-memory database.
fn case_schema() -> Result<&'static [SchemaObject]> {
    static SCHEMA: OnceLock<std::result::Result<Vec<SchemaObject>, String>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut conn = Connection::open_in_memory().map_err(|e| e.to_string())?;
            crate::db::migrate(&mut conn).map_err(|e| e.to_string())?;
            schema_of(&conn, "main").map_err(|e| e.to_string())
        })
        .as_ref()
        .map(Vec::as_slice)
        .map_err(|e| StoreError::Database(format!("Schema der Vorgangsinhalte: {e}")))
}

/// (type, name, sql) of the case tables and their indexes and triggers in
/// `schema`, in an order that can be replayed: tables (parents first), then
/// indexes, then triggers. FTS5's own tables are left to FTS5.
fn schema_of(conn: &Connection, schema: &str) -> Result<Vec<SchemaObject>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT type, name, tbl_name, sql FROM {schema}.sqlite_master WHERE sql IS NOT NULL"
    ))?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut all = Vec::new();
    for row in rows {
        let (kind, name, table, sql) = row?;
        let Some(order) = CASE_TABLES.iter().position(|t| *t == table) else {
            continue;
        };
        if kind == "table" && name != table {
            continue;
        }
        let rank = match kind.as_str() {
            "table" => 0,
            "index" => 1,
            _ => 2,
        };
        all.push((rank, order, kind, name, sql));
    }
    all.sort_by(|a, b| (a.0, a.1, &a.3).cmp(&(b.0, b.1, &b.3)));
    Ok(all
        .into_iter()
        .map(|(_, _, kind, name, sql)| (kind, name, sql))
        .collect())
}

/// The statement for schema `inhalt`: the object's name qualified, and the foreign
/// keys to `blobs` (which stays in `amtsstube.db`) left out – SQLite checks foreign
/// keys only within one file.
fn in_inhalt(name: &str, sql: &str) -> Result<String> {
    let at = sql
        .find(name)
        .ok_or_else(|| StoreError::Database(format!("Schema von {name} unlesbar")))?;
    let at = if at > 0 && sql[..at].ends_with('"') {
        at - 1
    } else {
        at
    };
    let qualified = format!("{}inhalt.{}", &sql[..at], &sql[at..]);
    Ok(qualified.replace(" REFERENCES blobs (id)", ""))
}

/// The empty copy for a session without the case key: every table refuses writes.
fn attach_shadow(conn: &Connection) -> Result<()> {
    conn.execute_batch("ATTACH DATABASE ':memory:' AS inhalt KEY '';")?;
    for (kind, name, sql) in case_schema()? {
        if kind == "trigger" {
            continue;
        }
        conn.execute_batch(&in_inhalt(name, sql)?)?;
        if kind == "table" && !sql.contains("VIRTUAL TABLE") {
            for op in ["INSERT", "UPDATE", "DELETE"] {
                conn.execute_batch(&format!(
                    "CREATE TRIGGER inhalt.nur_lesen_{name}_{op} BEFORE {op} ON {name} \
                     BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END;",
                    op = op.to_lowercase()
                ))?;
            }
        }
    }
    Ok(())
}

/// Columns of `table` in `main` and whether its rows keep their rowid apart.
fn columns(conn: &Connection, table: &str) -> Result<(Vec<String>, bool)> {
    let mut stmt = conn.prepare(&format!("PRAGMA main.table_info({table})"))?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    let mut cols = Vec::new();
    let mut integer_key = false;
    let mut pk_cols = 0;
    for row in rows {
        let (name, ty, pk) = row?;
        if pk > 0 {
            pk_cols += 1;
            integer_key = ty.eq_ignore_ascii_case("INTEGER");
        }
        cols.push(format!("\"{name}\""));
    }
    // An INTEGER PRIMARY KEY is the rowid itself; other tables keep theirs apart
    // (the search index's rows follow the cases' rowids).
    Ok((cols, !(pk_cols == 1 && integer_key)))
}

/// Split the store (see the module documentation). The caller holds the case key.
pub(crate) fn split(
    conn: &mut Connection,
    layout: &Layout,
    fall: &age::x25519::Identity,
    actor: &str,
    now: &str,
) -> Result<()> {
    if is_split(conn)? {
        return Ok(());
    }
    let path = layout.inhalt_db();
    // What an interrupted split left: started over.
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).at(&p),
        }
    }
    attach_file(conn, &path, &key(fall))?;
    let schema = schema_of(conn, "main")?;
    let tx = conn.transaction()?;
    for (kind, name, sql) in &schema {
        if kind == "table" {
            tx.execute_batch(&in_inhalt(name, sql)?)?;
            let (cols, rowid) = columns(&tx, name)?;
            let cols = cols.join(", ");
            let (into, from) = if rowid {
                (format!("rowid, {cols}"), format!("rowid, {cols}"))
            } else {
                (cols.clone(), cols)
            };
            tx.execute(
                &format!("INSERT INTO inhalt.{name} ({into}) SELECT {from} FROM main.{name}"),
                [],
            )?;
        }
    }
    // Indexes and triggers after the rows: the triggers must not fire for the copy.
    for (kind, name, sql) in &schema {
        if kind != "table" {
            tx.execute_batch(&in_inhalt(name, sql)?)?;
        }
    }
    tx.commit()?;
    let tx = conn.transaction()?;
    for table in CASE_TABLES.iter().rev() {
        tx.execute_batch(&format!("DROP TABLE main.{table};"))?;
    }
    tx.execute(
        "INSERT INTO main.secrets (name, value) VALUES (?1, '1')",
        params![SPLIT],
    )?;
    crate::audit::append(&tx, now, actor, "vorgangsinhalte.getrennt", "")?;
    tx.commit()?;
    // The WAL still holds the pages as they were: written back and emptied.
    conn.query_row("PRAGMA main.wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    tracing::info!("Vorgangsinhalte in eine eigene Datenbank getrennt");
    Ok(())
}
