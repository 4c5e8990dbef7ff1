//! The desktop shell: Tauri commands that each make one call into the
//! `workstation` facade. No business logic lives here.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use domain::lifecycle::Action;
use workstation::background::Background;
use workstation::casework::{
    AssignRequest, BulkAssignRequest, BulkAssignResult, CaseDetail, DocumentContent, SavedFilter,
};
use workstation::{
    AppError, AppStatus, BatchRequest, BatchView, DrillCase, ErrorCode, IntakeResult,
    LetterRequest, LetterView, LoginRequest, Metric, OfficeStatus, OutboxView, QueueItem, Report,
    ReportRequest, ScanApproveRequest, ScanSetup, SessionInfo, SyncStatus, SyncSummary, UserRow,
    WorkList, WorkListQuery, Workstation,
};

/// The workstation behind a mutex; `None` while the data directory is not set up.
/// The background scheduler shares it and takes the lock per store operation only.
#[derive(Clone)]
struct AppState {
    data_dir: PathBuf,
    workstation: Arc<Mutex<Option<Workstation>>>,
    background: Arc<OnceLock<Background>>,
    /// Text recognition and the hot-folder intake, started at setup, stopped at exit.
    workers: Arc<Mutex<Option<Workers>>>,
}

type Workers = (
    workstation::workers::OcrWorker,
    workstation::workers::IntakeWorker,
    workstation::workers::OfficeWorker,
    workstation::workers::BackupWorker,
);

impl AppState {
    /// At setup: the sync scheduler (new applications announced on the desktop),
    /// text recognition of checked scans outside the workstation lock, and the
    /// hot-folder intake while a scanning desk is logged in, on any screen.
    fn start_background(&self, handle: tauri::AppHandle) {
        match Background::start(self.workstation.clone(), move |n| announce(&handle, n)) {
            Ok(bg) => {
                // Set once, at the only setup.
                let _ = self.background.set(bg);
            }
            Err(e) => tracing::error!("{}", e.message),
        }
        let ocr = workstation::workers::OcrWorker::start(
            self.workstation.clone(),
            std::time::Duration::from_secs(3),
        );
        let intake = workstation::workers::IntakeWorker::start(
            self.workstation.clone(),
            std::time::Duration::from_secs(5),
        );
        let office = workstation::workers::OfficeWorker::start(
            self.workstation.clone(),
            std::time::Duration::from_secs(30),
        );
        // Asks every ten minutes whether the scheduled backup is due.
        let backup = workstation::workers::BackupWorker::start(
            self.workstation.clone(),
            std::time::Duration::from_secs(600),
        );
        if let Ok(mut w) = self.workers.lock() {
            *w = Some((ocr, intake, office, backup));
        }
    }

    /// At exit: stop the scheduler and the workers after their current step, so no
    /// store operation is cut off.
    fn stop_background(&self) {
        if let Some(bg) = self.background.get() {
            bg.stop();
        }
        let workers = match self.workers.lock() {
            Ok(mut w) => w.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some((ocr, intake, office, backup)) = workers {
            ocr.stop();
            intake.stop();
            office.stop();
            backup.stop();
        }
    }
}

impl AppState {
    /// Run `f` on the workstation in a blocking thread (scrypt and SQLite must not
    /// freeze the window). Opens the data directory lazily, so a directory that is
    /// provisioned after the app started is found at the next login.
    async fn with<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Workstation) -> Result<T, AppError> + Send + 'static,
    {
        let state = self.clone();
        tauri::async_runtime::spawn_blocking(move || {
            let mut guard = state.workstation.lock().map_err(|_| {
                AppError::new(
                    ErrorCode::Storage,
                    "Interner Fehler: Sperre verloren. Bitte starten Sie die Anwendung neu.",
                )
            })?;
            if guard.is_none() {
                *guard = Some(Workstation::open(&state.data_dir)?);
            }
            match guard.as_mut() {
                Some(ws) => f(ws),
                None => Err(AppError::locked()),
            }
        })
        .await
        .map_err(|_| {
            AppError::new(
                ErrorCode::Storage,
                "Interner Fehler in der Arbeitsstation. Bitte erneut versuchen.",
            )
        })?
    }
}

#[tauri::command]
async fn login(
    state: tauri::State<'_, AppState>,
    request: LoginRequest,
) -> Result<SessionInfo, AppError> {
    let password = request.password.clone();
    let info = state.with(move |ws| ws.login(request)).await?;
    // Office mode: sign in at the Rathaus-Server with the same password, in the
    // background and without holding the workstation while the network answers.
    let st = state.inner().clone();
    tauri::async_runtime::spawn(async move {
        let job = match st.with(|ws| ws.office_sign_in_job()).await {
            Ok(Some(job)) => job,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(
                    "Anmeldung am Rathaus-Server nicht vorbereitet: {}",
                    e.message
                );
                return;
            }
        };
        let done = tauri::async_runtime::spawn_blocking(move || job.run_or_kept(password)).await;
        match done {
            Ok(Ok(done)) => match st.with(move |ws| ws.office_sign_in_finish(done)).await {
                Ok(_) => {
                    // Synchronise with the server at once, not only at the next turn.
                    if let Ok(w) = st.workers.lock()
                        && let Some((_, _, office, _)) = w.as_ref()
                    {
                        office.wake();
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        "Anmeldung am Rathaus-Server nicht übernommen: {}",
                        e.message
                    )
                }
            },
            Ok(Err(e)) => tracing::warn!("Anmeldung am Rathaus-Server: {}", e.message),
            Err(e) => tracing::warn!("Anmeldung am Rathaus-Server abgebrochen: {e}"),
        }
    });
    // Many stale deadline keys (the first login after an update, other case types
    // or holidays): computed on a second connection outside the workstation lock
    // and stored in short slices; the work list says so meanwhile.
    let shared = state.workstation.clone();
    tauri::async_runtime::spawn_blocking(move || {
        match workstation::background::due_keys_shared(&shared) {
            Ok(Some(n)) => tracing::info!("Fristen von {n} Vorgängen im Hintergrund berechnet"),
            Ok(None) => {}
            Err(e) => tracing::warn!("Fristen nicht im Hintergrund berechnet: {}", e.message),
        }
    });
    // Documents from before the key ring: re-encrypted to the keys of their kind
    // in the background.
    let shared = state.workstation.clone();
    tauri::async_runtime::spawn_blocking(move || {
        match workstation::background::seal_documents_shared(&shared) {
            Ok(0) => {}
            Ok(n) => tracing::info!("{n} Dokumente umgeschlüsselt"),
            Err(e) => tracing::warn!("Dokumente nicht umgeschlüsselt: {}", e.message),
        }
    });
    if info.role == domain::Role::Leitung {
        // The dashboard's figures are read once now, in the background, so that the
        // Leitung's first opening is as fast as the later ones.
        // Read on a second connection, outside the workstation lock.
        let shared = state.workstation.clone();
        tauri::async_runtime::spawn_blocking(move || {
            if let Err(e) = workstation::background::reports_prepare_shared(&shared) {
                tracing::warn!("Kennzahlen nicht vorbereitet: {}", e.message);
            }
        });
    }
    Ok(info)
}

