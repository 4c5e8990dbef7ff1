//! The town's configuration: case types (`vorgangsarten.toml`), the holiday
//! calendar (`feiertage.toml`), the fee tariff (`gebuehren.toml`), the letterhead
//! (`gemeinde.toml`) and the scanning desk's procedure (`scan.toml`). German
//! defaults ship in the binary (from `assets/config/`); a file of the same name in
//! the data directory replaces them.
//!
//! [`ConfigCache`] keeps what was parsed and validated – loaded at login, reloaded
//! when a file's size or modification time changes – so a work list does not parse
//! three TOML files per call. Errors are German and name file, line and field.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use domain::casetype::CaseTypes;
use domain::deadline::{Calendar, HolidayConfig};
use domain::fees::Tariff;

use crate::AppError;

pub const DEFAULT_CASE_TYPES: &str = include_str!("../../../../assets/config/vorgangsarten.toml");
pub const DEFAULT_HOLIDAYS: &str = include_str!("../../../../assets/config/feiertage.toml");
pub const DEFAULT_TARIFF: &str = include_str!("../../../../assets/config/gebuehren.toml");

fn load(dir: &Path, name: &str, default: &str) -> Result<String, AppError> {
    match config_path(dir, name) {
        Some(path) => std::fs::read_to_string(&path)
            .map_err(|e| AppError::invalid(format!("{} ist nicht lesbar: {e}", path.display()))),
        None => Ok(default.to_owned()),
    }
}

/// Where a configuration file of the town is read from: the data folder's own copy,
/// else the PC's shared one ([`crate::paths::shared_config_dir`]: the data centre
/// distributes the town's files once for every user of the PC), else `None` – the
/// built-in default applies.
pub(crate) fn config_path(data_dir: &Path, name: &str) -> Option<PathBuf> {
    config_path_in(data_dir, crate::paths::shared_config_dir().as_deref(), name)
}

fn config_path_in(data_dir: &Path, shared: Option<&Path>, name: &str) -> Option<PathBuf> {
    places(data_dir, shared, name)
        .into_iter()
        .find(|p| p.exists())
}

/// The places [`config_path`] looks, in order.
fn candidates(data_dir: &Path, name: &str) -> Vec<PathBuf> {
    places(data_dir, crate::paths::shared_config_dir().as_deref(), name)
}

fn places(data_dir: &Path, shared: Option<&Path>, name: &str) -> Vec<PathBuf> {
    let mut places = vec![data_dir.join(name)];
    places.extend(shared.map(|s| s.join(name)));
    places
}

#[cfg(test)]
mod shared_config_tests {
    use super::*;

    fn first(data: &Path, shared: &Path, name: &str) -> Option<PathBuf> {
        config_path_in(data, Some(shared), name)
    }

    #[test]
    fn the_data_folders_own_file_comes_before_the_shared_one_before_the_default()
    -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let (data, shared) = (tmp.path().join("daten"), tmp.path().join("gemeinsam"));
        std::fs::create_dir_all(&data)?;
        std::fs::create_dir_all(&shared)?;
        assert_eq!(first(&data, &shared, "gemeinde.toml"), None);
        std::fs::write(shared.join("gemeinde.toml"), "behoerde = \"Gemeinsam\"")?;
        assert_eq!(
            first(&data, &shared, "gemeinde.toml"),
            Some(shared.join("gemeinde.toml"))
        );
        std::fs::write(data.join("gemeinde.toml"), "behoerde = \"Eigen\"")?;
        assert_eq!(
            first(&data, &shared, "gemeinde.toml"),
            Some(data.join("gemeinde.toml"))
        );
        // Only the data folder when the PC has no shared one.
        assert_eq!(
            places(&data, None, "scan.toml"),
            vec![data.join("scan.toml")]
        );
        Ok(())
    }
}

