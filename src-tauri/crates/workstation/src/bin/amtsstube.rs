//! `amtsstube` – headless administration of a workstation's data directory.
//!
//! Passwords are read from the terminal without echo, or line by line from
//! standard input when it is not a terminal (for scripts: one secret per line,
//! in the order the command asks for them).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use domain::Role;
use store::ExposeSecret;
use workstation::{InitOptions, LoginRequest, StoreConfig, Workstation, paths};

#[derive(Parser)]
#[command(
    name = "amtsstube",
    version,
    about = "Amtsstube – Verwaltung der Arbeitsstation ohne Oberfläche"
)]
struct Cli {
    /// Datenverzeichnis (Standard: $AMTSSTUBE_DATA_DIR oder ~/.local/share/amtsstube)
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Datenbestand neu einrichten (erster Administrationszugang, Wiederherstellungsschlüssel)
    Init {
        /// Benutzername des ersten Administrationszugangs
        #[arg(long, default_value = "admin")]
        admin: String,
        /// Anzeigename
        #[arg(long, default_value = "Administration")]
        display_name: String,
        /// Fehlversuche bis zur Sperre
        #[arg(long, default_value_t = StoreConfig::default().max_failed_attempts)]
        max_failed_attempts: u32,
        /// Dauer der Sperre in Sekunden
        #[arg(long, default_value_t = StoreConfig::default().lockout_seconds)]
        lockout_seconds: u64,
        /// scrypt-Aufwand (2^n) der Schlüsseldateien
        #[arg(long, default_value_t = StoreConfig::default().scrypt_log_n)]
        scrypt_log_n: u8,
    },
    /// Benutzer verwalten
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Zugang mit dem Wiederherstellungsschlüssel zurückgewinnen (setzt ein neues Passwort)
    Recover {
        /// Benutzer, dessen Passwort neu gesetzt wird
        #[arg(long, default_value = "admin")]
        user: String,
    },
    /// Protokoll prüfen
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Portal-Verbindung (FIT-Connect) verwalten
    Portal {
        #[command(subcommand)]
        command: PortalCommand,
    },
    /// Ausgangskorb einsehen und fehlgeschlagene Aufträge erneut versuchen (Administration)
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Quarantäne: als fehlerhaft abgewiesene Einreichungen (Administration)
    Quarantine {
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Jetzt synchronisieren: neue Anträge abholen, Ausgangskorb zustellen
    Sync {
        #[arg(long = "as")]
        as_user: String,
    },
    /// Kassenanbindung (HKR): Austauschordner für Annahmeanordnungen (Administration)
    Kasse {
        #[command(subcommand)]
        command: KasseCommand,
    },
    /// Brief eines Vorgangs erzeugen und versenden (Postfach oder Post), mit Gebührenbuchung
    Brief {
        /// Aktenzeichen des Vorgangs
        aktenzeichen: String,
        /// eingangsbestaetigung, nachforderung, bescheid oder gebuehrenbescheid
        #[arg(long, default_value = "bescheid")]
        art: String,
        /// postfach oder post
        #[arg(long, default_value = "postfach")]
        kanal: String,
        /// PDF nur erzeugen und in diese Datei schreiben (Vorschau; nichts wird versandt)
        #[arg(long)]
        vorschau: Option<PathBuf>,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Kennzahlen für die Leitung: Durchlaufzeiten, Rückstand, Fristrisiko (Zeitraum, optional als CSV oder JSON)
    Bericht {
        /// Erster Tag (JJJJ-MM-TT)
        #[arg(long)]
        von: String,
        /// Letzter Tag (JJJJ-MM-TT)
        #[arg(long)]
        bis: String,
        /// Nur diese Vorgangsart (Name)
        #[arg(long)]
        vorgangsart: Option<String>,
        /// CSV (Semikolon, UTF-8 mit BOM) in diese Datei schreiben
        #[arg(long)]
        csv: Option<PathBuf>,
        /// PDF-Bericht für den Rat in diese Datei schreiben
        #[arg(long)]
        pdf: Option<PathBuf>,
        /// Den ganzen Bericht als JSON ausgeben
        #[arg(long)]
        json: bool,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Personenbezogene Kennzahlen ein- oder ausschalten (an/aus; nur mit Dienstvereinbarung, Administration)
    #[command(name = "berichte-personen")]
    BerichtePersonen {
        /// an oder aus
        schalter: String,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Nur für Vorführungen: ein Jahr abgeschlossener und laufender Vorgänge mit Verlauf übernehmen
    #[command(name = "demo-historie")]
    DemoHistorie {
        #[arg(long = "as")]
        as_user: String,
        #[arg(long, default_value_t = 600)]
        anzahl: usize,
        /// Sachbearbeitende, denen die Vorgänge gehören
        #[arg(long = "an")]
        colleagues: Vec<String>,
    },
    /// Scanstelle: Eingangsordner einlesen, Qualitätssicherung, Prüfung von Scanprodukten
    Scan {
        #[command(subcommand)]
        command: ScanCommand,
    },
    /// Bildschirmsperre nach Inaktivität in Sekunden (60 bis 3600, Administration)
    Sperre {
        seconds: u32,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Nur für Vorführungen: verteilt die neuen Vorgänge auf alle Bearbeitungsstände
    #[command(name = "demo-verteilen")]
    DemoVerteilen {
        /// Leitung, die verteilt und bearbeitet
        #[arg(long = "as")]
        as_user: String,
        /// Sachbearbeitende, denen Vorgänge zugewiesen werden
        #[arg(long = "an")]
        colleagues: Vec<String>,
    },
    /// Zustand des Datenbestands anzeigen
    Status {
        /// Zusätzlich angemeldet prüfen (Schemaversion)
        #[arg(long = "as")]
        as_user: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Benutzer anlegen (als Administration)
    Add {
        username: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        display_name: Option<String>,
        /// Angemeldet als (Administration)
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Passwort ändern: ohne --as das eigene, mit --as durch die Administration
    Passwd {
        username: String,
        #[arg(long = "as")]
        as_user: Option<String>,
    },
    /// Benutzer entfernen (als Administration)
    Remove {
        username: String,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Benutzer auflisten (als Administration)
    List {
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
}

#[derive(Subcommand)]
enum PortalCommand {
    /// Verbindung aus einer JSON-Datei übernehmen (URLs, Zustellpunkt, Client, Schlüssel)
    Configure {
        #[arg(long)]
        file: PathBuf,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Abrufintervall der Hintergrund-Synchronisation in Sekunden (30 bis 86400)
    Interval {
        seconds: u64,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
}

#[derive(Subcommand)]
enum ScanCommand {
    /// Eingangsordner der App festlegen (die Freigabe des Scanners)
    Ordner {
        ordner: PathBuf,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Stapel anlegen: Dokumentklasse, Karton, erwartete Seitenzahl, Kennzeichen
    Stapel {
        #[arg(long)]
        klasse: String,
        #[arg(long)]
        karton: String,
        #[arg(long)]
        seiten: u32,
        /// kopie, manipulationsverdacht, unvollstaendig (mehrfach möglich)
        #[arg(long)]
        kennzeichen: Vec<String>,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Stapel mit Vollständigkeit und dem, was der Vernichtung entgegensteht
    Stapelliste {
        #[arg(long = "as")]
        as_user: String,
    },
    /// Stapel abschließen (nimmt keine Scans mehr auf)
    Abschliessen {
        stapel: String,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Papier eines Stapels zur Vernichtung freigeben (Leitung; nur wenn alle Bedingungen erfüllt sind)
    Vernichtungsfreigabe {
        stapel: String,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Freigabeliste (PDF) der zur Vernichtung freigegebenen Stapel schreiben
    Freigabeliste {
        #[arg(long)]
        datei: PathBuf,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Trennblätter zum Drucken (PDF): Patchcode und Barcode aus scan.toml
    TrennblattPdf {
        #[arg(long)]
        datei: PathBuf,
        /// Wie viele Blätter (1 bis 100)
        #[arg(long, default_value_t = 10)]
        anzahl: u32,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Vernichtung des freigegebenen Papiers vermerken
    Vernichtet {
        stapel: String,
        #[arg(long)]
        wie: String,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Stabile Dateien aus dem Eingangsordner in den Tresor übernehmen (Fehler nach fehler/)
    Einlesen {
        #[arg(long)]
        ordner: PathBuf,
        /// Sekunden ohne Änderung, bevor eine Datei übernommen wird
        #[arg(long, default_value_t = 5)]
        stabil: u64,
        /// Höchstens so lange auf noch wachsende Dateien warten (Sekunden)
        #[arg(long, default_value_t = 60)]
        warten: u64,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Scanprodukte, die auf die Qualitätssicherung warten
    Liste {
        #[arg(long = "as")]
        as_user: String,
    },
    /// Qualitätssicherung bestanden: Transfervermerk, Siegel und neuer Vorgang
    Freigeben {
        id: String,
        #[arg(long)]
        vorgangsart: String,
        #[arg(long)]
        antragsteller: String,
        #[arg(long)]
        vermerk: Option<String>,
        /// Abgehakte Prüfpunkte: vollstaendig, reihenfolge, lesbar, ausrichtung (mehrfach)
        #[arg(long)]
        geprueft: Vec<String>,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Einen Scan in mehrere Dokumente aufteilen (Seiten bleiben unverändert)
    Teilen {
        id: String,
        /// Erste Seiten der weiteren Dokumente, z. B. --ab 3,7
        #[arg(
            long,
            value_delimiter = ',',
            required_unless_present = "trennblaetter",
            conflicts_with = "trennblaetter"
        )]
        ab: Vec<u32>,
        /// An diesen Trennblättern teilen (die Blätter entfallen), z. B. --trennblaetter 3,6
        #[arg(long, value_delimiter = ',')]
        trennblaetter: Vec<u32>,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Trennblätter (Barcode aus scan.toml, Standard „PATCHT“) in einem Scan suchen
    Trennblaetter {
        id: String,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Qualitätssicherung nicht bestanden (neu scannen)
    Ablehnen {
        id: String,
        #[arg(long)]
        grund: String,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Prüfsumme, Siegel und Transfervermerk eines Vorgangs nachprüfen (Exit-Code 1 bei Manipulation)
    Verify {
        aktenzeichen: String,
        #[arg(long = "as")]
        as_user: String,
    },
}

#[derive(Subcommand)]
enum KasseCommand {
    /// Austauschordner setzen (absoluter Pfad eines vorhandenen Verzeichnisses)
    Ordner {
        pfad: PathBuf,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Aufträge auflisten
    List {
        /// Nur fehlgeschlagene
        #[arg(long)]
        failed: bool,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Fehlgeschlagenen Auftrag erneut in die Warteschlange stellen
    Retry {
        id: i64,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Hash-Kette des Protokolls prüfen; Rückgabewert 1 bei Befund
    Verify {
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| {
        let all: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("unbekannte Rolle „{s}“; erlaubt: {}", all.join(", "))
    })
}

/// Reads secrets from the terminal or, in scripts, line by line from stdin.
struct Secrets {
    tty: bool,
    lines: std::io::StdinLock<'static>,
}

impl Secrets {
    fn new() -> Self {
        Secrets {
            tty: std::io::stdin().is_terminal(),
            lines: std::io::stdin().lock(),
        }
    }

    fn read(&mut self, prompt: &str) -> Result<String> {
        let value = if self.tty {
            rpassword::prompt_password(format!("{prompt}: ")).context("Eingabe nicht lesbar")?
        } else {
            let mut line = String::new();
            let n = self
                .lines
                .read_line(&mut line)
                .context("Eingabe nicht lesbar")?;
            if n == 0 {
                bail!("Eingabe fehlt: {prompt}");
            }
            line.trim_end_matches(['\r', '\n']).to_owned()
        };
        Ok(value)
    }

    fn new_password(&mut self, prompt: &str) -> Result<String> {
        let first = self.read(prompt)?;
        if self.tty {
            let again = self.read("Wiederholen")?;
            if again != first {
                bail!("Die beiden Eingaben stimmen nicht überein.");
            }
        }
        Ok(first)
    }
}

fn login(dir: &std::path::Path, user: &str, secrets: &mut Secrets) -> Result<Workstation> {
    let mut ws = Workstation::open(dir)?;
    let password = secrets.read(&format!("Passwort für {user}"))?;
    ws.login(LoginRequest {
        username: user.to_owned(),
        password,
    })?;
    Ok(ws)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let dir = cli.data_dir.unwrap_or_else(paths::default_data_dir);
    let mut secrets = Secrets::new();
    match cli.command {
        Command::Init {
            admin,
            display_name,
            max_failed_attempts,
            lockout_seconds,
            scrypt_log_n,
        } => {
            let admin = domain::UserName::parse(&admin)?;
            let password = secrets.new_password(&format!("Neues Passwort für {admin}"))?;
            let (mut ws, recovery) = Workstation::init(
                &dir,
                InitOptions {
                    admin,
                    admin_display_name: display_name,
                    admin_password: password.into(),
                    config: StoreConfig {
                        max_failed_attempts,
                        lockout_seconds,
                        scrypt_log_n,
                    },
                },
            )?;
            ws.logout();
            let mut out = std::io::stdout().lock();
            writeln!(out, "Datenbestand eingerichtet in {}", dir.display())?;
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
        }
        Command::User { command } => match command {
            UserCommand::Add {
                username,
                role,
                display_name,
                as_user,
            } => {
                let mut ws = login(&dir, &as_user, &mut secrets)?;
                let password = secrets.new_password(&format!("Erstpasswort für {username}"))?;
                let row = ws.add_user(
                    &username,
                    display_name.as_deref().unwrap_or(&username),
                    role,
                    password,
                )?;
                ws.logout();
                println!("Benutzer {} ({}) angelegt.", row.username, row.role.label());
            }
            UserCommand::Passwd { username, as_user } => {
                match as_user {
                    Some(admin) => {
                        let mut ws = login(&dir, &admin, &mut secrets)?;
                        let password =
                            secrets.new_password(&format!("Neues Passwort für {username}"))?;
                        ws.set_password(&username, password)?;
                        ws.logout();
                    }
                    None => {
                        let mut ws = login(&dir, &username, &mut secrets)?;
                        let old = secrets.read("Bisheriges Passwort bestätigen")?;
                        let password = secrets.new_password("Neues Passwort")?;
                        ws.change_own_password(old, password)?;
                        ws.logout();
                    }
                }
                println!("Passwort für {username} geändert.");
            }
            UserCommand::Remove { username, as_user } => {
                let mut ws = login(&dir, &as_user, &mut secrets)?;
                ws.remove_user(&username)?;
                ws.logout();
                println!("Benutzer {username} entfernt.");
            }
            UserCommand::List { as_user } => {
                let mut ws = login(&dir, &as_user, &mut secrets)?;
                for u in ws.list_users()? {
                    let state = if u.active { "aktiv" } else { "entfernt" };
                    println!(
                        "{:<20} {:<16} {:<8} {}",
                        u.username,
                        u.role.as_str(),
                        state,
                        u.display_name
                    );
                }
                ws.logout();
            }
        },
        Command::Recover { user } => {
            let mut ws = Workstation::open(&dir)?;
            let key = secrets.read("Wiederherstellungsschlüssel (AGE-SECRET-KEY-1…)")?;
            let password = secrets.new_password(&format!("Neues Passwort für {user}"))?;
            ws.recover(&key, &user, password)?;
            ws.logout();
            println!("Zugang für {user} wiederhergestellt; das neue Passwort gilt ab sofort.");
        }
        Command::Audit {
            command: AuditCommand::Verify { as_user },
        } => {
            let mut ws = login(&dir, &as_user, &mut secrets)?;
            let report = ws.verify_audit()?;
            ws.logout();
            if report.is_intact() {
                println!("Protokoll unversehrt: {} Einträge geprüft.", report.entries);
            } else {
                println!("Protokoll VERLETZT ({} Einträge geprüft):", report.entries);
                for p in &report.problems {
                    println!("  - {p}");
                }
                return Ok(ExitCode::from(1));
            }
        }
        Command::Portal {
            command: PortalCommand::Configure { file, as_user },
        } => {
            let json = std::fs::read_to_string(&file)
                .with_context(|| format!("Datei {} nicht lesbar", file.display()))?;
            let mut ws = login(&dir, &as_user, &mut secrets)?;
            ws.configure_portal(&json)?;
            ws.logout();
            println!("Portal-Verbindung gespeichert (verschlüsselt im Datenbestand).");
        }
        Command::Portal {
            command: PortalCommand::Interval { seconds, as_user },
        } => {
            let mut ws = login(&dir, &as_user, &mut secrets)?;
            ws.set_poll_interval(seconds)?;
            ws.logout();
            println!("Abrufintervall: {seconds} Sekunden.");
        }
        Command::Outbox { command } => match command {
            OutboxCommand::List { failed, as_user } => {
                let mut ws = login(&dir, &as_user, &mut secrets)?;
                let items = ws.outbox(failed)?;
                ws.logout();
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
                        i.last_error.unwrap_or_default()
                    );
                }
            }
            OutboxCommand::Retry { id, as_user } => {
                let mut ws = login(&dir, &as_user, &mut secrets)?;
                ws.retry_outbox_item(id)?;
                ws.logout();
                println!("Auftrag {id} wird erneut versucht.");
            }
        },
        Command::Quarantine { as_user } => {
            let mut ws = login(&dir, &as_user, &mut secrets)?;
            let entries = ws.quarantine()?;
            ws.logout();
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
        }
        Command::Sync { as_user } => {
            let mut ws = login(&dir, &as_user, &mut secrets)?;
            let s = ws.sync_now()?;
            ws.logout();
            println!(
                "Verbindung: {} – {} neue Anträge, {} Nachreichungen, {} in Quarantäne, {} Meldungen zugestellt, {} wartend, {} fehlgeschlagen.",
                s.connectivity,
                s.new_cases,
                s.follow_ups,
                s.quarantined,
                s.delivered,
                s.pending,
                s.failed
            );
            if let Some(p) = s.problem {
                println!("Hinweis: {p}");
            }
        }
        Command::Kasse {
            command: KasseCommand::Ordner { pfad, as_user },
        } => {
            let mut ws = login(&dir, &as_user, &mut secrets)?;
            ws.set_hkr_folder(&pfad.to_string_lossy())?;
            ws.logout();
            println!("Kassenordner: {}", pfad.display());
        }
        Command::Brief {
            aktenzeichen,
            art,
            kanal,
            vorschau,
            as_user,
        } => {
            let kind: workstation::LetterKind =
                serde_json::from_value(serde_json::Value::String(art.clone())).map_err(|_| {
                    workstation::AppError::invalid(format!(
                        "Unbekannte Briefart „{art}“ (eingangsbestaetigung, nachforderung, bescheid, gebuehrenbescheid)."
                    ))
                })?;
            let mut ws = login(&dir, &as_user, &mut secrets)?;
            let case_id = ws.case_id_by_file_number(&aktenzeichen)?;
            let req = workstation::LetterRequest {
                case_id,
                kind,
                fees: Vec::new(),
                edits: Vec::new(),
                kanal,
            };
            match vorschau {
                Some(path) => {
                    let pdf = ws.letter_preview(&req)?;
                    std::fs::write(&path, pdf).map_err(|e| {
                        workstation::AppError::invalid(format!(
                            "{} nicht schreibbar: {e}",
                            path.display()
                        ))
                    })?;
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
            ws.logout();
        }
        Command::Bericht {
            von,
            bis,
            vorgangsart,
            csv,
            pdf,
            json,
            as_user,
        } => {
            let mut ws = login(&dir, &as_user, &mut secrets)?;
            let req = workstation::ReportRequest {
                from: von,
                until: bis,
                case_type: vorgangsart,
                channel: None,
            };
            let report = ws.report(&req)?;
            if let Some(path) = csv {
                std::fs::write(&path, ws.report_csv(&req)?).map_err(|e| {
                    workstation::AppError::invalid(format!(
                        "{} nicht schreibbar: {e}",
                        path.display()
                    ))
                })?;
                println!("CSV: {}", path.display());
            }
            if let Some(path) = pdf {
                std::fs::write(&path, ws.report_pdf(&req)?).map_err(|e| {
                    workstation::AppError::invalid(format!(
                        "{} nicht schreibbar: {e}",
                        path.display()
                    ))
                })?;
                println!("PDF: {}", path.display());
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
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
            }
            ws.logout();
        }
        Command::BerichtePersonen { schalter, as_user } => {
            let on = match schalter.as_str() {
                "an" => true,
                "aus" => false,
                _ => return Err(workstation::AppError::invalid("an oder aus angeben.").into()),
            };
            let mut ws = login(&dir, &as_user, &mut secrets)?;
            ws.set_person_reports(on)?;
            ws.logout();
            println!("Personenbezogene Kennzahlen: {schalter}");
        }
        Command::DemoHistorie {
            as_user,
            anzahl,
            colleagues,
        } => {
            let mut ws = login(&dir, &as_user, &mut secrets)?;
            let n = workstation::demo::demo_history(&mut ws, anzahl, 2026, &colleagues)?;
            ws.logout();
            println!("{n} Vorgänge mit einem Jahr Verlauf übernommen.");
        }
        Command::Scan { command } => match command {
            ScanCommand::Ordner { ordner, as_user } => {
                let mut ws = login(&dir, &as_user, &mut secrets)?;
                ws.scan_set_folder(&ordner)?;
                ws.logout();
                println!("Eingangsordner: {}", ordner.display());
            }
            ScanCommand::Stapel {
                klasse,
                karton,
                seiten,
                kennzeichen,
                as_user,
            } => {
                let mut ws = login(&dir, &as_user, &mut secrets)?;
                let b = ws.scan_batch_create(&workstation::BatchRequest {
                    klasse,
                    karton,
                    seiten,
                    kennzeichen,
                })?;
                ws.logout();
                println!("Stapel {} angelegt ({}), id {}.", b.nummer, b.klasse, b.id);
            }
            ScanCommand::Stapelliste { as_user } => {
                let ws = login(&dir, &as_user, &mut secrets)?;
                for b in ws.scan_batches()? {
                    println!(
                        "{}  {}  {}  Karton {}  {}/{} Seiten  {} von {} geprüft  {}",
                        b.id,
                        b.nummer,
                        b.zustand,
                        b.karton,
                        b.seiten_erfasst,
                        b.seiten_erwartet,
                        b.geprueft,
                        b.produkte,
                        if b.hindernisse.is_empty() {
                            "keine Hindernisse".to_owned()
                        } else {
                            b.hindernisse.join(" ")
                        }
                    );
                }
            }
            ScanCommand::Abschliessen { stapel, as_user } => {
                let mut ws = login(&dir, &as_user, &mut secrets)?;
                ws.scan_batch_close(&stapel)?;
                ws.logout();
                println!("Stapel abgeschlossen.");
            }
            ScanCommand::Vernichtungsfreigabe { stapel, as_user } => {
                let mut ws = login(&dir, &as_user, &mut secrets)?;
                ws.scan_release(&stapel)?;
                ws.logout();
                println!("Das Papier des Stapels ist zur Vernichtung freigegeben.");
            }
            ScanCommand::Freigabeliste { datei, as_user } => {
                let ws = login(&dir, &as_user, &mut secrets)?;
                let pdf = ws.scan_release_list_pdf()?;
                std::fs::write(&datei, pdf).map_err(|e| {
                    workstation::AppError::invalid(format!(
                        "{} nicht schreibbar: {e}",
                        datei.display()
                    ))
                })?;
                println!("Freigabeliste: {}", datei.display());
            }
            ScanCommand::TrennblattPdf {
                datei,
                anzahl,
                as_user,
            } => {
                let ws = login(&dir, &as_user, &mut secrets)?;
                let pdf = ws.scan_separator_sheets_pdf(anzahl)?;
                std::fs::write(&datei, pdf).map_err(|e| {
                    workstation::AppError::invalid(format!(
                        "{} nicht schreibbar: {e}",
                        datei.display()
                    ))
                })?;
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
                let mut ws = login(&dir, &as_user, &mut secrets)?;
                ws.scan_destroyed(&stapel, &wie)?;
                ws.logout();
                println!("Vernichtung vermerkt.");
            }
            ScanCommand::Einlesen {
                ordner,
                stabil,
                warten,
                as_user,
            } => {
                let mut ws = login(&dir, &as_user, &mut secrets)?;
                let results = ws.scan_intake(
                    &ordner,
                    std::time::Duration::from_secs(stabil),
                    std::time::Duration::from_secs(warten),
                )?;
                ws.logout();
                for r in &results {
                    println!("{:<11} {}  {}", r.result, r.name, r.detail);
                }
                println!("{} Datei(en) bearbeitet.", results.len());
            }
            ScanCommand::Liste { as_user } => {
                let ws = login(&dir, &as_user, &mut secrets)?;
                for p in ws.scan_queue()? {
                    println!(
                        "{}  {}  {} Seite(n)  eingelesen {} von {}  Stapel {}  {}{}",
                        p.id,
                        p.name,
                        p.seiten,
                        p.eingelesen,
                        p.gescannt_von,
                        p.stapel.as_deref().unwrap_or("-"),
                        if p.vollpruefung {
                            "Sichtprüfung"
                        } else {
                            "Stichprobe: nein"
                        },
                        if p.vier_augen { ", Vier-Augen" } else { "" }
                    );
                }
            }
            ScanCommand::Freigeben {
                id,
                vorgangsart,
                antragsteller,
                vermerk,
                geprueft,
                as_user,
            } => {
                let mut ws = login(&dir, &as_user, &mut secrets)?;
                let az = ws.scan_approve(&workstation::ScanApproveRequest {
                    product_id: id,
                    vorgangsart,
                    antragsteller,
                    vermerk,
                    checkliste: geprueft,
                })?;
                ws.logout();
                println!("Geprüft, versiegelt, Vorgang {az} angelegt (TR-RESISCAN).");
            }
            ScanCommand::Trennblaetter { id, as_user } => {
                let mut ws = login(&dir, &as_user, &mut secrets)?;
                let found = ws.scan_separators(&id)?;
                ws.logout();
                if found.is_empty() {
                    println!("Keine Trennblätter gefunden.");
                } else {
                    let pages: Vec<String> = found.iter().map(u32::to_string).collect();
                    println!(
                        "Trennblätter auf Seite {} (aufteilen mit: amtsstube scan teilen {id} --trennblaetter {})",
                        pages.join(", "),
                        pages.join(",")
                    );
                }
            }
            ScanCommand::Teilen {
                id,
                ab,
                trennblaetter,
                as_user,
            } => {
                let mut ws = login(&dir, &as_user, &mut secrets)?;
                let parts = if trennblaetter.is_empty() {
                    ws.scan_split(&id, &ab)?
                } else {
                    ws.scan_split_separators(&id, &trennblaetter)?
                };
                ws.logout();
                println!("In {} Dokumente aufgeteilt:", parts.len());
                for p in parts {
                    println!("  {}  {}  {} Seite(n)", p.id, p.name, p.seiten);
                }
            }
            ScanCommand::Ablehnen { id, grund, as_user } => {
                let mut ws = login(&dir, &as_user, &mut secrets)?;
                ws.scan_reject(&id, &grund)?;
                ws.logout();
                println!("Abgelehnt: bitte neu scannen.");
            }
            ScanCommand::Verify {
                aktenzeichen,
                as_user,
            } => {
                let ws = login(&dir, &as_user, &mut secrets)?;
                match ws.scan_verify(&aktenzeichen) {
                    Ok(msg) => println!("{msg}"),
                    Err(e) => {
                        eprintln!("MANIPULATION ODER FEHLER: {}", e.message);
                        return Ok(ExitCode::from(1));
                    }
                }
            }
        },
        Command::Sperre { seconds, as_user } => {
            let mut ws = login(&dir, &as_user, &mut secrets)?;
            ws.set_lock_after(seconds)?;
            ws.logout();
            println!("Bildschirmsperre nach {seconds} Sekunden ohne Eingabe.");
        }
        Command::DemoVerteilen {
            as_user,
            colleagues,
        } => {
            let mut ws = login(&dir, &as_user, &mut secrets)?;
            let n = workstation::demo::spread_states(&mut ws, &colleagues)?;
            ws.logout();
            println!("{n} Vorgänge auf Bearbeitungsstände verteilt.");
        }
        Command::Status { as_user } => {
            let mut ws = Workstation::open(&dir)?;
            if let Some(user) = as_user {
                let password = secrets.read(&format!("Passwort für {user}"))?;
                ws.login(LoginRequest {
                    username: user,
                    password,
                })?;
            }
            let status = ws.status();
            println!("Datenverzeichnis: {}", status.data_dir);
            println!(
                "Zustand:          {}",
                if status.unlocked {
                    "entsperrt"
                } else {
                    "gesperrt"
                }
            );
            if let (Some(v), Some(l)) = (status.schema_version, status.latest_schema_version) {
                println!("Schemaversion:    {v} (aktuell {l})");
            }
            ws.logout();
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("AMTSSTUBE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Fehler: {e}");
            ExitCode::from(2)
        }
    }
}
