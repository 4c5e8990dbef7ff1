//! The key ring on the server (`office::keyring`): public recipients and wrapped
//! identities only. The server checks who may hold which kind by the role it holds
//! for the user and refuses everything else with an audit entry.

use domain::Role;
use office::Ciphertext;
use office::keyring::{
    self, GrantKey, HolderView, KeyKind, KeyView, PublishKindKey, PublishUserKey,
};
use office::rules::Actor;
use std::collections::BTreeMap;

use crate::error::{Result, ServerError};
use crate::record::{Record, audit};

fn bytes_to_ciphertext(b: Vec<u8>) -> Result<Ciphertext> {
    Ciphertext::new(b).map_err(|r| ServerError::Db(r.reason))
}

fn kind_of(raw: &str) -> Result<KeyKind> {
    KeyKind::parse(raw).ok_or_else(|| ServerError::Db(format!("unbekannte Schlüsselart „{raw}“")))
}

/// The key ring as the administration sees it (no keys, only who has what).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRingStatus {
    /// Kinds whose key exists.
    pub kinds: Vec<KeyKind>,
    /// Active users without a published user key (never signed in at a desk).
    pub without_key: Vec<String>,
    /// Grants due: the Leitung's next sign-in hands them out.
    pub waiting: Vec<(KeyKind, String)>,
}

impl Record {
    /// Who has which keys, and what waits for the Leitung.
    pub async fn key_ring_status(&self) -> Result<KeyRingStatus> {
        let leitung = Actor {
            user: String::new(),
            role: Role::Leitung,
        };
        let view = self.key_view(&leitung).await?;
        Ok(KeyRingStatus {
            kinds: view.kinds.keys().copied().collect(),
            without_key: view
                .holders
                .iter()
                .filter(|h| h.active && h.recipient.is_none())
                .map(|h| h.name.clone())
                .collect(),
            waiting: if view.kinds.is_empty() {
                Vec::new()
            } else {
                view.due()
            },
        })
    }