/// A TOML file's content, or a German error naming the file, the line and the field.
pub fn parse_toml<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, AppError> {
    toml::from_str(text).map_err(|e| {
        let place = e.span().map(|span| {
            // The span comes from this text; an empty prefix means line 1.
            let before = text.get(..span.start).unwrap_or_default();
            let line_no = before.matches('\n').count() + 1;
            // An error at the very end has no line text: no field named.
            let line = text.lines().nth(line_no - 1).unwrap_or_default();
            // The field is the key on that line (`key = value`), if there is one.
            let key = line
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_owned())
                .filter(|k| !k.is_empty() && !k.starts_with('['));
            (line_no, key)
        });
        let what = crate::error::german_serde(e.message());
        AppError::invalid(match place {
            Some((line, Some(key))) => format!("{file}, Zeile {line}, Feld „{key}“: {what}"),
            Some((line, None)) => format!("{file}, Zeile {line}: {what}"),
            None => format!("{file}: {what}"),
        })
    })
}

/// Parse and check case types from TOML text.
pub fn parse_case_types(text: &str) -> Result<CaseTypes, AppError> {
    let types: CaseTypes = parse_toml("vorgangsarten.toml", text)?;
    types
        .validate()
        .map_err(|e| AppError::invalid(e.to_string()))?;
    Ok(types)
}

/// Parse a holiday calendar from TOML text for one Land.
pub fn parse_calendar(text: &str, land: &str) -> Result<Calendar, AppError> {
    let cfg: HolidayConfig = parse_toml("feiertage.toml", text)?;
    Calendar::for_land(&cfg, land).map_err(|e| AppError::invalid(e.to_string()))
}

/// Parse the fee tariff and check that every tariff key a case type names exists.
pub fn parse_tariff(text: &str, types: &CaseTypes) -> Result<Tariff, AppError> {
    let tariff: Tariff = parse_toml("gebuehren.toml", text)?;
    tariff
        .validate()
        .map_err(|e| AppError::invalid(e.to_string()))?;
    for t in &types.vorgangsart {
        for key in &t.gebuehren {
            if !tariff.tarif.iter().any(|e| &e.stelle == key) {
                return Err(AppError::invalid(format!(
                    "Die Vorgangsart {} nennt die Tarifstelle {key}, die es in gebuehren.toml nicht gibt.",
                    t.name
                )));
            }
        }
    }
    Ok(tariff)
}

pub const DEFAULT_TOWN: &str = include_str!("../../../../assets/config/gemeinde.toml");
pub const DEFAULT_LOGO: &[u8] = include_bytes!("../../../../assets/branding/wappen.png");

/// Parse and check the town's letter configuration against the case types in use.
pub fn parse_town(text: &str, types: &CaseTypes) -> Result<letters::TownConfig, AppError> {
    let town: letters::TownConfig = parse_toml("gemeinde.toml", text)?;
    town.validate(
        types
            .vorgangsart
            .iter()
            .map(|t| (types.land.as_str(), t.kuerzel.as_str())),
    )
    .map_err(|e| AppError::invalid(e.to_string()))?;
    let name = &town.logo;
    let plain = name.is_empty()
        || (!name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')));
    if !plain {
        return Err(AppError::invalid(format!(
            "gemeinde.toml: logo „{name}“ muss ein Dateiname neben der Konfiguration sein (ohne Pfad)."
        )));
    }
    Ok(town)
}

/// The town's letter configuration and its logo.
pub type Town = (letters::TownConfig, Option<Vec<u8>>);

/// The town's letter configuration and its logo: `gemeinde.toml` and the logo file
/// from the data directory, or the shipped defaults.
pub fn load_town(data_dir: &Path, cfg: &CaseworkConfig) -> Result<Town, AppError> {
    let town = parse_town(&load(data_dir, "gemeinde.toml", DEFAULT_TOWN)?, &cfg.types)?;
    let logo = if town.logo.is_empty() {
        None
    } else {
        let path = config_path(data_dir, &town.logo).unwrap_or_else(|| data_dir.join(&town.logo));
        match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && town.logo == "wappen.png" => {
                Some(DEFAULT_LOGO.to_vec())
            }
            Err(e) => {
                return Err(AppError::invalid(format!(
                    "Das Logo {} ist nicht lesbar: {e}",
                    path.display()
                )));
            }
        }
    };
    Ok((town, logo))
}

/// The configuration in force for a data directory.
pub struct CaseworkConfig {
    pub types: CaseTypes,
    pub calendar: Calendar,
    pub tariff: Tariff,
    /// What the work list's stored deadlines depend on besides the cases: a hash of
    /// the case types and holidays in force (the town's files or the built-in
    /// defaults) and of the way deadlines are computed.
    pub deadline_basis: String,
}

