//! The scanning desk in the facade (role Scanstelle): batches with their expected page
//! count and preparation flags, intake from the hot folder into the vault (into the
//! scanner's open batch), the QA decision (checklist when the product is in the
//! sample or the class needs a full check; four-eyes where the class's integrity need
//! is "sehr hoch"), the Transfervermerk and the seal, the new case (paper channel,
//! flagged TR-RESISCAN), `verify`, and the destruction gate per batch: release by the
//! Leitung only when every condition holds, then the record of the destruction.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use domain::Permission;
use scan::evidence::{Organisation, Seal, SoftwareSeal, Transfervermerk, Verfahren};
use scan::policy::{DocumentClass, ScanPolicy};
use scan::rules::{BatchFlag, QaItem, counts_in_batch};
use scan::{Config, HotFolder, Outcome, Taken};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{AppError, ErrorCode, Workstation};

const SEAL_SETTING: &str = "scan_siegel";
const SEAL_PUBLIC_SETTING: &str = "scan_siegel_public";
pub(crate) const FOLDER_SETTING: &str = "scan_eingangsordner";

/// A product waiting for text recognition: opened in the store, its plaintext only
/// ever in the worker's memory.
pub struct OcrJob {
    pub product_id: String,
    /// The product, opened under the lock and read (decrypted) by the worker
    /// without it: a 500-page scan takes seconds to decrypt.
    pub(crate) reader: store::BlobReader,
    pub format: scan::Format,
    pub pages: u32,
}

/// The text recogniser, looked for once per process.
pub fn ocr() -> &'static Result<scan::ocr::Ocr, String> {
    static OCR: std::sync::OnceLock<Result<scan::ocr::Ocr, String>> = std::sync::OnceLock::new();
    OCR.get_or_init(|| {
        // Switched off for this workstation (e.g. a slow PC): AMTSSTUBE_OCR=aus.
        if std::env::var("AMTSSTUBE_OCR").is_ok_and(|v| v == "aus") {
            return Err(
                "Texterkennung aus: auf diesem Arbeitsplatz abgeschaltet (AMTSSTUBE_OCR=aus)."
                    .into(),
            );
        }
        scan::ocr::Ocr::detect()
    })
}

pub use crate::config::{DEFAULT_SCAN_POLICY, load_scan_policy};

/// A document class as the scanning desk chooses it.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ScanClassView {
    pub code: String,
    pub name: String,
    /// ersetzend / kopierend / nicht scannen
    pub mode: String,
    pub protection_need: String,
    pub four_eyes: bool,
    pub full_check: bool,
    pub sample_percent: u32,
}

/// What the scanning desk needs to know to work: classes, checklist, flags, case types.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ScanSetup {
    pub procedure: String,
    pub classes: Vec<ScanClassView>,
    /// [item, label]
    pub checklist: Vec<(QaItem, String)>,
    pub flags: Vec<(BatchFlag, String)>,
    /// [Kürzel, name] of the case types a paper application can become.
    pub case_types: Vec<(String, String)>,
    /// The configured hot folder, if any.
    pub hot_folder: Option<String>,
    /// Whether text recognition runs, or why not.
    pub ocr: String,
}

/// A new batch (Stapel) from the scanning desk.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BatchRequest {
    pub class: String,
    pub r#box: String,
    pub expected_pages: u32,
    pub flags: Vec<String>,
}

/// A batch as listed, with its completeness and its destruction state.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BatchView {
    pub id: String,
    pub number: String,
    pub class: String,
    pub r#box: String,
    pub expected_pages: u32,
    pub pages_captured: u32,
    pub flags: Vec<BatchFlag>,
    pub state: String,
    pub products: u32,
    pub products_checked: u32,
    pub created_at: String,
    pub created_by: String,
    pub released: Option<String>,
    pub destroyed: Option<String>,
    /// Gate conditions that fail now (empty: the paper may be released).
    pub obstacles: Vec<String>,
}

/// A scan product waiting at the QA desk.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct QueueItem {
    pub id: String,
    pub name: String,
    pub mime_type: String,
    pub pages: u32,
    pub received_at: String,
    pub scan_user: String,
    pub batch: Option<String>,
    pub class: Option<String>,
    /// A page-by-page check with the whole checklist is due (sample or full check).
    pub full_check: bool,
    /// QA by another person than the one who scanned.
    pub four_eyes: bool,
    /// Cut out of a larger scan: its first page there.
    pub first_page: Option<u32>,
}

/// The QA decision for one product.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ScanApproveRequest {
    pub product_id: String,
    pub case_type_code: String,
    pub applicant: String,
    pub note: Option<String>,
    /// Keys of the ticked checklist items.
    pub checklist: Vec<String>,
}

/// What one intake run did with a file.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct IntakeResult {
    pub name: String,
    /// eingelesen / fehler / wartet
    pub result: String,
    pub detail: String,
}

/// The scanning desk's state in the facade: the hot folder between intake passes
/// (stability clocks, retries) with the folder and stability delay it was made for,
/// and what the last passes did, newest first (for the Eingang screen).
#[derive(Default)]
pub(crate) struct DeskState {
    hot_folder: Option<(std::path::PathBuf, Duration, HotFolder)>,
    intake_log: std::collections::VecDeque<IntakeResult>,
    /// A background pass has the hot folder's state out ([`IntakePass`]).
    pass_out: bool,
}

/// A background intake pass taken out of the workstation
/// ([`Workstation::scan_intake_begin`]): the hot folder's files are checked – the
/// parsing of untrusted scanner files – without the workstation's lock
/// ([`IntakePass::check`]); only storing a checked file takes the lock, one file at a
/// time ([`Workstation::scan_intake_store_next`]).
pub struct IntakePass {
    dir: std::path::PathBuf,
    stable_for: Duration,
    hot: HotFolder,
    prepared: std::collections::VecDeque<scan::Prepared>,
    outcomes: Vec<Outcome>,
    /// A second session of the scanning desk's login: files are read and encrypted
    /// into the vault outside the workstation lock ([`IntakePass::store_next`]).
    worker: store::Session,
}

impl std::fmt::Debug for IntakePass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntakePass")
            .field("dir", &self.dir)
            .field("prepared", &self.prepared.len())
            .finish_non_exhaustive()
    }
}

impl IntakePass {
    /// Check what is stable in the folder for about `budget` (at least one file),
    /// without the workstation.
    pub fn check(&mut self, budget: Duration) -> Result<(), AppError> {
        let (prepared, outcomes) = self.hot.prepare(Some(budget)).map_err(|e| {
            AppError::invalid(format!("Eingangsordner {}: {e}", self.dir.display()))
        })?;
        self.prepared.extend(prepared);
        self.outcomes.extend(outcomes);
        Ok(())
    }

    /// Checked files not stored yet.
    pub fn waiting_to_store(&self) -> usize {
        self.prepared.len()
    }

    /// Store the next checked file into the open batch through the pass's own
    /// session, without the workstation: a file of hundreds of megabytes is read and
    /// encrypted while the window's commands go on (only the row's short
    /// transaction takes turns with theirs). The caller checks between two files
    /// that the scanning desk is still logged in.
    pub fn store_next(&mut self) -> Result<(), AppError> {
        let Some(p) = self.prepared.pop_front() else {
            return Ok(());
        };
        let worker = &mut self.worker;
        let batch = worker.open_scan_batch()?.ok_or_else(|| {
            AppError::invalid("Kein offener Stapel mehr: die Datei bleibt im Eingangsordner.")
        })?;
        let outcome = self
            .hot
            .commit(p, &mut |a: &scan::Arrival<'_>| {
                store_arrival(worker, &batch.id, a)
            })
            .map_err(|e| {
                AppError::invalid(format!("Eingangsordner {}: {e}", self.dir.display()))
            })?;
        self.outcomes.push(outcome);
        Ok(())
    }
}

