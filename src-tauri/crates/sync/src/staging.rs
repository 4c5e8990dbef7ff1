//! Fetching while the store is locked: everything the pickup needs from the portal
//! for one submission – the submission with its JWEs, the attachments, the case's
//! signed event log, the service's JWKS and the destination keys the log names – is
//! kept as a [`Bundle`] in the store's staging folder, still encrypted. After the
//! next login the run serves those reads from the bundle ([`StagedView`]) and
//! verifies, decrypts and stores exactly as if it had fetched them just now – also
//! when the network is gone by then. Nothing is accepted before it is stored.

use std::collections::{BTreeMap, HashSet};

use fitconnect::api::{
    CreateSubmission, EventLog, Info, Jwks, PaymentRequest, PaymentTransaction, PublicDestination,
    Submission, SubmissionCreated, SubmissionsForPickup, SubmitSubmission,
};
use fitconnect::client::{ClientError, SubmissionApi};
use fitconnect::keys::PublicJwk;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::SyncError;

/// What the pickup reads from the portal for one submission, as received.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub submission: Submission,
    pub attachments: BTreeMap<Uuid, String>,
    /// The case's event log (signed SETs).
    pub events: Vec<String>,
    pub jwks: Jwks,
    /// Destination keys named by the log, by `kid`.
    pub destination_keys: BTreeMap<String, PublicJwk>,
    /// When it was fetched (RFC 3339).
    pub fetched_at: String,
}

/// Read everything for one submission.
pub async fn fetch_bundle(
    api: &impl SubmissionApi,
    destination: Uuid,
    submission_id: Uuid,
) -> Result<Bundle, ClientError> {
    let submission = api.submission(submission_id).await?;
    let mut attachments = BTreeMap::new();
    for id in &submission.attachments {
        attachments.insert(*id, api.attachment(submission_id, *id).await?);
    }
    let jwks = api.jwks().await?;
    let events = api.all_case_events(submission.case_id).await?;
    let mut destination_keys = BTreeMap::new();
    for token in &events {
        if let Some(kid) = fitconnect::set::unverified_kid(token)
            && !jwks.keys.iter().any(|k| k.kid == kid)
            && !destination_keys.contains_key(&kid)
            && let Ok(key) = api.destination_key(destination, &kid).await
        {
            destination_keys.insert(kid, key);
        }
    }
    Ok(Bundle {
        submission,
        attachments,
        events,
        jwks,
        destination_keys,
        fetched_at: jiff::Timestamp::now().to_string(),
    })
}

/// Fetch what waits for pickup into the staging folder of a locked store, each
/// bundle sealed with `key` (from the session that ended before). Returns
/// how many submissions were staged; stops at the first portal error (what was
/// staged stays).
pub async fn prefetch(
    api: &impl SubmissionApi,
    store: &store::Store,
    key: &store::StagingKey,
    destination: Uuid,
) -> Result<usize, SyncError> {
    let listed = api.all_for_pickup(destination).await?;
    let have: HashSet<String> = store.staged_ids()?.into_iter().collect();
    let mut n = 0;
    for l in listed {
        if have.contains(&l.submission_id.to_string()) {
            continue;
        }
        let bundle = fetch_bundle(api, destination, l.submission_id).await?;
        let bytes = serde_json::to_vec(&bundle)
            .map_err(|e| SyncError::Unavailable(format!("Vorabruf: {e}")))?;
        store.stage(&l.submission_id.to_string(), &bytes, key)?;
        n += 1;
    }
    Ok(n)
}

/// The portal as seen through one staged bundle: the submission, its attachments
/// and the event log come from the bundle, everything else goes to `inner`. The
/// keys that check the log are never the bundle's own (whoever can write the data
/// folder could bring his own): the service's key set is `jwks` (fetched live or
/// pinned in the store), destination keys are asked from the portal.
pub struct StagedView<'a, A> {
    pub inner: &'a A,
    pub bundle: &'a Bundle,
    pub jwks: Option<&'a Jwks>,
}

impl<A: SubmissionApi> SubmissionApi for StagedView<'_, A> {
    async fn info(&self) -> Result<Info, ClientError> {
        self.inner.info().await
    }

    async fn jwks(&self) -> Result<Jwks, ClientError> {
        match self.jwks {
            Some(trusted) => Ok(trusted.clone()),
            None => self.inner.jwks().await,
        }
    }

    async fn destination(&self, destination: Uuid) -> Result<PublicDestination, ClientError> {
        self.inner.destination(destination).await
    }

    async fn destination_key(
        &self,
        destination: Uuid,
        kid: &str,
    ) -> Result<PublicJwk, ClientError> {
        self.inner.destination_key(destination, kid).await
    }

    async fn list_for_pickup(
        &self,
        destination: Uuid,
        offset: u32,
        limit: u32,
    ) -> Result<SubmissionsForPickup, ClientError> {
        self.inner.list_for_pickup(destination, offset, limit).await
    }

    async fn submission(&self, submission: Uuid) -> Result<Submission, ClientError> {
        if submission == self.bundle.submission.submission_id {
            Ok(self.bundle.submission.clone())
        } else {
            self.inner.submission(submission).await
        }
    }

    async fn attachment(&self, submission: Uuid, attachment: Uuid) -> Result<String, ClientError> {
        match self.bundle.attachments.get(&attachment) {
            Some(a) if submission == self.bundle.submission.submission_id => Ok(a.clone()),
            _ => self.inner.attachment(submission, attachment).await,
        }
    }

    async fn case_events(
        &self,
        case: Uuid,
        offset: u32,
        limit: u32,
    ) -> Result<EventLog, ClientError> {
        if case != self.bundle.submission.case_id {
            return self.inner.case_events(case, offset, limit).await;
        }
        let all = &self.bundle.events;
        let page: Vec<String> = all
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .cloned()
            .collect();
        Ok(EventLog {
            count: page.len() as u32,
            offset,
            total_count: all.len() as u32,
            event_log: page,
        })
    }

    async fn post_event(&self, case: Uuid, set: &str) -> Result<(), ClientError> {
        self.inner.post_event(case, set).await
    }

    async fn create_submission(
        &self,
        request: &CreateSubmission,
    ) -> Result<SubmissionCreated, ClientError> {
        self.inner.create_submission(request).await
    }

    async fn upload_attachment(
        &self,
        submission: Uuid,
        attachment: Uuid,
        jwe: &str,
    ) -> Result<(), ClientError> {
        self.inner
            .upload_attachment(submission, attachment, jwe)
            .await
    }

    async fn submit(&self, submission: Uuid, body: &SubmitSubmission) -> Result<(), ClientError> {
        self.inner.submit(submission, body).await
    }

    async fn request_payment(
        &self,
        url: &str,
        request: &PaymentRequest,
    ) -> Result<PaymentTransaction, ClientError> {
        self.inner.request_payment(url, request).await
    }
}