/// Raise when the computation of deadlines changes: every stored deadline of the
/// work list is computed again.
const DEADLINE_RULES: &[u8] = b"fristen-1";

fn deadline_basis(case_types: &str, holidays: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(DEADLINE_RULES);
    for text in [case_types, holidays] {
        h.update((text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
    }
    format!("{:x}", h.finalize())
}

pub fn load_config(data_dir: &Path) -> Result<CaseworkConfig, AppError> {
    let case_types = load(data_dir, "vorgangsarten.toml", DEFAULT_CASE_TYPES)?;
    let holidays = load(data_dir, "feiertage.toml", DEFAULT_HOLIDAYS)?;
    let types = parse_case_types(&case_types)?;
    let calendar = parse_calendar(&holidays, &types.land)?;
    let tariff = parse_tariff(&load(data_dir, "gebuehren.toml", DEFAULT_TARIFF)?, &types)?;
    Ok(CaseworkConfig {
        types,
        calendar,
        tariff,
        deadline_basis: deadline_basis(&case_types, &holidays),
    })
}

pub const DEFAULT_SCAN_POLICY: &str = include_str!("../../../../assets/config/scan.toml");

/// The scanning desk's configuration from `scan.toml` text.
pub fn parse_scan_policy(text: &str) -> Result<scan::policy::ScanPolicy, AppError> {
    let policy: scan::policy::ScanPolicy = parse_toml("scan.toml", text)?;
    policy
        .validate()
        .map_err(|e| AppError::invalid(e.to_string()))?;
    Ok(policy)
}

/// The scanning desk's configuration: `scan.toml` in the data directory, or the default.
pub fn load_scan_policy(data_dir: &Path) -> Result<scan::policy::ScanPolicy, AppError> {
    parse_scan_policy(&load(data_dir, "scan.toml", DEFAULT_SCAN_POLICY)?)
}

/// Size and modification time of a file; `None` when it is absent (the default
/// applies). Two stamps differ when the file was written, replaced or removed.
type Stamp = Option<(Option<SystemTime>, u64)>;

fn stamp(path: &Path) -> Stamp {
    // A file system without modification times still tells the size.
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.modified().ok(), m.len()))
}

/// A parsed configuration and the stamps of the files it came from.
struct Loaded<T> {
    files: Vec<(PathBuf, Stamp)>,
    value: Arc<T>,
}

impl<T> Loaded<T> {
    fn current(&self) -> bool {
        self.files.iter().all(|(p, s)| stamp(p) == *s)
    }
}

const CASEWORK_FILES: [&str; 3] = ["vorgangsarten.toml", "feiertage.toml", "gebuehren.toml"];

/// The configuration snapshot of a workstation: parsed once, checked on every use
/// against the files' stamps (a `stat` per file in the data folder and in the PC's
/// shared folder), reloaded when one changed. A broken file is reported at every use
/// until it is fixed; nothing broken is kept.
#[derive(Default)]
pub(crate) struct ConfigCache {
    casework: RefCell<Option<Loaded<CaseworkConfig>>>,
    scan: RefCell<Option<Loaded<scan::policy::ScanPolicy>>>,
    town: RefCell<Option<Loaded<Town>>>,
}

fn cached<T>(
    slot: &RefCell<Option<Loaded<T>>>,
    data_dir: &Path,
    names: &[&str],
    load: impl FnOnce(&Path) -> Result<T, AppError>,
) -> Result<Arc<T>, AppError> {
    cached_with(slot, data_dir, names, |dir| Ok((load(dir)?, Vec::new())))
}

/// As [`cached`], for a configuration that names further files (the town's logo):
/// `load` returns them, and their stamps count as well.
fn cached_with<T>(
    slot: &RefCell<Option<Loaded<T>>>,
    data_dir: &Path,
    names: &[&str],
    load: impl FnOnce(&Path) -> Result<(T, Vec<String>), AppError>,
) -> Result<Arc<T>, AppError> {
    if let Some(l) = slot.borrow().as_ref()
        && l.current()
    {
        return Ok(l.value.clone());
    }
    // Stamps taken before reading: a change while reading is seen at the next use.
    // Every place a file may come from counts: a copy put into the data folder later
    // takes over from the shared one.
    let stamped = |n: &&str| {
        candidates(data_dir, n).into_iter().map(|p| {
            let s = stamp(&p);
            (p, s)
        })
    };
    let mut files: Vec<(PathBuf, Stamp)> = names.iter().flat_map(stamped).collect();
    slot.replace(None);
    let (value, more) = load(data_dir)?;
    // Stamped after reading: a logo replaced meanwhile is read again next time at worst.
    let more: Vec<&str> = more.iter().map(String::as_str).collect();
    files.extend(more.iter().flat_map(stamped));
    let value = Arc::new(value);
    slot.replace(Some(Loaded {
        files,
        value: value.clone(),
    }));
    Ok(value)
}

