//! Evidence of a scan product under TR-RESISCAN: the Transfervermerk as XML after the
//! DRV structure, bound to the product by its hash; an electronic seal over product and
//! Transfervermerk (a software key for now, behind the [`Sealer`] trait so that a
//! PKCS#11 seal card or a remote seal can take its place); the verifier that names
//! what was tampered with; and the seven-condition gate for destroying the paper.

use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private, Public};
use openssl::sign::{Signer, Verifier};
use quick_xml::escape::escape;
use sha2::{Digest, Sha256, Sha512};

/// An organisation (DRV `OrganisationTyp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub name: String,
    pub ort: String,
    pub einheit: String,
}

/// The scanning procedure (DRV `VerfahrenTyp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verfahren {
    pub bezeichnung: String,
    pub auspraegung: String,
    pub version: String,
    /// Release date, YYYY-MM-DD.
    pub stand: String,
    pub pfleger: Organisation,
}

/// A name/value; `auffaelligkeit` marks anomalies (DRV `AttributTyp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribut {
    pub name: String,
    pub wert: String,
    pub auffaelligkeit: bool,
}

/// A relevant process step: scanning, blank-page removal, building the product,
/// indexing, QA (DRV `ProzessschrittTyp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prozessschritt {
    pub name: String,
    /// RFC 3339.
    pub zeitpunkt: String,
    /// Person (pseudonym), unit or "Serverdienst".
    pub durchfuehrung: String,
    pub it_system: String,
    pub attribute: Vec<Attribut>,
}

/// The Transfervermerk of one scan product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfervermerk {
    pub erstellt: String,
    pub auftragnehmer: Organisation,
    pub stapel: String,
    pub stapel_erstellt: String,
    pub verfahren: Verfahren,
    /// e.g. "Abbild 5 bis 9 von 201".
    pub position: String,
    pub schritte: Vec<Prozessschritt>,
    pub seiten: u32,
    /// Index data and anomalies of the document.
    pub attribute: Vec<Attribut>,
    /// SHA-256 of the scan product (hex): the binding.
    pub produkt_sha256: String,
    /// SHA-512 of the scan product (hex), for long-term evidence.
    pub produkt_sha512: String,
}

pub const STATEMENT: &str =
    "Das Scanprodukt stimmt bildlich und inhaltlich mit dem Original überein.";

fn org(out: &mut String, tag: &str, o: &Organisation) {
    out.push_str(&format!(
        "  <{tag}><Name>{}</Name><Ort>{}</Ort><Organisationseinheit>{}</Organisationseinheit></{tag}>\n",
        escape(&o.name),
        escape(&o.ort),
        escape(&o.einheit)
    ));
}

fn attributes(out: &mut String, indent: &str, attrs: &[Attribut]) {
    if attrs.is_empty() {
        return;
    }
    out.push_str(&format!("{indent}<Attribute>\n"));
    for a in attrs {
        out.push_str(&format!(
            "{indent}  <Attribut name=\"{}\" auffaelligkeit=\"{}\">{}</Attribut>\n",
            escape(&a.name),
            a.auffaelligkeit,
            escape(&a.wert)
        ));
    }
    out.push_str(&format!("{indent}</Attribute>\n"));
}

impl Transfervermerk {
    /// Hashes of a product, for [`Transfervermerk::produkt_sha256`] and `_sha512`.
    pub fn hashes(product: &[u8]) -> (String, String) {
        (
            hex::encode(Sha256::digest(product)),
            hex::encode(Sha512::digest(product)),
        )
    }

    /// The same, read from a stream in chunks (a product is never held whole). The
    /// stream (the vault decrypting) and SHA-256 run on this thread, SHA-512 beside
    /// it on a second one – the slowest of the three, so the two cores of a desk PC
    /// work at once; at most a few chunks are in flight.
    pub fn hashes_from(mut product: impl std::io::Read) -> std::io::Result<(String, String)> {
        use std::sync::mpsc::sync_channel;
        const CHUNK: usize = 256 * 1024;
        let (full_tx, full_rx) = sync_channel::<(Vec<u8>, usize)>(3);
        let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(4);
        std::thread::scope(|s| {
            let sha512 = s.spawn(move || {
                let mut b = Sha512::new();
                for (buf, n) in full_rx {
                    b.update(&buf[..n]);
                    // The reader may have stopped (an error): the buffer is dropped.
                    let _ = empty_tx.try_send(buf);
                }
                hex::encode(b.finalize())
            });
            let mut a = Sha256::new();
            let read = (|| {
                loop {
                    let mut buf = empty_rx.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
                    let n = loop {
                        match product.read(&mut buf) {
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            other => break other?,
                        }
                    };
                    if n == 0 {
                        return Ok(());
                    }
                    a.update(&buf[..n]);
                    if full_tx.send((buf, n)).is_err() {
                        return Err(std::io::Error::other("SHA-512 abgebrochen"));
                    }
                }
            })();
            // Closing the channel ends the SHA-512 thread.
            drop(full_tx);
            let sha512 = sha512
                .join()
                .map_err(|_| std::io::Error::other("SHA-512 abgebrochen"))?;
            read.map(|()| (hex::encode(a.finalize()), sha512))
        })
    }