/// The hot folder's sink: a checked file streamed from the share into the vault
/// (never held whole) as a scan product of the open batch.
fn store_arrival(
    session: &mut store::Session,
    batch_id: &str,
    a: &scan::Arrival<'_>,
) -> Result<Taken, String> {
    let file = std::fs::File::open(a.path)
        .map_err(|e| format!("Die Datei lässt sich nicht öffnen: {e}"))?;
    match session.add_scan_product(
        &a.name,
        a.inspection.format.mime(),
        a.inspection.pages,
        &a.sha256,
        std::io::BufReader::with_capacity(256 * 1024, file),
        Some(batch_id),
    ) {
        Ok(Some(_)) => Ok(Taken::Stored),
        Ok(None) => Ok(Taken::Duplicate(a.sha256[..12].to_owned())),
        Err(e) => Err(e.to_string()),
    }
}

fn intake_result(o: Outcome) -> Option<IntakeResult> {
    Some(match o {
        Outcome::Stored { name, pages } => IntakeResult {
            name,
            result: "eingelesen".into(),
            detail: format!("{pages} Seite(n)"),
        },
        Outcome::Failed { name, reason } => IntakeResult {
            name,
            result: "fehler".into(),
            detail: reason,
        },
        Outcome::Retrying { .. } => return None,
    })
}

/// A batch's preparation flags as stored; damaged flags are an error (a lost
/// "kopie" would let an original be destroyed).
fn batch_flags(b: &store::ScanBatch) -> Result<Vec<BatchFlag>, AppError> {
    BatchFlag::from_json(&b.flags).map_err(|e| storage(format!("Stapel {}: {e}", b.number)))
}

fn storage(msg: impl Into<String>) -> AppError {
    AppError::new(ErrorCode::Storage, msg)
}

/// How long a file in the configured hot folder must stay unchanged before it is taken.
const INTAKE_STABLE_FOR: Duration = Duration::from_secs(2);

/// How long one background intake pass checks files before it stores them.
pub(crate) const BACKGROUND_SLICE: Duration = Duration::from_millis(250);

fn seal_json(s: &Seal) -> String {
    serde_json::json!({
        "algorithm": s.algorithm,
        "keyId": s.key_id,
        "productSha256": s.product_sha256,
        "vermerkSha256": s.vermerk_sha256,
        "signature": s.signature,
    })
    .to_string()
}

fn seal_from(json: &str) -> Option<Seal> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let f = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    Some(Seal {
        algorithm: f("algorithm")?,
        key_id: f("keyId")?,
        product_sha256: f("productSha256")?,
        vermerk_sha256: f("vermerkSha256")?,
        signature: f("signature")?,
    })
}

impl Workstation {
    /// The scanning desk's configuration in force (`scan.toml`).
    fn scan_policy(&self) -> Result<std::sync::Arc<ScanPolicy>, AppError> {
        self.config.scan(self.data_dir())
    }

    /// Take what is stable in the hot folder, for up to `wait` (files still being
    /// written are waited for; what cannot be taken goes to `fehler/` with a reason).
    pub fn scan_intake(
        &mut self,
        dir: &Path,
        stable_for: Duration,
        wait: Duration,
    ) -> Result<Vec<IntakeResult>, AppError> {
        self.scan_intake_within(dir, stable_for, wait, None)
    }

    /// [`Workstation::scan_intake`], taking files only while `budget` lasts (at least
    /// one); the other stable files wait for the next call ([`Workstation::scan_intake_ready`]).
    fn scan_intake_within(
        &mut self,
        dir: &Path,
        stable_for: Duration,
        wait: Duration,
        budget: Option<Duration>,
    ) -> Result<Vec<IntakeResult>, AppError> {
        self.session_with(Permission::ScanIntake)?;
        if self.scan_desk.pass_out {
            return Err(AppError::invalid(
                "Der Eingangsordner wird gerade im Hintergrund gelesen; bitte in einem Moment noch einmal.",
            ));
        }
        // Keep the folder's state (how long each file has been unchanged, retries)
        // from one pass to the next.
        let mut hot = match self.scan_desk.hot_folder.take() {
            Some((d, s, h)) if d == dir && s == stable_for => h,
            _ => HotFolder::new(
                dir,
                Config {
                    stable_for,
                    ..Config::default()
                },
            )
            .map_err(|e| AppError::invalid(format!("Eingangsordner {}: {e}", dir.display())))?,
        };
        let result = self.intake_passes(&mut hot, dir, wait, budget);
        self.scan_desk.hot_folder = Some((dir.to_path_buf(), stable_for, hot));
        if let Ok(r) = &result {
            for item in r {
                self.scan_desk.intake_log.push_front(item.clone());
            }
            self.scan_desk.intake_log.truncate(50);
        }
        result
    }

    /// What the intake took or refused lately, newest first (the Eingang screen).
    pub fn scan_intake_log(&self) -> Result<Vec<IntakeResult>, AppError> {
        self.session_with(Permission::ScanIntake)?;
        Ok(self.scan_desk.intake_log.iter().cloned().collect())
    }

    /// One pass of the app's background intake: only for a logged-in scanning desk
    /// with a hot folder and an open batch; otherwise nothing happens. It takes files
    /// for about a quarter of a second and leaves the rest for the next pass, so the
    /// window's commands, which wait for the same workstation, get their turn between
    /// files.
    pub fn scan_intake_background(&mut self) -> Result<usize, AppError> {
        self.scan_intake_background_within(BACKGROUND_SLICE)
    }

    /// [`Workstation::scan_intake_background`] with another time per pass.
    pub fn scan_intake_background_within(&mut self, budget: Duration) -> Result<usize, AppError> {
        // The same pass as the app's intake thread, here without letting go of the
        // workstation in between.
        let Some(mut pass) = self.scan_intake_begin()? else {
            return Ok(0);
        };
        let mut done = pass.check(budget);
        while done.is_ok() && pass.waiting_to_store() > 0 {
            done = self.scan_intake_store_next(&mut pass);
        }
        let n = self.scan_intake_end(pass);
        done.map(|()| n)
    }

    /// Begin a background pass (the app's intake thread): only for a logged-in
    /// scanning desk with a hot folder and an open batch, and not while another
    /// pass is out; `None` otherwise. The caller checks the files without the
    /// workstation ([`IntakePass::check`]), stores them with
    /// [`Workstation::scan_intake_store_next`] and ends with
    /// [`Workstation::scan_intake_end`] – also when something failed in between.
    pub fn scan_intake_begin(&mut self) -> Result<Option<IntakePass>, AppError> {
        if self.scan_desk.pass_out {
            return Ok(None);
        }
        if let Some((_, _, hot)) = self.scan_desk.hot_folder.as_mut() {
            hot.clear_ready();
        }
        let Ok(session) = self.session_with(Permission::ScanIntake) else {
            return Ok(None);
        };
        let Some(dir) = session.setting(FOLDER_SETTING)? else {
            return Ok(None);
        };
        if session.open_scan_batch()?.is_none() {
            return Ok(None);
        }
        let worker = session.worker()?;
        let dir = std::path::PathBuf::from(dir);
        let hot = match self.scan_desk.hot_folder.take() {
            Some((d, s, h)) if d == dir && s == INTAKE_STABLE_FOR => h,
            _ => HotFolder::new(
                &dir,
                Config {
                    stable_for: INTAKE_STABLE_FOR,
                    ..Config::default()
                },
            )
            .map_err(|e| AppError::invalid(format!("Eingangsordner {}: {e}", dir.display())))?,
        };
        self.scan_desk.pass_out = true;
        Ok(Some(IntakePass {
            dir,
            stable_for: INTAKE_STABLE_FOR,
            hot,
            prepared: Default::default(),
            outcomes: Vec::new(),
            worker,
        }))
    }

