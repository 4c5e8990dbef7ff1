//! `amtsstube buero …`: working on the Rathaus-Server's record from this desk.

use std::process::ExitCode;

use anyhow::{Result, bail};
use domain::Decision;
use office::Step;
use workstation::ErrorCode;

use crate::OfficeWork;
use crate::ctx::{Ctx, LoggedIn};

/// Log in here and at the server; without the server the desk works offline on
/// its replica (a wrong password at the server still stops).
fn signed_in(ctx: &mut Ctx, user: &str) -> Result<LoggedIn> {
    let (mut ws, password) = ctx.login_with_password(user)?;
    match ws.office_sign_in(password) {
        Ok(_) => {}
        Err(e) if e.code == ErrorCode::Storage => {
            eprintln!("{} Es wird ohne Server gearbeitet.", e.message);
        }
        Err(e) => return Err(e.into()),
    }
    Ok(ws)
}

fn step_of(name: &str, frist: Option<String>, an: Option<String>) -> Result<Step> {
    Ok(match name {
        "pruefen" => Step::PruefungBeginnen,
        "nachfordern" => Step::Nachfordern {
            frist: frist
                .ok_or_else(|| anyhow::anyhow!("„nachfordern“ braucht --frist JJJJ-MM-TT."))?,
        },
        "nachgereicht" => Step::NachreichungEingegangen,
        "vollstaendig" => Step::Vollstaendig,
        "bewilligen" => Step::Entscheiden {
            ergebnis: Decision::Bewilligt,
        },
        "ablehnen" => Step::Entscheiden {
            ergebnis: Decision::Abgelehnt,
        },
        "teilweise" => Step::Entscheiden {
            ergebnis: Decision::TeilweiseBewilligt,
        },
        "abschliessen" => Step::Abschliessen,
        "zurueckziehen" => Step::Zurueckziehen,
        "weiterleiten" => Step::Weiterleiten {
            an: an.ok_or_else(|| anyhow::anyhow!("„weiterleiten“ braucht --an BEHÖRDE."))?,
        },
        other => bail!(
            "Unbekannter Schritt „{other}“ (pruefen, nachfordern, nachgereicht, vollstaendig, bewilligen, ablehnen, teilweise, abschliessen, zurueckziehen, weiterleiten)."
        ),
    })
}

/// Send what waits and read what is new; report both.
fn sync(ws: &mut LoggedIn) -> Result<()> {
    if !ws.office_signed_in() {
        println!("Nicht am Rathaus-Server angemeldet: Der Schritt wartet an diesem Arbeitsplatz.");
        return Ok(());
    }
    let s = ws.office_sync()?;
    if !s.reachable {
        println!(
            "Rathaus-Server nicht erreichbar: {} Schritt(e) warten an diesem Arbeitsplatz.",
            s.waiting
        );
        return Ok(());
    }
    println!(
        "Abgeglichen: {} übernommen, {} abgelehnt, {} Änderung(en) empfangen, {} wartend, {} Konflikt(e).",
        s.applied, s.refused, s.received, s.waiting, s.conflicts
    );
    Ok(())
}

