//! JWE compact serialisation with RSA-OAEP-256 key wrapping and A256GCM content
//! encryption, as FIT-Connect requires. RSA is done by OpenSSL (josekit), not by
//! the pure-Rust `rsa` crate (RUSTSEC-2023-0071).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::{JweHeader, RSA_OAEP_256};

use crate::error::{JweError, KeyError};
use crate::keys::{KeyPair, KeyUse, PublicJwk};
use crate::problem::Part;

pub const ALG: &str = "RSA-OAEP-256";
pub const ENC: &str = "A256GCM";

/// Encrypt `payload` to `recipient` with content type `cty` (e.g. `application/json`,
/// `application/pdf`). The recipient key is checked against the FIT-Connect rules.
pub fn encrypt(payload: &[u8], cty: &str, recipient: &PublicJwk) -> Result<String, KeyError> {
    recipient.validate(KeyUse::Encryption)?;
    let mut header = JweHeader::new();
    header.set_algorithm(ALG);
    header.set_content_encryption(ENC);
    header.set_content_type(cty);
    header.set_key_id(&recipient.kid);
    let encrypter = RSA_OAEP_256
        .encrypter_from_jwk(&recipient.to_josekit()?)
        .map_err(|e| KeyError::Invalid(e.to_string()))?;
    josekit::jwe::serialize_compact(payload, &header, &encrypter)
        .map_err(|e| KeyError::Invalid(e.to_string()))
}

/// The protected header fields we check, read before decrypting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ProtectedHeader {
    pub alg: Option<String>,
    pub enc: Option<String>,
    pub cty: Option<String>,
    pub kid: Option<String>,
    /// Compression ("DEF"): the FIT-Connect rules allow none, and inflating would
    /// let a few kilobytes grow without bound – refused before decrypting.
    pub zip: Option<String>,
}

/// Split a compact JWE and parse its protected header. Refuses anything that is not
/// five base64url segments with a JSON header.
pub fn parse_header(jwe: &str, part: &Part) -> Result<ProtectedHeader, JweError> {
    let syntax = |detail: &str| JweError::Syntax {
        part: part.clone(),
        detail: detail.to_owned(),
    };
    let segments: Vec<&str> = jwe.trim().split('.').collect();
    if segments.len() != 5 {
        return Err(syntax("erwartet fünf durch Punkte getrennte Teile"));
    }
    if segments[0].is_empty() || segments[2].is_empty() || segments[4].is_empty() {
        return Err(syntax("leerer Kopf, IV oder Authentifizierungs-Tag"));
    }
    let raw = URL_SAFE_NO_PAD
        .decode(segments[0])
        .map_err(|_| syntax("Kopf ist kein base64url"))?;
    serde_json::from_slice(&raw).map_err(|_| syntax("Kopf ist kein JSON-Objekt"))
}

/// The authentication tag (last segment) of a compact JWE – what an accept SET lists.
pub fn authentication_tag(jwe: &str) -> Option<&str> {
    let tag = jwe.trim().rsplit('.').next()?;
    (jwe.trim().split('.').count() == 5 && !tag.is_empty()).then_some(tag)
}

/// Decrypt a compact JWE with `key`. Checks `alg`, `enc` and, if `expected_cty` is
/// given, that `cty` is present and equal (case-insensitive); with `None` the `cty`
/// must merely be present. Returns the plaintext and the content type.
pub fn decrypt(
    jwe: &str,
    key: &KeyPair,
    part: &Part,
    expected_cty: Option<&str>,
) -> Result<(Vec<u8>, String), JweError> {
    let header = parse_header(jwe, part)?;
    for (found, expected) in [(header.alg, ALG), (header.enc, ENC)] {
        // A missing "alg" or "enc" is a wrong one: refused with what was found.
        let found = found.unwrap_or_default();
        if found != expected {
            return Err(JweError::Algorithm {
                part: part.clone(),
                found,
                expected,
            });
        }
    }
    if header.zip.is_some() {
        return Err(JweError::Compressed { part: part.clone() });
    }
    let cty = match header.cty {
        Some(c) if !c.trim().is_empty() => c,
        _ => return Err(JweError::MissingContentType { part: part.clone() }),
    };
    if let Some(expected) = expected_cty
        && !cty.eq_ignore_ascii_case(expected)
    {
        return Err(JweError::WrongContentType {
            part: part.clone(),
            found: cty,
            expected: expected.to_owned(),
        });
    }
    let decrypter = key
        .decrypter()
        .map_err(|_| JweError::Decryption { part: part.clone() })?;
    let (plain, _) = josekit::jwe::deserialize_compact(jwe.trim(), decrypter)
        .map_err(|_| JweError::Decryption { part: part.clone() })?;
    Ok((plain, cty))
}
