//! Arbitrary input on the parsing paths never panics.

use std::sync::OnceLock;

use fitconnect::keys::{KeyPair, KeyUse, TestPki};
use fitconnect::{Part, jwe, metadata, set};
use proptest::prelude::*;

fn key() -> &'static KeyPair {
    static K: OnceLock<KeyPair> = OnceLock::new();
    K.get_or_init(|| {
        let pki = TestPki::new(2048).unwrap_or_else(|e| panic!("{e}"));
        pki.issue("fuzz-key-001", KeyUse::Encryption, 2048)
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

fn jose_like() -> impl Strategy<Value = String> {
    // Mostly base64url segments joined by dots, sometimes anything at all.
    prop_oneof![
        proptest::collection::vec("[A-Za-z0-9_-]{0,40}", 0..7).prop_map(|v| v.join(".")),
        any::<String>(),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|b| {
            use base64::Engine;
            let h = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
            format!("{h}.{h}.{h}.{h}.{h}")
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn jwe_decrypt_never_panics(s in jose_like()) {
        let _ = jwe::decrypt(&s, key(), &Part::Data, None);
        let _ = jwe::parse_header(&s, &Part::Data);
        let _ = jwe::authentication_tag(&s);
    }

    #[test]
    fn set_verify_never_panics(s in jose_like()) {
        let _ = set::verify(&s, |_: &str, _: &str| None, None);
    }

    #[test]
    fn metadata_parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = metadata::parse(&b);
    }

    #[test]
    fn metadata_parse_never_panics_on_json(v in json_value()) {
        let _ = metadata::parse(v.to_string().as_bytes());
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-zA-Z0-9:/._-]{0,20}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("contentStructure".to_owned()),
                    Just("attachments".to_owned()),
                    Just("data".to_owned()),
                    Just("hash".to_owned()),
                    "[a-z]{1,8}".prop_map(String::from)
                ],
                inner,
                0..4
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
