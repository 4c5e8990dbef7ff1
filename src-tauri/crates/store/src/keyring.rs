//! The case key of a local store: what a role may not read, its key cannot open.
//!
//! Every local password opens the master key (the database) as before. Case
//! documents in the vault – an application's documents, letters – are encrypted to a
//! second key, the **case key** (X25519), which only users whose role may read case
//! content hold (Sachbearbeitung, Leitung; [`office::keyring::may_hold`]):
//!
//! * every user has an own X25519 identity, kept in the user's password file beside
//!   the master key; its public recipient is published in `users.recipient`;
//! * the case key is made at the first login of a user who may hold it; its public
//!   recipient is kept in `secrets` (anyone may encrypt to it, e.g. a sync run of the
//!   Administration), its identity only in **grants**:
//!   `keys/<user stem>-<recipient hash>.fall.age`, wrapped to one user's recipient,
//!   and `keys/fall-wiederherstellung.age`, wrapped to the recovery recipient;
//! * a holder's login gives the key to every active user who may hold it and has no
//!   grant for the published recipient yet (audited `fallschluessel.erteilt`);
//!   a removed user, a role without case content, or a password set by somebody
//!   else (new identity) loses the grant;
//! * case documents written before (or before the key existed) are re-encrypted
//!   to it by a holder's session ([`Session::seal_case_documents`]), in slices.
//!
//! The Scanstelle's and the Administration's passwords open the database and the
//! vault key, not the case key: with their key files and `age` the case documents
//! stay closed. The database rows themselves are not split yet (see SECURITY.md).

use std::path::PathBuf;

use age::secrecy::ExposeSecret;
use domain::{Role, UserName};
use office::keyring::{KeyKind, may_hold};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::write_atomic;
use crate::keys::{self, Unwrap};
use crate::{Session, Store, audit};

/// `secrets` row with the case key's public recipient.
const CASE_RECIPIENT: &str = "fall_recipient";

/// May a user of `role` hold the case key?
pub(crate) fn holds_cases(role: Role) -> bool {
    may_hold(role, KeyKind::Fall)
}

/// The case key's public recipient, once made.
pub(crate) fn case_recipient(conn: &Connection) -> Result<Option<age::x25519::Recipient>> {
    let text: Option<String> = conn
        .query_row(
            "SELECT value FROM secrets WHERE name = ?1",
            params![CASE_RECIPIENT],
            |r| r.get(0),
        )
        .optional()?;
    text.map(|t| {
        t.parse::<age::x25519::Recipient>()
            .map_err(|_| StoreError::Corrupt("Öffentlicher Fallschlüssel unlesbar".into()))
    })
    .transpose()
}

fn recipient_hash(recipient: &str) -> String {
    hex::encode(&Sha256::digest(recipient.as_bytes())[..8])
}

impl Store {
    /// The grant of the case key for `user`'s published `recipient`.
    fn grant_path(&self, user: &UserName, recipient: &str) -> PathBuf {
        self.layout().keys().join(format!(
            "{}-{}.fall.age",
            self.user_file_stem(user),
            recipient_hash(recipient)
        ))
    }