    /// The XML (UTF-8), fields escaped.
    pub fn to_xml(&self) -> String {
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.push_str(&format!(
            "<Transfervermerk erstellt=\"{}\" technischeRichtlinie=\"BSI TR-03138 (TR-RESISCAN)\">\n",
            escape(&self.erstellt)
        ));
        org(&mut x, "Auftragnehmer", &self.auftragnehmer);
        x.push_str(&format!(
            "  <Dokument>\n    <Seiten>{}</Seiten>\n",
            self.seiten
        ));
        attributes(&mut x, "    ", &self.attribute);
        x.push_str(&format!(
            "    <Pruefsumme algorithmus=\"SHA-256\">{}</Pruefsumme>\n    <Pruefsumme algorithmus=\"SHA-512\">{}</Pruefsumme>\n",
            self.produkt_sha256, self.produkt_sha512
        ));
        x.push_str(&format!(
            "    <Uebereinstimmung>{}</Uebereinstimmung>\n  </Dokument>\n",
            escape(STATEMENT)
        ));
        x.push_str(&format!(
            "  <Stapel name=\"{}\" erstellt=\"{}\">\n",
            escape(&self.stapel),
            escape(&self.stapel_erstellt)
        ));
        let v = &self.verfahren;
        x.push_str(&format!(
            "    <Verfahren><Bezeichnung>{}</Bezeichnung><Auspraegung>{}</Auspraegung><Version>{}</Version><Stand>{}</Stand>\n",
            escape(&v.bezeichnung),
            escape(&v.auspraegung),
            escape(&v.version),
            escape(&v.stand)
        ));
        x.push_str("  ");
        org(&mut x, "Pfleger", &v.pfleger);
        x.push_str("    </Verfahren>\n");
        x.push_str(&format!(
            "    <PositionDesDokuments>{}</PositionDesDokuments>\n    <Prozessschritte>\n",
            escape(&self.position)
        ));
        for s in &self.schritte {
            x.push_str(&format!(
                "      <Prozessschritt name=\"{}\" zeitpunkt=\"{}\">\n        <Durchfuehrung>{}</Durchfuehrung>\n        <ITSystem>{}</ITSystem>\n",
                escape(&s.name),
                escape(&s.zeitpunkt),
                escape(&s.durchfuehrung),
                escape(&s.it_system)
            ));
            attributes(&mut x, "        ", &s.attribute);
            x.push_str("      </Prozessschritt>\n");
        }
        x.push_str("    </Prozessschritte>\n  </Stapel>\n</Transfervermerk>\n");
        x
    }
}

/// A seal over a scan product and its Transfervermerk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    pub algorithm: String,
    pub key_id: String,
    pub product_sha256: String,
    pub vermerk_sha256: String,
    /// Signature over "product_sha256 \n vermerk_sha256" (hex).
    pub signature: String,
}

fn sealed_data(product_sha256: &str, vermerk_sha256: &str) -> Vec<u8> {
    format!("TR-RESISCAN\n{product_sha256}\n{vermerk_sha256}\n").into_bytes()
}

/// Who seals: the town's seal key. A PKCS#11 card or a remote seal service implements
/// the same trait; an RFC 3161 time stamp can be added by the implementation.
pub trait Sealer {
    fn algorithm(&self) -> &str;
    fn key_id(&self) -> String;
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, EvidenceError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("Siegelschlüssel: {0}")]
    Key(String),
}

/// A software seal key (ECDSA P-256 with SHA-256, as TR-02102-1 recommends), kept in
/// the encrypted store as PEM.
pub struct SoftwareSeal {
    key: PKey<Private>,
}

impl SoftwareSeal {
    pub fn generate() -> Result<Self, EvidenceError> {
        let err = |e: openssl::error::ErrorStack| EvidenceError::Key(e.to_string());
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(err)?;
        let key = PKey::from_ec_key(EcKey::generate(&group).map_err(err)?).map_err(err)?;
        Ok(SoftwareSeal { key })
    }

    pub fn from_pem(pem: &[u8]) -> Result<Self, EvidenceError> {
        PKey::private_key_from_pem(pem)
            .map(|key| SoftwareSeal { key })
            .map_err(|e| EvidenceError::Key(e.to_string()))
    }

