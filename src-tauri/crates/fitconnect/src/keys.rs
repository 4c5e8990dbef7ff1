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
use openssl::x509::{X509, X509NameBuilder};
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
        let mut b = X509::builder()?;
        b.set_version(2)?;
        let sn = serial()?;
        b.set_serial_number(&sn)?;
        let subject = name(kid)?;
        b.set_subject_name(&subject)?;
        b.set_issuer_name(self.root.subject_name())?;
        b.set_pubkey(&key)?;
        let from = Asn1Time::days_from_now(0)?;
        b.set_not_before(&from)?;
        let until = Asn1Time::days_from_now(825)?;
        b.set_not_after(&until)?;
        let ku = match usage {
            KeyUse::Encryption => KeyUsage::new().critical().key_encipherment().build()?,
            KeyUse::Signature => KeyUsage::new().critical().digital_signature().build()?,
        };
        b.append_extension(ku)?;
        b.sign(&self.root_key, MessageDigest::sha512())?;
        let leaf = b.build();
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
