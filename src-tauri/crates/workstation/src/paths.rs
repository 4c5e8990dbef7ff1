//! Where the data directory lives.

use std::path::PathBuf;

/// Environment variable that overrides the data directory.
pub const DATA_DIR_ENV: &str = "AMTSSTUBE_DATA_DIR";

/// `$AMTSSTUBE_DATA_DIR`, else the platform's per-user data directory
/// (`~/.local/share/amtsstube`; on Windows `%LOCALAPPDATA%\amtsstube`), else
/// `./amtsstube-daten`.
///
/// Windows: the local, not the roaming application data (`%APPDATA%`). Town halls
/// often run roaming profiles; a store of several gigabytes would be copied to the
/// server at every logoff, and the same store would land on a second PC where the
/// same clerk logs in – two copies of one record, each going its own way.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::data_local_dir()
        .map(|d| d.join("amtsstube"))
        .unwrap_or_else(|| PathBuf::from("amtsstube-daten"))
}

/// Environment variable that names the folder of configuration shared by every user
/// of this PC.
pub const SHARED_CONFIG_ENV: &str = "AMTSSTUBE_KONFIG_DIR";

/// The PC's folder of the town's configuration (`gemeinde.toml`, `vorgangsarten.toml`,
/// `feiertage.toml`, `gebuehren.toml`, `scan.toml`, the logo): `$AMTSSTUBE_KONFIG_DIR`,
/// else `%PROGRAMDATA%\Amtsstube` on Windows and `/etc/amtsstube` elsewhere. A file
/// there applies to every data folder on the PC that has no copy of its own – the
/// data centre distributes it once instead of into every user's profile.
pub fn shared_config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(SHARED_CONFIG_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    #[cfg(windows)]
    {
        std::env::var_os("PROGRAMDATA")
            .filter(|d| !d.is_empty())
            .map(|d| PathBuf::from(d).join("Amtsstube"))
    }
    #[cfg(not(windows))]
    {
        Some(PathBuf::from("/etc/amtsstube"))
    }
}

/// Environment variable that names the folder for exports (CSV, PDF).
pub const EXPORT_DIR_ENV: &str = "AMTSSTUBE_EXPORT_DIR";

/// `$AMTSSTUBE_EXPORT_DIR`, else the user's downloads folder (`~/Downloads`, as the
/// desktop names it), else the home folder, else `./amtsstube-export`.
pub fn default_export_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(EXPORT_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::download_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(|| PathBuf::from("amtsstube-export"))
}
