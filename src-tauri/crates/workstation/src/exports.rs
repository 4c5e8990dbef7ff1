//! Files the user asks for (dashboard CSV and PDF, the release list, separator
//! sheets): made by the backend and saved into the export folder – the user's
//! downloads folder unless `AMTSSTUBE_EXPORT_DIR` names another. The web view's own
//! downloads are not used: in the desktop app a link with `download` may do nothing.
//! A file is written under a temporary name and linked to its name when complete (a
//! crash leaves no half file under the real name), and never replaces an earlier export
//! (on file systems without hard links, renamed onto a name that was free a moment
//! before); what a killed process left under the temporary name goes at the next
//! export of that name.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use ts_rs::TS;

use crate::{AppError, ErrorCode, ReportRequest, Workstation};

/// What to export.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum Export {
    /// The dashboard's figures as CSV (semicolons, UTF-8 with BOM).
    ReportCsv { request: ReportRequest },
    /// The dashboard's figures as PDF report for the council.
    ReportPdf { request: ReportRequest },
    /// The release list for destroying scanned paper.
    ReleaseList,
    /// Separator sheets to print (1 to 100).
    SeparatorSheets { copies: u32 },
}

impl Workstation {
    /// Make the export and save it in `dir`; returns where it lies.
    pub fn save_export(&self, what: &Export, dir: &Path) -> Result<PathBuf, AppError> {
        let (name, bytes) = match what {
            Export::ReportCsv { request } => (
                format!("kennzahlen-{}-bis-{}.csv", request.from, request.until),
                self.report_csv(request)?.into_bytes(),
            ),
            Export::ReportPdf { request } => (
                format!("kennzahlen-{}-bis-{}.pdf", request.from, request.until),
                self.report_pdf(request)?,
            ),
            Export::ReleaseList => (
                "freigabeliste-vernichtung.pdf".to_owned(),
                self.scan_release_list_pdf()?,
            ),
            Export::SeparatorSheets { copies } => (
                "trennblaetter.pdf".to_owned(),
                self.scan_separator_sheets_pdf(*copies)?,
            ),
        };
        save(dir, &name, &bytes)
    }
}

fn failed(dir: &Path, e: std::io::Error) -> AppError {
    AppError::new(
        ErrorCode::Storage,
        format!(
            "Die Datei lässt sich im Ordner {} nicht speichern: {e}",
            dir.display()
        ),
    )
}

