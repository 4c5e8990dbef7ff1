//! Backup and restore of a workstation (standalone store): settings, the schedule's
//! question "is one due?", and a backup in three steps so that the window never
//! waits for it – [`Workstation::prepare_backup`] (a moment under the lock),
//! [`PreparedBackup::run`] (the archive, without the lock) and
//! [`Workstation::finish_backup`] (record the result, a moment under the lock).
//! Restore onto a new PC is [`restore`]; it needs no session, only the recovery key.

use std::path::{Path, PathBuf};

use domain::Permission;
use serde::{Deserialize, Serialize};
use store::{BackupRequest, BackupSource, BackupWritten, SecretString};
use ts_rs::TS;

use crate::{AppError, Workstation};

/// Setting: where and how often (JSON of [`BackupSettings`]).
const SETTINGS: &str = "sicherung";

/// The administration's backup settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BackupSettings {
    /// Folder of the archives (USB stick, network share), absolute.
    pub folder: String,
    /// Archives kept (the newest), 1 to 365.
    pub keep: u32,
    /// Hours between scheduled backups (24: daily), 1 to 168.
    pub interval_hours: u32,
    /// Warn when the last good backup is older than this many days, 1 to 60.
    pub warn_after_days: u32,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            folder: String::new(),
            keep: 14,
            interval_hours: 24,
            warn_after_days: 3,
        }
    }
}

/// Where backups stand (no personal data; every logged-in role sees it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BackupStatus {
    /// Settings, if a folder is configured.
    pub settings: Option<BackupSettings>,
    /// The recovery recipient is known (else "sicherung einrichten" first).
    pub key_ready: bool,
    /// Time of the last good backup (RFC 3339).
    pub last_good: Option<String>,
    pub last_file: Option<String>,
    #[ts(type = "number | null")]
    pub last_bytes: Option<u64>,
    /// The last attempt failed: why (German).
    pub last_error: Option<String>,
    /// A scheduled backup is due now.
    pub due: bool,
    /// A warning for the status bar: no backup, or the last good one too old.
    pub warning: Option<String>,
}

/// A backup taken from the session, to be written without the workstation lock.
pub struct PreparedBackup {
    source: BackupSource,
    request: BackupRequest,
}

/// The configuration files of a data directory that go with a backup.
fn configuration_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let lower = name.to_ascii_lowercase();
            let wanted = !name.starts_with('.')
                && name != "store.json"
                && [".toml", ".png", ".jpg", ".jpeg", ".svg"]
                    .iter()
                    .any(|ext| lower.ends_with(ext));
            wanted.then(|| (name, e.path()))
        })
        .collect();
    out.sort();
    out
}

impl PreparedBackup {
    /// Write and read back the archive (seconds to minutes; no lock held).
    /// `progress` gets (bytes done, bytes in all).
    pub fn run(self, progress: &mut dyn FnMut(u64, u64)) -> Result<BackupWritten, AppError> {
        Ok(self
            .source
            .write(&self.request, &mut |p| progress(p.done, p.total))?)
    }

    pub fn target(&self) -> &Path {
        &self.request.target
    }
}

fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    s.parse().ok()
}

impl Workstation {
    /// The backup settings, if configured.
    fn stored_backup_settings(&self) -> Result<Option<BackupSettings>, AppError> {
        let session = self.session.as_ref().ok_or_else(AppError::locked)?;
        match session.setting(SETTINGS)? {
            None => Ok(None),
            Some(json) => serde_json::from_str(&json).map(Some).map_err(|_| {
                AppError::invalid("Die Sicherungseinstellungen sind unlesbar; bitte neu speichern.")
            }),
        }
    }

