//! The administration: users, the portal connection and poll interval, the
//! inactivity lock, the outbox's failed items, the quarantine, the audit chain.
//! No case content reaches these methods' results.

use domain::{Permission, Role, UserName};
use store::{AuditReport, SecretString};

use crate::api::UserRow;
use crate::{AppError, ErrorCode, LOCK_SETTING, Workstation, portal, timestamp};

/// A user as the administration's screen shows it (no content data).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AdminUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub role_label: String,
    /// Locked out after failed logins until (local time), if so.
    pub locked_until: Option<String>,
    /// The logged-in administration itself (not removable, role not changeable).
    pub own: bool,
    /// The keys of the user's role (case content, scan products) and whether each
    /// is given, in German ("Vorgangsinhalte: freigegeben"); empty for a role
    /// without any (the administration) and in office mode (the server gives them).
    pub keys: Vec<String>,
}

/// A new user from the administration's screen.
#[derive(Debug, Clone, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct NewUserRequest {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The first password (at least 10 characters), handed over in person.
    pub password: String,
}

/// The settings of the administration's "Betrieb" screen, as they are now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AdminSettings {
    pub lock_after_seconds: u32,
    #[ts(type = "number")]
    pub poll_seconds: u64,
    pub portal_configured: bool,
    pub hkr_folder: Option<String>,
    pub scan_folder: Option<String>,
    pub person_reports: bool,
    /// The RFC 3161 time-stamping service's address, if set up.
    pub timestamp_service: Option<String>,
    /// The newest time stamp kept: entry and the time the service vouches for.
    pub last_timestamp: Option<String>,
}

/// What is left of setting this PC up: the administration's first steps after the
/// first run, each done or not, in the order an administrator takes them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SetupSteps {
    /// `gemeinde.toml` of the data directory holds the town's own letterhead.
    pub letterhead: bool,
    /// A FIT-Connect connection is stored (standalone; a desk has the server's).
    pub portal: bool,
    /// Somebody else than the administration can log in.
    pub staff: bool,
    /// A backup folder is set and a backup has been written.
    pub backup: bool,
    /// This PC is a desk of the Rathaus-Server: the portal and the backup are the
    /// server's business.
    pub office: bool,
}

/// A failed outbox item for the administration (references and the error only).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OutboxRow {
    #[ts(type = "number")]
    pub id: i64,
    /// "Antwort", "Zahlungsanforderung", "Kasse", "Annahme", "Ablehnung", …
    pub kind: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// A submission in the quarantine, for the administration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct QuarantineRow {
    pub submission_id: String,
    pub received_at: String,
    /// The rejection reached the portal.
    pub rejected: bool,
    /// Why it was refused (German, from the checks).
    pub reasons: Vec<String>,
}

/// The audit chain's check, for the screen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AuditCheck {
    pub intact: bool,
    #[ts(type = "number")]
    pub entries: u64,
    pub problems: Vec<String>,
}

fn outbox_kind(kind: &str) -> String {
    match kind {
        "reply" => "Brief an das Portal (FIT-Connect-Einreichung)",
        "mail" => "E-Mail an die Antragstellenden",
        "payment" => "Zahlungsanforderung",
        "hkr" => "Annahmeanordnung (Kasse)",
        "accept" => "Annahme beim Portal",
        "reject" => "Ablehnung beim Portal",
        other => other,
    }
    .to_owned()
}

fn user_name(name: &str) -> Result<UserName, AppError> {
    UserName::parse(name).map_err(|e| AppError::invalid(e.to_string()))
}

