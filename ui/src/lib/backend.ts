// The one interface through which the UI reaches the workstation. The app uses
// `tauriBackend`; unit tests run it under `mockIPC`, browser tests inject a fake
// `__TAURI_INTERNALS__`. Types come from Rust (ts-rs), never by hand.
import { invoke } from "@tauri-apps/api/core";
import type { AppError } from "./bindings/AppError";
import type { AppStatus } from "./bindings/AppStatus";
import type { LoginRequest } from "./bindings/LoginRequest";
import type { SessionInfo } from "./bindings/SessionInfo";
import type { SyncStatus } from "./bindings/SyncStatus";
import type { OfficeStatus } from "./bindings/OfficeStatus";
import type { OfficeSignIn } from "./bindings/OfficeSignIn";
import type { SetupRequest } from "./bindings/SetupRequest";
import type { SetupResult } from "./bindings/SetupResult";
import type { OfficeConflict } from "./bindings/OfficeConflict";
import type { SyncSummary } from "./bindings/SyncSummary";
import type { WorkList } from "./bindings/WorkList";
import type { WorkListQuery } from "./bindings/WorkListQuery";
import type { Action } from "./bindings/Action";
import type { AssignRequest } from "./bindings/AssignRequest";
import type { CaseDetail } from "./bindings/CaseDetail";
import type { UserRow } from "./bindings/UserRow";
import type { DocumentContent } from "./bindings/DocumentContent";
import type { BulkAssignRequest } from "./bindings/BulkAssignRequest";
import type { BulkAssignResult } from "./bindings/BulkAssignResult";
import type { SavedFilter } from "./bindings/SavedFilter";
import type { LetterRequest } from "./bindings/LetterRequest";
import type { LetterView } from "./bindings/LetterView";
import type { OutboxView } from "./bindings/OutboxView";
import type { Report } from "./bindings/Report";
import type { ReportRequest } from "./bindings/ReportRequest";
import type { DeadlineChange } from "./bindings/DeadlineChange";
import type { DrillCase } from "./bindings/DrillCase";
import type { Metric } from "./bindings/Metric";
import type { Export } from "./bindings/Export";
import type { BatchRequest } from "./bindings/BatchRequest";
import type { BatchView } from "./bindings/BatchView";
import type { IntakeResult } from "./bindings/IntakeResult";
import type { QueueItem } from "./bindings/QueueItem";
import type { ScanApproveRequest } from "./bindings/ScanApproveRequest";
import type { ScanSetup } from "./bindings/ScanSetup";
import type { BackupStatus } from "./bindings/BackupStatus";
import type { BackupSettings } from "./bindings/BackupSettings";
import type { BackupDone } from "./bindings/BackupDone";
import type { AdminUser } from "./bindings/AdminUser";
import type { NewUserRequest } from "./bindings/NewUserRequest";
import type { Role } from "./bindings/Role";
import type { AdminSettings } from "./bindings/AdminSettings";
import type { SetupSteps } from "./bindings/SetupSteps";
import type { OfficeConnectRequest } from "./bindings/OfficeConnectRequest";
import type { MailSettings } from "./bindings/MailSettings";
import type { BundIdSettings } from "./bindings/BundIdSettings";
import type { BundIdSettingsView } from "./bindings/BundIdSettingsView";
import type { MailSettingsView } from "./bindings/MailSettingsView";
import type { BounceSettings } from "./bindings/BounceSettings";
import type { BounceSettingsView } from "./bindings/BounceSettingsView";
import type { RestoreSummary } from "./bindings/RestoreSummary";
import type { KeyRequestState } from "./bindings/KeyRequestState";
import type { PortalFields } from "./bindings/PortalFields";
import type { OutboxRow } from "./bindings/OutboxRow";
import type { QuarantineRow } from "./bindings/QuarantineRow";
import type { AuditCheck } from "./bindings/AuditCheck";
import type { ConnectionTest } from "./bindings/ConnectionTest";
import type { TownDetails } from "./bindings/TownDetails";

