//! Who can open what, in office mode: keys per kind of content, each given only to
//! the users whose role may read it. The server stores and hands out wrapped keys
//! and public recipients; it never holds an identity that opens content.
//!
//! * Every user has a **user key** (X25519). Its identity is wrapped with the user's
//!   password (age scrypt) at the desk where the user first signs in; the server
//!   keeps the wrapped identity and the public recipient.
//! * Every **kind of content** ([`KeyKind`]) has its own X25519 key. The first
//!   Leitung creates them; a kind's identity is given to a user only wrapped to that
//!   user's recipient (a **grant**), and only if the user's role may read that kind
//!   ([`may_hold`]). Case content is encrypted to the `fall` recipient, a scan
//!   product to `scan` and `fall` (QA at the scanning desk, then the caseworkers).
//! * The Administration holds no kind key at all; the Scanstelle only `scan`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

pub use age::secrecy::{ExposeSecret, SecretString};
use domain::Role;
use serde::{Deserialize, Serialize};

use crate::protocol::{Ciphertext, Refusal};

/// A kind of content with its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Case content: applicant, application, notes, documents, letters.
    Fall,
    /// Scan products until their release (QA at the scanning desk).
    Scan,
}

impl KeyKind {
    pub const ALL: [KeyKind; 2] = [KeyKind::Fall, KeyKind::Scan];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Fall => "fall",
            KeyKind::Scan => "scan",
        }
    }

    pub fn parse(s: &str) -> Option<KeyKind> {
        KeyKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            KeyKind::Fall => "Vorgangsinhalte",
            KeyKind::Scan => "Scanprodukte",
        }
    }
}

/// May a user of `role` hold the key of `kind`? What a role may not read, its key
/// cannot open.
pub fn may_hold(role: Role, kind: KeyKind) -> bool {
    matches!(
        (role, kind),
        (Role::Sachbearbeitung | Role::Leitung, KeyKind::Fall)
            | (Role::Scanstelle | Role::Leitung, KeyKind::Scan)
    )
}

/// Only the Leitung creates kind keys and hands them out.
pub fn may_grant(role: Role) -> bool {
    role == Role::Leitung
}

/// A user as the key ring sees it: role, and whether a user key is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub role: Role,
    pub active: bool,
    /// The user's public recipient (`age1…`), once published.
    pub recipient: Option<String>,
}

/// The grants a Leitung desk should make now: every active user with a published
/// key who may hold a kind and has no grant of it yet.
pub fn grants_due(
    users: &BTreeMap<String, Holder>,
    granted: &BTreeSet<(KeyKind, String)>,
) -> Vec<(KeyKind, String)> {
    let mut due = Vec::new();
    for (name, h) in users {
        if !h.active || h.recipient.is_none() {
            continue;
        }
        for kind in KeyKind::ALL {
            if may_hold(h.role, kind) && !granted.contains(&(kind, name.clone())) {
                due.push((kind, name.clone()));
            }
        }
    }
    due
}

/// A user publishes the own key (at the first sign-in at a desk, and again with
/// the same recipient after a password change).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishUserKey {
    pub recipient: String,
    /// The identity wrapped with the user's password.
    pub wrapped: Ciphertext,
}

/// The Leitung creates a kind's key, with the grant for herself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishKindKey {
    pub kind: KeyKind,
    pub recipient: String,
    pub own_grant: Ciphertext,
}

/// The Leitung gives a kind's key to a user (wrapped to the user's recipient).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantKey {
    pub kind: KeyKind,
    pub user: String,
    pub wrapped: Ciphertext,
}

/// A user of the town hall as the Leitung's desk needs to see them for grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HolderView {
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub recipient: Option<String>,
}

/// What the server hands a signed-in user about keys.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    /// The user's own recipient and wrapped identity, once published.
    pub own: Option<PublishUserKey>,
    /// Every kind's public recipient (to encrypt to).
    pub kinds: BTreeMap<KeyKind, String>,
    /// The kinds given to this user, wrapped to the user's recipient.
    pub grants: BTreeMap<KeyKind, Ciphertext>,
    /// For the Leitung only: every user and every grant made (to find the due ones).
    pub holders: Vec<HolderView>,
    pub granted: Vec<(KeyKind, String)>,
}

