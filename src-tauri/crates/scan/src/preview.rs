//! One page of a TIFF scan as PNG, for the page-by-page check at the QA desk (the web
//! view shows no TIFF). Decoded with the tiff crate (CCITT G4, LZW, Deflate, Packbits,
//! JPEG), written with the png crate; bitonal pages stay one bit per pixel.

use std::io::Cursor;

use tiff::ColorType;
use tiff::decoder::{Decoder, DecodingResult};

/// Why a page cannot be shown (German, for the QA desk).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    #[error("Seite {page} gibt es nicht (der Scan hat {pages} Seite(n)).")]
    NoSuchPage { page: u32, pages: u32 },
    #[error(
        "Für diese Farbart ({0}) gibt es keine Vorschau; bitte mit dem Bildbetrachter der Scanstelle prüfen."
    )]
    Unsupported(String),
    #[error("Die Seite lässt sich nicht anzeigen: {0}")]
    Damaged(String),
}

/// A decoder standing at page `page` (1-based).
fn at_page<R: std::io::Read + std::io::Seek>(
    reader: R,
    page: u32,
) -> Result<Decoder<R>, PreviewError> {
    let damaged = |e: tiff::TiffError| PreviewError::Damaged(e.to_string());
    let mut decoder = Decoder::new(reader).map_err(damaged)?;
    let mut at = 1;
    while at < page {
        if !decoder.more_images() {
            return Err(PreviewError::NoSuchPage { page, pages: at });
        }
        decoder.next_image().map_err(damaged)?;
        at += 1;
    }
    if page == 0 {
        return Err(PreviewError::NoSuchPage { page, pages: at });
    }
    Ok(decoder)
}

/// Page `page` (1-based) of a TIFF as PNG.
pub fn tiff_page_png(bytes: &[u8], page: u32) -> Result<Vec<u8>, PreviewError> {
    tiff_page_png_from(Cursor::new(bytes), page)
}

/// The same from a seekable stream (the vault's decrypting reader): only the page's
/// directory and image data are read.
pub fn tiff_page_png_from<R: std::io::Read + std::io::Seek>(
    reader: R,
    page: u32,
) -> Result<Vec<u8>, PreviewError> {
    let damaged = |e: tiff::TiffError| PreviewError::Damaged(e.to_string());
    let mut decoder = at_page(reader, page)?;
    let (width, height) = decoder.dimensions().map_err(damaged)?;
    // Never decode a page no scanner makes (a few KB can claim gigapixels).
    crate::inspect::check_page_size(width, height, Some(page))
        .map_err(|r| PreviewError::Damaged(r.to_string()))?;
    let colour = decoder.colortype().map_err(damaged)?;
    let (png_colour, depth) = match colour {
        ColorType::Gray(1) => (png::ColorType::Grayscale, png::BitDepth::One),
        ColorType::Gray(8) => (png::ColorType::Grayscale, png::BitDepth::Eight),
        ColorType::Gray(16) => (png::ColorType::Grayscale, png::BitDepth::Sixteen),
        ColorType::RGB(8) => (png::ColorType::Rgb, png::BitDepth::Eight),
        ColorType::RGB(16) => (png::ColorType::Rgb, png::BitDepth::Sixteen),
        ColorType::RGBA(8) => (png::ColorType::Rgba, png::BitDepth::Eight),
        other => return Err(PreviewError::Unsupported(format!("{other:?}"))),
    };
    let data = match decoder.read_image().map_err(damaged)? {
        DecodingResult::U8(v) => v,
        // PNG stores 16-bit samples big-endian.
        DecodingResult::U16(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
        _ => return Err(PreviewError::Unsupported(format!("{colour:?}"))),
    };
    png_of(width, height, png_colour, depth, &data)
}

/// Pixel rows as PNG.
fn png_of(
    width: u32,
    height: u32,
    colour: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
) -> Result<Vec<u8>, PreviewError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(colour);
    encoder.set_depth(depth);
    encoder.set_compression(png::Compression::Fast);
    let png_err = |e: png::EncodingError| PreviewError::Damaged(e.to_string());
    let mut writer = encoder.write_header().map_err(png_err)?;
    writer.write_image_data(data).map_err(png_err)?;
    writer.finish().map_err(png_err)?;
    Ok(out)
}