    /// Is the login a background pass began under still here (the same user; a
    /// locked screen does not stop the intake, as it does not stop a sync)?
    pub fn scan_intake_by(&self, pass: &IntakePass) -> bool {
        self.session.as_ref().is_some_and(|s| {
            s.user().username == pass.worker.user().username
                && s.user().role.may(Permission::ScanIntake)
        })
    }

    /// Store the next checked file of a background pass into the open batch, once
    /// the login is checked (the CLI's pass; the app's intake thread checks the
    /// login itself and stores without the workstation, [`IntakePass::store_next`]).
    pub fn scan_intake_store_next(&mut self, pass: &mut IntakePass) -> Result<(), AppError> {
        self.session_with(Permission::ScanIntake)?;
        if !self.scan_intake_by(pass) {
            return Err(AppError::locked());
        }
        pass.store_next()
    }

    /// End a background pass: the folder's state back into the workstation (files
    /// checked but not stored are checked again next time), the results into the
    /// intake log. Returns how many files were taken or refused.
    pub fn scan_intake_end(&mut self, pass: IntakePass) -> usize {
        let IntakePass {
            dir,
            stable_for,
            hot,
            outcomes,
            ..
        } = pass;
        self.scan_desk.pass_out = false;
        self.scan_desk.hot_folder = Some((dir, stable_for, hot));
        let results: Vec<IntakeResult> = outcomes.into_iter().filter_map(intake_result).collect();
        for item in &results {
            self.scan_desk.intake_log.push_front(item.clone());
        }
        self.scan_desk.intake_log.truncate(50);
        results.len()
    }

    /// Stable files the last pass left for the next one (its time was up).
    pub fn scan_intake_ready(&self) -> usize {
        self.scan_desk
            .hot_folder
            .as_ref()
            .map_or(0, |(_, _, hot)| hot.ready_left())
    }

    /// The hot folder to watch: configured, and a scanning desk logged in (else None).
    pub fn scan_watched_folder(&self) -> Option<std::path::PathBuf> {
        let session = self.session_with(Permission::ScanIntake).ok()?;
        session
            .setting(FOLDER_SETTING)
            .ok()
            .flatten()
            .map(std::path::PathBuf::from)
    }

    /// Files seen in the hot folder but not yet stable (they are taken in a later pass).
    pub fn scan_intake_waiting(&self) -> usize {
        self.scan_desk
            .hot_folder
            .as_ref()
            .map_or(0, |(_, _, hot)| hot.waiting())
    }