/// Whether this PC still needs its first run (no data directory yet).
#[tauri::command]
async fn setup_due(state: tauri::State<'_, AppState>) -> Result<bool, AppError> {
    Ok(workstation::setup_due(&state.data_dir))
}

/// The first run: set this PC up alone or as a desk of the Rathaus-Server. The
/// recovery key comes back once, to be shown and written down.
#[tauri::command]
async fn first_run(
    state: tauri::State<'_, AppState>,
    request: workstation::SetupRequest,
) -> Result<workstation::SetupResult, AppError> {
    let st = state.inner().clone();
    tauri::async_runtime::spawn_blocking(move || {
        let mut guard = st.workstation.lock().map_err(|_| {
            AppError::new(
                ErrorCode::Storage,
                "Interner Fehler: Sperre verloren. Bitte starten Sie die Anwendung neu.",
            )
        })?;
        let (ws, result) = Workstation::first_run(&st.data_dir, request)?;
        *guard = Some(ws);
        Ok(result)
    })
    .await
    .map_err(|_| {
        AppError::new(
            ErrorCode::Storage,
            "Interner Fehler bei der Einrichtung. Bitte erneut versuchen.",
        )
    })?
}

/// The first run on a new PC from a backup archive (full path) and the recovery key.
#[tauri::command]
async fn restore_first_run(
    state: tauri::State<'_, AppState>,
    archive: String,
    recovery_key: String,
) -> Result<workstation::RestoreSummary, AppError> {
    let st = state.inner().clone();
    tauri::async_runtime::spawn_blocking(move || {
        let mut guard = st.workstation.lock().map_err(|_| {
            AppError::new(
                ErrorCode::Storage,
                "Interner Fehler: Sperre verloren. Bitte starten Sie die Anwendung neu.",
            )
        })?;
        let (ws, summary) = Workstation::restore_first_run(&st.data_dir, &archive, recovery_key)?;
        *guard = Some(ws);
        Ok(summary)
    })
    .await
    .map_err(|_| {
        AppError::new(
            ErrorCode::Storage,
            "Interner Fehler bei der Wiederherstellung. Bitte erneut versuchen.",
        )
    })?
}

/// The recovery sheet as PDF into `folder` (default: the export folder) – only
/// right after the first run; returns where it lies.
#[tauri::command]
async fn setup_recovery_sheet(
    state: tauri::State<'_, AppState>,
    folder: Option<String>,
) -> Result<String, AppError> {
    let folder = folder.filter(|f| !f.trim().is_empty()).unwrap_or_else(|| {
        workstation::paths::default_export_dir()
            .display()
            .to_string()
    });
    state
        .with(move |ws| ws.save_recovery_sheet(&folder))
        .await
        .map(|p| p.display().to_string())
}

/// The recovery key is written down: drop it from memory.
#[tauri::command]
async fn setup_forget_recovery(state: tauri::State<'_, AppState>) -> Result<(), AppError> {
    state
        .with(|ws| {
            ws.forget_recovery_key();
            Ok(())
        })
        .await
}

/// Where exports and the recovery sheet go unless another folder is named.
#[tauri::command]
fn export_folder() -> String {
    workstation::paths::default_export_dir()
        .display()
        .to_string()
}

/// "Passwort vergessen": a user's password set anew with the recovery key (the
/// administration's way back in without a terminal); logs that user in.
#[tauri::command]
async fn recover(
    state: tauri::State<'_, AppState>,
    recovery_key: String,
    username: String,
    new_password: String,
) -> Result<SessionInfo, AppError> {
    state
        .with(move |ws| ws.recover(&recovery_key, &username, new_password))
        .await
}

#[tauri::command]
async fn logout(state: tauri::State<'_, AppState>) -> Result<(), AppError> {
    state
        .with(|ws| {
            ws.logout();
            Ok(())
        })
        .await
}

#[tauri::command]
async fn session(state: tauri::State<'_, AppState>) -> Result<Option<SessionInfo>, AppError> {
    state.with(|ws| Ok(ws.session())).await
}

#[tauri::command]
async fn work_list(
    state: tauri::State<'_, AppState>,
    query: WorkListQuery,
) -> Result<WorkList, AppError> {
    state.with(move |ws| ws.work_list(query)).await
}

