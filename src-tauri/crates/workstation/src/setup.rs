//! The first run of the app on an empty data directory: the administration of
//! this PC chooses "Allein an diesem PC" or "An Rathaus-Server anschließen", sets
//! its account, and – for the server – enrols the PC with the one-time code. The
//! recovery key is returned once, to be shown and written down. Nothing is left
//! half set up: when the enrolment fails, the new data directory is removed again
//! and the form can be sent once more.

use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use domain::UserName;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::office::OfficeConnectRequest;
use crate::{AppError, ErrorCode, InitOptions, StoreConfig, Workstation};

/// How this PC works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum SetupMode {
    /// Its own encrypted store, no server.
    Allein,
    /// A desk of the town hall's Rathaus-Server.
    Buero,
}

/// The first-run form. Holds a password: never logged.
#[derive(Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SetupRequest {
    pub mode: SetupMode,
    /// The administration's login name on this PC.
    pub admin: String,
    pub display_name: String,
    pub password: String,
    /// For [`SetupMode::Buero`]: the server, the one-time code, the fingerprint.
    #[serde(default)]
    #[ts(optional)]
    pub office: Option<OfficeConnectRequest>,
}

impl std::fmt::Debug for SetupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupRequest")
            .field("mode", &self.mode)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

/// What the first run did. The recovery key is the only copy: show it once.
#[derive(Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SetupResult {
    pub recovery_key: String,
    /// The server's answer to the enrolment (office mode).
    pub office: Option<String>,
}

impl std::fmt::Debug for SetupResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupResult")
            .field("office", &self.office)
            .finish_non_exhaustive()
    }
}

/// Whether `dir` holds no data directory yet (the first run is due).
pub fn setup_due(dir: &Path) -> bool {
    !store::Store::exists(dir)
}

impl Workstation {
    /// Set this PC up (see the module documentation). Returns the workstation,
    /// logged out, and what to show once.
    pub fn first_run(
        dir: &Path,
        req: SetupRequest,
    ) -> Result<(Workstation, SetupResult), AppError> {
        if !setup_due(dir) {
            return Err(AppError::invalid(
                "Dieser PC ist bereits eingerichtet. Bitte melden Sie sich an.",
            ));
        }
        let admin = UserName::parse(req.admin.trim())
            .map_err(|e| AppError::invalid(format!("Benutzername der Administration: {e}")))?;
        let office = match (req.mode, req.office) {
            (SetupMode::Buero, Some(o)) => Some(o),
            (SetupMode::Buero, None) => {
                return Err(AppError::invalid(
                    "Für den Anschluss an den Rathaus-Server fehlen Adresse, Einmalcode und Fingerabdruck.",
                ));
            }
            (SetupMode::Allein, _) => None,
        };
        // Only what this call made is removed again on failure.
        let fresh = match std::fs::read_dir(dir) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => {
                return Err(AppError::new(
                    ErrorCode::Storage,
                    format!("Datenverzeichnis {} nicht lesbar: {e}", dir.display()),
                ));
            }
        };
        if !fresh {
            return Err(AppError::invalid(format!(
                "Das Datenverzeichnis {} ist nicht leer, enthält aber keinen Datenbestand. Bitte ein leeres Verzeichnis wählen.",
                dir.display()
            )));
        }
        let (mut ws, recovery) = Workstation::init(
            dir,
            InitOptions {
                admin,
                admin_display_name: req.display_name.trim().to_string(),
                admin_password: req.password.into(),
                config: StoreConfig::default(),
            },
        )?;
        let answer = match office {
            Some(o) => match ws.office_connect(o) {
                Ok(status) => Some(status.message),
                Err(e) => {
                    ws.logout();
                    drop(ws);
                    if let Err(rm) = std::fs::remove_dir_all(dir) {
                        tracing::warn!("Neues Datenverzeichnis nicht entfernt: {rm}");
                    }
                    return Err(e);
                }
            },
            None => None,
        };
        ws.logout();
        ws.fresh_recovery = Some(recovery.secret_text());
        Ok((
            ws,
            SetupResult {
                recovery_key: recovery.secret_text().expose_secret().to_string(),
                office: answer,
            },
        ))
    }

    /// Save the recovery sheet (PDF) in `dir` – a USB stick, or the export folder to
    /// print from. Only between the first run and the first login (or
    /// [`Workstation::forget_recovery_key`]): the key is held in memory for that time
    /// and nowhere else.
    pub fn save_recovery_sheet(&self, folder: &str) -> Result<PathBuf, AppError> {
        let dir = Path::new(folder.trim());
        if !dir.is_absolute() || folder.len() > 1024 || folder.contains('\0') {
            return Err(AppError::invalid(
                "Bitte den Ordner als vollständigen Pfad angeben (z. B. /media/usb).",
            ));
        }
        if dir.starts_with(self.data_dir()) {
            return Err(AppError::invalid(
                "Der Schlüssel gehört nicht in das Datenverzeichnis, das er schützt.",
            ));
        }
        let key = self.fresh_recovery.as_ref().ok_or_else(|| {
            AppError::invalid(
                "Der Wiederherstellungsschlüssel wird nur direkt nach der Einrichtung ausgegeben.",
            )
        })?;
        let now = jiff::Zoned::now();
        let place = format!("Datenbestand in {}", self.data_dir().display());
        let renderer = ::letters::Renderer::shared().map_err(crate::casework::print_error)?;
        let pdf = ::letters::report::recovery_sheet_pdf(
            renderer,
            key.expose_secret(),
            &place,
            &now.strftime("%d.%m.%Y, %H:%M Uhr").to_string(),
            now.timestamp().as_second(),
        )
        .map_err(crate::casework::print_error)?;
        crate::exports::save(dir, "wiederherstellungsschluessel.pdf", &pdf)
    }

    /// The first run on a new PC from a backup: `archive` (full path, e.g. on the
    /// USB stick) restored with the recovery key into the empty data directory `dir`
    /// (see [`crate::backup::restore`]); returns the workstation, logged out – every
    /// user logs in with the password they had.
    pub fn restore_first_run(
        dir: &Path,
        archive: &str,
        recovery_key: String,
    ) -> Result<(Workstation, crate::RestoreSummary), AppError> {
        if !setup_due(dir) {
            return Err(AppError::invalid(
                "Dieser PC ist bereits eingerichtet: eine Sicherung wird nur in ein leeres Datenverzeichnis zurückgespielt.",
            ));
        }
        let archive = Path::new(archive.trim());
        if !archive.is_absolute() || !archive.is_file() {
            return Err(AppError::invalid(format!(
                "Die Sicherungsdatei {} gibt es nicht (vollständigen Pfad angeben, z. B. /media/usb/amtsstube-….sicherung.age).",
                archive.display()
            )));
        }
        let summary =
            crate::backup::restore(archive, &store::SecretString::from(recovery_key), dir)?;
        Ok((Workstation::open(dir)?, summary))
    }

    /// The key was written down: it is dropped from memory; no sheet any more.
    pub fn forget_recovery_key(&mut self) {
        self.fresh_recovery = None;
    }
}