export interface Backend {
  login(request: LoginRequest): Promise<SessionInfo>;
  logout(): Promise<void>;
  session(): Promise<SessionInfo | null>;
  workList(query: WorkListQuery): Promise<WorkList>;
  status(): Promise<AppStatus>;
  syncNow(): Promise<SyncSummary>;
  syncStatus(): Promise<SyncStatus>;
  /** The Rathaus-Server connection (office mode); `allein` when standalone. */
  officeStatus(): Promise<OfficeStatus>;
  /** Steps the Rathaus-Server refused, with its reason and the case as it is now. */
  officeConflicts(): Promise<OfficeConflict[]>;
  /** Take the server's state: the conflict is done. */
  officeConflictDone(seq: number): Promise<void>;
  /** The refused step again, on the case as it is now. */
  officeConflictRedo(seq: number): Promise<void>;
  /** Office mode: synchronise with the Rathaus-Server now, not at the next turn. */
  officeSyncNow(): Promise<void>;
  /** Whether this PC still needs its first run (no data directory yet). */
  setupDue(): Promise<boolean>;
  /** The first run: set this PC up alone or as a desk of the Rathaus-Server. */
  firstRun(request: SetupRequest): Promise<SetupResult>;
  /** "Passwort vergessen": a new password for `username` with the recovery key; logs in. */
  recover(recoveryKey: string, username: string, newPassword: string): Promise<SessionInfo>;
  /** The first run on a new PC: a backup archive (full path) restored with the recovery key. */
  restoreFirstRun(archive: string, recoveryKey: string): Promise<RestoreSummary>;
  /** Right after the first run: the recovery sheet as PDF into `folder` (default: the export folder); its path. */
  saveRecoverySheet(folder: string): Promise<string>;
  /** The recovery key is written down: the backend forgets it. */
  forgetRecovery(): Promise<void>;
  /** Where exports go unless another folder is named. */
  exportFolder(): Promise<string>;
  /** Sign in at the Rathaus-Server again with the logged-in user's password. */
  officeSignIn(password: string): Promise<OfficeSignIn>;
  caseDetail(id: string): Promise<CaseDetail>;
  caseAction(id: string, action: Action): Promise<CaseDetail>;
  /** The letter of a refused e-mail went by post: the task is done. */
  mailSentByPost(id: string): Promise<CaseDetail>;
  setCheck(id: string, item: string, checked: boolean): Promise<void>;
  addNote(id: string, text: string): Promise<void>;
  assignCase(request: AssignRequest): Promise<void>;
  extendDeadline(id: string, reason: string): Promise<void>;
  caseWorkers(): Promise<UserRow[]>;
  document(caseId: string, documentId: string): Promise<DocumentContent>;
  assignCases(request: BulkAssignRequest): Promise<BulkAssignResult>;
  savedFilters(): Promise<SavedFilter[]>;
  saveFilter(filter: SavedFilter): Promise<SavedFilter[]>;
  deleteFilter(name: string): Promise<SavedFilter[]>;
  lockScreen(): Promise<void>;
  unlockScreen(password: string): Promise<SessionInfo>;
  letterView(request: LetterRequest): Promise<LetterView>;
  /** The letter as PDF (base64), rendered in memory. */
  letterPreview(request: LetterRequest): Promise<string>;
  sendLetter(request: LetterRequest): Promise<CaseDetail>;
  caseOutbox(caseId: string): Promise<OutboxView[]>;
  report(request: ReportRequest): Promise<Report>;
  reportCases(request: ReportRequest, group: string, metric: Metric): Promise<DrillCase[]>;
  deadlineChanges(): Promise<DeadlineChange[]>;
  /** Make an export (CSV, PDF) and save it in the export folder: returns its path. */
  saveExport(exp: Export): Promise<string>;
  scanSetup(): Promise<ScanSetup>;
  scanBatches(): Promise<BatchView[]>;
  scanBatchCreate(request: BatchRequest): Promise<BatchView>;
  scanBatchClose(id: string): Promise<void>;
  /** One pass over the configured hot folder. */
  scanIntake(): Promise<IntakeResult[]>;
  /** What the intake took or refused lately, newest first. */
  scanIntakeLog(): Promise<IntakeResult[]>;
  scanQueue(): Promise<QueueItem[]>;
  scanProduct(id: string): Promise<DocumentContent>;
  /** QA passed: returns the Aktenzeichen of the new case. */
  scanApprove(request: ScanApproveRequest): Promise<string>;
  scanReject(id: string, reason: string): Promise<void>;
  /** Split a scan by hand: `starts` are the first pages of the second, third, … document. */
  scanSplit(id: string, starts: number[]): Promise<QueueItem[]>;
  /** Pages of a scan that are separator sheets (barcode or patch code; a proposal). */
  scanSeparators(id: string): Promise<number[]>;
  /** Split at confirmed separator sheets; the sheets are left out. */
  scanSplitSeparators(id: string, pages: number[]): Promise<QueueItem[]>;
  /** A small picture of one page of a TIFF scan (1-based). */
  scanThumbnail(id: string, page: number): Promise<DocumentContent>;
  /** One page of a TIFF scan as PNG (1-based). */
  scanPage(id: string, page: number): Promise<DocumentContent>;
  scanRelease(id: string): Promise<void>;
  scanDestroyed(id: string, how: string): Promise<void>;
  /** The administration's users: role, lockout. */
  adminUsers(): Promise<AdminUser[]>;
  adminAddUser(request: NewUserRequest): Promise<UserRow>;
  adminSetRole(username: string, role: Role): Promise<void>;
  adminUnlockUser(username: string): Promise<void>;
  adminRemoveUser(username: string): Promise<void>;
  /** A new password for someone, handed over in person; lifts a lockout too. */
  adminSetPassword(username: string, password: string): Promise<void>;
  /** The "Betrieb" settings of the administration. */
  adminSettings(): Promise<AdminSettings>;
  /** What is left of setting this PC up (the administration's first steps). */
  adminSetupSteps(): Promise<SetupSteps>;
  adminSetLockAfter(seconds: number): Promise<void>;
  adminSetPollInterval(seconds: number): Promise<void>;
  adminSetHkrFolder(folder: string): Promise<void>;
  adminSetScanFolder(folder: string): Promise<void>;
  adminSetPersonReports(on: boolean): Promise<void>;
  adminFailedOutbox(): Promise<OutboxRow[]>;
  adminRetryOutbox(id: number): Promise<void>;
  adminQuarantine(): Promise<QuarantineRow[]>;
  adminAuditCheck(): Promise<AuditCheck>;
  /** The town's RFC 3161 time-stamping service (address and PEM certificate); an empty address removes it. */
  adminSetTimestampService(url: string, certPem: string): Promise<void>;
  /** The audit chain's head time-stamped now; the message to show. */
  adminStampAudit(): Promise<string>;
  /** Store the FIT-Connect connection (the JSON of the Land's onboarding). */
  adminConfigurePortal(json: string): Promise<void>;
  /** "Verbindung testen" for this JSON, or the stored connection (null). */
  adminPortalTest(json: string | null): Promise<ConnectionTest>;
  /** Attach this standalone PC to the Rathaus-Server (administration). */
  adminOfficeConnect(request: OfficeConnectRequest): Promise<OfficeStatus>;
  /** The town's mail server for answers by e-mail (no password), or null. */
  adminMailSettings(): Promise<MailSettingsView | null>;
  /** Set up or change it; an empty password keeps the stored one. */
  adminSetMailSettings(settings: MailSettings): Promise<MailSettingsView>;
  /** "Verbindung testen": connect, TLS, login – no mail is sent. The answer in German. */
  adminMailTest(): Promise<string>;
  adminRemoveMailSettings(): Promise<void>;
  /** The mailbox (IMAP) where the mail server's late bounces arrive, if set up. */
  adminBounceSettings(): Promise<BounceSettingsView | null>;
  adminSetBounceSettings(settings: BounceSettings): Promise<BounceSettingsView>;
  adminBounceTest(): Promise<string>;
  adminRemoveBounceSettings(): Promise<void>;
  /** The BundID bridge and the BPKI certificate (no key), or null. */
  adminBundIdSettings(): Promise<BundIdSettingsView | null>;
  /** Checked (key and certificate belong together, valid now) before kept. */
  adminSetBundIdSettings(settings: BundIdSettings): Promise<BundIdSettingsView>;
  adminRemoveBundIdSettings(): Promise<void>;
  /** The destination's own keys waiting for (or holding) their certificates. */
  adminKeyRequest(): Promise<KeyRequestState | null>;
  /** Make both key pairs and their certificate signing requests (saved as files). */
  adminMakeKeys(): Promise<KeyRequestState>;
  /** The PKI's certificate chains (PEM text); writes the public keys for the self-service portal. */
  adminCertifyKeys(encryption: string, signature: string): Promise<KeyRequestState>;
  adminPortalTestFields(fields: PortalFields): Promise<ConnectionTest>;
  adminConfigurePortalFields(fields: PortalFields): Promise<void>;
  /** The town's letterhead (gemeinde.toml). */
  adminTown(): Promise<TownDetails>;
  adminSetTown(details: TownDetails): Promise<void>;
  /** Where the backups stand (last good one, failure, warning). */
  backupStatus(): Promise<BackupStatus>;
  setBackupSettings(settings: BackupSettings): Promise<void>;
  /** Once, for data set up before backups existed: the recovery key. */
  setupBackupKey(recoveryKey: string): Promise<void>;
  /** Back up now: written, read back, rotated. */
  backupNow(): Promise<BackupDone>;
}