impl ConfigCache {
    /// Case types, holidays and tariff in force.
    pub(crate) fn casework(&self, data_dir: &Path) -> Result<Arc<CaseworkConfig>, AppError> {
        cached(&self.casework, data_dir, &CASEWORK_FILES, load_config)
    }

    /// The scanning desk's `scan.toml` in force.
    pub(crate) fn scan(&self, data_dir: &Path) -> Result<Arc<scan::policy::ScanPolicy>, AppError> {
        cached(&self.scan, data_dir, &["scan.toml"], load_scan_policy)
    }

    /// The letterhead and the Rechtsbehelfsbelehrung (`gemeinde.toml`, checked
    /// against the case types in force) and the logo it names.
    pub(crate) fn town(&self, data_dir: &Path) -> Result<Arc<Town>, AppError> {
        let cfg = self.casework(data_dir)?;
        let names = [
            "gemeinde.toml",
            CASEWORK_FILES[0],
            CASEWORK_FILES[1],
            CASEWORK_FILES[2],
        ];
        cached_with(&self.town, data_dir, &names, |dir| {
            let town = load_town(dir, &cfg)?;
            let logo = town.0.logo.clone();
            let more = if logo.is_empty() {
                Vec::new()
            } else {
                vec![logo]
            };
            Ok((town, more))
        })
    }

    /// Forget everything (a new login reads the files again).
    pub(crate) fn clear(&mut self) {
        self.casework.get_mut().take();
        self.scan.get_mut().take();
        self.town.get_mut().take();
    }
}

