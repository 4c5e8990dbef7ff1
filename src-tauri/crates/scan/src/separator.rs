//! Separator sheets (Trennblätter) between the documents of one scan: a page that
//! carries a barcode (Code 39, Code 128 or QR) with the configured text – "PATCHT" by
//! default, as other scanning tools print it – or a configured Kodak patch code (Patch
//! T by default, [`crate::patchcode`]). Barcodes are read with rxing (a port of
//! ZXing). TIFF pages are decoded one at a time from a seekable stream; PDF pages are
//! rasterised by `pdftoppm` through a pipe (nothing on disk). The result is only a
//! proposal: the QA desk confirms it before the scan is split (TR-RESISCAN A.SC.7).

use std::collections::HashSet;
use std::io::{Cursor, Read, Seek};
use std::time::Duration;

use rxing::{BarcodeFormat, DecodeHints};
use tiff::ColorType;
use tiff::decoder::{Decoder, DecodingResult};

/// The barcode text of a separator sheet unless `scan.toml` says otherwise.
pub const DEFAULT_MARKER: &str = "PATCHT";

/// Pages wider than this are halved before the search (a 300 dpi A4 page becomes
/// 150 dpi: bars of a separator sheet stay several pixels wide, the search 4× faster).
const MAX_WIDTH: u32 = 1800;

/// Why the search failed (German, for the QA desk).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeparatorError {
    #[error("Trennblätter lassen sich nicht suchen: {0}")]
    Damaged(String),
    #[error(
        "Trennblätter in PDF-Scans sucht die Arbeitsstation mit pdftoppm (Debian: poppler-utils); es ist nicht ausführbar: {0}"
    )]
    NoRasteriser(String),
}

/// One page as 8-bit luminance (0 black, 255 white), row by row.
pub(crate) struct Luma {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) data: Vec<u8>,
}

/// The luminance of an RGB(A) pixel (0.3 R + 0.6 G + 0.1 B).
fn luma_of(p: &[u8]) -> u8 {
    ((u16::from(p[0]) * 3 + u16::from(p[1]) * 6 + u16::from(p[2])) / 10) as u8
}

/// What makes a page a separator sheet (from `scan.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Separators {
    /// The text of a barcode sheet; empty: barcodes are not looked for.
    pub marker: String,
    /// The patch codes that separate documents; empty: none.
    pub patches: Vec<crate::patchcode::Patch>,
}

impl Separators {
    /// Barcode sheets of `marker` only.
    pub fn barcode(marker: &str) -> Separators {
        Separators {
            marker: marker.to_owned(),
            patches: Vec::new(),
        }
    }
}

/// Is this page a separator sheet?
fn is_separator(page: Luma, kinds: &Separators) -> bool {
    let page = halve_while_wide(page);
    if !kinds.patches.is_empty()
        && crate::patchcode::find(page.width, page.height, &page.data)
            .iter()
            .any(|p| kinds.patches.contains(p))
    {
        return true;
    }
    let marker = kinds.marker.trim();
    if marker.is_empty() {
        return false;
    }
    let mut hints = DecodeHints {
        TryHarder: Some(true),
        PossibleFormats: Some(HashSet::from([
            BarcodeFormat::CODE_39,
            BarcodeFormat::CODE_128,
            BarcodeFormat::QR_CODE,
        ])),
        ..DecodeHints::default()
    };
    rxing::helpers::detect_in_luma_with_hints(page.data, page.width, page.height, None, &mut hints)
        .is_ok_and(|r| r.getText().trim() == marker)
}

fn halve_while_wide(mut p: Luma) -> Luma {
    while p.width > MAX_WIDTH && p.height >= 2 {
        let (w, h) = (p.width / 2, p.height / 2);
        let src_w = p.width as usize;
        let mut out = Vec::with_capacity(w as usize * h as usize);
        for y in 0..h as usize {
            for x in 0..w as usize {
                let at =
                    |dx: usize, dy: usize| u16::from(p.data[(2 * y + dy) * src_w + 2 * x + dx]);
                out.push(((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1)) / 4) as u8);
            }
        }
        p = Luma {
            width: w,
            height: h,
            data: out,
        };
    }
    p
}

