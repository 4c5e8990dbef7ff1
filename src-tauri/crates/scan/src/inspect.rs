//! Is a scanner file complete and acceptable? Checked on the bytes alone: a PDF must
//! end with its trailer, load, have pages, be unencrypted and carry no JBIG2 image
//! (symbol coding can swap characters – forbidden for scans under TR-RESISCAN); a TIFF
//! must have readable image directories (every page); a JPEG must run from SOI to
//! EOI; a PNG must decode to its end.
//!
//! [`inspect_file`] checks a file where it lies without holding it in memory (TIFF
//! directories, the end of a JPEG, PNG rows one by one); only a PDF is read whole,
//! because lopdf needs it in memory.

use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;

/// The kinds of scan products accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pdf,
    Tiff,
    Jpeg,
    Png,
}

impl Format {
    pub fn mime(self) -> &'static str {
        match self {
            Format::Pdf => "application/pdf",
            Format::Tiff => "image/tiff",
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
        }
    }

    /// The format behind a MIME type given by [`Format::mime`].
    pub fn from_mime(mime: &str) -> Option<Format> {
        [Format::Pdf, Format::Tiff, Format::Jpeg, Format::Png]
            .into_iter()
            .find(|f| f.mime() == mime)
    }
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub format: Format,
    pub pages: u32,
}

/// Why a file is refused (German, for the reason file and the UI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("Die Datei ist leer.")]
    Empty,
    #[error("Unbekanntes Dateiformat (erlaubt: PDF, TIFF, JPEG, PNG).")]
    UnknownFormat,
    #[error("Die Datei ist unvollständig oder beschädigt: {0}")]
    Damaged(String),
    #[error(
        "Die PDF-Datei ist verschlüsselt; verschlüsselte Scans können nicht geprüft und nicht archiviert werden."
    )]
    Encrypted,
    #[error(
        "Die PDF-Datei enthält JBIG2-Bilder; JBIG2 mit Symbolkodierung kann Zeichen vertauschen und ist für Scans nicht zugelassen."
    )]
    Jbig2,
    #[error("Die Datei enthält keine Seite.")]
    NoPages,
    #[error("{0}")]
    TooLarge(String),
}

/// The largest page a scan may claim: 150 million pixels (A3 at 600 dpi is 70
/// million). A few-KB compressed file can claim far more; decoding it for a preview
/// or a separator search would take gigabytes.
pub const MAX_PAGE_PIXELS: u64 = 150_000_000;
/// The longest side over the shortest: a scanned sheet, not a strip.
pub const MAX_ASPECT: u64 = 30;

/// Is a page of `width` × `height` pixels one a scanner makes? The German reason if not.
pub fn check_page_size(width: u32, height: u32, page: Option<u32>) -> Result<(), Reject> {
    let (w, h) = (u64::from(width), u64::from(height));
    let page = page.map_or_else(|| "Eine Seite".to_owned(), |p| format!("Seite {p}"));
    if w == 0 || h == 0 {
        return Err(Reject::Damaged(format!("{page} hat keine Bildgröße")));
    }
    if w * h > MAX_PAGE_PIXELS {
        return Err(Reject::TooLarge(format!(
            "{page} gibt {width} × {height} Bildpunkte an (höchstens {} Millionen); das ist kein Scan einer Seite.",
            MAX_PAGE_PIXELS / 1_000_000
        )));
    }
    if w.max(h) > w.min(h) * MAX_ASPECT {
        return Err(Reject::TooLarge(format!(
            "{page} ist {width} × {height} Bildpunkte groß (Seitenverhältnis über 1:{MAX_ASPECT}); das ist kein Scan einer Seite."
        )));
    }
    Ok(())
}

pub fn format_of(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"%PDF-") {
        Some(Format::Pdf)
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some(Format::Tiff)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else {
        None
    }
}

pub fn inspect(bytes: &[u8]) -> Result<Inspection, Reject> {
    inspect_reader(Cursor::new(bytes), bytes.len() as u64)
}

/// Check a file without reading it into memory (a PDF excepted). A file that cannot
/// be read counts as damaged (it may still be in transit: the caller retries).
pub fn inspect_file(path: &Path) -> Result<Inspection, Reject> {
    let unreadable = |e: std::io::Error| Reject::Damaged(format!("nicht lesbar ({e})"));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let len = file.metadata().map_err(unreadable)?.len();
    inspect_reader(std::io::BufReader::with_capacity(64 * 1024, file), len)
}

fn inspect_reader<R: Read + Seek>(mut r: R, len: u64) -> Result<Inspection, Reject> {
    let unreadable = |e: std::io::Error| Reject::Damaged(format!("nicht lesbar ({e})"));
    if len == 0 {
        return Err(Reject::Empty);
    }
    let mut head = [0u8; 8];
    let n = (len as usize).min(head.len());
    r.read_exact(&mut head[..n]).map_err(unreadable)?;
    r.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let format = format_of(&head[..n]).ok_or(Reject::UnknownFormat)?;
    let pages = match format {
        Format::Pdf => {
            // Only a capacity hint.
            let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            r.read_to_end(&mut bytes).map_err(unreadable)?;
            pdf(&bytes)?
        }
        Format::Tiff => tiff_pages(r, len)?,
        Format::Jpeg => jpeg(r, len)?,
        Format::Png => png_pages(r)?,
    };
    if pages == 0 {
        return Err(Reject::NoPages);
    }
    Ok(Inspection { format, pages })
}