    fn intake_passes(
        &mut self,
        hot: &mut HotFolder,
        dir: &Path,
        wait: Duration,
        budget: Option<Duration>,
    ) -> Result<Vec<IntakeResult>, AppError> {
        let session = self.session_with_mut(Permission::ScanIntake)?;
        // Scans go into the scanner's open batch; without one they wait in the share.
        let batch = session.open_scan_batch()?.ok_or_else(|| {
            AppError::invalid(
                "Kein offener Stapel: bitte zuerst einen Stapel mit der erwarteten Seitenzahl anlegen. Die Dateien bleiben im Eingangsordner.",
            )
        })?;
        let until = Instant::now() + wait;
        let mut results = Vec::new();
        loop {
            let outcomes = hot
                .scan_within(budget, |a| store_arrival(session, &batch.id, a))
                .map_err(|e| AppError::invalid(format!("Eingangsordner {}: {e}", dir.display())))?;
            results.extend(outcomes.into_iter().filter_map(intake_result));
            if hot.waiting() == 0 || Instant::now() >= until {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(results)
    }

    /// The classes, checklist, flags and case types for the scanning desk's screens.
    pub fn scan_setup(&self) -> Result<ScanSetup, AppError> {
        let session = self.session_with(Permission::ScanIntake)?;
        let folder = session.setting(FOLDER_SETTING)?;
        let policy = self.scan_policy()?;
        let cfg = self.casework_config()?;
        Ok(ScanSetup {
            procedure: format!(
                "{} ({}, Version {} vom {})",
                policy.verfahren.bezeichnung,
                policy.verfahren.auspraegung,
                policy.verfahren.version,
                jiff::civil::Date::strptime("%Y-%m-%d", &policy.verfahren.stand)
                    .map(|d| d.strftime("%d.%m.%Y").to_string())
                    .unwrap_or_else(|_| policy.verfahren.stand.clone())
            ),
            classes: policy
                .klasse
                .iter()
                .map(|c| ScanClassView {
                    code: c.kuerzel.clone(),
                    name: c.name.clone(),
                    mode: c.mode_label().into(),
                    protection_need: format!(
                        "Integrität {}, Vertraulichkeit {}, Verfügbarkeit {}",
                        c.integritaet.label(),
                        c.vertraulichkeit.label(),
                        c.verfuegbarkeit.label()
                    ),
                    four_eyes: c.four_eyes(),
                    full_check: c.full_check(),
                    sample_percent: c.stichprobe_prozent,
                })
                .collect(),
            checklist: QaItem::ALL
                .iter()
                .map(|i| (*i, i.label().to_owned()))
                .collect(),
            flags: BatchFlag::ALL
                .iter()
                .map(|f| (*f, f.label().to_owned()))
                .collect(),
            case_types: cfg
                .types
                .vorgangsart
                .iter()
                .map(|t| (t.kuerzel.clone(), t.name.clone()))
                .collect(),
            hot_folder: folder,
            ocr: match ocr() {
                Ok(_) => "Texterkennung an (tesseract, Deutsch): der Text gescannter Anträge ist durchsuchbar.".into(),
                Err(why) => why.clone(),
            },
        })
    }

    /// Set the hot folder the app takes scans from (the scanner's share).
    pub fn scan_set_folder(&mut self, dir: &Path) -> Result<(), AppError> {
        if !dir.is_dir() {
            return Err(AppError::invalid(format!(
                "Den Ordner {} gibt es nicht.",
                dir.display()
            )));
        }
        let text = dir
            .to_str()
            .ok_or_else(|| AppError::invalid("Der Ordnername ist kein gültiger Text."))?;
        // The scanning desk or the administration (which sets up the folders).
        let permission = if self.session_with(Permission::ScanIntake).is_ok() {
            Permission::ScanIntake
        } else {
            Permission::ConfigurePortal
        };
        let session = self.session_with_mut(permission)?;
        session.set_setting(FOLDER_SETTING, text)?;
        session.audit("config.changed", "scan.eingangsordner")?;
        Ok(())
    }

    /// Take what is stable in the configured hot folder (one pass, short wait).
    pub fn scan_intake_configured(&mut self) -> Result<Vec<IntakeResult>, AppError> {
        let dir = self
            .session_with(Permission::ScanIntake)?
            .setting(FOLDER_SETTING)?
            .ok_or_else(|| {
                AppError::invalid(
                    "Es ist kein Eingangsordner eingerichtet (amtsstube scan ordner /pfad).",
                )
            })?;
        self.scan_intake(Path::new(&dir), INTAKE_STABLE_FOR, Duration::ZERO)
    }

    /// Prepare a batch: the class, the box of the paper, the expected page count and
    /// the preparation flags. The batch takes what this person scans next.
    pub fn scan_batch_create(&mut self, r: &BatchRequest) -> Result<BatchView, AppError> {
        let policy = self.scan_policy()?;
        let class = policy.class(&r.class).ok_or_else(|| {
            AppError::invalid(format!("Die Dokumentklasse „{}“ gibt es nicht.", r.class))
        })?;
        if class.mode() == scan::evidence::Mode::NichtScannen {
            return Err(AppError::invalid(format!(
                "{} wird nicht gescannt: das Original geht in die Papierakte.",
                class.name
            )));
        }
        if r.r#box.trim().is_empty() || r.r#box.chars().count() > 60 {
            return Err(AppError::invalid(
                "Bitte den Karton oder Ordner des Papiers angeben (höchstens 60 Zeichen).",
            ));
        }
        if r.expected_pages == 0 || r.expected_pages > 100_000 {
            return Err(AppError::invalid(
                "Bitte die erwartete Seitenzahl angeben (1 bis 100.000).",
            ));
        }
        for f in &r.flags {
            BatchFlag::parse(f).map_err(|e| AppError::invalid(e.to_string()))?;
        }
        let session = self.session_with_mut(Permission::ScanIntake)?;
        let b = session.create_scan_batch(&store::NewBatch {
            class: &class.kuerzel,
            r#box: r.r#box.trim(),
            expected_pages: r.expected_pages,
            flags: &r.flags,
        })?;
        self.batch_view(b, &policy)
    }

    /// Close a batch: nothing more is taken into it.
    pub fn scan_batch_close(&mut self, id: &str) -> Result<(), AppError> {
        Ok(self
            .session_with_mut(Permission::ScanIntake)?
            .advance_scan_batch(id, "geschlossen", None)?)
    }

    /// All batches with their completeness and what stands in the way of destruction.
    pub fn scan_batches(&self) -> Result<Vec<BatchView>, AppError> {
        let policy = self.scan_policy()?;
        let batches = self.scan_session()?.scan_batches()?;
        batches
            .into_iter()
            .map(|b| self.batch_view(b, &policy))
            .collect()
    }

    /// Scanstelle or Leitung (who releases the paper) may look at the batches.
    fn scan_session(&self) -> Result<&store::Session, AppError> {
        self.session_with(Permission::ScanIntake)
            .or_else(|_| self.session_with(Permission::ReleaseOriginals))
    }

    fn batch_view(&self, b: store::ScanBatch, policy: &ScanPolicy) -> Result<BatchView, AppError> {
        let flags = batch_flags(&b)?;
        let hindernisse = if b.state == "vernichtet" || b.state == "freigegeben" {
            Vec::new()
        } else {
            // The list only looks whether seal and Transfervermerk exist; the release
            // re-verifies them.
            self.gate_failures(&b, &flags, policy, false)?
                .into_iter()
                .map(|f| f.to_string())
                .collect()
        };
        Ok(BatchView {
            id: b.id,
            number: b.number,
            class: policy
                .class(&b.class)
                .map_or(b.class.clone(), |c| c.name.clone()),
            r#box: b.r#box,
            expected_pages: b.expected_pages,
            pages_captured: b.pages_captured,
            flags: flags.clone(),
            state: b.state,
            products: b.products,
            products_checked: b.products_checked,
            created_at: b.created_at,
            created_by: b.created_by,
            released: b
                .released_at
                // released_at and released_by are written together; display only.
                .map(|at| format!("{at} von {}", b.released_by.unwrap_or_default())),
            destroyed: b.destroyed_at.map(|at| {
                format!(
                    "{at} von {} ({})",
                    // destroyed_at, _by and _how are written together; display only.
                    b.destroyed_by.unwrap_or_default(),
                    b.destroyed_how.unwrap_or_default()
                )
            }),
            obstacles: hindernisse,
        })
    }

    /// The seven conditions for a batch, checked for each of its products: every
    /// condition that fails for any product is named once. `verify`: re-check hash,
    /// seal and Transfervermerk of every product (reads them all from the vault).
    fn gate_failures(
        &self,
        b: &store::ScanBatch,
        flags: &[BatchFlag],
        policy: &ScanPolicy,
        verify: bool,
    ) -> Result<Vec<scan::evidence::GateFailure>, AppError> {
        use scan::evidence::GateFailure;
        let session = self.scan_session()?;
        let class = policy.class(&b.class);
        let products = session.scan_products_of_batch(&b.id)?;
        let today = jiff::Zoned::now().date();
        let mut failed: Vec<GateFailure> = Vec::new();
        let mut add = |f: Vec<GateFailure>| {
            for x in f {
                if !failed.contains(&x) {
                    failed.push(x);
                }
            }
        };
        // Refused products are scanned again; a split scan lives on in its parts.
        let open: Vec<&store::ScanProduct> = products
            .iter()
            .filter(|p| counts_in_batch(&p.state))
            .collect();
        if open.is_empty() {
            add(vec![GateFailure::Incomplete, GateFailure::Qa]);
        }
        let public = session.setting(SEAL_PUBLIC_SETTING)?;
        for p in open {
            let evidence_verified = match (&public, p.state.as_str()) {
                (Some(key), "geprueft") if verify => self.verify_product(session, p, key).is_ok(),
                (Some(_), "geprueft") => p.seal.is_some() && p.vermerk_blob.is_some(),
                _ => false,
            };
            let facts = gate_facts(b, flags, class, p, evidence_verified, today);
            if let Err(f) = scan::evidence::may_destroy(&facts) {
                add(f);
            }
        }
        if b.state != "freigegeben" && b.state != "vernichtet" {
            add(vec![GateFailure::NotReleased]);
        }
        Ok(failed)
    }

    /// Release the paper of a closed batch for destruction (Leitung). Refused, with
    /// every failed condition named, unless the other six conditions hold.
    pub fn scan_release(&mut self, batch_id: &str) -> Result<(), AppError> {
        let policy = self.scan_policy()?;
        let session = self.session_with(Permission::ReleaseOriginals)?;
        let b = session
            .scan_batch(batch_id)?
            .ok_or_else(|| AppError::new(ErrorCode::NotFound, "Diesen Stapel gibt es nicht."))?;
        if b.state == "offen" {
            return Err(AppError::invalid(format!(
                "Der Stapel {} ist noch offen: erst abschließen, dann freigeben.",
                b.number
            )));
        }
        let flags = batch_flags(&b)?;
        let failed: Vec<String> = self
            .gate_failures(&b, &flags, &policy, true)?
            .into_iter()
            .filter(|f| *f != scan::evidence::GateFailure::NotReleased)
            .map(|f| f.to_string())
            .collect();
        if !failed.is_empty() {
            return Err(AppError::new(
                ErrorCode::Conflict,
                format!(
                    "Der Stapel {} darf nicht zur Vernichtung freigegeben werden: {}",
                    b.number,
                    failed.join(" ")
                ),
            ));
        }
        Ok(self
            .session_with_mut(Permission::ReleaseOriginals)?
            .advance_scan_batch(batch_id, "freigegeben", None)?)
    }

    /// The release list as PDF: the batches whose paper is released for destruction
    /// and not yet destroyed, with box and batch number, on the town's letterhead.
    pub fn scan_release_list_pdf(&self) -> Result<Vec<u8>, AppError> {
        let session = self.scan_session()?;
        let policy = self.scan_policy()?;
        let tz = jiff::tz::TimeZone::system();
        let rows: Vec<letters::report::ReleaseRow> = session
            .scan_batches()?
            .into_iter()
            .filter(|b| b.state == "freigegeben")
            .map(|b| letters::report::ReleaseRow {
                klasse: policy
                    .class(&b.class)
                    .map_or(b.class.clone(), |c| c.name.clone()),
                stapel: b.number,
                karton: b.r#box,
                seiten: b.pages_captured,
                freigabe: format!(
                    "{}, {}",
                    b.released_at
                        .as_deref()
                        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                        .map(|t| letters::compose::datum(t.to_zoned(tz.clone()).date()))
                        // A released batch has a time and a person; display only.
                        .unwrap_or_default(),
                    b.released_by.unwrap_or_default()
                ),
            })
            .collect();
        let print = self.town_print()?;
        letters::report::release_list_pdf(
            print.renderer,
            &rows,
            &print.head,
            print.pdfa,
            jiff::Timestamp::now().as_second(),
        )
        .map_err(crate::casework::print_error)
    }

    /// Separator sheets to print (`copies` pages): the configured patch code (Patch T
    /// by default) and the barcode text from `scan.toml`, at the sizes the search at the
    /// QA desk and Kodak's patch readers expect.
    pub fn scan_separator_sheets_pdf(&self, copies: u32) -> Result<Vec<u8>, AppError> {
        self.session_with(Permission::ScanIntake)?;
        let kinds = self
            .scan_policy()?
            .separators()
            .map_err(|e| AppError::invalid(e.to_string()))?;
        let marks =
            scan::separator::sheet_marks(&kinds).map_err(|e| AppError::invalid(e.to_string()))?;
        let mut caption = Vec::new();
        if let Some(p) = kinds.patches.first() {
            let name = if *p == scan::patchcode::Patch::T {
                "Patch T (Transferpatch)".to_owned()
            } else {
                format!("Patch {p}")
            };
            caption.push(format!("Patchcode oben: {name}."));
        }
        if !kinds.marker.is_empty() {
            caption.push(format!("Barcode darunter: „{}“ (Code 39).", kinds.marker));
        }
        caption.push(
            "Vor jedes Dokument eines Stapels legen. Die Qualitätssicherung findet die \
             Trennblätter, teilt den Scan dort nach Bestätigung und lässt die Blätter weg."
                .into(),
        );
        caption.push(
            "Ohne Skalierung drucken (100 %, „Tatsächliche Größe“) und nicht kopieren: \
             Kopien verändern die Balkenbreiten. Geknickte oder fleckige Blätter ersetzen."
                .into(),
        );
        let print = self.town_print()?;
        let boxes: Vec<(f32, f32, f32, f32)> = marks
            .iter()
            .map(|m| (m.x, m.top, m.width, m.height))
            .collect();
        letters::report::separator_sheets_pdf(
            print.renderer,
            &print.head,
            &boxes,
            scan::separator::SHEET_MARKS_BOTTOM,
            &caption,
            copies,
            print.pdfa,
            jiff::Timestamp::now().as_second(),
        )
        .map_err(crate::casework::print_error)
    }

    /// Record that the released paper was destroyed (how: e.g. "Aktenvernichter P-4").
    pub fn scan_destroyed(&mut self, batch_id: &str, how: &str) -> Result<(), AppError> {
        let how = how.trim();
        if how.is_empty() || how.chars().count() > 200 {
            return Err(AppError::invalid(
                "Bitte angeben, wie das Papier vernichtet wurde (z. B. Aktenvernichter, Sicherheitsstufe P-4).",
            ));
        }
        Ok(self
            .session_with_mut(Permission::ScanIntake)?
            .advance_scan_batch(batch_id, "vernichtet", Some(how))?)
    }

    /// Scan products waiting for QA, with what the QA must do for each.
    pub fn scan_queue(&self) -> Result<Vec<QueueItem>, AppError> {
        self.queue_items(None)
    }

    /// The queue, or (with `only`) the one product of it. Each batch and the order of
    /// its products are read once, however long the queue is.
    fn queue_items(&self, only: Option<&str>) -> Result<Vec<QueueItem>, AppError> {
        use std::collections::HashMap;
        let policy = self.scan_policy()?;
        let session = self.session_with(Permission::ScanIntake)?;
        let products = match only {
            Some(id) => session
                .scan_product(id)?
                .filter(|p| p.state == "eingelesen")
                .into_iter()
                .collect(),
            None => session.scan_products("eingelesen")?,
        };
        let mut batches: HashMap<String, Option<(store::ScanBatch, Vec<String>)>> = HashMap::new();
        let mut out = Vec::new();
        for p in products {
            let batch = match &p.batch_id {
                Some(id) => {
                    if !batches.contains_key(id) {
                        let b = match session.scan_batch(id)? {
                            Some(b) => {
                                let order = session
                                    .scan_products_of_batch(id)?
                                    .into_iter()
                                    .map(|x| x.id)
                                    .collect();
                                Some((b, order))
                            }
                            None => None,
                        };
                        batches.insert(id.clone(), b);
                    }
                    batches.get(id).and_then(Option::as_ref)
                }
                None => None,
            };
            let class = batch.and_then(|(b, _)| policy.class(&b.class));
            let full = match (batch, class) {
                (Some((_, order)), Some(c)) => {
                    // The batch's order lists every product of the batch: always found.
                    c.sampled(order.iter().position(|x| *x == p.id).unwrap_or(0) as u64)
                }
                _ => true,
            };
            out.push(QueueItem {
                id: p.id,
                name: p.name,
                mime_type: p.mime_type,
                pages: p.pages,
                received_at: p.received_at,
                scan_user: p.scan_user,
                batch: batch.map(|(b, _)| b.number.clone()),
                class: class.map(|c| c.name.clone()),
                full_check: full,
                four_eyes: class.is_none_or(DocumentClass::four_eyes),
                first_page: p.first_page,
            });
        }
        Ok(out)
    }

    /// A product waiting for QA and its image data (in memory only).
    fn qa_product(&self, id: &str) -> Result<(store::ScanProduct, Vec<u8>), AppError> {
        let session = self.session_with(Permission::ScanIntake)?;
        let p = session.scan_product(id)?.ok_or_else(|| {
            AppError::new(ErrorCode::NotFound, "Dieses Scanprodukt gibt es nicht.")
        })?;
        if p.state != "eingelesen" {
            return Err(AppError::new(
                ErrorCode::Forbidden,
                "Nach der Qualitätssicherung gehört das Scanprodukt zum Vorgang.",
            ));
        }
        let mut bytes = Vec::new();
        session
            .open_blob(&store::BlobId::parse(&p.blob_id)?)?
            .read_to_end(&mut bytes)
            .map_err(|e| storage(format!("Scanprodukt nicht lesbar: {e}")))?;
        Ok((p, bytes))
    }

    /// The image data of a product waiting for QA (shown from memory at the QA desk).
    pub fn scan_product_content(
        &self,
        id: &str,
    ) -> Result<crate::casework::DocumentContent, AppError> {
        let (p, bytes) = self.qa_product(id)?;
        use base64::Engine as _;
        Ok(crate::casework::DocumentContent {
            filename: Some(p.name),
            mime_type: p.mime_type,
            content_base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
        })
    }

    /// A thumbnail (at most 160 pixels wide) of a page of a TIFF product waiting for
    /// QA, for the desk's page strip.
    pub fn scan_thumbnail(
        &self,
        id: &str,
        page: u32,
    ) -> Result<crate::casework::DocumentContent, AppError> {
        self.tiff_page(id, page, Some(160))
    }

    /// One page of a TIFF product waiting for QA, as PNG (the web view shows no TIFF):
    /// the page-by-page check.
    pub fn scan_page(
        &self,
        id: &str,
        page: u32,
    ) -> Result<crate::casework::DocumentContent, AppError> {
        self.tiff_page(id, page, None)
    }

    fn tiff_page(
        &self,
        id: &str,
        page: u32,
        thumbnail: Option<u32>,
    ) -> Result<crate::casework::DocumentContent, AppError> {
        let p = self.open_product(id)?;
        let session = self.session_with(Permission::ScanIntake)?;
        if p.mime_type != scan::Format::Tiff.mime() {
            return Err(AppError::invalid(
                "Seitenbilder gibt es nur für TIFF-Scans; PDF und Bilder werden direkt gezeigt.",
            ));
        }
        // Decrypted where the page lies (the vault's reader seeks): the scan is never
        // held whole, however many pages it has.
        let blob = session.open_blob(&store::BlobId::parse(&p.blob_id)?)?;
        let reader = std::io::BufReader::with_capacity(64 * 1024, blob);
        let png = match thumbnail {
            Some(width) => scan::preview::tiff_thumbnail_from(reader, page, width),
            None => scan::preview::tiff_page_png_from(reader, page),
        }
        .map_err(|e| AppError::invalid(e.to_string()))?;
        use base64::Engine as _;
        Ok(crate::casework::DocumentContent {
            filename: Some(format!("{} – Seite {page}", p.name)),
            mime_type: "image/png".into(),
            content_base64: base64::engine::general_purpose::STANDARD.encode(&png),
        })
    }

    fn seal_key(&mut self) -> Result<SoftwareSeal, AppError> {
        let session = self.session_with_mut(Permission::ScanIntake)?;
        if let Some(pem) = session.setting(SEAL_SETTING)? {
            return SoftwareSeal::from_pem(pem.as_bytes()).map_err(|e| storage(e.to_string()));
        }
        let key = SoftwareSeal::generate().map_err(|e| storage(e.to_string()))?;
        let private = key.private_pem().map_err(|e| storage(e.to_string()))?;
        let public = key.public_pem().map_err(|e| storage(e.to_string()))?;
        session.set_setting(SEAL_SETTING, &String::from_utf8_lossy(&private))?;
        session.set_setting(SEAL_PUBLIC_SETTING, &String::from_utf8_lossy(&public))?;
        session.audit("scan.siegelschluessel.erzeugt", "-")?;
        Ok(key)
    }

    /// The product as it waits at the QA desk, if it is open for QA.
    fn open_for_qa(&self, product_id: &str) -> Result<QueueItem, AppError> {
        self.queue_items(Some(product_id))?
            .into_iter()
            .next()
            .ok_or_else(|| {
                AppError::new(
                    ErrorCode::NotFound,
                    "Dieses Scanprodukt ist nicht (mehr) zur Prüfung offen.",
                )
            })
    }

    /// QA passed: Transfervermerk, seal and a new case of `vorgangsart` for the
    /// applicant. The whole checklist is needed when the product is in the sample or
    /// its class needs a full check; four-eyes where the class's integrity need is
    /// "sehr hoch". Returns the Aktenzeichen.
    pub fn scan_approve(&mut self, r: &ScanApproveRequest) -> Result<String, AppError> {
        let (applicant, ticked) = validate_approval(r)?;
        let queue_item = self.open_for_qa(&r.product_id)?;
        let full_check = scan::rules::check_qa(&ticked, queue_item.full_check)
            .map_err(|e| AppError::invalid(e.to_string()))?;
        let policy = self.scan_policy()?;
        let cfg = self.casework_config()?;
        let t = cfg
            .types
            .by_code(&r.case_type_code)
            .cloned()
            .ok_or_else(|| {
                AppError::invalid(format!(
                    "Die Vorgangsart „{}“ gibt es nicht.",
                    r.case_type_code
                ))
            })?;
        let town = self.town()?;
        let key = self.seal_key()?;
        // Office mode: the case goes to the Rathaus-Server with an Aktenzeichen from
        // the block leased in advance (works offline too).
        let office = self.connection()?.is_some();
        let session = self.session_with_mut(Permission::ScanIntake)?;
        let me = session.user().username.to_string();
        let product = session.scan_product(&r.product_id)?.ok_or_else(|| {
            AppError::new(ErrorCode::NotFound, "Dieses Scanprodukt gibt es nicht.")
        })?;
        scan::rules::check_four_eyes(queue_item.four_eyes, &product.scan_user, &me)
            .map_err(|e| AppError::new(ErrorCode::Forbidden, e.to_string()))?;
        let (place, flags) = batch_place(session, &product)?;
        let (sha256, sha512) = match &product.sha512 {
            // Both hashes were taken while the intake read and encrypted the file
            // (the SHA-256 checked against the one taken before storing): the seal
            // covers what came from the scanner, and the product is not read again.
            // Every later read is checked against the SHA-256 by the vault.
            Some(sha512) => (product.sha256.clone(), sha512.clone()),
            // Taken in by an older version: hashed as it is decrypted (never held whole).
            None => Transfervermerk::hashes_from(
                session.open_blob(&store::BlobId::parse(&product.blob_id)?)?,
            )
            .map_err(|e| storage(format!("Scanprodukt nicht lesbar: {e}")))?,
        };
        let now = jiff::Zoned::now();
        let file_number = if office {
            let n = session
                .office_take_number(&crate::desk::paper_counter(now.year()))?
                .ok_or_else(|| {
                    AppError::invalid("Keine Aktenzeichen mehr vorrätig: Bitte einmal mit dem Rathaus-Server abgleichen.")
                })?;
            crate::desk::paper_file_number(now.year(), n)
        } else {
            session.allocate_file_number(&t.kuerzel, now.year())?
        };
        let office_applicant = applicant.clone();
        let facts = scan::rules::ApprovalFacts {
            now: now.timestamp().to_string(),
            split: split_facts(session, &product)?,
            qa_user: me,
            qa_note: r.note.clone(),
            ticked,
            full_check,
            sha256,
            sha512,
            ..approval_frame(&town.0, &policy, &product, place, flags)
        };
        let xml = scan::rules::transfervermerk(&facts).to_xml();
        let seal = scan::evidence::seal_hashed(&key, &facts.sha256, &xml)
            .map_err(|e| storage(e.to_string()))?;
        let checklist_json =
            serde_json::to_string(&r.checklist).map_err(|e| storage(e.to_string()))?;
        session.approve_scan(&store::ScanApproval {
            product_id: &r.product_id,
            note: r.note.clone(),
            vermerk_xml: &xml,
            seal_json: seal_json(&seal),
            case: store::NewCase {
                file_number: file_number.clone(),
                case_type: t.name.clone(),
                applicant,
                status: "eingegangen".into(),
                received_at: product.received_at.clone(),
            },
            case_type_code: Some(&t.kuerzel),
            checklist_json,
            full_check,
        })?;
        if office {
            self.office_scan_case(&file_number, &t, &office_applicant, &product.received_at)?;
        }
        Ok(file_number)
    }

    /// The next checked product for text recognition, if OCR is on and the user may
    /// see scans or cases. The recognition itself runs without the workstation (see
    /// [`crate::workers`]); [`Workstation::scan_ocr_store`] records its result.
    pub fn scan_ocr_next(&self) -> Result<Option<OcrJob>, AppError> {
        if ocr().is_err() {
            return Ok(None);
        }
        let session = self
            .session_with(Permission::ScanIntake)
            .or_else(|_| self.session_with(Permission::ReadCases))?;
        let Some(p) = session.scan_ocr_next()? else {
            return Ok(None);
        };
        let Some(format) = scan::Format::from_mime(&p.mime_type) else {
            return Ok(None);
        };
        let reader = session.open_blob(&store::BlobId::parse(&p.blob_id)?)?;
        Ok(Some(OcrJob {
            product_id: p.id,
            reader,
            format,
            pages: p.pages,
        }))
    }

    /// Record the recognised text of a product (None: recognition failed).
    pub fn scan_ocr_store(&mut self, product_id: &str, text: Option<&str>) -> Result<(), AppError> {
        let permission = if self.session_with(Permission::ScanIntake).is_ok() {
            Permission::ScanIntake
        } else {
            Permission::ReadCases
        };
        Ok(self
            .session_with_mut(permission)?
            .scan_ocr_done(product_id, text)?)
    }

    /// Recognise every waiting product now (CLI, tests); the number done.
    pub fn scan_ocr_pending(&mut self) -> Result<u32, AppError> {
        let mut n = 0;
        while let Some(job) = self.scan_ocr_next()? {
            let product_id = job.product_id.clone();
            let text = crate::workers::recognise(job);
            self.scan_ocr_store(&product_id, text.as_deref())?;
            n += 1;
        }
        Ok(n)
    }

    /// QA refused: the product must be scanned again.
    /// Split a product waiting for QA into several documents, by hand: `ab_seiten` are
    /// the first pages of the second, third, … document. The pages stay as scanned;
    /// each part is a product of its own in the queue (at the parent's place), the
    /// parent leaves the queue as "aufgeteilt". Returns the parts.
    pub fn scan_split(&mut self, id: &str, ab_seiten: &[u32]) -> Result<Vec<QueueItem>, AppError> {
        if ab_seiten.len() > 500 {
            return Err(AppError::invalid("Höchstens 500 Trennstellen je Scan."));
        }
        self.split_product(id, |bytes, _| scan::split::split(bytes, ab_seiten), None)
    }

    /// The separator sheets (barcode with the text from `scan.toml`, "PATCHT" by
    /// default, or a configured patch code, Patch T by default) of a product waiting
    /// for QA: their pages, as a proposal for the desk to confirm. A TIFF is searched
    /// page by page from the vault; a PDF through pdftoppm.
    pub fn scan_separators(&mut self, id: &str) -> Result<Vec<u32>, AppError> {
        let kinds = self
            .scan_policy()?
            .separators()
            .map_err(|e| AppError::invalid(e.to_string()))?;
        if kinds.marker.is_empty() && kinds.patches.is_empty() {
            return Err(AppError::invalid(
                "In scan.toml sind Trennblätter abgeschaltet (weder trennblatt noch trennblatt_patchcode): bitte von Hand aufteilen.",
            ));
        }
        let parent = self.open_product(id)?;
        let session = self.session_with(Permission::ScanIntake)?;
        let blob = session.open_blob(&store::BlobId::parse(&parent.blob_id)?)?;
        let found = match scan::Format::from_mime(&parent.mime_type) {
            Some(scan::Format::Tiff) => {
                scan::separator::in_tiff(std::io::BufReader::with_capacity(64 * 1024, blob), &kinds)
            }
            Some(scan::Format::Pdf) => {
                let mut bytes = Vec::new();
                let mut blob = blob;
                blob.read_to_end(&mut bytes)
                    .map_err(|e| storage(format!("Scanprodukt nicht lesbar: {e}")))?;
                scan::separator::in_pdf(&bytes, parent.pages, &kinds, "pdftoppm")
            }
            _ => Ok(Vec::new()),
        }
        .map_err(|e| AppError::invalid(e.to_string()))?;
        let session = self.session_with_mut(Permission::ScanIntake)?;
        session.audit(
            "scan.trennblaetter.gesucht",
            &parent.sha256[..16.min(parent.sha256.len())],
        )?;
        Ok(found)
    }

    /// Split a product at confirmed separator sheets (pages): the documents between
    /// them become products of their own, the sheets are left out.
    pub fn scan_split_separators(
        &mut self,
        id: &str,
        trennblaetter: &[u32],
    ) -> Result<Vec<QueueItem>, AppError> {
        if trennblaetter.is_empty() || trennblaetter.len() > 500 {
            return Err(AppError::invalid(
                "Bitte die Seiten der Trennblätter angeben (höchstens 500).",
            ));
        }
        let mut sheets = trennblaetter.to_vec();
        sheets.sort_unstable();
        sheets.dedup();
        let note = format!(
            "Trennblätter auf Seite {} entfernt",
            sheets
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.split_product(
            id,
            |bytes, pages| {
                if sheets.iter().any(|s| *s < 1 || *s > pages) {
                    return Err(scan::split::SplitError::Damaged(format!(
                        "ein Trennblatt liegt außerhalb der {pages} Seiten"
                    )));
                }
                scan::split::split_ranges(bytes, &scan::separator::documents(pages, &sheets))
            },
            Some(note),
        )
    }

    /// A product open for QA, or a clear error.
    fn open_product(&self, id: &str) -> Result<store::ScanProduct, AppError> {
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AppError::new(
                ErrorCode::NotFound,
                "Dieses Scanprodukt gibt es nicht.",
            ));
        }
        self.session_with(Permission::ScanIntake)?
            .scan_product(id)?
            .filter(|p| p.state == "eingelesen")
            .ok_or_else(|| {
                AppError::new(
                    ErrorCode::NotFound,
                    "Dieses Scanprodukt ist nicht (mehr) zur Prüfung offen.",
                )
            })
    }