#[tauri::command]
async fn status(state: tauri::State<'_, AppState>) -> Result<AppStatus, AppError> {
    state.with(|ws| Ok(ws.status())).await
}

/// The letter view of a case: possible letters, channels, fees and the draft.
#[tauri::command]
async fn letter_view(
    state: tauri::State<'_, AppState>,
    request: LetterRequest,
) -> Result<LetterView, AppError> {
    state.with(move |ws| ws.letter_view(&request)).await
}

/// The letter as PDF (base64), rendered in memory for the preview.
#[tauri::command]
async fn letter_preview(
    state: tauri::State<'_, AppState>,
    request: LetterRequest,
) -> Result<String, AppError> {
    use base64::Engine;
    state
        .with(move |ws| ws.letter_preview(&request))
        .await
        .map(|pdf| base64::engine::general_purpose::STANDARD.encode(pdf))
}

/// Send a letter; the background sync is woken to deliver it.
#[tauri::command]
async fn send_letter(
    state: tauri::State<'_, AppState>,
    request: LetterRequest,
) -> Result<CaseDetail, AppError> {
    let detail = state.with(move |ws| ws.send_letter(&request)).await?;
    if let Some(bg) = state.background.get() {
        bg.wake();
    }
    Ok(detail)
}

/// The Leitung's figures for a period.
#[tauri::command]
async fn report(
    state: tauri::State<'_, AppState>,
    request: ReportRequest,
) -> Result<Report, AppError> {
    state.with(move |ws| ws.report(&request)).await
}

/// The open cases whose statutory deadline the legal review changed (Leitung).
#[tauri::command]
async fn deadline_changes(
    state: tauri::State<'_, AppState>,
) -> Result<Vec<workstation::casework::DeadlineChange>, AppError> {
    state.with(move |ws| ws.deadline_changes()).await
}

/// The cases behind one number of the report.
#[tauri::command]
async fn report_cases(
    state: tauri::State<'_, AppState>,
    request: ReportRequest,
    group: String,
    metric: Metric,
) -> Result<Vec<DrillCase>, AppError> {
    state
        .with(move |ws| ws.report_cases(&request, &group, metric))
        .await
}

/// Make an export (dashboard CSV or PDF, release list, separator sheets) and save it in
/// the export folder; returns the file's path for the page to show.
#[tauri::command]
async fn save_export(
    state: tauri::State<'_, AppState>,
    export: workstation::exports::Export,
) -> Result<String, AppError> {
    let dir = workstation::paths::default_export_dir();
    state
        .with(move |ws| ws.save_export(&export, &dir))
        .await
        .map(|p| p.display().to_string())
}

#[tauri::command]
async fn case_outbox(
    state: tauri::State<'_, AppState>,
    case_id: String,
) -> Result<Vec<OutboxView>, AppError> {
    state.with(move |ws| ws.case_outbox(&case_id)).await
}

#[tauri::command]
async fn document(
    state: tauri::State<'_, AppState>,
    case_id: String,
    document_id: String,
) -> Result<DocumentContent, AppError> {
    state
        .with(move |ws| ws.document(&case_id, &document_id))
        .await
}

#[tauri::command]
async fn assign_cases(
    state: tauri::State<'_, AppState>,
    request: BulkAssignRequest,
) -> Result<BulkAssignResult, AppError> {
    state.with(move |ws| ws.assign_cases(request)).await
}

#[tauri::command]
async fn saved_filters(state: tauri::State<'_, AppState>) -> Result<Vec<SavedFilter>, AppError> {
    state.with(|ws| ws.saved_filters()).await
}

#[tauri::command]
async fn save_filter(
    state: tauri::State<'_, AppState>,
    filter: SavedFilter,
) -> Result<Vec<SavedFilter>, AppError> {
    state.with(move |ws| ws.save_filter(filter)).await
}

#[tauri::command]
async fn delete_filter(
    state: tauri::State<'_, AppState>,
    name: String,
) -> Result<Vec<SavedFilter>, AppError> {
    state.with(move |ws| ws.delete_filter(&name)).await
}

#[tauri::command]
async fn case_workers(state: tauri::State<'_, AppState>) -> Result<Vec<UserRow>, AppError> {
    state.with(|ws| ws.case_workers()).await
}

#[tauri::command]
async fn lock_screen(state: tauri::State<'_, AppState>) -> Result<(), AppError> {
    state.with(|ws| ws.lock_screen()).await
}

#[tauri::command]
async fn unlock_screen(
    state: tauri::State<'_, AppState>,
    password: String,
) -> Result<SessionInfo, AppError> {
    state.with(move |ws| ws.unlock_screen(password)).await
}

#[tauri::command]
async fn case_detail(
    state: tauri::State<'_, AppState>,
    id: String,
) -> Result<CaseDetail, AppError> {
    state.with(move |ws| ws.case_detail(&id)).await
}

/// The letter of a refused e-mail went by post: the clerk's task is done.
#[tauri::command]
async fn mail_sent_by_post(
    state: tauri::State<'_, AppState>,
    id: String,
) -> Result<CaseDetail, AppError> {
    state
        .with(move |ws| ws.mail_refused_sent_by_post(&id))
        .await
}

#[tauri::command]
async fn case_action(
    state: tauri::State<'_, AppState>,
    id: String,
    action: Action,
) -> Result<CaseDetail, AppError> {
    state.with(move |ws| ws.case_action(&id, action)).await
}

#[tauri::command]
async fn set_check(
    state: tauri::State<'_, AppState>,
    id: String,
    item: String,
    checked: bool,
) -> Result<(), AppError> {
    state
        .with(move |ws| ws.set_check(&id, &item, checked))
        .await
}

#[tauri::command]
async fn add_note(
    state: tauri::State<'_, AppState>,
    id: String,
    text: String,
) -> Result<(), AppError> {
    state.with(move |ws| ws.add_note(&id, &text)).await
}

