//! RSA keys as FIT-Connect uses them: 4096-bit, published as JWK with the
//! certificate chain in `x5c`; `wrapKey`/`RSA-OAEP-256` for encryption and
//! `verify`/`PS512` for signatures. Key generation and the test PKI use OpenSSL.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509, X509NameBuilder, X509Req, X509ReqBuilder};
use serde::{Deserialize, Serialize};

use crate::error::KeyError;

/// Minimum length of the base64url modulus of a 4096-bit key (FIT-Connect rule).
pub const MIN_MODULUS_CHARS: usize = 683;

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Encrypt to it (`wrapKey`, `RSA-OAEP-256`).
    Encryption,
    /// Verify signatures with it (`verify`, `PS512`).
    Signature,
}

impl KeyUse {
    fn alg(self) -> &'static str {
        match self {
            KeyUse::Encryption => "RSA-OAEP-256",
            KeyUse::Signature => "PS512",
        }
    }
    fn key_op(self) -> &'static str {
        match self {
            KeyUse::Encryption => "wrapKey",
            KeyUse::Signature => "verify",
        }
    }
}

/// A public key as published (the `JWK` schema of the Submission API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kty: String,
    pub key_ops: Vec<String>,
    pub alg: String,
    pub x5c: Vec<String>,
    pub kid: String,
    pub n: String,
    pub e: String,
}

impl PublicJwk {
    /// Check the FIT-Connect rules for a key of the given use.
    pub fn validate(&self, usage: KeyUse) -> Result<(), KeyError> {
        let bad = |why: &str| Err(KeyError::Invalid(format!("Schlüssel {}: {why}", self.kid)));
        if self.kty != "RSA" {
            return bad("kein RSA-Schlüssel");
        }
        if self.alg != usage.alg() {
            return bad(&format!("Algorithmus {} statt {}", self.alg, usage.alg()));
        }
        if self.key_ops != [usage.key_op()] {
            return bad(&format!("key_ops muss [{}] sein", usage.key_op()));
        }
        if !(8..=64).contains(&self.kid.len()) {
            return bad("kid muss 8 bis 64 Zeichen lang sein");
        }
        if self.n.len() < MIN_MODULUS_CHARS {
            return bad("Schlüssel kürzer als 4096 Bit");
        }
        if self.e != "AQAB" {
            return bad("Exponent muss 65537 (AQAB) sein");
        }
        if self.x5c.is_empty() {
            return bad("Zertifikatskette (x5c) fehlt");
        }
        self.check_leaf_matches()
    }

    /// The first certificate in `x5c` must carry exactly this public key.
    fn check_leaf_matches(&self) -> Result<(), KeyError> {
        let leaf = self.certificate(0)?;
        let key = leaf
            .public_key()
            .and_then(|k| k.rsa())
            .map_err(|e| KeyError::Invalid(format!("Zertifikat unlesbar: {e}")))?;
        let n = URL_SAFE_NO_PAD.encode(key.n().to_vec());
        let e = URL_SAFE_NO_PAD.encode(key.e().to_vec());
        if n != self.n || e != self.e {
            return Err(KeyError::Invalid(format!(
                "Schlüssel {}: Zertifikat passt nicht zum Schlüssel",
                self.kid
            )));
        }
        Ok(())
    }

    fn certificate(&self, i: usize) -> Result<X509, KeyError> {
        let der = self
            .x5c
            .get(i)
            .ok_or_else(|| KeyError::Invalid("Zertifikat fehlt".into()))
            .and_then(|b64| {
                STANDARD
                    .decode(b64)
                    .map_err(|e| KeyError::Invalid(format!("x5c: {e}")))
            })?;
        X509::from_der(&der).map_err(|e| KeyError::Invalid(format!("x5c: {e}")))
    }