    /// Split a product with `cut` (its bytes and pages → the parts) and store the parts.
    fn split_product(
        &mut self,
        id: &str,
        cut: impl FnOnce(&[u8], u32) -> Result<Vec<scan::split::Part>, scan::split::SplitError>,
        note: Option<String>,
    ) -> Result<Vec<QueueItem>, AppError> {
        let parent = self.open_product(id)?;
        let mut bytes = Vec::new();
        self.session_with(Permission::ScanIntake)?
            .open_blob(&store::BlobId::parse(&parent.blob_id)?)?
            .read_to_end(&mut bytes)
            .map_err(|e| storage(format!("Scanprodukt nicht lesbar: {e}")))?;
        let parts = cut(&bytes, parent.pages).map_err(|e| AppError::invalid(e.to_string()))?;
        let n = parts.len();
        let new: Vec<store::ScanPart<'_>> = parts
            .iter()
            .enumerate()
            .map(|(k, p)| store::ScanPart {
                name: format!(
                    "{} – Teil {} von {n} (Seite {} bis {})",
                    parent.name,
                    k + 1,
                    p.first_page,
                    p.first_page + p.pages - 1
                ),
                first_page: p.first_page,
                pages: p.pages,
                sha256: p.sha256.clone(),
                bytes: &p.bytes,
            })
            .collect();
        let ids = self.session_with_mut(Permission::ScanIntake)?.split_scan(
            &parent.id,
            &new,
            note.as_deref(),
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.queue_items(Some(&id))?);
        }
        Ok(out)
    }

    pub fn scan_reject(&mut self, id: &str, reason: &str) -> Result<(), AppError> {
        if reason.trim().is_empty() || reason.chars().count() > 500 {
            return Err(AppError::invalid(
                "Bitte den Grund der Ablehnung angeben (höchstens 500 Zeichen).",
            ));
        }
        Ok(self
            .session_with_mut(Permission::ScanIntake)?
            .reject_scan(id, reason.trim())?)
    }

    /// Re-check hash, seal and Transfervermerk of one product against the public key.
    fn verify_product(
        &self,
        session: &store::Session,
        product: &store::ScanProduct,
        public: &str,
    ) -> Result<Seal, AppError> {
        let read = |blob: &str| -> Result<Vec<u8>, AppError> {
            let mut out = Vec::new();
            session
                .open_blob(&store::BlobId::parse(blob)?)?
                .read_to_end(&mut out)
                .map_err(|e| storage(format!("Tresor nicht lesbar: {e}")))?;
            Ok(out)
        };
        // The product is hashed as it is decrypted, never held whole.
        let (sha256, _) = Transfervermerk::hashes_from(
            session.open_blob(&store::BlobId::parse(&product.blob_id)?)?,
        )
        .map_err(|e| storage(format!("Tresor nicht lesbar: {e}")))?;
        let vermerk = read(
            product
                .vermerk_blob
                .as_deref()
                .ok_or_else(|| storage("Transfervermerk fehlt."))?,
        )?;
        let seal = product
            .seal
            .as_deref()
            .and_then(seal_from)
            .ok_or_else(|| storage("Siegel fehlt oder ist unlesbar."))?;
        scan::evidence::verify_hashed(
            &sha256,
            &String::from_utf8_lossy(&vermerk),
            &seal,
            public.as_bytes(),
        )
        .map_err(|t| storage(t.to_string()))?;
        Ok(seal)
    }

    /// Re-check hash, seal and Transfervermerk of the scan behind an Aktenzeichen.
    /// Ok with a summary, or an error naming what was tampered with.
    pub fn scan_verify(&self, file_number: &str) -> Result<String, AppError> {
        let session = self.session_with(Permission::ScanIntake)?;
        let product = session.scan_by_file_number(file_number)?.ok_or_else(|| {
            AppError::new(
                ErrorCode::NotFound,
                format!("Zu einem Vorgang {file_number} gibt es kein geprüftes Scanprodukt."),
            )
        })?;
        let public = session
            .setting(SEAL_PUBLIC_SETTING)?
            .ok_or_else(|| storage("Der öffentliche Siegelschlüssel fehlt."))?;
        let seal = self
            .verify_product(session, &product, &public)
            .map_err(|e| {
                AppError::new(ErrorCode::Storage, format!("{file_number}: {}", e.message))
            })?;
        Ok(format!(
            "{file_number}: Scanprodukt ({} Seiten), Transfervermerk und Siegel ({}, Schlüssel {}) sind unversehrt.",
            product.pages, seal.algorithm, seal.key_id
        ))
    }
}

