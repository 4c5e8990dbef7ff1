//! Helpers shared by the letter tests: the PDF tools an archive or printer would use.

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