#[tauri::command]
async fn assign_case(
    state: tauri::State<'_, AppState>,
    request: AssignRequest,
) -> Result<(), AppError> {
    state.with(move |ws| ws.assign_case(request)).await
}

#[tauri::command]
async fn extend_deadline(
    state: tauri::State<'_, AppState>,
    id: String,
    reason: String,
) -> Result<(), AppError> {
    state.with(move |ws| ws.extend_deadline(&id, &reason)).await
}

fn no_scheduler() -> AppError {
    AppError::new(
        ErrorCode::Storage,
        "Die Hintergrund-Synchronisation läuft nicht. Bitte starten Sie die Anwendung neu.",
    )
}

/// "Jetzt synchronisieren": wakes the background scheduler and waits for its run.
/// The workstation stays usable meanwhile.
#[tauri::command]
async fn sync_now(state: tauri::State<'_, AppState>) -> Result<SyncSummary, AppError> {
    // Refuse at once, with the reason, what cannot run (no portal, no right).
    state.with(|ws| ws.prepare_sync().map(|_| ())).await?;
    let bg = state.background.get().ok_or_else(no_scheduler)?;
    bg.sync_now().await.ok_or_else(no_scheduler)
}

#[tauri::command]
async fn sync_status(state: tauri::State<'_, AppState>) -> Result<SyncStatus, AppError> {
    let status = state.with(|ws| ws.sync_status()).await?;
    Ok(match state.background.get() {
        Some(bg) => status.with_background(&bg.state()),
        None => status,
    })
}

/// The Rathaus-Server connection for the status bar. The stored connection is read
/// under the workstation's lock, the server is asked without it.
#[tauri::command]
async fn office_status(state: tauri::State<'_, AppState>) -> Result<OfficeStatus, AppError> {
    let probe = state.with(|ws| ws.office_probe()).await?;
    let status = tauri::async_runtime::spawn_blocking(move || probe.check())
        .await
        .map_err(|e| {
            AppError::new(
                ErrorCode::Storage,
                format!("Statusabfrage abgebrochen: {e}"),
            )
        })??;
    if status.state == workstation::OfficeState::AnmeldungAbgelaufen {
        // Ask without the ended session from now on (no refusal per status call).
        state
            .with(|ws| {
                ws.office_session_ended();
                Ok(())
            })
            .await?;
    }
    Ok(status)
}

/// Sign in at the Rathaus-Server again (its session ended, or the login came while
/// it was away) with the logged-in user's password. The network part runs without
/// holding the workstation; waiting steps are sent right after.
#[tauri::command]
async fn office_sign_in(
    state: tauri::State<'_, AppState>,
    password: String,
) -> Result<workstation::OfficeSignIn, AppError> {
    if password.is_empty() || password.len() > 1024 {
        return Err(AppError::new(
            ErrorCode::InvalidInput,
            "Bitte das Passwort eingeben.",
        ));
    }
    let job = state
        .with(|ws| ws.office_sign_in_job())
        .await?
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::InvalidInput,
                "Dieser Arbeitsplatz ist an keinen Rathaus-Server angeschlossen.",
            )
        })?;
    let done = tauri::async_runtime::spawn_blocking(move || job.run(password))
        .await
        .map_err(|e| {
            AppError::new(
                ErrorCode::Storage,
                format!("Anmeldung am Rathaus-Server abgebrochen: {e}"),
            )
        })??;
    let report = state.with(move |ws| ws.office_sign_in_finish(done)).await?;
    if let Ok(w) = state.workers.lock()
        && let Some((_, _, office, _)) = w.as_ref()
    {
        office.wake();
    }
    Ok(report)
}

/// "Jetzt abgleichen" (office mode): the desk's synchronisation with the
/// Rathaus-Server runs now instead of at its next turn (the status bar shows what
/// came of it).
#[tauri::command]
async fn office_sync_now(state: tauri::State<'_, AppState>) -> Result<(), AppError> {
    let w = state.workers.lock().map_err(|_| no_scheduler())?;
    match w.as_ref() {
        Some((_, _, office, _)) => {
            office.wake();
            Ok(())
        }
        None => Err(no_scheduler()),
    }
}

/// The steps the Rathaus-Server refused, with the reason and the case as it is now.
#[tauri::command]
async fn office_conflicts(
    state: tauri::State<'_, AppState>,
) -> Result<Vec<workstation::OfficeConflict>, AppError> {
    state.with(|ws| ws.office_conflicts()).await
}

/// The clerk takes the server's state: the conflict is done.
#[tauri::command]
async fn office_conflict_done(state: tauri::State<'_, AppState>, seq: i64) -> Result<(), AppError> {
    state.with(move |ws| ws.office_conflict_done(seq)).await
}

/// The refused step again, on the case as it is now (queued; sent in the background).
#[tauri::command]
async fn office_conflict_redo(state: tauri::State<'_, AppState>, seq: i64) -> Result<(), AppError> {
    state
        .with(move |ws| ws.office_conflict_redo(seq).map(|_| ()))
        .await
}

/// A desktop notification about new applications (no personal data in it).
fn announce(app: &tauri::AppHandle, count: u32) {
    use tauri_plugin_notification::NotificationExt;
    let body = if count == 1 {
        "Ein neuer Antrag ist eingegangen.".to_owned()
    } else {
        format!("{count} neue Anträge sind eingegangen.")
    };
    if let Err(e) = app
        .notification()
        .builder()
        .title("Amtsstube")
        .body(body)
        .show()
    {
        tracing::warn!("Benachrichtigung nicht möglich: {e}");
    }
}

// ---- scanning desk --------------------------------------------------------------

