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
            StoreError::CaseKeyMissing(_) => ErrorCode::Forbidden,
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
            | StoreError::Crypto(_)
            | StoreError::StagedForged(_)
            | StoreError::Backup(_) => ErrorCode::Storage,
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

/// A serde message (TOML, JSON) in German: the field or value it names kept, the
/// English wording replaced. Unknown wordings keep the original behind a German lead.
pub(crate) fn german_serde(message: &str) -> String {
    // serde_json appends " at line L column C"; the caller names the place.
    let message = message.split(" at line ").next().unwrap_or(message).trim();
    // serde names the field or value in backticks after these wordings.
    let named = [
        ("missing field", "das Feld „{}“ fehlt."),
        (
            "unknown field",
            "das Feld „{}“ ist unbekannt (Tippfehler?).",
        ),
        ("unknown variant", "der Wert „{}“ ist nicht zulässig."),
        ("duplicate field", "das Feld „{}“ steht doppelt da."),
    ];
    for (english, german) in named {
        if let Some(rest) = message.strip_prefix(english) {
            // serde always quotes the name; unquoted, the sentence still reads.
            let name = rest.split('`').nth(1).unwrap_or_default();
            return german.replace("{}", name);
        }
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        // Without "expected" the generic wording below applies.
        let expected = message.split("expected ").nth(1).unwrap_or_default();
        let wanted = match expected {
            e if e.contains("string") => "ein Text",
            e if e.contains("bool") => "wahr oder falsch (true/false)",
            e if e.contains("sequence") => "eine Liste",
            e if e.contains("map") || e.contains("struct") => "ein Abschnitt",
            e if e.contains("integer")
                || e.starts_with('u')
                || e.starts_with('i')
                || e.contains("number") =>
            {
                "eine ganze Zahl"
            }
            _ => "ein anderer Wert",
        };
        return format!("falscher Wert – erwartet wird {wanted}.");
    }
    if message.contains("EOF") || message.contains("expected") || message.contains("invalid") {
        return format!("die Datei ist an dieser Stelle nicht lesbar ({message}).");
    }
    format!("fehlerhafter Eintrag ({message}).")
}

#[cfg(test)]
mod tests {
    use super::german_serde;

    #[test]
    fn serde_messages_in_german() {
        assert_eq!(
            german_serde("missing field `x5c` at line 29 column 1"),
            "das Feld „x5c“ fehlt."
        );
        assert_eq!(
            german_serde("unknown field `lnad`, expected one of `land`, `x`"),
            "das Feld „lnad“ ist unbekannt (Tippfehler?)."
        );
        assert_eq!(
            german_serde("invalid type: integer `1`, expected a string"),
            "falscher Wert – erwartet wird ein Text."
        );
        assert_eq!(
            german_serde("invalid type: string \"a\", expected u32"),
            "falscher Wert – erwartet wird eine ganze Zahl."
        );
        assert_eq!(
            german_serde("unknown variant `gelb`, expected `rot`"),
            "der Wert „gelb“ ist nicht zulässig."
        );
        // A TOML syntax error keeps its detail behind a German lead.
        assert!(
            german_serde("expected `=`, found newline")
                .starts_with("die Datei ist an dieser Stelle nicht lesbar")
        );
        assert!(german_serde("recursion limit").starts_with("fehlerhafter Eintrag"));
    }
}