    /// Set folder, rotation, schedule and warning age (administration).
    pub fn set_backup_settings(&mut self, settings: BackupSettings) -> Result<(), AppError> {
        let folder = Path::new(settings.folder.trim());
        if !folder.is_absolute() {
            return Err(AppError::invalid(
                "Der Sicherungsordner muss als vollständiger Pfad angegeben werden (z. B. /media/usb/sicherung).",
            ));
        }
        if folder.starts_with(self.data_dir()) {
            return Err(AppError::invalid(
                "Der Sicherungsordner darf nicht im Datenverzeichnis liegen: eine Sicherung gehört auf einen anderen Datenträger.",
            ));
        }
        if !(1..=365).contains(&settings.keep) {
            return Err(AppError::invalid(
                "Es werden 1 bis 365 Sicherungen aufbewahrt.",
            ));
        }
        if !(1..=168).contains(&settings.interval_hours) {
            return Err(AppError::invalid(
                "Der Abstand der Sicherungen liegt zwischen 1 Stunde und 7 Tagen (168 Stunden).",
            ));
        }
        if !(1..=60).contains(&settings.warn_after_days) {
            return Err(AppError::invalid(
                "Die Warnung kommt nach 1 bis 60 Tagen ohne Sicherung.",
            ));
        }
        let settings = BackupSettings {
            folder: folder.display().to_string(),
            ..settings
        };
        let json =
            serde_json::to_string(&settings).map_err(|e| AppError::invalid(e.to_string()))?;
        self.session_with_mut(Permission::ConfigurePortal)?
            .set_setting(SETTINGS, &json)?;
        Ok(())
    }

    /// Learn the recovery recipient from the recovery sheet (stores set up before
    /// backups existed; administration).
    pub fn setup_backup_key(&mut self, recovery_key: SecretString) -> Result<(), AppError> {
        use store::ExposeSecret;
        self.session_with_mut(Permission::ConfigurePortal)?
            .set_recovery_recipient(recovery_key.expose_secret())?;
        Ok(())
    }

    /// Where backups stand, for the status bar and the administration.
    pub fn backup_status(&self) -> Result<BackupStatus, AppError> {
        self.backup_status_at(jiff::Timestamp::now())
    }

    pub(crate) fn backup_status_at(&self, now: jiff::Timestamp) -> Result<BackupStatus, AppError> {
        if self.screen_locked {
            return Err(Self::screen_lock_error());
        }
        self.backup_state(now)
    }

    /// Is a scheduled backup due? Also behind a locked screen (the session is open).
    pub fn backup_due(&self) -> bool {
        self.session.is_some()
            && self
                .backup_state(jiff::Timestamp::now())
                .is_ok_and(|s| s.due)
    }