#[tauri::command]
async fn scan_setup(state: tauri::State<'_, AppState>) -> Result<ScanSetup, AppError> {
    state.with(|ws| ws.scan_setup()).await
}

#[tauri::command]
async fn scan_batches(state: tauri::State<'_, AppState>) -> Result<Vec<BatchView>, AppError> {
    state.with(|ws| ws.scan_batches()).await
}

#[tauri::command]
async fn scan_batch_create(
    state: tauri::State<'_, AppState>,
    request: BatchRequest,
) -> Result<BatchView, AppError> {
    state.with(move |ws| ws.scan_batch_create(&request)).await
}

#[tauri::command]
async fn scan_batch_close(state: tauri::State<'_, AppState>, id: String) -> Result<(), AppError> {
    state.with(move |ws| ws.scan_batch_close(&id)).await
}

#[tauri::command]
async fn scan_intake(state: tauri::State<'_, AppState>) -> Result<Vec<IntakeResult>, AppError> {
    state.with(|ws| ws.scan_intake_configured()).await
}

#[tauri::command]
async fn scan_intake_log(state: tauri::State<'_, AppState>) -> Result<Vec<IntakeResult>, AppError> {
    state.with(|ws| ws.scan_intake_log()).await
}

#[tauri::command]
async fn scan_queue(state: tauri::State<'_, AppState>) -> Result<Vec<QueueItem>, AppError> {
    state.with(|ws| ws.scan_queue()).await
}

#[tauri::command]
async fn scan_product(
    state: tauri::State<'_, AppState>,
    id: String,
) -> Result<DocumentContent, AppError> {
    state.with(move |ws| ws.scan_product_content(&id)).await
}

#[tauri::command]
async fn scan_approve(
    state: tauri::State<'_, AppState>,
    request: ScanApproveRequest,
) -> Result<String, AppError> {
    state.with(move |ws| ws.scan_approve(&request)).await
}

#[tauri::command]
async fn scan_separators(
    state: tauri::State<'_, AppState>,
    id: String,
) -> Result<Vec<u32>, AppError> {
    state.with(move |ws| ws.scan_separators(&id)).await
}

#[tauri::command]
async fn scan_split_separators(
    state: tauri::State<'_, AppState>,
    id: String,
    pages: Vec<u32>,
) -> Result<Vec<QueueItem>, AppError> {
    state
        .with(move |ws| ws.scan_split_separators(&id, &pages))
        .await
}

#[tauri::command]
async fn scan_thumbnail(
    state: tauri::State<'_, AppState>,
    id: String,
    page: u32,
) -> Result<DocumentContent, AppError> {
    state.with(move |ws| ws.scan_thumbnail(&id, page)).await
}

#[tauri::command]
async fn scan_page(
    state: tauri::State<'_, AppState>,
    id: String,
    page: u32,
) -> Result<DocumentContent, AppError> {
    state.with(move |ws| ws.scan_page(&id, page)).await
}

#[tauri::command]
async fn scan_split(
    state: tauri::State<'_, AppState>,
    id: String,
    starts: Vec<u32>,
) -> Result<Vec<QueueItem>, AppError> {
    state.with(move |ws| ws.scan_split(&id, &starts)).await
}

#[tauri::command]
async fn scan_reject(
    state: tauri::State<'_, AppState>,
    id: String,
    reason: String,
) -> Result<(), AppError> {
    state.with(move |ws| ws.scan_reject(&id, &reason)).await
}

#[tauri::command]
async fn scan_release(state: tauri::State<'_, AppState>, id: String) -> Result<(), AppError> {
    state.with(move |ws| ws.scan_release(&id)).await
}

#[tauri::command]
async fn scan_destroyed(
    state: tauri::State<'_, AppState>,
    id: String,
    how: String,
) -> Result<(), AppError> {
    state.with(move |ws| ws.scan_destroyed(&id, &how)).await
}

#[tauri::command]
async fn admin_users(
    state: tauri::State<'_, AppState>,
) -> Result<Vec<workstation::AdminUser>, AppError> {
    state.with(|ws| ws.admin_users()).await
}

#[tauri::command]
async fn admin_add_user(
    state: tauri::State<'_, AppState>,
    request: workstation::NewUserRequest,
) -> Result<UserRow, AppError> {
    state.with(move |ws| ws.admin_add_user(request)).await
}

#[tauri::command]
async fn admin_set_role(
    state: tauri::State<'_, AppState>,
    username: String,
    role: domain::Role,
) -> Result<(), AppError> {
    state
        .with(move |ws| ws.set_user_role(&username, role))
        .await
}

#[tauri::command]
async fn admin_unlock_user(
    state: tauri::State<'_, AppState>,
    username: String,
) -> Result<(), AppError> {
    state.with(move |ws| ws.unlock_user(&username)).await
}

#[tauri::command]
async fn admin_remove_user(
    state: tauri::State<'_, AppState>,
    username: String,
) -> Result<(), AppError> {
    state.with(move |ws| ws.remove_user(&username)).await
}

/// The administration sets a new password for someone (handed over in person).
#[tauri::command]
async fn admin_set_password(
    state: tauri::State<'_, AppState>,
    username: String,
    password: String,
) -> Result<(), AppError> {
    state
        .with(move |ws| ws.admin_set_password(&username, password))
        .await
}

#[tauri::command]
async fn admin_setup_steps(
    state: tauri::State<'_, AppState>,
) -> Result<workstation::SetupSteps, AppError> {
    state.with(|ws| ws.admin_setup_steps()).await
}

#[tauri::command]
async fn admin_settings(
    state: tauri::State<'_, AppState>,
) -> Result<workstation::AdminSettings, AppError> {
    state.with(|ws| ws.admin_settings()).await
}

