//! RFC 3161 time stamps of the audit chain's head from the town's time-stamping
//! service: evidence outside this machine that the chain had reached entry `seq`
//! with hash `hash` at the time the service signs. Whoever later rewrites the chain –
//! even with the master key, which can reseal it – cannot make the service sign an
//! older time for the new hash.
//!
//! What is stamped is SHA-256 over a fixed label, the entry number and its hash
//! ([`imprint`]); only that hash leaves the machine. Requests and responses are
//! encoded with `x509-tsp`; the token's CMS signature is checked with OpenSSL
//! against the service certificate the administration configured – only that
//! certificate can be the signer (certificates inside the token are ignored).
//! The first part of this module is pure; [`fetch`] is the one HTTP exchange.

use std::time::Duration;

use cms::cert::x509::spki::AlgorithmIdentifier;
use der::asn1::{Int, OctetString};
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode};
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::stack::Stack;
use openssl::x509::X509;
use sha2::{Digest, Sha256};
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

/// The service's address (setting).
pub const SERVICE_SETTING: &str = "protokoll.zeitstempel.dienst";
/// The service's signing certificate, PEM (setting).
pub const CERT_SETTING: &str = "protokoll.zeitstempel.zertifikat";

/// id-sha256 (RFC 5754).
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// A response larger than this is no time stamp.
const MAX_RESPONSE: usize = 256 * 1024;

/// What the service is asked to sign for entry `seq` with hash `hash`.
pub fn imprint(seq: i64, hash: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"amtsstube/protokoll-zeitstempel/v1\0");
    h.update(seq.to_be_bytes());
    h.update(hash.as_bytes());
    h.finalize().into()
}

/// A nonce whose DER INTEGER is positive and minimal (first byte 0x01..=0x7F).
pub fn nonce(random: u64) -> u64 {
    (random & 0x7FFF_FFFF_FFFF_FFFF) | 0x0100_0000_0000_0000
}

/// The DER TimeStampReq for `imprint`, asking for the service's certificate too.
pub fn request(imprint: &[u8; 32], nonce: u64) -> Result<Vec<u8>, String> {
    let encoding = |e: der::Error| format!("Zeitstempel-Anfrage nicht kodierbar: {e}");
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifier {
                oid: SHA256,
                parameters: Some(Any::null()),
            },
            hashed_message: OctetString::new(imprint.to_vec()).map_err(encoding)?,
        },
        req_policy: None,
        nonce: Some(Int::new(&nonce.to_be_bytes()).map_err(encoding)?),
        cert_req: true,
        extensions: None,
    };
    req.to_der().map_err(encoding)
}

/// A time stamp that holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The time the service vouches for (RFC 3339, UTC).
    pub gen_time: String,
    /// The TimeStampToken (DER), to keep.
    pub token: Vec<u8>,
}

/// Check the service's answer to [`request`]: granted, signed by `cert_pem`, for
/// `imprint` and `nonce`.
pub fn check_response(
    response: &[u8],
    imprint: &[u8; 32],
    nonce: u64,
    cert_pem: &str,
) -> Result<Checked, String> {
    let resp = TimeStampResp::from_der(response)
        .map_err(|e| format!("Die Antwort des Zeitstempeldienstes ist unlesbar ({e})."))?;
    let status = resp.status.status as u8;
    if status > 1 {
        let text = resp
            .status
            .status_string
            .as_ref()
            .and_then(|t| t.first().map(|s| s.to_string()))
            .unwrap_or_default();
        return Err(format!(
            "Der Zeitstempeldienst hat abgelehnt (Status {status}{}).",
            if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            }
        ));
    }
    let token = resp
        .time_stamp_token
        .ok_or("Der Zeitstempeldienst hat keinen Zeitstempel geliefert.")?
        .to_der()
        .map_err(|e| format!("Zeitstempel nicht kodierbar: {e}"))?;
    let gen_time = verify_token(&token, imprint, Some(nonce), cert_pem)?;
    Ok(Checked { gen_time, token })
}

