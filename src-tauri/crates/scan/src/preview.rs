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
    let (width, height) = decoder.dimensions().map_err(damaged)?;
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
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png_colour);
    encoder.set_depth(depth);
    encoder.set_compression(png::Compression::Fast);
    let png_err = |e: png::EncodingError| PreviewError::Damaged(e.to_string());
    let mut writer = encoder.write_header().map_err(png_err)?;
    writer.write_image_data(&data).map_err(png_err)?;
    writer.finish().map_err(png_err)?;
    Ok(out)
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
}
