//! The fake ZBP bridge: what a town sends as the research reconstructs it is filed
//! in the citizen's mailbox; a tampered envelope, a foreign certificate or a wrong
//! file is rejected through the event log and reaches no mailbox.

use fitconnect::api::ServiceType;
use fitconnect::set::{self, Event};
use fitconnect::submission::{PlainAttachment, seal};
use fitconnect::zbp::{self, Author, Envelope, FileRef, Message};
use portal_sim::State;
use uuid::Uuid;

type R = Result<(), Box<dyn std::error::Error>>;

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn message(pdf: &[u8]) -> Message {
    Message {
        mailbox_uuid: Uuid::from_u128(0x1b4e28ba_2fa1_41d2_883f_0016d3cca427),
        stork_qaa_level: 3,
        sender: "Gemeinde Musterstadt".into(),
        title: "Bescheid zu Ihrem Antrag".into(),
        content: "<p>Anbei Ihr Bescheid.</p>".into(),
        service: "Hundesteuer".into(),
        application_id: Some(Uuid::from_u128(9)),
        reference: Some("MS-HST-2026-0001".into()),
        attachments: vec![FileRef::of("bescheid.pdf", pdf)],
    }
}

/// Send an envelope to the bridge as the workstation does; the events of its case.
fn send(
    st: &mut State,
    service: &str,
    env: &Envelope,
    files: &[(&str, &[u8])],
) -> Result<(Uuid, Vec<set::VerifiedEvent>), Box<dyn std::error::Error>> {
    let bridge = st.bridge.destination_id;
    let attachments: Vec<PlainAttachment> = files
        .iter()
        .map(|(name, bytes)| PlainAttachment {
            id: Uuid::new_v4(),
            bytes: bytes.to_vec(),
            mime_type: "application/pdf".into(),
            purpose: "attachment".into(),
            filename: Some((*name).to_owned()),
        })
        .collect();
    let created = st.create_to(
        bridge,
        ServiceType {
            name: Some("ZBP Message Forwarding".into()),
            description: None,
            identifier: service.into(),
        },
        attachments.iter().map(|a| a.id).collect(),
        None,
        Uuid::new_v4(),
    )?;
    let data = serde_json::to_vec(env)?;
    let sealed = seal(
        created.submission_id,
        created.case_id,
        &st.bridge.enc.public,
        Some((&data, "application/json", zbp::SCHEMA_URI)),
        &attachments,
        |m| {
            m.insert("$schema".into(), zbp::METADATA_SCHEMA.into());
        },
    )?;
    for (id, jwe) in &sealed.attachments {
        st.put_attachment(created.submission_id, *id, jwe)?;
        if let Some(s) = st.submissions.get_mut(&created.submission_id) {
            s.uploaded.push(*id);
        }
    }
    st.submit(
        created.submission_id,
        sealed.encrypted_metadata,
        sealed.encrypted_data,
    )?;
    st.bridge_decide(created.submission_id)?;
    let bridge_key = st.bridge.sig.public.clone();
    let service_keys = [st.service_sig.public.clone()];
    let iss = bridge.to_string();
    let events = st.cases[&created.case_id]
        .events
        .iter()
        .map(|t| {
            set::verify(
                t,
                |i, kid| {
                    if i == iss {
                        (kid == bridge_key.kid).then(|| bridge_key.clone())
                    } else {
                        service_keys.iter().find(|k| k.kid == kid).cloned()
                    }
                },
                Some(created.case_id),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((created.submission_id, events))
}

/// A fresh simulator state and the key pair its BPKI issued to the town.
fn bridge_and_author() -> Result<(tempfile::TempDir, State, Author), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let st = State::open(dir.path(), 4096)?;
    let author = Author::from_pem(&st.bridge.author_key_pem, &st.bridge.author_cert_pem, now())?;
    Ok((dir, st, author))
}

fn verdict(events: &[set::VerifiedEvent]) -> Option<(Event, String)> {
    events
        .iter()
        .find(|e| matches!(e.event, Event::AcceptSubmission | Event::RejectSubmission))
        .map(|e| (e.event, e.payload.to_string()))
}

#[test]
fn a_signed_message_reaches_the_mailbox_and_tampering_is_refused() -> R {
    let (_dir, mut st, author) = bridge_and_author()?;
    let pdf = b"%PDF-1.7 Bescheid".to_vec();
    let content = zbp::content_of(&message(&pdf))?;
    let env = author.seal(&content, now())?;

    let (id, events) = send(
        &mut st,
        zbp::MESSAGE_SERVICE,
        &env,
        &[("bescheid.pdf", &pdf)],
    )?;
    assert_eq!(verdict(&events).map(|v| v.0), Some(Event::AcceptSubmission));
    let inbox = st.postkorb();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].submission_id, id);
    assert_eq!(inbox[0].signer, portal_sim::bridge::AUTHOR_CN);
    assert_eq!(
        inbox[0].files[0].sha512,
        fitconnect::submission::sha512_hex(&pdf)
    );

    // The content changed after signing.
    let mut tampered = env.clone();
    tampered.content = tampered.content.replace("Anbei", "Hier");
    let (_, events) = send(
        &mut st,
        zbp::MESSAGE_SERVICE,
        &tampered,
        &[("bescheid.pdf", &pdf)],
    )?;
    let (ev, why) = verdict(&events).ok_or("kein Urteil")?;
    assert_eq!(ev, Event::RejectSubmission);
    assert!(why.contains("Signatur"), "{why}");

    // Another file than the one the message names.
    let (_, events) = send(
        &mut st,
        zbp::MESSAGE_SERVICE,
        &env,
        &[("bescheid.pdf", b"%PDF-1.7 anders")],
    )?;
    assert_eq!(verdict(&events).map(|v| v.0), Some(Event::RejectSubmission));

    // A key pair from outside the BPKI, though self-consistent.
    let pki = fitconnect::keys::TestPki::new(2048)?;
    let (k, c) = pki.issue_author(portal_sim::bridge::AUTHOR_CN, 2048)?;
    let foreign = Author::from_pem(&k, &c, now())?.seal(&content, now())?;
    let (_, events) = send(
        &mut st,
        zbp::MESSAGE_SERVICE,
        &foreign,
        &[("bescheid.pdf", &pdf)],
    )?;
    let (ev, why) = verdict(&events).ok_or("kein Urteil")?;
    assert_eq!(ev, Event::RejectSubmission);
    assert!(why.contains("BPKI"), "{why}");

    // A token issued 31 minutes ago has expired.
    let old = author.seal(&content, now() - zbp::TOKEN_LIFETIME - 60)?;
    let (_, events) = send(
        &mut st,
        zbp::MESSAGE_SERVICE,
        &old,
        &[("bescheid.pdf", &pdf)],
    )?;
    assert_eq!(verdict(&events).map(|v| v.0), Some(Event::RejectSubmission));

    assert_eq!(
        st.postkorb().len(),
        1,
        "nothing rejected reached the mailbox"
    );
    Ok(())
}

