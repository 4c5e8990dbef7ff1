//! Key management.
//!
//! One random 256-bit master key opens the SQLCipher database. It is stored only
//! wrapped: once per local user with an age passphrase (scrypt) file, and once to an
//! X25519 recovery recipient whose identity is shown a single time at provisioning.
//! Changing a password, adding or removing a user and recovering rewrap this small
//! key file only; no data is re-encrypted.

use std::io::{Read, Write};
use std::iter;

use age::secrecy::{ExposeSecret, SecretString};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Result, StoreError};

pub(crate) const MASTER_KEY_LEN: usize = 32;

/// The database master key. Zeroed on drop.
pub(crate) struct MasterKey(Zeroizing<[u8; MASTER_KEY_LEN]>);

impl MasterKey {
    pub(crate) fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        rand::fill(&mut key[..]);
        MasterKey(key)
    }

    /// A second copy (a backup writes with it after the session moved on).
    pub(crate) fn duplicate(&self) -> Self {
        MasterKey(Zeroizing::new(*self.0))
    }

    /// A key derived from another secret for one purpose (SHA-256 over the
    /// purpose's label and the secret).
    pub(crate) fn derived(label: &str, secret: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(label.as_bytes());
        h.update([0u8]);
        h.update(secret);
        let mut key = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        key.copy_from_slice(&h.finalize());
        MasterKey(key)
    }

    /// The key's bytes, for deriving keys of other purposes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0[..]
    }

    /// SQLCipher raw-key literal: `x'<64 hex>'`.
    pub(crate) fn sqlcipher_literal(&self) -> Zeroizing<String> {
        let mut hex = hex::encode(&self.0[..]);
        let lit = Zeroizing::new(format!("x'{hex}'"));
        hex.zeroize();
        lit
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != MASTER_KEY_LEN {
            return Err(StoreError::Corrupt(
                "Schlüsseldatei hat falsche Länge".into(),
            ));
        }
        let mut key = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        key.copy_from_slice(bytes);
        Ok(MasterKey(key))
    }

    fn encrypt_to(&self, recipient: &dyn age::Recipient) -> Result<Vec<u8>> {
        encrypt_secret(&self.0[..], recipient)
    }

    /// Wrap with a user's password (age scrypt recipient, work factor 2^log_n).
    pub(crate) fn wrap_with_password(&self, password: &SecretString, log_n: u8) -> Result<Vec<u8>> {
        let mut recipient = age::scrypt::Recipient::new(password.clone());
        recipient.set_work_factor(log_n);
        self.encrypt_to(&recipient)
    }

    /// Wrap to the X25519 recovery recipient.
    pub(crate) fn wrap_to_recovery(&self, recipient: &age::x25519::Recipient) -> Result<Vec<u8>> {
        self.encrypt_to(recipient)
    }
}

/// Outcome of trying to unwrap a key file.
pub(crate) enum Unwrap<T = MasterKey> {
    Ok(T),
    /// The secret did not fit (wrong password or wrong recovery identity).
    WrongSecret,
}

/// What a user's password opens: the master key, and the user's own X25519
/// identity (the key the case key is given to, see `keyring.rs`). Files written
/// before the key ring hold the master key alone; the identity is made at the
/// user's next login.
pub(crate) struct UserKeys {
    pub master: MasterKey,
    pub identity: Option<age::x25519::Identity>,
}

fn decrypt_with(
    wrapped: &[u8],
    identity: &dyn age::Identity,
) -> Result<Unwrap<Zeroizing<Vec<u8>>>> {
    let decryptor = age::Decryptor::new(wrapped)
        .map_err(|e| StoreError::Corrupt(format!("Schlüsseldatei unlesbar: {e}")))?;
    let mut reader = match decryptor.decrypt(iter::once(identity)) {
        Ok(r) => r,
        Err(age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed) => {
            return Ok(Unwrap::WrongSecret);
        }
        Err(e) => {
            return Err(StoreError::Corrupt(format!("Schlüsseldatei unlesbar: {e}")));
        }
    };
    let mut buf = Zeroizing::new(Vec::with_capacity(MASTER_KEY_LEN));
    reader
        .read_to_end(&mut buf)
        .map_err(|e| StoreError::Corrupt(format!("Schlüsseldatei unlesbar: {e}")))?;
    Ok(Unwrap::Ok(buf))
}