#[cfg(test)]
mod town_details_tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn shipped() -> Result<(CaseTypes, TownDetails), Box<dyn std::error::Error>> {
        let types = parse_case_types(DEFAULT_CASE_TYPES)?;
        let town = parse_town(DEFAULT_TOWN, &types)?;
        Ok((types, TownDetails::from(&town)))
    }

    #[test]
    fn the_letterhead_changes_and_everything_else_in_the_file_stays() -> TestResult {
        let (types, mut d) = shipped()?;
        d.behoerde = "Stadt Kleinhausen".into();
        d.anschrift = vec!["Markt 3".into(), "  ".into(), "12345 Kleinhausen".into()];
        d.iban = "DE89 3704 0044 0532 0130 00".into();
        let out = with_town_details(DEFAULT_TOWN, &d, &types)?;
        let town = parse_town(&out, &types)?;
        assert_eq!(town.behoerde, "Stadt Kleinhausen");
        assert_eq!(town.anschrift, vec!["Markt 3", "12345 Kleinhausen"]);
        let before = parse_town(DEFAULT_TOWN, &types)?;
        assert_eq!(town.rechtsbehelf, before.rechtsbehelf);
        assert!(
            out.contains("# Rechtsbehelfsbelehrung je Land und Vorgangsart."),
            "comments lost"
        );
        Ok(())
    }

    #[test]
    fn wrong_details_are_refused_with_the_reason() -> TestResult {
        let (types, d) = shipped()?;
        let bad_iban = TownDetails {
            iban: "DE89 3704 0044 0532 0130 01".into(),
            ..d.clone()
        };
        let err = with_town_details(DEFAULT_TOWN, &bad_iban, &types)
            .err()
            .ok_or("bad IBAN accepted")?;
        assert!(err.message.contains("IBAN"), "{}", err.message);
        let four_lines = TownDetails {
            anschrift: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            ..d.clone()
        };
        let err = with_town_details(DEFAULT_TOWN, &four_lines, &types)
            .err()
            .ok_or("four lines accepted")?;
        assert!(err.message.contains("anschrift"), "{}", err.message);
        let no_name = TownDetails {
            behoerde: " ".into(),
            ..d.clone()
        };
        let err = with_town_details(DEFAULT_TOWN, &no_name, &types)
            .err()
            .ok_or("no name accepted")?;
        assert!(err.message.contains("behoerde"), "{}", err.message);
        assert!(
            iban_ok(&d.iban),
            "the shipped example IBAN {} is not valid",
            d.iban
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    /// The shipped calendar for the holidays that only some Länder have, and since when.
    #[test]
    fn the_shipped_calendar_knows_the_land_specific_holidays() {
        let cal = |land: &str| parse_calendar(DEFAULT_HOLIDAYS, land).unwrap();
        // 8 March: Berlin since 2019, Mecklenburg-Vorpommern since 2023.
        assert!(cal("BE").is_holiday(date(2019, 3, 8)));
        assert!(!cal("BE").is_holiday(date(2018, 3, 8)));
        assert!(cal("MV").is_holiday(date(2023, 3, 8)));
        assert!(!cal("MV").is_holiday(date(2022, 3, 8)));
        assert!(!cal("NW").is_holiday(date(2026, 3, 8)));
        // 20 September: Thüringen since 2019.
        assert!(cal("TH").is_holiday(date(2026, 9, 20)));
        assert!(!cal("TH").is_holiday(date(2018, 9, 20)));
        assert!(!cal("SN").is_holiday(date(2026, 9, 20)));
        // Reformationstag in the northern Länder since 2018, in the eastern ones always,
        // in 2017 everywhere, never in NW otherwise.
        for land in ["HB", "HH", "NI", "SH"] {
            assert!(cal(land).is_holiday(date(2018, 10, 31)), "{land}");
            assert!(!cal(land).is_holiday(date(2016, 10, 31)), "{land}");
        }
        for land in ["BB", "MV", "SN", "ST", "TH"] {
            assert!(cal(land).is_holiday(date(2016, 10, 31)), "{land}");
        }
        assert!(cal("NW").is_holiday(date(2017, 10, 31)));
        assert!(!cal("NW").is_holiday(date(2026, 10, 31)));
        // One-off: 8 May 2025 in Berlin only.
        assert!(cal("BE").is_holiday(date(2025, 5, 8)));
        assert!(!cal("BE").is_holiday(date(2026, 5, 8)));
        assert!(!cal("BB").is_holiday(date(2025, 5, 8)));
        // Buß- und Bettag in Sachsen, computed: Wed 18 Nov 2026, Wed 22 Nov 2034.
        assert!(cal("SN").is_holiday(date(2026, 11, 18)));
        assert!(cal("SN").is_holiday(date(2034, 11, 22)));
        assert!(!cal("NW").is_holiday(date(2026, 11, 18)));
    }

    #[test]
    fn the_shipped_defaults_are_valid() {
        let types = parse_case_types(DEFAULT_CASE_TYPES).unwrap();
        assert_eq!(types.vorgangsart.len(), 6);
        assert!(
            types
                .for_service("urn:de:fim:leika:leistung:99050012104000")
                .is_some_and(|t| t.kuerzel == "GEW")
        );
        for land in domain::deadline::LAENDER {
            let cal = parse_calendar(DEFAULT_HOLIDAYS, land).unwrap();
            assert!(cal.is_holiday(date(2026, 10, 3)), "{land}");
            assert!(
                cal.is_holiday(date(2027, 3, 26)),
                "Karfreitag 2027 in {land}"
            );
        }
        let nw = parse_calendar(DEFAULT_HOLIDAYS, "NW").unwrap();
        assert!(nw.is_holiday(date(2026, 6, 4)), "Fronleichnam");
        // Any year, not a list that ends: Good Friday 2031 (Easter 13 Apr) and 2099
        // (Easter 12 Apr).
        assert!(nw.is_holiday(date(2031, 4, 11)) && nw.is_holiday(date(2099, 4, 10)));
        assert!(nw.is_holiday(date(2026, 11, 1)));
        assert!(!nw.is_holiday(date(2026, 10, 31)));
        let tariff = parse_tariff(DEFAULT_TARIFF, &types).unwrap();
        // The case types' clocks: a fiction only where a law orders it.
        use domain::deadline::{ClockKind, PeriodStart};
        use domain::delivery::ProceduralLaw;
        let clock = |k: &str| types.by_code(k).unwrap().deadline_rules();
        assert_eq!(clock("MAK").uhr, ClockKind::Fiktion);
        let gew = clock("GEW");
        assert_eq!(
            (gew.uhr, gew.frist_tage, gew.beginn),
            (ClockKind::Fachfrist, 3, PeriodStart::Eingang)
        );
        for k in ["MB", "HST", "BWP", "SNB"] {
            assert_eq!(clock(k).uhr, ClockKind::Servicefrist, "{k}");
        }
        assert_eq!(
            types.by_code("HST").unwrap().procedural_law(),
            ProceduralLaw::Ao
        );
        let gew = tariff
            .compute(&[domain::fees::FeeItem {
                stelle: "GEW-01".into(),
                betrag_cent: None,
                menge: None,
                ermaessigung_prozent: None,
                begruendung: None,
            }])
            .unwrap();
        assert_eq!(domain::fees::format_euro(gew.total_cent), "26,00 €");
        let sn = parse_calendar(DEFAULT_HOLIDAYS, "SN").unwrap();
        assert!(sn.is_holiday(date(2026, 11, 18)) && sn.is_holiday(date(2026, 10, 31)));
    }

    #[test]
    fn the_town_configuration_is_checked_and_its_logo_stays_in_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = load_config(dir.path()).unwrap();
        let (town, logo) = load_town(dir.path(), &cfg).unwrap();
        assert_eq!(town.behoerde, "Gemeinde Musterstadt");
        assert_eq!(logo.as_deref(), Some(DEFAULT_LOGO));
        for hostile in ["../../etc/passwd", "/etc/passwd", ".hidden.png", "a/b.png"] {
            std::fs::write(
                dir.path().join("gemeinde.toml"),
                DEFAULT_TOWN.replace("logo = \"wappen.png\"", &format!("logo = \"{hostile}\"")),
            )
            .unwrap();
            let err = load_town(dir.path(), &cfg).err().unwrap();
            assert!(
                err.message.contains("Dateiname"),
                "{hostile}: {}",
                err.message
            );
        }
        // A town logo next to the configuration replaces the default.
        std::fs::write(
            dir.path().join("gemeinde.toml"),
            DEFAULT_TOWN.replace("logo = \"wappen.png\"", "logo = \"stadt.png\""),
        )
        .unwrap();
        assert!(load_town(dir.path(), &cfg).is_err(), "missing logo file");
        std::fs::write(dir.path().join("stadt.png"), b"png").unwrap();
        assert_eq!(
            load_town(dir.path(), &cfg).unwrap().1.as_deref(),
            Some(&b"png"[..])
        );
        // No Rechtsbehelfsbelehrung for the Land: refused.
        std::fs::write(
            dir.path().join("gemeinde.toml"),
            DEFAULT_TOWN.replace("laender = [\"NW\"]", "laender = [\"NI\"]"),
        )
        .unwrap();
        let err = load_town(dir.path(), &cfg).err().unwrap();
        assert!(err.message.contains("Land NW"), "{}", err.message);
    }

    #[test]
    fn a_file_in_the_data_directory_replaces_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("vorgangsarten.toml"),
            DEFAULT_CASE_TYPES.replace("land = \"NW\"", "land = \"BY\""),
        )
        .unwrap();
        let cfg = load_config(dir.path()).unwrap();
        assert_eq!(cfg.types.land, "BY");
        assert!(
            cfg.calendar.is_holiday(date(2026, 1, 6)),
            "Dreikönig in Bayern"
        );
        std::fs::write(
            dir.path().join("gebuehren.toml"),
            DEFAULT_TARIFF.replace("stelle = \"GEW-01\"", "stelle = \"GEW-99\""),
        )
        .unwrap();
        let err = load_config(dir.path()).err().unwrap();
        assert!(err.message.contains("GEW-01"), "{}", err.message);
        std::fs::remove_file(dir.path().join("gebuehren.toml")).unwrap();
        std::fs::write(dir.path().join("vorgangsarten.toml"), "land = 1").unwrap();
        let err = load_config(dir.path()).err().unwrap();
        assert!(
            err.message.contains("vorgangsarten.toml"),
            "{}",
            err.message
        );
    }

    #[test]
    fn errors_name_file_line_and_field_in_german() {
        let err = parse_case_types("\n\nland = 1\n").err().unwrap();
        assert_eq!(
            err.message,
            "vorgangsarten.toml, Zeile 3, Feld „land“: falscher Wert – erwartet wird ein Text."
        );
        let err = parse_scan_policy("[verfahren]\nbezeichnung = \"x\"\n")
            .err()
            .unwrap();
        assert!(err.message.starts_with("scan.toml"), "{}", err.message);
        assert!(err.message.contains("fehlt"), "{}", err.message);
        assert!(!err.message.contains("missing"), "{}", err.message);
    }

    #[test]
    fn the_town_is_reloaded_when_its_file_or_its_logo_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ConfigCache::default();
        let first = cache.town(dir.path()).unwrap();
        assert_eq!(first.0.behoerde, "Gemeinde Musterstadt");
        assert!(Arc::ptr_eq(&first, &cache.town(dir.path()).unwrap()));
        std::fs::write(
            dir.path().join("gemeinde.toml"),
            DEFAULT_TOWN.replace("logo = \"wappen.png\"", "logo = \"stadt.png\""),
        )
        .unwrap();
        // The named logo is missing: refused, and nothing broken is kept.
        assert!(cache.town(dir.path()).is_err());
        std::fs::write(dir.path().join("stadt.png"), b"eins").unwrap();
        assert_eq!(
            cache.town(dir.path()).unwrap().1.as_deref(),
            Some(&b"eins"[..])
        );
        std::fs::write(dir.path().join("stadt.png"), b"zwei!").unwrap();
        assert_eq!(
            cache.town(dir.path()).unwrap().1.as_deref(),
            Some(&b"zwei!"[..])
        );
    }

    #[test]
    fn the_snapshot_is_reloaded_when_a_file_changes_and_a_broken_file_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ConfigCache::default();
        let first = cache.casework(dir.path()).unwrap();
        assert_eq!(first.types.land, "NW");
        let again = cache.casework(dir.path()).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "unchanged files: no new parse");
        let path = dir.path().join("vorgangsarten.toml");
        std::fs::write(
            &path,
            DEFAULT_CASE_TYPES.replace("land = \"NW\"", "land = \"BY\""),
        )
        .unwrap();
        assert_eq!(cache.casework(dir.path()).unwrap().types.land, "BY");
        std::fs::write(&path, "land = 1").unwrap();
        assert!(cache.casework(dir.path()).is_err());
        assert!(cache.casework(dir.path()).is_err(), "still broken");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(cache.casework(dir.path()).unwrap().types.land, "NW");
    }
}