/// The current page of a TIFF decoder as luminance.
pub(crate) fn tiff_luma<R: Read + Seek>(d: &mut Decoder<R>) -> Result<Luma, SeparatorError> {
    let damaged = |e: tiff::TiffError| SeparatorError::Damaged(e.to_string());
    let (width, height) = d.dimensions().map_err(damaged)?;
    // Never decode a page no scanner makes (a few KB can claim gigapixels).
    crate::inspect::check_page_size(width, height, None)
        .map_err(|r| SeparatorError::Damaged(r.to_string()))?;
    let colour = d.colortype().map_err(damaged)?;
    let (w, h) = (width as usize, height as usize);
    let data = match (colour, d.read_image().map_err(damaged)?) {
        (ColorType::Gray(1), DecodingResult::U8(v)) => {
            // Packed bits, rows padded to whole bytes, 1 = white (after the decoder's
            // WhiteIsZero handling).
            let row = w.div_ceil(8);
            let mut out = Vec::with_capacity(w * h);
            for y in 0..h {
                for x in 0..w {
                    let byte = v.get(y * row + x / 8).copied().unwrap_or(0xFF);
                    out.push(if byte & (0x80 >> (x % 8)) != 0 {
                        255
                    } else {
                        0
                    });
                }
            }
            out
        }
        (ColorType::Gray(8), DecodingResult::U8(v)) => v,
        (ColorType::Gray(16), DecodingResult::U16(v)) => v.iter().map(|x| (x >> 8) as u8).collect(),
        (ColorType::RGB(8), DecodingResult::U8(v)) => v.chunks_exact(3).map(luma_of).collect(),
        (ColorType::RGBA(8), DecodingResult::U8(v)) => v.chunks_exact(4).map(luma_of).collect(),
        (other, _) => {
            return Err(SeparatorError::Damaged(format!(
                "Farbart {other:?} wird nicht unterstützt"
            )));
        }
    };
    if data.len() < w * h {
        return Err(SeparatorError::Damaged("Seite unvollständig".into()));
    }
    Ok(Luma {
        width,
        height,
        data,
    })
}

/// The pages (1-based) of a TIFF that are separator sheets.
pub fn in_tiff<R: Read + Seek>(reader: R, kinds: &Separators) -> Result<Vec<u32>, SeparatorError> {
    let damaged = |e: tiff::TiffError| SeparatorError::Damaged(e.to_string());
    let mut d = Decoder::new(reader).map_err(damaged)?;
    let mut found = Vec::new();
    let mut page = 1;
    loop {
        if is_separator(tiff_luma(&mut d)?, kinds) {
            found.push(page);
        }
        if !d.more_images() {
            break;
        }
        d.next_image().map_err(damaged)?;
        page += 1;
    }
    Ok(found)
}

/// The pages (1-based) of a PDF that are separator sheets, each page rasterised at
/// 150 dpi in grey by `pdftoppm` (`program`) through a pipe.
pub fn in_pdf(
    bytes: &[u8],
    pages: u32,
    kinds: &Separators,
    program: &str,
) -> Result<Vec<u32>, SeparatorError> {
    let mut found = Vec::new();
    for n in 1..=pages {
        let png = crate::ocr::pdf_page_png(program, bytes, n, 150, Duration::from_secs(60))
            .map_err(|e| match e {
                crate::ocr::OcrError::Start(p, err) => {
                    SeparatorError::NoRasteriser(format!("{p}: {err}"))
                }
                other => SeparatorError::Damaged(other.to_string()),
            })?;
        if is_separator(png_luma(&png)?, kinds) {
            found.push(n);
        }
    }
    Ok(found)
}