impl Workstation {
    /// The active users with role and lockout (administration).
    pub fn admin_users(&self) -> Result<Vec<AdminUser>, AppError> {
        let session = self.session_with(Permission::ManageUsers)?;
        let me = session.user().username.clone();
        let office = self.office_mode()?;
        let mut keys = if office {
            Default::default()
        } else {
            session.key_states()?
        };
        let mut out = Vec::new();
        for u in session.list_users()?.into_iter().filter(|u| u.active) {
            let keys = keys
                .remove(u.username.as_str())
                .unwrap_or_default()
                .into_iter()
                .map(|(kind, held)| {
                    format!(
                        "{}: {}",
                        kind.label(),
                        if held {
                            "freigegeben"
                        } else {
                            "wartet auf Freigabe"
                        }
                    )
                })
                .collect();
            out.push(AdminUser {
                username: u.username.to_string(),
                display_name: u.display_name.clone(),
                role: u.role,
                role_label: u.role.label().to_owned(),
                locked_until: session.locked_until(&u.username)?,
                own: u.username == me,
                keys,
            });
        }
        Ok(out)
    }

    /// Add a user from the administration's screen.
    pub fn admin_add_user(&mut self, request: NewUserRequest) -> Result<UserRow, AppError> {
        self.add_user(
            request.username.trim(),
            request.display_name.trim(),
            request.role,
            request.password,
        )
    }

    /// Give a user another role (administration; not the own, not the last admin).
    pub fn set_user_role(&mut self, username: &str, role: Role) -> Result<(), AppError> {
        let user = user_name(username)?;
        self.session_with_mut(Permission::ManageUsers)?
            .set_role(&user, role)?;
        Ok(())
    }

    /// Reset someone's password (administration; also lifts a lockout).
    pub fn admin_set_password(&mut self, username: &str, password: String) -> Result<(), AppError> {
        self.allowed(Permission::ManageUsers)?;
        self.set_password(username, password)
    }

    /// Lift a lockout after failed logins (administration).
    pub fn unlock_user(&mut self, username: &str) -> Result<(), AppError> {
        let user = user_name(username)?;
        self.session_with_mut(Permission::ManageUsers)?
            .unlock_user(&user)?;
        Ok(())
    }

    /// The settings of the "Betrieb" screen (administration).
    pub fn admin_settings(&self) -> Result<AdminSettings, AppError> {
        let session = self.session_with(Permission::ConfigurePortal)?;
        let number = |name: &str| -> Result<Option<u64>, AppError> {
            Ok(session.setting(name)?.and_then(|v| v.parse().ok()))
        };
        Ok(AdminSettings {
            lock_after_seconds: number(LOCK_SETTING)?
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(crate::api::DEFAULT_LOCK_AFTER_SECONDS),
            poll_seconds: number(portal::POLL_SETTING)?.unwrap_or(portal::DEFAULT_POLL_SECONDS),
            portal_configured: session.setting(portal::SETTING)?.is_some(),
            hkr_folder: session.setting(crate::letters::HKR_SETTING)?,
            scan_folder: session.setting(crate::scan::FOLDER_SETTING)?,
            person_reports: session.setting(crate::reports::PERSON_SETTING)?.as_deref()
                == Some("an"),
            timestamp_service: session.setting(timestamp::SERVICE_SETTING)?,
            last_timestamp: session
                .audit_timestamps()?
                .last()
                .map(|t| format!("Eintrag {} am {}", t.seq, t.gen_time)),
        })
    }

    /// What is left of setting this PC up (administration).
    pub fn admin_setup_steps(&self) -> Result<SetupSteps, AppError> {
        let settings = self.admin_settings()?;
        let staff = self.admin_users()?.iter().any(|u| u.role != Role::Admin);
        let office = self
            .session_with(Permission::ConfigurePortal)?
            .setting(crate::office::SETTING)?
            .is_some();
        let backup = office || {
            let status = self.backup_status()?;
            status.settings.is_some() && status.last_good.is_some()
        };
        Ok(SetupSteps {
            letterhead: crate::config::config_path(self.data_dir(), "gemeinde.toml").is_some(),
            portal: office || settings.portal_configured,
            staff,
            backup,
            office,
        })
    }