/// Save `bytes` as `name` in `dir` (created if missing); when that name is taken,
/// as `name (2)`, `name (3)`, … Only plain names ending in .csv, .pdf, .csr or .json.
pub fn save(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, AppError> {
    let plain = !name.is_empty()
        && name.len() <= 120
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if plain && !s.is_empty() && ["csv", "pdf", "csr", "json"].contains(&e) => {
            (s, e)
        }
        _ => {
            return Err(AppError::invalid(format!(
                "„{name}“ ist kein zulässiger Dateiname für einen Export."
            )));
        }
    };
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    // What an export of this name left when the process died while writing.
    let leftover = |n: &str| n.starts_with(&format!(".{stem}.")) && n.ends_with(".teil");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_str().is_some_and(leftover) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let tmp = dir.join(format!(".{stem}.{}.teil", std::process::id()));
    let result = (|| {
        let mut f = private_file(&tmp, true)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        for n in 1..1000 {
            let target = if n == 1 {
                dir.join(name)
            } else {
                dir.join(format!("{stem} ({n}).{ext}"))
            };
            // A hard link never replaces an existing file; then the temporary name goes.
            match std::fs::hard_link(&tmp, &target) {
                Ok(()) => {
                    std::fs::remove_file(&tmp)?;
                    return Ok(target);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                // Shares and USB sticks (SMB, FAT) often have no hard links: rename
                // onto a name that is free now.
                Err(_) if target.exists() => continue,
                Err(_) => {
                    std::fs::rename(&tmp, &target)?;
                    return Ok(target);
                }
            }
        }
        Err(std::io::Error::other(
            "999 Dateien dieses Namens liegen schon dort",
        ))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| failed(dir, e))
}

/// Open a file for writing that only its owner may read (exports hold personal
/// data): `create_new` for a fresh temporary name, else created or truncated.
fn private_file(path: &Path, create_new: bool) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true);
    if create_new {
        o.create_new(true);
    } else {
        o.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// Write a file the user named (the CLI's preview, CSV, PDF) readable by its owner
/// only; an existing file keeps no wider permissions either.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = private_file(path, false)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_never_replaces_an_earlier_one() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("Downloads");
        // A half export left by a process killed while writing, and a file of the user's.
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join(".kennzahlen-2026-01-01-bis-2026-11-30.4711.teil"),
            b"halb",
        )?;
        std::fs::write(dir.join(".andere.teil"), b"fremd")?;
        let first = save(&dir, "kennzahlen-2026-01-01-bis-2026-11-30.csv", b"eins")?;
        let second = save(&dir, "kennzahlen-2026-01-01-bis-2026-11-30.csv", b"zwei")?;
        assert_eq!(first, dir.join("kennzahlen-2026-01-01-bis-2026-11-30.csv"));
        assert_eq!(
            second,
            dir.join("kennzahlen-2026-01-01-bis-2026-11-30 (2).csv")
        );
        assert_eq!(std::fs::read(&first)?, b"eins");
        assert_eq!(std::fs::read(&second)?, b"zwei");
        let names: Vec<String> = std::fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        assert_eq!(names.len(), 3, "no temporary file left: {names:?}");
        assert!(names.contains(&".andere.teil".to_owned()), "{names:?}");
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn exports_and_cli_files_are_readable_by_their_owner_only()
    -> Result<(), Box<dyn std::error::Error>> {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir()?;
        let saved = save(tmp.path(), "kennzahlen.csv", b"Name;Wert")?;
        assert_eq!(
            std::fs::metadata(&saved)?.permissions().mode() & 0o777,
            0o600
        );
        // A file the user named that existed world-readable keeps nothing of that.
        let preview = tmp.path().join("vorschau.pdf");
        std::fs::write(&preview, b"alt")?;
        std::fs::set_permissions(&preview, std::fs::Permissions::from_mode(0o644))?;
        write_private(&preview, b"%PDF-neu")?;
        assert_eq!(std::fs::read(&preview)?, b"%PDF-neu");
        assert_eq!(
            std::fs::metadata(&preview)?.permissions().mode() & 0o777,
            0o600
        );
        let fresh = tmp.path().join("neu.csv");
        write_private(&fresh, b"x")?;
        assert_eq!(
            std::fs::metadata(&fresh)?.permissions().mode() & 0o777,
            0o600
        );
        Ok(())
    }

    #[test]
    fn hostile_or_odd_names_are_refused() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        for name in [
            "../x.pdf",
            "/etc/x.pdf",
            ".versteckt.pdf",
            "a/b.csv",
            "x.exe",
            "x",
            ".pdf",
            "kennzahlen-2026-01-01-bis-2026-11-30;rm.csv",
            "ü.pdf",
        ] {
            let err = save(tmp.path(), name, b"x").err().ok_or(name)?;
            assert_eq!(err.code, ErrorCode::InvalidInput, "{name}");
        }
        assert_eq!(std::fs::read_dir(tmp.path())?.count(), 0);
        Ok(())
    }

    #[test]
    fn an_unwritable_folder_is_reported() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let file = tmp.path().join("kein-ordner");
        std::fs::write(&file, b"")?;
        let err = save(&file, "trennblaetter.pdf", b"x")
            .err()
            .ok_or("saved")?;
        assert_eq!(err.code, ErrorCode::Storage);
        assert!(err.message.contains("nicht speichern"), "{}", err.message);
        Ok(())
    }
}