    pub fn private_pem(&self) -> Result<Vec<u8>, EvidenceError> {
        self.key
            .private_key_to_pem_pkcs8()
            .map_err(|e| EvidenceError::Key(e.to_string()))
    }

    pub fn public_pem(&self) -> Result<Vec<u8>, EvidenceError> {
        self.key
            .public_key_to_pem()
            .map_err(|e| EvidenceError::Key(e.to_string()))
    }
}

impl Sealer for SoftwareSeal {
    fn algorithm(&self) -> &str {
        "ECDSA-P256-SHA256"
    }

    fn key_id(&self) -> String {
        // DER of an EC key held in memory does not fail; the id is only a label.
        let der = self.key.public_key_to_der().unwrap_or_default();
        hex::encode(&Sha256::digest(der)[..8])
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, EvidenceError> {
        let err = |e: openssl::error::ErrorStack| EvidenceError::Key(e.to_string());
        let mut signer =
            Signer::new(openssl::hash::MessageDigest::sha256(), &self.key).map_err(err)?;
        signer.update(data).map_err(err)?;
        signer.sign_to_vec().map_err(err)
    }
}

/// Seal a product and its Transfervermerk.
pub fn seal(sealer: &dyn Sealer, product: &[u8], vermerk_xml: &str) -> Result<Seal, EvidenceError> {
    seal_hashed(sealer, &hex::encode(Sha256::digest(product)), vermerk_xml)
}

/// Seal a product given by its SHA-256 (hex), e.g. from [`Transfervermerk::hashes_from`].
pub fn seal_hashed(
    sealer: &dyn Sealer,
    product_sha256: &str,
    vermerk_xml: &str,
) -> Result<Seal, EvidenceError> {
    let product_sha256 = product_sha256.to_owned();
    let vermerk_sha256 = hex::encode(Sha256::digest(vermerk_xml.as_bytes()));
    let signature = sealer.sign(&sealed_data(&product_sha256, &vermerk_sha256))?;
    Ok(Seal {
        algorithm: sealer.algorithm().to_owned(),
        key_id: sealer.key_id(),
        product_sha256,
        vermerk_sha256,
        signature: hex::encode(signature),
    })
}

/// What the verifier found wrong (German).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tamper {
    #[error("Das Scanprodukt wurde verändert (Prüfsumme stimmt nicht).")]
    Product,
    #[error("Der Transfervermerk wurde verändert (Prüfsumme stimmt nicht).")]
    Vermerk,
    #[error("Der Transfervermerk gehört nicht zu diesem Scanprodukt.")]
    Binding,
    #[error("Das Siegel ist ungültig.")]
    Seal,
}

/// Check product, Transfervermerk and seal against each other.
pub fn verify(
    product: &[u8],
    vermerk_xml: &str,
    s: &Seal,
    public_pem: &[u8],
) -> Result<(), Tamper> {
    verify_hashed(
        &hex::encode(Sha256::digest(product)),
        vermerk_xml,
        s,
        public_pem,
    )
}

/// The same for a product given by the SHA-256 (hex) computed from its bytes now.
pub fn verify_hashed(
    product_sha256: &str,
    vermerk_xml: &str,
    s: &Seal,
    public_pem: &[u8],
) -> Result<(), Tamper> {
    if product_sha256 != s.product_sha256 {
        return Err(Tamper::Product);
    }
    if hex::encode(Sha256::digest(vermerk_xml.as_bytes())) != s.vermerk_sha256 {
        return Err(Tamper::Vermerk);
    }
    if !vermerk_xml.contains(&format!(
        "<Pruefsumme algorithmus=\"SHA-256\">{}</Pruefsumme>",
        s.product_sha256
    )) {
        return Err(Tamper::Binding);
    }
    let key: PKey<Public> = PKey::public_key_from_pem(public_pem).map_err(|_| Tamper::Seal)?;
    let signature = hex::decode(&s.signature).map_err(|_| Tamper::Seal)?;
    let mut verifier =
        Verifier::new(openssl::hash::MessageDigest::sha256(), &key).map_err(|_| Tamper::Seal)?;
    verifier
        .update(&sealed_data(&s.product_sha256, &s.vermerk_sha256))
        .map_err(|_| Tamper::Seal)?;
    match verifier.verify(&signature) {
        Ok(true) => Ok(()),
        _ => Err(Tamper::Seal),
    }
}

/// How a document class may be scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ersetzend,
    Kopierend,
    NichtScannen,
}

