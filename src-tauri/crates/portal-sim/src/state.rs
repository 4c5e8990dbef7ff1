//! The simulator's state, kept on disk so a restart loses nothing: one JSON file
//! per submission and per case, attachments as files, keys in `keys.json`. Every
//! write goes to a temp file that is fsynced and renamed.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use fitconnect::api::{ServiceType, Submission};
use fitconnect::keys::{KeyPair, KeyUse, PublicJwk, TestPki};
use fitconnect::set::{self, AuthenticationTags, Event};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Lifecycle of a submission on the Zustelldienst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionState {
    Incomplete,
    Submitted,
    Accepted,
    Rejected,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredSubmission {
    pub seq: u64,
    pub destination_id: Uuid,
    pub submission_id: Uuid,
    pub case_id: Uuid,
    pub service_type: ServiceType,
    pub announced: Vec<Uuid>,
    pub uploaded: Vec<Uuid>,
    pub state: SubmissionState,
    pub encrypted_metadata: Option<String>,
    pub encrypted_data: Option<String>,
    pub created_at: i64,
}

impl StoredSubmission {
    pub fn to_api(&self, with_content: bool) -> Submission {
        Submission {
            destination_id: self.destination_id,
            submission_id: self.submission_id,
            case_id: self.case_id,
            attachments: self.uploaded.clone(),
            service_type: self.service_type.clone(),
            encrypted_metadata: with_content
                .then(|| self.encrypted_metadata.clone())
                .flatten(),
            encrypted_data: with_content.then(|| self.encrypted_data.clone()).flatten(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoredCase {
    pub events: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredKey {
    public: PublicJwk,
    private_pem: String,
}

/// Settings and keys created once per state directory.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyFile {
    destination_id: Uuid,
    client_id: String,
    client_secret: String,
    root_pem: String,
    destination_encryption: StoredKey,
    destination_signature: StoredKey,
    service_signature: StoredKey,
    /// The citizens' portal mailbox: where replies go (added later; generated when missing).
    #[serde(default)]
    mailbox_id: Option<Uuid>,
    #[serde(default)]
    mailbox_encryption: Option<StoredKey>,
}

/// What the workstation needs to act as this destination's subscriber, plus what a
/// test needs to check the other side.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriberConfig {
    #[serde(flatten)]
    pub settings: fitconnect::client::SubscriberSettings,
    pub trusted_root_pem: String,
    /// Where replies to citizens go (the portal mailbox) and its encryption key id.
    pub reply_destination_id: Uuid,
    pub reply_encryption_kid: String,
    /// The simulated payment service (payment-transaction endpoint).
    pub payment_url: String,
}

impl std::ops::Deref for SubscriberConfig {
    type Target = fitconnect::client::SubscriberSettings;
    fn deref(&self) -> &Self::Target {
        &self.settings
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("Datei {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("Zustand unlesbar ({0}): {1}")]
    Corrupt(PathBuf, String),
    #[error("Schlüssel: {0}")]
    Key(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |e| StateError::Io(path.to_path_buf(), e)
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = dir.join(format!(".{}.tmp", Uuid::new_v4()));
    let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, StateError> {
    let bytes = fs::read(path).map_err(io(path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| StateError::Corrupt(path.to_path_buf(), e.to_string()))
}

/// The whole simulator state.
pub struct State {
    dir: PathBuf,
    pub destination_id: Uuid,
    pub client_id: String,
    pub client_secret: String,
    pub root_pem: String,
    pub dest_enc: KeyPair,
    pub dest_sig: KeyPair,
    pub service_sig: KeyPair,
    /// The citizens' portal mailbox (reply destination) and its key, held by the citizen side.
    pub mailbox_id: Uuid,
    pub mailbox_enc: KeyPair,
    pub submissions: HashMap<Uuid, StoredSubmission>,
    pub cases: HashMap<Uuid, StoredCase>,
    pub next_seq: u64,
    /// Issuer of the service's own SETs.
    pub issuer: String,
    /// The payment service's requests, by request id.
    pub payments: crate::payment::Payments,
    /// The fake ZBP bridge (BundID mailbox) and the simulated BPKI.
    pub bridge: crate::bridge::Bridge,
}

/// The citizens' OpenPGP secret keys by e-mail address (the citizen's side of the
/// simulation: they open what the town sends them by e-mail).
const CITIZEN_KEYS: &str = "buerger-schluessel.json";

impl State {
    /// The citizens' secret keys (armoured) by e-mail address.
    pub fn citizen_keys(&self) -> std::collections::HashMap<String, String> {
        fs::read(self.dir.join(CITIZEN_KEYS))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Keep more citizens' secret keys.
    pub fn add_citizen_keys(
        &mut self,
        keys: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), StateError> {
        let mut all = self.citizen_keys();
        all.extend(keys);
        let path = self.dir.join(CITIZEN_KEYS);
        let json = serde_json::to_vec_pretty(&all)
            .map_err(|e| StateError::Corrupt(path.clone(), e.to_string()))?;
        write_atomic(&path, &json)
    }

    /// Open a state directory, creating keys (4096-bit, test PKI) on first use.
    pub fn open(dir: &Path, key_bits: u32) -> Result<State, StateError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let key_path = dir.join("keys.json");
        if !key_path.exists() {
            let pki = TestPki::new(key_bits).map_err(|e| StateError::Key(e.to_string()))?;
            let issue = |kid: &str, usage| -> Result<StoredKey, StateError> {
                let k = pki
                    .issue(kid, usage, key_bits)
                    .map_err(|e| StateError::Key(e.to_string()))?;
                let pem = k
                    .private_pem()
                    .map_err(|e| StateError::Key(e.to_string()))?;
                Ok(StoredKey {
                    public: k.public.clone(),
                    private_pem: String::from_utf8_lossy(&pem).into_owned(),
                })
            };
            let root_pem = pki
                .root
                .to_pem()
                .map(|p| String::from_utf8_lossy(&p).into_owned())
                .map_err(|e| StateError::Key(e.to_string()))?;
            let file = KeyFile {
                destination_id: Uuid::new_v4(),
                client_id: format!("amtsstube-{}", &Uuid::new_v4().simple().to_string()[..8]),
                client_secret: Uuid::new_v4().simple().to_string(),
                root_pem,
                destination_encryption: issue(
                    "zustellpunkt-verschluesselung-1",
                    KeyUse::Encryption,
                )?,
                destination_signature: issue("zustellpunkt-signatur-1", KeyUse::Signature)?,
                service_signature: issue("zustelldienst-signatur-1", KeyUse::Signature)?,
                mailbox_id: Some(Uuid::new_v4()),
                mailbox_encryption: Some(issue("postfach-verschluesselung-1", KeyUse::Encryption)?),
            };
            let json = serde_json::to_vec_pretty(&file)
                .map_err(|e| StateError::Corrupt(key_path.clone(), e.to_string()))?;
            write_atomic(&key_path, &json)?;
        }
        let mut keys: KeyFile = read_json(&key_path)?;
        if keys.mailbox_id.is_none() || keys.mailbox_encryption.is_none() {
            // State directories from before the mailbox existed: add one (its key chains to
            // a root of its own, as the original root's private key is not kept).
            let pki = TestPki::new(2048).map_err(|e| StateError::Key(e.to_string()))?;
            let k = pki
                .issue(
                    "postfach-verschluesselung-1",
                    KeyUse::Encryption,
                    key_bits.max(4096),
                )
                .map_err(|e| StateError::Key(e.to_string()))?;
            let pem = k
                .private_pem()
                .map_err(|e| StateError::Key(e.to_string()))?;
            keys.mailbox_id = Some(Uuid::new_v4());
            keys.mailbox_encryption = Some(StoredKey {
                public: k.public.clone(),
                private_pem: String::from_utf8_lossy(&pem).into_owned(),
            });
            let json = serde_json::to_vec_pretty(&keys)
                .map_err(|e| StateError::Corrupt(key_path.clone(), e.to_string()))?;
            write_atomic(&key_path, &json)?;
        }
        let (Some(mailbox_id), Some(mailbox_key)) =
            (keys.mailbox_id, keys.mailbox_encryption.as_ref())
        else {
            return Err(StateError::Corrupt(key_path, "Postfach fehlt".into()));
        };
        let pair = |k: &StoredKey| {
            KeyPair::from_pem(k.public.clone(), k.private_pem.as_bytes())
                .map_err(|e| StateError::Key(e.to_string()))
        };
        let mut state = State {
            dir: dir.to_path_buf(),
            destination_id: keys.destination_id,
            client_id: keys.client_id.clone(),
            client_secret: keys.client_secret.clone(),
            root_pem: keys.root_pem.clone(),
            dest_enc: pair(&keys.destination_encryption)?,
            dest_sig: pair(&keys.destination_signature)?,
            service_sig: pair(&keys.service_signature)?,
            mailbox_id,
            mailbox_enc: pair(mailbox_key)?,
            submissions: HashMap::new(),
            cases: HashMap::new(),
            next_seq: 1,
            issuer: "https://portal-sim.amtsstube.invalid".into(),
            payments: Default::default(),
            bridge: crate::bridge::Bridge::open(dir, key_bits)?,
        };
        let payments = state.dir.join("payments.json");
        if payments.exists() {
            state.payments = read_json(&payments)?;
        }
        for (sub_dir, is_sub) in [(state.submissions_dir(), true), (state.cases_dir(), false)] {
            fs::create_dir_all(&sub_dir).map_err(io(&sub_dir))?;
            for entry in fs::read_dir(&sub_dir).map_err(io(&sub_dir))? {
                let path = entry.map_err(io(&sub_dir))?.path();
                if path.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                let Some(id) = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| Uuid::parse_str(s).ok())
                else {
                    continue;
                };
                if is_sub {
                    let s: StoredSubmission = read_json(&path)?;
                    state.next_seq = state.next_seq.max(s.seq + 1);
                    state.submissions.insert(id, s);
                } else {
                    state.cases.insert(id, read_json(&path)?);
                }
            }
        }
        Ok(state)
    }

    /// The key of a destination this service knows.
    pub fn encryption_key_of(&self, destination: Uuid) -> Option<&KeyPair> {
        if destination == self.destination_id {
            Some(&self.dest_enc)
        } else if destination == self.mailbox_id {
            Some(&self.mailbox_enc)
        } else if destination == self.bridge.destination_id {
            Some(&self.bridge.enc)
        } else {
            None
        }
    }

    pub(crate) fn save_payments(&self) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(&self.payments)
            .map_err(|e| StateError::Corrupt(self.dir.join("payments.json"), e.to_string()))?;
        write_atomic(&self.dir.join("payments.json"), &bytes)
    }

    fn submissions_dir(&self) -> PathBuf {
        self.dir.join("submissions")
    }
    fn cases_dir(&self) -> PathBuf {
        self.dir.join("cases")
    }
    fn attachment_path(&self, sub: Uuid, att: Uuid) -> PathBuf {
        self.submissions_dir()
            .join(sub.to_string())
            .join(format!("{att}.jwe"))
    }

    pub fn save_submission(&self, id: Uuid) -> Result<(), StateError> {
        let Some(s) = self.submissions.get(&id) else {
            return Ok(());
        };
        let path = self.submissions_dir().join(format!("{id}.json"));
        let json =
            serde_json::to_vec(s).map_err(|e| StateError::Corrupt(path.clone(), e.to_string()))?;
        write_atomic(&path, &json)
    }

    pub fn save_case(&self, id: Uuid) -> Result<(), StateError> {
        let Some(c) = self.cases.get(&id) else {
            return Ok(());
        };
        let path = self.cases_dir().join(format!("{id}.json"));
        let json =
            serde_json::to_vec(c).map_err(|e| StateError::Corrupt(path.clone(), e.to_string()))?;
        write_atomic(&path, &json)
    }

    pub fn put_attachment(&mut self, sub: Uuid, att: Uuid, jwe: &str) -> Result<(), StateError> {
        write_atomic(&self.attachment_path(sub, att), jwe.as_bytes())
    }

    pub fn attachment(&self, sub: Uuid, att: Uuid) -> Result<Option<String>, StateError> {
        let path = self.attachment_path(sub, att);
        match fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StateError::Io(path, e)),
        }
    }

    /// Append an event signed by the service itself.
    pub fn service_event(
        &mut self,
        event: Event,
        payload: serde_json::Value,
        sub: Uuid,
        case: Uuid,
    ) -> Result<(), StateError> {
        let now = jiff::Timestamp::now().as_second();
        let token = set::sign(
            event,
            payload,
            &self.issuer,
            sub,
            case,
            now,
            &self.service_sig,
        )
        .map_err(|e| StateError::Key(e.to_string()))?;
        self.cases.entry(case).or_default().events.push(token);
        self.save_case(case)
    }

    /// Create a submission in state `incomplete` (new case unless `case_id` is given).
    pub fn create(
        &mut self,
        service_type: ServiceType,
        announced: Vec<Uuid>,
        case_id: Option<Uuid>,
        submission_id: Uuid,
    ) -> Result<StoredSubmission, StateError> {
        let destination = self.destination_id;
        self.create_to(destination, service_type, announced, case_id, submission_id)
    }

    /// Create a submission to `destination` (the authority or the citizens' mailbox).
    pub fn create_to(
        &mut self,
        destination: Uuid,
        service_type: ServiceType,
        announced: Vec<Uuid>,
        case_id: Option<Uuid>,
        submission_id: Uuid,
    ) -> Result<StoredSubmission, StateError> {
        let case_id = case_id.unwrap_or_else(Uuid::new_v4);
        let s = StoredSubmission {
            seq: self.next_seq,
            destination_id: destination,
            submission_id,
            case_id,
            service_type,
            announced,
            uploaded: Vec::new(),
            state: SubmissionState::Incomplete,
            encrypted_metadata: None,
            encrypted_data: None,
            created_at: jiff::Timestamp::now().as_second(),
        };
        self.next_seq += 1;
        self.submissions.insert(submission_id, s.clone());
        self.save_submission(submission_id)?;
        self.service_event(
            Event::CreateSubmission,
            serde_json::json!({}),
            submission_id,
            case_id,
        )?;
        Ok(s)
    }

    /// Finalise: `incomplete` → `submitted`, with the submit event carrying the tags.
    pub fn submit(
        &mut self,
        id: Uuid,
        metadata: String,
        data: Option<String>,
    ) -> Result<(), StateError> {
        let case_id;
        let mut tags = AuthenticationTags {
            // The simulator stores what it was sent; a JWE without tag records an empty one.
            metadata: fitconnect::jwe::authentication_tag(&metadata)
                .unwrap_or_default()
                .to_owned(),
            data: data
                .as_deref()
                .and_then(fitconnect::jwe::authentication_tag)
                .map(str::to_owned),
            attachments: BTreeMap::new(),
        };
        {
            let Some(s) = self.submissions.get(&id) else {
                return Ok(());
            };
            case_id = s.case_id;
            for att in &s.uploaded {
                if let Some(jwe) = self.attachment(id, *att)? {
                    tags.attachments.insert(
                        att.to_string(),
                        // As above: an attachment JWE without tag records an empty one.
                        fitconnect::jwe::authentication_tag(&jwe)
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
            }
        }
        if let Some(s) = self.submissions.get_mut(&id) {
            s.encrypted_metadata = Some(metadata);
            s.encrypted_data = data;
            s.state = SubmissionState::Submitted;
        }
        self.save_submission(id)?;
        self.service_event(
            Event::SubmitSubmission,
            set::accept_payload(&tags),
            id,
            case_id,
        )
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What reached the citizens' BundID mailboxes through the fake bridge.
    pub fn postkorb(&self) -> Vec<crate::bridge::PostkorbEntry> {
        crate::bridge::postkorb(&self.dir)
    }

    /// The fake bridge's verdict on a submission just submitted to it: accepted
    /// (and filed in the citizen's mailbox) or rejected with the reason, each as an
    /// event signed by the bridge.
    pub fn bridge_decide(&mut self, id: Uuid) -> Result<(), StateError> {
        let Some(s) = self.submissions.get(&id).cloned() else {
            return Ok(());
        };
        let mut attachments = BTreeMap::new();
        for a in &s.uploaded {
            if let Some(jwe) = self.attachment(id, *a)? {
                attachments.insert(*a, jwe);
            }
        }
        let sealed = fitconnect::submission::EncryptedSubmission {
            submission_id: id,
            case_id: s.case_id,
            encrypted_metadata: s.encrypted_metadata.clone().unwrap_or_default(),
            encrypted_data: s.encrypted_data.clone(),
            attachments,
        };
        let now = jiff::Timestamp::now().as_second();
        let verdict = crate::bridge::check(&self.bridge, &sealed, &s.service_type.identifier, now);
        let (event, payload, next) = match &verdict {
            Ok((_, tags)) => (
                Event::AcceptSubmission,
                set::accept_payload(tags),
                SubmissionState::Accepted,
            ),
            Err(r) => (
                Event::RejectSubmission,
                set::reject_payload(&r.problems),
                SubmissionState::Rejected,
            ),
        };
        let token = set::sign(
            event,
            payload,
            &self.bridge.destination_id.to_string(),
            id,
            s.case_id,
            now,
            &self.bridge.sig,
        )
        .map_err(|e| StateError::Key(e.to_string()))?;
        if let Ok((entry, _)) = verdict {
            crate::bridge::file_entry(&self.dir, entry)?;
        }
        if let Some(sub) = self.submissions.get_mut(&id) {
            sub.state = next;
        }
        self.save_submission(id)?;
        self.cases.entry(s.case_id).or_default().events.push(token);
        self.save_case(s.case_id)
    }

    /// File a sealed submission as a sender would: create, upload every attachment,
    /// submit. Used by seeding and by the citizen side.
    pub fn file_sealed(
        &mut self,
        service_type: ServiceType,
        sealed: fitconnect::submission::EncryptedSubmission,
    ) -> Result<(), StateError> {
        let id = sealed.submission_id;
        let announced: Vec<Uuid> = sealed.attachments.keys().copied().collect();
        self.create(service_type, announced, Some(sealed.case_id), id)?;
        for (att, jwe) in &sealed.attachments {
            self.put_attachment(id, *att, jwe)?;
            if let Some(s) = self.submissions.get_mut(&id) {
                s.uploaded.push(*att);
            }
        }
        self.submit(id, sealed.encrypted_metadata, sealed.encrypted_data)
    }

    pub fn subscriber_config(&self, api_url: &str) -> Result<SubscriberConfig, StateError> {
        let pem = |k: &KeyPair| {
            k.private_pem()
                .map(|p| String::from_utf8_lossy(&p).into_owned())
                .map_err(|e| StateError::Key(e.to_string()))
        };
        Ok(SubscriberConfig {
            settings: fitconnect::client::SubscriberSettings {
                api_url: api_url.to_owned(),
                token_url: format!("{}/token", api_url.trim_end_matches('/')),
                destination_id: self.destination_id,
                client_id: self.client_id.clone(),
                client_secret: self.client_secret.clone(),
                encryption_key: self.dest_enc.public.clone(),
                encryption_private_pem: pem(&self.dest_enc)?,
                signature_key: self.dest_sig.public.clone(),
                signature_private_pem: pem(&self.dest_sig)?,
            },
            trusted_root_pem: self.root_pem.clone(),
            reply_destination_id: self.mailbox_id,
            reply_encryption_kid: self.mailbox_enc.public.kid.clone(),
            payment_url: format!(
                "{}/payment/v1/paymenttransaction/amtsstube/{}",
                api_url.trim_end_matches('/'),
                self.destination_id
            ),
        })
    }
}
