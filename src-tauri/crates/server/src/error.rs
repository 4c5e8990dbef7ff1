//! The server's errors, in German for the administrator and the workstations.

/// What went wrong, said so that an administrator knows what to do.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("Datenbank: {0}")]
    Db(String),
    #[error("Anmeldung fehlgeschlagen: {0}")]
    Unauthenticated(String),
    #[error("Nicht erlaubt: {0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("Zertifikat: {0}")]
    Tls(String),
    #[error("Datei {path}: {message}")]
    File { path: String, message: String },
}

impl From<tokio_postgres::Error> for ServerError {
    fn from(e: tokio_postgres::Error) -> Self {
        let detail = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string());
        ServerError::Db(detail)
    }
}

impl From<deadpool_postgres::PoolError> for ServerError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        ServerError::Db(format!("keine Verbindung zur Datenbank ({e})"))
    }
}

impl ServerError {
    pub fn file(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        ServerError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

pub type Result<T> = std::result::Result<T, ServerError>;