    async fn refuse(&self, actor: &Actor, action: &str, why: String) -> ServerError {
        let client = match self.pool().get().await {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        if let Err(e) = audit(&client, Some(&actor.user), None, action, &why).await {
            return e;
        }
        ServerError::Forbidden(why)
    }

    /// A user publishes the own key; again with the same recipient after a password
    /// change (new wrapping). Another recipient would orphan the grants: refused.
    pub async fn publish_user_key(&self, actor: &Actor, key: &PublishUserKey) -> Result<()> {
        keyring::check_recipient(&key.recipient).map_err(|r| ServerError::Invalid(r.reason))?;
        let client = self.pool().get().await?;
        let n = client
            .execute(
                "INSERT INTO user_keys (user_name, recipient, wrapped) VALUES ($1, $2, $3)
                 ON CONFLICT (user_name) DO UPDATE SET wrapped = excluded.wrapped, published_at = now()
                 WHERE user_keys.recipient = excluded.recipient",
                &[&actor.user, &key.recipient, &key.wrapped.as_bytes()],
            )
            .await?;
        if n == 0 {
            return Err(self
                .refuse(
                    actor,
                    "schluessel_abgelehnt",
                    format!(
                        "{} hat schon einen anderen Benutzerschlüssel; ein neuer würde alle Freigaben ungültig machen.",
                        actor.user
                    ),
                )
                .await);
        }
        audit(
            &client,
            Some(&actor.user),
            None,
            "schluessel_veroeffentlicht",
            "Benutzerschlüssel",
        )
        .await?;
        Ok(())
    }

    /// The Leitung creates a kind's key (once), with her own grant.
    pub async fn publish_kind_key(&self, actor: &Actor, key: &PublishKindKey) -> Result<()> {
        if !keyring::may_grant(actor.role) || !keyring::may_hold(actor.role, key.kind) {
            return Err(self
                .refuse(
                    actor,
                    "schluessel_abgelehnt",
                    format!(
                        "Die Rolle „{}“ darf keinen Schlüssel für {} anlegen.",
                        actor.role.label(),
                        key.kind.label()
                    ),
                )
                .await);
        }
        keyring::check_recipient(&key.recipient).map_err(|r| ServerError::Invalid(r.reason))?;
        let mut client = self.pool().get().await?;
        let tx = client.transaction().await?;
        let own = tx
            .query_opt(
                "SELECT 1 FROM user_keys WHERE user_name = $1",
                &[&actor.user],
            )
            .await?;
        if own.is_none() {
            return Err(ServerError::Invalid(
                "Zuerst muss der eigene Benutzerschlüssel veröffentlicht sein.".into(),
            ));
        }
        let n = tx
            .execute(
                "INSERT INTO kind_keys (kind, recipient, created_by) VALUES ($1, $2, $3)
                 ON CONFLICT (kind) DO NOTHING",
                &[&key.kind.as_str(), &key.recipient, &actor.user],
            )
            .await?;
        if n == 0 {
            return Err(ServerError::Invalid(format!(
                "Den Schlüssel für {} gibt es schon.",
                key.kind.label()
            )));
        }
        tx.execute(
            "INSERT INTO key_grants (kind, user_name, wrapped, granted_by) VALUES ($1, $2, $3, $2)",
            &[&key.kind.as_str(), &actor.user, &key.own_grant.as_bytes()],
        )
        .await?;
        audit(
            &tx,
            Some(&actor.user),
            None,
            "schluessel_angelegt",
            key.kind.as_str(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The Leitung gives a kind's key to a user whose role may hold it.
    pub async fn grant_key(&self, actor: &Actor, grant: &GrantKey) -> Result<()> {
        let mut client = self.pool().get().await?;
        let tx = client.transaction().await?;
        let target = tx
            .query_opt(
                "SELECT u.role, k.recipient IS NOT NULL FROM users u
                 LEFT JOIN user_keys k ON k.user_name = u.name
                 WHERE u.name = $1 AND u.active",
                &[&grant.user],
            )
            .await?;
        let holds = tx
            .query_opt(
                "SELECT 1 FROM key_grants WHERE kind = $1 AND user_name = $2",
                &[&grant.kind.as_str(), &actor.user],
            )
            .await?
            .is_some();
        let why = match &target {
            _ if !keyring::may_grant(actor.role) || !holds => Some(format!(
                "{} darf den Schlüssel für {} nicht weitergeben.",
                actor.user,
                grant.kind.label()
            )),
            None => Some(format!("Den Benutzer „{}“ gibt es nicht.", grant.user)),
            Some(row) => {
                let raw: String = row.try_get(0)?;
                let role = Role::parse(&raw)
                    .ok_or_else(|| ServerError::Db(format!("unbekannte Rolle „{raw}“")))?;
                if !keyring::may_hold(role, grant.kind) {
                    Some(format!(
                        "Die Rolle „{}“ von {} darf {} nicht lesen; der Schlüssel wird ihr nicht gegeben.",
                        role.label(),
                        grant.user,
                        grant.kind.label()
                    ))
                } else if !row.try_get::<_, bool>(1)? {
                    Some(format!("{} hat noch keinen Benutzerschlüssel.", grant.user))
                } else {
                    None
                }
            }
        };
        if let Some(why) = why {
            drop(tx);
            return Err(self.refuse(actor, "freigabe_abgelehnt", why).await);
        }
        tx.execute(
            "INSERT INTO key_grants (kind, user_name, wrapped, granted_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (kind, user_name) DO UPDATE SET wrapped = excluded.wrapped,
                 granted_by = excluded.granted_by, granted_at = now()",
            &[
                &grant.kind.as_str(),
                &grant.user,
                &grant.wrapped.as_bytes(),
                &actor.user,
            ],
        )
        .await?;
        audit(
            &tx,
            Some(&actor.user),
            None,
            "schluessel_freigegeben",
            &format!("{} für {}", grant.kind.as_str(), grant.user),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// What the signed-in user gets about keys (the Leitung also who holds what).
    pub async fn key_view(&self, actor: &Actor) -> Result<KeyView> {
        let client = self.pool().get().await?;
        let mut view = KeyView::default();
        if let Some(r) = client
            .query_opt(
                "SELECT recipient, wrapped FROM user_keys WHERE user_name = $1",
                &[&actor.user],
            )
            .await?
        {
            view.own = Some(PublishUserKey {
                recipient: r.try_get(0)?,
                wrapped: bytes_to_ciphertext(r.try_get(1)?)?,
            });
        }
        for r in client
            .query("SELECT kind, recipient FROM kind_keys", &[])
            .await?
        {
            view.kinds
                .insert(kind_of(&r.try_get::<_, String>(0)?)?, r.try_get(1)?);
        }
        let mut grants = BTreeMap::new();
        for r in client
            .query(
                "SELECT kind, wrapped FROM key_grants WHERE user_name = $1",
                &[&actor.user],
            )
            .await?
        {
            grants.insert(
                kind_of(&r.try_get::<_, String>(0)?)?,
                bytes_to_ciphertext(r.try_get(1)?)?,
            );
        }
        view.grants = grants;
        if keyring::may_grant(actor.role) {
            for r in client
                .query(
                    "SELECT u.name, u.role, u.active, k.recipient FROM users u
                     LEFT JOIN user_keys k ON k.user_name = u.name ORDER BY u.name",
                    &[],
                )
                .await?
            {
                let raw: String = r.try_get(1)?;
                view.holders.push(HolderView {
                    name: r.try_get(0)?,
                    role: Role::parse(&raw)
                        .ok_or_else(|| ServerError::Db(format!("unbekannte Rolle „{raw}“")))?,
                    active: r.try_get(2)?,
                    recipient: r.try_get(3)?,
                });
            }
            for r in client
                .query("SELECT kind, user_name FROM key_grants", &[])
                .await?
            {
                view.granted
                    .push((kind_of(&r.try_get::<_, String>(0)?)?, r.try_get(1)?));
            }
        }
        Ok(view)
    }
}
