//! The record on PostgreSQL: commands applied through `office::rules` in one
//! transaction each, the commit-ordered change feed, users and their server
//! sessions, enrolled workstations, number blocks and the audit trail.
//!
//! Feed order: every writer of `change_log` takes one transaction-level advisory
//! lock just before its insert and holds it to the commit, and takes the position
//! `max + 1` under it. Position order is therefore commit order and gapless, and a
//! reader asking "everything after p" never skips a row that commits late (the
//! pitfall of reading a sequence in id order).

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use domain::{CaseState, Role, UserName};
use jiff::{Timestamp, Unit};
use office::protocol::{SessionGrant, UserEntry};
use office::rules::{self, Actor, Change, Sight};
use office::{CaseMeta, Ciphertext, Command, CommandBody, Event, FeedItem, FeedPage, Outcome};
use office::{Refusal, RefusalKind};
use rand::RngCore;
use scrypt::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};
use tokio_postgres::NoTls;
use tokio_postgres::types::Json;
use uuid::Uuid;

use crate::error::{Result, ServerError};

mod embedded {
    refinery::embed_migrations!("../../../migrations/postgres");
}

/// The advisory lock that orders the change feed.
pub const FEED_LOCK: i64 = 0x4173_7475_6265;

/// A valid hash of a random password: checked for unknown names.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    hash_password(&random_token()).unwrap_or_default() // hashing a fresh random string cannot fail
});

/// Failed logins in a row that lock a name, and for how long.
const MAX_FAILURES: i32 = 5;
const LOCK_MINUTES: i32 = 5;

/// How long a server session lasts (a working day).
const SESSION_HOURS: i64 = 12;

/// The largest feed page.
pub const MAX_PAGE: i64 = 500;

pub struct Record {
    pub(crate) pool: Pool,
    /// The delivery key and routing (see [`crate::delivery`]).
    pub(crate) delivery:
        std::sync::RwLock<Option<std::sync::Arc<crate::delivery::DeliverySettings>>>,
    /// Woken when a letter's deliveries were queued.
    pub(crate) letters: tokio::sync::Notify,
}

/// An enrolled workstation (for `amtsstube-server status` and the administration).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkstationInfo {
    pub id: Uuid,
    pub name: String,
    pub enrolled_at: String,
    pub revoked: bool,
}

/// One line of the server's audit trail.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub at: String,
    pub actor: Option<String>,
    pub workstation: Option<Uuid>,
    pub action: String,
    pub detail: String,
}

/// Figures for `amtsstube-server status`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub schema_version: i64,
    pub cases: i64,
    pub users: i64,
    pub workstations: i64,
    pub feed_position: i64,
    pub commands: i64,
    pub refused_commands: i64,
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| ServerError::Invalid(e.to_string()))?;
    scrypt::Scrypt
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServerError::Invalid(format!("Passwort nicht verarbeitbar: {e}")))
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            scrypt::Scrypt
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false) // a damaged hash never verifies
}

/// Checked at every new password: long enough to withstand guessing.
fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < 10 {
        return Err(ServerError::Invalid(
            "Das Passwort muss mindestens 10 Zeichen lang sein.".into(),
        ));
    }
    Ok(())
}

/// A case's row, locked for the rest of the transaction (`FOR UPDATE`).
pub(crate) async fn case_for_update(
    tx: &impl GenericClient,
    case_id: &Uuid,
) -> Result<Option<CaseMeta>> {
    tx.query_opt(
        &stmt(
            tx,
            &format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = $1 FOR UPDATE"),
        )
        .await?,
        &[case_id],
    )
    .await?
    .map(|r| meta_of(&r))
    .transpose()
}

pub(crate) fn text_time(t: Timestamp) -> String {
    t.round(Unit::Second).unwrap_or(t).to_string()
}

pub(crate) fn parse_time(raw: &str) -> std::result::Result<Timestamp, Refusal> {
    raw.parse::<Timestamp>().map_err(|_| {
        Refusal::invalid(format!(
            "„{raw}“ ist kein Zeitpunkt nach RFC 3339 (z. B. 2026-12-01T08:00:00Z)."
        ))
    })
}

fn state(raw: Option<String>) -> Result<Option<CaseState>> {
    raw.map(|s| {
        CaseState::parse(&s).ok_or_else(|| ServerError::Db(format!("unbekannter Zustand „{s}“")))
    })
    .transpose()
}

pub(crate) const CASE_COLUMNS: &str = "id, file_number, case_type, channel, state, waiting_from, \
     checklist_complete, assignee, received_at, version, state_version, extended";