#[tauri::command]
async fn admin_set_lock_after(
    state: tauri::State<'_, AppState>,
    seconds: u32,
) -> Result<(), AppError> {
    state.with(move |ws| ws.set_lock_after(seconds)).await
}

#[tauri::command]
async fn admin_set_poll_interval(
    state: tauri::State<'_, AppState>,
    seconds: u64,
) -> Result<(), AppError> {
    state.with(move |ws| ws.set_poll_interval(seconds)).await
}

#[tauri::command]
async fn admin_set_hkr_folder(
    state: tauri::State<'_, AppState>,
    folder: String,
) -> Result<(), AppError> {
    state.with(move |ws| ws.set_hkr_folder(folder.trim())).await
}

#[tauri::command]
async fn admin_set_scan_folder(
    state: tauri::State<'_, AppState>,
    folder: String,
) -> Result<(), AppError> {
    state
        .with(move |ws| ws.scan_set_folder(std::path::Path::new(folder.trim())))
        .await
}

#[tauri::command]
async fn admin_set_person_reports(
    state: tauri::State<'_, AppState>,
    on: bool,
) -> Result<(), AppError> {
    state.with(move |ws| ws.set_person_reports(on)).await
}

#[tauri::command]
async fn admin_failed_outbox(
    state: tauri::State<'_, AppState>,
) -> Result<Vec<workstation::OutboxRow>, AppError> {
    state.with(|ws| ws.admin_failed_outbox()).await
}

#[tauri::command]
async fn admin_retry_outbox(state: tauri::State<'_, AppState>, id: i64) -> Result<(), AppError> {
    state.with(move |ws| ws.retry_outbox_item(id)).await
}

#[tauri::command]
async fn admin_quarantine(
    state: tauri::State<'_, AppState>,
) -> Result<Vec<workstation::QuarantineRow>, AppError> {
    state.with(|ws| ws.admin_quarantine()).await
}

#[tauri::command]
async fn admin_set_timestamp_service(
    state: tauri::State<'_, AppState>,
    url: String,
    cert_pem: String,
) -> Result<(), AppError> {
    if url.len() > 2_000 || cert_pem.len() > 64 * 1024 {
        return Err(AppError::invalid("Adresse oder Zertifikat ist zu lang."));
    }
    state
        .with(move |ws| ws.set_timestamp_service(&url, &cert_pem))
        .await
}

/// The chain's head time-stamped now; the exchange runs without the workstation lock.
#[tauri::command]
async fn admin_stamp_audit(state: tauri::State<'_, AppState>) -> Result<String, AppError> {
    let job = state
        .with(|ws| ws.prepare_audit_stamp())
        .await?
        .ok_or_else(|| AppError::invalid("Es ist kein Zeitstempeldienst eingerichtet."))?;
    let (job, response) = tauri::async_runtime::spawn_blocking(move || {
        let response = job.fetch();
        (job, response)
    })
    .await
    .map_err(|e| AppError::invalid(format!("Zeitstempel nicht abgeholt: {e}")))?;
    let stamp = state.with(move |ws| ws.finish_stamp(job, response)).await?;
    Ok(format!(
        "Zeitstempel erhalten: Eintrag {} bestätigt am {}.",
        stamp.seq, stamp.gen_time
    ))
}

#[tauri::command]
async fn admin_audit_check(
    state: tauri::State<'_, AppState>,
) -> Result<workstation::AuditCheck, AppError> {
    state.with(|ws| ws.admin_audit_check()).await
}

/// Store the FIT-Connect connection (the JSON of the Land's onboarding).
#[tauri::command]
async fn admin_configure_portal(
    state: tauri::State<'_, AppState>,
    json: String,
) -> Result<(), AppError> {
    state.with(move |ws| ws.configure_portal(&json)).await
}

/// Attach this standalone PC to the Rathaus-Server later (administration; at the
/// first run the set-up does it). The enrolment asks the server, so it runs without
/// holding up other windows for long: it is one request.
#[tauri::command]
async fn admin_office_connect(
    state: tauri::State<'_, AppState>,
    request: workstation::office::OfficeConnectRequest,
) -> Result<workstation::OfficeStatus, AppError> {
    state.with(move |ws| ws.office_connect(request)).await
}

/// The town's mail server for answers by e-mail (no password), if set up.
#[tauri::command]
async fn admin_mail_settings(
    state: tauri::State<'_, AppState>,
) -> Result<Option<workstation::MailSettingsView>, AppError> {
    state.with(|ws| ws.mail_settings()).await
}

#[tauri::command]
async fn admin_set_mail_settings(
    state: tauri::State<'_, AppState>,
    settings: workstation::MailSettings,
) -> Result<workstation::MailSettingsView, AppError> {
    state.with(move |ws| ws.set_mail_settings(&settings)).await
}

/// "Verbindung testen" for the mail server: the settings under the lock, the
/// server asked without it.
#[tauri::command]
async fn admin_mail_test(state: tauri::State<'_, AppState>) -> Result<String, AppError> {
    let check = state.with(|ws| ws.mail_check()).await?;
    tauri::async_runtime::spawn_blocking(move || check.run())
        .await
        .map_err(|_| {
            AppError::new(
                ErrorCode::Storage,
                "Interner Fehler beim Verbindungstest. Bitte erneut versuchen.",
            )
        })?
}

#[tauri::command]
async fn admin_remove_mail_settings(state: tauri::State<'_, AppState>) -> Result<(), AppError> {
    state.with(|ws| ws.remove_mail_settings()).await
}

/// The mailbox the mail server's late bounces arrive in (no password), if set up.
#[tauri::command]
async fn admin_bounce_settings(
    state: tauri::State<'_, AppState>,
) -> Result<Option<workstation::BounceSettingsView>, AppError> {
    state.with(|ws| ws.mail_bounce_settings()).await
}

