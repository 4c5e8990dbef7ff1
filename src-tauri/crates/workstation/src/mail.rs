//! Answers by e-mail: the town's SMTP relay (administration settings, kept in the
//! encrypted store; the password never leaves it except to the relay) and the
//! e-mails a letter queues (`sync::mail` builds and sends them).

use crate::{AppError, Workstation};
use domain::Permission;
use serde::{Deserialize, Serialize};
use store::Session;
use sync::bounce::BounceBox;
use sync::mail::{Relay, Security};
use ts_rs::TS;

pub(crate) const SETTING: &str = "mail_relay";
/// The mailbox the relay's bounces come back to (IMAP), if set up.
pub(crate) const BOUNCE_SETTING: &str = "mail_bounce_box";

fn invalid(msg: impl Into<String>) -> AppError {
    AppError::invalid(msg.into())
}

/// The relay as the administration enters it. An empty password keeps the
/// stored one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MailSettings {
    pub host: String,
    pub port: u16,
    /// `starttls`, `tls` or `keine` (only for a relay on this PC).
    pub security: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub from_name: Option<String>,
    /// A CA certificate (PEM) for a relay with the town's own certificate.
    pub ca_pem: Option<String>,
}

/// The stored relay as the administration sees it (no password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MailSettingsView {
    pub host: String,
    pub port: u16,
    pub security: String,
    pub user: Option<String>,
    pub password_set: bool,
    pub from: String,
    pub from_name: Option<String>,
    pub ca_set: bool,
}

/// The mailbox where late bounces arrive (IMAP), as the administration enters
/// it. An empty password keeps the stored one (for the same user).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BounceSettings {
    pub host: String,
    pub port: u16,
    /// `tls` (993), `starttls` (143) or `keine` (only for a server on this PC).
    pub security: String,
    pub user: String,
    pub password: Option<String>,
    /// Usually `INBOX`.
    pub folder: String,
}

/// The stored bounce mailbox as the administration sees it (no password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BounceSettingsView {
    pub host: String,
    pub port: u16,
    pub security: String,
    pub user: String,
    pub folder: String,
}

fn bounce_view(b: &BounceBox) -> BounceSettingsView {
    BounceSettingsView {
        host: b.host.clone(),
        port: b.port,
        security: security_name(b.security).to_owned(),
        user: b.user.clone(),
        folder: b.folder.clone(),
    }
}

/// The stored bounce mailbox, if one is set up.
pub(crate) fn bounce_box(session: &Session) -> Result<Option<BounceBox>, AppError> {
    match session.setting(BOUNCE_SETTING)? {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json).map(Some).map_err(|_| {
            invalid("Die gespeicherten Postfach-Einstellungen sind unlesbar; bitte neu eintragen.")
        }),
    }
}

fn security_of(s: &str) -> Result<Security, AppError> {
    match s {
        "starttls" => Ok(Security::Starttls),
        "tls" => Ok(Security::Tls),
        "keine" => Ok(Security::Keine),
        other => Err(invalid(format!(
            "Unbekannte Verschlüsselung „{other}“ (starttls, tls oder keine)."
        ))),
    }
}

fn security_name(s: Security) -> &'static str {
    match s {
        Security::Starttls => "starttls",
        Security::Tls => "tls",
        Security::Keine => "keine",
    }
}

fn view(r: &Relay) -> MailSettingsView {
    MailSettingsView {
        host: r.host.clone(),
        port: r.port,
        security: security_name(r.security).to_owned(),
        user: r.user.clone(),
        password_set: r.password.is_some(),
        from: r.from.clone(),
        from_name: r.from_name.clone(),
        ca_set: r.ca_pem.is_some(),
    }
}

/// The stored relay, if one is set up.
pub(crate) fn relay(session: &Session) -> Result<Option<Relay>, AppError> {
    match session.setting(SETTING)? {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json).map(Some).map_err(|_| {
            invalid("Die gespeicherten E-Mail-Einstellungen sind unlesbar; bitte neu eintragen.")
        }),
    }
}