pub(crate) fn meta_of(row: &tokio_postgres::Row) -> Result<CaseMeta> {
    let state_raw: String = row.try_get("state")?;
    Ok(CaseMeta {
        id: row.try_get("id")?,
        file_number: row.try_get("file_number")?,
        case_type: row.try_get("case_type")?,
        channel: row.try_get("channel")?,
        state: state(Some(state_raw))?.ok_or_else(|| ServerError::Db("Zustand fehlt".into()))?,
        waiting_from: state(row.try_get("waiting_from")?)?,
        checklist_complete: row.try_get("checklist_complete")?,
        assignee: row.try_get("assignee")?,
        received_at: text_time(row.try_get("received_at")?),
        version: row.try_get("version")?,
        state_version: row.try_get("state_version")?,
        extended: row.try_get("extended")?,
    })
}

fn ciphertext(bytes: Vec<u8>) -> Result<Ciphertext> {
    Ciphertext::new(bytes).map_err(|r| ServerError::Db(r.reason))
}

/// A statement prepared once per connection (saves a round trip per use).
pub(crate) async fn stmt(
    client: &impl GenericClient,
    sql: &str,
) -> Result<tokio_postgres::Statement> {
    Ok(client.prepare_cached(sql).await?)
}

/// One history entry or note of a case.
pub(crate) async fn insert_event(client: &impl GenericClient, e: &Event) -> Result<()> {
    let at = parse_time(&e.at).map_err(|r| ServerError::Invalid(r.reason))?;
    client
        .execute(
            &stmt(
                client,
                "INSERT INTO case_events (id, case_id, kind, actor, at, from_state, to_state, content)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .await?,
            &[
                &e.id,
                &e.case_id,
                &e.kind,
                &e.actor,
                &at,
                &e.from_state.map(|s| s.as_str()),
                &e.to_state.map(|s| s.as_str()),
                &e.content.as_ref().map(|c| c.as_bytes()),
            ],
        )
        .await?;
    Ok(())
}

/// Append one change under the feed lock; returns its position.
pub(crate) async fn append(client: &impl GenericClient, change: &Change) -> Result<i64> {
    let lock = client
        .prepare_cached("SELECT pg_advisory_xact_lock($1)")
        .await?;
    client.execute(&lock, &[&FEED_LOCK]).await?;
    let (case_id, assignee, before) = match change {
        Change::Case {
            meta,
            assignee_before,
            ..
        } => (
            Some(meta.id),
            meta.assignee.clone(),
            assignee_before.clone(),
        ),
        Change::User { .. } => (None, None, None),
    };
    let kind = match change {
        Change::Case { .. } => "case",
        Change::User { .. } => "user",
    };
    let insert = client
        .prepare_cached(
            "INSERT INTO change_log (position, case_id, assignee, assignee_before, kind, body)
             SELECT coalesce(max(position), 0) + 1, $1, $2, $3, $4, $5 FROM change_log
             RETURNING position",
        )
        .await?;
    let row = client
        .query_one(
            &insert,
            &[&case_id, &assignee, &before, &kind, &Json(change)],
        )
        .await?;
    Ok(row.try_get(0)?)
}

pub(crate) async fn audit(
    client: &impl GenericClient,
    actor: Option<&str>,
    workstation: Option<Uuid>,
    action: &str,
    detail: &str,
) -> Result<()> {
    let insert = client
        .prepare_cached(
            "INSERT INTO audit (actor, workstation, action, detail) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    client
        .execute(&insert, &[&actor, &workstation, &action, &detail])
        .await?;
    Ok(())
}

impl Record {
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Connect with a pool of `size` connections.
    pub async fn connect(conninfo: &str, size: usize) -> Result<Record> {
        let config: tokio_postgres::Config = conninfo
            .parse()
            .map_err(|e| ServerError::Db(format!("Verbindungsangabe unverständlich: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(size.max(1))
            .build()
            .map_err(|e| ServerError::Db(e.to_string()))?;
        let record = Record {
            pool,
            delivery: std::sync::RwLock::new(None),
            letters: tokio::sync::Notify::new(),
        };
        // Fail here, not at the first workstation's request.
        drop(record.pool.get().await?);
        Ok(record)
    }

    /// Bring the schema to the newest version (`migrations/postgres`).
    pub async fn migrate(&self) -> Result<usize> {
        let mut object = self.pool.get().await?;
        let client: &mut tokio_postgres::Client = &mut object;
        let report = embedded::migrations::runner()
            .run_async(client)
            .await
            .map_err(|e| ServerError::Db(format!("Migration fehlgeschlagen: {e}")))?;
        Ok(report.applied_migrations().len())
    }

    pub async fn audit(
        &self,
        actor: Option<&str>,
        workstation: Option<Uuid>,
        action: &str,
        detail: &str,
    ) -> Result<()> {
        let client = self.pool.get().await?;
        audit(&client, actor, workstation, action, detail).await
    }

    // ---- users ---------------------------------------------------------------

    /// Add a user (name rules of `domain`, password at least 10 characters).
    pub async fn add_user(&self, name: &str, role: Role, password: &str) -> Result<()> {
        let name = UserName::parse(name).map_err(|e| ServerError::Invalid(e.to_string()))?;
        check_password(password)?;
        let hash = hash_password(password)?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let inserted = tx
            .execute(
                "INSERT INTO users (name, role, password_hash) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
                &[&name.as_str(), &role.as_str(), &hash],
            )
            .await?;
        if inserted == 0 {
            return Err(ServerError::Invalid(format!(
                "Den Benutzer „{}“ gibt es schon.",
                name.as_str()
            )));
        }
        let change = Change::User {
            user: UserEntry {
                name: name.as_str().to_string(),
                role,
                active: true,
            },
        };
        append(&tx, &change).await?;
        audit(&tx, None, None, "benutzer_angelegt", name.as_str()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// New password; every session of the user ends.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<()> {
        check_password(password)?;
        let hash = hash_password(password)?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE users SET password_hash = $2, changed_at = now() WHERE name = $1 AND active",
                &[&name, &hash],
            )
            .await?;
        if n == 0 {
            return Err(ServerError::Invalid(format!(
                "Den Benutzer „{name}“ gibt es nicht."
            )));
        }
        tx.execute("DELETE FROM sessions WHERE user_name = $1", &[&name])
            .await?;
        audit(&tx, None, None, "passwort_gesetzt", name).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Remove a user: sessions end at once, every desk learns it from the feed.
    /// The name stays (history and audit name it).
    pub async fn remove_user(&self, name: &str) -> Result<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "UPDATE users SET active = FALSE, changed_at = now() WHERE name = $1 AND active
                 RETURNING role",
                &[&name],
            )
            .await?
            .ok_or_else(|| ServerError::Invalid(format!("Den Benutzer „{name}“ gibt es nicht.")))?;
        let role_raw: String = row.try_get(0)?;
        let role = Role::parse(&role_raw)
            .ok_or_else(|| ServerError::Db(format!("unbekannte Rolle „{role_raw}“")))?;
        tx.execute("DELETE FROM sessions WHERE user_name = $1", &[&name])
            .await?;
        // Their desks lose the keys at the next contact (what was read stays read:
        // a kind key is replaced by creating a new one, see office::keyring).
        tx.execute("DELETE FROM key_grants WHERE user_name = $1", &[&name])
            .await?;
        tx.execute("DELETE FROM user_keys WHERE user_name = $1", &[&name])
            .await?;
        append(
            &tx,
            &Change::User {
                user: UserEntry {
                    name: name.to_string(),
                    role,
                    active: false,
                },
            },
        )
        .await?;
        audit(&tx, None, None, "benutzer_entfernt", name).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn users(&self) -> Result<Vec<UserEntry>> {
        let client = self.pool.get().await?;
        let rows = client
            .query("SELECT name, role, active FROM users ORDER BY name", &[])
            .await?;
        rows.iter()
            .map(|r| {
                let role_raw: String = r.try_get(1)?;
                Ok(UserEntry {
                    name: r.try_get(0)?,
                    role: Role::parse(&role_raw)
                        .ok_or_else(|| ServerError::Db(format!("unbekannte Rolle „{role_raw}“")))?,
                    active: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Log in at the server from an enrolled workstation. Five failures in a row
    /// lock the name for five minutes (for unknown names too).
    pub async fn login(
        &self,
        name: &str,
        password: &str,
        workstation: Uuid,
    ) -> Result<SessionGrant> {
        let client = self.pool.get().await?;
        let locked = client
            .query_opt(
                "SELECT 1 FROM login_failures WHERE user_name = $1 AND locked_until > now()",
                &[&name],
            )
            .await?
            .is_some();
        if locked {
            audit(
                &client,
                Some(name),
                Some(workstation),
                "anmeldung_abgelehnt",
                "gesperrt nach Fehlversuchen",
            )
            .await?;
            return Err(ServerError::Unauthenticated(format!(
                "Zu viele Fehlversuche: Die Anmeldung ist für {LOCK_MINUTES} Minuten gesperrt."
            )));
        }
        let row = client
            .query_opt(
                "SELECT password_hash, role FROM users WHERE name = $1 AND active",
                &[&name],
            )
            .await?;
        let (phc, role_raw) = match &row {
            Some(r) => (r.try_get::<_, String>(0)?, Some(r.try_get::<_, String>(1)?)),
            // An unknown name costs the same scrypt as a known one (no user probing by timing).
            None => (DUMMY_HASH.clone(), None),
        };
        let ok = verify_password(password, &phc) && role_raw.is_some();
        let Some(role) = role_raw.as_deref().and_then(Role::parse).filter(|_| ok) else {
            client
                .execute(
                    "INSERT INTO login_failures (user_name, failures, last_at) VALUES ($1, 1, now())
                     ON CONFLICT (user_name) DO UPDATE SET failures = login_failures.failures + 1,
                         last_at = now(),
                         locked_until = CASE WHEN login_failures.failures + 1 >= $2
                             THEN now() + make_interval(mins => $3) END",
                    &[&name, &MAX_FAILURES, &LOCK_MINUTES],
                )
                .await?;
            audit(
                &client,
                Some(name),
                Some(workstation),
                "anmeldung_abgelehnt",
                "Passwort oder Name falsch",
            )
            .await?;
            return Err(ServerError::Unauthenticated(
                "Benutzername oder Passwort ist falsch.".into(),
            ));
        };
        client
            .execute("DELETE FROM login_failures WHERE user_name = $1", &[&name])
            .await?;
        let token = random_token();
        let expires = Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(SESSION_HOURS))
            .map_err(|e| ServerError::Invalid(e.to_string()))?;
        client
            .execute(
                "INSERT INTO sessions (token_hash, user_name, workstation, expires_at)
                 VALUES ($1, $2, $3, $4)",
                &[&sha256_hex(token.as_bytes()), &name, &workstation, &expires],
            )
            .await?;
        audit(
            &client,
            Some(name),
            Some(workstation),
            "anmeldung",
            "Sitzung begonnen",
        )
        .await?;
        Ok(SessionGrant {
            token,
            role,
            expires_at: text_time(expires),
        })
    }

    /// The actor behind a session token (the role as the server holds it).
    pub async fn session(&self, token: &str, workstation: Uuid) -> Result<Actor> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT s.user_name, u.role, s.workstation FROM sessions s
                 JOIN users u ON u.name = s.user_name AND u.active
                 WHERE s.token_hash = $1 AND s.expires_at > now()",
                &[&sha256_hex(token.as_bytes())],
            )
            .await?;
        let expired = || {
            ServerError::Unauthenticated(
                "Die Anmeldung am Rathaus-Server ist abgelaufen. Bitte erneut anmelden.".into(),
            )
        };
        let Some(row) = row else {
            audit(
                &client,
                None,
                Some(workstation),
                "sitzung_abgelehnt",
                "unbekannt oder abgelaufen",
            )
            .await?;
            return Err(expired());
        };
        let bound: Uuid = row.try_get(2)?;
        let user: String = row.try_get(0)?;
        if bound != workstation {
            audit(
                &client,
                Some(&user),
                Some(workstation),
                "sitzung_abgelehnt",
                "Sitzung eines anderen Arbeitsplatzes",
            )
            .await?;
            return Err(expired());
        }
        let role_raw: String = row.try_get(1)?;
        let role = Role::parse(&role_raw)
            .ok_or_else(|| ServerError::Db(format!("unbekannte Rolle „{role_raw}“")))?;
        Ok(Actor { user, role })
    }

    // ---- workstations --------------------------------------------------------

    /// A one-time enrolment code (shown to the administrator, stored only hashed).
    pub async fn new_enrolment_code(&self, minutes: i64) -> Result<String> {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut bytes = [0u8; 12];
        rand::rng().fill_bytes(&mut bytes);
        let chars: String = bytes
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect();
        let code = format!("{}-{}-{}", &chars[0..4], &chars[4..8], &chars[8..12]);
        let expires = Timestamp::now()
            .checked_add(jiff::SignedDuration::from_mins(
                minutes.clamp(1, 7 * 24 * 60),
            ))
            .map_err(|e| ServerError::Invalid(e.to_string()))?;
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO enrolment_codes (code_hash, expires_at) VALUES ($1, $2)",
                &[&sha256_hex(normalise_code(&code).as_bytes()), &expires],
            )
            .await?;
        audit(
            &client,
            None,
            None,
            "einmalcode_erstellt",
            "Arbeitsplatz-Anmeldung",
        )
        .await?;
        Ok(code)
    }

    /// Enrol a workstation with a one-time code; `sign` issues its certificate and
    /// returns (certificate PEM, fingerprint).
    pub async fn enrol(
        &self,
        code: &str,
        name: &str,
        sign: impl FnOnce(Uuid) -> Result<(String, String)>,
    ) -> Result<(Uuid, String)> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let hash = sha256_hex(normalise_code(code).as_bytes());
        let row = tx
            .query_opt(
                "SELECT used_at IS NOT NULL, expires_at < now() FROM enrolment_codes
                 WHERE code_hash = $1 FOR UPDATE",
                &[&hash],
            )
            .await?;
        let refuse = |why: &str| ServerError::Forbidden(why.to_string());
        let err = match row {
            None => Some(refuse(
                "Der Einmalcode ist unbekannt. Bitte prüfen oder einen neuen erstellen lassen.",
            )),
            Some(r) if r.try_get::<_, bool>(0)? => {
                Some(refuse("Der Einmalcode wurde schon verwendet."))
            }
            Some(r) if r.try_get::<_, bool>(1)? => Some(refuse("Der Einmalcode ist abgelaufen.")),
            Some(_) => None,
        };
        if let Some(e) = err {
            drop(tx);
            audit(
                &client,
                None,
                None,
                "anmeldung_arbeitsplatz_abgelehnt",
                &e.to_string(),
            )
            .await?;
            return Err(e);
        }
        let id = Uuid::new_v4();
        let (cert, fingerprint) = sign(id)?;
        tx.execute(
            "INSERT INTO workstations (id, name, fingerprint) VALUES ($1, $2, $3)",
            &[&id, &name, &fingerprint],
        )
        .await?;
        tx.execute(
            "UPDATE enrolment_codes SET used_at = now(), workstation = $2 WHERE code_hash = $1",
            &[&hash, &id],
        )
        .await?;
        audit(&tx, None, Some(id), "arbeitsplatz_angemeldet", name).await?;
        tx.commit().await?;
        Ok((id, cert))
    }

    /// The enrolled, not revoked workstation with this certificate fingerprint.
    pub async fn workstation(&self, fingerprint: &str) -> Result<Uuid> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT id, revoked_at IS NOT NULL FROM workstations WHERE fingerprint = $1",
                &[&fingerprint],
            )
            .await?;
        match row {
            Some(r) if !r.try_get::<_, bool>(1)? => Ok(r.try_get(0)?),
            Some(r) => {
                let id: Uuid = r.try_get(0)?;
                audit(
                    &client,
                    None,
                    Some(id),
                    "arbeitsplatz_abgewiesen",
                    "gesperrt",
                )
                .await?;
                Err(ServerError::Forbidden(
                    "Dieser Arbeitsplatz wurde gesperrt. Bitte an die Administration wenden."
                        .into(),
                ))
            }
            None => {
                audit(
                    &client,
                    None,
                    None,
                    "arbeitsplatz_abgewiesen",
                    "Zertifikat unbekannt",
                )
                .await?;
                Err(ServerError::Forbidden(
                    "Dieser Arbeitsplatz ist am Rathaus-Server nicht angemeldet.".into(),
                ))
            }
        }
    }

    /// Revoke a workstation: its certificate stops working at once, its sessions end.
    pub async fn revoke(&self, id: Uuid) -> Result<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE workstations SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
                &[&id],
            )
            .await?;
        if n == 0 {
            return Err(ServerError::Invalid(format!(
                "Einen aktiven Arbeitsplatz {id} gibt es nicht."
            )));
        }
        tx.execute("DELETE FROM sessions WHERE workstation = $1", &[&id])
            .await?;
        audit(&tx, None, Some(id), "arbeitsplatz_gesperrt", "").await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn workstations(&self) -> Result<Vec<WorkstationInfo>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT id, name, enrolled_at, revoked_at IS NOT NULL FROM workstations ORDER BY enrolled_at",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(WorkstationInfo {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    enrolled_at: text_time(r.try_get(2)?),
                    revoked: r.try_get(3)?,
                })
            })
            .collect()
    }

    // ---- commands and feed -----------------------------------------------------

    /// Apply a command exactly once: a known key answers its stored outcome, an
    /// altered body under a known key is refused, anything else goes through
    /// `office::rules::decide` against the case as the server holds it.
    pub async fn apply(&self, actor: &Actor, workstation: Uuid, cmd: &Command) -> Result<Outcome> {
        let hash = cmd.body_hash();
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let claimed = tx
            .query_opt(
                &stmt(
                    &tx,
                    "INSERT INTO commands (key, body_hash, user_name, workstation, outcome)
                 VALUES ($1, $2, $3, $4, 'null'::jsonb) ON CONFLICT (key) DO NOTHING RETURNING key",
                )
                .await?,
                &[&cmd.key, &hash, &actor.user, &workstation],
            )
            .await?;
        if claimed.is_none() {
            let row = tx
                .query_one(
                    &stmt(
                        &tx,
                        "SELECT body_hash, user_name, outcome FROM commands WHERE key = $1",
                    )
                    .await?,
                    &[&cmd.key],
                )
                .await?;
            let known_hash: String = row.try_get(0)?;
            let known_user: String = row.try_get(1)?;
            if known_hash == hash && known_user == actor.user {
                let Json(outcome): Json<Outcome> = row.try_get(2)?;
                return Ok(outcome.as_replay());
            }
            drop(tx);
            let why = "Ein Befehl mit derselben Kennung, aber anderem Inhalt oder von anderer Person wurde abgewiesen.";
            audit(
                &client,
                Some(&actor.user),
                Some(workstation),
                "befehl_verfaelscht",
                &cmd.key.to_string(),
            )
            .await?;
            return Ok(Outcome::Refused {
                refusal: Refusal {
                    kind: RefusalKind::Altered,
                    reason: why.into(),
                },
                replay: false,
            });
        }

        let roles: HashMap<String, Role> = tx
            .query(
                &stmt(&tx, "SELECT name, role FROM users WHERE active").await?,
                &[],
            )
            .await?
            .iter()
            .map(|r| {
                let raw: String = r.try_get(1)?;
                let role = Role::parse(&raw)
                    .ok_or_else(|| ServerError::Db(format!("unbekannte Rolle „{raw}“")))?;
                Ok((r.try_get(0)?, role))
            })
            .collect::<Result<_>>()?;
        let current = case_for_update(&tx, &cmd.body.case_id()).await?;
        let now = text_time(Timestamp::now());
        // A letter: what the server must send, opened and checked before anything
        // is written.
        let letter = self.letter_work(&tx, cmd).await?;
        let decided = match self.precheck(&tx, cmd).await? {
            Some(refusal) => Err(refusal),
            None => rules::decide(actor, current.as_ref(), cmd, &now, &|n| {
                roles.get(n).copied()
            }),
        }
        .and_then(|effect| match letter {
            Some(Ok(work)) => Ok((effect, Some(work))),
            Some(Err(refusal)) => Err(refusal),
            None => Ok((effect, None)),
        });
        // The feed's lock is taken last, so that it is held only for the insert and
        // the commit: everything else of the transaction runs before it.
        let mut sends = false;
        let effect = match decided {
            Ok((effect, work)) => {
                self.write(&tx, &effect).await?;
                // The BundID Statusmonitor follows the case's moves.
                if let Some(before) = &effect.before {
                    sends |= crate::delivery::status_update(
                        &tx,
                        self.delivery().as_deref(),
                        before,
                        &effect.after,
                    )
                    .await?;
                }
                if let Some(work) = &work {
                    crate::delivery::write(&tx, cmd.key, cmd.body.case_id(), work).await?;
                }
                sends |= work.is_some_and(|w| !w.items.is_empty());
                Ok(effect)
            }
            Err(refusal) => Err(refusal),
        };
        let detail = match &effect {
            Ok(_) => format!("{} {} angewandt", cmd.body.label(), cmd.key),
            Err(refusal) => format!(
                "{} {} abgelehnt: {}",
                cmd.body.label(),
                cmd.key,
                refusal.reason
            ),
        };
        audit(&tx, Some(&actor.user), Some(workstation), "befehl", &detail).await?;
        let outcome = match effect {
            Ok(effect) => Outcome::Applied {
                version: effect.after.version,
                position: append(&tx, &Change::of(&effect)).await?,
                replay: false,
            },
            Err(refusal) => Outcome::Refused {
                refusal,
                replay: false,
            },
        };
        tx.execute(
            &stmt(&tx, "UPDATE commands SET outcome = $2 WHERE key = $1").await?,
            &[&cmd.key, &Json(&outcome)],
        )
        .await?;
        tx.commit().await?;
        if sends {
            self.letters.notify_one();
        }
        Ok(outcome)
    }

    /// A letter command's deliveries, opened and checked (none for other commands).
    async fn letter_work(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        cmd: &Command,
    ) -> Result<Option<std::result::Result<crate::delivery::LetterWork, Refusal>>> {
        let CommandBody::Letter {
            case_id,
            kassenzeichen,
            document,
            delivery,
            ..
        } = &cmd.body
        else {
            return Ok(None);
        };
        let fc_case: Option<Uuid> = tx
            .query_opt(
                &stmt(
                    tx,
                    "SELECT fc_case_id FROM fc_submissions WHERE case_id = $1 LIMIT 1",
                )
                .await?,
                &[case_id],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        let settings = self.delivery();
        Ok(Some(crate::delivery::prepare(
            settings.as_deref(),
            cmd.key,
            *case_id,
            fc_case,
            kassenzeichen.as_deref(),
            document,
            delivery.as_ref(),
        )))
    }

    /// Checks the rules cannot make without the database: a valid receipt time and
    /// a free Aktenzeichen for a new case.
    async fn precheck(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        cmd: &Command,
    ) -> Result<Option<Refusal>> {
        if let CommandBody::CreateCase {
            file_number,
            received_at,
            ..
        } = &cmd.body
        {
            if let Err(r) = parse_time(received_at) {
                return Ok(Some(r));
            }
            let taken = tx
                .query_opt(
                    &stmt(tx, "SELECT 1 FROM cases WHERE file_number = $1").await?,
                    &[file_number],
                )
                .await?;
            if taken.is_some() {
                return Ok(Some(Refusal::invalid(format!(
                    "Das Aktenzeichen {file_number} ist schon vergeben."
                ))));
            }
        }
        Ok(None)
    }

    pub(crate) async fn write(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        effect: &rules::Effect,
    ) -> Result<()> {
        let m = &effect.after;
        let waiting = m.waiting_from.map(|s| s.as_str());
        if let Some(content) = &effect.content {
            let received =
                parse_time(&m.received_at).map_err(|r| ServerError::Invalid(r.reason))?;
            tx.execute(
                &stmt(
                    tx,
                    "INSERT INTO cases (id, file_number, case_type, channel, state, waiting_from,
                     checklist_complete, assignee, received_at, version, state_version, content,
                     extended)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .await?,
                &[
                    &m.id,
                    &m.file_number,
                    &m.case_type,
                    &m.channel,
                    &m.state.as_str(),
                    &waiting,
                    &m.checklist_complete,
                    &m.assignee,
                    &received,
                    &m.version,
                    &m.state_version,
                    &content.as_bytes(),
                    &m.extended,
                ],
            )
            .await?;
        } else {
            tx.execute(
                &stmt(
                    tx,
                    "UPDATE cases SET state = $2, waiting_from = $3, checklist_complete = $4,
                     assignee = $5, version = $6, state_version = $7, extended = $8 WHERE id = $1",
                )
                .await?,
                &[
                    &m.id,
                    &m.state.as_str(),
                    &waiting,
                    &m.checklist_complete,
                    &m.assignee,
                    &m.version,
                    &m.state_version,
                    &m.extended,
                ],
            )
            .await?;
        }
        if let Some(e) = &effect.event {
            insert_event(tx, e).await?;
        }
        Ok(())
    }

    /// Everything after `after` that `actor` may see, at most `limit` positions.
    pub async fn feed(&self, actor: &Actor, after: i64, limit: i64) -> Result<FeedPage> {
        let limit = limit.clamp(1, MAX_PAGE);
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT position, body FROM change_log WHERE position > $1 ORDER BY position LIMIT $2",
                &[&after, &(limit + 1)],
            )
            .await?;
        let more = rows.len() as i64 > limit;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows.iter().take(limit as usize) {
            let position: i64 = row.try_get(0)?;
            let Json(change): Json<Change> = row.try_get(1)?;
            changes.push((position, change));
        }
        // Cases that become visible with this page come whole: content and events.
        let mut wanted: Vec<Uuid> = changes
            .iter()
            .filter_map(|(_, change)| match change {
                Change::Case { meta, .. }
                    if rules::sight(actor, change.before(), meta.assignee.as_deref())
                        == Sight::Full =>
                {
                    Some(meta.id)
                }
                _ => None,
            })
            .collect();
        wanted.sort();
        wanted.dedup();
        let full = self.whole_cases(&client, &wanted).await?;
        let items: Vec<FeedItem> = changes
            .into_iter()
            .map(|(position, change)| {
                rules::feed_item(actor, position, change, |id| {
                    full.get(&id).cloned().unwrap_or((None, Vec::new())) // filled above for every Full
                })
            })
            .collect();
        let next = items.last().map(FeedItem::position).unwrap_or(after);
        Ok(FeedPage { items, next, more })
    }

    /// Content and every event of the cases `ids`, in two queries for the page.
    async fn whole_cases(
        &self,
        client: &impl GenericClient,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, (Option<Ciphertext>, Vec<Event>)>> {
        let mut out: HashMap<Uuid, (Option<Ciphertext>, Vec<Event>)> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        for r in client
            .query("SELECT id, content FROM cases WHERE id = ANY($1)", &[&ids])
            .await?
        {
            let content = ciphertext(r.try_get(1)?)?;
            out.insert(r.try_get(0)?, (Some(content), Vec::new()));
        }
        let rows = client
            .query(
                "SELECT case_id, id, kind, actor, at, from_state, to_state, content FROM case_events
                 WHERE case_id = ANY($1) ORDER BY case_id, at, id",
                &[&ids],
            )
            .await?;
        for r in rows {
            let case_id: Uuid = r.try_get(0)?;
            let event = Event {
                id: r.try_get(1)?,
                case_id,
                kind: r.try_get(2)?,
                actor: r.try_get(3)?,
                at: text_time(r.try_get(4)?),
                from_state: state(r.try_get(5)?)?,
                to_state: state(r.try_get(6)?)?,
                content: r
                    .try_get::<_, Option<Vec<u8>>>(7)?
                    .map(ciphertext)
                    .transpose()?,
            };
            out.entry(case_id).or_default().1.push(event);
        }
        Ok(out)
    }

    /// The last feed position.
    pub async fn position(&self) -> Result<i64> {
        let client = self.pool.get().await?;
        let row = client
            .query_one("SELECT coalesce(max(position), 0) FROM change_log", &[])
            .await?;
        Ok(row.try_get(0)?)
    }

    // ---- numbers -------------------------------------------------------------

    /// Lease `count` numbers of the counter `name` to a workstation for offline
    /// work; returns the first and last value of the block.
    pub async fn lease(&self, workstation: Uuid, name: &str, count: i64) -> Result<(i64, i64)> {
        if !(1..=1000).contains(&count) {
            return Err(ServerError::Invalid(
                "Ein Nummernblock umfasst 1 bis 1000 Nummern.".into(),
            ));
        }
        if name.is_empty()
            || name.len() > 64
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(ServerError::Invalid(format!(
                "„{name}“ ist kein Zählername."
            )));
        }
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let last: i64 = tx
            .query_one(
                "INSERT INTO counters (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET value = counters.value + $2 RETURNING value",
                &[&name, &count],
            )
            .await?
            .try_get(0)?;
        let first = last - count + 1;
        tx.execute(
            "INSERT INTO number_leases (counter, first_value, last_value, workstation)
             VALUES ($1, $2, $3, $4)",
            &[&name, &first, &last, &workstation],
        )
        .await?;
        tx.commit().await?;
        Ok((first, last))
    }

    /// The newest audit entries, newest first.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        self.audit_where("TRUE", limit).await
    }

    /// The newest refusals (connections, workstations, sessions, requests, commands),
    /// newest first: what the administration looks at when a desk complains.
    pub async fn recent_refusals(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        self.audit_where(
            "action IN ('verbindung_abgelehnt', 'arbeitsplatz_abgewiesen', 'sitzung_abgelehnt',
                        'anfrage_abgewiesen', 'anmeldung_abgelehnt', 'anmeldung_arbeitsplatz_abgelehnt',
                        'befehl_verfaelscht', 'dokumente_abgelehnt', 'uebernahme_abgelehnt',
                        'erstanmeldung_abgelehnt')
             OR (action = 'befehl' AND detail LIKE '% abgelehnt: %')",
            limit,
        )
        .await
    }

    async fn audit_where(&self, condition: &'static str, limit: i64) -> Result<Vec<AuditEntry>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT at, actor, workstation, action, detail FROM audit WHERE {condition}
                     ORDER BY id DESC LIMIT $1"
                ),
                &[&limit.clamp(1, 10_000)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: text_time(r.try_get(0)?),
                    actor: r.try_get(1)?,
                    workstation: r.try_get(2)?,
                    action: r.try_get(3)?,
                    detail: r.try_get(4)?,
                })
            })
            .collect()
    }

    pub async fn status(&self) -> Result<Status> {
        let client = self.pool.get().await?;
        let count = |sql: &'static str| {
            let client = &client;
            async move {
                let row = client.query_one(sql, &[]).await?;
                Ok::<i64, ServerError>(row.try_get(0)?)
            }
        };
        Ok(Status {
            schema_version: count(
                "SELECT coalesce(max(version), 0)::bigint FROM refinery_schema_history",
            )
            .await?,
            cases: count("SELECT count(*) FROM cases").await?,
            users: count("SELECT count(*) FROM users WHERE active").await?,
            workstations: count("SELECT count(*) FROM workstations WHERE revoked_at IS NULL")
                .await?,
            feed_position: count("SELECT coalesce(max(position), 0) FROM change_log").await?,
            commands: count("SELECT count(*) FROM commands").await?,
            refused_commands: count(
                "SELECT count(*) FROM commands WHERE outcome->>'status' = 'refused'",
            )
            .await?,
        })
    }
}

/// Codes are read aloud and typed: case and dashes do not matter.
fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}
