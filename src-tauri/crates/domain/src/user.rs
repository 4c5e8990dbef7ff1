use serde::{Deserialize, Serialize};

/// A local login name: 2–32 characters, lower-case ASCII letters, digits, `.`, `-`, `_`,
/// starting with a letter. Names are lower-cased on parse, so `Mueller` and `mueller`
/// are the same user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserNameError {
    #[error("Der Benutzername muss 2 bis 32 Zeichen lang sein.")]
    Length,
    #[error(
        "Der Benutzername darf nur Kleinbuchstaben a–z, Ziffern, Punkt, Binde- und Unterstrich enthalten und muss mit einem Buchstaben beginnen."
    )]
    Characters,
}

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, UserNameError> {
        let name = raw.trim().to_ascii_lowercase();
        let len = name.chars().count();
        if !(2..=32).contains(&len) {
            return Err(UserNameError::Length);
        }
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if !first_ok || !rest_ok {
            return Err(UserNameError::Characters);
        }
        Ok(UserName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserName {
    type Error = UserNameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        UserName::parse(&value)
    }
}

impl From<UserName> for String {
    fn from(value: UserName) -> Self {
        value.0
    }
}

impl std::fmt::Display for UserName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_usual_names_and_lowercases() {
        assert_eq!(
            UserName::parse(" M.Mueller ").map(|u| u.0),
            Ok("m.mueller".into())
        );
        assert!(UserName::parse("sb1").is_ok());
        assert!(UserName::parse("a_b-c").is_ok());
    }

    #[test]
    fn rejects_hostile_names() {
        for bad in ["../etc", "a/b", "ä", "a b", "1abc", "-x", "", "x", "a\0b"] {
            assert!(UserName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(UserName::parse(&"a".repeat(33)), Err(UserNameError::Length));
    }
}