impl KeyView {
    /// The grants due now (Leitung's desk).
    pub fn due(&self) -> Vec<(KeyKind, String)> {
        let users = self
            .holders
            .iter()
            .map(|h| {
                (
                    h.name.clone(),
                    Holder {
                        role: h.role,
                        active: h.active,
                        recipient: h.recipient.clone(),
                    },
                )
            })
            .collect();
        let granted = self.granted.iter().cloned().collect();
        grants_due(&users, &granted)
    }
}

/// Why a key operation failed (German).
fn crypto(e: impl std::fmt::Display) -> Refusal {
    Refusal::invalid(format!("Schlüssel nicht verarbeitbar: {e}"))
}

/// A new X25519 key: (identity `AGE-SECRET-KEY-1…`, recipient `age1…`).
pub fn generate() -> (SecretString, String) {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    (identity.to_string(), recipient)
}

/// The recipient (`age1…`) of an identity.
pub fn recipient_of(identity: &SecretString) -> Result<String, Refusal> {
    identity
        .expose_secret()
        .trim()
        .parse::<age::x25519::Identity>()
        .map(|i| i.to_public().to_string())
        .map_err(|_| Refusal::invalid("Kein gültiger Schlüssel (AGE-SECRET-KEY-1…).".to_string()))
}

fn recipient(text: &str) -> Result<age::x25519::Recipient, Refusal> {
    text.parse::<age::x25519::Recipient>()
        .map_err(|_| Refusal::invalid(format!("„{text}“ ist kein öffentlicher Schlüssel (age1…).")))
}

/// Check a published recipient.
pub fn check_recipient(text: &str) -> Result<(), Refusal> {
    recipient(text).map(|_| ())
}

fn encrypt_bytes<'a>(
    recipients: impl Iterator<Item = &'a dyn age::Recipient>,
    plain: &[u8],
) -> Result<Vec<u8>, Refusal> {
    let encryptor = age::Encryptor::with_recipients(recipients).map_err(crypto)?;
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).map_err(crypto)?;
    w.write_all(plain).map_err(crypto)?;
    w.finish().map_err(crypto)?;
    Ok(out)
}

fn encrypt<'a>(
    recipients: impl Iterator<Item = &'a dyn age::Recipient>,
    plain: &[u8],
) -> Result<Ciphertext, Refusal> {
    Ciphertext::new(encrypt_bytes(recipients, plain)?)
}

/// Encrypt a document (an application's attachment) to the recipients: age like
/// [`seal`], without the size limit of content that travels in a command.
pub fn seal_document(plain: &[u8], recipients: &[&str]) -> Result<Vec<u8>, Refusal> {
    let parsed: Vec<age::x25519::Recipient> = recipients
        .iter()
        .map(|r| recipient(r))
        .collect::<Result<_, _>>()?;
    encrypt_bytes(parsed.iter().map(|r| r as &dyn age::Recipient), plain)
}

/// Encrypt content to the recipients of the kinds it belongs to.
pub fn seal(plain: &[u8], recipients: &[&str]) -> Result<Ciphertext, Refusal> {
    let parsed: Vec<age::x25519::Recipient> = recipients
        .iter()
        .map(|r| recipient(r))
        .collect::<Result<_, _>>()?;
    encrypt(parsed.iter().map(|r| r as &dyn age::Recipient), plain)
}

/// Open content with an identity.
pub fn open(c: &Ciphertext, identity: &SecretString) -> Result<Vec<u8>, Refusal> {
    open_bytes(c.as_bytes(), identity)
}

/// Open a document sealed with [`seal_document`] (no size limit).
pub fn open_document(bytes: &[u8], identity: &SecretString) -> Result<Vec<u8>, Refusal> {
    open_bytes(bytes, identity)
}

fn open_bytes(bytes: &[u8], identity: &SecretString) -> Result<Vec<u8>, Refusal> {
    let id = identity
        .expose_secret()
        .parse::<age::x25519::Identity>()
        .map_err(|_| Refusal::invalid("Der Schlüssel ist unlesbar.".into()))?;
    let decryptor = age::Decryptor::new(bytes).map_err(crypto)?;
    let mut r = decryptor
        .decrypt(std::iter::once(&id as &dyn age::Identity))
        .map_err(|_| Refusal::forbidden("Dieser Schlüssel öffnet den Inhalt nicht.".into()))?;
    let mut out = Vec::new();
    r.read_to_end(&mut out).map_err(crypto)?;
    Ok(out)
}

