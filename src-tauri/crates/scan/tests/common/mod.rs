//! Scans generated for the tests: PDF, multi-page TIFF, JPEG.
#![allow(dead_code)]

/// A small valid PDF (lopdf) with `pages` pages; `extra` adds objects.
pub fn pdf(pages: u32, jbig2: bool) -> Vec<u8> {
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let mut kids = Vec::new();
    for i in 0..pages {
        let content = doc.add_object(Stream::new(
            dictionary! {},
            format!("% Seite {i}").into_bytes(),
        ));
        let mut resources = dictionary! {};
        if jbig2 {
            let img = doc.add_object(Stream::new(
                dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => 8, "Height" => 8, "BitsPerComponent" => 1, "Filter" => "JBIG2Decode" },
                vec![0u8; 16],
            ));
            resources = dictionary! { "XObject" => dictionary! { "Im0" => img } };
        }
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()], "Resources" => resources,
        });
        kids.push(Object::Reference(page));
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => pages as i64 },
        ),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    let _ = doc.save_to(&mut out);
    out
}

/// A multi-page grey TIFF; page i is filled with the value i.
pub fn tiff(pages: u8) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut enc = tiff::encoder::TiffEncoder::new(&mut out)?;
    for i in 0..pages {
        enc.write_image::<tiff::encoder::colortype::Gray8>(64, 32, &vec![i; 64 * 32])?;
    }
    Ok(out.into_inner())
}

pub fn jpeg() -> Vec<u8> {
    // SOI, an APP0 segment, EOI: enough for the structure check.
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    v.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}
