//! Helpers shared by the letter tests: the PDF tools an archive or printer would use.

use std::path::Path;
use std::process::Command;

/// Run a tool (qpdf, pdftotext, pdffonts, pdftoppm); its output, or an error that says
/// what is missing.
pub fn tool(name: &str, args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let out = Command::new(name).args(args).output().map_err(|e| {
        format!("{name} fehlt ({e}): installer/deps.sh installiert qpdf und poppler-utils")
    })?;
    if !out.status.success() {
        return Err(format!(
            "{name} {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Checks every golden file goes through; returns the extracted text.
pub fn check_pdf(path: &Path) -> Result<String, Box<dyn std::error::Error>> {
    let p = path.to_str().ok_or("Pfad")?;
    let qpdf = tool("qpdf", &["--check", p])?;
    assert!(
        qpdf.contains("No syntax or stream encoding errors"),
        "{qpdf}"
    );
    let fonts = tool("pdffonts", &[p])?;
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "keine Schriften: {fonts}");
    for row in rows {
        // name type encoding emb sub uni object ID – "emb" must be yes.
        let cols: Vec<&str> = row.split_whitespace().collect();
        let n = cols.len();
        assert!(
            n >= 7 && cols[n - 5] == "yes",
            "Schrift nicht eingebettet: {row}"
        );
        assert_eq!(cols[n - 3], "yes", "Schrift ohne Unicode-Zuordnung: {row}");
    }
    let prefix = path.with_extension("");
    tool(
        "pdftoppm",
        &[
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            "-png",
            "-singlefile",
            p,
            prefix.to_str().ok_or("Pfad")?,
        ],
    )?;
    let png = prefix.with_extension("png");
    assert!(std::fs::metadata(&png)?.len() > 1000, "{png:?} leer");
    tool("pdftotext", &["-enc", "UTF-8", p, "-"])
}