fn blank(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The text of the notice that a letter goes by post: nothing about the case.
pub(crate) fn notice_text(town: &str) -> String {
    format!(
        "Guten Tag,\r\n\r\n{town} hat Ihnen heute ein Schreiben zu Ihrem Antrag per Post gesandt.\r\n\
         Diese E-Mail enthält aus Gründen des Datenschutzes keine weiteren Angaben: Sie haben für\r\n\
         E-Mails keinen OpenPGP-Schlüssel hinterlegt, ohne den wir keine persönlichen Inhalte\r\n\
         per E-Mail senden.\r\n\r\nMit freundlichen Grüßen\r\n{town}\r\n"
    )
}

/// The envelope's subject: the town only.
pub(crate) fn neutral_subject(town: &str) -> String {
    format!("Nachricht von {town}")
}

impl Workstation {
    /// The stored relay (administration); none: e-mail is not set up.
    pub fn mail_settings(&mut self) -> Result<Option<MailSettingsView>, AppError> {
        let session = self.session_with(Permission::ConfigurePortal)?;
        Ok(relay(session)?.as_ref().map(view))
    }

    /// Set up or change the relay (administration). Checked before it is kept.
    pub fn set_mail_settings(&mut self, s: &MailSettings) -> Result<MailSettingsView, AppError> {
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        let old = relay(session).ok().flatten();
        let user = blank(s.user.clone());
        let password = match (blank(s.password.clone()), &user) {
            (Some(p), _) => Some(p),
            // Kept only for the same user.
            (None, Some(u)) => old
                .as_ref()
                .filter(|o| o.user.as_ref() == Some(u))
                .and_then(|o| o.password.clone()),
            (None, None) => None,
        };
        let relay = Relay {
            host: s.host.trim().to_owned(),
            port: s.port,
            security: security_of(&s.security)?,
            user,
            password,
            from: s.from.trim().to_owned(),
            from_name: blank(s.from_name.clone()),
            ca_pem: blank(s.ca_pem.clone()),
        };
        relay.validate().map_err(|e| invalid(e.to_string()))?;
        let json = serde_json::to_string(&relay).map_err(|e| invalid(e.to_string()))?;
        session.set_setting(SETTING, &json)?;
        Ok(view(&relay))
    }

    /// Remove the relay: e-mail answers wait, letters go by post.
    pub fn remove_mail_settings(&mut self) -> Result<(), AppError> {
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        session.remove_setting(SETTING)?;
        Ok(())
    }

    /// The bounce mailbox (administration); none: late bounces are not read.
    pub fn mail_bounce_settings(&mut self) -> Result<Option<BounceSettingsView>, AppError> {
        let session = self.session_with(Permission::ConfigurePortal)?;
        Ok(bounce_box(session)?.as_ref().map(bounce_view))
    }

    /// Set up or change the bounce mailbox (administration). Checked before it
    /// is kept; needs the relay (its bounces are what is read). The relay's CA
    /// certificate is trusted for the mailbox too (usually the same server).
    pub fn set_mail_bounce_settings(
        &mut self,
        s: &BounceSettings,
    ) -> Result<BounceSettingsView, AppError> {
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        let relay = relay(session)?.ok_or_else(|| {
            invalid("Zuerst den Mailserver (SMTP) einrichten; seine Rückläufer kommen in dieses Postfach.")
        })?;
        let old = bounce_box(session).ok().flatten();
        let user = s.user.trim().to_owned();
        let password = match blank(s.password.clone()) {
            Some(p) => p,
            None => old
                .filter(|o| o.user == user)
                .map(|o| o.password)
                .ok_or_else(|| invalid("Das Passwort des Postfachs fehlt."))?,
        };
        let b = BounceBox {
            host: s.host.trim().to_owned(),
            port: s.port,
            security: security_of(&s.security)?,
            user,
            password,
            folder: s.folder.trim().to_owned(),
            ca_pem: relay.ca_pem,
        };
        b.validate().map_err(|e| invalid(e.to_string()))?;
        let json = serde_json::to_string(&b).map_err(|e| invalid(e.to_string()))?;
        session.set_setting(BOUNCE_SETTING, &json)?;
        // Read from the start of the (maybe other) folder.
        session.remove_setting(sync::bounce::CURSOR_SETTING)?;
        Ok(bounce_view(&b))
    }

    /// Stop reading late bounces.
    pub fn remove_mail_bounce_settings(&mut self) -> Result<(), AppError> {
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        session.remove_setting(BOUNCE_SETTING)?;
        session.remove_setting(sync::bounce::CURSOR_SETTING)?;
        Ok(())
    }

    /// The bounce mailbox for "Verbindung testen" (asked without the lock).
    pub fn mail_bounce_check(&self) -> Result<BounceCheck, AppError> {
        let session = self.session_with(Permission::ConfigurePortal)?;
        let mailbox = bounce_box(session)?
            .ok_or_else(|| invalid("Es ist noch kein Postfach für Rückläufer eingerichtet."))?;
        Ok(BounceCheck { mailbox })
    }

    /// The clerk sent the letter of a refused e-mail by post: the task is done, the
    /// case records it with the posting date (audited).
    pub fn mail_refused_sent_by_post(
        &mut self,
        case_id: &str,
    ) -> Result<crate::CaseDetail, AppError> {
        if self.office_mode()? {
            self.session_with(Permission::EditCases)?;
            let file_number = self.office_visible(case_id)?.file_number;
            self.office_posted(&file_number)?;
            return self.case_detail(case_id);
        }
        let (_, rec) = self.visible_case(case_id, Permission::EditCases)?;
        let key = rec.fc_case_id.clone().unwrap_or_else(|| rec.id.clone());
        let detail = serde_json::json!({
            "kanal": "post",
            "grund": "elektronisch nicht zugestellt",
            "aufgegeben": crate::casework::today().to_string(),
        })
        .to_string();
        let id = rec.id.clone();
        self.session_with_mut(Permission::EditCases)?
            .settle_failed_mail(
                &id,
                &[&format!("mail:{key}"), &crate::bundid::message_order(&key)],
                &detail,
            )
            .map_err(|e| match e {
                store::StoreError::Conflict(m) => invalid(m),
                other => other.into(),
            })?;
        self.case_detail(case_id)
    }

    /// The relay for "Verbindung testen" (asked without the lock).
    pub fn mail_check(&self) -> Result<MailCheck, AppError> {
        let session = self.session_with(Permission::ConfigurePortal)?;
        let relay =
            relay(session)?.ok_or_else(|| invalid("Es ist noch kein Mailserver eingerichtet."))?;
        Ok(MailCheck { relay })
    }
}

/// Run a connection test on a runtime of its own (the caller holds no lock).
fn connect<E: std::fmt::Display>(
    test: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), AppError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| invalid(e.to_string()))?
        .block_on(test)
        .map_err(|e| invalid(e.to_string()))
}

/// "Verbindung testen" for the relay: connect, TLS, login – no message is sent.
pub struct MailCheck {
    relay: Relay,
}

impl MailCheck {
    /// A few seconds; network, no lock. The German answer.
    pub fn run(self) -> Result<String, AppError> {
        connect(self.relay.test()).map(|()| {
            format!(
                "Der Mailserver {} antwortet{}.",
                self.relay.host,
                if self.relay.user.is_some() {
                    " und nimmt die Anmeldung an"
                } else {
                    ""
                }
            )
        })
    }
}

/// "Verbindung testen" for the bounce mailbox: connect, TLS, login, open the
/// folder – nothing is read.
pub struct BounceCheck {
    mailbox: BounceBox,
}

impl BounceCheck {
    /// A few seconds; network, no lock. The German answer.
    pub fn run(self) -> Result<String, AppError> {
        connect(self.mailbox.test()).map(|()| {
            format!(
                "Das Postfach {} auf {} ist lesbar.",
                self.mailbox.folder, self.mailbox.host
            )
        })
    }
}
