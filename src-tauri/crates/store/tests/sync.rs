//! Sync repositories on the real store: dedupe, follow-ups, quarantine, outbox order.

mod common;

use store::{
    DocumentKind, IncomingDocument, IncomingSubmission, NewOutboxItem, QuarantinedSubmission,
    Stored, SubmissionState,
};

type R = Result<(), Box<dyn std::error::Error>>;

fn item(kind: &str, key: &str, order: &str) -> NewOutboxItem {
    NewOutboxItem {
        idempotency_key: key.into(),
        kind: kind.into(),
        ordering_key: order.into(),
        payload: "{}".into(),
    }
}

fn incoming(sub: &str, case: &str) -> IncomingSubmission {
    IncomingSubmission {
        submission_id: sub.into(),
        fc_case_id: case.into(),
        service: "urn:de:fim:leika:leistung:99115004012000".into(),
        case_type: "Meldebescheinigung".into(),
        applicant: "Jörg Weiß".into(),
        received_at: "2026-11-23T08:00:00Z".into(),
        auth_tags: "{}".into(),
        documents: vec![
            IncomingDocument {
                kind: DocumentKind::Metadata,
                filename: None,
                mime_type: "application/json".into(),
                bytes: b"{}".to_vec(),
            },
            IncomingDocument {
                kind: DocumentKind::Attachment,
                filename: Some("Antrag.pdf".into()),
                mime_type: "application/pdf".into(),
                bytes: b"%PDF-1.4".to_vec(),
            },
        ],
        accept: item("accept", &format!("accept:{sub}"), case),
    }
}

#[test]
fn a_submission_is_stored_once_and_follow_ups_join_their_case() -> R {
    let tmp = tempfile::tempdir()?;
    let mut s = common::init(&tmp.path().join("d"))?;
    let first = s.store_submission(&incoming("sub-1", "case-A"))?;
    let Stored::NewCase {
        case_id,
        file_number,
    } = first
    else {
        return Err(format!("{first:?}").into());
    };
    assert!(file_number.starts_with("ON-2026-"), "{file_number}");
    assert_eq!(
        s.store_submission(&incoming("sub-1", "case-A"))?,
        Stored::AlreadyKnown(SubmissionState::Stored)
    );
    let follow = s.store_submission(&incoming("sub-2", "case-A"))?;
    assert_eq!(
        follow,
        Stored::FollowUp {
            case_id: case_id.clone(),
            file_number: file_number.clone()
        }
    );
    assert_eq!(s.count_cases()?, 1);
    assert_eq!(s.document_count(&case_id)?, 4);
    // Each document names the submission that brought it, in the order they came.
    let from: Vec<Option<String>> = s
        .case_documents(&case_id)?
        .into_iter()
        .map(|d| d.submission_id)
        .collect();
    let (one, two) = (Some("sub-1".to_owned()), Some("sub-2".to_owned()));
    assert_eq!(from, [one.clone(), one, two.clone(), two]);
    assert_eq!(s.outbox_counts()?.pending, 2);
    let other = s.store_submission(&incoming("sub-3", "case-B"))?;
    assert!(
        matches!(other, Stored::NewCase { ref file_number, .. } if file_number.ends_with("000002")),
        "{other:?}"
    );
    // The audit names the file numbers, not the applicant.
    let audit = s.audit_entries(10)?;
    assert!(
        audit
            .iter()
            .any(|e| e.action == "eingang.online" && e.object == file_number)
    );
    assert!(audit.iter().all(|e| !e.object.contains("Weiß")));
    Ok(())
}

#[test]
fn accept_done_moves_the_submission_to_accepted() -> R {
    let tmp = tempfile::tempdir()?;
    let mut s = common::init(&tmp.path().join("d"))?;
    s.store_submission(&incoming("sub-1", "case-A"))?;
    let due = s.due_outbox("9999", 10)?;
    assert_eq!(due.len(), 1);
    s.outbox_done(due[0].id)?;
    assert_eq!(
        s.submission_state("sub-1")?,
        Some(SubmissionState::Accepted)
    );
    assert!(s.due_outbox("9999", 10)?.is_empty());
    Ok(())
}

