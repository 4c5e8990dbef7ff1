//! The town's casework configuration: case types (`vorgangsarten.toml`) and the
//! holiday calendar (`feiertage.toml`). German defaults ship in the binary (from
//! `assets/config/`); a file of the same name in the data directory replaces them.

use std::path::Path;

use domain::casetype::CaseTypes;
use domain::deadline::{Calendar, HolidayConfig};
use domain::fees::Tariff;

use crate::AppError;

pub const DEFAULT_CASE_TYPES: &str = include_str!("../../../../assets/config/vorgangsarten.toml");
pub const DEFAULT_HOLIDAYS: &str = include_str!("../../../../assets/config/feiertage.toml");
pub const DEFAULT_TARIFF: &str = include_str!("../../../../assets/config/gebuehren.toml");

fn load(dir: &Path, name: &str, default: &str) -> Result<String, AppError> {
    let path = dir.join(name);
    if path.exists() {
        std::fs::read_to_string(&path)
            .map_err(|e| AppError::invalid(format!("{} ist nicht lesbar: {e}", path.display())))
    } else {
        Ok(default.to_owned())
    }
}

/// Parse and check case types from TOML text.
pub fn parse_case_types(text: &str) -> Result<CaseTypes, AppError> {
    let types: CaseTypes =
        toml::from_str(text).map_err(|e| AppError::invalid(format!("vorgangsarten.toml: {e}")))?;
    types
        .validate()
        .map_err(|e| AppError::invalid(e.to_string()))?;
    Ok(types)
}

/// Parse a holiday calendar from TOML text for one Land.
pub fn parse_calendar(text: &str, land: &str) -> Result<Calendar, AppError> {
    let cfg: HolidayConfig =
        toml::from_str(text).map_err(|e| AppError::invalid(format!("feiertage.toml: {e}")))?;
    Calendar::for_land(&cfg, land).map_err(|e| AppError::invalid(e.to_string()))
}

/// Parse the fee tariff and check that every tariff key a case type names exists.
pub fn parse_tariff(text: &str, types: &CaseTypes) -> Result<Tariff, AppError> {
    let tariff: Tariff =
        toml::from_str(text).map_err(|e| AppError::invalid(format!("gebuehren.toml: {e}")))?;
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
    let town: letters::TownConfig =
        toml::from_str(text).map_err(|e| AppError::invalid(format!("gemeinde.toml: {e}")))?;
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

/// The town's letter configuration and its logo: `gemeinde.toml` and the logo file
/// from the data directory, or the shipped defaults.
pub fn load_town(
    data_dir: &Path,
    cfg: &CaseworkConfig,
) -> Result<(letters::TownConfig, Option<Vec<u8>>), AppError> {
    let town = parse_town(&load(data_dir, "gemeinde.toml", DEFAULT_TOWN)?, &cfg.types)?;
    let logo = if town.logo.is_empty() {
        None
    } else {
        let path = data_dir.join(&town.logo);
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
}

/// The texts of the configuration files in force (to notice a change).
pub fn config_texts(data_dir: &Path) -> Result<String, AppError> {
    Ok([
        load(data_dir, "vorgangsarten.toml", DEFAULT_CASE_TYPES)?,
        load(data_dir, "feiertage.toml", DEFAULT_HOLIDAYS)?,
        load(data_dir, "gebuehren.toml", DEFAULT_TARIFF)?,
    ]
    .join("\u{0}"))
}

pub fn load_config(data_dir: &Path) -> Result<CaseworkConfig, AppError> {
    let types = parse_case_types(&load(data_dir, "vorgangsarten.toml", DEFAULT_CASE_TYPES)?)?;
    let calendar = parse_calendar(
        &load(data_dir, "feiertage.toml", DEFAULT_HOLIDAYS)?,
        &types.land,
    )?;
    let tariff = parse_tariff(&load(data_dir, "gebuehren.toml", DEFAULT_TARIFF)?, &types)?;
    Ok(CaseworkConfig {
        types,
        calendar,
        tariff,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn the_shipped_defaults_are_valid() {
        let types = parse_case_types(DEFAULT_CASE_TYPES).unwrap();
        assert_eq!(types.vorgangsart.len(), 5);
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
        assert!(nw.is_holiday(date(2026, 11, 1)));
        assert!(!nw.is_holiday(date(2026, 10, 31)));
        let tariff = parse_tariff(DEFAULT_TARIFF, &types).unwrap();
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
            DEFAULT_TOWN
                .replace("laender = [\"*\"]", "laender = [\"HE\"]")
                .replace("laender = [\"NW\", \"NI\"]", "laender = [\"NI\"]"),
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
}