    fn backup_state(&self, now: jiff::Timestamp) -> Result<BackupStatus, AppError> {
        let session = self.session.as_ref().ok_or_else(AppError::locked)?;
        let settings = self.stored_backup_settings()?;
        let key_ready = session.has_recovery_recipient()?;
        let value = |name: &str| -> Result<Option<serde_json::Value>, AppError> {
            Ok(session
                .setting(name)?
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok()))
        };
        let good = value(store::BACKUP_STATE)?;
        let failed = value(store::BACKUP_FAILURE)?;
        let text = |v: &Option<serde_json::Value>, k: &str| {
            v.as_ref()
                .and_then(|v| v.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let last_good = text(&good, "at");
        let age_hours = last_good
            .as_deref()
            .and_then(parse_time)
            .map(|t| now.duration_since(t).as_hours());
        // A desk of a Rathaus-Server is a replica: the record is backed up there.
        let desk = session.setting(crate::office::SETTING)?.is_some();
        let due = !desk
            && settings.as_ref().is_some_and(|s| {
                key_ready && age_hours.is_none_or(|h| h >= i64::from(s.interval_hours))
            });
        let warning = match (&settings, age_hours) {
            _ if desk => None,
            (None, _) => Some(
                "Es ist keine Datensicherung eingerichtet: Ein Defekt dieses PCs kostet alle Vorgänge. Die Administration richtet sie unter „Verwaltung“ ein."
                    .to_owned(),
            ),
            (Some(_), _) if !key_ready => Some(
                "Die Datensicherung braucht einmal den Wiederherstellungsschlüssel (Verwaltung, „Sicherung einrichten“)."
                    .to_owned(),
            ),
            (Some(_), None) => Some("Es gibt noch keine Datensicherung.".to_owned()),
            (Some(s), Some(h)) if h >= i64::from(s.warn_after_days) * 24 => Some(format!(
                "Die letzte gelungene Datensicherung ist {} Tage alt.",
                h / 24
            )),
            _ => None,
        };
        Ok(BackupStatus {
            settings,
            key_ready,
            last_good,
            last_file: text(&good, "file"),
            last_bytes: good
                .as_ref()
                .and_then(|v| v.get("bytes"))
                .and_then(|v| v.as_u64()),
            last_error: text(&failed, "message"),
            due,
            warning,
        })
    }

    /// Take a backup from the session: by the administration now (`target`
    /// overrides the folder), or by the schedule for whoever is logged in.
    pub fn prepare_backup(
        &mut self,
        manual: bool,
        target: Option<PathBuf>,
    ) -> Result<PreparedBackup, AppError> {
        // The schedule goes on behind a locked screen (the session stays open).
        if manual {
            self.allowed(Permission::ConfigurePortal)?;
        }
        let settings = self.stored_backup_settings()?;
        let target = match (target, &settings) {
            (Some(t), _) => t,
            (None, Some(s)) => PathBuf::from(&s.folder),
            (None, None) => {
                return Err(AppError::invalid(
                    "Es ist kein Sicherungsordner eingerichtet (Verwaltung oder „amtsstube sicherung ordner PFAD“).",
                ));
            }
        };
        if !target.is_absolute() {
            return Err(AppError::invalid(
                "Der Sicherungsordner muss ein vollständiger Pfad sein.",
            ));
        }
        let keep = settings.map_or(BackupSettings::default().keep, |s| s.keep) as usize;
        let extra = configuration_files(self.data_dir());
        let session = self.session.as_mut().ok_or_else(AppError::locked)?;
        let source = session.backup_source()?;
        Ok(PreparedBackup {
            source,
            request: BackupRequest {
                target,
                keep,
                extra,
            },
        })
    }

    /// Record how a backup ended (state and audit entry).
    pub fn finish_backup(
        &mut self,
        result: Result<BackupWritten, AppError>,
    ) -> Result<BackupWritten, AppError> {
        let session = self.session.as_mut().ok_or_else(AppError::locked)?;
        match result {
            Ok(written) => {
                session.record_backup(&written)?;
                Ok(written)
            }
            Err(e) => {
                if let Err(r) = session.record_backup_failure(&e.message) {
                    tracing::warn!("Fehlschlag der Sicherung nicht vermerkt: {r}");
                }
                Err(e)
            }
        }
    }
}

/// A backup done, for the screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BackupDone {
    pub file: String,
    #[ts(type = "number")]
    pub bytes: u64,
    /// None: saved without the case key (its case rows were copied, not counted).
    #[ts(type = "number | null")]
    pub cases: Option<u64>,
    #[ts(type = "number")]
    pub documents: u64,
    /// Older archives removed by the rotation.
    pub removed: u32,
}

impl From<&BackupWritten> for BackupDone {
    fn from(w: &BackupWritten) -> Self {
        BackupDone {
            file: w.path.display().to_string(),
            bytes: w.bytes,
            cases: w.manifest.cases_counted.then_some(w.manifest.cases),
            documents: w.manifest.documents,
            removed: u32::try_from(w.removed.len()).unwrap_or(u32::MAX),
        }
    }
}

pub(crate) fn lost_lock() -> AppError {
    AppError::new(
        crate::ErrorCode::Storage,
        "Interner Fehler: Sperre verloren. Bitte starten Sie die Anwendung neu.",
    )
}

