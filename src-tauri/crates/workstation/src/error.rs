use serde::Serialize;
use store::StoreError;
use ts_rs::TS;

/// Machine-readable kind of an [`AppError`], for the UI to react on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum ErrorCode {
    /// Nobody is logged in: every read is refused.
    Locked,
    WrongCredentials,
    LockedOut,
    Forbidden,
    InvalidInput,
    NotFound,
    Conflict,
    Storage,
}

/// An error as the user sees it: a code and a German message saying what happened
/// and what to do. Never contains passwords or content data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
        }
    }

    pub fn locked() -> Self {
        AppError::new(
            ErrorCode::Locked,
            "Die Arbeitsstation ist gesperrt. Bitte melden Sie sich an.",
        )
    }

    pub fn forbidden() -> Self {
        AppError::new(
            ErrorCode::Forbidden,
            "Für diese Aktion fehlt Ihrer Rolle die Berechtigung.",
        )
    }

    pub fn wrong_credentials() -> Self {
        AppError::new(
            ErrorCode::WrongCredentials,
            "Benutzername oder Passwort ist falsch.",
        )
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        AppError::new(ErrorCode::InvalidInput, message)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::WrongPassword { .. } | StoreError::WrongRecoveryKey => {
                ErrorCode::WrongCredentials
            }
            StoreError::LockedOut { .. } => ErrorCode::LockedOut,
            StoreError::InvalidRecoveryKey
            | StoreError::PasswordTooShort { .. }
            | StoreError::InvalidInput(_)
            | StoreError::LastAdmin => ErrorCode::InvalidInput,
            StoreError::UnknownUser(_)
            | StoreError::NotInitialised(_)
            | StoreError::BlobMissing(_) => ErrorCode::NotFound,
            StoreError::UserExists(_)
            | StoreError::AlreadyInitialised(_)
            | StoreError::Conflict(_) => ErrorCode::Conflict,
            StoreError::Corrupt(_)
            | StoreError::Database(_)
            | StoreError::Io { .. }
            | StoreError::Crypto(_) => ErrorCode::Storage,
        };
        if code == ErrorCode::Storage {
            tracing::error!("Speicherfehler: {e}");
        }
        AppError::new(code, e.to_string())
    }
}

impl From<sync::SyncError> for AppError {
    fn from(e: sync::SyncError) -> Self {
        match e {
            sync::SyncError::Store(s) => AppError::from(s),
            sync::SyncError::Unavailable(m) => AppError::new(ErrorCode::Locked, m),
            // Portal trouble ends up in the summary, not as an error; this is a fallback.
            sync::SyncError::Portal(p) => AppError::new(ErrorCode::Storage, p.to_string()),
        }
    }
}