#[tauri::command]
async fn admin_set_bounce_settings(
    state: tauri::State<'_, AppState>,
    settings: workstation::BounceSettings,
) -> Result<workstation::BounceSettingsView, AppError> {
    state
        .with(move |ws| ws.set_mail_bounce_settings(&settings))
        .await
}

/// "Verbindung testen" for the bounce mailbox, the server asked without the lock.
#[tauri::command]
async fn admin_bounce_test(state: tauri::State<'_, AppState>) -> Result<String, AppError> {
    let check = state.with(|ws| ws.mail_bounce_check()).await?;
    tauri::async_runtime::spawn_blocking(move || check.run())
        .await
        .map_err(|_| {
            AppError::new(
                ErrorCode::Storage,
                "Interner Fehler beim Verbindungstest. Bitte erneut versuchen.",
            )
        })?
}

#[tauri::command]
async fn admin_remove_bounce_settings(state: tauri::State<'_, AppState>) -> Result<(), AppError> {
    state.with(|ws| ws.remove_mail_bounce_settings()).await
}

/// The BundID bridge and the town's BPKI certificate (no key), if set up.
#[tauri::command]
async fn admin_bundid_settings(
    state: tauri::State<'_, AppState>,
) -> Result<Option<workstation::BundIdSettingsView>, AppError> {
    state.with(|ws| ws.bundid_settings()).await
}

#[tauri::command]
async fn admin_set_bundid_settings(
    state: tauri::State<'_, AppState>,
    settings: workstation::BundIdSettings,
) -> Result<workstation::BundIdSettingsView, AppError> {
    state
        .with(move |ws| ws.set_bundid_settings(&settings))
        .await
}

#[tauri::command]
async fn admin_remove_bundid_settings(state: tauri::State<'_, AppState>) -> Result<(), AppError> {
    state.with(|ws| ws.remove_bundid_settings()).await
}

/// The town's own destination keys waiting for their certificates, if any.
#[tauri::command]
async fn admin_key_request(
    state: tauri::State<'_, AppState>,
) -> Result<Option<workstation::KeyRequestState>, AppError> {
    state.with(|ws| ws.portal_key_request()).await
}

/// Make the destination's two key pairs and their certificate signing requests
/// (saved in the export folder). The keys are made without the workstation lock.
#[tauri::command]
async fn admin_make_keys(
    state: tauri::State<'_, AppState>,
) -> Result<workstation::KeyRequestState, AppError> {
    let subject = state.with(|ws| ws.portal_key_subject()).await?;
    let keys =
        tauri::async_runtime::spawn_blocking(move || workstation::make_portal_keys(&subject))
            .await
            .map_err(|_| {
                AppError::new(
                    ErrorCode::Storage,
                    "Interner Fehler beim Erzeugen der Schlüssel. Bitte erneut versuchen.",
                )
            })??;
    let dir = workstation::paths::default_export_dir();
    state.with(move |ws| ws.portal_store_keys(keys, &dir)).await
}

/// The certificate chains from the Land's PKI (PEM text of the chosen files).
#[tauri::command]
async fn admin_certify_keys(
    state: tauri::State<'_, AppState>,
    encryption: String,
    signature: String,
) -> Result<workstation::KeyRequestState, AppError> {
    let dir = workstation::paths::default_export_dir();
    state
        .with(move |ws| ws.portal_certify_keys(&encryption, &signature, &dir))
        .await
}

/// "Verbindung testen" for a connection entered by hand with the keys made here.
#[tauri::command]
async fn admin_portal_test_fields(
    state: tauri::State<'_, AppState>,
    fields: workstation::PortalFields,
) -> Result<workstation::ConnectionTest, AppError> {
    let check = state
        .with(move |ws| ws.portal_check_fields(&fields))
        .await?;
    tauri::async_runtime::spawn_blocking(move || check.run())
        .await
        .map_err(|_| {
            AppError::new(
                ErrorCode::Storage,
                "Interner Fehler beim Verbindungstest. Bitte erneut versuchen.",
            )
        })
}

#[tauri::command]
async fn admin_configure_portal_fields(
    state: tauri::State<'_, AppState>,
    fields: workstation::PortalFields,
) -> Result<(), AppError> {
    state
        .with(move |ws| ws.configure_portal_fields(&fields))
        .await
}

/// "Verbindung testen": the settings are taken under the lock, the portal is asked
/// without it.
#[tauri::command]
async fn admin_portal_test(
    state: tauri::State<'_, AppState>,
    json: Option<String>,
) -> Result<workstation::ConnectionTest, AppError> {
    let check = state
        .with(move |ws| ws.portal_check(json.as_deref()))
        .await?;
    tauri::async_runtime::spawn_blocking(move || check.run())
        .await
        .map_err(|_| {
            AppError::new(
                ErrorCode::Storage,
                "Interner Fehler beim Verbindungstest. Bitte erneut versuchen.",
            )
        })
}

#[tauri::command]
async fn admin_town(
    state: tauri::State<'_, AppState>,
) -> Result<workstation::config::TownDetails, AppError> {
    state.with(|ws| ws.town_details()).await
}

#[tauri::command]
async fn admin_set_town(
    state: tauri::State<'_, AppState>,
    details: workstation::config::TownDetails,
) -> Result<(), AppError> {
    state.with(move |ws| ws.set_town_details(details)).await
}

#[tauri::command]
async fn backup_status(
    state: tauri::State<'_, AppState>,
) -> Result<workstation::BackupStatus, AppError> {
    state.with(|ws| ws.backup_status()).await
}

#[tauri::command]
async fn set_backup_settings(
    state: tauri::State<'_, AppState>,
    settings: workstation::BackupSettings,
) -> Result<(), AppError> {
    state.with(move |ws| ws.set_backup_settings(settings)).await
}

