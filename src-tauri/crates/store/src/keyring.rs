//! The key ring of a local store: what a role may not read, its key cannot open.
//!
//! Every local password opens the master key (the database) as before. Documents
//! in the vault are encrypted to a key per kind of content ([`KeyKind`], the office
//! key ring's kinds), held only by users whose role may read that kind
//! ([`office::keyring::may_hold`]):
//!
//! * **case key** (`fall`): an application's documents, letters – Sachbearbeitung
//!   and Leitung;
//! * **scan key** (`scan`): scan products and their Transfervermerk, encrypted to the
//!   scan key *and* the case key (QA at the Scanstelle, then the caseworkers) –
//!   Scanstelle and Leitung.
//!
//! The Administration holds neither. How a key travels:
//!
//! * every user has an own X25519 identity, kept in the user's password file beside
//!   the master key; its public recipient is published in `users.recipient`;
//! * a kind's key is made at the first login of a user who may hold it; its public
//!   recipient is kept in `secrets` (anyone may encrypt to it, e.g. a pickup run by
//!   the Administration), its identity only in **grants**:
//!   `keys/<user stem>-<recipient hash>.<kind>.age`, wrapped to one user's recipient,
//!   and `keys/<kind>-wiederherstellung.age`, wrapped to the recovery recipient;
//! * a holder's login gives the key to every active user who may hold it and has no
//!   grant for the recipient published (audited `<kind>schluessel.erteilt`);
//!   a removed user, a role that may not hold it, or a password set by somebody
//!   else (new identity) loses the grant;
//! * documents written before (a store from before the key ring, or before the keys
//!   existed) are re-encrypted in slices ([`Session::seal_documents`]).
//!
//! The case rows themselves live in their own database under a key derived from
//! the case key (`inhalt.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use age::secrecy::ExposeSecret;
use domain::{Role, UserName};
pub(crate) use office::keyring::KeyKind;
use office::keyring::may_hold;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::write_atomic;
use crate::keys::{self, Unwrap};
use crate::{Session, Store, audit};

/// `secrets` row with a kind key's public recipient.
fn recipient_secret(kind: KeyKind) -> String {
    format!("{}_recipient", kind.as_str())
}

