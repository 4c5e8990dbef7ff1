//! Taking over a standalone store into the record (`amtsstube buero uebernehmen`):
//! only a Leitung (the role the server holds) may; each case in one transaction
//! with its history, its submissions and its place in the change feed; documents
//! one by one under the key they had at the desk; the standalone audit chain kept
//! as it was. Everything is idempotent, so a takeover broken off anywhere is
//! simply run again.

use domain::Permission;
use office::protocol::{TakeoverAnswer, TakeoverAuditEntry, TakeoverCase};
use office::rules::{self, Actor, Change};
use uuid::Uuid;

use crate::error::{Result, ServerError};
use crate::record::{Record, append, audit, insert_event, parse_time, stmt};

/// The largest document a takeover sends in one request (a scan of a thick file).
pub const MAX_DOCUMENT: usize = 1 << 30;

impl Record {
    /// Only a Leitung takes over (refusals audited).
    async fn only_leitung(&self, actor: &Actor, workstation: Uuid) -> Result<()> {
        if actor.role.may(Permission::AllCases) && actor.role.may(Permission::EditCases) {
            return Ok(());
        }
        let why = format!(
            "Einen Datenbestand übernehmen darf nur die Leitung, nicht {} ({}).",
            actor.user,
            actor.role.label()
        );
        self.audit(
            Some(&actor.user),
            Some(workstation),
            "uebernahme_abgelehnt",
            &why,
        )
        .await?;
        Err(ServerError::Forbidden(why))
    }
}

impl Record {
    /// Take over one case. Known already (same id and Aktenzeichen): nothing
    /// changes and the answer names the documents the server holds.
    pub async fn take_over_case(
        &self,
        actor: &Actor,
        workstation: Uuid,
        case: &TakeoverCase,
    ) -> Result<TakeoverAnswer> {
        self.only_leitung(actor, workstation).await?;
        let m = &case.meta;
        let invalid = |r: office::Refusal| ServerError::Invalid(r.reason);
        parse_time(&m.received_at).map_err(invalid)?;
        for e in &case.events {
            parse_time(&e.at).map_err(invalid)?;
        }
        for s in &case.submissions {
            parse_time(&s.received_at).map_err(invalid)?;
        }
        if m.file_number.trim().is_empty() || m.case_type.trim().is_empty() {
            return Err(ServerError::Invalid(
                "Ein übernommener Vorgang braucht Aktenzeichen und Vorgangsart.".into(),
            ));
        }
        if !matches!(m.channel.as_str(), "online" | "papier") {
            return Err(ServerError::Invalid(format!(
                "Unbekannter Eingangskanal „{}“.",
                m.channel
            )));
        }
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let known = tx
            .query_opt(
                &stmt(
                    &tx,
                    "SELECT id FROM cases WHERE id = $1 OR file_number = $2",
                )
                .await?,
                &[&m.id, &m.file_number],
            )
            .await?;
        if let Some(row) = known {
            let id: Uuid = row.try_get(0)?;
            if id != m.id {
                return Err(ServerError::Invalid(format!(
                    "Das Aktenzeichen {} gehört am Rathaus-Server schon einem anderen Vorgang.",
                    m.file_number
                )));
            }
            let keys = tx
                .query(
                    &stmt(
                        &tx,
                        "SELECT import_key FROM case_documents WHERE case_id = $1 AND import_key IS NOT NULL ORDER BY id",
                    )
                    .await?,
                    &[&m.id],
                )
                .await?
                .iter()
                .map(|r| r.try_get::<_, String>(0))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            return Ok(TakeoverAnswer {
                neu: false,
                dokumente: keys
                    .into_iter()
                    .filter_map(|k| k.split_once(':').map(|(_, d)| d.to_owned()))
                    .collect(),
            });
        }
        let mut after = m.clone();
        after.version = 1;
        after.state_version = 1;
        let effect = rules::Effect {
            before: None,
            after,
            content: Some(case.content.clone()),
            event: None,
        };
        self.write(&tx, &effect).await?;
        for e in &case.events {
            let event = office::Event {
                id: Uuid::new_v4(),
                case_id: m.id,
                kind: e.kind.clone(),
                actor: e.actor.clone(),
                at: e.at.clone(),
                from_state: e.from_state,
                to_state: e.to_state,
                content: e.content.clone(),
            };
            insert_event(&tx, &event).await?;
        }
        for s in &case.submissions {
            let received = parse_time(&s.received_at).map_err(invalid)?;
            tx.execute(
                &stmt(
                    &tx,
                    "INSERT INTO fc_submissions (submission_id, fc_case_id, case_id, state, service, received_at)
                     VALUES ($1, $2, $3, 'accepted', $4, $5) ON CONFLICT (submission_id) DO NOTHING",
                )
                .await?,
                &[&s.submission_id, &s.fc_case_id, &m.id, &s.service, &received],
            )
            .await?;
        }
        // The BundID Statusmonitor follows the case from now on, as for one picked
        // up here (without delivery settings there is nowhere to report to).
        if let (Some(monitor), Some(settings)) = (&case.statusmonitor, self.delivery()) {
            if monitor.service.trim().is_empty() || monitor.service.len() > 500 {
                return Err(ServerError::Invalid(
                    "Der Statusmonitor-Eintrag nennt keine gültige Leistung.".into(),
                ));
            }
            crate::delivery::keep_monitored(
                &tx,
                &settings,
                m.id,
                &crate::delivery::Monitored {
                    application_id: monitor.application_id,
                    service: monitor.service.clone(),
                },
            )
            .await?;
        }
        audit(
            &tx,
            Some(&actor.user),
            Some(workstation),
            "uebernahme",
            &format!("Vorgang {} übernommen", m.file_number),
        )
        .await?;
        append(&tx, &Change::of(&effect)).await?;
        tx.commit().await?;
        Ok(TakeoverAnswer {
            neu: true,
            dokumente: Vec::new(),
        })
    }

