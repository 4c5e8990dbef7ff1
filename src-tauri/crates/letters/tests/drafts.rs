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
    // Without the rule of the thirteen Länder with a Widerspruchsverfahren, Hessen has none.
    town.rechtsbehelf
        .retain(|r| !r.laender.contains(&"HE".to_owned()));
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

fn text_of(d: &Draft, key: &str) -> String {
    d.blocks
        .iter()
        .find(|b| b.key == key)
        .map(|b| b.text.clone())
        .unwrap_or_default()
}

fn period(
    uhr: domain::deadline::ClockKind,
    dauer: &str,
    basis: &str,
    ab_eingang: bool,
) -> letters::PeriodFacts {
    letters::PeriodFacts {
        uhr,
        dauer: dauer.into(),
        rechtsgrundlage: basis.into(),
        ab_eingang,
        beginn: None,
        ende: None,
        verlaengerbar: uhr == domain::deadline::ClockKind::Fiktion,
        nachforderung: domain::deadline::RequestEffect::LaeuftWeiter,
        verlaengert: None,
    }
}

/// § 71b Abs. 3 VwVfG: the Eingangsbestätigung names the period, its start and the
/// consequence of its expiry – and only what is true for the case type's clock.
#[test]
fn vwvfg_71b_the_receipt_says_only_what_is_true_for_the_clock() {
    use domain::deadline::ClockKind;
    // Genehmigungsfiktion, not yet complete.
    let mut f = facts("NW", "MAK");
    f.frist = Some(period(
        ClockKind::Fiktion,
        "drei Monaten",
        "§ 6a Abs. 1 GewO i. V. m. § 42a VwVfG NRW",
        false,
    ));
    let t = text_of(&Draft::eingangsbestaetigung(&f), "frist");
    assert!(
        t.contains("innerhalb von drei Monaten zu entscheiden (§ 6a Abs. 1 GewO"),
        "{t}"
    );
    assert!(
        t.contains("beginnt mit dem Eingang der vollständigen Unterlagen"),
        "{t}"
    );
    assert!(
        t.contains("gilt die beantragte Genehmigung als erteilt (§ 42a Abs. 1 VwVfG)"),
        "{t}"
    );
    assert!(t.contains("einmal angemessen verlängert"), "{t}");
    // Complete on receipt: start and end by date.
    if let Some(p) = f.frist.as_mut() {
        p.beginn = Some(date(2026, 11, 2));
        p.ende = Some(date(2027, 2, 2));
    }
    let t = text_of(&Draft::eingangsbestaetigung(&f), "frist");
    assert!(
        t.contains("am 02.11.2026; die Frist endet am 02.02.2027"),
        "{t}"
    );
    // The Nachforderung of a running fiction period promises no standstill.
    let n = text_of(
        &Draft::nachforderung(&f, &["Führungszeugnis".into()], date(2026, 12, 7)),
        "hinweis",
    );
    assert!(!n.contains("ruht") && !n.contains("gehemmt"), "{n}");
    // § 15 Abs. 1 GewO: a period from receipt, no fiction.
    let mut g = facts("NW", "GEW");
    g.frist = Some(period(
        ClockKind::Fachfrist,
        "drei Tagen",
        "§ 15 Abs. 1 GewO",
        true,
    ));
    let t = text_of(&Draft::eingangsbestaetigung(&g), "frist");
    assert!(
        t.contains("gesetzliche Frist von drei Tagen (§ 15 Abs. 1 GewO)"),
        "{t}"
    );
    assert!(t.contains("mit dem Eingang Ihres Antrags"), "{t}");
    assert!(
        !t.contains("als erteilt") && !t.contains("vollständigen Unterlagen"),
        "{t}"
    );
    // Servicefrist: no statutory period, nothing about a fiction.
    let h = facts("NW", "HST");
    let t = text_of(&Draft::eingangsbestaetigung(&h), "frist");
    assert!(t.contains("keine gesetzliche Entscheidungsfrist"), "{t}");
    assert!(!t.contains("42a"), "{t}");
}

