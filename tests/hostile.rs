//! Hostile scanner files made in a few bytes or a few lines: shared by
//! `benches/hostile_bench.rs` (time and peak memory per file) and
//! `tests/windows.rs` (the same files in the hot folder of the Windows program).
//! The scan crate's own tests build theirs (`scan/tests/intake.rs`).

/// A few bytes of CCITT G4 TIFF that claim a page of `w` × `h` pixels.
pub fn tiff_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut t = b"II*\0".to_vec();
    t.extend_from_slice(&8u32.to_le_bytes());
    let entries: [(u16, u16, u32); 8] = [
        (256, 4, w),
        (257, 4, h),
        (258, 3, 1),
        (259, 3, 4),
        (262, 3, 0),
        (273, 4, 110),
        (278, 4, h),
        (279, 4, 16),
    ];
    t.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&1u32.to_le_bytes());
        if kind == 3 {
            t.extend_from_slice(&(value as u16).to_le_bytes());
            t.extend_from_slice(&[0, 0]);
        } else {
            t.extend_from_slice(&value.to_le_bytes());
        }
    }
    t.extend_from_slice(&[0u8; 20]);
    t
}

/// A PDF from numbered object bodies, with a correct cross-reference table.
pub fn pdf_of(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.5\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

pub fn page_objects() -> Vec<Vec<u8>> {
    vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".to_vec(),
    ]
}

/// An object stream that inflates to `inflated` bytes.
pub fn pdf_object_stream_bomb(inflated: usize) -> Vec<u8> {
    let mut content = b"4 0 ".to_vec();
    content.resize(inflated, b' ');
    content.extend_from_slice(b"<< /Bombe true >>");
    let mut stream = lopdf::Stream::new(lopdf::Dictionary::new(), content);
    let _ = stream.compress(); // Flate; the bomb is the compressed form
    let packed = stream.content;
    let mut objects = page_objects();
    let mut obj = format!(
        "<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {} >>\nstream\n",
        packed.len()
    )
    .into_bytes();
    obj.extend_from_slice(&packed);
    obj.extend_from_slice(b"\nendstream");
    objects.push(obj);
    pdf_of(&objects)
}

pub fn pdf_nested(depth: usize) -> Vec<u8> {
    let mut objects = page_objects();
    let mut nested = "[".repeat(depth).into_bytes();
    nested.extend_from_slice("]".repeat(depth).as_bytes());
    objects.push(nested);
    pdf_of(&objects)
}