    /// Take over one document of a case taken over before (sealed to the case key
    /// at the desk). Sent twice, kept once.
    pub async fn take_over_document(
        &self,
        actor: &Actor,
        workstation: Uuid,
        case_id: Uuid,
        key: &str,
        content: &[u8],
    ) -> Result<bool> {
        self.only_leitung(actor, workstation).await?;
        if key.is_empty() || key.len() > 200 {
            return Err(ServerError::Invalid("Ungültige Dokumentkennung.".into()));
        }
        office::Ciphertext::check_age(content).map_err(|r| ServerError::Invalid(r.reason))?;
        let client = self.pool.get().await?;
        let exists = client
            .query_opt(
                &stmt(&client, "SELECT 1 FROM cases WHERE id = $1").await?,
                &[&case_id],
            )
            .await?;
        if exists.is_none() {
            return Err(ServerError::Invalid(format!(
                "Den Vorgang {case_id} gibt es am Rathaus-Server nicht: erst den Vorgang übernehmen."
            )));
        }
        let inserted = client
            .execute(
                &stmt(
                    &client,
                    "INSERT INTO case_documents (case_id, submission_id, content, import_key)
                     VALUES ($1, NULL, $2, $3) ON CONFLICT (import_key) DO NOTHING",
                )
                .await?,
                &[&case_id, &content, &format!("{case_id}:{key}")],
            )
            .await?;
        Ok(inserted == 1)
    }

