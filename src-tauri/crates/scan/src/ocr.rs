//! Text recognition with the `tesseract` command (Debian: tesseract-ocr,
//! tesseract-ocr-deu), for the full-text search of scanned cases. Images go to
//! tesseract through a pipe; PDF pages are rasterised by `pdftoppm` (poppler-utils)
//! into a pipe first. Nothing is written to disk: scans hold personal data.
//!
//! Without tesseract or its German language data, OCR is off and [`Ocr::detect`]
//! says why, so the scanning desk can show it.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Format;

/// The recogniser, once found.
#[derive(Debug, Clone)]
pub struct Ocr {
    tesseract: String,
    pdftoppm: String,
    /// Longest a single page may take.
    pub timeout: Duration,
    /// Pages recognised at most per product (the rest is not searchable).
    pub max_pages: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error("Texterkennung: {0} ist nicht ausführbar ({1}).")]
    Start(String, std::io::Error),
    #[error("Texterkennung: {0} hat nach {1} Sekunden nicht geantwortet und wurde beendet.")]
    Timeout(String, u64),
    #[error("Texterkennung: {0} meldet einen Fehler ({1}).")]
    Failed(String, String),
    #[error("Texterkennung: für {0} nicht möglich.")]
    Unsupported(&'static str),
}

/// Run `program args`, feeding `input` through stdin, with a time limit; stdout.
pub(crate) fn run(
    program: &str,
    args: &[&str],
    input: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, OcrError> {
    let mut child = Command::new(program)
        .args(args)
        // tesseract's OpenMP threads fight each other on small machines: one thread
        // was 5× faster per page here (2.4 s instead of 13 s at 300 dpi, 2 cores).
        .env("OMP_THREAD_LIMIT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| OcrError::Start(program.into(), e))?;
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    std::thread::scope(|s| {
        let writer = s.spawn(move || {
            if let Some(w) = stdin.as_mut() {
                // A program that stops reading early closes the pipe: not an error here.
                let _ = w.write_all(input);
            }
            drop(stdin);
        });
        let reader = s.spawn(move || {
            let mut out = Vec::new();
            if let Some(r) = stdout.as_mut() {
                let _ = r.read_to_end(&mut out);
            }
            out
        });
        let errs = s.spawn(move || {
            let mut out = String::new();
            if let Some(r) = stderr.as_mut() {
                let _ = r.read_to_string(&mut out);
            }
            out
        });
        let until = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() >= until => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(OcrError::Timeout(program.into(), timeout.as_secs()));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => break Err(OcrError::Start(program.into(), e)),
            }
        };
        let _ = writer.join();
        // A reader thread that panicked read nothing; the exit status decides.
        let out = reader.join().unwrap_or_default();
        // As above, for the error text.
        let err = errs.join().unwrap_or_default();
        let status = status?;
        if status.success() {
            Ok(out)
        } else {
            let first = err.lines().next().unwrap_or("").trim().to_owned();
            Err(OcrError::Failed(
                program.into(),
                format!("{status}: {first}"),
            ))
        }
    })
}

/// Page `page` (1-based) of a PDF as a grey PNG at `dpi`, rasterised by pdftoppm
/// (`program`) from a pipe into a pipe.
pub(crate) fn pdf_page_png(
    program: &str,
    pdf: &[u8],
    page: u32,
    dpi: u32,
    timeout: Duration,
) -> Result<Vec<u8>, OcrError> {
    let (page, dpi) = (page.to_string(), dpi.to_string());
    run(
        program,
        &[
            "-r",
            &dpi,
            "-gray",
            "-png",
            "-f",
            &page,
            "-l",
            &page,
            "-singlefile",
            "fd://0",
        ],
        pdf,
        timeout,
    )
}

impl Ocr {
    /// Look for tesseract with German language data (and pdftoppm for PDFs). Err:
    /// why OCR is off, in German for the screen.
    pub fn detect() -> Result<Ocr, String> {
        Self::with_programs("tesseract", "pdftoppm")
    }

    /// As [`Ocr::detect`] with other program names (tests).
    pub fn with_programs(tesseract: &str, pdftoppm: &str) -> Result<Ocr, String> {
        let off = "Texterkennung aus";
        let langs = run(tesseract, &["--list-langs"], b"", Duration::from_secs(20)).map_err(|_| {
            format!("{off}: tesseract ist nicht installiert (Debian: apt-get install tesseract-ocr tesseract-ocr-deu).")
        })?;
        let langs = String::from_utf8_lossy(&langs);
        if !langs.lines().any(|l| l.trim() == "deu") {
            return Err(format!(
                "{off}: die deutschen Sprachdaten fehlen (Debian: apt-get install tesseract-ocr-deu)."
            ));
        }
        Ok(Ocr {
            tesseract: tesseract.into(),
            pdftoppm: pdftoppm.into(),
            timeout: Duration::from_secs(120),
            max_pages: 50,
        })
    }

    fn image(&self, bytes: &[u8]) -> Result<String, OcrError> {
        let out = run(
            &self.tesseract,
            &["stdin", "stdout", "-l", "deu"],
            bytes,
            self.timeout,
        )?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// The text of a scan product (all pages, up to `max_pages`).
    pub fn recognise(&self, bytes: &[u8], format: Format, pages: u32) -> Result<String, OcrError> {
        match format {
            Format::Jpeg | Format::Png | Format::Tiff => self.image(bytes),
            Format::Pdf => {
                let mut text = String::new();
                for n in 1..=pages.clamp(1, self.max_pages) {
                    let png = pdf_page_png(&self.pdftoppm, bytes, n, 300, self.timeout)?;
                    text.push_str(&self.image(&png)?);
                    text.push('\n');
                }
                Ok(text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_turns_ocr_off_with_a_reason() {
        let e = Ocr::with_programs("/nonexistent/tesseract", "pdftoppm")
            .err()
            .unwrap_or_default();
        assert!(e.contains("nicht installiert"), "{e}");
    }

    #[test]
    fn a_hanging_program_is_stopped() {
        let r = run("sleep", &["30"], b"", Duration::from_millis(300));
        assert!(matches!(r, Err(OcrError::Timeout(..))), "{r:?}");
    }

    #[test]
    fn a_failing_program_reports_its_first_error_line() {
        let r = run(
            "sh",
            &["-c", "echo kaputt >&2; exit 3"],
            b"",
            Duration::from_secs(5),
        );
        match r {
            Err(OcrError::Failed(_, m)) => assert!(m.contains("kaputt"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn input_goes_through_the_pipe() -> Result<(), OcrError> {
        let out = run("cat", &[], b"Zeile mit \xc3\xa4", Duration::from_secs(5))?;
        assert_eq!(out, "Zeile mit ä".as_bytes());
        Ok(())
    }
}