pub fn run(ctx: &mut Ctx, command: OfficeWork) -> Result<ExitCode> {
    match command {
        OfficeWork::Abgleichen { as_user } => {
            let mut ws = signed_in(ctx, &as_user)?;
            sync(&mut ws)?;
        }
        OfficeWork::Vorgaenge { as_user } => {
            let mut ws = signed_in(ctx, &as_user)?;
            for c in ws.office_cases()? {
                let waiting = if c.waiting > 0 {
                    format!("  ({} Schritt(e) wartend)", c.waiting)
                } else {
                    String::new()
                };
                println!(
                    "{}\t{}\t{}\t{}{waiting}",
                    c.file_number,
                    c.case_type,
                    c.state.label(),
                    c.assignee.as_deref().unwrap_or("–")
                );
            }
        }
        OfficeWork::Vorgang {
            aktenzeichen,
            as_user,
        } => {
            let mut ws = signed_in(ctx, &as_user)?;
            let d = ws.office_case(&aktenzeichen)?;
            println!("Aktenzeichen: {}", d.case.file_number);
            println!("Vorgangsart:  {} ({})", d.case.case_type, d.channel);
            println!("Stand:        {}", d.case.state.label());
            println!(
                "Zuständig:    {}",
                d.case.assignee.as_deref().unwrap_or("–")
            );
            println!("Eingang:      {}", d.received_at);
            if let Some(a) = &d.applicant {
                println!("Antragsteller/in: {a}");
            }
            if let Some(s) = &d.service {
                println!("Leistung:     {s}");
            }
            for doc in &d.documents {
                println!(
                    "Dokument:     {} ({}, {} Bytes)",
                    doc.filename.as_deref().unwrap_or(&doc.kind),
                    doc.mime_type,
                    doc.size
                );
            }
            for e in &d.history {
                let to = e.to_state.map(|s| s.label()).unwrap_or("");
                println!("Verlauf:      {} {} {} {to}", e.at, e.actor, e.kind);
            }
            if ws.office_signed_in() && !d.documents.is_empty() {
                let docs = ws.office_documents(&aktenzeichen)?;
                let bytes: usize = docs.iter().map(|d| d.bytes.len()).sum();
                println!(
                    "{} Dokument(e) vom Rathaus-Server geöffnet ({bytes} Bytes).",
                    docs.len()
                );
            }
        }
        OfficeWork::Schritt {
            aktenzeichen,
            schritt,
            begruendung,
            frist,
            an,
            as_user,
        } => {
            let step = step_of(&schritt, frist, an)?;
            let mut ws = signed_in(ctx, &as_user)?;
            ws.office_step(&aktenzeichen, step, begruendung.as_deref())?;
            println!("Schritt „{schritt}“ für {aktenzeichen} gespeichert.");
            sync(&mut ws)?;
        }
        OfficeWork::Papiereingang {
            art,
            antragsteller,
            as_user,
        } => {
            let mut ws = signed_in(ctx, &as_user)?;
            let az = ws.office_paper_case(&art, &antragsteller)?;
            println!("Papiereingang als {az} angelegt.");
            sync(&mut ws)?;
        }
        OfficeWork::Notiz {
            aktenzeichen,
            text,
            as_user,
        } => {
            let mut ws = signed_in(ctx, &as_user)?;
            ws.office_note(&aktenzeichen, &text)?;
            println!("Notiz zu {aktenzeichen} gespeichert.");
            sync(&mut ws)?;
        }
        OfficeWork::Brief {
            aktenzeichen,
            art,
            kanal,
            as_user,
        } => {
            let kind: workstation::LetterKind =
                serde_json::from_value(serde_json::Value::String(art.clone())).map_err(|_| {
                    workstation::AppError::invalid(format!(
                        "Unbekannte Briefart „{art}“ (eingangsbestaetigung, nachforderung, bescheid, gebuehrenbescheid)."
                    ))
                })?;
            let mut ws = signed_in(ctx, &as_user)?;
            let letter = ws.office_letter(&workstation::LetterRequest {
                case_id: aktenzeichen.clone(),
                kind,
                fees: Vec::new(),
                edits: Vec::new(),
                kanal,
            })?;
            println!(
                "Brief {} zu {aktenzeichen} erstellt{}{}.",
                letter.filename,
                letter
                    .kassenzeichen
                    .as_deref()
                    .map(|k| format!(", Kassenzeichen {k}"))
                    .unwrap_or_default(),
                if letter.sends.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; der Rathaus-Server versendet: {}",
                        letter.sends.join(", ")
                    )
                }
            );
            sync(&mut ws)?;
        }
        OfficeWork::Uebernehmen { as_user } => {
            let mut ws = signed_in(ctx, &as_user)?;
            let r = ws.office_take_over(|done, total| {
                if done == total || done % 100 == 0 {
                    eprintln!("{done} von {total} Vorgängen übernommen …");
                }
            })?;
            println!(
                "Übernommen: {} Vorgänge ({} neu am Rathaus-Server), {} Verlaufseinträge und Notizen, {} Dokumente, {} Protokolleinträge.",
                r.cases, r.new_cases, r.events, r.documents, r.audit
            );
            sync(&mut ws)?;
        }
        OfficeWork::Konflikte { as_user } => {
            let mut ws = signed_in(ctx, &as_user)?;
            let list = ws.office_conflicts()?;
            if list.is_empty() {
                println!("Keine Konflikte.");
            }
            for c in list {
                let now = c
                    .state_now
                    .map(|s| s.label())
                    .unwrap_or("nicht mehr sichtbar");
                println!(
                    "Nr. {}\t{}\t{}\t{} (jetzt: {now})",
                    c.seq, c.file_number, c.what, c.reason
                );
            }
        }
        OfficeWork::KonfliktWiederholen { nummer, as_user } => {
            let mut ws = signed_in(ctx, &as_user)?;
            ws.office_conflict_redo(nummer)?;
            println!("Konflikt Nr. {nummer}: Schritt auf dem jetzigen Stand wiederholt.");
            sync(&mut ws)?;
        }
        OfficeWork::KonfliktErledigt { nummer, as_user } => {
            let mut ws = signed_in(ctx, &as_user)?;
            ws.office_conflict_done(nummer)?;
            println!("Konflikt Nr. {nummer} erledigt.");
        }
    }
    Ok(ExitCode::SUCCESS)
}