#[test]
fn outbox_keeps_per_case_order_and_a_failure_blocks_only_its_case() -> R {
    let tmp = tempfile::tempdir()?;
    let mut s = common::init(&tmp.path().join("d"))?;
    assert!(s.enqueue(&item("reply", "reply:1", "case-A"))?);
    assert!(
        !s.enqueue(&item("reply", "reply:1", "case-A"))?,
        "same key twice"
    );
    s.enqueue(&item("fee", "fee:1", "case-A"))?;
    s.enqueue(&item("reply", "reply:2", "case-B"))?;
    let due: Vec<String> = s
        .due_outbox("9999", 10)?
        .into_iter()
        .map(|i| i.idempotency_key)
        .collect();
    assert_eq!(due, ["reply:1", "reply:2"]);
    // A retry later: not due before its time.
    let first = s.due_outbox("9999", 10)?[0].id;
    s.outbox_retry(first, "503", "2026-11-23T10:00:00Z")?;
    let due: Vec<String> = s
        .due_outbox("2026-11-23T09:00:00Z", 10)?
        .into_iter()
        .map(|i| i.idempotency_key)
        .collect();
    assert_eq!(due, ["reply:2"]);
    // Remote id survives for the retry.
    s.outbox_remote_id(first, "remote-xyz")?;
    let again = s.due_outbox("2026-11-23T10:00:00Z", 10)?;
    assert_eq!(again[0].remote_id.as_deref(), Some("remote-xyz"));
    assert_eq!(again[0].attempts, 1);
    // A permanent failure stops case A; case B goes on.
    s.outbox_failed(first, "422 Schema")?;
    let due: Vec<String> = s
        .due_outbox("9999", 10)?
        .into_iter()
        .map(|i| i.idempotency_key)
        .collect();
    assert_eq!(due, ["reply:2"]);
    assert_eq!(s.outbox_counts()?.failed, 1);
    assert!(s.outbox_requeue(first)?);
    assert!(
        !s.outbox_requeue(first)?,
        "only failed items can be requeued"
    );
    let due: Vec<String> = s
        .due_outbox("9999", 10)?
        .into_iter()
        .map(|i| i.idempotency_key)
        .collect();
    assert_eq!(due, ["reply:1", "reply:2"]);
    Ok(())
}

#[test]
fn quarantine_keeps_the_ciphertext_and_queues_the_reject() -> R {
    let tmp = tempfile::tempdir()?;
    let mut s = common::init(&tmp.path().join("d"))?;
    let q = QuarantinedSubmission {
        submission_id: "bad-1".into(),
        fc_case_id: "case-X".into(),
        service: "urn:x".into(),
        received_at: "2026-11-23T08:00:00Z".into(),
        problems: r#"[{"type":"t","title":"x","instance":"metadata"}]"#.into(),
        ciphertext: b"eyJ...".to_vec(),
        reject: item("reject", "reject:bad-1", "case-X"),
    };
    assert!(s.quarantine_submission(&q)?);
    assert!(!s.quarantine_submission(&q)?);
    assert_eq!(
        s.submission_state("bad-1")?,
        Some(SubmissionState::Quarantined)
    );
    assert_eq!(s.count_cases()?, 0, "no case for an invalid submission");
    let due = s.due_outbox("9999", 10)?;
    s.outbox_done(due[0].id)?;
    assert_eq!(
        s.submission_state("bad-1")?,
        Some(SubmissionState::Rejected)
    );
    Ok(())
}

/// A late bounce fails a sent e-mail once (the case's history and the audit say
/// so); a notice (no key: the letter went by post) is recorded but stays done; an
/// unknown or pending message is left alone.
#[test]
fn a_late_bounce_fails_a_sent_mail_once_and_leaves_a_notice_done() -> R {
    let tmp = tempfile::tempdir()?;
    let mut s = common::init(&tmp.path().join("d"))?;
    let Stored::NewCase { case_id: case, .. } = s.store_submission(&incoming("sub-1", "fc-1"))?
    else {
        return Err("kein neuer Fall".into());
    };
    let mail = |key: &str, id: &str, pgp: bool| NewOutboxItem {
        idempotency_key: key.into(),
        kind: "mail".into(),
        ordering_key: "mail:fc-1".into(),
        payload: serde_json::json!({
            "messageId": id,
            "pgpPublicKey": pgp.then_some("-----BEGIN PGP PUBLIC KEY BLOCK-----"),
        })
        .to_string(),
    };
    s.enqueue(&mail("mail:a", "<a@musterstadt.example>", true))?;
    s.enqueue(&mail("mail:b", "<b@musterstadt.example>", false))?;
    s.enqueue(&mail("mail:c", "<c@musterstadt.example>", true))?;
    // Not sent yet: a report for it is not believed.
    assert!(!s.mail_bounced("<a@musterstadt.example>", "5.1.1")?);
    // One after the other (same case): a and b go out, c waits.
    for _ in 0..2 {
        let next = s
            .due_outbox("9999", 10)?
            .into_iter()
            .find(|i| i.kind == "mail")
            .map(|i| i.id)
            .ok_or("nichts fällig")?;
        s.outbox_done(next)?;
    }
    assert!(s.mail_bounced("<a@musterstadt.example>", "Empfängeradresse unbekannt")?);
    assert!(!s.mail_bounced("<a@musterstadt.example>", "again")?, "once");
    assert!(s.mail_bounced("<b@musterstadt.example>", "Postfach voll")?);
    assert!(!s.mail_bounced("<b@musterstadt.example>", "again")?, "once");
    assert!(!s.mail_bounced("<unbekannt@example.org>", "x")?);
    let items = s.outbox_items_for(&["mail:fc-1"])?;
    let state = |key: &str| {
        items
            .iter()
            .find(|i| i.idempotency_key == key)
            .map(|i| (i.state.clone(), i.last_error.clone().unwrap_or_default()))
    };
    let (a, why) = state("mail:a").ok_or("a fehlt")?;
    assert_eq!(a, "failed");
    assert!(why.contains("Nachträglich als unzustellbar gemeldet: Empfängeradresse unbekannt"));
    assert_eq!(state("mail:b").map(|s| s.0).as_deref(), Some("done"));
    assert_eq!(state("mail:c").map(|s| s.0).as_deref(), Some("pending"));
    let history = s.case_history(&case)?;
    assert_eq!(
        history
            .iter()
            .filter(|h| h.kind == "email_unzustellbar")
            .count(),
        2
    );
    Ok(())
}

