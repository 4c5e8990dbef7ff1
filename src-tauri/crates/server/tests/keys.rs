//! What a role may not read, its key cannot open – tested by hand: every user
//! takes the key files the server hands out, unwraps them with the own password and
//! tries the `age` command-line tool on a case's content and on a scan product.
//! The Scanstelle and the Administration cannot read case content; nobody can give
//! them the key; a removed user's keys are gone from the server.
// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command as Process;

use age::secrecy::{ExposeSecret, SecretString};
use domain::Role;
use office::keyring::{self, GrantKey, KeyKind, PublishKindKey, PublishUserKey};
use office::rules::Actor;
use server::Record;

const PASSWORD: &str = "lang-genug-2026";

use common::actor;

fn pw() -> SecretString {
    SecretString::from(PASSWORD.to_string())
}

/// What a desk does at a user's first sign-in: make and publish the user key.
async fn first_sign_in(record: &Record, a: &Actor) {
    let (identity, recipient) = keyring::generate();
    let wrapped = keyring::wrap_with_password(&identity, &pw(), 10).unwrap();
    record
        .publish_user_key(a, &PublishUserKey { recipient, wrapped })
        .await
        .unwrap();
}

/// "By hand": the user's key files from the server, opened with the password, as
/// age identity files in `dir`. Returns the files.
async fn key_files(record: &Record, a: &Actor, dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let view = record.key_view(a).await.unwrap();
    let own = view.own.unwrap();
    let me = keyring::unwrap_with_password(&own.wrapped, &pw()).unwrap();
    let mut files = Vec::new();
    let mut write = |name: &str, secret: &SecretString| {
        let path = dir.join(format!("{}-{name}.key", a.user));
        std::fs::write(&path, secret.expose_secret()).unwrap();
        files.push(path);
    };
    write("benutzer", &me);
    for (kind, grant) in &view.grants {
        let k = keyring::unwrap_grant(grant, &me).unwrap();
        write(kind.as_str(), &k);
    }
    files
}

