//! `amtsstube` – headless administration of a workstation's data directory.
//!
//! Passwords are read from the terminal without echo, or line by line from
//! standard input when it is not a terminal (for scripts: one secret per line,
//! in the order the command asks for them).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use domain::Role;
use workstation::{StoreConfig, paths};

#[derive(Parser)]
#[command(
    name = "amtsstube",
    version,
    about = "Amtsstube – Verwaltung der Arbeitsstation ohne Oberfläche"
)]
struct Cli {
    /// Datenverzeichnis (Standard: $AMTSSTUBE_DATA_DIR oder ~/.local/share/amtsstube, unter Windows %LOCALAPPDATA%\amtsstube)
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Rathaus-Server (Büro-Betrieb): anschließen, anmelden, abgleichen, Vorgänge bearbeiten, Konflikte
    Buero {
        #[command(subcommand)]
        command: BueroCommand,
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
    /// Antworten per E-Mail: Mailserver (SMTP) der Gemeinde einrichten (Administration)
    Email {
        #[command(subcommand)]
        command: EmailCommand,
    },
    /// Antworten ins BundID-Postfach über den ZBP-Brückendienst: Zustellpunkt und
    /// BPKI-Schlüsselpaar der Gemeinde einrichten (Administration)
    Bundid {
        #[command(subcommand)]
        command: BundidCommand,
    },
    /// Kassenanbindung (HKR): Austauschordner für Annahmeanordnungen (Administration)
    Kasse {
        #[command(subcommand)]
        command: KasseCommand,
    },
    /// Brief eines Vorgangs erzeugen und versenden (E-Mail, Portal oder Post), mit Gebührenbuchung
    Brief {
        /// Aktenzeichen des Vorgangs
        aktenzeichen: String,
        /// eingangsbestaetigung, nachforderung, bescheid oder gebuehrenbescheid
        #[arg(long, default_value = "bescheid")]
        art: String,
        /// email (verschlüsselt an den OpenPGP-Schlüssel der Antragstellerin), bundid (BundID-Postfach über den ZBP-Brückendienst), postfach (Portal, FIT-Connect-Einreichung) oder post
        #[arg(long, default_value = "postfach")]
        kanal: String,
        /// PDF nur erzeugen und in diese Datei schreiben (Vorschau; nichts wird versandt)
        #[arg(long)]
        vorschau: Option<PathBuf>,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Kennzahlen für die Leitung: Durchlaufzeiten, Rückstand, Fristrisiko (Zeitraum, optional als CSV oder JSON)
    Bericht(ReportArgs),
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
    /// Datensicherung: erstellen, Ordner und Zeitplan, Schlüssel einrichten, Stand (Administration)
    Sicherung {
        #[command(subcommand)]
        command: SicherungCommand,
    },
    /// Eine Sicherung in ein leeres Datenverzeichnis zurückspielen (neuer PC; mit dem Wiederherstellungsschlüssel)
    Wiederherstellen {
        /// Die Sicherungsdatei (amtsstube-….sicherung.age)
        archiv: PathBuf,
    },
    /// Zustand des Datenbestands anzeigen
    Status {
        /// Zusätzlich angemeldet prüfen (Schemaversion)
        #[arg(long = "as")]
        as_user: Option<String>,
    },
}

// `amtsstube bericht`: period, filter and where the report goes (the help text is
// the variant's doc comment).
#[derive(clap::Args)]
pub(crate) struct ReportArgs {
    /// Erster Tag (JJJJ-MM-TT)
    #[arg(long)]
    pub von: String,
    /// Letzter Tag (JJJJ-MM-TT)
    #[arg(long)]
    pub bis: String,
    /// Nur diese Vorgangsart (Name)
    #[arg(long)]
    pub vorgangsart: Option<String>,
    /// CSV (Semikolon, UTF-8 mit BOM) in diese Datei schreiben
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// PDF-Bericht für den Rat in diese Datei schreiben
    #[arg(long)]
    pub pdf: Option<PathBuf>,
    /// Den ganzen Bericht als JSON ausgeben
    #[arg(long)]
    pub json: bool,
    #[arg(long = "as")]
    pub as_user: String,
}

#[derive(Subcommand)]
pub(crate) enum UserCommand {
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
pub(crate) enum BueroCommand {
    /// Diesen Arbeitsplatz mit dem Einmalcode am Rathaus-Server anmelden
    Anschliessen {
        /// Adresse des Servers, z. B. https://rathaus-server:8443
        #[arg(long)]
        server: String,
        /// Einmalcode aus „amtsstube-server arbeitsplatz code“
        #[arg(long)]
        code: String,
        /// Fingerabdruck der Büro-CA (wird mit dem Code angezeigt)
        #[arg(long)]
        fingerabdruck: String,
        /// Name dieses Arbeitsplatzes in der Liste des Servers
        #[arg(long)]
        name: String,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Arbeit am gemeinsamen Datenbestand (abgleichen, Vorgänge, Schritte, Notizen, Konflikte)
    #[command(flatten)]
    Arbeit(OfficeWork),
    /// Am Rathaus-Server anmelden (gleiches Passwort) und die Schlüssel in Ordnung bringen
    Anmelden {
        #[arg(long = "as")]
        as_user: String,
    },
    /// Verbindung zum Rathaus-Server prüfen
    Status {
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum OfficeWork {
    /// Wartende Schritte senden und Neues vom Rathaus-Server holen
    Abgleichen {
        #[arg(long = "as")]
        as_user: String,
    },
    /// Die Vorgänge dieses Benutzers, wie dieser Arbeitsplatz sie kennt
    Vorgaenge {
        #[arg(long = "as")]
        as_user: String,
    },
    /// Einen Vorgang zeigen: Stand, Antragsteller, Dokumente, Verlauf
    Vorgang {
        aktenzeichen: String,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Einen Bearbeitungsschritt tun (auch ohne Server; er wartet dann)
    Schritt {
        aktenzeichen: String,
        /// pruefen, nachfordern, nachgereicht, vollstaendig, bewilligen, ablehnen, teilweise, abschliessen, zurueckziehen, weiterleiten
        schritt: String,
        /// Begründung (wird verschlüsselt)
        #[arg(long)]
        begruendung: Option<String>,
        /// Frist einer Nachforderung (JJJJ-MM-TT)
        #[arg(long)]
        frist: Option<String>,
        /// Behörde einer Weiterleitung
        #[arg(long)]
        an: Option<String>,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Einen Papierantrag als Vorgang anlegen (Scanstelle; Aktenzeichen aus dem Vorrat, auch ohne Server)
    Papiereingang {
        /// Vorgangsart, z. B. HU
        #[arg(long)]
        art: String,
        /// Antragsteller/in (wird verschlüsselt)
        #[arg(long)]
        antragsteller: String,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Eine Notiz zu einem Vorgang (wird verschlüsselt)
    Notiz {
        aktenzeichen: String,
        #[arg(long)]
        text: String,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Einen Brief erstellen; der Rathaus-Server versendet ihn (Portal) und bucht die Gebühr
    Brief {
        aktenzeichen: String,
        /// eingangsbestaetigung, nachforderung, bescheid oder gebuehrenbescheid
        art: String,
        /// postfach (Portal, FIT-Connect-Einreichung) oder post
        #[arg(long, default_value = "post")]
        kanal: String,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Diesen Einzelplatz-Datenbestand in den Rathaus-Server übernehmen (Leitung; wiederholbar)
    Uebernehmen {
        #[arg(long = "as")]
        as_user: String,
    },
    /// Vom Server abgelehnte Schritte mit Grund
    Konflikte {
        #[arg(long = "as")]
        as_user: String,
    },
    /// Einen abgelehnten Schritt auf dem jetzigen Stand wiederholen
    KonfliktWiederholen {
        nummer: i64,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Einen Konflikt als erledigt markieren
    KonfliktErledigt {
        nummer: i64,
        #[arg(long = "as")]
        as_user: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum PortalCommand {
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
pub(crate) enum ScanCommand {
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
    Freigeben(ApproveArgs),
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

// `amtsstube scan freigeben` (the help text is the variant's doc comment).
#[derive(clap::Args)]
pub(crate) struct ApproveArgs {
    pub id: String,
    #[arg(long)]
    pub vorgangsart: String,
    #[arg(long)]
    pub antragsteller: String,
    #[arg(long)]
    pub vermerk: Option<String>,
    /// Abgehakte Prüfpunkte: vollstaendig, reihenfolge, lesbar, ausrichtung (mehrfach)
    #[arg(long)]
    pub geprueft: Vec<String>,
    #[arg(long = "as")]
    pub as_user: String,
}

#[derive(Subcommand)]
pub(crate) enum EmailCommand {
    /// Mailserver setzen; ein Passwort wird nach --benutzer abgefragt (Terminal oder stdin)
    Einrichten {
        /// Name oder Adresse des Mailservers
        #[arg(long)]
        server: String,
        #[arg(long, default_value_t = 587)]
        port: u16,
        /// starttls, tls oder keine (nur für einen Mailserver auf diesem PC)
        #[arg(long, default_value = "starttls")]
        verschluesselung: String,
        /// Anmeldename am Mailserver (ohne: keine Anmeldung)
        #[arg(long)]
        benutzer: Option<String>,
        /// Absenderadresse, z. B. buergerbuero@musterstadt.de
        #[arg(long)]
        absender: String,
        /// Angezeigter Absendername
        #[arg(long)]
        absendername: Option<String>,
        /// CA-Zertifikat (PEM) eines Mailservers mit eigenem Zertifikat der Gemeinde
        #[arg(long)]
        ca: Option<PathBuf>,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Eingerichteten Mailserver zeigen (ohne Passwort)
    Anzeigen {
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Verbindung und Anmeldung prüfen (es wird keine E-Mail gesendet)
    Testen {
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Mailserver entfernen: Briefe gehen dann per Post
    Entfernen {
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Postfach (IMAP) für nachträgliche Unzustellbarkeitsmeldungen: setzen (Passwort
    /// wird abgefragt), mit --testen prüfen, mit --entfernen abschalten
    Postfach {
        /// Name oder Adresse des Postfach-Servers
        #[arg(long, required_unless_present_any = ["testen", "entfernen"])]
        server: Option<String>,
        #[arg(long, default_value_t = 993)]
        port: u16,
        /// tls, starttls oder keine (nur für einen Server auf diesem PC)
        #[arg(long, default_value = "tls")]
        verschluesselung: String,
        #[arg(long, required_unless_present_any = ["testen", "entfernen"])]
        benutzer: Option<String>,
        #[arg(long, default_value = "INBOX")]
        ordner: String,
        /// Anmeldung und Ordner prüfen (es wird nichts gelesen)
        #[arg(long, conflicts_with = "entfernen")]
        testen: bool,
        #[arg(long)]
        entfernen: bool,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum BundidCommand {
    /// Brückendienst und BPKI-Schlüsselpaar setzen (geprüft, nur im verschlüsselten Speicher)
    Einrichten {
        /// Zustellpunkt-ID des ZBP-Brückendienstes (von der FITKO)
        #[arg(long)]
        bruecke: String,
        /// Privater BPKI-Schlüssel der Gemeinde (PEM)
        #[arg(long)]
        schluessel: PathBuf,
        /// Zugehöriges BPKI-Zertifikat (PEM)
        #[arg(long)]
        zertifikat: PathBuf,
        /// Vertrauensniveau der Anmeldungen (STORK-QAA 1–4)
        #[arg(long, default_value_t = 3)]
        vertrauensniveau: u8,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Eingerichteten Brückendienst und das Zertifikat zeigen
    Anzeigen {
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Einstellungen entfernen: Briefe gehen dann per Post
    Entfernen {
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum KasseCommand {
    /// Austauschordner setzen (absoluter Pfad eines vorhandenen Verzeichnisses)
    Ordner {
        pfad: PathBuf,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum OutboxCommand {
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
pub(crate) enum SicherungCommand {
    /// Jetzt sichern (in den eingerichteten Ordner oder nach --ziel), zurücklesen, alte Sicherungen entfernen
    Erstellen {
        /// Anderer Zielordner als der eingerichtete
        #[arg(long)]
        ziel: Option<PathBuf>,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Sicherungsordner und Zeitplan festlegen
    Ordner {
        /// Absoluter Pfad (USB-Stick, Netzlaufwerk), nicht im Datenverzeichnis
        pfad: PathBuf,
        /// So viele Sicherungen bleiben erhalten (die neuesten)
        #[arg(long, default_value_t = 14)]
        behalten: u32,
        /// Stunden zwischen zwei Sicherungen der laufenden App (24 = täglich)
        #[arg(long, default_value_t = 24)]
        stunden: u32,
        /// Warnen, wenn die letzte gelungene Sicherung älter ist (Tage)
        #[arg(long, default_value_t = 3)]
        warnen_nach_tagen: u32,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Einmalig für Datenbestände von vor der Datensicherung: den Wiederherstellungsschlüssel hinterlegen
    Einrichten {
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Stand der Datensicherung anzeigen
    Status {
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Hash-Kette des Protokolls prüfen; Rückgabewert 1 bei Befund
    Verify {
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Zeitstempeldienst nach RFC 3161 einrichten (Adresse und Signaturzertifikat); leere Adresse entfernt ihn
    ZeitstempelDienst {
        /// Adresse, z. B. http://tsa.example.de/tsr
        adresse: String,
        /// Signaturzertifikat des Dienstes (PEM-Datei)
        #[arg(long)]
        zertifikat: Option<std::path::PathBuf>,
        #[arg(long = "as", default_value = "admin")]
        as_user: String,
    },
    /// Das Ende des Protokolls jetzt vom Zeitstempeldienst bestätigen lassen
    Zeitstempel {
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

mod admin;
mod ctx;
mod office;
mod scan;
mod work;

use ctx::Ctx;

/// One function per subcommand; each logs in, calls the facade once or a few times,
/// and prints German results.
fn run(cli: Cli) -> Result<ExitCode> {
    let mut ctx = Ctx::new(cli.data_dir.unwrap_or_else(paths::default_data_dir));
    match cli.command {
        Command::Init {
            admin,
            display_name,
            max_failed_attempts,
            lockout_seconds,
            scrypt_log_n,
        } => admin::init(
            &mut ctx,
            &admin,
            display_name,
            StoreConfig {
                max_failed_attempts,
                lockout_seconds,
                scrypt_log_n,
            },
        ),
        Command::User { command } => admin::user(&mut ctx, command),
        Command::Recover { user } => admin::recover(&mut ctx, &user),
        Command::Audit { command } => admin::audit(&mut ctx, command),
        Command::Portal { command } => admin::portal(&mut ctx, command),
        Command::Buero { command } => admin::buero(&mut ctx, command),
        Command::Outbox { command } => admin::outbox(&mut ctx, command),
        Command::Quarantine { as_user } => admin::quarantine(&mut ctx, &as_user),
        Command::Email { command } => admin::email(&mut ctx, command),
        Command::Bundid { command } => admin::bundid(&mut ctx, command),
        Command::Kasse {
            command: KasseCommand::Ordner { pfad, as_user },
        } => admin::hkr_folder(&mut ctx, &pfad, &as_user),
        Command::Sperre { seconds, as_user } => admin::lock_after(&mut ctx, seconds, &as_user),
        Command::BerichtePersonen { schalter, as_user } => {
            admin::person_reports(&mut ctx, &schalter, &as_user)
        }
        Command::Status { as_user } => admin::status(&mut ctx, as_user),
        Command::Sicherung { command } => admin::backup(&mut ctx, command),
        Command::Wiederherstellen { archiv } => admin::restore(&mut ctx, &archiv),
        Command::Sync { as_user } => work::sync(&mut ctx, &as_user),
        Command::Brief {
            aktenzeichen,
            art,
            kanal,
            vorschau,
            as_user,
        } => work::letter(&mut ctx, &aktenzeichen, &art, kanal, vorschau, &as_user),
        Command::Bericht(args) => work::report(&mut ctx, args),
        Command::DemoHistorie {
            as_user,
            anzahl,
            colleagues,
        } => work::demo_history(&mut ctx, &as_user, anzahl, &colleagues),
        Command::DemoVerteilen {
            as_user,
            colleagues,
        } => work::demo_spread(&mut ctx, &as_user, &colleagues),
        Command::Scan { command } => scan::run(&mut ctx, command),
    }
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