/// The town's letterhead details as the administration edits them (the rest of
/// `gemeinde.toml` – the Rechtsbehelfsbelehrungen – is left as it is).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TownDetails {
    pub behoerde: String,
    pub abteilung: String,
    /// One to three lines.
    pub anschrift: Vec<String>,
    pub sitz: String,
    pub telefon: String,
    pub email: String,
    pub web: String,
    pub oeffnungszeiten: String,
    pub bank: String,
    pub iban: String,
    pub bic: String,
    pub verwaltungsgericht: String,
    pub verwaltungsgericht_anschrift: String,
    pub zeichnung: String,
}

impl From<&letters::TownConfig> for TownDetails {
    fn from(t: &letters::TownConfig) -> Self {
        TownDetails {
            behoerde: t.behoerde.clone(),
            abteilung: t.abteilung.clone(),
            anschrift: t.anschrift.clone(),
            sitz: t.sitz.clone(),
            telefon: t.telefon.clone(),
            email: t.email.clone(),
            web: t.web.clone(),
            oeffnungszeiten: t.oeffnungszeiten.clone(),
            bank: t.bank.clone(),
            iban: t.iban.clone(),
            bic: t.bic.clone(),
            verwaltungsgericht: t.verwaltungsgericht.clone(),
            verwaltungsgericht_anschrift: t.verwaltungsgericht_anschrift.clone(),
            zeichnung: t.zeichnung.clone(),
        }
    }
}