/// Encrypt a small secret (a key) to one recipient.
pub(crate) fn encrypt_secret(secret: &[u8], recipient: &dyn age::Recipient) -> Result<Vec<u8>> {
    let encryptor = age::Encryptor::with_recipients(iter::once(recipient))
        .map_err(|e| StoreError::Crypto(e.to_string()))?;
    let mut out = Vec::new();
    let mut w = encryptor
        .wrap_output(&mut out)
        .map_err(|e| StoreError::Crypto(e.to_string()))?;
    w.write_all(secret)
        .and_then(|_| w.finish().map(|_| ()))
        .map_err(|e| StoreError::Crypto(e.to_string()))?;
    Ok(out)
}

/// Open a small secret encrypted with [`encrypt_secret`].
pub(crate) fn decrypt_secret(
    wrapped: &[u8],
    with: &age::x25519::Identity,
) -> Result<Zeroizing<Vec<u8>>> {
    match decrypt_with(wrapped, with)? {
        Unwrap::Ok(b) => Ok(b),
        Unwrap::WrongSecret => Err(StoreError::Corrupt(
            "Verschlüsselt für einen anderen Schlüssel".into(),
        )),
    }
}

/// Wrap a user's keys with the user's password (age scrypt, work factor 2^log_n):
/// the master key, then the identity's `AGE-SECRET-KEY-1…` text.
pub(crate) fn wrap_user(
    master: &MasterKey,
    identity: &age::x25519::Identity,
    password: &SecretString,
    log_n: u8,
) -> Result<Vec<u8>> {
    let mut payload = Zeroizing::new(Vec::with_capacity(MASTER_KEY_LEN + 80));
    payload.extend_from_slice(master.bytes());
    payload.extend_from_slice(identity.to_string().expose_secret().as_bytes());
    let mut recipient = age::scrypt::Recipient::new(password.clone());
    recipient.set_work_factor(log_n);
    encrypt_secret(&payload, &recipient)
}

