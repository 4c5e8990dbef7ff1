//! Office mode: the logged-in user's replica of the Rathaus-Server's record, kept
//! in the encrypted store (migration 09). Every change of the in-memory
//! [`Replica`] goes through here and is written in the same transaction as the
//! audit entry, so a crash (or `kill -9`) between feed pages or between a command
//! and its answer loses nothing: the cursor and the queue are exactly as durable
//! as the cases they describe.
//!
//! Case content stays on disk only (read with [`Session::replica_content`]); the
//! replica in memory holds metadata and events.

use std::collections::{BTreeMap, VecDeque};

use domain::Role;
use office::protocol::{CaseMeta, Ciphertext, Command, Event, FeedItem, FeedPage, Outcome};
use office::replica::{Conflict, LocalCase, Replica};
use office::rules::Actor;
use rusqlite::{OptionalExtension, Transaction, params};
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::session::Session;

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(format!("Replikat: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| {
        StoreError::Corrupt(format!(
            "Replikat des Rathaus-Servers, {what} unlesbar: {e}"
        ))
    })
}

fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s)
        .map_err(|_| StoreError::Corrupt(format!("Replikat: ungültige Kennung „{s}“")))
}

/// The logged-in user's replica at a glance: waiting and refused commands, and the
/// feed position applied (`None` before the first sign-in at this desk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaCounts {
    pub waiting: u32,
    pub conflicts: u32,
    pub cursor: Option<i64>,
}

/// A refused command as kept on this desk, with its number for "erledigt".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConflict {
    pub seq: i64,
    pub at: String,
    pub conflict: Conflict,
}

impl Session {
    fn owner(&self) -> String {
        self.user().username.as_str().to_string()
    }

    /// The role the stored replica of the logged-in user was made for.
    pub fn replica_role(&self) -> Result<Option<Role>> {
        let role: Option<String> = self
            .conn
            .query_row(
                "SELECT role FROM office_replica WHERE owner = ?1",
                params![self.owner()],
                |r| r.get(0),
            )
            .optional()?;
        role.map(|r| {
            Role::parse(&r)
                .ok_or_else(|| StoreError::Corrupt(format!("Replikat: unbekannte Rolle „{r}“")))
        })
        .transpose()
    }