    /// Verify the chain in `x5c`: each certificate is signed by the next, and the
    /// last one is signed by one of `trusted_roots` (or is one of them).
    pub fn verify_chain(&self, trusted_roots: &[X509]) -> Result<(), KeyError> {
        let certs = (0..self.x5c.len())
            .map(|i| self.certificate(i))
            .collect::<Result<Vec<_>, _>>()?;
        for pair in certs.windows(2) {
            let issuer_key = pair[1]
                .public_key()
                .map_err(|e| KeyError::Invalid(e.to_string()))?;
            if !pair[0].verify(&issuer_key).unwrap_or(false) {
                return Err(KeyError::Untrusted(self.kid.clone()));
            }
        }
        let last = certs
            .last()
            .ok_or_else(|| KeyError::Invalid("x5c leer".into()))?;
        let last_der = last
            .to_der()
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        let trusted = trusted_roots.iter().any(|root| {
            root.to_der().is_ok_and(|d| d == last_der)
                || root
                    .public_key()
                    .is_ok_and(|k| last.verify(&k).unwrap_or(false))
        });
        if trusted {
            Ok(())
        } else {
            Err(KeyError::Untrusted(self.kid.clone()))
        }
    }

    pub(crate) fn to_josekit(&self) -> Result<josekit::jwk::Jwk, KeyError> {
        // josekit checks key_ops against its own operation names; FIT-Connect's
        // `wrapKey`/`verify` are fine for what we do, so import without them.
        let mut map = serde_json::Map::new();
        map.insert("kty".into(), self.kty.clone().into());
        map.insert("kid".into(), self.kid.clone().into());
        map.insert("n".into(), self.n.clone().into());
        map.insert("e".into(), self.e.clone().into());
        josekit::jwk::Jwk::from_map(map).map_err(|e| KeyError::Invalid(e.to_string()))
    }
}

/// A private key with its published counterpart.
pub struct KeyPair {
    pub public: PublicJwk,
    private: PKey<Private>,
    /// Prepared once: importing a 4096-bit key costs about as much as using it.
    decrypter: std::sync::OnceLock<Result<josekit::jwe::alg::rsaes::RsaesJweDecrypter, String>>,
    signer: std::sync::OnceLock<Result<josekit::jws::alg::rsassa_pss::RsassaPssJwsSigner, String>>,
}

impl KeyPair {
    /// PKCS#8 PEM of the private key (to store encrypted, e.g. in the store).
    pub fn private_pem(&self) -> Result<Vec<u8>, KeyError> {
        self.private
            .private_key_to_pem_pkcs8()
            .map_err(|e| KeyError::Invalid(e.to_string()))
    }

    pub fn from_pem(public: PublicJwk, pem: &[u8]) -> Result<Self, KeyError> {
        let private = PKey::private_key_from_pem(pem)
            .map_err(|e| KeyError::Invalid(format!("privater Schlüssel: {e}")))?;
        Ok(KeyPair::new(public, private))
    }

    fn new(public: PublicJwk, private: PKey<Private>) -> Self {
        KeyPair {
            public,
            private,
            decrypter: std::sync::OnceLock::new(),
            signer: std::sync::OnceLock::new(),
        }
    }