/// An IBAN: country, check digits, up to 30 letters or digits, ISO 13616 check
/// (mod 97 = 1). Spaces allowed.
fn iban_ok(iban: &str) -> bool {
    let compact: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
    let b = compact.as_bytes();
    if !(15..=34).contains(&b.len())
        || !b[..2].iter().all(u8::is_ascii_uppercase)
        || !b[2..4].iter().all(u8::is_ascii_digit)
        || !b.iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    let rearranged = compact[4..].chars().chain(compact[..4].chars());
    let mut rest: u32 = 0;
    for c in rearranged {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rest = if v >= 10 {
            (rest * 100 + v) % 97
        } else {
            (rest * 10 + v) % 97
        };
    }
    rest == 1
}

/// `gemeinde.toml` with these details set, everything else (comments, the
/// Rechtsbehelfsbelehrungen) as it was. Checked as a whole before it is returned.
pub fn with_town_details(
    text: &str,
    d: &TownDetails,
    types: &CaseTypes,
) -> Result<String, AppError> {
    let details = TownDetails {
        anschrift: d
            .anschrift
            .iter()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect(),
        ..d.clone()
    };
    if !iban_ok(&details.iban) {
        return Err(AppError::invalid(format!(
            "Die IBAN „{}“ ist nicht gültig (Prüfziffer oder Länge).",
            details.iban.trim()
        )));
    }
    if details.email.trim().is_empty() || !details.email.contains('@') {
        return Err(AppError::invalid(
            "Bitte eine E-Mail-Adresse für Rückfragen angeben.",
        ));
    }
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| AppError::invalid(format!("gemeinde.toml ist nicht lesbar: {e}")))?;
    let fields: [(&str, &str); 13] = [
        ("behoerde", &details.behoerde),
        ("abteilung", &details.abteilung),
        ("sitz", &details.sitz),
        ("telefon", &details.telefon),
        ("email", &details.email),
        ("web", &details.web),
        ("oeffnungszeiten", &details.oeffnungszeiten),
        ("bank", &details.bank),
        ("iban", &details.iban),
        ("bic", &details.bic),
        ("verwaltungsgericht", &details.verwaltungsgericht),
        (
            "verwaltungsgericht_anschrift",
            &details.verwaltungsgericht_anschrift,
        ),
        ("zeichnung", &details.zeichnung),
    ];
    for (key, value) in fields {
        doc[key] = toml_edit::value(value.trim());
    }
    let mut lines = toml_edit::Array::new();
    for l in &details.anschrift {
        lines.push(l.as_str());
    }
    doc["anschrift"] = toml_edit::value(lines);
    let out = doc.to_string();
    parse_town(&out, types)?;
    Ok(out)
}