    /// The failed outbox items, for "erneut versuchen" (administration).
    pub fn admin_failed_outbox(&self) -> Result<Vec<OutboxRow>, AppError> {
        Ok(self
            .outbox(true)?
            .into_iter()
            .map(|i| OutboxRow {
                id: i.id,
                kind: outbox_kind(&i.kind),
                attempts: i.attempts,
                last_error: i.last_error,
            })
            .collect())
    }

    /// The quarantine with its reasons (administration).
    pub fn admin_quarantine(&self) -> Result<Vec<QuarantineRow>, AppError> {
        Ok(self
            .quarantine()?
            .into_iter()
            .map(|q| {
                let reasons = serde_json::from_str::<Vec<serde_json::Value>>(&q.problems)
                    .map(|list| {
                        list.iter()
                            .map(|p| {
                                p.get("detail")
                                    .or_else(|| p.get("title"))
                                    .and_then(|d| d.as_str())
                                    .map_or_else(|| p.to_string(), str::to_owned)
                            })
                            .collect()
                    })
                    .unwrap_or_else(|_| vec![q.problems.clone()]);
                QuarantineRow {
                    submission_id: q.submission_id,
                    received_at: q.received_at,
                    rejected: q.rejected,
                    reasons,
                }
            })
            .collect())
    }

    /// Check the audit chain (and the anchor outside the database) for the screen.
    pub fn admin_audit_check(&self) -> Result<AuditCheck, AppError> {
        let report = self.verify_audit()?;
        Ok(AuditCheck {
            intact: report.is_intact(),
            entries: report.entries,
            problems: report.problems.iter().map(ToString::to_string).collect(),
        })
    }

    /// Set the inactivity lock (administration), 60 s to 1 h.
    pub fn set_lock_after(&mut self, seconds: u32) -> Result<(), AppError> {
        if !(60..=3_600).contains(&seconds) {
            return Err(AppError::invalid(
                "Die Sperre nach Inaktivität muss zwischen 1 und 60 Minuten liegen.",
            ));
        }
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        session.set_setting(LOCK_SETTING, &seconds.to_string())?;
        session.audit("einstellung.sperre", &seconds.to_string())?;
        Ok(())
    }

    pub fn list_users(&self) -> Result<Vec<UserRow>, AppError> {
        let session = self.session_with(Permission::ManageUsers)?;
        Ok(session.list_users()?.iter().map(UserRow::from).collect())
    }

    pub fn add_user(
        &mut self,
        username: &str,
        display_name: &str,
        role: Role,
        password: String,
    ) -> Result<UserRow, AppError> {
        let user = UserName::parse(username).map_err(|e| AppError::invalid(e.to_string()))?;
        let session = self.session_with_mut(Permission::ManageUsers)?;
        let info = session.add_user(&user, display_name, role, &SecretString::from(password))?;
        Ok(UserRow::from(&info))
    }

    pub fn remove_user(&mut self, username: &str) -> Result<(), AppError> {
        let user = UserName::parse(username).map_err(|e| AppError::invalid(e.to_string()))?;
        self.session_with_mut(Permission::ManageUsers)?
            .remove_user(&user)?;
        Ok(())
    }

    /// Set a password: every user for themself; the administration for anyone.
    pub fn set_password(&mut self, username: &str, new_password: String) -> Result<(), AppError> {
        let user = UserName::parse(username).map_err(|e| AppError::invalid(e.to_string()))?;
        let session = self.session.as_mut().ok_or_else(AppError::locked)?;
        let own = session.user().username == user;
        if !own && !session.user().role.may(Permission::ManageUsers) {
            return Err(AppError::forbidden());
        }
        session.set_password(&user, &SecretString::from(new_password))?;
        Ok(())
    }

    /// Change one's own password, proving the old one first.
    pub fn change_own_password(
        &mut self,
        old_password: String,
        new_password: String,
    ) -> Result<(), AppError> {
        let me = self.me()?;
        // Proves the old password (counts as an attempt, like a login would).
        self.store
            .verify_password(&me, &SecretString::from(old_password))?;
        self.set_password(me.as_str(), new_password)
    }