    /// The RSA-OAEP-256 decrypter for this key, built on first use.
    pub(crate) fn decrypter(&self) -> Result<&josekit::jwe::alg::rsaes::RsaesJweDecrypter, String> {
        self.decrypter
            .get_or_init(|| {
                let der = self
                    .private
                    .private_key_to_der()
                    .map_err(|e| e.to_string())?;
                josekit::jwe::RSA_OAEP_256
                    .decrypter_from_der(der)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The PS512 signer for this key, built on first use.
    pub(crate) fn signer(
        &self,
    ) -> Result<&josekit::jws::alg::rsassa_pss::RsassaPssJwsSigner, String> {
        self.signer
            .get_or_init(|| {
                let der = self
                    .private
                    .private_key_to_der()
                    .map_err(|e| e.to_string())?;
                josekit::jws::PS512
                    .signer_from_der(der)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    pub fn kid(&self) -> &str {
        &self.public.kid
    }
}

/// Who asks for the certificates of a destination's keys (the subject of the
/// requests): the authority, optionally its unit, its seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSubject {
    pub organisation: String,
    pub unit: String,
    pub locality: String,
}

/// A new key waiting for its certificate: the private key (PKCS#8 PEM, to keep
/// encrypted) and the certificate signing request (PKCS#10 PEM) for the Land's
/// Verwaltungs-PKI.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRequest {
    pub kid: String,
    pub private_pem: String,
    pub csr_pem: String,
}

impl std::fmt::Debug for KeyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRequest")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The size FIT-Connect requires.
pub const KEY_BITS: u32 = 4096;

/// A new RSA key of [`KEY_BITS`] for `usage` and its certificate signing request:
/// subject C=DE, O, OU (if given), L and a CN naming the use; signed with the key
/// itself (SHA-512). `kid` is the key's name in the JWK (8 to 64 characters).
pub fn request_key(
    subject: &RequestSubject,
    usage: KeyUse,
    kid: &str,
) -> Result<KeyRequest, KeyError> {
    request_key_bits(subject, usage, kid, KEY_BITS)
}

fn request_key_bits(
    subject: &RequestSubject,
    usage: KeyUse,
    kid: &str,
    bits: u32,
) -> Result<KeyRequest, KeyError> {
    let fail = |e: openssl::error::ErrorStack| KeyError::Invalid(e.to_string());
    if !(8..=64).contains(&kid.len())
        || !kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(KeyError::Invalid(format!(
            "Schlüsselname „{kid}“: 8 bis 64 Buchstaben, Ziffern oder Bindestriche"
        )));
    }
    let organisation = subject.organisation.trim();
    if organisation.is_empty() || organisation.chars().count() > 64 {
        return Err(KeyError::Invalid(
            "Für den Zertifikatsantrag fehlt der Name der Behörde (höchstens 64 Zeichen).".into(),
        ));
    }
    let key = PKey::from_rsa(Rsa::generate(bits).map_err(fail)?).map_err(fail)?;
    let build = || -> Result<X509Req, openssl::error::ErrorStack> {
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("C", "DE")?;
        name.append_entry_by_text("O", organisation)?;
        let unit = subject.unit.trim();
        if !unit.is_empty() {
            name.append_entry_by_text("OU", &unit.chars().take(64).collect::<String>())?;
        }
        let locality = subject.locality.trim();
        if !locality.is_empty() {
            name.append_entry_by_text("L", &locality.chars().take(64).collect::<String>())?;
        }
        let cn = match usage {
            KeyUse::Encryption => "FIT-Connect Verschluesselung",
            KeyUse::Signature => "FIT-Connect Signatur",
        };
        name.append_entry_by_text("CN", &format!("{cn} {kid}"))?;
        let name = name.build();
        let mut req = X509ReqBuilder::new()?;
        req.set_version(0)?;
        req.set_subject_name(&name)?;
        req.set_pubkey(&key)?;
        req.sign(&key, MessageDigest::sha512())?;
        Ok(req.build())
    };
    let req = build().map_err(fail)?;
    let pem = |b: Vec<u8>| String::from_utf8(b).map_err(|e| KeyError::Invalid(e.to_string()));
    Ok(KeyRequest {
        kid: kid.to_owned(),
        private_pem: pem(key.private_key_to_pem_pkcs8().map_err(fail)?)?,
        csr_pem: pem(req.to_pem().map_err(fail)?)?,
    })
}

/// The published key for `request` once the PKI has certified it: `chain_pem` holds
/// the certificates the PKI returned (leaf, intermediates, root; any order). The
/// leaf must carry this very key and be valid now; the chain is put in order (leaf
/// first) and each certificate must be signed by the next; the result passes
/// [`PublicJwk::validate`]. German reasons for every refusal.
pub fn certified_key(
    request: &KeyRequest,
    usage: KeyUse,
    chain_pem: &str,
) -> Result<PublicJwk, KeyError> {
    let bad = |why: String| KeyError::Invalid(why);
    let key = PKey::private_key_from_pem(request.private_pem.as_bytes())
        .and_then(|k| k.rsa())
        .map_err(|e| bad(format!("privater Schlüssel unlesbar: {e}")))?;
    let mut certs = X509::stack_from_pem(chain_pem.as_bytes())
        .map_err(|_| bad("Die Datei enthält keine lesbaren Zertifikate (PEM erwartet).".into()))?;
    if certs.is_empty() || certs.len() > 10 {
        return Err(bad(
            "Die Datei enthält keine oder zu viele Zertifikate.".into()
        ));
    }
    let same_key = |c: &X509| {
        c.public_key()
            .and_then(|k| k.rsa())
            .is_ok_and(|r| r.n() == key.n() && r.e() == key.e())
    };
    let leaf_at = certs.iter().position(same_key).ok_or_else(|| {
        bad(format!(
            "Kein Zertifikat in der Datei gehört zum Schlüssel „{}“ (falscher Antrag?).",
            request.kid
        ))
    })?;
    let mut chain = vec![certs.remove(leaf_at)];
    // Each next one is the issuer of the last.
    while !certs.is_empty() {
        let Some(last) = chain.last() else { break };
        let next = certs.iter().position(|c| {
            last.issuer_name()
                .try_cmp(c.subject_name())
                .is_ok_and(|o| o == std::cmp::Ordering::Equal)
        });
        match next {
            Some(i) => chain.push(certs.remove(i)),
            None => break,
        }
    }
    let now = Asn1Time::days_from_now(0).map_err(|e| bad(e.to_string()))?;
    if chain[0].not_after() < now || chain[0].not_before() > now {
        return Err(bad(
            "Das Zertifikat ist abgelaufen oder noch nicht gültig.".into()
        ));
    }
    let der = chain
        .iter()
        .map(|c| c.to_der().map(|d| STANDARD.encode(d)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let jwk = PublicJwk {
        kty: "RSA".into(),
        key_ops: vec![usage.key_op().into()],
        alg: usage.alg().into(),
        x5c: der,
        kid: request.kid.clone(),
        n: URL_SAFE_NO_PAD.encode(key.n().to_vec()),
        e: URL_SAFE_NO_PAD.encode(key.e().to_vec()),
    };
    jwk.validate(usage)?;
    // FIT-Connect publishes the whole chain up to the root: it must end in a
    // self-signed certificate, and hold together (the senders check the root
    // against the PKI; here only that it is a chain).
    let root = chain.last().ok_or_else(|| bad("Zertifikat fehlt".into()))?;
    let self_signed = root
        .issuer_name()
        .try_cmp(root.subject_name())
        .is_ok_and(|o| o == std::cmp::Ordering::Equal)
        && root
            .public_key()
            .is_ok_and(|k| root.verify(&k).unwrap_or(false));
    if !self_signed {
        return Err(bad(
            "Die Zertifikatskette endet nicht bei einer Wurzel: bitte die ganze Kette der PKI (bis zum Wurzelzertifikat) einspielen.".into(),
        ));
    }
    jwk.verify_chain(std::slice::from_ref(root))?;
    Ok(jwk)
}

/// A small certificate authority for simulators and tests: a self-signed root that
/// issues 4096-bit leaf keys with the chain in `x5c`.
pub struct TestPki {
    root_key: PKey<Private>,
    pub root: X509,
}

fn name(cn: &str) -> Result<openssl::x509::X509Name, openssl::error::ErrorStack> {
    let mut b = X509NameBuilder::new()?;
    b.append_entry_by_text("C", "DE")?;
    b.append_entry_by_text("O", "Amtsstube Test-PKI")?;
    b.append_entry_by_text("CN", cn)?;
    Ok(b.build())
}

fn serial() -> Result<openssl::asn1::Asn1Integer, openssl::error::ErrorStack> {
    let mut bn = BigNum::new()?;
    bn.rand(128, openssl::bn::MsbOption::MAYBE_ZERO, false)?;
    bn.to_asn1_integer()
}

impl TestPki {
    pub fn new(bits: u32) -> Result<Self, KeyError> {
        Self::build(bits).map_err(|e| KeyError::Invalid(e.to_string()))
    }

    fn build(bits: u32) -> Result<Self, openssl::error::ErrorStack> {
        let root_key = PKey::from_rsa(Rsa::generate(bits)?)?;
        let mut b = X509::builder()?;
        b.set_version(2)?;
        let sn = serial()?;
        b.set_serial_number(&sn)?;
        let n = name("Amtsstube Test-Wurzel")?;
        b.set_subject_name(&n)?;
        b.set_issuer_name(&n)?;
        b.set_pubkey(&root_key)?;
        let from = Asn1Time::days_from_now(0)?;
        b.set_not_before(&from)?;
        let until = Asn1Time::days_from_now(3650)?;
        b.set_not_after(&until)?;
        b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
        b.sign(&root_key, MessageDigest::sha512())?;
        Ok(TestPki {
            root_key,
            root: b.build(),
        })
    }

    /// Certify a certificate signing request as a PKI would: the chain (leaf, root)
    /// as PEM, as it comes back to the town.
    pub fn certify(&self, csr_pem: &str, usage: KeyUse) -> Result<String, KeyError> {
        self.certify_inner(csr_pem, usage)
            .map_err(|e| KeyError::Invalid(e.to_string()))
    }

    fn certify_inner(
        &self,
        csr_pem: &str,
        usage: KeyUse,
    ) -> Result<String, openssl::error::ErrorStack> {
        let req = X509Req::from_pem(csr_pem.as_bytes())?;
        let key = req.public_key()?;
        let mut pem = self.leaf(req.subject_name(), &key, usage)?.to_pem()?;
        pem.extend(self.root.to_pem()?);
        Ok(String::from_utf8_lossy(&pem).into_owned())
    }

    /// A leaf certificate for `key`, issued by the root for `usage`.
    fn leaf<T: openssl::pkey::HasPublic>(
        &self,
        subject: &openssl::x509::X509NameRef,
        key: &openssl::pkey::PKeyRef<T>,
        usage: KeyUse,
    ) -> Result<X509, openssl::error::ErrorStack> {
        let mut b = X509::builder()?;
        b.set_version(2)?;
        let sn = serial()?;
        b.set_serial_number(&sn)?;
        b.set_subject_name(subject)?;
        b.set_issuer_name(self.root.subject_name())?;
        b.set_pubkey(key)?;
        // Valid from an hour ago, as CAs backdate against clock skew.
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let from = Asn1Time::from_unix(since - 3600)?;
        b.set_not_before(&from)?;
        let until = Asn1Time::days_from_now(825)?;
        b.set_not_after(&until)?;
        let ku = match usage {
            KeyUse::Encryption => KeyUsage::new().critical().key_encipherment().build()?,
            KeyUse::Signature => KeyUsage::new().critical().digital_signature().build()?,
        };
        b.append_extension(ku)?;
        b.sign(&self.root_key, MessageDigest::sha512())?;
        Ok(b.build())
    }

    /// A signing key pair with a certificate naming `cn`, as a BPKI would issue it to
    /// a town (for the simulator's fake ZBP bridge and tests): (key PKCS#8 PEM,
    /// certificate PEM).
    pub fn issue_author(&self, cn: &str, bits: u32) -> Result<(String, String), KeyError> {
        let inner = || -> Result<(String, String), openssl::error::ErrorStack> {
            let key = PKey::from_rsa(Rsa::generate(bits)?)?;
            let mut b = X509NameBuilder::new()?;
            b.append_entry_by_text("C", "DE")?;
            b.append_entry_by_text("O", "Amtsstube Test-BPKI")?;
            b.append_entry_by_text("CN", cn)?;
            let leaf = self.leaf(&b.build(), &key, KeyUse::Signature)?;
            Ok((
                String::from_utf8_lossy(&key.private_key_to_pem_pkcs8()?).into_owned(),
                String::from_utf8_lossy(&leaf.to_pem()?).into_owned(),
            ))
        };
        inner().map_err(|e| KeyError::Invalid(e.to_string()))
    }

    /// The root certificate as PEM.
    pub fn root_pem(&self) -> Result<String, KeyError> {
        self.root
            .to_pem()
            .map(|p| String::from_utf8_lossy(&p).into_owned())
            .map_err(|e| KeyError::Invalid(e.to_string()))
    }

    /// Issue a key pair for `usage` with the given `kid`.
    pub fn issue(&self, kid: &str, usage: KeyUse, bits: u32) -> Result<KeyPair, KeyError> {
        self.issue_inner(kid, usage, bits)
            .map_err(|e| KeyError::Invalid(e.to_string()))
    }

    fn issue_inner(
        &self,
        kid: &str,
        usage: KeyUse,
        bits: u32,
    ) -> Result<KeyPair, openssl::error::ErrorStack> {
        let rsa = Rsa::generate(bits)?;
        let n = URL_SAFE_NO_PAD.encode(rsa.n().to_vec());
        let e = URL_SAFE_NO_PAD.encode(rsa.e().to_vec());
        let key = PKey::from_rsa(rsa)?;
        let subject = name(kid)?;
        let leaf = self.leaf(&subject, &key, usage)?;
        let public = PublicJwk {
            kty: "RSA".into(),
            key_ops: vec![usage.key_op().into()],
            alg: usage.alg().into(),
            x5c: vec![
                STANDARD.encode(leaf.to_der()?),
                STANDARD.encode(self.root.to_der()?),
            ],
            kid: kid.into(),
            n,
            e,
        };
        Ok(KeyPair::new(public, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> RequestSubject {
        RequestSubject {
            organisation: "Gemeinde Kleinhausen".into(),
            unit: "Bürgerbüro".into(),
            locality: "Kleinhausen".into(),
        }
    }

    #[test]
    fn a_key_request_comes_back_certified_as_a_valid_published_key() -> Result<(), KeyError> {
        let request = request_key(&subject(), KeyUse::Encryption, "amtsstube-enc-1a2b3c4d")?;
        // The request as the PKI sees it: signed by the key, the subject named.
        let csr = X509Req::from_pem(request.csr_pem.as_bytes())
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        let public = csr
            .public_key()
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        assert!(csr.verify(&public).unwrap_or(false), "self-signed request");
        assert_eq!(public.bits(), KEY_BITS);
        let subject: Vec<String> = csr
            .subject_name()
            .entries()
            .map(|e| e.data().to_string().unwrap_or_default())
            .collect();
        for part in ["DE", "Gemeinde Kleinhausen", "Bürgerbüro", "Kleinhausen"] {
            assert!(subject.iter().any(|s| s == part), "{part}: {subject:?}");
        }
        assert!(
            !format!("{request:?}").contains("PRIVATE"),
            "no key in a debug print"
        );

        let pki = TestPki::new(2048)?;
        let chain = pki.certify(&request.csr_pem, KeyUse::Encryption)?;
        // Any order of the chain is put right.
        let parts: Vec<&str> = chain
            .split_inclusive("-----END CERTIFICATE-----\n")
            .collect();
        let reversed: String = parts.iter().rev().copied().collect();
        for given in [chain.as_str(), reversed.as_str()] {
            let jwk = certified_key(&request, KeyUse::Encryption, given)?;
            assert_eq!(jwk.kid, "amtsstube-enc-1a2b3c4d");
            assert_eq!(
                (jwk.alg.as_str(), jwk.key_ops.as_slice()),
                ("RSA-OAEP-256", &["wrapKey".to_owned()][..])
            );
            assert_eq!(jwk.x5c.len(), 2);
            jwk.verify_chain(std::slice::from_ref(&pki.root))?;
            // Usable: the private key opens what is encrypted to the published one.
            KeyPair::from_pem(jwk, request.private_pem.as_bytes())?;
        }
        Ok(())
    }

    #[test]
    fn wrong_certificates_are_refused_with_a_reason() -> Result<(), KeyError> {
        let request = request_key(&subject(), KeyUse::Signature, "amtsstube-sig-1a2b3c4d")?;
        let other = request_key(&subject(), KeyUse::Signature, "amtsstube-sig-9f8e7d6c")?;
        let pki = TestPki::new(2048)?;
        let foreign = pki.certify(&other.csr_pem, KeyUse::Signature)?;
        let err = certified_key(&request, KeyUse::Signature, &foreign)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("gehört zum Schlüssel"), "{err}");
        for junk in [
            "",
            "kein Zertifikat",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            assert!(
                certified_key(&request, KeyUse::Signature, junk).is_err(),
                "{junk}"
            );
        }
        // A chain whose root did not sign the leaf, and a leaf without its chain.
        let own = pki.certify(&request.csr_pem, KeyUse::Signature)?;
        let leaf = own
            .split_inclusive("-----END CERTIFICATE-----\n")
            .next()
            .unwrap_or_default();
        let stranger = TestPki::new(2048)?;
        let stranger_root = String::from_utf8_lossy(
            &stranger
                .root
                .to_pem()
                .map_err(|e| KeyError::Invalid(e.to_string()))?,
        )
        .into_owned();
        assert!(matches!(
            certified_key(
                &request,
                KeyUse::Signature,
                &format!("{leaf}{stranger_root}")
            ),
            Err(KeyError::Untrusted(_))
        ));
        let alone = certified_key(&request, KeyUse::Signature, leaf)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(alone.contains("endet nicht bei einer Wurzel"), "{alone}");
        // Names and subjects that do not fit.
        assert!(request_key(&subject(), KeyUse::Signature, "kurz").is_err());
        assert!(
            request_key(
                &RequestSubject {
                    organisation: " ".into(),
                    ..subject()
                },
                KeyUse::Signature,
                "amtsstube-sig-00000000"
            )
            .is_err()
        );
        Ok(())
    }
}
