//! Subcommands of the scanning desk (and the Leitung's destruction release).

use std::process::ExitCode;

use anyhow::Result;
use workstation::{BatchRequest, ScanApproveRequest};

use crate::ctx::{Ctx, write_file};
use crate::{ApproveArgs, ScanCommand};

pub fn run(ctx: &mut Ctx, command: ScanCommand) -> Result<ExitCode> {
    match command {
        ScanCommand::Ordner { ordner, as_user } => {
            ctx.login(&as_user)?.scan_set_folder(&ordner)?;
            println!("Eingangsordner: {}", ordner.display());
        }
        ScanCommand::Stapel {
            klasse,
            karton,
            seiten,
            kennzeichen,
            as_user,
        } => {
            let request = BatchRequest {
                class: klasse,
                r#box: karton,
                expected_pages: seiten,
                flags: kennzeichen,
            };
            let b = ctx.login(&as_user)?.scan_batch_create(&request)?;
            println!("Stapel {} angelegt ({}), id {}.", b.number, b.class, b.id);
        }
        ScanCommand::Einlesen {
            ordner,
            stabil,
            warten,
            as_user,
        } => intake(ctx, &ordner, stabil, warten, &as_user)?,
        ScanCommand::Liste { as_user } => queue(ctx, &as_user)?,
        ScanCommand::Freigeben(args) => approve(ctx, args)?,
        ScanCommand::Trennblaetter { id, as_user } => separators(ctx, &id, &as_user)?,
        ScanCommand::Teilen {
            id,
            ab,
            trennblaetter,
            as_user,
        } => split(ctx, &id, &ab, &trennblaetter, &as_user)?,
        ScanCommand::Ablehnen { id, grund, as_user } => {
            ctx.login(&as_user)?.scan_reject(&id, &grund)?;
            println!("Abgelehnt: bitte neu scannen.");
        }
        ScanCommand::Verify {
            aktenzeichen,
            as_user,
        } => match ctx.login(&as_user)?.scan_verify(&aktenzeichen) {
            Ok(msg) => println!("{msg}"),
            Err(e) => {
                eprintln!("MANIPULATION ODER FEHLER: {}", e.message);
                return Ok(ExitCode::from(1));
            }
        },
        other => return batch_command(ctx, other),
    }
    Ok(ExitCode::SUCCESS)
}

/// The batch and destruction subcommands (scanning desk and Leitung).
fn batch_command(ctx: &mut Ctx, command: ScanCommand) -> Result<ExitCode> {
    match command {
        ScanCommand::Stapelliste { as_user } => batches(ctx, &as_user)?,
        ScanCommand::Abschliessen { stapel, as_user } => {
            ctx.login(&as_user)?.scan_batch_close(&stapel)?;
            println!("Stapel abgeschlossen.");
        }
        ScanCommand::Vernichtungsfreigabe { stapel, as_user } => {
            ctx.login(&as_user)?.scan_release(&stapel)?;
            println!("Das Papier des Stapels ist zur Vernichtung freigegeben.");
        }
        ScanCommand::Freigabeliste { datei, as_user } => {
            write_file(&datei, ctx.login(&as_user)?.scan_release_list_pdf()?)?;
            println!("Freigabeliste: {}", datei.display());
        }
        ScanCommand::TrennblattPdf {
            datei,
            anzahl,
            as_user,
        } => {
            let pdf = ctx.login(&as_user)?.scan_separator_sheets_pdf(anzahl)?;
            write_file(&datei, pdf)?;
            println!(
                "{anzahl} Trennblätter: {} (ohne Skalierung drucken)",
                datei.display()
            );
        }
        ScanCommand::Vernichtet {
            stapel,
            wie,
            as_user,
        } => {
            ctx.login(&as_user)?.scan_destroyed(&stapel, &wie)?;
            println!("Vernichtung vermerkt.");
        }
        _ => unreachable!("nur Stapel-Befehle"),
    }
    Ok(ExitCode::SUCCESS)
}

fn batches(ctx: &mut Ctx, as_user: &str) -> Result<()> {
    for b in ctx.login(as_user)?.scan_batches()? {
        let obstacles = if b.obstacles.is_empty() {
            "keine Hindernisse".to_owned()
        } else {
            b.obstacles.join(" ")
        };
        println!(
            "{}  {}  {}  Karton {}  {}/{} Seiten  {} von {} geprüft  {obstacles}",
            b.id,
            b.number,
            b.state,
            b.r#box,
            b.pages_captured,
            b.expected_pages,
            b.products_checked,
            b.products,
        );
    }
    Ok(())
}

fn queue(ctx: &mut Ctx, as_user: &str) -> Result<()> {
    for p in ctx.login(as_user)?.scan_queue()? {
        let check = if p.full_check {
            "Sichtprüfung"
        } else {
            "Stichprobe: nein"
        };
        let four_eyes = if p.four_eyes { ", Vier-Augen" } else { "" };
        println!(
            "{}  {}  {} Seite(n)  eingelesen {} von {}  Stapel {}  {check}{four_eyes}",
            p.id,
            p.name,
            p.pages,
            p.received_at,
            p.scan_user,
            p.batch.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}

fn separators(ctx: &mut Ctx, id: &str, as_user: &str) -> Result<()> {
    let found = ctx.login(as_user)?.scan_separators(id)?;
    if found.is_empty() {
        println!("Keine Trennblätter gefunden.");
        return Ok(());
    }
    let pages: Vec<String> = found.iter().map(u32::to_string).collect();
    println!(
        "Trennblätter auf Seite {} (aufteilen mit: amtsstube scan teilen {id} --trennblaetter {})",
        pages.join(", "),
        pages.join(",")
    );
    Ok(())
}

fn intake(
    ctx: &mut Ctx,
    folder: &std::path::Path,
    stable: u64,
    wait: u64,
    as_user: &str,
) -> Result<()> {
    let results = ctx.login(as_user)?.scan_intake(
        folder,
        std::time::Duration::from_secs(stable),
        std::time::Duration::from_secs(wait),
    )?;
    for r in &results {
        println!("{:<11} {}  {}", r.result, r.name, r.detail);
    }
    println!("{} Datei(en) bearbeitet.", results.len());
    Ok(())
}

fn split(ctx: &mut Ctx, id: &str, at: &[u32], separators: &[u32], as_user: &str) -> Result<()> {
    let mut ws = ctx.login(as_user)?;
    let parts = if separators.is_empty() {
        ws.scan_split(id, at)?
    } else {
        ws.scan_split_separators(id, separators)?
    };
    println!("In {} Dokumente aufgeteilt:", parts.len());
    for p in parts {
        println!("  {}  {}  {} Seite(n)", p.id, p.name, p.pages);
    }
    Ok(())
}

fn approve(ctx: &mut Ctx, args: ApproveArgs) -> Result<()> {
    let request = ScanApproveRequest {
        product_id: args.id,
        case_type_code: args.vorgangsart,
        applicant: args.antragsteller,
        note: args.vermerk,
        checklist: args.geprueft,
    };
    let az = ctx.login(&args.as_user)?.scan_approve(&request)?;
    println!("Geprüft, versiegelt, Vorgang {az} angelegt (TR-RESISCAN).");
    Ok(())
}
