//! What travels between the Rathaus-Server and a workstation (JSON over HTTPS).
//!
//! Personal content travels and rests only as [`Ciphertext`] (age, to keys the
//! server cannot unwrap); everything else here is workflow metadata the server
//! needs to check permissions, order and numbers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use domain::{CaseState, Decision, Role};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The largest ciphertext a command or feed item may carry (an application with
/// its attachments travels as documents, not here).
pub const MAX_CIPHERTEXT: usize = 8 * 1024 * 1024;

/// The header every age file starts with.
const AGE_HEADER: &[u8] = b"age-encryption.org/v1\n";

/// Personal content as age ciphertext. The server stores and forwards it and
/// refuses anything that is not age ciphertext, so that a faulty workstation
/// cannot put plaintext into the record.
#[derive(Clone, PartialEq, Eq)]
pub struct Ciphertext(Vec<u8>);

impl Ciphertext {
    /// Checks the age header and the size.
    pub fn new(bytes: Vec<u8>) -> Result<Self, Refusal> {
        if bytes.len() > MAX_CIPHERTEXT {
            return Err(Refusal::invalid(format!(
                "Der verschlüsselte Inhalt ist mit {} Bytes größer als erlaubt ({} Bytes).",
                bytes.len(),
                MAX_CIPHERTEXT
            )));
        }
        Self::check_age(&bytes)?;
        Ok(Self(bytes))
    }

    /// Checks the age header only (documents, which have no size limit).
    pub fn check_age(bytes: &[u8]) -> Result<(), Refusal> {
        if !bytes.starts_with(AGE_HEADER) {
            return Err(Refusal::invalid(
                "Der Inhalt ist nicht verschlüsselt (kein age-Format). Personenbezogene Inhalte nimmt der Rathaus-Server nur verschlüsselt an."
                    .to_string(),
            ));
        }
        Ok(())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl std::fmt::Debug for Ciphertext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ciphertext({} Bytes)", self.0.len())
    }
}

impl Serialize for Ciphertext {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Ciphertext {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = STANDARD
            .decode(text.as_bytes())
            .map_err(|_| serde::de::Error::custom("Inhalt ist kein Base64"))?;
        Ciphertext::new(bytes).map_err(|r| serde::de::Error::custom(r.reason))
    }
}

/// A case's workflow metadata: what the server may read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseMeta {
    pub id: Uuid,
    /// Aktenzeichen.
    pub file_number: String,
    pub case_type: String,
    pub channel: String,
    pub state: CaseState,
    pub waiting_from: Option<CaseState>,
    pub checklist_complete: bool,
    pub assignee: Option<String>,
    /// RFC 3339.
    pub received_at: String,
    /// Counted up by every accepted change of the metadata.
    pub version: i64,
    /// The version at which the state last changed.
    pub state_version: i64,
    /// The statutory period was extended (once, § 42a Abs. 2 S. 3 VwVfG).
    #[serde(default)]
    pub extended: bool,
}

/// A transition without its personal parts (reasons and the list of missing
/// documents travel encrypted beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "step")]
pub enum Step {
    PruefungBeginnen,
    /// `frist`: RFC 3339 date.
    Nachfordern {
        frist: String,
    },
    NachreichungEingegangen,
    Vollstaendig,
    Entscheiden {
        ergebnis: Decision,
    },
    /// `kanal`: "postfach" or "post".
    Versenden {
        kanal: String,
    },
    Abschliessen,
    Zurueckziehen,
    /// `an`: the authority the case goes to.
    Weiterleiten {
        an: String,
    },
    /// The Fiktion period ran out undecided (§ 42a Abs. 1 VwVfG); the desk computed it.
    FiktionFeststellen,
}