/// The public recipients of the kind keys made so far.
pub(crate) fn recipients(conn: &Connection) -> Result<BTreeMap<KeyKind, age::x25519::Recipient>> {
    let mut out = BTreeMap::new();
    for kind in KeyKind::ALL {
        let text: Option<String> = conn
            .query_row(
                "SELECT value FROM secrets WHERE name = ?1",
                params![recipient_secret(kind)],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(t) = text {
            out.insert(kind, parse_recipient(&t)?);
        }
    }
    Ok(out)
}

fn recipient_hash(recipient: &str) -> String {
    hex::encode(&Sha256::digest(recipient.as_bytes())[..8])
}

fn audit_action(kind: KeyKind, what: &str) -> String {
    format!("{}schluessel.{what}", kind.as_str())
}

impl Store {
    /// The grant of `kind` for `user`'s published `recipient`.
    fn grant_path(&self, kind: KeyKind, user: &UserName, recipient: &str) -> PathBuf {
        self.layout().keys().join(format!(
            "{}-{}.{}.age",
            self.user_file_stem(user),
            recipient_hash(recipient),
            kind.as_str()
        ))
    }

    /// Remove `user`'s grants of the kinds `role` may not hold (all with `None`)
    /// and any grant of another recipient than `keep`.
    pub(crate) fn remove_grants(
        &self,
        user: &UserName,
        role: Option<Role>,
        keep: Option<&str>,
    ) -> Result<()> {
        let dir = self.layout().keys();
        let prefix = format!("{}-", self.user_file_stem(user));
        let mut removed = false;
        for entry in std::fs::read_dir(&dir).at(&dir)? {
            let path = entry.at(&dir)?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some(kind) = KeyKind::ALL
                .into_iter()
                .find(|k| name.ends_with(&format!(".{}.age", k.as_str())))
            else {
                continue;
            };
            if !name.starts_with(&prefix) {
                continue;
            }
            let allowed = role.is_some_and(|r| may_hold(r, kind));
            let kept = keep.map(|r| self.grant_path(kind, user, r));
            if !allowed || kept.as_ref() != Some(&path) {
                crate::fsutil::remove_file(&path).at(&path)?;
                removed = true;
            }
        }
        if removed {
            crate::fsutil::sync_dir(&dir)?;
        }
        Ok(())
    }
}

impl Session {
    /// At every login (and after a recovery): publish the user's own recipient,
    /// take the kind keys the user holds – making a kind's key at the first login
    /// of a user who may hold it –, and give them to every user due for them.
    pub(crate) fn open_keyring(&mut self, me: &age::x25519::Identity) -> Result<()> {
        let mine = me.to_public().to_string();
        let username = self.user().username.clone();
        let role = self.user().role;
        let published: Option<String> = self
            .conn
            .query_row(
                "SELECT recipient FROM users WHERE username = ?1",
                params![username.as_str()],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        if published.as_deref() != Some(mine.as_str()) {
            self.conn.execute(
                "UPDATE users SET recipient = ?2 WHERE username = ?1",
                params![username.as_str(), mine],
            )?;
        }
        // Grants for an older own key, or of a kind the role no longer may hold.
        self.store
            .remove_grants(&username, Some(role), Some(&mine))?;
        self.vault.recipients = recipients(&self.conn)?;
        for kind in KeyKind::ALL {
            if !may_hold(role, kind) {
                continue;
            }
            let identity = match self.vault.recipients.get(&kind).cloned() {
                None => Some(self.make_key(kind, &mine)?),
                Some(recipient) => {
                    let path = self.store.grant_path(kind, &username, &mine);
                    match std::fs::read(&path) {
                        Ok(wrapped) => match keys::unwrap_identity(&wrapped, me)? {
                            Unwrap::Ok(id)
                                if id.to_public().to_string() == recipient.to_string() =>
                            {
                                Some(id)
                            }
                            _ => {
                                // Not the key recorded (a key made twice at once, a
                                // file put there): removed, so a holder gives it anew.
                                tracing::error!(
                                    kind = kind.as_str(),
                                    "Schlüsselfreigabe passt nicht"
                                );
                                crate::fsutil::remove_file(&path).at(&path)?;
                                None
                            }
                        },
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                        Err(e) => return Err(e).at(&path),
                    }
                }
            };
            if let Some(identity) = identity {
                self.vault.identities.insert(kind, identity);
            }
        }
        let now = self.now();
        let fall = self.vault.identities.get(&KeyKind::Fall).cloned();
        crate::inhalt::open(
            &mut self.conn,
            self.store.layout(),
            fall.as_ref(),
            username.as_str(),
            &now,
        )?;
        // Paper applications the Scanstelle approved meanwhile, and what the
        // Administration asked for and needs to see.
        self.take_in_scans()?;
        self.refresh_overview()?;
        self.grant_due()?;
        Ok(())
    }

    /// Does this session hold the case key?
    pub fn holds_case_key(&self) -> bool {
        self.holds_key(KeyKind::Fall)
    }

    /// Does this session hold the key of `kind`?
    pub fn holds_key(&self, kind: KeyKind) -> bool {
        self.vault.identities.contains_key(&kind)
    }

    /// For the administration: which kind keys each active user's role may hold,
    /// and whether the user holds each (a grant for the own key published) – or
    /// waits for a holder's next login.
    pub fn key_states(&self) -> Result<BTreeMap<String, Vec<(KeyKind, bool)>>> {
        let mut out = BTreeMap::new();
        let mut stmt = self.conn.prepare(
            "SELECT username, role, recipient FROM users WHERE active = 1 ORDER BY username",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        for row in rows {
            let (name, role, recipient) = row?;
            let (Some(role), Ok(user)) = (Role::parse(&role), UserName::parse(&name)) else {
                continue;
            };
            let states = KeyKind::ALL
                .into_iter()
                .filter(|k| may_hold(role, *k))
                .map(|k| {
                    let held = recipient
                        .as_deref()
                        .is_some_and(|r| self.store.grant_path(k, &user, r).exists());
                    (k, held)
                })
                .collect();
            out.insert(name, states);
        }
        Ok(out)
    }

    /// A kind's key, made now (none exists yet): the grant for this user and the
    /// recovery wrap written first, then its recipient recorded.
    fn make_key(&mut self, kind: KeyKind, mine: &str) -> Result<age::x25519::Identity> {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        let username = self.user().username.clone();
        self.write_grant(kind, &username, mine, &identity)?;
        self.write_recovery_wrap(kind, &identity)?;
        let now = self.now();
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, ?2)",
            params![recipient_secret(kind), recipient.to_string()],
        )?;
        if n != 1 {
            return Err(StoreError::Conflict(
                "Ein Schlüssel wurde gerade an anderer Stelle angelegt; bitte neu anmelden.".into(),
            ));
        }
        audit::append(
            &tx,
            &now,
            username.as_str(),
            &audit_action(kind, "erzeugt"),
            "",
        )?;
        tx.commit()?;
        self.vault.recipients.insert(kind, recipient);
        tracing::info!(kind = kind.as_str(), "Schlüssel angelegt");
        Ok(identity)
    }

    /// A kind's key wrapped to the recovery recipient, if that is known and the
    /// wrap not yet written (stores that learn the recipient later get it at the
    /// next holder's login).
    fn write_recovery_wrap(&self, kind: KeyKind, identity: &age::x25519::Identity) -> Result<()> {
        let path = self.store.layout().key_recovery(kind.as_str());
        if path.exists() {
            return Ok(());
        }
        match crate::backup::recovery_recipient(&self.conn)? {
            Some(r) => write_atomic(&path, &wrap_identity(identity, &r)?),
            None => {
                tracing::warn!(
                    kind = kind.as_str(),
                    "Schlüssel ohne Wiederherstellung: der Wiederherstellungsschlüssel ist noch nicht eingerichtet"
                );
                Ok(())
            }
        }
    }

    /// Give every kind key this session holds to every active user who may hold it
    /// and has no grant for the recipient they published. Returns how many.
    pub(crate) fn grant_due(&mut self) -> Result<usize> {
        if self.vault.identities.is_empty() {
            return Ok(0);
        }
        let mut users = Vec::new();
        {
            let mut stmt = self.conn.prepare(
                "SELECT username, role, recipient FROM users WHERE active = 1 AND recipient IS NOT NULL ORDER BY username",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            for row in rows {
                let (name, role, recipient) = row?;
                if let Err(e) = parse_recipient(&recipient) {
                    tracing::error!("Öffentlicher Schlüssel eines Benutzers unlesbar: {e}");
                    continue;
                }
                if let (Some(role), Ok(username)) = (Role::parse(&role), UserName::parse(&name)) {
                    users.push((username, role, recipient));
                }
            }
        }
        let mut granted = 0;
        for (kind, identity) in self.vault.identities.clone() {
            self.write_recovery_wrap(kind, &identity)?;
            for (username, role, recipient) in &users {
                if !may_hold(*role, kind)
                    || self.store.grant_path(kind, username, recipient).exists()
                {
                    continue;
                }
                self.write_grant(kind, username, recipient, &identity)?;
                self.audit(&audit_action(kind, "erteilt"), username.as_str())?;
                granted += 1;
            }
        }
        Ok(granted)
    }

    /// After a recovery: the kind keys from their recovery wraps, given to this
    /// session's user (new own key `recipient`) where the role may hold them.
    pub(crate) fn grant_from_recovery(
        &mut self,
        recovery: &age::x25519::Identity,
        recipient: &str,
    ) -> Result<()> {
        let username = self.user().username.clone();
        let role = self.user().role;
        for kind in KeyKind::ALL {
            if !may_hold(role, kind) {
                continue;
            }
            let path = self.store.layout().key_recovery(kind.as_str());
            let wrapped = match std::fs::read(&path) {
                Ok(w) => w,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).at(&path),
            };
            let Unwrap::Ok(identity) = keys::unwrap_identity(&wrapped, recovery)? else {
                return Err(StoreError::WrongRecoveryKey);
            };
            self.write_grant(kind, &username, recipient, &identity)?;
            self.audit(&audit_action(kind, "erteilt"), username.as_str())?;
        }
        Ok(())
    }

    /// Give `identity`, the key of `kind`, to `username` under the recipient they
    /// published.
    fn write_grant(
        &self,
        kind: KeyKind,
        username: &UserName,
        recipient: &str,
        identity: &age::x25519::Identity,
    ) -> Result<()> {
        let wrapped = wrap_identity(identity, &parse_recipient(recipient)?)?;
        write_atomic(&self.store.grant_path(kind, username, recipient), &wrapped)
    }
}

/// A kind's key wrapped to `recipient`: what a grant and a recovery wrap hold.
fn wrap_identity(
    identity: &age::x25519::Identity,
    recipient: &age::x25519::Recipient,
) -> Result<Vec<u8>> {
    keys::encrypt_secret(identity.to_string().expose_secret().as_bytes(), recipient)
}

fn parse_recipient(text: &str) -> Result<age::x25519::Recipient> {
    text.parse::<age::x25519::Recipient>()
        .map_err(|_| StoreError::Corrupt("Öffentlicher Schlüssel unlesbar".into()))
}