    /// Store the portal connection (administration). Checked before it is saved.
    pub fn configure_portal(&mut self, json: &str) -> Result<(), AppError> {
        let settings = portal::parse_settings(json)?;
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        let value =
            serde_json::to_string(&settings).map_err(|e| AppError::invalid(e.to_string()))?;
        session.set_setting(portal::SETTING, &value)?;
        Ok(())
    }

    /// Set the poll interval of the background synchronisation (administration).
    pub fn set_poll_interval(&mut self, seconds: u64) -> Result<(), AppError> {
        if !(30..=86_400).contains(&seconds) {
            return Err(AppError::invalid(
                "Das Abrufintervall muss zwischen 30 Sekunden und 24 Stunden liegen.",
            ));
        }
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        session.set_setting(portal::POLL_SETTING, &seconds.to_string())?;
        session.audit("portal.intervall", &seconds.to_string())?;
        Ok(())
    }

    /// Outbox items for the administration: what waits, what failed and why.
    /// Items carry references and error texts only, no content data.
    pub fn outbox(&self, failed_only: bool) -> Result<Vec<store::OutboxItem>, AppError> {
        let session = self.session_with(Permission::ConfigurePortal)?;
        let items = session.outbox_items(if failed_only { Some("failed") } else { None })?;
        Ok(items
            .into_iter()
            .map(|mut i| {
                // The payload of replies will hold content; the administration sees none.
                i.payload = String::new();
                i
            })
            .collect())
    }

    /// Put a failed outbox item back into the queue ("erneut versuchen").
    pub fn retry_outbox_item(&mut self, id: i64) -> Result<(), AppError> {
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        if !session.outbox_requeue(id)? {
            return Err(AppError::new(
                ErrorCode::NotFound,
                format!("Es gibt keinen fehlgeschlagenen Auftrag {id}."),
            ));
        }
        session.audit("ausgang.erneut", &id.to_string())?;
        Ok(())
    }

    /// The quarantine of invalid submissions (administration).
    pub fn quarantine(&self) -> Result<Vec<store::QuarantineEntry>, AppError> {
        Ok(self
            .session_with(Permission::ConfigurePortal)?
            .quarantine()?)
    }

    pub fn verify_audit(&self) -> Result<AuditReport, AppError> {
        let session = self.session_with(Permission::ReadAudit)?;
        let mut report = session.verify_audit()?;
        // Each kept time stamp: signed by the configured service, for its entry.
        let stamps = session.audit_timestamps()?;
        if !stamps.is_empty() {
            let cert = session.setting(timestamp::CERT_SETTING)?;
            for stamp in stamps {
                let imprint = timestamp::imprint(stamp.seq, &stamp.hash);
                let checked = match &cert {
                    Some(pem) => timestamp::verify_token(&stamp.token, &imprint, None, pem),
                    None => {
                        Err("Es ist kein Zertifikat eines Zeitstempeldienstes eingerichtet.".into())
                    }
                };
                match checked {
                    Ok(at) if at == stamp.gen_time => {}
                    Ok(at) => report.problems.push(store::AuditProblem::TimestampInvalid {
                        seq: stamp.seq,
                        why: format!("Er nennt {at}, gespeichert ist {}.", stamp.gen_time),
                    }),
                    Err(why) => report.problems.push(store::AuditProblem::TimestampInvalid {
                        seq: stamp.seq,
                        why,
                    }),
                }
            }
        }
        Ok(report)
    }

    /// Set up the town's RFC 3161 time-stamping service (address and its signing
    /// certificate, PEM); an empty address removes it.
    pub fn set_timestamp_service(&mut self, url: &str, cert_pem: &str) -> Result<(), AppError> {
        let session = self.session_with_mut(Permission::ConfigurePortal)?;
        if url.trim().is_empty() {
            session.remove_setting(timestamp::SERVICE_SETTING)?;
            return Ok(());
        }
        let parsed = timestamp::parse_service(url).map_err(AppError::invalid)?;
        openssl::x509::X509::from_pem(cert_pem.as_bytes()).map_err(|_| {
            AppError::invalid(
                "Das Zertifikat des Zeitstempeldienstes ist unlesbar (erwartet: PEM, „-----BEGIN CERTIFICATE-----“).",
            )
        })?;
        session.set_setting(timestamp::CERT_SETTING, cert_pem)?;
        session.set_setting(timestamp::SERVICE_SETTING, parsed.as_str())?;
        Ok(())
    }