/// Vault files on disk (not the `tmp` folder).
fn vault_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("vault"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name() != "tmp" && e.path().is_dir())
        .map(|e| std::fs::read_dir(e.path()).map_or(0, |d| d.count()))
        .sum()
}

#[test]
fn documents_written_ahead_are_kept_by_their_commit_and_removed_otherwise() -> R {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("d");
    let mut s = common::init(&dir)?;
    let before = vault_files(&dir);
    // Written on another thread, committed here: the case reads them back.
    let writer = s.blob_writer();
    let sub = incoming("sub-1", "case-A");
    let docs = sub.documents.clone();
    let prepared = std::thread::spawn(move || {
        docs.iter()
            .map(|d| writer.write(d.bytes.as_slice()))
            .collect::<Result<Vec<_>, _>>()
    })
    .join()
    .map_err(|_| "Schreiber abgebrochen")??;
    assert_eq!(vault_files(&dir), before + 2);
    let Stored::NewCase { case_id, .. } = s.store_submission_prepared(&sub, prepared)? else {
        return Err("kein neuer Fall".into());
    };
    let stored = s.case_documents(&case_id)?;
    assert_eq!(stored.len(), 2);
    for (doc, want) in stored.iter().zip(&sub.documents) {
        let mut got = Vec::new();
        let id = store::BlobId::parse(&doc.blob_id)?;
        std::io::Read::read_to_end(&mut s.open_blob(&id)?, &mut got)?;
        assert_eq!(got, want.bytes);
    }
    assert_eq!(vault_files(&dir), before + 2);

    // The same submission again: known, its prepared files are removed.
    let writer = s.blob_writer();
    let again = sub
        .documents
        .iter()
        .map(|d| writer.write(d.bytes.as_slice()))
        .collect::<Result<Vec<_>, _>>()?;
    assert_eq!(vault_files(&dir), before + 4);
    assert_eq!(
        s.store_submission_prepared(&sub, again)?,
        Stored::AlreadyKnown(SubmissionState::Stored)
    );
    assert_eq!(vault_files(&dir), before + 2);

    // Files that do not fit the submission: refused in German, nothing stored.
    let other = incoming("sub-2", "case-B");
    let one = vec![writer.write(&b"{}"[..])?];
    let err = s
        .store_submission_prepared(&other, one)
        .err()
        .ok_or("passt nicht, aber gespeichert")?;
    assert!(err.to_string().contains("passen nicht"), "{err}");
    assert_eq!(s.submission_state("sub-2")?, None);
    assert_eq!(vault_files(&dir), before + 2);

    // Written and then the process died (the guard never ran): the next unlock
    // removes the orphan, the stored case keeps its documents.
    std::mem::forget(writer.write(&b"verwaist"[..])?);
    assert_eq!(vault_files(&dir), before + 3);
    drop(s.lock());
    let s = common::reopen(&dir)?;
    assert_eq!(s.vault_check().removed_orphans, 1);
    assert_eq!(s.vault_check().missing, 0);
    assert_eq!(vault_files(&dir), before + 2);
    assert_eq!(s.document_count(&case_id)?, 2);
    Ok(())
}
