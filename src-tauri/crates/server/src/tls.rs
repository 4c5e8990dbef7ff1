//! The office CA and mutual TLS: the server's certificate, the workstations'
//! client certificates signed from their certificate requests, and the rustls
//! configuration that asks every connection for such a certificate (only the
//! enrolment may come without one).

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use time::{Duration, OffsetDateTime};

use crate::error::{Result, ServerError};
use crate::record::sha256_hex;

fn tls_err(e: impl std::fmt::Display) -> ServerError {
    ServerError::Tls(e.to_string())
}

/// The office CA of one town hall (certificate and key as PEM).
pub struct OfficeCa {
    pub cert_pem: String,
    key_pem: String,
}

/// A certificate with its key, as PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl OfficeCa {
    /// A new CA for `town` (ten years).
    pub fn create(town: &str) -> Result<OfficeCa> {
        let key = KeyPair::generate().map_err(tls_err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("Amtsstube Büro-CA {town}"));
        dn.push(DnType::OrganizationName, town);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(3650);
        let cert = params.self_signed(&key).map_err(tls_err)?;
        Ok(OfficeCa {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    pub fn from_pem(cert_pem: String, key_pem: String) -> OfficeCa {
        OfficeCa { cert_pem, key_pem }
    }

    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    fn issuer(&self) -> Result<Issuer<'static, KeyPair>> {
        let key = KeyPair::from_pem(&self.key_pem).map_err(tls_err)?;
        Issuer::from_ca_cert_pem(&self.cert_pem, key).map_err(tls_err)
    }

    /// SHA-256 of the CA certificate (DER), shown with the enrolment code so that a
    /// workstation can check it talks to its own town hall's server.
    pub fn fingerprint(&self) -> Result<String> {
        let der = CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).map_err(tls_err)?;
        Ok(sha256_hex(&der))
    }

    /// The server's own certificate for `names` (host names or IP addresses).
    pub fn server_cert(&self, names: &[String]) -> Result<Issued> {
        let key = KeyPair::generate().map_err(tls_err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
        for n in names {
            params
                .subject_alt_names
                .push(match n.parse::<std::net::IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName(n.clone().try_into().map_err(tls_err)?),
                });
        }
        params
            .distinguished_name
            .push(DnType::CommonName, "Amtsstube Rathaus-Server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(825);
        let cert = params.signed_by(&key, &self.issuer()?).map_err(tls_err)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Sign a workstation's certificate request; the subject becomes its id.
    /// Returns the certificate (PEM) and its fingerprint.
    pub fn sign_request(
        &self,
        csr_pem: &str,
        id: uuid::Uuid,
        days: i64,
    ) -> Result<(String, String)> {
        let now = OffsetDateTime::now_utc();
        self.sign_request_between(
            csr_pem,
            id,
            now - Duration::hours(1),
            now + Duration::days(days),
        )
    }

    /// As [`OfficeCa::sign_request`] with an explicit validity (tests of expired certificates).
    pub fn sign_request_between(
        &self,
        csr_pem: &str,
        id: uuid::Uuid,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<(String, String)> {
        if csr_pem.len() > 16 * 1024 {
            return Err(ServerError::Invalid(
                "Die Zertifikatsanforderung ist zu groß.".into(),
            ));
        }
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| {
            ServerError::Invalid(format!("Die Zertifikatsanforderung ist unlesbar: {e}"))
        })?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("Arbeitsplatz {id}"));
        csr.params.distinguished_name = dn;
        csr.params.subject_alt_names = Vec::new();
        csr.params.is_ca = IsCa::NoCa;
        csr.params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        csr.params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        csr.params.not_before = not_before;
        csr.params.not_after = not_after;
        let cert = csr.signed_by(&self.issuer()?).map_err(tls_err)?;
        Ok((cert.pem(), sha256_hex(cert.der())))
    }

    /// The rustls configuration of the server: its certificate, and client
    /// certificates of this CA asked for (checked for signature and validity here,
    /// for enrolment and revocation against the record by the API).
    pub fn server_config(&self, server: &Issued) -> Result<rustls::ServerConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).map_err(tls_err)?)
            .map_err(tls_err)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .allow_unauthenticated()
            .build()
            .map_err(tls_err)?;
        let chain =
            vec![CertificateDer::from_pem_slice(server.cert_pem.as_bytes()).map_err(tls_err)?];
        let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).map_err(tls_err)?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(tls_err)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// A workstation's key pair and certificate request (the key never leaves it).
pub fn certificate_request(name: &str) -> Result<Issued> {
    let key = KeyPair::generate().map_err(tls_err)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    params.distinguished_name.push(DnType::CommonName, name);
    let csr = params.serialize_request(&key).map_err(tls_err)?;
    Ok(Issued {
        cert_pem: csr.pem().map_err(tls_err)?,
        key_pem: key.serialize_pem(),
    })
}

/// Write a secret file readable by the owner only.
pub fn write_private(path: &Path, content: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(|e| ServerError::file(path, e))?;
    f.write_all(content.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| ServerError::file(path, e))
}