/// What the destruction gate looks at for one product of a batch.
fn gate_facts(
    b: &store::ScanBatch,
    flags: &[BatchFlag],
    class: Option<&DocumentClass>,
    p: &store::ScanProduct,
    evidence_verified: bool,
    today: jiff::civil::Date,
) -> scan::evidence::GateFacts {
    use scan::evidence::Mode;
    // An unreadable scan time counts from today: the holding period only gets longer.
    let scanned = p
        .received_at
        .parse::<jiff::Timestamp>()
        .map(|t| t.to_zoned(jiff::tz::TimeZone::system()).date())
        .unwrap_or(today);
    scan::evidence::GateFacts {
        mode: class.map_or(Mode::NichtScannen, DocumentClass::mode),
        keep_original: flags
            .iter()
            .filter(|f| f.keeps_original())
            .map(|f| f.key().to_owned())
            .collect(),
        pages_expected: if flags.contains(&BatchFlag::Unvollstaendig) {
            0
        } else {
            b.expected_pages
        },
        pages_captured: b.pages_captured,
        qa_passed: p.state == "geprueft",
        full_check_required: class.is_some_and(DocumentClass::full_check),
        full_check_done: p.qa_full,
        four_eyes_required: class.is_some_and(DocumentClass::four_eyes),
        scan_user: p.scan_user.clone(),
        qa_user: p.qa_user.clone(),
        evidence_verified,
        handed_over: p.case_id.is_some(),
        scanned,
        holding_days: class.map_or(0, |c| c.aufbewahrung_tage),
        today,
        released_by: b.released_by.clone().or(Some("(Freigabe)".into())),
    }
}

