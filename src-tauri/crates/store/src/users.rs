use domain::{Role, UserName};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::error::{Result, StoreError};

/// A local user as stored in the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub username: UserName,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
    pub created_at: String,
}

pub(crate) fn check_display_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput(
            "Der Anzeigename muss 1 bis 80 Zeichen ohne Steuerzeichen haben.".into(),
        ));
    }
    Ok(name.to_owned())
}

pub(crate) fn insert(
    conn: &Connection,
    username: &UserName,
    display: &str,
    role: Role,
    now: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO users (username, display_name, role, active, created_at) VALUES (?1, ?2, ?3, 1, ?4)",
        params![username.as_str(), display, role.as_str(), now],
    )?;
    Ok(())
}

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String, bool, String)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn to_info(
    (username, display_name, role, active, created_at): (String, String, String, bool, String),
) -> Result<UserInfo> {
    Ok(UserInfo {
        username: UserName::parse(&username).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        display_name,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unbekannte Rolle {role}")))?,
        active,
        created_at,
    })
}

const COLUMNS: &str = "username, display_name, role, active, created_at";

pub(crate) fn get(conn: &Connection, username: &UserName) -> Result<Option<UserInfo>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM users WHERE username = ?1"),
        params![username.as_str()],
        from_row,
    )
    .optional()?
    .map(to_info)
    .transpose()
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<UserInfo>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY username"))?;
    let rows = stmt.query_map([], from_row)?;
    rows.map(|r| to_info(r?)).collect()
}

pub(crate) fn active_admins(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM users WHERE role = 'admin' AND active = 1",
        [],
        |r| r.get(0),
    )?)
}
