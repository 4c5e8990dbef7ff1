//! `amtsstube-server`: set up, run and look after the Rathaus-Server.
//!
//! Passwords come from the terminal or, in scripts, one per line on stdin.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use domain::Role;
use server::Record;
use server::api::{ApiState, serve};
use server::setup::{ServerConfig, ServerDir};

#[derive(Parser)]
#[command(
    name = "amtsstube-server",
    version,
    about = "Der Rathaus-Server von Amtsstube"
)]
struct Cli {
    /// Verzeichnis des Servers (Einstellungen, Büro-CA, Schlüssel).
    #[arg(long, default_value = "/var/lib/amtsstube-server", global = true)]
    verzeichnis: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Einrichten: Datenbankschema, Büro-CA, Serverzertifikat, erste Administration.
    Init {
        /// PostgreSQL-Verbindung, z. B. "host=/run/postgresql dbname=amtsstube user=amtsstube".
        #[arg(long)]
        datenbank: String,
        /// Name des Rathauses (erscheint im Zertifikat der Büro-CA).
        #[arg(long)]
        name: String,
        /// Adresse, an der der Server lauscht.
        #[arg(long, default_value = "0.0.0.0:8443")]
        adresse: String,
        /// Rechnernamen oder IP-Adressen, unter denen die Arbeitsplätze den Server erreichen.
        #[arg(long = "rechnername", required = true)]
        rechnernamen: Vec<String>,
        /// Benutzername der ersten Administration.
        #[arg(long, default_value = "admin")]
        admin: String,
        /// Ohne Rückfragen (Paketinstallation): keine erste Administration, kein
        /// Sicherungsschlüssel – beides danach von Hand („user add“, „sicherung-schluessel“).
        #[arg(long)]
        ohne_admin: bool,
    },
    /// Den Server betreiben (bis SIGTERM oder Strg+C).
    Serve,
    /// Benutzer verwalten.
    #[command(subcommand)]
    User(UserCmd),
    /// Arbeitsplätze anmelden und sperren.
    #[command(subcommand)]
    Arbeitsplatz(WorkstationCmd),
    /// Zustand: Datenbank, Schema, Vorgänge, Benutzer, Arbeitsplätze.
    Status,
    /// FIT-Connect-Zustellpunkt einrichten (JSON-Datei wie bei „amtsstube portal configure“).
    Portal {
        #[arg(long)]
        datei: PathBuf,
    },
    /// Jetzt aus dem FIT-Connect-Zustellpunkt abholen und Wartendes versenden (sonst alle 5 Minuten bei „serve“, Briefe sofort).
    Abholen,
    /// Austauschordner der Kasse (HKR) für die Annahmeanordnungen festlegen.
    Kasse {
        #[arg(long)]
        ordner: PathBuf,
    },
    /// Mailserver der Stadt für Antworten per E-Mail (PGP/MIME) an die Bürgerinnen und Bürger.
    #[command(subcommand)]
    Email(EmailCmd),
    /// BundID-Postfach: ZBP-Brücke von FITKO und BPKI-Schlüsselpaar der Gemeinde.
    #[command(subcommand)]
    Bundid(BundidCmd),
    /// Sicherung: Datenbank (pg_dump) und Serververzeichnis in einer verschlüsselten Datei.
    Sicherung {
        /// Ordner der Sicherungen.
        #[arg(long, default_value = "/var/backups/amtsstube-server")]
        ziel: PathBuf,
        /// So viele der neuesten Sicherungen bleiben, ältere werden gelöscht.
        #[arg(long, default_value_t = 14)]
        behalten: usize,
    },
    /// Neuen Sicherungsschlüssel erzeugen (wird einmal angezeigt: ausdrucken und verwahren).
    SicherungSchluessel,
    /// Eine Sicherung auf diesem Rechner wiederherstellen (neues Verzeichnis, leere Datenbank).
    Wiederherstellen {
        /// Die Sicherungsdatei.
        #[arg(long)]
        datei: PathBuf,
        /// Die neue, leere PostgreSQL-Datenbank.
        #[arg(long)]
        datenbank: String,
        /// Datei mit dem Sicherungsschlüssel (sonst wird er abgefragt).
        #[arg(long)]
        schluessel_datei: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Benutzer anlegen (Passwort wird abgefragt).
    Add {
        name: String,
        /// sachbearbeitung, leitung, scanstelle oder admin
        #[arg(long)]
        rolle: String,
    },
    /// Neues Passwort setzen (alle Sitzungen enden).
    Passwort { name: String },
    /// Benutzer entfernen (Sitzungen enden sofort, alle Arbeitsplätze erfahren es).
    Entfernen { name: String },
    /// Alle Benutzer.
    Liste,
}

#[derive(Subcommand)]
enum BundidCmd {
    /// Brücke und Schlüsselpaar setzen (geprüft: gehören zusammen, Zertifikat gültig).
    Einrichten {
        /// Zustellpunkt-ID des ZBP-Brückendienstes (von FITKO).
        #[arg(long)]
        bruecke: uuid::Uuid,
        /// Privater BPKI-Schlüssel der Gemeinde (PEM).
        #[arg(long)]
        schluessel: PathBuf,
        /// Das Zertifikat dazu (PEM).
        #[arg(long)]
        zertifikat: PathBuf,
        /// Vertrauensniveau der Anmeldungen (STORK-QAA 1–4).
        #[arg(long, default_value_t = 3)]
        vertrauensniveau: u8,
    },
    /// Eingerichtete Brücke und Zertifikat zeigen (ohne Schlüssel).
    Anzeigen,
    /// Entfernen: Briefe gehen dann per Post oder einen anderen Weg.
    Entfernen,
}

fn show_bundid(s: &server::setup::BundIdSettings) {
    let now = jiff::Timestamp::now().as_second();
    match fitconnect::zbp::Author::from_pem(&s.key_pem, &s.cert_pem, now) {
        Ok(a) => println!(
            "BundID-Brücke {}, signiert als {} (Zertifikat gültig bis {}), Vertrauensniveau {}",
            s.bridge,
            a.signer(),
            a.valid_until(),
            s.level
        ),
        Err(e) => println!(
            "BundID-Brücke {}, Schlüsselpaar nicht nutzbar: {e} – es wird nichts versandt.",
            s.bridge
        ),
    }
}

fn bundid(dir: &ServerDir, cmd: BundidCmd) -> Result<()> {
    match cmd {
        BundidCmd::Einrichten {
            bruecke,
            schluessel,
            zertifikat,
            vertrauensniveau,
        } => {
            let key_pem = std::fs::read_to_string(&schluessel)
                .with_context(|| format!("Schlüssel {} nicht lesbar", schluessel.display()))?;
            let cert_pem = std::fs::read_to_string(&zertifikat)
                .with_context(|| format!("Zertifikat {} nicht lesbar", zertifikat.display()))?;
            let s = server::setup::BundIdSettings {
                bridge: bruecke,
                key_pem: key_pem.trim().to_owned() + "\n",
                cert_pem: cert_pem.trim().to_owned() + "\n",
                level: vertrauensniveau,
            };
            dir.save_bundid(&s)?;
            show_bundid(&s);
            println!("Eingerichtet; „serve“ liest es beim nächsten Start.");
        }
        BundidCmd::Anzeigen => match dir.bundid()? {
            Some(s) => show_bundid(&s),
            None => println!(
                "BundID-Postfach nicht eingerichtet: Briefe gehen per Post oder einen anderen Weg."
            ),
        },
        BundidCmd::Entfernen => {
            if dir.remove_bundid()? {
                println!("BundID-Einstellungen entfernt; „serve“ liest es beim nächsten Start.");
            } else {
                println!("Es war kein BundID-Postfach eingerichtet.");
            }
        }
    }
    Ok(())
}

#[derive(Subcommand)]
enum EmailCmd {
    /// Mailserver setzen; ein Passwort wird nach --benutzer abgefragt (Terminal oder stdin).
    Einrichten {
        /// Name oder Adresse des Mailservers.
        #[arg(long)]
        server: String,
        #[arg(long, default_value_t = 587)]
        port: u16,
        /// starttls, tls oder keine (nur für einen Mailserver auf diesem Rechner).
        #[arg(long, default_value = "starttls")]
        verschluesselung: String,
        /// Anmeldename am Mailserver (ohne: keine Anmeldung).
        #[arg(long)]
        benutzer: Option<String>,
        /// Absenderadresse, z. B. buergerbuero@musterstadt.de.
        #[arg(long)]
        absender: String,
        /// Angezeigter Absendername.
        #[arg(long)]
        absendername: Option<String>,
        /// CA-Zertifikat (PEM) eines Mailservers mit eigenem Zertifikat der Gemeinde.
        #[arg(long)]
        ca: Option<PathBuf>,
    },
    /// Eingerichteten Mailserver zeigen (ohne Passwort).
    Anzeigen,
    /// Verbindung und Anmeldung prüfen (es wird keine E-Mail gesendet).
    Testen,
    /// Mailserver entfernen: Briefe gehen dann per Post oder an das Portal.
    Entfernen,
    /// Postfach (IMAP) für nachträgliche Unzustellbarkeitsmeldungen: setzen (Passwort
    /// wird abgefragt, Terminal oder stdin), mit --testen prüfen, mit --entfernen
    /// abschalten; ohne Angaben zeigen.
    Postfach {
        /// Name oder Adresse des Postfach-Servers.
        #[arg(long, requires = "benutzer", conflicts_with_all = ["testen", "entfernen"])]
        server: Option<String>,
        #[arg(long, default_value_t = 993)]
        port: u16,
        /// tls, starttls oder keine (nur für einen Server auf diesem Rechner).
        #[arg(long, default_value = "tls")]
        verschluesselung: String,
        #[arg(long, requires = "server")]
        benutzer: Option<String>,
        #[arg(long, default_value = "INBOX")]
        ordner: String,
        /// CA-Zertifikat (PEM) eines Servers mit eigenem Zertifikat der Gemeinde.
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Anmeldung und Ordner prüfen (es wird nichts gelesen).
        #[arg(long, conflicts_with = "entfernen")]
        testen: bool,
        #[arg(long)]
        entfernen: bool,
    },
}

fn show_bounce_box(b: &sync::bounce::BounceBox) {
    println!(
        "Postfach für Unzustellbarkeitsmeldungen: {}@{}:{} ({}), Ordner {}{}",
        b.user,
        b.host,
        b.port,
        security_label(b.security),
        b.folder,
        if b.ca_pem.is_some() {
            ", eigene CA"
        } else {
            ""
        }
    );
}

fn security_label(s: sync::mail::Security) -> &'static str {
    match s {
        sync::mail::Security::Starttls => "STARTTLS",
        sync::mail::Security::Tls => "TLS",
        sync::mail::Security::Keine => "unverschlüsselt, nur lokal",
    }
}