/// The most any one stream of a scanned PDF may inflate to while the document is
/// loaded (object and cross-reference streams): a few KB can inflate to gigabytes.
pub const MAX_PDF_STREAM_BYTES: usize = 64 * 1024 * 1024;

/// Load an untrusted PDF with bounded decompression (nesting is bounded by the
/// parser itself, 100 levels). A stream over the bound is left out, not inflated.
pub fn load_pdf(bytes: &[u8]) -> Result<lopdf::Document, lopdf::Error> {
    lopdf::Document::load_mem_with_options(
        bytes,
        lopdf::LoadOptions {
            max_decompressed_size: Some(MAX_PDF_STREAM_BYTES),
            ..Default::default()
        },
    )
}

fn pdf(bytes: &[u8]) -> Result<u32, Reject> {
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    let trimmed = tail
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map(|i| &tail[..=i])
        .unwrap_or(tail);
    if !trimmed.ends_with(b"%%EOF") {
        return Err(Reject::Damaged("das PDF-Ende (%%EOF) fehlt".into()));
    }
    let has_encrypt = bytes.windows(8).any(|w| w == b"/Encrypt");
    let doc = match load_pdf(bytes) {
        Ok(doc) => doc,
        Err(_) if has_encrypt => return Err(Reject::Encrypted),
        Err(e) => return Err(Reject::Damaged(format!("PDF nicht lesbar ({e})"))),
    };
    if doc.is_encrypted() || doc.trailer.get(b"Encrypt").is_ok() || has_encrypt {
        return Err(Reject::Encrypted);
    }
    for object in doc.objects.values() {
        if let lopdf::Object::Stream(s) = object {
            let jbig2 = match s.dict.get(b"Filter") {
                Ok(lopdf::Object::Name(n)) => n == b"JBIG2Decode",
                Ok(lopdf::Object::Array(a)) => a
                    .iter()
                    .any(|f| matches!(f, lopdf::Object::Name(n) if n == b"JBIG2Decode")),
                _ => false,
            };
            if jbig2 {
                return Err(Reject::Jbig2);
            }
        }
    }
    Ok(doc.get_pages().len() as u32)
}

fn tiff_pages<R: Read + Seek>(r: R, len: u64) -> Result<u32, Reject> {
    let damaged = |e: tiff::TiffError| Reject::Damaged(format!("TIFF nicht lesbar ({e})"));
    let mut decoder = tiff::decoder::Decoder::new(r).map_err(damaged)?;
    let mut pages = 0u32;
    loop {
        // Every page's directory must be readable, and its image data must lie inside
        // the file (a truncated file cuts off the last strips).
        let (w, h) = decoder.dimensions().map_err(damaged)?;
        check_page_size(w, h, Some(pages + 1))?;
        let offsets = decoder
            .get_tag_u64_vec(tiff::tags::Tag::StripOffsets)
            .or_else(|_| decoder.get_tag_u64_vec(tiff::tags::Tag::TileOffsets))
            .map_err(damaged)?;
        let counts = decoder
            .get_tag_u64_vec(tiff::tags::Tag::StripByteCounts)
            .or_else(|_| decoder.get_tag_u64_vec(tiff::tags::Tag::TileByteCounts))
            .map_err(damaged)?;
        let end = offsets
            .iter()
            .zip(&counts)
            .map(|(o, c)| o.saturating_add(*c))
            // No strips: nothing ends beyond the file.
            .max()
            .unwrap_or(0);
        if end > len {
            return Err(Reject::Damaged(format!(
                "Seite {} endet hinter dem Dateiende (abgeschnitten)",
                pages + 1
            )));
        }
        pages += 1;
        if !decoder.more_images() {
            break;
        }
        decoder.next_image().map_err(damaged)?;
    }
    Ok(pages)
}

fn jpeg<R: Read + Seek>(mut r: R, len: u64) -> Result<u32, Reject> {
    // The end of the file (scanners may pad with zeros after EOI).
    let unreadable = |e: std::io::Error| Reject::Damaged(format!("nicht lesbar ({e})"));
    let tail_len = len.min(64 * 1024);
    r.seek(SeekFrom::Start(len - tail_len))
        .map_err(unreadable)?;
    let mut tail = Vec::with_capacity(tail_len as usize);
    r.take(tail_len)
        .read_to_end(&mut tail)
        .map_err(unreadable)?;
    let end = tail
        .iter()
        .rposition(|b| *b != 0)
        .map(|i| &tail[..=i])
        .unwrap_or(&tail);
    if end.ends_with(&[0xFF, 0xD9]) {
        Ok(1)
    } else {
        Err(Reject::Damaged("das JPEG-Ende (EOI) fehlt".into()))
    }
}

fn png_pages<R: Read + Seek>(r: R) -> Result<u32, Reject> {
    let damaged = |e: png::DecodingError| Reject::Damaged(format!("PNG nicht lesbar ({e})"));
    let mut reader = png::Decoder::new(std::io::BufReader::new(r))
        .read_info()
        .map_err(damaged)?;
    let (w, h) = (reader.info().width, reader.info().height);
    check_page_size(w, h, None)?;
    // Row by row: the image is never held whole.
    while reader.next_row().map_err(damaged)?.is_some() {}
    reader.finish().map_err(damaged)?;
    Ok(1)
}
