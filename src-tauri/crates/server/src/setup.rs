//! The server's directory: `server.toml` (database, address, town), the office
//! CA and the server's certificate with their keys (owner-only files).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, ServerError};
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
}

pub struct ServerDir {
    pub path: PathBuf,
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