/// Check a kept token: signed by `cert_pem` (no other signer), for `imprint` (and
/// `nonce` if given). Returns the time it vouches for (RFC 3339).
pub fn verify_token(
    token: &[u8],
    imprint: &[u8; 32],
    nonce: Option<u64>,
    cert_pem: &str,
) -> Result<String, String> {
    let cert = X509::from_pem(cert_pem.as_bytes())
        .map_err(|_| "Das Zertifikat des Zeitstempeldienstes ist unlesbar.".to_owned())?;
    let mut certs = Stack::new().map_err(|e| e.to_string())?;
    certs.push(cert).map_err(|e| e.to_string())?;
    let mut info =
        CmsContentInfo::from_der(token).map_err(|_| "Der Zeitstempel ist unlesbar.".to_owned())?;
    let mut content = Vec::new();
    // NOINTERN: only the configured certificate may be the signer; its chain is
    // the administration's choice, so it is not built here.
    info.verify(
        Some(&certs),
        None,
        None,
        Some(&mut content),
        CMSOptions::NOINTERN | CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY,
    )
    .map_err(|_| {
        "Die Signatur passt nicht zum eingerichteten Zertifikat des Zeitstempeldienstes.".to_owned()
    })?;
    let tst = TstInfo::from_der(&content)
        .map_err(|e| format!("Der Inhalt des Zeitstempels ist unlesbar ({e})."))?;
    if tst.message_imprint.hash_algorithm.oid != SHA256
        || tst.message_imprint.hashed_message.as_bytes() != imprint
    {
        return Err("Der Zeitstempel gilt für einen anderen Stand des Protokolls.".into());
    }
    if let Some(n) = nonce
        && tst.nonce.as_ref().map(Int::as_bytes) != Some(&n.to_be_bytes()[..])
    {
        return Err("Der Zeitstempel antwortet nicht auf diese Anfrage (Nonce).".into());
    }
    let secs = tst.gen_time.to_unix_duration().as_secs();
    let at = jiff::Timestamp::from_second(secs as i64)
        .map_err(|e| format!("Zeit des Zeitstempels ungültig: {e}"))?;
    Ok(at.to_string())
}

/// Check the address the administration enters: http or https, a host, nothing else.
pub fn parse_service(url: &str) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|_| format!("„{url}“ ist keine gültige Adresse eines Zeitstempeldienstes."))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "„{url}“: Ein Zeitstempeldienst wird über http:// oder https:// erreicht."
        ));
    }
    Ok(parsed)
}

/// One exchange with the service (RFC 3161 over HTTP): the DER response, bounded.
pub async fn fetch(service: &str, request: Vec<u8>) -> Result<Vec<u8>, String> {
    let url = parse_service(service)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| e.to_string())?;
    let unreachable =
        |e: reqwest::Error| format!("Der Zeitstempeldienst ist nicht erreichbar ({e}).");
    let mut resp = client
        .post(url)
        .header("Content-Type", "application/timestamp-query")
        .body(request)
        .send()
        .await
        .map_err(unreachable)?;
    if !resp.status().is_success() {
        return Err(format!(
            "Der Zeitstempeldienst antwortet mit HTTP {}.",
            resp.status().as_u16()
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_RESPONSE {
            return Err("Die Antwort des Zeitstempeldienstes ist zu groß.".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_der_with_the_imprint_and_a_positive_nonce() -> Result<(), String> {
        let imprint = imprint(7, "ab");
        let n = nonce(u64::MAX);
        assert_eq!(n.to_be_bytes()[0], 0x7F);
        assert_eq!(nonce(0).to_be_bytes()[0], 0x01);
        let der = request(&imprint, n)?;
        let back = TimeStampReq::from_der(&der).map_err(|e| e.to_string())?;
        assert_eq!(back.message_imprint.hashed_message.as_bytes(), &imprint[..]);
        assert_eq!(back.message_imprint.hash_algorithm.oid, SHA256);
        assert!(back.cert_req);
        assert_eq!(
            back.nonce.as_ref().map(Int::as_bytes),
            Some(&n.to_be_bytes()[..])
        );
        assert_ne!(imprint, super::imprint(7, "ac"));
        assert_ne!(imprint, super::imprint(8, "ab"));
        Ok(())
    }

    #[test]
    fn garbage_is_refused_in_german() {
        let imprint = imprint(1, "x");
        let err = check_response(b"kein DER", &imprint, nonce(1), "").unwrap_err();
        assert!(err.contains("unlesbar"), "{err}");
        let err = verify_token(b"\x30\x03\x02\x01\x01", &imprint, None, "kein PEM").unwrap_err();
        assert!(err.contains("Zertifikat"), "{err}");
        assert!(parse_service("ftp://tsa.example").is_err());
        assert!(parse_service("kein url").is_err());
        assert!(parse_service("http://tsa.example/tsr").is_ok());
    }
}