fn parse_security(text: &str) -> Result<sync::mail::Security> {
    serde_json::from_value(serde_json::Value::String(text.trim().to_lowercase())).map_err(|_| {
        anyhow::anyhow!("Unbekannte Verschlüsselung „{text}“: starttls, tls oder keine.")
    })
}

fn read_ca(ca: Option<PathBuf>) -> Result<Option<String>> {
    ca.map(|path| {
        std::fs::read_to_string(&path)
            .with_context(|| format!("CA-Zertifikat {} nicht lesbar", path.display()))
    })
    .transpose()
}

fn show_relay(r: &sync::mail::Relay) {
    println!(
        "Mailserver {}:{} ({}), Absender {}{}{}",
        r.host,
        r.port,
        security_label(r.security),
        r.from,
        r.user
            .as_ref()
            .map_or(String::new(), |u| format!(", Anmeldung als {u}")),
        if r.ca_pem.is_some() {
            ", eigene CA"
        } else {
            ""
        }
    );
}

async fn email(dir: &ServerDir, cmd: EmailCmd) -> Result<()> {
    match cmd {
        EmailCmd::Einrichten {
            server,
            port,
            verschluesselung,
            benutzer,
            absender,
            absendername,
            ca,
        } => {
            let security = parse_security(&verschluesselung)?;
            let ca_pem = read_ca(ca)?;
            let password = match &benutzer {
                Some(u) => Some(password(&format!("Passwort am Mailserver für {u}"), false)?),
                None => None,
            };
            let relay = sync::mail::Relay {
                host: server.trim().to_owned(),
                port,
                security,
                user: benutzer,
                password,
                from: absender.trim().to_owned(),
                from_name: absendername.filter(|n| !n.trim().is_empty()),
                ca_pem,
            };
            dir.save_mail(&relay)?;
            show_relay(&relay);
            println!("Eingerichtet; „serve“ liest ihn beim nächsten Start.");
        }
        EmailCmd::Anzeigen => match dir.mail()? {
            Some(r) => show_relay(&r),
            None => {
                println!("Kein Mailserver eingerichtet: Briefe gehen per Post oder an das Portal.")
            }
        },
        EmailCmd::Testen => {
            let Some(r) = dir.mail()? else {
                bail!("Kein Mailserver eingerichtet („amtsstube-server email einrichten …“).");
            };
            r.test().await?;
            println!(
                "Verbindung zu {}:{} und Anmeldung in Ordnung.",
                r.host, r.port
            );
        }
        EmailCmd::Entfernen => {
            if dir.remove_mail()? {
                println!(
                    "Mailserver entfernt: Briefe gehen per Post oder an das Portal; „serve“ liest es beim nächsten Start."
                );
            } else {
                println!("Es war kein Mailserver eingerichtet.");
            }
        }
        EmailCmd::Postfach {
            entfernen: true, ..
        } => {
            if dir.remove_bounce_box()? {
                println!(
                    "Postfach entfernt: späte Unzustellbarkeitsmeldungen werden nicht mehr gelesen; „serve“ liest es beim nächsten Start."
                );
            } else {
                println!("Es war kein Postfach eingerichtet.");
            }
        }
        EmailCmd::Postfach { testen: true, .. } => {
            let Some(b) = dir.bounce_box()? else {
                bail!(
                    "Kein Postfach eingerichtet („amtsstube-server email postfach --server … --benutzer …“)."
                );
            };
            b.test().await?;
            println!(
                "Anmeldung am Postfach {}:{} und Ordner {} in Ordnung.",
                b.host, b.port, b.folder
            );
        }
        EmailCmd::Postfach {
            server: Some(server),
            port,
            verschluesselung,
            benutzer: Some(user),
            ordner,
            ca,
            ..
        } => {
            let b = sync::bounce::BounceBox {
                host: server.trim().to_owned(),
                port,
                security: parse_security(&verschluesselung)?,
                password: password(&format!("Passwort am Postfach für {user}"), false)?,
                user,
                folder: ordner.trim().to_owned(),
                ca_pem: read_ca(ca)?,
            };
            dir.save_bounce_box(&b)?;
            show_bounce_box(&b);
            println!("Eingerichtet; „serve“ liest es beim nächsten Start.");
        }
        EmailCmd::Postfach { .. } => match dir.bounce_box()? {
            Some(b) => show_bounce_box(&b),
            None => println!(
                "Kein Postfach eingerichtet: späte Unzustellbarkeitsmeldungen werden nicht gelesen."
            ),
        },
    }
    Ok(())
}