#[test]
fn a_status_update_is_filed_for_its_application() -> R {
    let (_dir, mut st, author) = bridge_and_author()?;
    let state = zbp::State {
        application_id: Uuid::from_u128(9),
        status: zbp::Status::Processing,
        public_service_name: zbp::German {
            de: "Hundesteuer".into(),
        },
        sender_name: "Gemeinde Musterstadt".into(),
        created_date: zbp::created_date(jiff::Timestamp::now()),
        status_details: Some(zbp::German {
            de: "in Bearbeitung".into(),
        }),
        additional_information: None,
        reference: Some("MS-HST-2026-0001".into()),
    };
    let env = author.seal(&zbp::content_of(&state)?, now())?;
    let (_, events) = send(&mut st, zbp::STATUS_SERVICE, &env, &[])?;
    assert_eq!(verdict(&events).map(|v| v.0), Some(Event::AcceptSubmission));
    let inbox = st.postkorb();
    assert_eq!(inbox[0].status.as_deref(), Some("PROCESSING"));
    assert_eq!(inbox[0].application_id, Some(Uuid::from_u128(9)));

    // A status with a field over its limit is refused.
    let mut long = state;
    long.sender_name = "x".repeat(101);
    let env = author.seal(&zbp::content_of(&long)?, now())?;
    let (_, events) = send(&mut st, zbp::STATUS_SERVICE, &env, &[])?;
    assert_eq!(verdict(&events).map(|v| v.0), Some(Event::RejectSubmission));
    // A service the bridge does not offer.
    let (_, events) = send(&mut st, "urn:de:fim:leika:leistung:99", &env, &[])?;
    assert_eq!(verdict(&events).map(|v| v.0), Some(Event::RejectSubmission));
    assert_eq!(st.postkorb().len(), 1);
    Ok(())
}