/// The facts the destruction gate looks at.
#[derive(Debug, Clone)]
pub struct GateFacts {
    pub mode: Mode,
    /// Open "keep the original" flags (Kopie, Manipulationsverdacht, Rückgabe, …).
    pub keep_original: Vec<String>,
    pub pages_expected: u32,
    pub pages_captured: u32,
    pub qa_passed: bool,
    /// High availability need: a full visual check instead of a sample.
    pub full_check_required: bool,
    pub full_check_done: bool,
    /// Very high integrity need: QA by someone other than the scanner.
    pub four_eyes_required: bool,
    pub scan_user: String,
    pub qa_user: Option<String>,
    /// Transfervermerk generated, sealed, and the verifier found nothing.
    pub evidence_verified: bool,
    /// Handed over to the e-Akte / TR-ESOR with a receipt.
    pub handed_over: bool,
    pub scanned: jiff::civil::Date,
    pub holding_days: i64,
    pub today: jiff::civil::Date,
    pub released_by: Option<String>,
}

/// One of the seven conditions, failed (German reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GateFailure {
    #[error(
        "Die Dokumentklasse ist nicht zum ersetzenden Scannen freigegeben, oder das Original ist aufzubewahren."
    )]
    NotReplaceable,
    #[error("Die Vollständigkeitsprüfung ist nicht bestanden (Seitenzahl weicht ab).")]
    Incomplete,
    #[error("Die Qualitätssicherung ist nicht (vollständig, im Vier-Augen-Prinzip) bestanden.")]
    Qa,
    #[error("Transfervermerk und Siegel sind nicht erzeugt oder nicht erfolgreich geprüft.")]
    Evidence,
    #[error("Das Scanprodukt ist noch nicht an die E-Akte übergeben.")]
    NotHandedOver,
    #[error("Die Aufbewahrungsfrist für das Papier ist noch nicht abgelaufen.")]
    HoldingPeriod,
    #[error("Die Freigabe durch die Fachabteilung fehlt.")]
    NotReleased,
}

/// May the paper be destroyed? Every failed condition is named.
pub fn may_destroy(f: &GateFacts) -> Result<(), Vec<GateFailure>> {
    use jiff::ToSpan;
    let mut failed = Vec::new();
    if f.mode != Mode::Ersetzend || !f.keep_original.is_empty() {
        failed.push(GateFailure::NotReplaceable);
    }
    if f.pages_captured != f.pages_expected || f.pages_expected == 0 {
        failed.push(GateFailure::Incomplete);
    }
    let four_eyes_ok =
        !f.four_eyes_required || f.qa_user.as_deref().is_some_and(|q| q != f.scan_user);
    let full_ok = !f.full_check_required || f.full_check_done;
    if !(f.qa_passed && four_eyes_ok && full_ok) {
        failed.push(GateFailure::Qa);
    }
    if !f.evidence_verified {
        failed.push(GateFailure::Evidence);
    }
    if !f.handed_over {
        failed.push(GateFailure::NotHandedOver);
    }
    let due = f
        .scanned
        .checked_add(f.holding_days.days())
        .unwrap_or(f.today);
    if f.today < due {
        failed.push(GateFailure::HoldingPeriod);
    }
    if f.released_by.as_deref().is_none_or(|r| r.trim().is_empty()) {
        failed.push(GateFailure::NotReleased);
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::Transfervermerk;
    use std::io::Read;

    /// Gives `data` in pieces of `step` bytes, an `Interrupted` before every third
    /// piece, and fails with `fail_at` once that many bytes were given.
    struct Pieces {
        data: Vec<u8>,
        at: usize,
        step: usize,
        calls: usize,
        fail_at: Option<usize>,
    }

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(3) {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            if self.fail_at.is_some_and(|f| self.at >= f) {
                return Err(std::io::Error::other("Datenträger entfernt"));
            }
            let n = self.step.min(buf.len()).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn pieces(len: usize, step: usize, fail_at: Option<usize>) -> Pieces {
        Pieces {
            data: (0..len).map(|i| (i * 7 + i / 251) as u8).collect(),
            at: 0,
            step,
            calls: 0,
            fail_at,
        }
    }

    #[test]
    fn streamed_hashes_equal_those_of_the_whole_product() -> std::io::Result<()> {
        let chunk = 256 * 1024;
        for (len, step) in [
            (0, 1),
            (1, 1),
            (chunk - 1, chunk),
            (chunk, chunk),
            (3 * chunk + 7, chunk),
            (5 * chunk + 3, 10_000),
            (20 * chunk, 2 * chunk),
        ] {
            let p = pieces(len, step, None);
            let whole = Transfervermerk::hashes(&p.data);
            assert_eq!(Transfervermerk::hashes_from(p)?, whole, "{len} / {step}");
        }
        Ok(())
    }

    #[test]
    fn a_read_error_midway_is_returned_not_hashes_of_a_part() {
        let r = Transfervermerk::hashes_from(pieces(4 * 256 * 1024, 100_000, Some(600_000)));
        assert!(
            r.as_ref()
                .is_err_and(|e| e.to_string().contains("Datenträger entfernt")),
            "{r:?}"
        );
    }
}