/// A backup of the shared workstation, the lock held only to take and to record
/// it: by the administration now (`manual`), or by the schedule when one is due
/// (`Ok(None)`: nothing due, nobody logged in).
pub fn backup_shared(
    shared: &crate::background::Shared,
    manual: bool,
) -> Result<Option<BackupDone>, AppError> {
    let stamp = {
        let mut guard = shared.lock().map_err(|_| lost_lock())?;
        let Some(ws) = guard.as_mut() else {
            return Ok(None);
        };
        if !manual && !ws.backup_due() {
            return Ok(None);
        }
        ws.prepare_stamp().unwrap_or_else(|e| {
            tracing::warn!("Zeitstempel nicht vorbereitet: {}", e.message);
            None
        })
    };
    // With every backup the chain's head is time-stamped, if a service is set up;
    // the exchange runs without the lock, and a failure does not stop the backup.
    if let Some(job) = stamp {
        let response = job.fetch();
        let mut guard = shared.lock().map_err(|_| lost_lock())?;
        if let Some(ws) = guard.as_mut()
            && ws.session.is_some()
            && let Err(e) = ws.finish_stamp(job, response)
        {
            tracing::warn!("Kein Zeitstempel zur Sicherung: {}", e.message);
        }
    }
    let prepared = {
        let mut guard = shared.lock().map_err(|_| lost_lock())?;
        let Some(ws) = guard.as_mut() else {
            return Ok(None);
        };
        ws.prepare_backup(manual, None)?
    };
    let result = prepared.run(&mut |_, _| {});
    let mut guard = shared.lock().map_err(|_| lost_lock())?;
    match guard.as_mut() {
        Some(ws) if ws.session.is_some() => {
            ws.finish_backup(result).map(|w| Some(BackupDone::from(&w)))
        }
        // Logged out meanwhile: the archive stands, but nothing records it (the
        // store is locked), so the next login finds a backup due and writes another.
        _ => result.map(|w| Some(BackupDone::from(&w))),
    }
}

/// What a restore brought back, for the administration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RestoreSummary {
    pub created_at: String,
    /// None: saved without the case key (its case rows were copied, not counted).
    #[ts(type = "number | null")]
    pub cases: Option<u64>,
    #[ts(type = "number")]
    pub documents: u64,
    pub audit_intact: bool,
    pub configuration: Vec<String>,
}

