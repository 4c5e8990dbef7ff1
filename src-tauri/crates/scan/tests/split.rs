//! Splitting one scan into several documents: pages keep their order and content, a
//! TIFF's compressed image data are copied byte for byte, bad split points and
//! single-page images are refused with a clear reason.

use std::io::Cursor;

use scan::patchcode::Patch;
use scan::separator::Separators;
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

/// A white page (grey, `w`×`h`) with "writing" (dark strokes) on it, or a separator
/// sheet (Code 39 barcode) of `barcode`.
fn page(w: u32, h: u32, barcode: Option<&str>) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    if let Some(text) = barcode {
        return Ok(scan::separator::sheet_image(text, w, h)?);
    }
    let mut px = vec![255u8; (w * h) as usize];
    for y in (h / 2..h / 2 + 40).step_by(8) {
        for x in w / 8..w * 7 / 8 {
            if (x / 5) % 3 != 0 {
                px[(y * w + x) as usize] = 30;
            }
        }
    }
    Ok(px)
}

fn grey_tiff(pages: &[Vec<u8>], w: u32, h: u32) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut out = Cursor::new(Vec::new());
    let mut enc = tiff::encoder::TiffEncoder::new(&mut out)?
        .with_compression(tiff::encoder::Compression::Packbits);
    for p in pages {
        enc.write_image::<tiff::encoder::colortype::Gray8>(w, h, p)?;
    }
    Ok(out.into_inner())
}

/// Separator sheets (a Code 39 "PATCHT" page) are found in a TIFF; a page with another
/// barcode is no sheet; the documents between the sheets are cut out without them.
#[test]
fn separator_sheets_in_a_tiff_mark_the_documents() -> R {
    let (w, h) = (600, 840);
    let pages = vec![
        page(w, h, None)?,
        page(w, h, None)?,
        page(w, h, Some("PATCHT"))?,
        page(w, h, None)?,
        page(w, h, Some("AZ-4711"))?,
        page(w, h, Some("PATCHT"))?,
        page(w, h, None)?,
    ];
    let tiff = grey_tiff(&pages, w, h)?;
    let found = scan::separator::in_tiff(Cursor::new(&tiff), &Separators::barcode("PATCHT"))?;
    assert_eq!(found, vec![3, 6]);
    assert_eq!(
        scan::separator::in_tiff(Cursor::new(&tiff), &Separators::barcode("TRENNBLATT"))?,
        Vec::<u32>::new(),
        "only the configured text counts"
    );
    let docs = scan::separator::documents(7, &found);
    assert_eq!(docs, vec![(1, 2), (4, 2), (7, 1)]);
    let parts = scan::split::split_ranges(&tiff, &docs)?;
    let copied: Vec<Vec<u8>> = parts
        .iter()
        .map(|p| tiff_pages(&p.bytes))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .map(|(pixels, _)| pixels)
        .collect();
    assert_eq!(
        copied,
        vec![
            pages[0].clone(),
            pages[1].clone(),
            pages[3].clone(),
            pages[4].clone(),
            pages[6].clone()
        ],
        "the documents' pages, the sheets left out"
    );
    // Nonsense ranges are refused.
    assert!(scan::split::split_ranges(&tiff, &[(1, 7)]).is_err());
    assert!(scan::split::split_ranges(&tiff, &[(2, 3), (3, 1)]).is_err());
    assert!(scan::split::split_ranges(&tiff, &[(6, 3)]).is_err());
    Ok(())
}

/// A PDF whose pages are images, as scanners write it.
fn image_pdf(pages: &[Vec<u8>], w: u32, h: u32) -> Vec<u8> {
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let mut kids = Vec::new();
    for px in pages {
        let img = doc.add_object(Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => w as i64, "Height" => h as i64, "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8 },
            px.clone(),
        ));
        let content = doc.add_object(Stream::new(
            dictionary! {},
            b"q 595 0 0 842 0 0 cm /Im0 Do Q".to_vec(),
        ));
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => img } },
        });
        kids.push(Object::Reference(page));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    let _ = doc.save_to(&mut out);
    out
}

/// In a PDF the pages are rasterised by pdftoppm (poppler-utils, installed by the
/// set-up) and searched the same way; without pdftoppm the desk says what to install.
#[test]
fn separator_sheets_in_a_pdf_are_found_through_pdftoppm() -> R {
    let (w, h) = (600, 840);
    let pdf = image_pdf(
        &[
            page(w, h, None)?,
            page(w, h, Some("PATCHT"))?,
            page(w, h, None)?,
            patch_page(Patch::T, w, h, 72),
        ],
        w,
        h,
    );
    assert_eq!(scan::inspect(&pdf)?.pages, 4);
    let both = Separators {
        marker: "PATCHT".into(),
        patches: vec![Patch::T],
    };
    assert_eq!(
        scan::separator::in_pdf(&pdf, 4, &both, "pdftoppm")?,
        vec![2, 4]
    );
    let err = scan::separator::in_pdf(&pdf, 4, &both, "/nonexistent/pdftoppm")
        .err()
        .ok_or("found without pdftoppm")?;
    assert!(err.to_string().contains("poppler-utils"), "{err}");
    Ok(())
}

/// A separator sheet with a Kodak patch code printed for `dpi`.
fn patch_page(patch: Patch, w: u32, h: u32, dpi: u32) -> Vec<u8> {
    scan::patchcode::sheet(patch, w, h, dpi)
}

/// Patch code sheets in a 150-dpi TIFF: Patch T separates by default, another patch
/// only when configured, and with both kinds switched off nothing is a sheet.
#[test]
fn patch_code_sheets_in_a_tiff_mark_the_documents() -> R {
    let (w, h) = (1240, 1754);
    let pages = vec![
        page(w, h, None)?,
        patch_page(Patch::T, w, h, 150),
        page(w, h, None)?,
        patch_page(Patch::P2, w, h, 150),
        page(w, h, Some("PATCHT"))?,
        page(w, h, None)?,
    ];
    let tiff = grey_tiff(&pages, w, h)?;
    let default = Separators {
        marker: "PATCHT".into(),
        patches: vec![Patch::T],
    };
    assert_eq!(
        scan::separator::in_tiff(Cursor::new(&tiff), &default)?,
        vec![2, 5]
    );
    let patches_only = Separators {
        marker: String::new(),
        patches: vec![Patch::T, Patch::P2],
    };
    assert_eq!(
        scan::separator::in_tiff(Cursor::new(&tiff), &patches_only)?,
        vec![2, 4]
    );
    let none = Separators {
        marker: String::new(),
        patches: Vec::new(),
    };
    assert!(scan::separator::in_tiff(Cursor::new(&tiff), &none)?.is_empty());
    Ok(())
}
