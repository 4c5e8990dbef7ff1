//! Subcommands of the daily work: synchronisation, letters, figures, demo data.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use workstation::{AppError, LetterKind, LetterRequest, ReportRequest};

use crate::ReportArgs;
use crate::ctx::{Ctx, write_file};

pub fn sync(ctx: &mut Ctx, as_user: &str) -> Result<ExitCode> {
    let s = ctx.login(as_user)?.sync_now()?;
    println!(
        "Verbindung: {} – {} neue Anträge, {} Nachreichungen, {} in Quarantäne, {} Meldungen zugestellt, {} wartend, {} fehlgeschlagen.",
        s.connectivity, s.new_cases, s.follow_ups, s.quarantined, s.delivered, s.pending, s.failed
    );
    if let Some(p) = s.problem {
        println!("Hinweis: {p}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn letter(
    ctx: &mut Ctx,
    aktenzeichen: &str,
    art: &str,
    kanal: String,
    preview: Option<PathBuf>,
    as_user: &str,
) -> Result<ExitCode> {
    let kind: LetterKind = serde_json::from_value(serde_json::Value::String(art.to_owned()))
        .map_err(|_| {
            AppError::invalid(format!(
                "Unbekannte Briefart „{art}“ (eingangsbestaetigung, nachforderung, bescheid, gebuehrenbescheid)."
            ))
        })?;
    let mut ws = ctx.login(as_user)?;
    let case_id = ws.case_id_by_file_number(aktenzeichen)?;
    let req = LetterRequest {
        case_id,
        kind,
        fees: Vec::new(),
        edits: Vec::new(),
        kanal,
    };
    match preview {
        Some(path) => {
            write_file(&path, ws.letter_preview(&req)?)?;
            println!("Vorschau: {}", path.display());
        }
        None => {
            let detail = ws.send_letter(&req)?;
            println!(
                "{} {}: versandt über {} ({}).",
                kind.title(),
                aktenzeichen,
                req.kanal,
                detail.state_label
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn report(ctx: &mut Ctx, out: ReportArgs) -> Result<ExitCode> {
    let req = ReportRequest {
        from: out.von,
        until: out.bis,
        case_type: out.vorgangsart,
        channel: None,
    };
    let ws = ctx.login(&out.as_user)?;
    let report = ws.report(&req)?;
    if let Some(path) = out.csv {
        write_file(&path, ws.report_csv(&req)?)?;
        println!("CSV: {}", path.display());
    }
    if let Some(path) = out.pdf {
        write_file(&path, ws.report_pdf(&req)?)?;
        println!("PDF: {}", path.display());
    }
    if out.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let c = &report.total.current;
    let f = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "–".into());
    println!("Zeitraum {} bis {}", report.from, report.until);
    println!(
        "Eingänge {}, entschieden {}, versandt {}",
        c.arrivals, c.decided, c.dispatched
    );
    println!(
        "Durchlaufzeit Eingang–Entscheidung: Median {} Tage, P90 {} Tage",
        f(c.arrival_to_decision.median_days),
        f(c.arrival_to_decision.p90_days)
    );
    println!(
        "Offen {}, davon über 3 Monate {}; Frist bald fällig {}, überschritten {}",
        report.total.backlog.open,
        report.total.backlog.by_age[3],
        report.total.backlog.due_soon,
        report.total.backlog.overdue
    );
    Ok(ExitCode::SUCCESS)
}

pub fn demo_history(
    ctx: &mut Ctx,
    as_user: &str,
    count: usize,
    colleagues: &[String],
) -> Result<ExitCode> {
    let mut ws = ctx.login(as_user)?;
    let n = workstation::demo::demo_history(&mut ws, count, 2026, colleagues)?;
    println!("{n} Vorgänge mit einem Jahr Verlauf übernommen.");
    Ok(ExitCode::SUCCESS)
}

pub fn demo_spread(ctx: &mut Ctx, as_user: &str, colleagues: &[String]) -> Result<ExitCode> {
    let mut ws = ctx.login(as_user)?;
    let n = workstation::demo::spread_states(&mut ws, colleagues)?;
    println!("{n} Vorgänge auf Bearbeitungsstände verteilt.");
    Ok(ExitCode::SUCCESS)
}