    /// The replica of the logged-in user as last stored, if it was made for `role`
    /// (the server's role for the user). A replica made for another role is
    /// dropped together with its queue – except that waiting commands are kept as
    /// conflicts, so nothing the clerk did vanishes unseen – and `None` is returned.
    pub fn replica_load(&mut self, role: Role) -> Result<Option<Replica>> {
        let owner = self.owner();
        let stored: Option<(String, i64)> = self
            .conn
            .query_row(
                "SELECT role, cursor FROM office_replica WHERE owner = ?1",
                params![owner],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((stored_role, cursor)) = stored else {
            return Ok(None);
        };
        if stored_role != role.as_str() {
            self.replica_reset(role)?;
            return Ok(None);
        }
        let actor = Actor {
            user: owner.clone(),
            role,
        };
        let mut replica = Replica::new(actor);
        replica.cursor = cursor;
        let mut stmt = self
            .conn
            .prepare("SELECT case_id, meta FROM office_cases WHERE owner = ?1")?;
        let rows = stmt.query_map(params![owner], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (id, meta) = row?;
            let meta: CaseMeta = from_json("Vorgang", &meta)?;
            replica.cases.insert(
                parse_uuid(&id)?,
                LocalCase {
                    meta,
                    content: None,
                    events: BTreeMap::new(),
                },
            );
        }
        let mut stmt = self
            .conn
            .prepare("SELECT case_id, event FROM office_events WHERE owner = ?1")?;
        let rows = stmt.query_map(params![owner], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (id, event) = row?;
            let event: Event = from_json("Ereignis", &event)?;
            if let Some(case) = replica.cases.get_mut(&parse_uuid(&id)?) {
                case.events.insert(event.id, event);
            }
        }
        let mut stmt = self
            .conn
            .prepare("SELECT entry FROM office_users WHERE owner = ?1")?;
        let rows = stmt.query_map(params![owner], |r| r.get::<_, String>(0))?;
        for row in rows {
            let user: office::protocol::UserEntry = from_json("Benutzer", &row?)?;
            replica.users.insert(user.name.clone(), user);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT command FROM office_queue WHERE owner = ?1 ORDER BY seq")?;
        let rows = stmt.query_map(params![owner], |r| r.get::<_, String>(0))?;
        let mut queue = VecDeque::new();
        for row in rows {
            queue.push_back(from_json::<Command>("Befehl", &row?)?);
        }
        replica.queue = queue;
        replica.conflicts = self
            .replica_conflicts()?
            .into_iter()
            .map(|c| c.conflict)
            .collect();
        Ok(Some(replica))
    }

    /// Start the replica afresh for `role` (first sign-in, or the server changed the
    /// user's role): cases, users and cursor go; waiting commands become conflicts.
    pub fn replica_reset(&mut self, role: Role) -> Result<Replica> {
        let owner = self.owner();
        let now = self.now();
        let tx = self.conn.transaction()?;
        let waiting: Vec<String> = {
            let mut stmt =
                tx.prepare("SELECT command FROM office_queue WHERE owner = ?1 ORDER BY seq")?;
            let rows = stmt.query_map(params![owner], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let kept: Vec<(String, String)> = {
            let mut stmt = tx.prepare(
                "SELECT command, refusal FROM office_conflicts WHERE owner = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![owner], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        tx.execute(
            "DELETE FROM office_replica WHERE owner = ?1",
            params![owner],
        )?;
        tx.execute(
            "INSERT INTO office_replica (owner, role, cursor) VALUES (?1, ?2, 0)",
            params![owner, role.as_str()],
        )?;
        let unsent = office::Refusal::conflict(
            "Nicht gesendet: Die Rolle dieses Benutzers am Rathaus-Server hat sich geändert. Bitte prüfen Sie, ob der Schritt noch nötig ist.".to_string(),
        );
        let mut conflicts = Vec::new();
        for (command, refusal) in kept {
            tx.execute(
                "INSERT INTO office_conflicts (owner, command, refusal, case_now, at) VALUES (?1, ?2, ?3, NULL, ?4)",
                params![owner, command, refusal, now],
            )?;
            conflicts.push(Conflict {
                command: from_json("Befehl", &command)?,
                refusal: from_json("Ablehnung", &refusal)?,
                case_now: None,
            });
        }
        for command in waiting {
            tx.execute(
                "INSERT INTO office_conflicts (owner, command, refusal, case_now, at) VALUES (?1, ?2, ?3, NULL, ?4)",
                params![owner, command, to_json(&unsent)?, now],
            )?;
            conflicts.push(Conflict {
                command: from_json("Befehl", &command)?,
                refusal: unsent.clone(),
                case_now: None,
            });
        }
        crate::audit::append(
            &tx,
            &now,
            &owner,
            "buero.replikat.neu",
            &format!("Rolle {}", role.as_str()),
        )?;
        tx.commit()?;
        let mut replica = Replica::new(Actor { user: owner, role });
        replica.conflicts = conflicts;
        Ok(replica)
    }

    /// Apply a page of the server's feed to `replica` and store what it changed and
    /// the new cursor in one transaction. Case content goes to disk only.
    pub fn replica_apply_page(&mut self, replica: &mut Replica, page: &FeedPage) -> Result<()> {
        let owner = self.owner();
        let before = replica.cursor;
        replica.apply_page(page);
        let tx = self.conn.transaction()?;
        for item in &page.items {
            if item.position() <= before {
                continue;
            }
            match item {
                FeedItem::Case {
                    meta,
                    content,
                    events,
                    ..
                } => {
                    let Some(case) = replica.cases.get_mut(&meta.id) else {
                        continue;
                    };
                    let id = meta.id.to_string();
                    tx.execute(
                        "INSERT INTO office_cases (owner, case_id, meta) VALUES (?1, ?2, ?3)
                         ON CONFLICT (owner, case_id) DO UPDATE SET meta = excluded.meta",
                        params![owner, id, to_json(&case.meta)?],
                    )?;
                    if let Some(content) = content {
                        tx.execute(
                            "UPDATE office_cases SET content = ?3 WHERE owner = ?1 AND case_id = ?2",
                            params![owner, id, to_json(content)?],
                        )?;
                    }
                    case.content = None;
                    for e in events {
                        tx.execute(
                            "INSERT OR IGNORE INTO office_events (owner, event_id, case_id, event) VALUES (?1, ?2, ?3, ?4)",
                            params![owner, e.id.to_string(), id, to_json(e)?],
                        )?;
                    }
                }
                FeedItem::Gone { case_id, .. } => {
                    let id = case_id.to_string();
                    tx.execute(
                        "DELETE FROM office_cases WHERE owner = ?1 AND case_id = ?2",
                        params![owner, id],
                    )?;
                    tx.execute(
                        "DELETE FROM office_events WHERE owner = ?1 AND case_id = ?2",
                        params![owner, id],
                    )?;
                }
                FeedItem::User { user, .. } => {
                    tx.execute(
                        "INSERT INTO office_users (owner, name, entry) VALUES (?1, ?2, ?3)
                         ON CONFLICT (owner, name) DO UPDATE SET entry = excluded.entry",
                        params![owner, user.name, to_json(user)?],
                    )?;
                }
                FeedItem::Skip { .. } => {}
            }
        }
        let changed = tx.execute(
            "UPDATE office_replica SET cursor = ?2 WHERE owner = ?1",
            params![owner, replica.cursor],
        )?;
        if changed != 1 {
            return Err(StoreError::Database(
                "Das Replikat dieses Benutzers fehlt; bitte erneut am Rathaus-Server anmelden."
                    .into(),
            ));
        }
        tx.commit()?;
        Ok(())
    }

    /// Queue a command durably (before the clerk is told it is done), then in memory.
    pub fn replica_enqueue(&mut self, replica: &mut Replica, command: Command) -> Result<()> {
        let owner = self.owner();
        let now = self.now();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO office_queue (owner, key, command) VALUES (?1, ?2, ?3)",
            params![owner, command.key.to_string(), to_json(&command)?],
        )?;
        audit_command(&tx, &now, &owner, "buero.befehl.wartet", &command)?;
        tx.commit()?;
        replica.enqueue(command);
        Ok(())
    }

    /// The server answered the command `key`: out of the queue; a refusal is kept
    /// as a conflict until the clerk has dealt with it.
    pub fn replica_answer(
        &mut self,
        replica: &mut Replica,
        key: Uuid,
        outcome: &Outcome,
    ) -> Result<()> {
        let owner = self.owner();
        let now = self.now();
        let Some(command) = replica.queue.iter().find(|c| c.key == key).cloned() else {
            return Ok(());
        };
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM office_queue WHERE owner = ?1 AND key = ?2",
            params![owner, key.to_string()],
        )?;
        match outcome {
            Outcome::Applied { .. } => {
                audit_command(&tx, &now, &owner, "buero.befehl.angenommen", &command)?;
            }
            Outcome::Refused { refusal, .. } => {
                let case_now = replica
                    .cases
                    .get(&command.body.case_id())
                    .map(|c| to_json(&c.meta))
                    .transpose()?;
                tx.execute(
                    "INSERT INTO office_conflicts (owner, command, refusal, case_now, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![owner, to_json(&command)?, to_json(refusal)?, case_now, now],
                )?;
                crate::audit::append(
                    &tx,
                    &now,
                    &owner,
                    "buero.befehl.abgelehnt",
                    &format!(
                        "{} {}: {}",
                        command.body.label(),
                        command.body.case_id(),
                        refusal.reason
                    ),
                )?;
            }
        }
        tx.commit()?;
        replica.answer(key, outcome);
        Ok(())
    }

    /// Bring this desk's local accounts in line with the server's user list (the
    /// server is the authority in office mode): a user removed at the server can no
    /// longer log in here (key file deleted, as by the administration), a changed
    /// role applies here too. Names unknown here are left alone (they have no local
    /// account); the logged-in user and the last local administration are not
    /// removed. Returns what changed, in German.
    pub fn apply_server_users(
        &mut self,
        entries: &[office::protocol::UserEntry],
    ) -> Result<Vec<String>> {
        let me = self.owner();
        let mut changed = Vec::new();
        for entry in entries {
            let Ok(name) = domain::UserName::parse(&entry.name) else {
                continue;
            };
            let Some(local) = crate::users::get(&self.conn, &name)?.filter(|u| u.active) else {
                continue;
            };
            if !entry.active {
                let last_admin =
                    local.role == Role::Admin && crate::users::active_admins(&self.conn)? <= 1;
                if name.as_str() == me || last_admin {
                    continue;
                }
                self.deactivate_user(&name, "benutzer.entfernt.rathaus-server")?;
                changed.push(format!("{} entfernt", name.as_str()));
            } else if local.role != entry.role {
                if local.role == Role::Admin && crate::users::active_admins(&self.conn)? <= 1 {
                    continue;
                }
                let now = self.now();
                let tx = self.conn.transaction()?;
                tx.execute(
                    "UPDATE users SET role = ?2 WHERE username = ?1",
                    params![name.as_str(), entry.role.as_str()],
                )?;
                crate::audit::append(
                    &tx,
                    &now,
                    &me,
                    "benutzer.rolle.rathaus-server",
                    &format!("{} {}", name.as_str(), entry.role.as_str()),
                )?;
                tx.commit()?;
                changed.push(format!("{}: Rolle {}", name.as_str(), entry.role.label()));
            }
        }
        Ok(changed)
    }

    /// Numbers of `counter` this desk still holds from leased blocks.
    pub fn office_numbers_left(&self, counter: &str) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT coalesce(sum(last - next + 1), 0) FROM office_numbers WHERE counter = ?1",
            params![counter],
            |r| r.get(0),
        )?)
    }