#[cfg(test)]
thread_local! {
    /// Password unwraps tried on this thread (tests: an unknown user costs one too).
    pub(crate) static PASSWORD_UNWRAPS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

pub(crate) fn unwrap_with_password(
    wrapped: &[u8],
    password: &SecretString,
    max_log_n: u8,
) -> Result<Unwrap<UserKeys>> {
    #[cfg(test)]
    PASSWORD_UNWRAPS.with(|n| n.set(n.get() + 1));
    let mut identity = age::scrypt::Identity::new(password.clone());
    identity.set_max_work_factor(max_log_n);
    let buf = match decrypt_with(wrapped, &identity)? {
        Unwrap::Ok(b) => b,
        Unwrap::WrongSecret => return Ok(Unwrap::WrongSecret),
    };
    if buf.len() < MASTER_KEY_LEN {
        return Err(StoreError::Corrupt(
            "Schlüsseldatei hat falsche Länge".into(),
        ));
    }
    let master = MasterKey::from_bytes(&buf[..MASTER_KEY_LEN])?;
    let identity = if buf.len() == MASTER_KEY_LEN {
        None
    } else {
        let text = std::str::from_utf8(&buf[MASTER_KEY_LEN..])
            .map_err(|_| StoreError::Corrupt("Benutzerschlüssel unlesbar".into()))?;
        Some(
            text.parse::<age::x25519::Identity>()
                .map_err(|_| StoreError::Corrupt("Benutzerschlüssel unlesbar".into()))?,
        )
    };
    Ok(Unwrap::Ok(UserKeys { master, identity }))
}

pub(crate) fn unwrap_with_recovery(
    wrapped: &[u8],
    identity: &age::x25519::Identity,
) -> Result<Unwrap> {
    match decrypt_with(wrapped, identity)? {
        Unwrap::Ok(b) => Ok(Unwrap::Ok(MasterKey::from_bytes(&b)?)),
        Unwrap::WrongSecret => Ok(Unwrap::WrongSecret),
    }
}

/// Open a key file holding an X25519 identity (a grant of the case key) with
/// another identity (the user's own, or the recovery identity).
pub(crate) fn unwrap_identity(
    wrapped: &[u8],
    with: &age::x25519::Identity,
) -> Result<Unwrap<age::x25519::Identity>> {
    match decrypt_with(wrapped, with)? {
        Unwrap::Ok(b) => {
            let text = std::str::from_utf8(&b)
                .map_err(|_| StoreError::Corrupt("Schlüsselfreigabe unlesbar".into()))?;
            Ok(Unwrap::Ok(text.parse::<age::x25519::Identity>().map_err(
                |_| StoreError::Corrupt("Schlüsselfreigabe unlesbar".into()),
            )?))
        }
        Unwrap::WrongSecret => Ok(Unwrap::WrongSecret),
    }
}

/// A freshly generated recovery identity. Its secret text is shown once and never stored.
pub struct RecoveryKey {
    identity: age::x25519::Identity,
}

impl RecoveryKey {
    pub(crate) fn generate() -> Self {
        RecoveryKey {
            identity: age::x25519::Identity::generate(),
        }
    }

    pub(crate) fn recipient(&self) -> age::x25519::Recipient {
        self.identity.to_public()
    }

    /// The secret `AGE-SECRET-KEY-1…` text for the recovery sheet.
    pub fn secret_text(&self) -> SecretString {
        self.identity.to_string()
    }

    /// Parse a recovery identity typed in by the administrator: spaces and line
    /// breaks (the printed sheet groups the key) and lower case do not matter.
    pub fn parse(text: &str) -> Result<age::x25519::Identity> {
        let plain: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        plain
            .parse::<age::x25519::Identity>()
            .map_err(|_| StoreError::InvalidRecoveryKey)
    }
}

/// Generate the vault's X25519 identity (stored only inside the encrypted database).
pub(crate) fn generate_vault_identity() -> SecretString {
    age::x25519::Identity::generate().to_string()
}

pub(crate) fn parse_vault_identity(text: &SecretString) -> Result<age::x25519::Identity> {
    text.expose_secret()
        .parse::<age::x25519::Identity>()
        .map_err(|_| StoreError::Corrupt("Tresorschlüssel unlesbar".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn password_wrap_round_trips_and_rejects_wrong_password() -> Result<()> {
        let key = MasterKey::generate();
        let wrapped = key.wrap_with_password(&pw("richtig-horse"), 10)?;
        match unwrap_with_password(&wrapped, &pw("richtig-horse"), 12)? {
            Unwrap::Ok(k) => {
                assert_eq!(&k.master.0[..], &key.0[..]);
                assert!(k.identity.is_none(), "a file from before the key ring");
            }
            Unwrap::WrongSecret => panic!("correct password refused"),
        }
        assert!(matches!(
            unwrap_with_password(&wrapped, &pw("falsch"), 12)?,
            Unwrap::WrongSecret
        ));
        Ok(())
    }

    #[test]
    fn recovery_wrap_round_trips_and_rejects_other_identity() -> Result<()> {
        let key = MasterKey::generate();
        let rk = RecoveryKey::generate();
        let wrapped = key.wrap_to_recovery(&rk.recipient())?;
        let parsed = RecoveryKey::parse(rk.secret_text().expose_secret())?;
        assert!(matches!(
            unwrap_with_recovery(&wrapped, &parsed)?,
            Unwrap::Ok(_)
        ));
        // As copied from the printed sheet: grouped, over lines, in lower case.
        let text = rk.secret_text().expose_secret().to_string();
        let (prefix, rest) = text.split_at(16);
        let grouped: Vec<String> = rest
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).to_lowercase())
            .collect();
        let typed = format!("{prefix}\n{}\n", grouped.join(" "));
        let again = RecoveryKey::parse(&typed)?;
        assert!(matches!(
            unwrap_with_recovery(&wrapped, &again)?,
            Unwrap::Ok(_)
        ));
        let other = RecoveryKey::generate();
        let other = RecoveryKey::parse(other.secret_text().expose_secret())?;
        assert!(matches!(
            unwrap_with_recovery(&wrapped, &other)?,
            Unwrap::WrongSecret
        ));
        Ok(())
    }

    #[test]
    fn garbage_key_file_is_a_clear_error() {
        let r = unwrap_with_password(b"not an age file", &pw("x"), 12);
        assert!(matches!(r, Err(StoreError::Corrupt(_))));
        assert!(matches!(
            RecoveryKey::parse("AGE-SECRET-KEY-1XYZ"),
            Err(StoreError::InvalidRecoveryKey)
        ));
    }

    #[test]
    fn sqlcipher_literal_is_raw_hex_key() {
        let key = MasterKey::generate();
        let lit = key.sqlcipher_literal();
        assert!(lit.starts_with("x'") && lit.ends_with('\''));
        assert_eq!(lit.len(), 2 + 64 + 1);
    }
}