/// What a clerk did, as sent up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum CommandBody {
    /// A paper application approved at the scanning desk becomes a case; its
    /// Aktenzeichen comes from a block leased in advance.
    CreateCase {
        case_id: Uuid,
        file_number: String,
        case_type: String,
        received_at: String,
        content: Ciphertext,
    },
    Transition {
        case_id: Uuid,
        based_on: i64,
        step: Step,
        /// The reasons (Begründung, missing documents, why), encrypted.
        content: Option<Ciphertext>,
    },
    Note {
        case_id: Uuid,
        content: Ciphertext,
    },
    Assign {
        case_id: Uuid,
        based_on: i64,
        to: Option<String>,
    },
    Checklist {
        case_id: Uuid,
        based_on: i64,
        complete: bool,
    },
    /// The one extension of the statutory period; the reasons travel encrypted.
    /// Whether the period still runs is checked at the desk (the server holds no
    /// case-type configuration); the server allows it once, for an open case.
    Extend {
        case_id: Uuid,
        based_on: i64,
        content: Ciphertext,
    },
    /// A letter to the citizen, made at the desk. The letter (PDF) and its history
    /// entry are sealed to the case key; what the server must send (the reply to the
    /// portal mailbox, the payment request, the Annahmeanordnung for the cash
    /// system) is sealed to the server's delivery key, opened only to send it. A
    /// Bescheid (`versendet`) moves the case to "Versandt".
    Letter {
        case_id: Uuid,
        based_on: i64,
        /// The kind of letter (`bescheid`, `gebuehrenbescheid`, …).
        letter: String,
        /// "postfach", "email", "bundid" or "post".
        kanal: String,
        versendet: bool,
        /// Leased from the server in advance (a fee is booked), else none.
        kassenzeichen: Option<String>,
        /// History entry (what went out, how, under which Kassenzeichen).
        detail: Ciphertext,
        /// The letter as a document of the case.
        document: Ciphertext,
        delivery: Option<Ciphertext>,
    },
    /// A letter whose e-mail the mail server refused went by post instead: the
    /// clerk printed and posted it. The entry (posting date, why) travels sealed
    /// to the case key; it settles the oldest unsettled refusal of the case.
    Posted {
        case_id: Uuid,
        content: Ciphertext,
    },
}

impl CommandBody {
    pub fn case_id(&self) -> Uuid {
        match self {
            CommandBody::CreateCase { case_id, .. }
            | CommandBody::Transition { case_id, .. }
            | CommandBody::Note { case_id, .. }
            | CommandBody::Assign { case_id, .. }
            | CommandBody::Checklist { case_id, .. }
            | CommandBody::Extend { case_id, .. }
            | CommandBody::Letter { case_id, .. }
            | CommandBody::Posted { case_id, .. } => *case_id,
        }
    }

    /// German name for conflicts and the audit.
    pub fn label(&self) -> &'static str {
        match self {
            CommandBody::CreateCase { .. } => "Vorgang anlegen",
            CommandBody::Transition { .. } => "Bearbeitungsschritt",
            CommandBody::Note { .. } => "Notiz",
            CommandBody::Assign { .. } => "Zuweisung",
            CommandBody::Checklist { .. } => "Checkliste",
            CommandBody::Extend { .. } => "Fristverlängerung",
            CommandBody::Letter { .. } => "Brief",
            CommandBody::Posted { .. } => "Per Post versandt",
        }
    }
}

/// A command with its idempotency key (a UUID made when the clerk acted, kept in
/// the workstation's upload queue until the server answered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    pub key: Uuid,
    #[serde(flatten)]
    pub body: CommandBody,
}

impl Command {
    /// SHA-256 of the body's canonical JSON: a replay under the same key must carry
    /// the same body, an altered one is refused.
    pub fn body_hash(&self) -> String {
        let json = serde_json::to_vec(&self.body).unwrap_or_default(); // serialising plain data cannot fail
        hex::encode(Sha256::digest(json))
    }
}

/// Why the server refused a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// The case changed meanwhile and the command no longer fits: the clerk sees
    /// it in the Konflikte view.
    Conflict,
    /// The user's role or the case's assignment does not allow it.
    Forbidden,
    /// Malformed, unknown case, rules of the lifecycle.
    Invalid,
    /// A known idempotency key with a different body.
    Altered,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub kind: RefusalKind,
    /// German, for the clerk.
    pub reason: String,
}

impl Refusal {
    pub fn invalid(reason: String) -> Self {
        Self {
            kind: RefusalKind::Invalid,
            reason,
        }
    }
    pub fn forbidden(reason: String) -> Self {
        Self {
            kind: RefusalKind::Forbidden,
            reason,
        }
    }
    pub fn conflict(reason: String) -> Self {
        Self {
            kind: RefusalKind::Conflict,
            reason,
        }
    }
}

/// The server's answer to a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Outcome {
    /// Applied now, or (`replay`) already applied earlier under the same key.
    Applied {
        version: i64,
        position: i64,
        replay: bool,
    },
    Refused {
        #[serde(flatten)]
        refusal: Refusal,
        replay: bool,
    },
}