/// The facts of an approval that come from the town, the procedure, the batch and
/// the scan itself (the QA's own facts are filled in by the caller).
fn approval_frame(
    town: &::letters::TownConfig,
    policy: &ScanPolicy,
    product: &store::ScanProduct,
    place: scan::rules::BatchPlace,
    flags: Vec<BatchFlag>,
) -> scan::rules::ApprovalFacts {
    let v = &policy.verfahren;
    let org = |einheit: &str| Organisation {
        name: town.behoerde.clone(),
        ort: town.sitz.clone(),
        einheit: einheit.to_owned(),
    };
    scan::rules::ApprovalFacts {
        now: String::new(),
        desk: org("Scanstelle"),
        verfahren: Verfahren {
            bezeichnung: v.bezeichnung.clone(),
            auspraegung: v.auspraegung.clone(),
            version: v.version.clone(),
            stand: v.stand.clone(),
            pfleger: org(&v.pfleger),
        },
        place,
        flags,
        received_at: product.received_at.clone(),
        scan_user: product.scan_user.clone(),
        mime_type: product.mime_type.clone(),
        pages: product.pages,
        split: None,
        qa_user: String::new(),
        qa_note: None,
        ticked: Vec::new(),
        full_check: false,
        sha256: String::new(),
        sha512: String::new(),
    }
}