    /// Have the chain's head time-stamped by the configured service and keep the
    /// checked token (administration, Leitung). `None` when no service is set up.
    pub fn stamp_audit(&mut self) -> Result<Option<store::AuditTimestamp>, AppError> {
        let Some(job) = self.prepare_audit_stamp()? else {
            return Ok(None);
        };
        let response = job.fetch();
        self.finish_stamp(job, response).map(Some)
    }

    /// [`Workstation::prepare_stamp`] for the administration and the Leitung.
    pub fn prepare_audit_stamp(&self) -> Result<Option<StampJob>, AppError> {
        self.allowed(Permission::ReadAudit)?;
        self.prepare_stamp()
    }

    /// The request for a time stamp of the current head, if a service is set up
    /// (for any logged-in user: only the head's hash leaves the machine). The
    /// exchange itself ([`StampJob::fetch`]) needs no lock.
    pub fn prepare_stamp(&self) -> Result<Option<StampJob>, AppError> {
        let session = self.session.as_ref().ok_or_else(AppError::locked)?;
        let Some(service) = session.setting(timestamp::SERVICE_SETTING)? else {
            return Ok(None);
        };
        let cert = session.setting(timestamp::CERT_SETTING)?.ok_or_else(|| {
            AppError::invalid("Es ist kein Zertifikat des Zeitstempeldienstes eingerichtet.")
        })?;
        let Some((seq, hash)) = session.audit_head()? else {
            return Ok(None);
        };
        let imprint = timestamp::imprint(seq, &hash);
        let nonce = timestamp::nonce(rand::random());
        let request = timestamp::request(&imprint, nonce).map_err(AppError::invalid)?;
        Ok(Some(StampJob {
            service,
            cert,
            seq,
            hash,
            imprint,
            nonce,
            request,
        }))
    }

    /// Check the service's answer and keep the stamp.
    pub fn finish_stamp(
        &mut self,
        job: StampJob,
        response: Result<Vec<u8>, AppError>,
    ) -> Result<store::AuditTimestamp, AppError> {
        let checked = timestamp::check_response(&response?, &job.imprint, job.nonce, &job.cert)
            .map_err(|m| AppError::new(ErrorCode::Conflict, m))?;
        let stamp = store::AuditTimestamp {
            seq: job.seq,
            hash: job.hash,
            service: job.service,
            gen_time: checked.gen_time,
            token: checked.token,
        };
        self.session
            .as_mut()
            .ok_or_else(AppError::locked)?
            .record_audit_timestamp(&stamp)?;
        Ok(stamp)
    }

    /// The newest `limit` audit entries, newest first (administration, Leitung).
    pub fn audit_entries(&self, limit: u32) -> Result<Vec<store::AuditEntry>, AppError> {
        Ok(self
            .session_with(Permission::ReadAudit)?
            .audit_entries(limit)?)
    }
}

/// One request for a time stamp of the chain's head, prepared under the lock.
pub struct StampJob {
    service: String,
    cert: String,
    seq: i64,
    hash: String,
    imprint: [u8; 32],
    nonce: u64,
    request: Vec<u8>,
}

impl StampJob {
    /// The exchange with the service (blocks up to its time limit; hold no lock).
    pub fn fetch(&self) -> Result<Vec<u8>, AppError> {
        crate::office::runtime()?
            .block_on(timestamp::fetch(&self.service, self.request.clone()))
            .map_err(|m| AppError::new(ErrorCode::Conflict, m))
    }
}