    /// Remove every grant of `user` except the one for `keep` (a recipient).
    pub(crate) fn remove_grants(&self, user: &UserName, keep: Option<&str>) -> Result<()> {
        let dir = self.layout().keys();
        let prefix = format!("{}-", self.user_file_stem(user));
        let keep = keep.map(|r| self.grant_path(user, r));
        let mut removed = false;
        for entry in std::fs::read_dir(&dir).at(&dir)? {
            let path = entry.at(&dir)?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with(&prefix)
                && name.ends_with(".fall.age")
                && keep.as_ref() != Some(&path)
            {
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

/// A user as the key ring needs them.
struct Due {
    username: UserName,
    recipient: String,
}

impl Session {
    /// At every login (and after a recovery): publish the user's own recipient,
    /// take the case key if the user holds it – making it at the first login of a
    /// user who may hold it –, and give it to every user due for it.
    pub(crate) fn open_keyring(&mut self, me: &age::x25519::Identity) -> Result<()> {
        let mine = me.to_public().to_string();
        let username = self.user().username.clone();
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
            self.store.remove_grants(&username, Some(&mine))?;
        }
        self.vault.fall_recipient = case_recipient(&self.conn)?;
        if !holds_cases(self.user().role) {
            // A role without case content never keeps a grant (role changed).
            self.store.remove_grants(&username, None)?;
            return Ok(());
        }
        let identity = match &self.vault.fall_recipient {
            None => Some(self.make_case_key(&mine)?),
            Some(recipient) => {
                let path = self.store.grant_path(&username, &mine);
                match std::fs::read(&path) {
                    Ok(wrapped) => match keys::unwrap_identity(&wrapped, me)? {
                        Unwrap::Ok(id) if id.to_public().to_string() == recipient.to_string() => {
                            Some(id)
                        }
                        _ => {
                            tracing::error!("Freigabe des Fallschlüssels passt nicht");
                            None
                        }
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(e).at(&path),
                }
            }
        };
        if let Some(identity) = identity {
            self.vault.fall_identity = Some(identity);
            self.grant_due()?;
        }
        Ok(())
    }

    /// Does this session hold the case key?
    pub fn holds_case_key(&self) -> bool {
        self.vault.fall_identity.is_some()
    }

    /// The case key, made now (no case key exists yet): its recipient recorded, the
    /// grant for this user and the recovery wrap written first.
    fn make_case_key(&mut self, mine: &str) -> Result<age::x25519::Identity> {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        let username = self.user().username.clone();
        let grant = keys::encrypt_secret(
            identity.to_string().expose_secret().as_bytes(),
            &parse_recipient(mine)?,
        )?;
        write_atomic(&self.store.grant_path(&username, mine), &grant)?;
        self.write_case_recovery(&identity)?;
        let now = self.now();
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, ?2)",
            params![CASE_RECIPIENT, recipient.to_string()],
        )?;
        if n != 1 {
            return Err(StoreError::Conflict(
                "Der Fallschlüssel wurde gerade an einem anderen Arbeitsplatz angelegt; bitte neu anmelden."
                    .into(),
            ));
        }
        audit::append(&tx, &now, username.as_str(), "fallschluessel.erzeugt", "")?;
        tx.commit()?;
        self.vault.fall_recipient = Some(recipient);
        tracing::info!("Fallschlüssel angelegt");
        Ok(identity)
    }

    /// The case key wrapped to the recovery recipient, if that is known and the
    /// wrap not yet written (stores that learn the recipient later get it at the
    /// next holder's login).
    fn write_case_recovery(&self, identity: &age::x25519::Identity) -> Result<()> {
        let path = self.store.layout().case_key_recovery();
        if path.exists() {
            return Ok(());
        }
        match crate::backup::recovery_recipient(&self.conn)? {
            Some(r) => write_atomic(
                &path,
                &keys::encrypt_secret(identity.to_string().expose_secret().as_bytes(), &r)?,
            ),
            None => {
                tracing::warn!(
                    "Fallschlüssel ohne Wiederherstellung: der Wiederherstellungsschlüssel ist noch nicht eingerichtet"
                );
                Ok(())
            }
        }
    }

    /// Give the case key to every active user who may hold it and has no grant for
    /// the recipient they published (only a holder can). Returns how many.
    pub(crate) fn grant_due(&mut self) -> Result<usize> {
        let Some(identity) = self.vault.fall_identity.clone() else {
            return Ok(0);
        };
        self.write_case_recovery(&identity)?;
        let mut due = Vec::new();
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
                let Some(role) = Role::parse(&role) else {
                    continue;
                };
                let Ok(username) = UserName::parse(&name) else {
                    continue;
                };
                if holds_cases(role) && !self.store.grant_path(&username, &recipient).exists() {
                    due.push(Due {
                        username,
                        recipient,
                    });
                }
            }
        }
        let secret = identity.to_string();
        let mut granted = 0;
        for d in due {
            let r = match parse_recipient(&d.recipient) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!("Öffentlicher Schlüssel eines Benutzers unlesbar: {e}");
                    continue;
                }
            };
            let wrapped = keys::encrypt_secret(secret.expose_secret().as_bytes(), &r)?;
            write_atomic(&self.store.grant_path(&d.username, &d.recipient), &wrapped)?;
            self.store.remove_grants(&d.username, Some(&d.recipient))?;
            self.audit("fallschluessel.erteilt", d.username.as_str())?;
            granted += 1;
        }
        Ok(granted)
    }

    /// After a recovery: the case key from its recovery wrap, given to `user` if
    /// the user's role may hold it.
    pub(crate) fn grant_from_recovery(
        &mut self,
        recovery: &age::x25519::Identity,
        recipient: &str,
    ) -> Result<()> {
        if !holds_cases(self.user().role) {
            return Ok(());
        }
        let path = self.store.layout().case_key_recovery();
        let wrapped = match std::fs::read(&path) {
            Ok(w) => w,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).at(&path),
        };
        let Unwrap::Ok(identity) = keys::unwrap_identity(&wrapped, recovery)? else {
            return Err(StoreError::WrongRecoveryKey);
        };
        let username = self.user().username.clone();
        let grant = keys::encrypt_secret(
            identity.to_string().expose_secret().as_bytes(),
            &parse_recipient(recipient)?,
        )?;
        write_atomic(&self.store.grant_path(&username, recipient), &grant)?;
        self.audit("fallschluessel.erteilt", username.as_str())
    }
}

fn parse_recipient(text: &str) -> Result<age::x25519::Recipient> {
    text.parse::<age::x25519::Recipient>()
        .map_err(|_| StoreError::Corrupt("Öffentlicher Schlüssel unlesbar".into()))
}