fn png_luma(png_bytes: &[u8]) -> Result<Luma, SeparatorError> {
    let damaged = |e: png::DecodingError| SeparatorError::Damaged(e.to_string());
    let mut decoder = png::Decoder::new(Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(damaged)?;
    crate::inspect::check_page_size(reader.info().width, reader.info().height, None)
        .map_err(|r| SeparatorError::Damaged(r.to_string()))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| SeparatorError::Damaged("Seite zu groß".into()))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(damaged)?;
    buf.truncate(info.buffer_size());
    let data = match info.color_type {
        png::ColorType::Grayscale => buf,
        png::ColorType::GrayscaleAlpha => buf.chunks_exact(2).map(|p| p[0]).collect(),
        png::ColorType::Rgb => buf.chunks_exact(3).map(luma_of).collect(),
        png::ColorType::Rgba => buf.chunks_exact(4).map(luma_of).collect(),
        png::ColorType::Indexed => {
            return Err(SeparatorError::Damaged("Palettenbild".into()));
        }
    };
    Ok(Luma {
        width: info.width,
        height: info.height,
        data,
    })
}

/// A separator sheet as a grey image (`width`×`height`, 0 black, 255 white): the
/// barcode of `marker` (Code 39) near the top left, for printing the sheets and for
/// tests. Err when the text cannot be a Code 39 barcode.
pub fn sheet_image(marker: &str, width: u32, height: u32) -> Result<Vec<u8>, SeparatorError> {
    use rxing::Writer;
    let code = rxing::MultiFormatWriter
        .encode(
            marker,
            &BarcodeFormat::CODE_39,
            (width / 2) as i32,
            (height / 10) as i32,
        )
        .map_err(|e| SeparatorError::Damaged(e.to_string()))?;
    let (left, top) = (width / 16, height / 20);
    if code.width() + left > width || code.height() + top > height {
        return Err(SeparatorError::Damaged(
            "Barcode größer als das Blatt".into(),
        ));
    }
    let mut px = vec![255u8; width as usize * height as usize];
    for y in 0..code.height() {
        for x in 0..code.width() {
            if code.get(x, y) {
                px[((y + top) * width + x + left) as usize] = 0;
            }
        }
    }
    Ok(px)
}

/// A black mark on a printed separator sheet, in mm from the top left corner of an
/// A4 page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    pub x: f32,
    pub top: f32,
    pub width: f32,
    pub height: f32,
}

/// Where the printed sheet's marks end (mm from the top): text may follow below.
pub const SHEET_MARKS_BOTTOM: f32 = 85.0;

/// The marks of a printed separator sheet for `kinds`: the first configured patch code
/// to Kodak's measures (bars parallel to the top edge, which the scanner takes
/// first; 0.08″ and 0.20″, 2.5″ long, 20 mm from the top and 25 mm from the left) and
/// the barcode sheet's Code 39 (0.5 mm modules, 15 mm high) below it. Err when
/// neither kind is configured or the text cannot be a Code 39 barcode.
pub fn sheet_marks(kinds: &Separators) -> Result<Vec<Mark>, SeparatorError> {
    const INCH: f32 = 25.4;
    let mut marks = Vec::new();
    if let Some(patch) = kinds.patches.first() {
        let (narrow, wide) = (0.08 * INCH, 0.20 * INCH);
        let mut top = 20.0;
        for is_wide in patch.bars() {
            let h = if is_wide { wide } else { narrow };
            marks.push(Mark {
                x: 25.0,
                top,
                width: 2.5 * INCH,
                height: h,
            });
            top += h + narrow;
        }
    }
    let marker = kinds.marker.trim();
    if !marker.is_empty() {
        use rxing::Writer;
        let code = rxing::MultiFormatWriter
            .encode(marker, &BarcodeFormat::CODE_39, 0, 1)
            .map_err(|e| {
                SeparatorError::Damaged(format!(
                    "„{marker}“ lässt sich nicht als Code-39-Barcode drucken: {e}"
                ))
            })?;
        let modules: Vec<bool> = (0..code.width()).map(|x| code.get(x, 0)).collect();
        // A Code 39 symbol starts with a bar; 0 only for an empty one.
        let first = modules.iter().position(|m| *m).unwrap_or(0);
        let module = 0.5;
        let mut x = 0;
        while x < modules.len() {
            if modules[x] {
                let run = modules[x..].iter().take_while(|m| **m).count();
                marks.push(Mark {
                    x: 25.0 + (x - first) as f32 * module,
                    top: 62.0,
                    width: run as f32 * module,
                    height: 15.0,
                });
                x += run;
            } else {
                x += 1;
            }
        }
        if marks.iter().any(|m| m.x + m.width > 190.0) {
            return Err(SeparatorError::Damaged(format!(
                "„{marker}“ ist für einen Barcode auf dem Trennblatt zu lang."
            )));
        }
    }
    if marks.is_empty() {
        return Err(SeparatorError::Damaged(
            "In scan.toml ist weder ein Barcode-Text noch ein Patchcode für Trennblätter festgelegt."
                .into(),
        ));
    }
    Ok(marks)
}

