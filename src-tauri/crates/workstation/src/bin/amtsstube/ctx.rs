//! What every subcommand shares: the data directory, the secrets read from the
//! terminal or standard input, a login that always ends in a logout, and files
//! written on the user's request.

use std::io::{BufRead, IsTerminal};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use workstation::{AppError, LoginRequest, Workstation};

/// Reads secrets from the terminal or, in scripts, line by line from stdin.
pub struct Secrets {
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

    pub fn read(&mut self, prompt: &str) -> Result<String> {
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

    /// A new password; asked twice on a terminal.
    pub fn new_password(&mut self, prompt: &str) -> Result<String> {
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

pub struct Ctx {
    pub dir: PathBuf,
    pub secrets: Secrets,
}

impl Ctx {
    pub fn new(dir: PathBuf) -> Self {
        Ctx {
            dir,
            secrets: Secrets::new(),
        }
    }

    /// Open the data directory and log in as `user` (password asked for).
    pub fn login(&mut self, user: &str) -> Result<LoggedIn> {
        Ok(self.login_with_password(user)?.0)
    }

    /// As [`Ctx::login`], with the password for a second sign-in (Rathaus-Server).
    pub fn login_with_password(&mut self, user: &str) -> Result<(LoggedIn, String)> {
        let mut ws = Workstation::open(&self.dir)?;
        let password = self.secrets.read(&format!("Passwort für {user}"))?;
        ws.login(LoginRequest {
            username: user.to_owned(),
            password: password.clone(),
        })?;
        Ok((LoggedIn(ws), password))
    }
}

/// A logged-in workstation that logs out (closing the database, wiping the key)
/// when it goes out of scope – also on an error.
pub struct LoggedIn(pub Workstation);

impl Drop for LoggedIn {
    fn drop(&mut self) {
        self.0.logout();
    }
}

impl Deref for LoggedIn {
    type Target = Workstation;
    fn deref(&self) -> &Workstation {
        &self.0
    }
}

impl DerefMut for LoggedIn {
    fn deref_mut(&mut self) -> &mut Workstation {
        &mut self.0
    }
}

/// Write a file the user asked for (preview, CSV, PDF).
pub fn write_file(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    workstation::exports::write_private(path, bytes.as_ref())
        .map_err(|e| AppError::invalid(format!("{} nicht schreibbar: {e}", path.display())))?;
    Ok(())
}