/// § 42a Abs. 2 S. 3–4 and Abs. 3 VwVfG: the extension letter and the certificate
/// exist only when they are true.
#[test]
fn vwvfg_42a_extension_letter_and_certificate_only_when_true() {
    use domain::deadline::ClockKind;
    let mut f = facts("NW", "MAK");
    f.frist = Some(period(
        ClockKind::Fiktion,
        "drei Monaten",
        "§ 6a Abs. 1 GewO i. V. m. § 42a VwVfG NRW",
        false,
    ));
    assert!(matches!(
        Draft::fristverlaengerung(&f),
        Err(LetterError::Input(_))
    ));
    assert!(matches!(
        Draft::fiktionsbescheinigung(&f),
        Err(LetterError::Input(_))
    ));
    if let Some(p) = f.frist.as_mut() {
        p.beginn = Some(date(2026, 8, 3));
        p.ende = Some(date(2026, 11, 3));
    }
    // Ended 3 Nov, the letter is of 23 Nov: the permit is deemed granted.
    let c = Draft::fiktionsbescheinigung(&f)
        .map(|d| text_of(&d, "begruendung"))
        .unwrap_or_default();
    assert!(
        c.contains("am 03.11.2026 abgelaufen") && c.contains("03.08.2026"),
        "{c}"
    );
    if let Some(p) = f.frist.as_mut() {
        p.ende = Some(date(2027, 1, 4));
        p.verlaengert = Some((date(2026, 11, 3), "Gutachten steht aus.".into()));
    }
    assert!(matches!(
        Draft::fiktionsbescheinigung(&f),
        Err(LetterError::Input(_))
    ));
    let d = Draft::fristverlaengerung(&f)
        .map(|d| text_of(&d, "tenor"))
        .unwrap_or_default();
    assert!(
        d.contains("über den 03.11.2026 hinaus") && d.contains("endet nun am 04.01.2027"),
        "{d}"
    );
    // A Fachfrist without a fiction has no certificate.
    let mut g = facts("NW", "GEW");
    g.frist = Some(period(
        ClockKind::Fachfrist,
        "drei Tagen",
        "§ 15 Abs. 1 GewO",
        true,
    ));
    if let Some(p) = g.frist.as_mut() {
        p.ende = Some(date(2026, 11, 5));
    }
    assert!(matches!(
        Draft::fiktionsbescheinigung(&g),
        Err(LetterError::Input(_))
    ));
}

/// The shipped Rechtsbehelfsbelehrungen cover every Land and case type; the most specific
/// rule wins whatever the file order, and two equally specific rules are refused.
#[test]
fn rechtsbehelf_for_all_sixteen_laender_by_specificity() -> R {
    let town = town()?;
    for land in domain::deadline::LAENDER {
        for code in ["MB", "HST", "BWP", "GEW", "SNB", "MAK"] {
            let rb = town.rechtsbehelf_for(land, code)?;
            assert!(!rb.rechtsgrundlage.is_empty(), "{land}/{code}");
            let expected = match (land, code) {
                ("NW" | "NI", _) => "Klage",
                ("BY", "HST") => "Widerspruch",
                ("BY", _) => "Klage",
                _ => "Widerspruch",
            };
            assert_eq!(rb.art, expected, "{land}/{code}");
        }
    }
    assert!(
        town.rechtsbehelf_for("BY", "HST")?
            .rechtsgrundlage
            .contains("Art. 15")
    );
    // A catch-all first in the file does not beat the Land's own rule.
    let mut t = town.clone();
    let mut catch_all = t.rechtsbehelf[0].clone();
    catch_all.laender = vec!["*".into()];
    catch_all.art = "Widerspruch".into();
    t.rechtsbehelf.insert(0, catch_all.clone());
    assert_eq!(t.rechtsbehelf_for("NW", "GEW")?.art, "Klage");
    // "*" with the case type named is less specific than the Land's rule.
    let mut by_type = catch_all.clone();
    by_type.vorgangsarten = vec!["GEW".into()];
    t.rechtsbehelf.insert(0, by_type);
    assert_eq!(t.rechtsbehelf_for("NW", "GEW")?.art, "Klage");
    // Two rules for NW and all case types: ambiguous.
    let mut twice = t.rechtsbehelf[2].clone();
    twice.art = "Widerspruch".into();
    assert_eq!(twice.laender, vec!["NW".to_owned()]);
    t.rechtsbehelf.push(twice);
    assert!(
        matches!(t.rechtsbehelf_for("NW", "GEW"), Err(LetterError::Config(m)) if m.contains("gleich genau"))
    );
    Ok(())
}
