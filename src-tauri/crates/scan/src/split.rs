//! Splitting one scanned file into several documents, by hand at the QA desk: the
//! pages stay exactly as the scanner wrote them. A PDF keeps its page objects (the
//! other pages are removed with lopdf); a TIFF keeps every tag and the compressed
//! image data of its pages byte for byte (copied through the `tiff` crate's
//! directory encoder, so CCITT G4 stays G4). JPEG and PNG have one page.

use std::io::Cursor;

use tiff::decoder::ifd::Value;
use tiff::encoder::{Rational, SRational, TiffEncoder};
use tiff::tags::Tag;

use crate::inspect::{Format, inspect};

/// One document cut out of a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// First page in the original scan (1-based).
    pub first_page: u32,
    pub pages: u32,
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes` (hex).
    pub sha256: String,
}

/// Why a scan cannot be split as asked (German, for the QA desk).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("Ein einseitiges Bild (JPEG, PNG) lässt sich nicht aufteilen.")]
    SinglePage,
    #[error(
        "Die Trennstellen müssen Seitenzahlen zwischen 2 und {pages} sein, aufsteigend und ohne Wiederholung (genannt: {given})."
    )]
    BadStarts { pages: u32, given: String },
    #[error("Der Scan lässt sich nicht aufteilen: {0}")]
    Damaged(String),
}

/// The page ranges for the given starts: `starts` are the first pages of the second,
/// third, … document (each in 2..=pages, strictly rising). Returns (first, count).
pub fn ranges(pages: u32, starts: &[u32]) -> Result<Vec<(u32, u32)>, SplitError> {
    let bad = || SplitError::BadStarts {
        pages,
        given: starts
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    };
    if starts.is_empty()
        || starts.iter().any(|s| *s < 2 || *s > pages)
        || starts.windows(2).any(|w| w[0] >= w[1])
    {
        return Err(bad());
    }
    let mut bounds = vec![1];
    bounds.extend_from_slice(starts);
    bounds.push(pages + 1);
    Ok(bounds.windows(2).map(|w| (w[0], w[1] - w[0])).collect())
}

/// Split a scan at the given starts (see [`ranges`]). Every part is checked like an
/// arriving file and must have the pages it should have.
pub fn split(bytes: &[u8], starts: &[u32]) -> Result<Vec<Part>, SplitError> {
    let info = inspect(bytes).map_err(|e| SplitError::Damaged(e.to_string()))?;
    if matches!(info.format, Format::Jpeg | Format::Png) {
        return Err(SplitError::SinglePage);
    }
    split_ranges(bytes, &ranges(info.pages, starts)?)
}

/// Cut the given page ranges (first page, pages) out of a scan, e.g. the documents
/// between separator sheets ([`crate::separator::documents`]); pages outside every
/// range (the sheets) are left out. Ranges rise and do not overlap.
pub fn split_ranges(bytes: &[u8], wanted: &[(u32, u32)]) -> Result<Vec<Part>, SplitError> {
    let info = inspect(bytes).map_err(|e| SplitError::Damaged(e.to_string()))?;
    if matches!(info.format, Format::Jpeg | Format::Png) {
        return Err(SplitError::SinglePage);
    }
    let mut next = 1;
    for (first, count) in wanted {
        if *count == 0 || *first < next || first + count - 1 > info.pages {
            return Err(SplitError::Damaged(format!(
                "ungültiger Seitenbereich ab Seite {first} ({count} Seiten) bei {} Seiten",
                info.pages
            )));
        }
        next = first + count;
    }
    if wanted.is_empty() || wanted == [(1, info.pages)] {
        return Err(SplitError::Damaged(
            "der Scan bliebe unverändert ein einziges Dokument".into(),
        ));
    }
    let mut parts = Vec::new();
    for &(first, count) in wanted {
        let part = match info.format {
            Format::Pdf => pdf_pages(bytes, first, count)?,
            _ => tiff_pages(bytes, first, count)?,
        };
        let check = inspect(&part).map_err(|e| SplitError::Damaged(e.to_string()))?;
        if check.pages != count {
            return Err(SplitError::Damaged(format!(
                "Teil ab Seite {first} hat {} statt {count} Seiten",
                check.pages
            )));
        }
        parts.push(Part {
            first_page: first,
            pages: count,
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&part)),
            bytes: part,
        });
    }
    Ok(parts)
}

fn pdf_pages(bytes: &[u8], first: u32, count: u32) -> Result<Vec<u8>, SplitError> {
    let damaged = |e: lopdf::Error| SplitError::Damaged(format!("PDF ({e})"));
    let mut doc = crate::inspect::load_pdf(bytes).map_err(damaged)?;
    let drop: Vec<u32> = doc
        .get_pages()
        .keys()
        .copied()
        .filter(|n| *n < first || *n >= first + count)
        .collect();
    doc.delete_pages(&drop);
    doc.prune_objects();
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|e| SplitError::Damaged(format!("PDF ({e})")))?;
    Ok(out)
}

/// Tags that point into the file (rewritten or left out when pages are copied).
const POINTERS: [Tag; 10] = [
    Tag::StripOffsets,
    Tag::StripByteCounts,
    Tag::TileOffsets,
    Tag::TileByteCounts,
    Tag::Unknown(288), // FreeOffsets
    Tag::Unknown(289), // FreeByteCounts
    Tag::Unknown(330), // SubIFDs
    Tag::ExifDirectory,
    Tag::GpsDirectory,
    Tag::Unknown(40965), // Interoperability IFD
];

fn tiff_pages(bytes: &[u8], first: u32, count: u32) -> Result<Vec<u8>, SplitError> {
    let damaged = |e: tiff::TiffError| SplitError::Damaged(format!("TIFF ({e})"));
    let mut decoder = tiff::decoder::Decoder::new(Cursor::new(bytes)).map_err(damaged)?;
    let mut out = Cursor::new(Vec::new());
    {
        let mut encoder = TiffEncoder::new(&mut out).map_err(damaged)?;
        let mut page = 1u32;
        loop {
            if page >= first && page < first + count {
                copy_page(&mut decoder, &mut encoder, bytes)?;
            }
            if page + 1 >= first + count || !decoder.more_images() {
                break;
            }
            decoder.next_image().map_err(damaged)?;
            page += 1;
        }
    }
    Ok(out.into_inner())
}

/// Copy the current page of `decoder`: every tag but the pointers, and the image data
/// (strips or tiles) unchanged.
fn copy_page<W: std::io::Write + std::io::Seek>(
    decoder: &mut tiff::decoder::Decoder<Cursor<&[u8]>>,
    encoder: &mut TiffEncoder<W>,
    bytes: &[u8],
) -> Result<(), SplitError> {
    let damaged = |e: tiff::TiffError| SplitError::Damaged(format!("TIFF ({e})"));
    let tags: Vec<(Tag, Value)> = decoder
        .tag_iter()
        .collect::<Result<_, _>>()
        .map_err(damaged)?;
    let tiled = tags.iter().any(|(t, _)| *t == Tag::TileOffsets);
    let (offsets_tag, counts_tag) = if tiled {
        (Tag::TileOffsets, Tag::TileByteCounts)
    } else {
        (Tag::StripOffsets, Tag::StripByteCounts)
    };
    let offsets = decoder.get_tag_u64_vec(offsets_tag).map_err(damaged)?;
    let counts = decoder.get_tag_u64_vec(counts_tag).map_err(damaged)?;
    if offsets.len() != counts.len() {
        return Err(SplitError::Damaged(
            "Bilddaten und ihre Längen passen nicht zusammen".into(),
        ));
    }
    let mut dir = encoder.image_directory().map_err(damaged)?;
    let mut new_offsets = Vec::with_capacity(offsets.len());
    for (o, c) in offsets.iter().zip(&counts) {
        let data = usize::try_from(*o)
            .ok()
            .zip(usize::try_from(o.saturating_add(*c)).ok())
            .and_then(|(a, b)| bytes.get(a..b))
            .ok_or_else(|| SplitError::Damaged("Bilddaten hinter dem Dateiende".into()))?;
        let at = dir.write_data(data).map_err(damaged)?;
        new_offsets.push(
            u32::try_from(at).map_err(|_| SplitError::Damaged("Teil größer als 4 GB".into()))?,
        );
    }
    let new_counts = counts
        .iter()
        .map(|c| u32::try_from(*c))
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| SplitError::Damaged("Bilddaten größer als 4 GB".into()))?;
    for (tag, value) in tags {
        if POINTERS.contains(&tag) {
            continue;
        }
        write_value(&mut dir, tag, value).map_err(damaged)?;
    }
    dir.write_tag(offsets_tag, new_offsets.as_slice())
        .map_err(damaged)?;
    dir.write_tag(counts_tag, new_counts.as_slice())
        .map_err(damaged)?;
    dir.finish().map_err(damaged)
}

/// Write a tag value as read, with its type; values of mixed or nested types (which
/// scanners do not write) are left out.
fn write_value<W: std::io::Write + std::io::Seek, K: tiff::encoder::TiffKind>(
    dir: &mut tiff::encoder::DirectoryEncoder<'_, W, K>,
    tag: Tag,
    value: Value,
) -> tiff::TiffResult<()> {
    macro_rules! list {
        ($items:expr, $variant:ident, $ty:ty) => {{
            let v: Option<Vec<$ty>> = $items
                .iter()
                .map(|x| match x {
                    Value::$variant(a) => Some(*a),
                    _ => None,
                })
                .collect();
            match v {
                Some(v) => dir.write_tag(tag, v.as_slice()),
                None => Ok(()),
            }
        }};
    }
    match value {
        Value::Byte(v) => dir.write_tag(tag, v),
        Value::Short(v) => dir.write_tag(tag, v),
        Value::SignedByte(v) => dir.write_tag(tag, v),
        Value::SignedShort(v) => dir.write_tag(tag, v),
        Value::Signed(v) => dir.write_tag(tag, v),
        Value::SignedBig(v) => dir.write_tag(tag, v),
        Value::Unsigned(v) => dir.write_tag(tag, v),
        Value::UnsignedBig(v) => dir.write_tag(tag, v),
        Value::Float(v) => dir.write_tag(tag, v),
        Value::Double(v) => dir.write_tag(tag, v),
        Value::Rational(n, d) => dir.write_tag(tag, Rational { n, d }),
        Value::SRational(n, d) => dir.write_tag(tag, SRational { n, d }),
        Value::Ascii(s) => dir.write_tag(tag, s.as_str()),
        Value::List(items) => match items.first() {
            Some(Value::Byte(_)) => list!(items, Byte, u8),
            Some(Value::Short(_)) => list!(items, Short, u16),
            Some(Value::Unsigned(_)) => list!(items, Unsigned, u32),
            Some(Value::Signed(_)) => list!(items, Signed, i32),
            Some(Value::SignedShort(_)) => list!(items, SignedShort, i16),
            Some(Value::Float(_)) => list!(items, Float, f32),
            Some(Value::Double(_)) => list!(items, Double, f64),
            Some(Value::Rational(..)) => {
                let v: Option<Vec<Rational>> = items
                    .iter()
                    .map(|x| match x {
                        Value::Rational(n, d) => Some(Rational { n: *n, d: *d }),
                        _ => None,
                    })
                    .collect();
                match v {
                    Some(v) => dir.write_tag(tag, v.as_slice()),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_the_starts() {
        assert_eq!(ranges(5, &[3]), Ok(vec![(1, 2), (3, 3)]));
        assert_eq!(ranges(5, &[2, 5]), Ok(vec![(1, 1), (2, 3), (5, 1)]));
        for bad in [&[][..], &[1], &[6], &[3, 3], &[4, 2]] {
            assert!(ranges(5, bad).is_err(), "{bad:?}");
        }
    }
}