impl Outcome {
    /// The same outcome, marked as answered from the command table.
    pub fn as_replay(self) -> Outcome {
        match self {
            Outcome::Applied {
                version, position, ..
            } => Outcome::Applied {
                version,
                position,
                replay: true,
            },
            Outcome::Refused { refusal, .. } => Outcome::Refused {
                refusal,
                replay: true,
            },
        }
    }
}

/// An append-only entry of a case: a history step or a note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The idempotency key of the command that made it.
    pub id: Uuid,
    pub case_id: Uuid,
    pub kind: String,
    pub actor: String,
    pub at: String,
    pub from_state: Option<CaseState>,
    pub to_state: Option<CaseState>,
    pub content: Option<Ciphertext>,
}

/// A user as every desk learns of it (login names and roles; no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntry {
    pub name: String,
    pub role: Role,
    pub active: bool,
}

/// One position of the change feed as a workstation receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum FeedItem {
    /// A case changed (or became visible to this user: then `content` and all
    /// `events` so far come with it).
    Case {
        position: i64,
        meta: CaseMeta,
        content: Option<Ciphertext>,
        events: Vec<Event>,
    },
    /// The case is no longer this user's to see (reassigned): drop it.
    Gone {
        position: i64,
        case_id: Uuid,
    },
    User {
        position: i64,
        user: UserEntry,
    },
    /// A position this user may not see (kept so that the cursor moves on).
    Skip {
        position: i64,
    },
}

impl FeedItem {
    pub fn position(&self) -> i64 {
        match self {
            FeedItem::Case { position, .. }
            | FeedItem::Gone { position, .. }
            | FeedItem::User { position, .. }
            | FeedItem::Skip { position } => *position,
        }
    }
}

/// A page of the feed: the items after the asked position, and where to go on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedPage {
    pub items: Vec<FeedItem>,
    /// The position to ask after next time (the last position read, even if skipped).
    pub next: i64,
    /// More positions are waiting.
    pub more: bool,
}

/// A desk asks for a block of numbers of a counter (Aktenzeichen for offline work).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseRequest {
    pub counter: String,
    pub count: i64,
}

/// The block leased: `first..=last`, this desk's alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseResponse {
    pub first: i64,
    pub last: i64,
}

/// A document of a case as the server keeps it: age ciphertext to the case key
/// (a JSON `{kind, filename, mimeType, data}` inside), base64 on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedDocument {
    pub id: i64,
    /// The submission it came with (none for a letter made at a desk).
    #[serde(default)]
    pub submission_id: Option<Uuid>,
    #[serde(with = "base64_bytes")]
    pub content: Vec<u8>,
}

mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|_| serde::de::Error::custom("Inhalt ist kein Base64"))
    }
}

/// A desk asks to be enrolled (one-time code, its certificate request, and its
/// deposit, so that users new at the server can log in there from the start).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrolRequest {
    pub code: String,
    pub name: String,
    /// PEM certificate signing request; the key stays at the workstation.
    pub csr: String,
    /// The identity that opens the desk's deposit file (see [`DeskDeposit`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schluessel: Option<String>,
}

impl std::fmt::Debug for EnrolRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolRequest")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The enrolled desk's id and certificate, and the office CA.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrolResponse {
    pub id: Uuid,
    pub certificate: String,
    pub ca: String,
}

/// The server's greeting to an enrolled desk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hello {
    pub workstation: Uuid,
    pub position: i64,
    /// Asked with a session token: whether it is still valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<bool>,
    /// What the server can send for the desks' letters (none: letters go by post
    /// and no fee can be booked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versand: Option<Versand>,
}

/// The server's delivery: its key for what it must send, and which ways exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Versand {
    /// age recipient of the server's delivery key.
    pub empfaenger: String,
    /// A return channel (the citizens' portal mailbox) is set up.
    pub postfach: bool,
    /// The portal's payment service is set up.
    pub zahlung: bool,
    /// The cash system's exchange folder (HKR) is set up.
    pub kasse: bool,
    /// The town's mail server is set up: letters go by e-mail (PGP/MIME) to
    /// citizens who asked for it with a key, others get the notice.
    #[serde(default)]
    pub email: bool,
    /// The town's BPKI key pair and the ZBP bridge are set up: letters go to
    /// citizens' BundID mailboxes, stating this trust level (1–4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundid: Option<u8>,
}

/// A user signs in at the server from an enrolled desk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
}

/// A server session after login: the token, the role the server holds for the user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionGrant {
    pub token: String,
    pub role: Role,
    pub expires_at: String,
}