/// The documents between separator sheets: (first page, pages), the sheets left out.
/// Empty stretches (two sheets in a row, a sheet first or last) give no document.
pub fn documents(pages: u32, separators: &[u32]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut first = 1;
    for s in separators
        .iter()
        .copied()
        .filter(|s| (1..=pages).contains(s))
    {
        if s > first {
            out.push((first, s - first));
        }
        first = s + 1;
    }
    if first <= pages {
        out.push((first, pages + 1 - first));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_sheets_carry_the_configured_marks() -> Result<(), SeparatorError> {
        use crate::patchcode::Patch;
        let both = Separators {
            marker: "PATCHT".into(),
            patches: vec![Patch::T],
        };
        let marks = sheet_marks(&both)?;
        // Patch T: narrow, wide, narrow, wide bars (0.08″ / 0.20″), 2.5″ long, on top.
        let bars: Vec<f32> = marks.iter().take(4).map(|m| m.height).collect();
        let (n, w) = (0.08 * 25.4, 0.20 * 25.4);
        assert_eq!(bars, vec![n, w, n, w]);
        assert!(marks[..4].iter().all(|m| (m.width - 63.5).abs() < 0.01));
        // Then the Code 39 modules below it, all inside the sheet's mark area.
        assert!(marks.len() > 20);
        assert!(
            marks[4..]
                .iter()
                .all(|m| m.top > marks[3].top + marks[3].height)
        );
        assert!(marks.iter().all(|m| m.top + m.height <= SHEET_MARKS_BOTTOM));
        let patch_only = sheet_marks(&Separators {
            marker: String::new(),
            patches: vec![Patch::P2],
        })?;
        assert_eq!(patch_only.len(), 4);
        let none = sheet_marks(&Separators {
            marker: " ".into(),
            patches: Vec::new(),
        });
        assert!(matches!(none, Err(SeparatorError::Damaged(m)) if m.contains("weder")));
        let long = sheet_marks(&Separators::barcode("TRENNBLATT-FUER-DIE-SCANSTELLE"));
        assert!(matches!(long, Err(SeparatorError::Damaged(m)) if m.contains("zu lang")));
        Ok(())
    }

    #[test]
    fn documents_lie_between_the_sheets() {
        assert_eq!(documents(6, &[3, 5]), vec![(1, 2), (4, 1), (6, 1)]);
        assert_eq!(documents(5, &[1, 2, 5]), vec![(3, 2)]);
        assert_eq!(documents(3, &[]), vec![(1, 3)]);
        assert_eq!(documents(3, &[1, 2, 3]), Vec::<(u32, u32)>::new());
        assert_eq!(documents(3, &[9]), vec![(1, 3)]);
    }
}
