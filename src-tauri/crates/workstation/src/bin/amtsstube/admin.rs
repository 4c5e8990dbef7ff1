//! Subcommands of the administration: provisioning, users, recovery, audit,
//! portal, outbox, quarantine, cash folder, lock, per-person figures, status,
//! backup and restore.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use store::{ExposeSecret, SecretString};
use workstation::{AppError, BackupSettings, InitOptions, LoginRequest, StoreConfig, Workstation};

use crate::ctx::Ctx;
use crate::{
    AuditCommand, BueroCommand, BundidCommand, EmailCommand, OutboxCommand, PortalCommand,
    SicherungCommand, UserCommand,
};

pub fn init(
    ctx: &mut Ctx,
    admin: &str,
    display_name: String,
    config: StoreConfig,
) -> Result<ExitCode> {
    let admin = domain::UserName::parse(admin)?;
    let password = ctx
        .secrets
        .new_password(&format!("Neues Passwort für {admin}"))?;
    let (mut ws, recovery) = Workstation::init(
        &ctx.dir,
        InitOptions {
            admin,
            admin_display_name: display_name,
            admin_password: password.into(),
            config,
        },
    )?;
    ws.logout();
    let mut out = std::io::stdout().lock();
    writeln!(out, "Datenbestand eingerichtet in {}", ctx.dir.display())?;
    writeln!(out)?;
    writeln!(
        out,
        "WIEDERHERSTELLUNGSSCHLÜSSEL – wird nur dieses eine Mal angezeigt."
    )?;
    writeln!(
        out,
        "Drucken oder notieren Sie ihn und verwahren Sie ihn im Tresor:"
    )?;
    writeln!(out)?;
    writeln!(out, "    {}", recovery.secret_text().expose_secret())?;
    writeln!(out)?;
    writeln!(
        out,
        "Ohne diesen Schlüssel sind die Daten verloren, wenn alle Passwörter vergessen sind."
    )?;
    Ok(ExitCode::SUCCESS)
}