#[tauri::command]
async fn setup_backup_key(
    state: tauri::State<'_, AppState>,
    recovery_key: String,
) -> Result<(), AppError> {
    state
        .with(move |ws| ws.setup_backup_key(recovery_key.into()))
        .await
}

/// "Jetzt sichern": the workstation is held only to take and to record the
/// backup; the archive is written and read back beside the window's work.
#[tauri::command]
async fn backup_now(
    state: tauri::State<'_, AppState>,
) -> Result<workstation::BackupDone, AppError> {
    let shared = state.workstation.clone();
    tauri::async_runtime::spawn_blocking(move || {
        workstation::backup::backup_shared(&shared, true)?.ok_or_else(AppError::locked)
    })
    .await
    .map_err(|_| {
        AppError::new(
            ErrorCode::Storage,
            "Interner Fehler bei der Datensicherung. Bitte erneut versuchen.",
        )
    })?
}

/// The app: notifications, background work at setup, the state, the commands.
fn builder(state: AppState) -> tauri::Builder<tauri::Wry> {
    let for_setup = state.clone();
    tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .setup(move |app| {
            for_setup.start_background(app.handle().clone());
            Ok(())
        })
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            login,
            logout,
            session,
            work_list,
            status,
            sync_now,
            sync_status,
            office_status,
            office_conflicts,
            office_conflict_done,
            office_conflict_redo,
            office_sign_in,
            office_sync_now,
            setup_due,
            first_run,
            setup_recovery_sheet,
            restore_first_run,
            recover,
            setup_forget_recovery,
            export_folder,
            case_detail,
            case_action,
            mail_sent_by_post,
            set_check,
            add_note,
            assign_case,
            extend_deadline,
            lock_screen,
            unlock_screen,
            case_workers,
            document,
            assign_cases,
            saved_filters,
            save_filter,
            delete_filter,
            letter_view,
            letter_preview,
            send_letter,
            case_outbox,
            report,
            report_cases,
            deadline_changes,
            scan_setup,
            scan_batches,
            scan_batch_create,
            scan_batch_close,
            scan_intake,
            scan_intake_log,
            scan_queue,
            scan_product,
            scan_approve,
            scan_reject,
            scan_split,
            scan_page,
            scan_thumbnail,
            scan_separators,
            scan_split_separators,
            scan_release,
            scan_destroyed,
            save_export,
            admin_users,
            admin_add_user,
            admin_set_role,
            admin_unlock_user,
            admin_remove_user,
            admin_set_password,
            admin_settings,
            admin_setup_steps,
            admin_set_lock_after,
            admin_set_poll_interval,
            admin_set_hkr_folder,
            admin_set_scan_folder,
            admin_set_person_reports,
            admin_failed_outbox,
            admin_retry_outbox,
            admin_quarantine,
            admin_audit_check,
            admin_set_timestamp_service,
            admin_stamp_audit,
            admin_configure_portal,
            admin_portal_test,
            admin_key_request,
            admin_office_connect,
            admin_mail_settings,
            admin_set_mail_settings,
            admin_mail_test,
            admin_remove_mail_settings,
            admin_bounce_settings,
            admin_set_bounce_settings,
            admin_bounce_test,
            admin_remove_bounce_settings,
            admin_bundid_settings,
            admin_set_bundid_settings,
            admin_remove_bundid_settings,
            admin_make_keys,
            admin_certify_keys,
            admin_portal_test_fields,
            admin_configure_portal_fields,
            admin_town,
            admin_set_town,
            backup_status,
            set_backup_settings,
            setup_backup_key,
            backup_now
        ])
}

/// Start the desktop app.
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("AMTSSTUBE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let state = AppState {
        data_dir: workstation::default_data_dir(),
        workstation: Arc::new(Mutex::new(None)),
        background: Arc::new(OnceLock::new()),
        workers: Arc::new(Mutex::new(None)),
    };
    tracing::info!("Datenverzeichnis: {}", state.data_dir.display());
    // Windows shows the window through the WebView2 runtime; without it the window
    // cannot be made, and the clerk must be told why and whom to ask.
    #[cfg(windows)]
    if let Err(e) = tauri::webview_version() {
        tracing::error!("WebView2 nicht gefunden: {e}");
        fatal(WEBVIEW2_MISSING);
    }
    let for_exit = state.clone();
    let result = builder(state).build(tauri::generate_context!());
    match result {
        Ok(app) => app.run(move |_, event| {
            if let tauri::RunEvent::Exit = event {
                for_exit.stop_background();
            }
        }),
        Err(e) => fatal(&format!("Amtsstube konnte nicht starten: {e}")),
    }
}

/// What a Windows PC without the WebView2 runtime shows instead of the window.
#[cfg(windows)]
const WEBVIEW2_MISSING: &str = "Amtsstube kann nicht starten: Auf diesem PC fehlt die \
Laufzeitumgebung „Microsoft Edge WebView2“, in der Amtsstube ihr Fenster zeigt.\n\n\
Bitte wenden Sie sich an Ihre IT-Betreuung: Sie installiert die „WebView2 Runtime“ \
von Microsoft (siehe LIESMICH.txt im Programmordner). Ihre Daten sind davon nicht \
betroffen.";

/// Report a start that cannot go on and end the program: on standard error, and on
/// Windows in a message box as well (a release build there has no console).
fn fatal(message: &str) -> ! {
    eprintln!("{message}");
    #[cfg(windows)]
    {
        rfd::MessageDialog::new()
            .set_level(rfd::MessageLevel::Error)
            .set_title("Amtsstube")
            .set_description(message)
            .set_buttons(rfd::MessageButtons::Ok)
            .show();
    }
    std::process::exit(1);
}