/// The applicant, the QA note and the ticked items of a decision, checked; returns
/// the applicant and the items.
fn validate_approval(r: &ScanApproveRequest) -> Result<(String, Vec<QaItem>), AppError> {
    let applicant = r.applicant.trim();
    if applicant.is_empty() || applicant.chars().count() > 200 {
        return Err(AppError::invalid(
            "Bitte die antragstellende Person angeben (höchstens 200 Zeichen).",
        ));
    }
    if r.note.as_deref().is_some_and(|v| v.chars().count() > 500) {
        return Err(AppError::invalid(
            "Der Vermerk zur Prüfung ist zu lang (höchstens 500 Zeichen).",
        ));
    }
    // Unknown checklist items first, before anything is looked up.
    let ticked = r
        .checklist
        .iter()
        .map(|k| QaItem::parse(k))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AppError::invalid(e.to_string()))?;
    Ok((applicant.to_owned(), ticked))
}

/// "Abbild m bis n von N": the product's place within its batch, and the batch's
/// flags. A product without a batch is a batch of its own.
fn batch_place(
    session: &store::Session,
    product: &store::ScanProduct,
) -> Result<(scan::rules::BatchPlace, Vec<BatchFlag>), AppError> {
    let batch = match &product.batch_id {
        Some(id) => session.scan_batch(id)?,
        None => None,
    };
    Ok(match batch {
        Some(b) => {
            let before: u32 = session
                .scan_products_of_batch(&b.id)?
                .iter()
                .take_while(|p| p.id != product.id)
                .filter(|p| counts_in_batch(&p.state))
                .map(|p| p.pages)
                .sum();
            let flags = batch_flags(&b)?;
            let place = scan::rules::BatchPlace {
                number: b.number,
                created: b.created_at,
                first_page: before + 1,
                total_pages: b.expected_pages.max(b.pages_captured),
            };
            (place, flags)
        }
        None => {
            let place = scan::rules::BatchPlace {
                number: format!("ST-{}", product.id.get(..8).unwrap_or(&product.id)),
                created: product.received_at.clone(),
                first_page: 1,
                total_pages: product.pages,
            };
            (place, Vec::new())
        }
    })
}

/// Cut out of a larger scan: the split is a process step of its own.
fn split_facts(
    session: &store::Session,
    product: &store::ScanProduct,
) -> Result<Option<scan::rules::SplitFacts>, AppError> {
    let (Some(pid), Some(first_page)) = (&product.parent_id, product.first_page) else {
        return Ok(None);
    };
    Ok(session
        .scan_product(pid)?
        .map(|parent| scan::rules::SplitFacts {
            parent_name: parent.name,
            parent_sha256: parent.sha256,
            // A parent is split only at the QA desk, which records who and when.
            at: parent.qa_at.unwrap_or_default(),
            by: parent.qa_user.unwrap_or_default(),
            first_page,
            separators: parent.qa_note.filter(|n| n.starts_with("Trennblätter")),
        }))
}