fn age_cli_opens(identities: &[std::path::PathBuf], file: &std::path::Path) -> Option<String> {
    let mut cmd = Process::new("age");
    cmd.arg("-d");
    for i in identities {
        cmd.arg("-i").arg(i);
    }
    let out = cmd
        .arg(file)
        .output()
        .expect("age (Debian-Paket „age“) fehlt");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn scanning_desk_and_administration_cannot_open_case_content_with_their_keys() {
    let cluster = common::cluster();
    let rt = common::rt();
    let tmp = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let record = common::record(&cluster).await;
        let (lea, anna, sam, root) = (
            actor("lea", Role::Leitung),
            actor("anna", Role::Sachbearbeitung),
            actor("sam", Role::Scanstelle),
            actor("root", Role::Admin),
        );
        for a in [&lea, &anna, &sam, &root] {
            record.add_user(&a.user, a.role, PASSWORD).await.unwrap();
            first_sign_in(&record, a).await;
        }

        // Nobody but the Leitung creates kind keys.
        let (_, some_recipient) = keyring::generate();
        for a in [&root, &anna, &sam] {
            let own = record.key_view(a).await.unwrap().own.unwrap();
            let err = record
                .publish_kind_key(
                    a,
                    &PublishKindKey {
                        kind: KeyKind::Fall,
                        recipient: some_recipient.clone(),
                        own_grant: keyring::wrap_for(&pw(), &own.recipient).unwrap(),
                    },
                )
                .await
                .unwrap_err();
            assert!(err.to_string().contains("darf keinen Schlüssel"), "{err}");
        }

        let ring = record.key_ring_status().await.unwrap();
        assert!(ring.kinds.is_empty() && ring.waiting.is_empty() && ring.without_key.is_empty());

        // The Leitung's desk creates both kinds and hands out what is due.
        let lea_view = record.key_view(&lea).await.unwrap();
        let lea_recipient = lea_view.own.unwrap().recipient;
        let mut kinds = std::collections::BTreeMap::new();
        for kind in KeyKind::ALL {
            let (identity, recipient) = keyring::generate();
            record
                .publish_kind_key(
                    &lea,
                    &PublishKindKey {
                        kind,
                        recipient: recipient.clone(),
                        own_grant: keyring::wrap_for(&identity, &lea_recipient).unwrap(),
                    },
                )
                .await
                .unwrap();
            kinds.insert(kind, (identity, recipient));
        }
        let view = record.key_view(&lea).await.unwrap();
        let due = view.due();
        assert_eq!(
            due,
            vec![
                (KeyKind::Fall, "anna".to_string()),
                (KeyKind::Scan, "sam".to_string())
            ]
        );
        for (kind, user) in due {
            let to = view
                .holders
                .iter()
                .find(|h| h.name == user)
                .and_then(|h| h.recipient.clone())
                .unwrap();
            record
                .grant_key(
                    &lea,
                    &GrantKey {
                        kind,
                        user,
                        wrapped: keyring::wrap_for(&kinds[&kind].0, &to).unwrap(),
                    },
                )
                .await
                .unwrap();
        }
        assert!(record.key_view(&lea).await.unwrap().due().is_empty());
        record
            .add_user("neu", Role::Sachbearbeitung, PASSWORD)
            .await
            .unwrap();
        let ring = record.key_ring_status().await.unwrap();
        assert_eq!(ring.kinds, vec![KeyKind::Fall, KeyKind::Scan]);
        assert_eq!(ring.without_key, vec!["neu".to_string()]);
        first_sign_in(&record, &actor("neu", Role::Sachbearbeitung)).await;
        let ring = record.key_ring_status().await.unwrap();
        assert_eq!(ring.waiting, vec![(KeyKind::Fall, "neu".to_string())]);

        // Even the Leitung cannot give case content to the Scanstelle or the
        // Administration; a caseworker cannot hand keys on at all.
        for (granter, user) in [(&lea, "sam"), (&lea, "root"), (&anna, "root")] {
            let to = record
                .key_view(&lea)
                .await
                .unwrap()
                .holders
                .into_iter()
                .find(|h| h.name == user)
                .and_then(|h| h.recipient)
                .unwrap();
            let err = record
                .grant_key(
                    granter,
                    &GrantKey {
                        kind: KeyKind::Fall,
                        user: user.into(),
                        wrapped: keyring::wrap_for(&kinds[&KeyKind::Fall].0, &to).unwrap(),
                    },
                )
                .await
                .unwrap_err();
            assert!(
                err.to_string().contains("nicht lesen")
                    || err.to_string().contains("nicht weitergeben"),
                "{err}"
            );
        }
        let refused = record.recent_audit(20).await.unwrap();
        assert!(refused.iter().any(|e| e.action == "freigabe_abgelehnt"));

        // Content as the desks encrypt it.
        let fall = &kinds[&KeyKind::Fall].1;
        let scan = &kinds[&KeyKind::Scan].1;
        let case = keyring::seal(b"Antragstellerin: Erika Mustermann", &[fall]).unwrap();
        let product = keyring::seal(b"Scan: Hundesteuer-Anmeldung", &[scan, fall]).unwrap();
        let case_file = tmp.path().join("vorgang.age");
        let product_file = tmp.path().join("scan.age");
        std::fs::write(&case_file, case.as_bytes()).unwrap();
        std::fs::write(&product_file, product.as_bytes()).unwrap();

        let expect = [
            (&anna, true, true),
            (&lea, true, true),
            (&sam, false, true),
            (&root, false, false),
        ];
        for (a, reads_case, reads_scan) in expect {
            let files = key_files(&record, a, tmp.path()).await;
            let c = age_cli_opens(&files, &case_file);
            let p = age_cli_opens(&files, &product_file);
            assert_eq!(c.is_some(), reads_case, "{} und der Vorgang", a.user);
            assert_eq!(p.is_some(), reads_scan, "{} und das Scanprodukt", a.user);
            if let Some(text) = c {
                assert!(text.contains("Erika Mustermann"));
            }
        }

        // A removed user's keys are gone from the server.
        record.remove_user("anna").await.unwrap();
        let view = record.key_view(&anna).await.unwrap();
        assert!(view.own.is_none() && view.grants.is_empty());
        // A second, different user key is refused (it would orphan the grants).
        let (_, other) = keyring::generate();
        let err = record
            .publish_user_key(
                &sam,
                &PublishUserKey {
                    recipient: other,
                    wrapped: keyring::wrap_with_password(&pw(), &pw(), 10).unwrap(),
                },
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("schon einen anderen"), "{err}");
    });
}