export function isAppError(e: unknown): e is AppError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

/** A German message for any failure, for display. */
export function errorMessage(e: unknown): string {
  if (isAppError(e)) return e.message;
  return "Unerwarteter Fehler in der Arbeitsstation. Bitte versuchen Sie es erneut oder wenden Sie sich an die Administration.";
}

export const tauriBackend: Backend = {
  login: (request) => invoke<SessionInfo>("login", { request }),
  logout: () => invoke<void>("logout"),
  session: () => invoke<SessionInfo | null>("session"),
  workList: (query) => invoke<WorkList>("work_list", { query }),
  status: () => invoke<AppStatus>("status"),
  syncNow: () => invoke<SyncSummary>("sync_now"),
  syncStatus: () => invoke<SyncStatus>("sync_status"),
  officeStatus: () => invoke<OfficeStatus>("office_status"),
  officeConflicts: () => invoke<OfficeConflict[]>("office_conflicts"),
  officeConflictDone: (seq) => invoke<void>("office_conflict_done", { seq }),
  officeConflictRedo: (seq) => invoke<void>("office_conflict_redo", { seq }),
  officeSignIn: (password) => invoke<OfficeSignIn>("office_sign_in", { password }),
  officeSyncNow: () => invoke<void>("office_sync_now"),
  setupDue: () => invoke<boolean>("setup_due"),
  firstRun: (request) => invoke<SetupResult>("first_run", { request }),
  recover: (recoveryKey, username, newPassword) => invoke<SessionInfo>("recover", { recoveryKey, username, newPassword }),
  restoreFirstRun: (archive, recoveryKey) => invoke<RestoreSummary>("restore_first_run", { archive, recoveryKey }),
  saveRecoverySheet: (folder) => invoke<string>("setup_recovery_sheet", { folder }),
  forgetRecovery: () => invoke<void>("setup_forget_recovery"),
  exportFolder: () => invoke<string>("export_folder"),
  caseDetail: (id) => invoke<CaseDetail>("case_detail", { id }),
  caseAction: (id, action) => invoke<CaseDetail>("case_action", { id, action }),
  mailSentByPost: (id) => invoke<CaseDetail>("mail_sent_by_post", { id }),
  setCheck: (id, item, checked) => invoke<void>("set_check", { id, item, checked }),
  addNote: (id, text) => invoke<void>("add_note", { id, text }),
  assignCase: (request) => invoke<void>("assign_case", { request }),
  extendDeadline: (id, reason) => invoke<void>("extend_deadline", { id, reason }),
  caseWorkers: () => invoke<UserRow[]>("case_workers"),
  document: (caseId, documentId) => invoke<DocumentContent>("document", { caseId, documentId }),
  assignCases: (request) => invoke<BulkAssignResult>("assign_cases", { request }),
  savedFilters: () => invoke<SavedFilter[]>("saved_filters"),
  saveFilter: (filter) => invoke<SavedFilter[]>("save_filter", { filter }),
  deleteFilter: (name) => invoke<SavedFilter[]>("delete_filter", { name }),
  lockScreen: () => invoke<void>("lock_screen"),
  unlockScreen: (password) => invoke<SessionInfo>("unlock_screen", { password }),
  letterView: (request) => invoke<LetterView>("letter_view", { request }),
  letterPreview: (request) => invoke<string>("letter_preview", { request }),
  sendLetter: (request) => invoke<CaseDetail>("send_letter", { request }),
  caseOutbox: (caseId) => invoke<OutboxView[]>("case_outbox", { caseId }),
  report: (request) => invoke<Report>("report", { request }),
  reportCases: (request, group, metric) => invoke<DrillCase[]>("report_cases", { request, group, metric }),
  deadlineChanges: () => invoke<DeadlineChange[]>("deadline_changes"),
  saveExport: (exp) => invoke<string>("save_export", { export: exp }),
  scanSetup: () => invoke<ScanSetup>("scan_setup"),
  scanBatches: () => invoke<BatchView[]>("scan_batches"),
  scanBatchCreate: (request) => invoke<BatchView>("scan_batch_create", { request }),
  scanBatchClose: (id) => invoke<void>("scan_batch_close", { id }),
  scanIntake: () => invoke<IntakeResult[]>("scan_intake"),
  scanIntakeLog: () => invoke<IntakeResult[]>("scan_intake_log"),
  scanQueue: () => invoke<QueueItem[]>("scan_queue"),
  scanProduct: (id) => invoke<DocumentContent>("scan_product", { id }),
  scanApprove: (request) => invoke<string>("scan_approve", { request }),
  scanReject: (id, reason) => invoke<void>("scan_reject", { id, reason }),
  scanSplit: (id, starts) => invoke<QueueItem[]>("scan_split", { id, starts }),
  scanSeparators: (id) => invoke<number[]>("scan_separators", { id }),
  scanSplitSeparators: (id, pages) => invoke<QueueItem[]>("scan_split_separators", { id, pages }),
  scanThumbnail: (id, page) => invoke<DocumentContent>("scan_thumbnail", { id, page }),
  scanPage: (id, page) => invoke<DocumentContent>("scan_page", { id, page }),
  scanRelease: (id) => invoke<void>("scan_release", { id }),
  scanDestroyed: (id, how) => invoke<void>("scan_destroyed", { id, how }),
  adminUsers: () => invoke<AdminUser[]>("admin_users"),
  adminAddUser: (request) => invoke<UserRow>("admin_add_user", { request }),
  adminSetRole: (username, role) => invoke<void>("admin_set_role", { username, role }),
  adminUnlockUser: (username) => invoke<void>("admin_unlock_user", { username }),
  adminRemoveUser: (username) => invoke<void>("admin_remove_user", { username }),
  adminSetPassword: (username, password) => invoke<void>("admin_set_password", { username, password }),
  adminSettings: () => invoke<AdminSettings>("admin_settings"),
  adminSetupSteps: () => invoke<SetupSteps>("admin_setup_steps"),
  adminSetLockAfter: (seconds) => invoke<void>("admin_set_lock_after", { seconds }),
  adminSetPollInterval: (seconds) => invoke<void>("admin_set_poll_interval", { seconds }),
  adminSetHkrFolder: (folder) => invoke<void>("admin_set_hkr_folder", { folder }),
  adminSetScanFolder: (folder) => invoke<void>("admin_set_scan_folder", { folder }),
  adminSetPersonReports: (on) => invoke<void>("admin_set_person_reports", { on }),
  adminFailedOutbox: () => invoke<OutboxRow[]>("admin_failed_outbox"),
  adminRetryOutbox: (id) => invoke<void>("admin_retry_outbox", { id }),
  adminQuarantine: () => invoke<QuarantineRow[]>("admin_quarantine"),
  adminAuditCheck: () => invoke<AuditCheck>("admin_audit_check"),
  adminSetTimestampService: (url, certPem) => invoke<void>("admin_set_timestamp_service", { url, certPem }),
  adminStampAudit: () => invoke<string>("admin_stamp_audit"),
  adminConfigurePortal: (json) => invoke<void>("admin_configure_portal", { json }),
  adminPortalTest: (json) => invoke<ConnectionTest>("admin_portal_test", { json }),
  adminOfficeConnect: (request) => invoke<OfficeStatus>("admin_office_connect", { request }),
  adminMailSettings: () => invoke<MailSettingsView | null>("admin_mail_settings"),
  adminSetMailSettings: (settings) => invoke<MailSettingsView>("admin_set_mail_settings", { settings }),
  adminMailTest: () => invoke<string>("admin_mail_test"),
  adminRemoveMailSettings: () => invoke<void>("admin_remove_mail_settings"),
  adminBounceSettings: () => invoke<BounceSettingsView | null>("admin_bounce_settings"),
  adminSetBounceSettings: (settings) => invoke<BounceSettingsView>("admin_set_bounce_settings", { settings }),
  adminBounceTest: () => invoke<string>("admin_bounce_test"),
  adminRemoveBounceSettings: () => invoke<void>("admin_remove_bounce_settings"),
  adminBundIdSettings: () => invoke<BundIdSettingsView | null>("admin_bundid_settings"),
  adminSetBundIdSettings: (settings) => invoke<BundIdSettingsView>("admin_set_bundid_settings", { settings }),
  adminRemoveBundIdSettings: () => invoke<void>("admin_remove_bundid_settings"),
  adminKeyRequest: () => invoke<KeyRequestState | null>("admin_key_request"),
  adminMakeKeys: () => invoke<KeyRequestState>("admin_make_keys"),
  adminCertifyKeys: (encryption, signature) => invoke<KeyRequestState>("admin_certify_keys", { encryption, signature }),
  adminPortalTestFields: (fields) => invoke<ConnectionTest>("admin_portal_test_fields", { fields }),
  adminConfigurePortalFields: (fields) => invoke<void>("admin_configure_portal_fields", { fields }),
  adminTown: () => invoke<TownDetails>("admin_town"),
  adminSetTown: (details) => invoke<void>("admin_set_town", { details }),
  backupStatus: () => invoke<BackupStatus>("backup_status"),
  setBackupSettings: (settings) => invoke<void>("set_backup_settings", { settings }),
  setupBackupKey: (recoveryKey) => invoke<void>("setup_backup_key", { recoveryKey }),
  backupNow: () => invoke<BackupDone>("backup_now"),
};