pub fn user(ctx: &mut Ctx, command: UserCommand) -> Result<ExitCode> {
    match command {
        UserCommand::Add {
            username,
            role,
            display_name,
            as_user,
        } => {
            let mut ws = ctx.login(&as_user)?;
            let password = ctx
                .secrets
                .new_password(&format!("Erstpasswort für {username}"))?;
            let display_name = display_name.as_deref().unwrap_or(&username);
            let row = ws.add_user(&username, display_name, role, password)?;
            println!("Benutzer {} ({}) angelegt.", row.username, row.role.label());
        }
        UserCommand::Passwd { username, as_user } => {
            match as_user {
                Some(admin) => {
                    let mut ws = ctx.login(&admin)?;
                    let prompt = format!("Neues Passwort für {username}");
                    let password = ctx.secrets.new_password(&prompt)?;
                    ws.set_password(&username, password)?;
                }
                None => {
                    let mut ws = ctx.login(&username)?;
                    let old = ctx.secrets.read("Bisheriges Passwort bestätigen")?;
                    let password = ctx.secrets.new_password("Neues Passwort")?;
                    ws.change_own_password(old, password)?;
                }
            }
            println!("Passwort für {username} geändert.");
        }
        UserCommand::Remove { username, as_user } => {
            ctx.login(&as_user)?.remove_user(&username)?;
            println!("Benutzer {username} entfernt.");
        }
        UserCommand::List { as_user } => {
            let ws = ctx.login(&as_user)?;
            // The keys of each role, given or waiting (the administration's view).
            let keys: std::collections::BTreeMap<String, Vec<String>> = ws
                .admin_users()
                .map(|us| us.into_iter().map(|u| (u.username, u.keys)).collect())
                .unwrap_or_default();
            for u in ws.list_users()? {
                let state = if u.active { "aktiv" } else { "entfernt" };
                let role = u.role.as_str();
                println!(
                    "{:<20} {role:<16} {state:<8} {}",
                    u.username, u.display_name
                );
                if let Some(k) = keys.get(u.username.as_str()).filter(|k| !k.is_empty()) {
                    println!("{:<20} Schlüssel: {}", "", k.join(" · "));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn recover(ctx: &mut Ctx, user: &str) -> Result<ExitCode> {
    let mut ws = Workstation::open(&ctx.dir)?;
    let key = ctx
        .secrets
        .read("Wiederherstellungsschlüssel (AGE-SECRET-KEY-1…)")?;
    let password = ctx
        .secrets
        .new_password(&format!("Neues Passwort für {user}"))?;
    ws.recover(&key, user, password)?;
    ws.logout();
    println!("Zugang für {user} wiederhergestellt; das neue Passwort gilt ab sofort.");
    Ok(ExitCode::SUCCESS)
}

pub fn audit(ctx: &mut Ctx, command: AuditCommand) -> Result<ExitCode> {
    match command {
        AuditCommand::Verify { as_user } => audit_verify(ctx, &as_user),
        AuditCommand::ZeitstempelDienst {
            adresse,
            zertifikat,
            as_user,
        } => {
            let pem = match &zertifikat {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("Zertifikat {} nicht lesbar", path.display()))?,
                None if adresse.trim().is_empty() => String::new(),
                None => anyhow::bail!(
                    "Bitte das Signaturzertifikat des Dienstes mit --zertifikat angeben."
                ),
            };
            ctx.login(&as_user)?.set_timestamp_service(&adresse, &pem)?;
            if adresse.trim().is_empty() {
                println!("Zeitstempeldienst entfernt.");
            } else {
                println!("Zeitstempeldienst eingerichtet: {}", adresse.trim());
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Zeitstempel { as_user } => {
            match ctx.login(&as_user)?.stamp_audit()? {
                Some(s) => println!(
                    "Zeitstempel erhalten: Eintrag {} bestätigt am {} ({}).",
                    s.seq, s.gen_time, s.service
                ),
                None => println!(
                    "Kein Zeitstempeldienst eingerichtet (amtsstube audit zeitstempel-dienst)."
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn audit_verify(ctx: &mut Ctx, as_user: &str) -> Result<ExitCode> {
    let report = ctx.login(as_user)?.verify_audit()?;
    if report.is_intact() {
        println!("Protokoll unversehrt: {} Einträge geprüft.", report.entries);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Protokoll VERLETZT ({} Einträge geprüft):", report.entries);
    for p in &report.problems {
        println!("  - {p}");
    }
    Ok(ExitCode::from(1))
}

pub fn buero(ctx: &mut Ctx, command: BueroCommand) -> Result<ExitCode> {
    let status = match command {
        BueroCommand::Arbeit(work) => return crate::office::run(ctx, work),
        BueroCommand::Anschliessen {
            server,
            code,
            fingerabdruck,
            name,
            as_user,
        } => ctx
            .login(&as_user)?
            .office_connect(workstation::OfficeConnectRequest {
                server,
                code,
                fingerprint: fingerabdruck,
                name,
            })?,
        BueroCommand::Status { as_user } => ctx.login(&as_user)?.office_status()?,
        BueroCommand::Anmelden { as_user } => {
            let (mut ws, password) = ctx.login_with_password(&as_user)?;
            let r = ws.office_sign_in(password)?;
            println!(
                "Am Rathaus-Server angemeldet als {as_user} ({}), bis {}.",
                r.role.label(),
                r.expires_at
            );
            if r.published_key {
                println!("Benutzerschlüssel erzeugt und veröffentlicht.");
            }
            for k in &r.created {
                println!("Schlüssel angelegt: {k}");
            }
            for g in &r.granted {
                println!("Schlüssel weitergegeben: {g}");
            }
            let holds = if r.holds.is_empty() {
                "keine".to_string()
            } else {
                r.holds.join(", ")
            };
            println!("Lesbar mit dieser Anmeldung: {holds}");
            return Ok(ExitCode::SUCCESS);
        }
    };
    println!("{}", status.message);
    if let Some(id) = &status.workstation {
        println!("Arbeitsplatz: {id}");
    }
    if status.waiting > 0 || status.conflicts > 0 {
        println!(
            "Wartende Schritte: {}, Konflikte: {}",
            status.waiting, status.conflicts
        );
    }
    Ok(match status.state {
        workstation::OfficeState::Verbunden | workstation::OfficeState::Allein => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

pub fn portal(ctx: &mut Ctx, command: PortalCommand) -> Result<ExitCode> {
    match command {
        PortalCommand::Configure { file, as_user } => {
            let json = std::fs::read_to_string(&file)
                .with_context(|| format!("Datei {} nicht lesbar", file.display()))?;
            ctx.login(&as_user)?.configure_portal(&json)?;
            println!("Portal-Verbindung gespeichert (verschlüsselt im Datenbestand).");
        }
        PortalCommand::Interval { seconds, as_user } => {
            ctx.login(&as_user)?.set_poll_interval(seconds)?;
            println!("Abrufintervall: {seconds} Sekunden.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn outbox(ctx: &mut Ctx, command: OutboxCommand) -> Result<ExitCode> {
    match command {
        OutboxCommand::List { failed, as_user } => {
            let items = ctx.login(&as_user)?.outbox(failed)?;
            if items.is_empty() {
                println!("Keine Aufträge.");
            }
            for i in items {
                println!(
                    "{:>6}  {:<8} {:<8} Versuche {:<3} Vorgang {}  {}",
                    i.id,
                    i.kind,
                    i.state,
                    i.attempts,
                    i.ordering_key,
                    // An item that never failed has no error text.
                    i.last_error.unwrap_or_default()
                );
            }
        }
        OutboxCommand::Retry { id, as_user } => {
            ctx.login(&as_user)?.retry_outbox_item(id)?;
            println!("Auftrag {id} wird erneut versucht.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn quarantine(ctx: &mut Ctx, as_user: &str) -> Result<ExitCode> {
    let entries = ctx.login(as_user)?.quarantine()?;
    if entries.is_empty() {
        println!("Die Quarantäne ist leer.");
    }
    for e in entries {
        let state = if e.rejected {
            "abgewiesen"
        } else {
            "Abweisung wartet"
        };
        println!(
            "{}  Vorgang {}  {}  {}",
            e.submission_id, e.fc_case_id, state, e.problems
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn email(ctx: &mut Ctx, command: EmailCommand) -> Result<ExitCode> {
    match command {
        EmailCommand::Einrichten {
            server,
            port,
            verschluesselung,
            benutzer,
            absender,
            absendername,
            ca,
            as_user,
        } => {
            let ca_pem =
                match ca {
                    Some(path) => Some(std::fs::read_to_string(&path).with_context(|| {
                        format!("CA-Zertifikat {} nicht lesbar", path.display())
                    })?),
                    None => None,
                };
            let mut ws = ctx.login(&as_user)?;
            let password = match &benutzer {
                Some(u) => Some(
                    ctx.secrets
                        .read(&format!("Passwort am Mailserver für {u}"))?,
                ),
                None => None,
            };
            let view = ws.set_mail_settings(&workstation::MailSettings {
                host: server,
                port,
                security: verschluesselung,
                user: benutzer,
                password,
                from: absender,
                from_name: absendername,
                ca_pem,
            })?;
            println!(
                "Mailserver {}:{} ({}), Absender {}",
                view.host, view.port, view.security, view.from
            );
            Ok(ExitCode::SUCCESS)
        }
        EmailCommand::Anzeigen { as_user } => {
            let mut ws = ctx.login(&as_user)?;
            match ws.mail_settings()? {
                None => println!("Kein Mailserver eingerichtet: Briefe gehen per Post."),
                Some(v) => println!(
                    "Mailserver {}:{} ({}), Anmeldung: {}, Absender {}",
                    v.host,
                    v.port,
                    v.security,
                    v.user.as_deref().unwrap_or("keine"),
                    v.from
                ),
            }
            match ws.mail_bounce_settings()? {
                None => println!(
                    "Kein Postfach für Rückläufer: nur sofortige Ablehnungen werden erkannt."
                ),
                Some(b) => println!(
                    "Rückläufer aus {} auf {}:{} ({}), Anmeldung: {}",
                    b.folder, b.host, b.port, b.security, b.user
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        EmailCommand::Testen { as_user } => {
            let check = ctx.login(&as_user)?.mail_check()?;
            println!("{}", check.run()?);
            Ok(ExitCode::SUCCESS)
        }
        EmailCommand::Entfernen { as_user } => {
            ctx.login(&as_user)?.remove_mail_settings()?;
            println!("Mailserver entfernt: Briefe gehen per Post.");
            Ok(ExitCode::SUCCESS)
        }
        EmailCommand::Postfach {
            server,
            port,
            verschluesselung,
            benutzer,
            ordner,
            testen,
            entfernen,
            as_user,
        } => {
            let mut ws = ctx.login(&as_user)?;
            if entfernen {
                ws.remove_mail_bounce_settings()?;
                println!("Postfach entfernt: nur sofortige Ablehnungen werden erkannt.");
                return Ok(ExitCode::SUCCESS);
            }
            if let (Some(host), Some(user)) = (server, benutzer) {
                let password = ctx
                    .secrets
                    .read(&format!("Passwort am Postfach für {user}"))?;
                let view = ws.set_mail_bounce_settings(&workstation::BounceSettings {
                    host,
                    port,
                    security: verschluesselung,
                    user,
                    password: Some(password),
                    folder: ordner,
                })?;
                println!(
                    "Rückläufer werden aus {} auf {}:{} ({}) gelesen.",
                    view.folder, view.host, view.port, view.security
                );
            }
            if testen {
                println!("{}", ws.mail_bounce_check()?.run()?);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn bundid(ctx: &mut Ctx, command: BundidCommand) -> Result<ExitCode> {
    let show = |v: &workstation::BundIdSettingsView| {
        println!(
            "BundID-Postfach über Brückendienst {}, signiert als „{}“ (Zertifikat gültig bis {}), Vertrauensniveau {}",
            v.bridge_destination_id, v.signer, v.valid_until, v.level
        )
    };
    match command {
        BundidCommand::Einrichten {
            bruecke,
            schluessel,
            zertifikat,
            vertrauensniveau,
            as_user,
        } => {
            let key_pem = std::fs::read_to_string(&schluessel)
                .with_context(|| format!("Schlüssel {} nicht lesbar", schluessel.display()))?;
            let cert_pem = std::fs::read_to_string(&zertifikat)
                .with_context(|| format!("Zertifikat {} nicht lesbar", zertifikat.display()))?;
            let view = ctx
                .login(&as_user)?
                .set_bundid_settings(&workstation::BundIdSettings {
                    bridge_destination_id: bruecke,
                    key_pem,
                    cert_pem,
                    level: Some(vertrauensniveau),
                })?;
            show(&view);
            Ok(ExitCode::SUCCESS)
        }
        BundidCommand::Anzeigen { as_user } => {
            match ctx.login(&as_user)?.bundid_settings()? {
                None => println!("BundID-Postfach nicht eingerichtet: Briefe gehen per Post."),
                Some(v) => show(&v),
            }
            Ok(ExitCode::SUCCESS)
        }
        BundidCommand::Entfernen { as_user } => {
            ctx.login(&as_user)?.remove_bundid_settings()?;
            println!("BundID-Einstellungen entfernt: Briefe gehen per Post.");
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn hkr_folder(ctx: &mut Ctx, folder: &Path, as_user: &str) -> Result<ExitCode> {
    ctx.login(as_user)?
        .set_hkr_folder(&folder.to_string_lossy())?;
    println!("Kassenordner: {}", folder.display());
    Ok(ExitCode::SUCCESS)
}

pub fn lock_after(ctx: &mut Ctx, seconds: u32, as_user: &str) -> Result<ExitCode> {
    ctx.login(as_user)?.set_lock_after(seconds)?;
    println!("Bildschirmsperre nach {seconds} Sekunden ohne Eingabe.");
    Ok(ExitCode::SUCCESS)
}

pub fn person_reports(ctx: &mut Ctx, switch: &str, as_user: &str) -> Result<ExitCode> {
    let on = match switch {
        "an" => true,
        "aus" => false,
        _ => return Err(AppError::invalid("an oder aus angeben.").into()),
    };
    ctx.login(as_user)?.set_person_reports(on)?;
    println!("Personenbezogene Kennzahlen: {switch}");
    Ok(ExitCode::SUCCESS)
}

pub fn status(ctx: &mut Ctx, as_user: Option<String>) -> Result<ExitCode> {
    let mut ws = Workstation::open(&ctx.dir)?;
    if let Some(user) = as_user {
        let password = ctx.secrets.read(&format!("Passwort für {user}"))?;
        ws.login(LoginRequest {
            username: user,
            password,
        })?;
    }
    let status = ws.status();
    ws.logout();
    println!("Datenverzeichnis: {}", status.data_dir);
    let state = if status.unlocked {
        "entsperrt"
    } else {
        "gesperrt"
    };
    println!("Zustand:          {state}");
    if let (Some(v), Some(l)) = (status.schema_version, status.latest_schema_version) {
        println!("Schemaversion:    {v} (aktuell {l})");
    }
    Ok(ExitCode::SUCCESS)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

pub fn backup(ctx: &mut Ctx, command: SicherungCommand) -> Result<ExitCode> {
    match command {
        SicherungCommand::Erstellen { ziel, as_user } => {
            let mut ws = ctx.login(&as_user)?;
            // The chain's head time-stamped first, if a service is set up.
            if let Some(job) = ws.prepare_stamp()? {
                let response = job.fetch();
                match ws.finish_stamp(job, response) {
                    Ok(s) => println!(
                        "Zeitstempel: Eintrag {} bestätigt am {}.",
                        s.seq, s.gen_time
                    ),
                    Err(e) => eprintln!("WARNUNG: Kein Zeitstempel zur Sicherung: {}", e.message),
                }
            }
            let prepared = ws.prepare_backup(true, ziel)?;
            println!("Sicherung nach {} …", prepared.target().display());
            let mut shown = 0u64;
            let result = prepared.run(&mut |done, total| {
                // One line per tenth, so a long backup shows that it moves.
                let tenth = (done * 10).checked_div(total).unwrap_or(10);
                if tenth > shown {
                    shown = tenth;
                    eprintln!("  {} %", tenth * 10);
                }
            });
            let written = ws.finish_backup(result)?;
            let cases = if written.manifest.cases_counted {
                format!("{} Vorgänge", written.manifest.cases)
            } else {
                "Vorgänge verschlüsselt mitgesichert".to_owned()
            };
            println!(
                "Sicherung geschrieben und zurückgelesen: {} ({}, {cases}, {} Dokumente).",
                written.path.display(),
                megabytes(written.bytes),
                written.manifest.documents
            );
            for old in &written.removed {
                println!("Ältere Sicherung entfernt: {}", old.display());
            }
        }
        SicherungCommand::Ordner {
            pfad,
            behalten,
            stunden,
            warnen_nach_tagen,
            as_user,
        } => {
            ctx.login(&as_user)?.set_backup_settings(BackupSettings {
                folder: pfad.display().to_string(),
                keep: behalten,
                interval_hours: stunden,
                warn_after_days: warnen_nach_tagen,
            })?;
            println!(
                "Sicherungsordner: {} (alle {stunden} Stunden, die neuesten {behalten} bleiben, Warnung nach {warnen_nach_tagen} Tagen).",
                pfad.display()
            );
        }
        SicherungCommand::Einrichten { as_user } => {
            let mut ws = ctx.login(&as_user)?;
            let key = ctx
                .secrets
                .read("Wiederherstellungsschlüssel (AGE-SECRET-KEY-1…)")?;
            ws.setup_backup_key(SecretString::from(key))?;
            println!(
                "Sicherungen werden ab jetzt für den Wiederherstellungsschlüssel verschlüsselt."
            );
        }
        SicherungCommand::Status { as_user } => {
            let status = ctx.login(&as_user)?.backup_status()?;
            match &status.settings {
                Some(s) => println!(
                    "Ordner:        {} (alle {} Stunden, {} bleiben)",
                    s.folder, s.interval_hours, s.keep
                ),
                None => println!("Ordner:        nicht eingerichtet"),
            }
            println!(
                "Schlüssel:     {}",
                if status.key_ready {
                    "eingerichtet"
                } else {
                    "fehlt (amtsstube sicherung einrichten)"
                }
            );
            match (&status.last_good, &status.last_file) {
                (Some(at), Some(file)) => println!("Letzte:        {at}  {file}"),
                _ => println!("Letzte:        keine"),
            }
            if let Some(e) = &status.last_error {
                println!("Fehlschlag:    {e}");
            }
            if let Some(w) = &status.warning {
                println!("Warnung:       {w}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn restore(ctx: &mut Ctx, archive: &Path) -> Result<ExitCode> {
    let key = ctx
        .secrets
        .read("Wiederherstellungsschlüssel (AGE-SECRET-KEY-1…)")?;
    println!(
        "Stelle {} nach {} wieder her …",
        archive.display(),
        ctx.dir.display()
    );
    let summary = workstation::backup::restore(archive, &SecretString::from(key), &ctx.dir)?;
    let cases = summary.cases.map_or_else(
        || "Vorgänge verschlüsselt".to_owned(),
        |n| format!("{n} Vorgänge"),
    );
    println!(
        "Wiederhergestellt: Stand {}, {cases}, {} Dokumente, Konfiguration: {}.",
        summary.created_at,
        summary.documents,
        if summary.configuration.is_empty() {
            "keine".to_owned()
        } else {
            summary.configuration.join(", ")
        }
    );
    if summary.audit_intact {
        println!(
            "Protokoll unversehrt. Alle Benutzer melden sich mit ihrem bisherigen Passwort an."
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "WARNUNG: Das Protokoll der Sicherung ist nicht unversehrt (amtsstube audit verify)."
        );
        Ok(ExitCode::from(1))
    }
}
