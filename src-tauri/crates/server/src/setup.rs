//! The server's directory: `server.toml` (database, address, town), the office
//! CA and the server's certificate with their keys (owner-only files).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, ServerError};

/// A secret shown once (a backup identity).
pub type SecretText = office::keyring::SecretString;
use crate::tls::{Issued, OfficeCa, write_private};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerConfig {
    /// Connection to PostgreSQL (`host=… dbname=… user=…`).
    pub datenbank: String,
    /// Where the API listens, e.g. `0.0.0.0:8443`.
    pub adresse: String,
    /// The town hall's name (in the CA's subject).
    pub name: String,
    /// Seconds between two pickups from the FIT-Connect destination (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abruf_sekunden: Option<u64>,
    /// The cash system's exchange folder (HKR) for the Annahmeanordnungen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kasse_ordner: Option<String>,
    /// age recipient of the backup key (its identity is on paper only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sicherung_empfaenger: Option<String>,
}

pub struct ServerDir {
    pub path: PathBuf,
}

/// The BundID bridge and the town's BPKI key pair as the server keeps them.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundIdSettings {
    /// Zustellpunkt-ID of FITKO's ZBP bridge.
    pub bridge: uuid::Uuid,
    pub key_pem: String,
    pub cert_pem: String,
    /// Trust level of the citizens' logins the town states (1–4).
    pub level: u8,
}

/// Everything `serve` needs.
pub struct Loaded {
    pub config: ServerConfig,
    pub ca: OfficeCa,
    pub server: Issued,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| ServerError::file(path, e))
}