/// Restore `archive` into the empty or new data directory `dir` with the recovery
/// key; the users keep their passwords.
pub fn restore(
    archive: &Path,
    recovery_key: &SecretString,
    dir: &Path,
) -> Result<RestoreSummary, AppError> {
    use store::ExposeSecret;
    let restored = store::Store::restore(
        archive,
        recovery_key.expose_secret(),
        dir,
        store::Clock::system(),
    )?;
    Ok(RestoreSummary {
        created_at: restored.manifest.created_at,
        cases: restored
            .manifest
            .cases_counted
            .then_some(restored.manifest.cases),
        documents: restored.manifest.documents,
        audit_intact: restored.audit_intact,
        configuration: restored.configuration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn fresh(dir: &Path) -> Result<Workstation, Box<dyn std::error::Error>> {
        let (ws, _) = Workstation::init(
            dir,
            crate::InitOptions {
                admin: domain::UserName::parse("admin")?,
                admin_display_name: "Admin".into(),
                admin_password: "admin-passwort-1".to_owned().into(),
                config: crate::StoreConfig {
                    scrypt_log_n: 10,
                    ..crate::StoreConfig::default()
                },
            },
        )?;
        Ok(ws)
    }

    #[test]
    fn the_schedule_says_when_a_backup_is_due_and_warns_when_the_last_is_old() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let mut ws = fresh(&tmp.path().join("daten"))?;
        let status = ws.backup_status()?;
        assert!(status.key_ready && !status.due);
        assert!(
            status
                .warning
                .as_deref()
                .is_some_and(|w| w.contains("keine Datensicherung eingerichtet"))
        );
        let folder = tmp.path().join("usb");
        let settings = BackupSettings {
            folder: folder.display().to_string(),
            keep: 2,
            interval_hours: 24,
            warn_after_days: 3,
        };
        // Refused: a relative folder, one inside the data directory, no archives kept.
        for bad in [
            BackupSettings {
                folder: "usb".into(),
                ..settings.clone()
            },
            BackupSettings {
                folder: tmp.path().join("daten/x").display().to_string(),
                ..settings.clone()
            },
            BackupSettings {
                keep: 0,
                ..settings.clone()
            },
            BackupSettings {
                interval_hours: 0,
                ..settings.clone()
            },
        ] {
            let err = ws
                .set_backup_settings(bad.clone())
                .err()
                .ok_or("accepted")?;
            assert_eq!(err.code, crate::ErrorCode::InvalidInput, "{bad:?}");
        }
        ws.set_backup_settings(settings.clone())?;
        let status = ws.backup_status()?;
        assert!(
            status.due && status.warning.as_deref() == Some("Es gibt noch keine Datensicherung.")
        );
        assert!(ws.backup_due());

        // The schedule's pass writes one, then nothing is due for a day.
        let shared: crate::background::Shared = Arc::new(Mutex::new(Some(ws)));
        let done = backup_shared(&shared, false)?.ok_or("no backup although due")?;
        assert!(done.file.ends_with(store::ARCHIVE_SUFFIX) && done.bytes > 0);
        assert_eq!(backup_shared(&shared, false)?, None);
        let ws = shared.lock().map_err(|_| "lock")?.take().ok_or("gone")?;
        let status = ws.backup_status()?;
        assert_eq!((status.due, status.warning.clone()), (false, None));
        assert_eq!(status.last_file.as_deref(), Some(done.file.as_str()));
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(4 * 24 + 1);
        let status = ws.backup_status_at(later)?;
        assert!(status.due);
        assert_eq!(
            status.warning.as_deref(),
            Some("Die letzte gelungene Datensicherung ist 4 Tage alt.")
        );

        // A failure is kept with its reason until the next good backup.
        let mut ws = ws;
        let prepared = ws.prepare_backup(
            true,
            Some(PathBuf::from("/proc/amtsstube-nicht-schreibbar")),
        )?;
        let failed = ws.finish_backup(prepared.run(&mut |_, _| {}));
        assert!(failed.is_err());
        assert!(ws.backup_status()?.last_error.is_some());
        let prepared = ws.prepare_backup(true, None)?;
        ws.finish_backup(prepared.run(&mut |_, _| {}))?;
        assert_eq!(ws.backup_status()?.last_error, None);
        Ok(())
    }

    #[test]
    fn only_the_administration_backs_up_by_hand() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let mut ws = fresh(&tmp.path().join("daten"))?;
        ws.add_user(
            "sb1",
            "sb1",
            domain::Role::Sachbearbeitung,
            "sb1-passwort-1".into(),
        )?;
        ws.set_backup_settings(BackupSettings {
            folder: tmp.path().join("usb").display().to_string(),
            ..BackupSettings::default()
        })?;
        ws.logout();
        ws.login(crate::LoginRequest {
            username: "sb1".into(),
            password: "sb1-passwort-1".into(),
        })?;
        let err = ws
            .prepare_backup(true, None)
            .err()
            .ok_or("a caseworker backed up by hand")?;
        assert_eq!(err.code, crate::ErrorCode::Forbidden);
        // The schedule runs for whoever is logged in.
        assert!(ws.backup_due());
        let prepared = ws.prepare_backup(false, None)?;
        ws.finish_backup(prepared.run(&mut |_, _| {}))?;
        assert!(!ws.backup_due());
        Ok(())
    }

    #[test]
    fn configuration_files_are_the_towns_files_and_nothing_else()
    -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        for name in [
            "gemeinde.toml",
            "stadt.PNG",
            "store.json",
            ".gemeinde.toml.tmp",
            "amtsstube.db",
            "notiz.txt",
        ] {
            std::fs::write(tmp.path().join(name), b"x")?;
        }
        std::fs::create_dir(tmp.path().join("vault"))?;
        let names: Vec<String> = configuration_files(tmp.path())
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, vec!["gemeinde.toml", "stadt.PNG"]);
        Ok(())
    }
}