    /// Keep a block leased from the server.
    pub fn office_add_numbers(&mut self, counter: &str, first: i64, last: i64) -> Result<()> {
        if last < first {
            return Err(StoreError::InvalidInput(format!(
                "Der Nummernblock {first}–{last} ist leer."
            )));
        }
        let now = self.now();
        let owner = self.owner();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO office_numbers (counter, next, last) VALUES (?1, ?2, ?3)",
            params![counter, first, last],
        )?;
        crate::audit::append(
            &tx,
            &now,
            &owner,
            "buero.nummern",
            &format!("{counter} {first}–{last}"),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Take the next number of `counter` from the leased blocks (`None`: none left).
    pub fn office_take_number(&mut self, counter: &str) -> Result<Option<i64>> {
        let tx = self.conn.transaction()?;
        let block: Option<(i64, i64)> = tx
            .query_row(
                "SELECT next, last FROM office_numbers WHERE counter = ?1 ORDER BY next LIMIT 1",
                params![counter],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((next, last)) = block else {
            return Ok(None);
        };
        if next == last {
            tx.execute(
                "DELETE FROM office_numbers WHERE counter = ?1 AND next = ?2",
                params![counter, next],
            )?;
        } else {
            tx.execute(
                "UPDATE office_numbers SET next = next + 1 WHERE counter = ?1 AND next = ?2",
                params![counter, next],
            )?;
        }
        tx.commit()?;
        Ok(Some(next))
    }

    /// The cases of the logged-in user's replica as the server confirmed them, with
    /// their events (the Leitung's figures in office mode); `None` without a replica.
    pub fn replica_cases(&self) -> Result<Option<Vec<ReplicaCase>>> {
        let owner = self.owner();
        let exists: Option<i64> = self
            .conn
            .query_row(
                "SELECT 1 FROM office_replica WHERE owner = ?1",
                params![owner],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_none() {
            return Ok(None);
        }
        let mut cases: BTreeMap<Uuid, ReplicaCase> = BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT case_id, meta FROM office_cases WHERE owner = ?1")?;
        let rows = stmt.query_map(params![owner], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (id, meta) = row?;
            cases.insert(parse_uuid(&id)?, (from_json("Vorgang", &meta)?, Vec::new()));
        }
        let mut stmt = self
            .conn
            .prepare("SELECT case_id, event FROM office_events WHERE owner = ?1")?;
        let rows = stmt.query_map(params![owner], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (id, event) = row?;
            if let Some(case) = cases.get_mut(&parse_uuid(&id)?) {
                case.1.push(from_json("Ereignis", &event)?);
            }
        }
        Ok(Some(cases.into_values().collect()))
    }

    /// Queue the documents of a case this desk created for the Rathaus-Server
    /// (after the command that creates the case); one key per document.
    pub fn office_upload_add(&mut self, uploads: &[OfficeUpload]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for u in uploads {
            tx.execute(
                "INSERT OR IGNORE INTO office_uploads (case_id, key, blob_id, kind, filename, mime_type)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![u.case_id, u.key, u.blob_id, u.kind, u.filename, u.mime_type],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The documents waiting to go up, oldest first.
    pub fn office_uploads(&self) -> Result<Vec<OfficeUpload>> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, case_id, key, blob_id, kind, filename, mime_type FROM office_uploads ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(OfficeUpload {
                seq: r.get(0)?,
                case_id: r.get(1)?,
                key: r.get(2)?,
                blob_id: r.get(3)?,
                kind: r.get(4)?,
                filename: r.get(5)?,
                mime_type: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The server holds the document now.
    pub fn office_upload_done(&mut self, seq: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM office_uploads WHERE seq = ?1", params![seq])?;
        Ok(())
    }

    /// Commands of the logged-in user waiting for the server, conflicts not dealt
    /// with (the status bar's numbers), and the feed position applied.
    pub fn replica_counts(&self) -> Result<ReplicaCounts> {
        let owner = self.owner();
        let count = |sql: &str| -> Result<u32> {
            let n: i64 = self.conn.query_row(sql, params![owner], |r| r.get(0))?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        };
        let cursor: Option<i64> = self
            .conn
            .query_row(
                "SELECT cursor FROM office_replica WHERE owner = ?1",
                params![owner],
                |r| r.get(0),
            )
            .optional()?;
        Ok(ReplicaCounts {
            waiting: count("SELECT count(*) FROM office_queue WHERE owner = ?1")?,
            conflicts: count("SELECT count(*) FROM office_conflicts WHERE owner = ?1")?,
            cursor,
        })
    }

    /// The refused commands of the logged-in user, oldest first.
    pub fn replica_conflicts(&self) -> Result<Vec<StoredConflict>> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, command, refusal, case_now, at FROM office_conflicts WHERE owner = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![self.owner()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, command, refusal, case_now, at) = row?;
            out.push(StoredConflict {
                seq,
                at,
                conflict: Conflict {
                    command: from_json("Befehl", &command)?,
                    refusal: from_json("Ablehnung", &refusal)?,
                    case_now: case_now
                        .map(|m| from_json::<CaseMeta>("Vorgang", &m))
                        .transpose()?,
                },
            });
        }
        Ok(out)
    }

    /// The clerk has dealt with the conflict `seq` (taken the server's state or done
    /// the step again): it leaves the list; the audit keeps it.
    pub fn replica_conflict_done(&mut self, replica: &mut Replica, seq: i64) -> Result<()> {
        let owner = self.owner();
        let now = self.now();
        let tx = self.conn.transaction()?;
        let gone = tx.execute(
            "DELETE FROM office_conflicts WHERE owner = ?1 AND seq = ?2",
            params![owner, seq],
        )?;
        if gone != 1 {
            return Err(StoreError::InvalidInput(format!(
                "Einen Konflikt Nr. {seq} gibt es nicht (mehr)."
            )));
        }
        crate::audit::append(
            &tx,
            &now,
            &owner,
            "buero.konflikt.erledigt",
            &seq.to_string(),
        )?;
        tx.commit()?;
        replica.conflicts = self
            .replica_conflicts()?
            .into_iter()
            .map(|c| c.conflict)
            .collect();
        Ok(())
    }

    /// A case's content as the server sent it (age ciphertext to the kind key).
    pub fn replica_content(&self, case_id: Uuid) -> Result<Option<Ciphertext>> {
        let content: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT content FROM office_cases WHERE owner = ?1 AND case_id = ?2",
                params![self.owner(), case_id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        content
            .flatten()
            .map(|c| from_json("Inhalt", &c))
            .transpose()
    }
}

fn audit_command(
    tx: &Transaction<'_>,
    now: &str,
    owner: &str,
    action: &str,
    command: &Command,
) -> Result<()> {
    crate::audit::append(
        tx,
        now,
        owner,
        action,
        &format!(
            "{} {} ({})",
            command.body.label(),
            command.body.case_id(),
            command.key
        ),
    )
}

/// A document of a case this desk created, waiting for the Rathaus-Server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeUpload {
    pub seq: i64,
    pub case_id: String,
    pub key: String,
    pub blob_id: String,
    pub kind: String,
    pub filename: Option<String>,
    pub mime_type: String,
}

/// A case of the replica as the server confirmed it, with its events.
pub type ReplicaCase = (CaseMeta, Vec<Event>);
