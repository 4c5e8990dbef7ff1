//! Hostile files, each checked in a process of its own so that its peak memory
//! (VmHWM) is its own: time and peak memory per file, and what the check said.
//! `make bench`; the same files are refused in the unit tests (`scan/tests/intake.rs`,
//! `fitconnect/tests/crypto.rs`).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

type BoxError = Box<dyn std::error::Error>;

#[path = "../hostile.rs"]
mod hostile;
use hostile::{page_objects, pdf_nested, pdf_object_stream_bomb, pdf_of, tiff_claiming};

fn zip_jwe() -> Result<String, BoxError> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let pki = fitconnect::keys::TestPki::new(4096)?;
    let key = pki.issue("bombe-enc-001", fitconnect::keys::KeyUse::Encryption, 4096)?;
    let payload = vec![0x5a; 4 * 1024 * 1024];
    let token = fitconnect::jwe::encrypt(&payload, "application/json", &key.public)?;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[0])?)?;
    header.insert("zip".into(), "DEF".into());
    parts[0] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
    let pem = String::from_utf8(key.private_pem()?)?;
    Ok(serde_json::to_string(&serde_json::json!({
        "token": parts.join("."),
        "public": key.public,
        "pem": pem,
    }))?)
}

fn vm_hwm_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// In the child: check one file, print "ms;peak MB;answer".
fn check(kind: &str, path: &Path) -> Result<(), BoxError> {
    let started = Instant::now();
    let answer = match kind {
        "intake" => match scan::inspect_file(path) {
            Ok(i) => format!("angenommen ({} Seiten)", i.pages),
            Err(r) => format!("abgelehnt: {r}"),
        },
        "vorschau" => match scan::preview::tiff_page_png(&std::fs::read(path)?, 1) {
            Ok(png) => format!("Vorschau mit {} Bytes", png.len()),
            Err(e) => format!("abgelehnt: {e}"),
        },
        "jwe" => {
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
            let public: fitconnect::keys::PublicJwk = serde_json::from_value(v["public"].clone())?;
            let pem = v["pem"].as_str().ok_or("pem")?;
            let key = fitconnect::keys::KeyPair::from_pem(public, pem.as_bytes())?;
            let token = v["token"].as_str().ok_or("token")?;
            match fitconnect::jwe::decrypt(token, &key, &fitconnect::Part::Data, None) {
                Ok(_) => "entschlüsselt".into(),
                Err(e) => format!("abgelehnt: {e}"),
            }
        }
        other => return Err(format!("unbekannte Prüfung {other}").into()),
    };
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    println!("{ms:.1};{:.0};{}", vm_hwm_mb(), answer.replace(';', ","));
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--pruefe") {
        let (kind, path) = (
            args.get(i + 1).ok_or("kind")?,
            args.get(i + 2).ok_or("path")?,
        );
        return check(kind, Path::new(path));
    }
    let tmp = tempfile::tempdir()?;
    let real_pdf = pdf_of(&page_objects());
    let mut tiff_page = Vec::new();
    {
        let mut enc = tiff::encoder::TiffEncoder::new(std::io::Cursor::new(&mut tiff_page))?;
        enc.write_image::<tiff::encoder::colortype::Gray8>(2480, 3508, &vec![255u8; 2480 * 3508])?;
    }
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    jpeg.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    jpeg.extend_from_slice(&[0xAB; 4096]);
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, 1000, 1000);
        enc.set_color(png::ColorType::Grayscale);
        enc.write_header()?
            .write_image_data(&vec![200u8; 1_000_000])?;
    }
    let half = |b: &[u8]| b[..b.len() / 2].to_vec();
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "CCITT-TIFF, 100.000 × 100.000 Bildpunkte angegeben",
            "intake",
            tiff_claiming(100_000, 100_000),
        ),
        (
            "dieselbe Datei in der Vorschau",
            "vorschau",
            tiff_claiming(100_000, 100_000),
        ),
        (
            "CCITT-TIFF, 1 × 268.000.000 Bildpunkte angegeben",
            "intake",
            tiff_claiming(1, 268_000_000),
        ),
        (
            "PDF mit Objektstrom, der sich auf 1 GB entpackt",
            "intake",
            pdf_object_stream_bomb(1 << 30),
        ),
        (
            "PDF mit 100.000-fach geschachteltem Array",
            "intake",
            pdf_nested(100_000),
        ),
        (
            "PDF, abgeschnitten (halbe Datei)",
            "intake",
            half(&real_pdf),
        ),
        ("TIFF A4 300 dpi, abgeschnitten", "intake", half(&tiff_page)),
        ("JPEG ohne Ende (EOI fehlt)", "intake", jpeg),
        ("PNG, abgeschnitten", "intake", half(&png_bytes)),
        (
            "zum Vergleich: TIFF A4 300 dpi, vollständig",
            "intake",
            tiff_page.clone(),
        ),
        (
            "zum Vergleich: dieselbe Seite in der Vorschau",
            "vorschau",
            tiff_page,
        ),
        (
            "JWE mit \"zip\":\"DEF\" (4 MB)",
            "jwe",
            zip_jwe()?.into_bytes(),
        ),
    ];
    let exe = std::env::current_exe()?;
    println!("| Datei | Größe | Prüfung | Zeit | Spitzenspeicher des Prozesses | Ergebnis |");
    println!("|---|---|---|---|---|---|");
    for (i, (what, kind, bytes)) in cases.iter().enumerate() {
        let path = tmp.path().join(format!("fall-{i}"));
        std::fs::File::create(&path)?.write_all(bytes)?;
        let out = std::process::Command::new(&exe)
            .args(["--pruefe", kind, &path.to_string_lossy()])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut fields = text.trim().splitn(3, ';');
        let (ms, mb, answer) = (
            fields.next().unwrap_or("-"),
            fields.next().unwrap_or("-"),
            fields.next().unwrap_or("(abgestürzt)"),
        );
        let answer: String = answer.chars().take(90).collect();
        let size = if bytes.len() >= 1 << 20 {
            format!("{:.1} MB", bytes.len() as f64 / (1 << 20) as f64)
        } else {
            format!("{} B", bytes.len())
        };
        println!(
            "| {what} | {size} | {kind} | {ms} ms | {mb} MB | {answer}{} |",
            if out.status.success() {
                ""
            } else {
                " (Prozess beendet)"
            }
        );
    }
    Ok(())
}