/// Wrap a user's identity with the user's password (scrypt work factor 2^`log_n`).
pub fn wrap_with_password(
    identity: &SecretString,
    password: &SecretString,
    log_n: u8,
) -> Result<Ciphertext, Refusal> {
    let mut r = age::scrypt::Recipient::new(password.clone());
    r.set_work_factor(log_n);
    encrypt(
        std::iter::once(&r as &dyn age::Recipient),
        identity.expose_secret().as_bytes(),
    )
}

/// Unwrap a user's identity with the password.
pub fn unwrap_with_password(
    wrapped: &Ciphertext,
    password: &SecretString,
) -> Result<SecretString, Refusal> {
    let id = age::scrypt::Identity::new(password.clone());
    let decryptor = age::Decryptor::new(wrapped.as_bytes()).map_err(crypto)?;
    let mut r = decryptor
        .decrypt(std::iter::once(&id as &dyn age::Identity))
        .map_err(|_| {
            Refusal::forbidden("Das Passwort öffnet den Benutzerschlüssel nicht.".into())
        })?;
    let mut out = String::new();
    r.read_to_string(&mut out).map_err(crypto)?;
    Ok(SecretString::from(out))
}

/// Wrap a kind's identity for a user (to the user's recipient).
pub fn wrap_for(identity: &SecretString, user_recipient: &str) -> Result<Ciphertext, Refusal> {
    let r = recipient(user_recipient)?;
    encrypt(
        std::iter::once(&r as &dyn age::Recipient),
        identity.expose_secret().as_bytes(),
    )
}

/// Unwrap a granted kind identity with the user's own identity.
pub fn unwrap_grant(
    grant: &Ciphertext,
    user_identity: &SecretString,
) -> Result<SecretString, Refusal> {
    let bytes = open(grant, user_identity)?;
    String::from_utf8(bytes)
        .map(SecretString::from)
        .map_err(|_| Refusal::invalid("Die Freigabe ist beschädigt.".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_role_may_not_read_it_never_holds() {
        for kind in KeyKind::ALL {
            assert!(!may_hold(Role::Admin, kind));
            assert!(may_hold(Role::Leitung, kind));
        }
        assert!(may_hold(Role::Sachbearbeitung, KeyKind::Fall));
        assert!(!may_hold(Role::Sachbearbeitung, KeyKind::Scan));
        assert!(may_hold(Role::Scanstelle, KeyKind::Scan));
        assert!(!may_hold(Role::Scanstelle, KeyKind::Fall));
        assert!(may_grant(Role::Leitung) && !may_grant(Role::Admin));
    }

    #[test]
    fn grants_go_to_those_who_may_hold_and_have_a_key() {
        let h = |role, recipient: Option<&str>| Holder {
            role,
            active: true,
            recipient: recipient.map(String::from),
        };
        let users: BTreeMap<String, Holder> = [
            ("anna".to_string(), h(Role::Sachbearbeitung, Some("age1a"))),
            ("sam".to_string(), h(Role::Scanstelle, Some("age1s"))),
            ("root".to_string(), h(Role::Admin, Some("age1r"))),
            ("neu".to_string(), h(Role::Sachbearbeitung, None)),
        ]
        .into();
        let granted: BTreeSet<_> = [(KeyKind::Scan, "sam".to_string())].into();
        assert_eq!(
            grants_due(&users, &granted),
            vec![(KeyKind::Fall, "anna".to_string())]
        );
    }

    #[test]
    fn a_grant_opens_content_only_for_its_holder() {
        let (fall, fall_recipient) = generate();
        let (anna, anna_recipient) = generate();
        let (sam, _) = generate();
        let content = seal(b"Erika Mustermann", &[&fall_recipient]).unwrap();
        let grant = wrap_for(&fall, &anna_recipient).unwrap();
        let opened = unwrap_grant(&grant, &anna).unwrap();
        assert_eq!(open(&content, &opened).unwrap(), b"Erika Mustermann");
        assert!(unwrap_grant(&grant, &sam).is_err());
        assert!(open(&content, &sam).is_err());
        let pw = SecretString::from("lang-genug-2026".to_string());
        let wrapped = wrap_with_password(&anna, &pw, 10).unwrap();
        let back = unwrap_with_password(&wrapped, &pw).unwrap();
        assert_eq!(back.expose_secret(), anna.expose_secret());
        assert!(unwrap_with_password(&wrapped, &SecretString::from("falsch".to_string())).is_err());
        assert!(check_recipient("kein-schluessel").is_err());
    }
}
