//! Drafts and configuration: which Rechtsbehelfsbelehrung a Land gets, what the clerk
//! may edit, what the font cannot show, and that wrapped lines never overflow.

use jiff::civil::date;
use letters::{CaseFacts, Draft, Ergebnis, LetterError, Renderer, TextBlock, TownConfig};
use proptest::prelude::*;

type R = Result<(), Box<dyn std::error::Error>>;

const TOWN: &str = include_str!("../../../../assets/config/gemeinde.toml");

fn town() -> Result<TownConfig, toml::de::Error> {
    toml::from_str(TOWN)
}

fn facts(land: &str, kuerzel: &str) -> CaseFacts {
    CaseFacts {
        aktenzeichen: format!("{kuerzel}-2026-0100001"),
        vorgangsart: "Hundesteuer-Anmeldung".into(),
        kuerzel: kuerzel.into(),
        land: land.into(),
        eingang: date(2026, 11, 2),
        antragsteller: "Erika Mustermann".into(),
        anschrift: vec![],
        sachbearbeitung: "Herr Paul Schmitz".into(),
        frist: None,
        datum: date(2026, 11, 23),
    }
}

#[test]
fn laender_without_widerspruchsverfahren_get_the_klage() -> R {
    let town = town()?;
    assert_eq!(town.rechtsbehelf_for("NW", "GEW")?.art, "Klage");
    assert_eq!(town.rechtsbehelf_for("NI", "HST")?.art, "Klage");
    assert_eq!(town.rechtsbehelf_for("HE", "GEW")?.art, "Widerspruch");
    // A rule naming the case type wins: Bavarian municipal taxes keep the choice.
    assert_eq!(town.rechtsbehelf_for("BY", "HST")?.art, "Widerspruch");
    assert_eq!(town.rechtsbehelf_for("BY", "GEW")?.art, "Klage");
    let he = town.rechtsbehelf_for("HE", "GEW")?.text;
    assert!(
        he.contains(
            "Gemeinde Musterstadt, Rathausplatz 1, 47110 Musterstadt, mit Sitz in Musterstadt"
        ),
        "{he}"
    );
    assert!(!he.contains('{'), "Platzhalter übrig: {he}");
    let d = Draft::bescheid(&facts("NW", "HST"), &town, Ergebnis::Abgelehnt, None)?;
    assert_eq!(d.rechtsbehelf.as_deref(), Some("Klage"));
    Ok(())
}

#[test]
fn a_land_without_a_rule_is_a_configuration_error() -> R {
    let mut town = town()?;
    town.rechtsbehelf
        .retain(|r| !r.laender.contains(&"*".to_owned()));
    let err = town.validate([("HE", "GEW")]).err().ok_or("kein Fehler")?;
    assert!(
        err.to_string()
            .contains("keine Rechtsbehelfsbelehrung für GEW im Land HE"),
        "{err}"
    );
    assert!(town.validate([("NW", "GEW")]).is_ok());
    Ok(())
}

#[test]
fn the_clerk_edits_text_but_not_the_rechtsbehelfsbelehrung() -> R {
    let town = town()?;
    let d = Draft::bescheid(&facts("NW", "GEW"), &town, Ergebnis::Bewilligt, None)?;
    let edited = d.clone().with_edits(&[TextBlock {
        key: "begruendung".into(),
        title: String::new(),
        text: "Alle Voraussetzungen liegen vor.".into(),
        editable: true,
    }])?;
    let b = edited
        .blocks
        .iter()
        .find(|b| b.key == "begruendung")
        .ok_or("fehlt")?;
    assert_eq!(b.text, "Alle Voraussetzungen liegen vor.");
    let refused = d.clone().with_edits(&[TextBlock {
        key: "rechtsbehelf".into(),
        title: String::new(),
        text: "Rechtsbehelfe gibt es nicht.".into(),
        editable: true,
    }]);
    assert!(matches!(refused, Err(LetterError::Input(m)) if m.contains("vorgegeben")));
    let unknown = d.with_edits(&[TextBlock {
        key: "geheim".into(),
        title: String::new(),
        text: "x".into(),
        editable: true,
    }]);
    assert!(unknown.is_err());
    Ok(())
}

#[test]
fn characters_the_font_cannot_show_are_refused_with_a_message() -> R {
    let town = town()?;
    let mut f = facts("NW", "GEW");
    f.antragsteller = "王小明".into();
    let d = Draft::eingangsbestaetigung(&f);
    let err = letters::render(&Renderer::new()?, &d, &f, &town, None, 0)
        .err()
        .ok_or("kein Fehler")?;
    assert!(err.to_string().contains("王"), "{err}");
    // Names with accents from all over Europe are fine.
    f.antragsteller = "Zoë Łukasiewicz-Çelik Ñúñez".into();
    assert!(letters::render(&Renderer::new()?, &d, &f, &town, None, 0).is_ok());
    Ok(())
}

#[test]
fn a_broken_logo_is_an_error_not_a_crash() -> R {
    let town = town()?;
    let f = facts("NW", "GEW");
    let d = Draft::eingangsbestaetigung(&f);
    let err = letters::render(
        &Renderer::new()?,
        &d,
        &f,
        &town,
        Some(b"\x89PNG kaputt".to_vec()),
        0,
    )
    .err()
    .ok_or("kein Fehler")?;
    assert!(err.to_string().contains("Logo"), "{err}");
    Ok(())
}

proptest! {
    #[test]
    fn text_never_runs_past_the_right_margin(words in proptest::collection::vec("[a-zäöüßA-Z]{1,40}", 1..80)) {
        let renderer = Renderer::new().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let text = words.join(" ");
        for line in renderer.wrap_lines(&text, 10.5, 165.0) {
            prop_assert!(renderer.width(&line, 10.5, false) <= 165.0, "{line}");
        }
        // Nothing is lost: the words come out in order.
        let joined: String = renderer.wrap_lines(&text, 10.5, 165.0).concat();
        prop_assert_eq!(joined.replace(' ', ""), text.replace(' ', ""));
    }
}