impl crate::Workstation {
    /// The letterhead details as the letters use them now (administration).
    pub fn town_details(&self) -> Result<TownDetails, AppError> {
        self.session_with(domain::Permission::ConfigurePortal)?;
        let cfg = self.config.casework(self.data_dir())?;
        let town = parse_town(
            &load(self.data_dir(), "gemeinde.toml", DEFAULT_TOWN)?,
            &cfg.types,
        )?;
        Ok(TownDetails::from(&town))
    }

    /// Set the letterhead details in `gemeinde.toml` of the data directory (made from
    /// the shipped example on first use), checked as a whole, written atomically.
    pub fn set_town_details(&mut self, details: TownDetails) -> Result<(), AppError> {
        self.session_with(domain::Permission::ConfigurePortal)?;
        let dir = self.data_dir().to_path_buf();
        let cfg = self.config.casework(&dir)?;
        let text = load(&dir, "gemeinde.toml", DEFAULT_TOWN)?;
        let new = with_town_details(&text, &details, &cfg.types)?;
        let path = dir.join("gemeinde.toml");
        let tmp = dir.join(".gemeinde.toml.neu");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(new.as_bytes())?;
            f.sync_all()?;
            store::durable::replace(&tmp, &path)
        };
        write().map_err(|e| AppError::invalid(format!("gemeinde.toml nicht schreibbar: {e}")))?;
        // The shipped logo goes with the shipped example, so letters keep their crest.
        let logo = dir.join("wappen.png");
        if !logo.exists() && new.contains("logo = \"wappen.png\"") {
            let _ = std::fs::write(&logo, DEFAULT_LOGO);
        }
        self.session_with_mut(domain::Permission::ConfigurePortal)?
            .audit("einstellung.gemeinde", "gemeinde.toml")?;
        Ok(())
    }
}
