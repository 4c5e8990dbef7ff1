//! Splitting one scan into several documents: pages keep their order and content, a
//! TIFF's compressed image data are copied byte for byte, bad split points and
//! single-page images are refused with a clear reason.

use std::io::Cursor;

use scan::split::{SplitError, split};

mod common;
use common::{jpeg, pdf, tiff};

type R = Result<(), Box<dyn std::error::Error>>;

/// The content stream of every page of a PDF.
fn page_texts(bytes: &[u8]) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let doc = lopdf::Document::load_mem(bytes)?;
    let mut out = Vec::new();
    for id in doc.get_pages().values() {
        out.push(
            String::from_utf8(doc.get_page_content(*id))?
                .trim()
                .to_owned(),
        );
    }
    Ok(out)
}

#[test]
fn a_pdf_is_split_into_documents_in_page_order() -> R {
    let parts = split(&pdf(5, false), &[3])?;
    assert_eq!(
        parts
            .iter()
            .map(|p| (p.first_page, p.pages))
            .collect::<Vec<_>>(),
        vec![(1, 2), (3, 3)]
    );
    assert_eq!(page_texts(&parts[0].bytes)?, ["% Seite 0", "% Seite 1"]);
    assert_eq!(
        page_texts(&parts[1].bytes)?,
        ["% Seite 2", "% Seite 3", "% Seite 4"]
    );
    Ok(())
}

/// Pixels and raw strips of one page.
type Page = (Vec<u8>, Vec<u8>);

/// Pixels and the raw strips of every page of a TIFF.
fn tiff_pages(bytes: &[u8]) -> Result<Vec<Page>, Box<dyn std::error::Error>> {
    let mut d = tiff::decoder::Decoder::new(Cursor::new(bytes))?;
    let mut out = Vec::new();
    loop {
        let offsets = d.get_tag_u64_vec(tiff::tags::Tag::StripOffsets)?;
        let counts = d.get_tag_u64_vec(tiff::tags::Tag::StripByteCounts)?;
        let mut raw = Vec::new();
        for (o, c) in offsets.iter().zip(&counts) {
            raw.extend_from_slice(&bytes[*o as usize..(*o + *c) as usize]);
        }
        let pixels = match d.read_image()? {
            tiff::decoder::DecodingResult::U8(v) => v,
            _ => return Err("not 8-bit".into()),
        };
        out.push((pixels, raw));
        if !d.more_images() {
            break;
        }
        d.next_image()?;
    }
    Ok(out)
}

#[test]
fn a_tiff_keeps_its_pages_and_their_compressed_data() -> R {
    // Packbits-compressed pages (the scanner's compression must survive unchanged).
    let mut out = Cursor::new(Vec::new());
    let mut enc = tiff::encoder::TiffEncoder::new(&mut out)?
        .with_compression(tiff::encoder::Compression::Packbits);
    for i in 0..5u8 {
        let page: Vec<u8> = (0..64 * 32)
            .map(|p| i.wrapping_mul(40) ^ (p % 7) as u8)
            .collect();
        enc.write_image::<tiff::encoder::colortype::Gray8>(64, 32, &page)?;
    }
    let original = tiff_pages(out.get_ref())?;
    let parts = split(out.get_ref(), &[2, 4])?;
    assert_eq!(
        parts
            .iter()
            .map(|p| (p.first_page, p.pages))
            .collect::<Vec<_>>(),
        vec![(1, 1), (2, 2), (4, 2)]
    );
    let copied: Vec<_> = parts
        .iter()
        .map(|p| tiff_pages(&p.bytes))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(copied, original, "pixels and raw strips of every page");
    // Uncompressed pages too; page i is filled with i.
    let parts = split(&tiff(3)?, &[3])?;
    let last = tiff_pages(&parts[1].bytes)?;
    assert_eq!(last.len(), 1);
    assert!(last[0].0.iter().all(|v| *v == 2));
    Ok(())
}

#[test]
fn bad_split_points_and_single_images_are_refused() -> R {
    for starts in [&[][..], &[1], &[6], &[3, 3], &[4, 2]] {
        let err = split(&pdf(5, false), starts).err().ok_or("accepted")?;
        assert!(matches!(err, SplitError::BadStarts { .. }), "{starts:?}");
        assert!(err.to_string().contains("zwischen 2 und 5"), "{err}");
    }
    assert_eq!(split(&jpeg(), &[2]).err(), Some(SplitError::SinglePage));
    let mut cut = pdf(3, false);
    cut.truncate(cut.len() / 2);
    assert!(matches!(split(&cut, &[2]), Err(SplitError::Damaged(_))));
    Ok(())
}