#[derive(Subcommand)]
enum WorkstationCmd {
    /// Einmalcode für die Anmeldung eines Arbeitsplatzes.
    Code {
        #[arg(long, default_value_t = 60)]
        minuten: i64,
    },
    /// Arbeitsplatz sperren (Zertifikat gilt sofort nicht mehr).
    Sperren { id: uuid::Uuid },
    /// Alle Arbeitsplätze.
    Liste,
}

fn password(prompt: &str, twice: bool) -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first =
            rpassword::prompt_password(format!("{prompt}: ")).context("Eingabe nicht lesbar")?;
        if twice {
            let again =
                rpassword::prompt_password("Wiederholen: ").context("Eingabe nicht lesbar")?;
            if again != first {
                bail!("Die beiden Eingaben stimmen nicht überein.");
            }
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("Eingabe nicht lesbar")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

async fn record(dir: &ServerDir, pool: usize) -> Result<Record> {
    let loaded = dir.load()?;
    Ok(Record::connect(&loaded.config.datenbank, pool).await?)
}

async fn run(cli: Cli) -> Result<()> {
    let dir = ServerDir::new(&cli.verzeichnis);
    match cli.command {
        Cmd::Init {
            datenbank,
            name,
            adresse,
            rechnernamen,
            admin,
            ohne_admin,
        } => {
            // Reach the database first: nothing is written when it is not there.
            let record = Record::connect(&datenbank, 2).await?;
            let applied = record.migrate().await?;
            let pw = if ohne_admin {
                None
            } else {
                Some(password(
                    &format!("Passwort für „{admin}“ (mindestens 10 Zeichen)"),
                    true,
                )?)
            };
            let config = ServerConfig {
                datenbank,
                adresse,
                name,
                abruf_sekunden: None,
                kasse_ordner: None,
                sicherung_empfaenger: None,
            };
            let ca = dir.create(&config, &rechnernamen)?;
            match pw {
                Some(pw) => {
                    record.add_user(&admin, Role::Admin, &pw).await?;
                    let identity = dir.new_backup_key()?;
                    print_backup_key(&identity);
                }
                None => println!(
                    "Noch zu tun: die erste Administration anlegen (amtsstube-server user add admin --rolle admin) und den Sicherungsschlüssel erzeugen (amtsstube-server sicherung-schluessel)."
                ),
            }
            println!(
                "Eingerichtet in {} ({applied} Migrationen). Fingerabdruck der Büro-CA: {}",
                dir.path.display(),
                ca.fingerprint()?
            );
        }
        Cmd::Serve => {
            let loaded = dir.load()?;
            let record = Record::connect(&loaded.config.datenbank, 16).await?;
            let applied = record.migrate().await?;
            if applied > 0 {
                tracing::info!("{applied} Migrationen angewandt");
            }
            let tls = loaded.ca.server_config(&loaded.server)?;
            let listener = tokio::net::TcpListener::bind(&loaded.config.adresse)
                .await
                .with_context(|| format!("{} ist nicht verfügbar", loaded.config.adresse))?;
            let addr = listener.local_addr()?;
            println!("Rathaus-Server lauscht auf https://{addr}");
            let record = Arc::new(record);
            record.set_delivery(Some(dir.delivery()?));
            match dir.portal()? {
                Some(settings) => {
                    let every = loaded.config.abruf_sekunden.unwrap_or(300).max(30);
                    println!("Abholung aus FIT-Connect alle {every} Sekunden.");
                    tokio::spawn(pickup_loop(
                        record.clone(),
                        dir.path.clone(),
                        settings,
                        every,
                    ));
                }
                None => println!(
                    "Kein FIT-Connect-Zustellpunkt eingerichtet („amtsstube-server portal --datei …“): keine Abholung."
                ),
            }
            let state = ApiState {
                record,
                ca: Arc::new(loaded.ca),
            };
            serve(listener, state, tls, shutdown()).await;
            println!("Rathaus-Server beendet.");
        }
        Cmd::Portal { datei } => {
            let json = std::fs::read_to_string(&datei)
                .with_context(|| format!("Datei {} nicht lesbar", datei.display()))?;
            dir.save_portal(&json)?;
            println!("FIT-Connect-Zustellpunkt gespeichert; „serve“ holt ab jetzt ab.");
        }
        Cmd::Sicherung { ziel, behalten } => {
            let config = dir.load_config()?;
            let w = server::backup::backup(&dir, &config, &ziel, behalten)?;
            println!(
                "Sicherung geschrieben: {} ({} Bytes){}.",
                w.path.display(),
                w.bytes,
                if w.removed.is_empty() {
                    String::new()
                } else {
                    format!("; {} ältere entfernt", w.removed.len())
                }
            );
        }
        Cmd::SicherungSchluessel => {
            let identity = dir.new_backup_key()?;
            print_backup_key(&identity);
        }
        Cmd::Wiederherstellen {
            datei,
            datenbank,
            schluessel_datei,
        } => {
            let identity = match schluessel_datei {
                Some(f) => std::fs::read_to_string(&f)
                    .with_context(|| format!("Datei {} nicht lesbar", f.display()))?,
                None => password("Sicherungsschlüssel (AGE-SECRET-KEY-1…)", false)?,
            };
            let r = server::backup::restore(
                &datei,
                &identity.trim().to_string().into(),
                &dir,
                &datenbank,
            )?;
            println!(
                "Wiederhergestellt: Sicherung von {} ({}) in {}; „serve“ startet den Server.",
                r.manifest.created_at,
                r.manifest.town,
                dir.path.display()
            );
        }
        Cmd::Email(cmd) => email(&dir, cmd).await?,
        Cmd::Bundid(cmd) => bundid(&dir, cmd)?,
        Cmd::Kasse { ordner } => {
            dir.set_kasse(&ordner)?;
            println!(
                "Kassenordner {} eingerichtet; „serve“ liest ihn beim nächsten Start.",
                ordner.display()
            );
        }
        Cmd::Abholen => {
            let Some(settings) = dir.portal()? else {
                bail!(
                    "Kein FIT-Connect-Zustellpunkt eingerichtet („amtsstube-server portal --datei …“)."
                );
            };
            let record = Arc::new(record(&dir, 4).await?);
            record.set_delivery(Some(dir.delivery()?));
            let r = server::pickup::pickup(record, &settings).await?;
            println!("{}", report(&r));
            if let Some(problem) = r.problem {
                bail!("{problem}");
            }
        }
        Cmd::User(cmd) => {
            let record = record(&dir, 2).await?;
            match cmd {
                UserCmd::Add { name, rolle } => {
                    let Some(role) = Role::parse(&rolle) else {
                        bail!(
                            "Unbekannte Rolle „{rolle}“ (sachbearbeitung, leitung, scanstelle, admin)."
                        );
                    };
                    let pw = password(
                        &format!("Passwort für „{name}“ (mindestens 10 Zeichen)"),
                        true,
                    )?;
                    record.add_user(&name, role, &pw).await?;
                    println!("Benutzer „{name}“ ({}) angelegt.", role.label());
                }
                UserCmd::Passwort { name } => {
                    let pw = password(&format!("Neues Passwort für „{name}“"), true)?;
                    record.set_password(&name, &pw).await?;
                    println!("Passwort von „{name}“ geändert; seine Sitzungen sind beendet.");
                }
                UserCmd::Entfernen { name } => {
                    record.remove_user(&name).await?;
                    println!("Benutzer „{name}“ entfernt.");
                }
                UserCmd::Liste => {
                    for u in record.users().await? {
                        let state = if u.active { "" } else { " (entfernt)" };
                        println!("{:<24} {}{state}", u.name, u.role.label());
                    }
                }
            }
        }
        Cmd::Arbeitsplatz(cmd) => {
            let record = record(&dir, 2).await?;
            match cmd {
                WorkstationCmd::Code { minuten } => {
                    let code = record.new_enrolment_code(minuten).await?;
                    let ca = dir.load()?.ca;
                    println!("Einmalcode: {code} (gültig {minuten} Minuten)");
                    println!("Fingerabdruck der Büro-CA: {}", ca.fingerprint()?);
                }
                WorkstationCmd::Sperren { id } => {
                    record.revoke(id).await?;
                    println!("Arbeitsplatz {id} gesperrt.");
                }
                WorkstationCmd::Liste => {
                    for w in record.workstations().await? {
                        let state = if w.revoked { "gesperrt" } else { "aktiv" };
                        println!("{}  {:<24} seit {}  {state}", w.id, w.name, w.enrolled_at);
                    }
                }
            }
        }
        Cmd::Status => {
            let record = record(&dir, 1).await?;
            let s = record.status().await?;
            println!(
                "Datenbank:       erreichbar, Schema Version {}",
                s.schema_version
            );
            println!("Vorgänge:        {}", s.cases);
            println!("Benutzer:        {}", s.users);
            println!("Arbeitsplätze:   {}", s.workstations);
            println!("Feed-Position:   {}", s.feed_position);
            println!(
                "Befehle:         {} ({} abgelehnt)",
                s.commands, s.refused_commands
            );
            let pickup = record.pickup_status().await?;
            match dir.portal() {
                Ok(Some(p)) => println!(
                    "FIT-Connect:     Zustellpunkt {}; {} Anträge angenommen, {} in Quarantäne; Ausgang {} wartend, {} fehlgeschlagen",
                    p.destination_id,
                    pickup.accepted,
                    pickup.quarantined,
                    pickup.pending,
                    pickup.failed
                ),
                Ok(None) => println!("FIT-Connect:     nicht eingerichtet (keine Abholung)"),
                Err(e) => println!("FIT-Connect:     Einstellungen fehlerhaft: {e}"),
            }
            let yes = |b: bool| if b { "ja" } else { "nein" };
            match dir.delivery() {
                Ok(d) => println!(
                    "Versand:         Portal (FIT-Connect) {}, E-Mail {} (Postfach für Unzustellbares {}), BundID {}, Zahlungsdienst {}, Kassenordner {}",
                    yes(d.reply_destination.is_some()),
                    yes(d.mail.is_some()),
                    yes(d.bounce.is_some()),
                    yes(d.bundid.is_some()),
                    yes(d.payment_url.is_some()),
                    d.hkr_dir
                        .as_ref()
                        .map_or("nicht eingerichtet".to_string(), |p| p
                            .display()
                            .to_string())
                ),
                Err(e) => println!("Versand:         nicht möglich: {e}"),
            }
            let ring = record.key_ring_status().await?;
            if ring.kinds.is_empty() {
                println!(
                    "Schlüssel:       noch keine – die erste Anmeldung einer Leitung legt sie an"
                );
            } else {
                let kinds: Vec<&str> = ring.kinds.iter().map(|k| k.as_str()).collect();
                println!("Schlüssel:       {}", kinds.join(", "));
            }
            if !ring.without_key.is_empty() {
                println!(
                    "Noch nie an einem Arbeitsplatz angemeldet: {}",
                    ring.without_key.join(", ")
                );
            }
            for (kind, user) in &ring.waiting {
                println!(
                    "Wartet auf die Leitung: Schlüssel {} für {user}",
                    kind.as_str()
                );
            }
            let refusals = record.recent_refusals(10).await?;
            if !refusals.is_empty() {
                println!("Letzte Abweisungen:");
                for e in refusals {
                    let who = e.actor.as_deref().unwrap_or("-");
                    println!("  {}  {:<28} {who:<16} {}", e.at, e.action, e.detail);
                }
            }
        }
    }
    Ok(())
}

async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Show a new backup identity once, with what to do with it.
fn print_backup_key(identity: &server::setup::SecretText) {
    use office::keyring::ExposeSecret as _;
    println!("Sicherungsschlüssel (nur jetzt sichtbar – ausdrucken und sicher verwahren;");
    println!("ohne ihn lässt sich keine Sicherung wiederherstellen):");
    println!();
    println!("    {}", identity.expose_secret());
    println!();
}

fn report(r: &sync::RunReport) -> String {
    format!(
        "Abgeholt: {} neu, {} Nachreichung(en), {} in Quarantäne, {} schon bekannt; {} Bestätigung(en) gesendet, {} wartend, {} fehlgeschlagen.",
        r.new_cases,
        r.follow_ups,
        r.quarantined,
        r.already_known,
        r.delivered,
        r.deferred,
        r.failed
    )
}

/// Pick up every `every` seconds while the server runs, and at once when a desk's
/// letter waits to be sent; a failed run is logged and tried again at the next
/// turn (nothing is accepted that is not stored). The delivery settings are read
/// again before each run (a changed destination or cash folder counts at once).
async fn pickup_loop(
    record: Arc<Record>,
    dir: PathBuf,
    settings: fitconnect::client::SubscriberSettings,
    every: u64,
) {
    let dir = ServerDir::new(dir);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(every));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = record.letters_waiting() => {}
        }
        match dir.delivery() {
            Ok(d) => record.set_delivery(Some(d)),
            Err(e) => tracing::warn!("Zustelleinstellungen nicht lesbar: {e}"),
        }
        match server::pickup::pickup(record.clone(), &settings).await {
            Ok(r) if r.problem.is_none() => tracing::info!("{}", report(&r)),
            Ok(r) => tracing::warn!("{} {}", report(&r), r.problem.unwrap_or_default()),
            Err(e) => tracing::warn!("Abholung nicht möglich: {e}"),
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Fehler: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Fehler: {e:#}");
            ExitCode::FAILURE
        }
    }
}
