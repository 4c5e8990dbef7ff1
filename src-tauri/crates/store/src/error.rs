use std::path::PathBuf;

/// Errors of the local store. The `Display` text is German and meant for the user:
/// it says what happened and what to do. It never contains passwords or content data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Benutzername oder Passwort ist falsch. Noch {remaining} Versuch(e) bis zur Sperre.")]
    WrongPassword { remaining: u32 },
    #[error(
        "Zu viele Fehlversuche: Die Anmeldung für diesen Benutzer ist bis {until} gesperrt. Bitte warten Sie oder wenden Sie sich an die Administration."
    )]
    LockedOut { until: String },
    #[error("Der Wiederherstellungsschlüssel passt nicht zu diesem Datenbestand.")]
    WrongRecoveryKey,
    #[error(
        "Der Wiederherstellungsschlüssel ist ungültig. Er beginnt mit AGE-SECRET-KEY-1 und steht auf dem Wiederherstellungsblatt."
    )]
    InvalidRecoveryKey,
    #[error("Der Benutzer „{0}“ existiert bereits.")]
    UserExists(String),
    #[error("Der Benutzer „{0}“ existiert nicht.")]
    UnknownUser(String),
    #[error("Das Passwort ist zu kurz: Es muss mindestens {min} Zeichen haben.")]
    PasswordTooShort { min: usize },
    #[error("{0}")]
    InvalidInput(String),
    /// The record changed since it was read (another act came first).
    #[error("{0}")]
    Conflict(String),
    /// A document sealed to the case key, opened by a session that does not hold it.
    #[error("{0}")]
    CaseKeyMissing(String),
    #[error("Der letzte aktive Administrationszugang kann nicht entfernt werden.")]
    LastAdmin,
    #[error(
        "Im Ordner {0} gibt es bereits einen Datenbestand. Zum Neuanlegen wählen Sie einen leeren Ordner."
    )]
    AlreadyInitialised(PathBuf),
    #[error(
        "Im Ordner {0} wurde kein Datenbestand gefunden. Richten Sie ihn zuerst mit „amtsstube init“ ein."
    )]
    NotInitialised(PathBuf),
    #[error("Das Dokument {0} fehlt im Dokumentenspeicher.")]
    BlobMissing(String),
    #[error(
        "Der Datenbestand ist beschädigt oder der Schlüssel passt nicht ({0}). Bitte verständigen Sie die Administration."
    )]
    Corrupt(String),
    #[error("Datenbankfehler: {0}")]
    Database(String),
    #[error("Dateifehler bei {path}: {source}{}", in_use_hint(.source))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Verschlüsselungsfehler: {0}")]
    Crypto(String),
    /// A staged bundle whose seal does not fit: planted, changed or swapped.
    #[error("{0}")]
    StagedForged(String),
    /// A backup could not be written, or an archive cannot be restored.
    #[error("{0}")]
    Backup(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What the clerk can do when Windows refuses a file another program holds (a virus
/// scanner, the search indexer; the store already tried again for a few seconds).
fn in_use_hint(e: &std::io::Error) -> &'static str {
    if cfg!(windows) && crate::fsutil::is_transient(e) {
        " – Die Datei wird gerade von einem anderen Programm benutzt (etwa einem \
         Virenscanner), oder die Rechte fehlen. Bitte in einigen Sekunden erneut \
         versuchen; bleibt es dabei, die Administration verständigen."
    } else {
        ""
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        let text = e.to_string();
        if text.contains(crate::inhalt::REFUSED) {
            return StoreError::CaseKeyMissing(
                "Vorgangsinhalte ändern nur Sachbearbeitung und Leitung mit ihrem Fallschlüssel."
                    .into(),
            );
        }
        // rusqlite messages name tables and constraints, never row content.
        StoreError::Database(text)
    }
}

impl From<rusqlite_migration::Error> for StoreError {
    fn from(e: rusqlite_migration::Error) -> Self {
        if let rusqlite_migration::Error::MigrationDefinition(
            rusqlite_migration::MigrationDefinitionError::DatabaseTooFarAhead,
        ) = e
        {
            return StoreError::Database(
                "Dieser Datenbestand wurde von einer neueren Version von Amtsstube angelegt oder \
                 aktualisiert. Bitte installieren Sie diese neuere Version; mit dieser Version \
                 wird er nicht geöffnet, damit nichts verloren geht."
                    .into(),
            );
        }
        StoreError::Database(format!("Migration fehlgeschlagen: {e}"))
    }
}

pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