impl ServerDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn exists(&self) -> bool {
        self.file("server.toml").exists()
    }

    /// Create the directory: configuration, a new office CA and the server's
    /// certificate for `names`. Refuses to overwrite an existing set-up.
    pub fn create(&self, config: &ServerConfig, names: &[String]) -> Result<OfficeCa> {
        if self.exists() {
            return Err(ServerError::Invalid(format!(
                "{} ist schon eingerichtet; eine zweite Einrichtung würde die Büro-CA ersetzen und alle Arbeitsplätze aussperren.",
                self.path.display()
            )));
        }
        std::fs::create_dir_all(&self.path).map_err(|e| ServerError::file(&self.path, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| ServerError::file(&self.path, e))?;
        }
        let ca = OfficeCa::create(&config.name)?;
        let server = ca.server_cert(names)?;
        write_private(&self.file("ca.pem"), &ca.cert_pem)?;
        write_private(&self.file("ca-key.pem"), ca.key_pem())?;
        write_private(&self.file("server.pem"), &server.cert_pem)?;
        write_private(&self.file("server-key.pem"), &server.key_pem)?;
        let toml = toml::to_string(config).map_err(|e| ServerError::Invalid(e.to_string()))?;
        write_private(&self.file("server.toml"), &toml)?;
        Ok(ca)
    }

    /// Keep the FIT-Connect destination's settings (checked first; owner-only file,
    /// they hold the destination's private keys).
    pub fn save_portal(&self, json: &str) -> Result<()> {
        crate::pickup::parse_settings(json)?;
        write_private(&self.file("portal.json"), json)
    }

    /// The destination's settings, if the server picks up.
    pub fn portal(&self) -> Result<Option<fitconnect::client::SubscriberSettings>> {
        let path = self.file("portal.json");
        if !path.exists() {
            return Ok(None);
        }
        crate::pickup::parse_settings(&read(&path)?).map(Some)
    }

    /// The server's delivery settings: its delivery key (made at the first call,
    /// owner-only), the routing of the destination's settings and the exchange
    /// folder.
    pub fn delivery(&self) -> Result<crate::delivery::DeliverySettings> {
        let path = self.file("zustellung.key");
        let identity: office::keyring::SecretString = if path.exists() {
            read(&path)?.trim().to_string().into()
        } else {
            let (identity, _) = office::keyring::generate();
            use office::keyring::ExposeSecret as _;
            write_private(&path, identity.expose_secret())?;
            identity
        };
        let recipient = office::keyring::recipient_of(&identity)
            .map_err(|r| ServerError::file(&path, r.reason))?;
        let portal = self.file("portal.json");
        let routing: crate::delivery::Routing = if portal.exists() {
            serde_json::from_str(&read(&portal)?)
                .map_err(|e| ServerError::file(&portal, format!("nicht lesbar: {e}")))?
        } else {
            Default::default()
        };
        let config = self.load_config()?;
        Ok(crate::delivery::DeliverySettings {
            identity,
            recipient,
            reply_destination: routing.reply_destination_id,
            payment_url: routing.payment_url,
            hkr_dir: config.kasse_ordner.map(PathBuf::from),
            mail: self.mail()?,
            bundid: self.bundid()?.and_then(|b| {
                // A key pair out of its validity sends nothing: shown by `status`.
                let author = fitconnect::zbp::Author::from_pem(
                    &b.key_pem,
                    &b.cert_pem,
                    jiff::Timestamp::now().as_second(),
                )
                .ok()?;
                Some(crate::delivery::BundIdRoute {
                    bridge: b.bridge,
                    sender: config.name.clone(),
                    level: b.level,
                    author,
                })
            }),
            bounce: self.bounce_box()?,
        })
    }

    /// The town's mailbox the relay's late bounces arrive in (owner-only
    /// `postfach.json`: it holds the mailbox's password), if set up.
    pub fn bounce_box(&self) -> Result<Option<sync::bounce::BounceBox>> {
        self.settings_file("postfach.json", sync::bounce::BounceBox::validate)
    }

    /// Keep the mailbox's settings (checked first; only beside a relay: its
    /// bounces are what is read).
    pub fn save_bounce_box(&self, b: &sync::bounce::BounceBox) -> Result<()> {
        if self.mail()?.is_none() {
            return Err(ServerError::Invalid(
                "Zuerst den Mailserver einrichten (amtsstube-server email einrichten …): das Postfach nimmt dessen Unzustellbarkeitsmeldungen auf.".into(),
            ));
        }
        b.validate()
            .map_err(|e| ServerError::Invalid(e.to_string()))?;
        self.save_settings_file("postfach.json", b)
    }

    /// Stop reading the mailbox.
    pub fn remove_bounce_box(&self) -> Result<bool> {
        self.remove_settings_file("postfach.json")
    }

    /// The BundID bridge and the town's BPKI key pair (owner-only `bundid.json`:
    /// it holds the private key), if set up.
    pub fn bundid(&self) -> Result<Option<BundIdSettings>> {
        self.settings_file(
            "bundid.json",
            |_: &BundIdSettings| Ok::<(), ServerError>(()),
        )
    }

    /// Keep the bridge and key pair, checked first: they belong together, the
    /// certificate names a signer and is valid now, the trust level is 1–4.
    pub fn save_bundid(&self, s: &BundIdSettings) -> Result<fitconnect::zbp::Author> {
        if !(1..=4).contains(&s.level) {
            return Err(ServerError::Invalid(format!(
                "Vertrauensniveau {} (erlaubt 1 bis 4).",
                s.level
            )));
        }
        let author = fitconnect::zbp::Author::from_pem(
            &s.key_pem,
            &s.cert_pem,
            jiff::Timestamp::now().as_second(),
        )
        .map_err(|e| ServerError::Invalid(e.to_string()))?;
        self.save_settings_file("bundid.json", s)?;
        Ok(author)
    }

    /// Forget the bridge: letters then go by post (or another way).
    pub fn remove_bundid(&self) -> Result<bool> {
        self.remove_settings_file("bundid.json")
    }

    /// The town's SMTP relay for answers by e-mail (owner-only `email.json`: it
    /// holds the relay's password), if set up.
    pub fn mail(&self) -> Result<Option<sync::mail::Relay>> {
        self.settings_file("email.json", sync::mail::Relay::validate)
    }

    /// Keep the relay's settings (checked first).
    pub fn save_mail(&self, relay: &sync::mail::Relay) -> Result<()> {
        relay
            .validate()
            .map_err(|e| ServerError::Invalid(e.to_string()))?;
        self.save_settings_file("email.json", relay)
    }

    /// Forget the relay: letters then go by post (or the portal).
    pub fn remove_mail(&self) -> Result<bool> {
        self.remove_settings_file("email.json")
    }

    /// An owner-only settings file of the server directory, read and checked with
    /// `check`, if it is there.
    fn settings_file<T: serde::de::DeserializeOwned, E: std::fmt::Display>(
        &self,
        name: &str,
        check: impl FnOnce(&T) -> std::result::Result<(), E>,
    ) -> Result<Option<T>> {
        let path = self.file(name);
        if !path.exists() {
            return Ok(None);
        }
        let value: T = serde_json::from_str(&read(&path)?)
            .map_err(|e| ServerError::file(&path, format!("nicht lesbar: {e}")))?;
        check(&value).map_err(|e| ServerError::file(&path, e.to_string()))?;
        Ok(Some(value))
    }

    /// Write a settings file owner-only.
    fn save_settings_file(&self, name: &str, value: &impl serde::Serialize) -> Result<()> {
        let json =
            serde_json::to_string_pretty(value).map_err(|e| ServerError::Invalid(e.to_string()))?;
        write_private(&self.file(name), &json)
    }

    /// Remove a settings file; false: it was not there.
    fn remove_settings_file(&self, name: &str) -> Result<bool> {
        let path = self.file(name);
        if !path.exists() {
            return Ok(false);
        }
        std::fs::remove_file(&path).map_err(|e| ServerError::file(&path, e))?;
        Ok(true)
    }

    /// Set the cash system's exchange folder (it must exist and take files).
    pub fn set_kasse(&self, folder: &Path) -> Result<()> {
        let probe = folder.join(".amtsstube-probe");
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| ServerError::file(folder, format!("kein beschreibbarer Ordner: {e}")))?;
        let mut config = self.load_config()?;
        config.kasse_ordner = Some(folder.display().to_string());
        let toml = toml::to_string(&config).map_err(|e| ServerError::Invalid(e.to_string()))?;
        write_private(&self.file("server.toml"), &toml)
    }

    /// A new backup key: its recipient into server.toml, its identity returned
    /// once (for the paper sheet). Older backups still need the older key.
    pub fn new_backup_key(&self) -> Result<SecretText> {
        let (identity, recipient) = crate::backup::new_backup_key();
        let mut config = self.load_config()?;
        config.sicherung_empfaenger = Some(recipient);
        let toml = toml::to_string(&config).map_err(|e| ServerError::Invalid(e.to_string()))?;
        write_private(&self.file("server.toml"), &toml)?;
        Ok(identity)
    }

    pub fn load_config(&self) -> Result<ServerConfig> {
        let path = self.file("server.toml");
        toml::from_str(&read(&path)?)
            .map_err(|e| ServerError::file(&path, format!("nicht lesbar: {}", e.message())))
    }

    pub fn load(&self) -> Result<Loaded> {
        let path = self.file("server.toml");
        let config: ServerConfig = toml::from_str(&read(&path)?)
            .map_err(|e| ServerError::file(&path, format!("nicht lesbar: {}", e.message())))?;
        Ok(Loaded {
            config,
            ca: OfficeCa::from_pem(read(&self.file("ca.pem"))?, read(&self.file("ca-key.pem"))?),
            server: Issued {
                cert_pem: read(&self.file("server.pem"))?,
                key_pem: read(&self.file("server-key.pem"))?,
            },
        })
    }
}