    /// Keep entries of a standalone audit chain (sent twice, kept once).
    pub async fn take_over_audit(
        &self,
        actor: &Actor,
        workstation: Uuid,
        entries: &[TakeoverAuditEntry],
    ) -> Result<u64> {
        self.only_leitung(actor, workstation).await?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let insert = stmt(
            &tx,
            "INSERT INTO takeover_audit (workstation, seq, at, actor, action, object, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .await?;
        let mut n = 0;
        for e in entries {
            n += tx
                .execute(
                    &insert,
                    &[
                        &workstation,
                        &e.seq,
                        &e.at,
                        &e.actor,
                        &e.action,
                        &e.object,
                        &e.hash,
                    ],
                )
                .await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// How many entries of a desk's standalone audit chain the server keeps.
    pub async fn taken_over_audit(&self, workstation: Uuid) -> Result<i64> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                &stmt(
                    &client,
                    "SELECT count(*) FROM takeover_audit WHERE workstation = $1",
                )
                .await?,
                &[&workstation],
            )
            .await?;
        Ok(row.try_get(0)?)
    }
}

impl Record {
    /// Keep a desk's deposit (replacing an earlier one); any user signed in at that
    /// desk may, as each of them holds the desk's key there anyway.
    pub async fn deposit(&self, actor: &Actor, workstation: Uuid, identity: &str) -> Result<()> {
        office::keyring::recipient_of(&identity.to_string().into())
            .map_err(|r| ServerError::Invalid(r.reason))?;
        let client = self.pool.get().await?;
        client
            .execute(
                &stmt(&client, "UPDATE workstations SET escrow = $2 WHERE id = $1").await?,
                &[&workstation, &identity],
            )
            .await?;
        audit(
            &client,
            Some(&actor.user),
            Some(workstation),
            "arbeitsplatzschluessel_hinterlegt",
            "",
        )
        .await
    }

    /// The deposit a desk sends with its enrolment.
    pub async fn deposit_at_enrolment(&self, workstation: Uuid, identity: &str) -> Result<()> {
        office::keyring::recipient_of(&identity.to_string().into())
            .map_err(|r| ServerError::Invalid(r.reason))?;
        let client = self.pool.get().await?;
        client
            .execute(
                &stmt(&client, "UPDATE workstations SET escrow = $2 WHERE id = $1").await?,
                &[&workstation, &identity],
            )
            .await?;
        audit(
            &client,
            None,
            Some(workstation),
            "arbeitsplatzschluessel_hinterlegt",
            "bei der Anmeldung des Arbeitsplatzes",
        )
        .await
    }

    /// A user's first login at a desk that does not know her (no client
    /// certificate needed): the workstation must be enrolled and not revoked, the
    /// password right (failures count towards the lockout); then the desk's
    /// deposit and the role. Audited.
    pub async fn first_login(
        &self,
        req: &office::protocol::FirstLogin,
    ) -> Result<office::protocol::FirstLoginGrant> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &stmt(
                    &client,
                    "SELECT revoked_at IS NOT NULL, escrow FROM workstations WHERE id = $1",
                )
                .await?,
                &[&req.workstation],
            )
            .await?;
        let escrow = match row {
            Some(r) if !r.try_get::<_, bool>(0)? => r.try_get::<_, Option<String>>(1)?,
            _ => {
                audit(
                    &client,
                    Some(&req.user),
                    None,
                    "erstanmeldung_abgelehnt",
                    "Arbeitsplatz unbekannt oder gesperrt",
                )
                .await?;
                return Err(ServerError::Forbidden(
                    "Dieser Arbeitsplatz ist am Rathaus-Server nicht (mehr) angemeldet.".into(),
                ));
            }
        };
        drop(client);
        let grant = self
            .login(&req.user, &req.password, req.workstation)
            .await?;
        let client = self.pool.get().await?;
        let escrow = escrow.ok_or_else(|| {
            ServerError::Invalid(
                "Für diesen Arbeitsplatz ist nichts hinterlegt: Eine Person mit Zugang hier meldet sich einmal am Rathaus-Server an.".into(),
            )
        })?;
        audit(
            &client,
            Some(&req.user),
            Some(req.workstation),
            "arbeitsplatzschluessel_abgerufen",
            "",
        )
        .await?;
        Ok(office::protocol::FirstLoginGrant {
            role: grant.role,
            schluessel: escrow,
        })
    }
}
