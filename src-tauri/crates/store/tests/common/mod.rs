//! A store on a temp dir for the store's own tests: administrator `admin` with the
//! password `admin-passwort-1`, a fast key derivation.

use domain::UserName;
use store::{Clock, InitOptions, SecretString, Session, Store, StoreConfig};

pub type BoxError = Box<dyn std::error::Error>;

pub const PASSWORD: &str = "admin-passwort-1";

/// Provision a new store in `dir`, logged in as `admin`.
#[allow(dead_code)] // not every test file starts from here
pub fn init(dir: &std::path::Path) -> Result<Session, BoxError> {
    let (s, _) = Store::init(
        dir,
        InitOptions {
            admin: UserName::parse("admin")?,
            admin_display_name: "A".into(),
            admin_password: SecretString::from(PASSWORD.to_owned()),
            config: StoreConfig {
                scrypt_log_n: 10,
                ..StoreConfig::default()
            },
        },
        Clock::system(),
    )?;
    Ok(s)
}

/// Open the store in `dir` again and log in as `admin`.
#[allow(dead_code)] // not every test file reopens
pub fn reopen(dir: &std::path::Path) -> Result<Session, BoxError> {
    Ok(Store::open(dir, Clock::system())?.unlock(
        &UserName::parse("admin")?,
        &SecretString::from(PASSWORD.to_owned()),
    )?)
}