/// A thumbnail of page `page` (1-based) of a TIFF: grey PNG at most `max_width`
/// pixels wide (each pixel the mean of a square of the page), for the QA desk's page
/// strip.
pub fn tiff_thumbnail_from<R: std::io::Read + std::io::Seek>(
    reader: R,
    page: u32,
    max_width: u32,
) -> Result<Vec<u8>, PreviewError> {
    let mut decoder = at_page(reader, page)?;
    let luma = crate::separator::tiff_luma(&mut decoder).map_err(|e| match e {
        crate::separator::SeparatorError::Damaged(m) => PreviewError::Unsupported(m),
        other => PreviewError::Damaged(other.to_string()),
    })?;
    let f = luma.width.div_ceil(max_width.max(1)).max(1);
    let (w, h) = ((luma.width / f).max(1), (luma.height / f).max(1));
    let src_w = luma.width as usize;
    let mut out = Vec::with_capacity(w as usize * h as usize);
    for y in 0..h as usize {
        for x in 0..w as usize {
            let mut sum = 0u32;
            for dy in 0..f as usize {
                let row = (y * f as usize + dy) * src_w;
                for dx in 0..f as usize {
                    sum += u32::from(
                        luma.data
                            .get(row + x * f as usize + dx)
                            .copied()
                            .unwrap_or(255),
                    );
                }
            }
            out.push((sum / (f * f)) as u8);
        }
    }
    png_of(w, h, png::ColorType::Grayscale, png::BitDepth::Eight, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gray_tiff(pages: u8) -> Result<Vec<u8>, tiff::TiffError> {
        let mut out = Cursor::new(Vec::new());
        let mut enc = tiff::encoder::TiffEncoder::new(&mut out)?;
        for i in 0..pages {
            enc.write_image::<tiff::encoder::colortype::Gray8>(16, 8, &[i * 50; 16 * 8])?;
        }
        Ok(out.into_inner())
    }

    fn pixels(png_bytes: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let mut reader = png::Decoder::new(Cursor::new(png_bytes)).read_info()?;
        let mut buf = vec![0; reader.output_buffer_size().ok_or("size")?];
        let info = reader.next_frame(&mut buf)?;
        buf.truncate(info.buffer_size());
        Ok(buf)
    }

    #[test]
    fn each_page_is_shown_as_scanned() -> Result<(), Box<dyn std::error::Error>> {
        let tiff = gray_tiff(3)?;
        for page in 1..=3u8 {
            let png = tiff_page_png(&tiff, u32::from(page))?;
            assert!(
                pixels(&png)?.iter().all(|v| *v == (page - 1) * 50),
                "page {page}"
            );
        }
        assert_eq!(
            tiff_page_png(&tiff, 4),
            Err(PreviewError::NoSuchPage { page: 4, pages: 3 })
        );
        assert!(matches!(
            tiff_page_png(&tiff, 0),
            Err(PreviewError::NoSuchPage { .. })
        ));
        assert!(matches!(
            tiff_page_png(&tiff[..40], 1),
            Err(PreviewError::Damaged(_))
        ));
        Ok(())
    }

    #[test]
    fn thumbnails_are_small_and_show_the_page() -> Result<(), Box<dyn std::error::Error>> {
        let tiff = gray_tiff(2)?;
        let png = tiff_thumbnail_from(Cursor::new(&tiff), 2, 4)?;
        let reader = png::Decoder::new(Cursor::new(&png)).read_info()?;
        assert_eq!((reader.info().width, reader.info().height), (4, 2));
        assert!(pixels(&png)?.iter().all(|v| *v == 50));
        assert!(matches!(
            tiff_thumbnail_from(Cursor::new(&tiff), 3, 4),
            Err(PreviewError::NoSuchPage { .. })
        ));
        Ok(())
    }
}