/// A refusal as the server sends it (HTTP status besides).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerRefusal {
    pub fehler: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age_bytes() -> Vec<u8> {
        let mut b = AGE_HEADER.to_vec();
        b.extend_from_slice(b"-> X25519 abc\n--- x\n\x00\x01");
        b
    }

    #[test]
    fn plaintext_is_refused_as_content() {
        let err = Ciphertext::new(b"Erika Mustermann".to_vec()).unwrap_err();
        assert_eq!(err.kind, RefusalKind::Invalid);
        assert!(err.reason.contains("nicht verschlüsselt"));
        let json = format!("\"{}\"", STANDARD.encode("Erika Mustermann"));
        let parsed: Result<Ciphertext, _> = serde_json::from_str(&json);
        assert!(parsed.is_err());
    }

    #[test]
    fn oversized_content_is_refused() {
        let mut b = age_bytes();
        b.resize(MAX_CIPHERTEXT + 1, 0);
        assert!(Ciphertext::new(b).unwrap_err().reason.contains("größer"));
    }

    #[test]
    fn a_command_round_trips_and_its_hash_follows_the_body() {
        let c = Command {
            key: Uuid::nil(),
            body: CommandBody::Transition {
                case_id: Uuid::nil(),
                based_on: 3,
                step: Step::Entscheiden {
                    ergebnis: Decision::Abgelehnt,
                },
                content: Some(Ciphertext::new(age_bytes()).unwrap()),
            },
        };
        let json = serde_json::to_string(&c).unwrap();
        let back: Command = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        let mut altered = c.clone();
        if let CommandBody::Transition { based_on, .. } = &mut altered.body {
            *based_on = 4;
        }
        assert_ne!(altered.body_hash(), c.body_hash());
        assert_eq!(back.body_hash(), c.body_hash());
    }
}

/// A case of a standalone store taken over into the Rathaus-Server
/// (`amtsstube buero uebernehmen`, by a Leitung): its metadata, its content and
/// history sealed to the case key, and the FIT-Connect submissions it came with.
/// The documents follow one by one (no size limit of a request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TakeoverCase {
    /// Versions are the server's (the case starts at version 1 there).
    pub meta: CaseMeta,
    pub content: Ciphertext,
    pub events: Vec<TakeoverEvent>,
    pub submissions: Vec<TakeoverSubmission>,
    /// The application's id in the BundID Statusmonitor, where the portal named
    /// one: the server keeps it sealed to its delivery key (as at its own pickup)
    /// and reports the case's later moves there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statusmonitor: Option<TakeoverMonitor>,
}

/// What the BundID Statusmonitor needs of a taken-over case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TakeoverMonitor {
    pub application_id: Uuid,
    /// The service's name the Statusmonitor shows.
    pub service: String,
}

/// A history entry or a note of a taken-over case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TakeoverEvent {
    pub kind: String,
    pub actor: String,
    pub at: String,
    pub from_state: Option<CaseState>,
    pub to_state: Option<CaseState>,
    pub content: Option<Ciphertext>,
}

/// A FIT-Connect submission of a taken-over case (already accepted at the portal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TakeoverSubmission {
    pub submission_id: Uuid,
    pub fc_case_id: Uuid,
    pub service: String,
    pub received_at: String,
}

/// The server's answer: whether the case is new there, and the keys of the
/// documents it holds already (a takeover can be repeated after any break).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TakeoverAnswer {
    pub neu: bool,
    pub dokumente: Vec<String>,
}

/// Entries of the standalone store's audit chain, kept at the server as they were
/// (references only, never content), with their hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TakeoverAuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub hash: String,
}

/// A desk's deposit (see `amtsstube buero anmelden`): the identity that opens the
/// desk's own master key file, kept by the server for that workstation only.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeskDeposit {
    pub schluessel: String,
}

impl std::fmt::Debug for DeskDeposit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeskDeposit(…)")
    }
}

/// A user new at this desk logs in there for the first time (no session yet, so
/// no client certificate either): the server checks the password (with its
/// lockout) and that the workstation is enrolled, then hands out the desk's
/// deposit – which opens only the file on that desk's own disk.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirstLogin {
    pub workstation: Uuid,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for FirstLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstLogin")
            .field("workstation", &self.workstation)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The answer to [`FirstLogin`]: the role the server holds, and the deposit.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirstLoginGrant {
    pub role: Role,
    pub schluessel: String,
}
