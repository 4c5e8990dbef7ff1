//! Is a scanner file complete and acceptable? Checked on the bytes alone: a PDF must
//! end with its trailer, load, have pages, be unencrypted and carry no JBIG2 image
//! (symbol coding can swap characters – forbidden for scans under TR-RESISCAN); a TIFF
//! must have readable image directories (every page); a JPEG must run from SOI to
//! EOI; a PNG must decode to its end.

use std::io::Cursor;

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
    if bytes.is_empty() {
        return Err(Reject::Empty);
    }
    let format = format_of(bytes).ok_or(Reject::UnknownFormat)?;
    let pages = match format {
        Format::Pdf => pdf(bytes)?,
        Format::Tiff => tiff_pages(bytes)?,
        Format::Jpeg => jpeg(bytes)?,
        Format::Png => png_pages(bytes)?,
    };
    if pages == 0 {
        return Err(Reject::NoPages);
    }
    Ok(Inspection { format, pages })
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
    let doc = match lopdf::Document::load_mem(bytes) {
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

fn tiff_pages(bytes: &[u8]) -> Result<u32, Reject> {
    let damaged = |e: tiff::TiffError| Reject::Damaged(format!("TIFF nicht lesbar ({e})"));
    let mut decoder = tiff::decoder::Decoder::new(Cursor::new(bytes)).map_err(damaged)?;
    let mut pages = 0u32;
    loop {
        // Every page's directory must be readable, and its image data must lie inside
        // the file (a truncated file cuts off the last strips).
        let (w, h) = decoder.dimensions().map_err(damaged)?;
        if w == 0 || h == 0 {
            return Err(Reject::Damaged("eine Seite hat keine Bildgröße".into()));
        }
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
            .max()
            .unwrap_or(0);
        if end > bytes.len() as u64 {
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

fn jpeg(bytes: &[u8]) -> Result<u32, Reject> {
    let end = bytes
        .iter()
        .rposition(|b| *b != 0)
        .map(|i| &bytes[..=i])
        .unwrap_or(bytes);
    if end.ends_with(&[0xFF, 0xD9]) {
        Ok(1)
    } else {
        Err(Reject::Damaged("das JPEG-Ende (EOI) fehlt".into()))
    }
}

fn png_pages(bytes: &[u8]) -> Result<u32, Reject> {
    let damaged = |e: png::DecodingError| Reject::Damaged(format!("PNG nicht lesbar ({e})"));
    let mut reader = png::Decoder::new(Cursor::new(bytes))
        .read_info()
        .map_err(damaged)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| Reject::Damaged("Bild zu groß".into()))?;
    if size > 512 * 1024 * 1024 {
        return Err(Reject::Damaged("Bild zu groß".into()));
    }
    let mut buf = vec![0; size];
    reader.next_frame(&mut buf).map_err(damaged)?;
    reader.finish().map_err(damaged)?;
    Ok(1)
}
