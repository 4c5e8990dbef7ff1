//! DIN 5008 page layout (Form B) with printpdf: letterhead, address window with the
//! return line, information block, subject, flowing body over as many pages as it
//! needs, footer with the authority's contact and bank details, "Seite x von y",
//! fold and punch marks. Text is measured with the embedded font's own advance
//! widths, so lines break where they really end.

use printpdf::{
    Color, Greyscale, Line, LinePoint, Mm, Op, ParsedFont, PdfConformance, PdfDocument,
    PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, RawImage, RawImageData, RawImageFormat,
    TextItem, XObjectTransform,
};

use crate::LetterError;

const FONT_REGULAR: &[u8] = include_bytes!("../../../../assets/fonts/DejaVuSans.ttf");
const FONT_BOLD: &[u8] = include_bytes!("../../../../assets/fonts/DejaVuSans-Bold.ttf");

pub(crate) const PAGE_W: f32 = 210.0;
pub(crate) const PAGE_H: f32 = 297.0;
pub(crate) const LEFT: f32 = 25.0;
pub(crate) const RIGHT: f32 = 20.0;
pub(crate) const BODY_W: f32 = PAGE_W - LEFT - RIGHT;
/// First page: the body starts below the subject (Form B: subject at 103.46 mm).
const SUBJECT_TOP: f32 = 103.46;
/// Following pages: the body starts below a short running head.
pub(crate) const NEXT_TOP: f32 = 32.0;
/// The body ends above the page number and the footer.
pub(crate) const BODY_BOTTOM: f32 = 266.0;
const BODY_SIZE: f32 = 10.5;
const LINE: f32 = BODY_SIZE * 1.35 * 25.4 / 72.0;

/// The issuing authority as printed on every letter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Letterhead {
    /// e.g. "Gemeinde Musterstadt".
    pub authority: String,
    /// e.g. "Der Bürgermeister – Bürgerbüro".
    pub department: String,
    /// Postal address lines, e.g. ["Rathausplatz 1", "12345 Musterstadt"].
    pub address: Vec<String>,
    pub phone: String,
    pub email: String,
    pub web: String,
    pub opening_hours: String,
    pub bank: String,
    pub iban: String,
    pub bic: String,
    /// PNG logo (drawn in grey, top right), if any.
    pub logo_png: Option<Vec<u8>>,
}

/// A block of the letter's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A bold heading line, e.g. "Begründung".
    Heading(String),
    /// Flowing text; `\n` starts a new line, an empty line a new paragraph.
    Paragraph(String),
    /// Label / amount rows, amounts right-aligned, and a bold total.
    Table {
        rows: Vec<(String, String)>,
        total: Option<(String, String)>,
    },
}

/// What goes on the paper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub title: String,
    /// Recipient address lines (up to six).
    pub recipient: Vec<String>,
    /// Note above the address (e.g. "Zustellung mit Postzustellungsurkunde").
    pub postal_note: Option<String>,
    /// Information block: label, value (Aktenzeichen, Kassenzeichen, Datum, …).
    pub info: Vec<(String, String)>,
    /// Repeated in the running head of following pages.
    pub reference: String,
    pub subject: String,
    pub body: Vec<Block>,
    /// Creation time for the document information (seconds since 1970).
    pub created_unix: i64,
    /// Write PDF/A-2b (XMP metadata and the output intent printpdf ships: a 0.5 MB
    /// CMYK ICC profile in every letter) or a plain PDF 1.7 of a few dozen KB.
    pub pdfa: bool,
}

/// Parsed fonts and logo, kept for many letters.
pub struct Renderer {
    regular: ParsedFont,
    bold: ParsedFont,
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Face {
    Regular,
    Bold,
}

/// The address window (DIN 5008 Form B): first line's top, leading, size, lines, width.
pub(crate) const ADDRESS_TOP: f32 = 63.5;
pub(crate) const ADDRESS_LEADING: f32 = 4.2;
pub(crate) const ADDRESS_SIZE: f32 = 10.0;
pub(crate) const ADDRESS_LINES: usize = 6;
pub(crate) const ADDRESS_WIDTH: f32 = 80.0;

/// A positioned piece of text, in mm from the top left corner.
pub(crate) struct Text {
    pub(crate) x: f32,
    pub(crate) top: f32,
    pub(crate) size: f32,
    pub(crate) face: Face,
    pub(crate) grey: f32,
    pub(crate) text: String,
}

#[derive(Default)]
pub(crate) struct Sheet {
    pub(crate) texts: Vec<Text>,
    /// Horizontal rules: x1, x2, top.
    pub(crate) rules: Vec<(f32, f32, f32)>,
    /// Filled boxes (chart bars): x, top, width, height, grey.
    pub(crate) boxes: Vec<(f32, f32, f32, f32, f32)>,
}

impl Renderer {
    pub fn new() -> Result<Self, LetterError> {
        let parse = |bytes: &[u8]| {
            ParsedFont::from_bytes(bytes, 0, &mut Vec::new())
                .ok_or_else(|| LetterError::Font("Schrift nicht lesbar".into()))
        };
        Ok(Renderer {
            regular: parse(FONT_REGULAR)?,
            bold: parse(FONT_BOLD)?,
        })
    }

    /// The renderer of this process: the embedded fonts are parsed once, not per PDF.
    pub fn shared() -> Result<&'static Renderer, LetterError> {
        static SHARED: std::sync::OnceLock<Result<Renderer, LetterError>> =
            std::sync::OnceLock::new();
        SHARED
            .get_or_init(Renderer::new)
            .as_ref()
            .map_err(Clone::clone)
    }

    fn font(&self, face: Face) -> &ParsedFont {
        match face {
            Face::Regular => &self.regular,
            Face::Bold => &self.bold,
        }
    }

    /// The recipient's lines as they fit the address window (DIN 5008 Form B: at most
    /// six lines of at most 80 mm): empty lines dropped, "Straße" shortened to "Str."
    /// where a line is too long; what still does not fit is refused with the reason.
    pub fn fit_address(&self, lines: &[String]) -> Result<Vec<String>, String> {
        let mut out: Vec<String> = lines
            .iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|l| !l.is_empty())
            .collect();
        if out.len() > ADDRESS_LINES {
            return Err(format!(
                "Die Anschrift hat {} Zeilen; in das Anschriftfeld (DIN 5008) passen höchstens {ADDRESS_LINES}. Bitte die Anschrift kürzen.",
                out.len()
            ));
        }
        for line in &mut out {
            if self.width(line, ADDRESS_SIZE, false) > ADDRESS_WIDTH {
                *line = line.replace("straße", "str.").replace("Straße", "Str.");
            }
            if self.width(line, ADDRESS_SIZE, false) > ADDRESS_WIDTH {
                return Err(format!(
                    "Die Anschriftzeile „{line}“ ist zu lang für das Anschriftfeld (höchstens {ADDRESS_WIDTH:.0} mm, DIN 5008). Bitte die Anschrift kürzen."
                ));
            }
        }
        Ok(out)
    }

    /// Width of `text` in mm.
    pub fn width(&self, text: &str, size: f32, bold: bool) -> f32 {
        let font = self.font(if bold { Face::Bold } else { Face::Regular });
        let upem = f32::from(font.units_per_em.max(1));
        let units: u32 = text
            .chars()
            .map(|c| {
                font.lookup_glyph_index(c as u32)
                    .and_then(|g| font.get_glyph_width(g))
                    .map(u32::from)
                    .unwrap_or(upem as u32 / 2)
            })
            .sum();
        units as f32 / upem * size * 25.4 / 72.0
    }

    /// Characters the font cannot show (they would come out as boxes).
    pub fn missing_glyphs(&self, text: &str) -> Vec<char> {
        let mut missing: Vec<char> = text
            .chars()
            .filter(|c| !c.is_control() && self.regular.lookup_glyph_index(*c as u32).is_none())
            .collect();
        missing.dedup();
        missing
    }

    /// Break `text` into lines no wider than `width` mm.
    fn wrap(&self, text: &str, size: f32, face: Face, width: f32) -> Vec<String> {
        let bold = face == Face::Bold;
        let mut lines = Vec::new();
        for raw in text.split('\n') {
            let mut line = String::new();
            for word in raw.split(' ').filter(|w| !w.is_empty()) {
                let candidate = if line.is_empty() {
                    word.to_owned()
                } else {
                    format!("{line} {word}")
                };
                if self.width(&candidate, size, bold) <= width {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                // A word longer than the line is broken by characters.
                for c in word.chars() {
                    line.push(c);
                    if self.width(&line, size, bold) > width {
                        line.pop();
                        lines.push(std::mem::take(&mut line));
                        line.push(c);
                    }
                }
            }
            lines.push(line);
        }
        lines
    }

    /// Line breaking as the body uses it (regular face), for tests and previews.
    pub fn wrap_lines(&self, text: &str, size: f32, width: f32) -> Vec<String> {
        self.wrap(text, size, Face::Regular, width)
    }

    /// Lay out and write the PDF.
    pub fn render(&self, letter: &Page, head: &Letterhead) -> Result<Vec<u8>, LetterError> {
        let mut sheets = vec![Sheet::default()];
        self.first_page(&mut sheets[0], letter, head);
        let mut top = SUBJECT_TOP;
        let put = |sheets: &mut Vec<Sheet>, top: &mut f32, text: Text| {
            if *top + LINE > BODY_BOTTOM {
                sheets.push(Sheet::default());
                *top = NEXT_TOP;
            }
            let t = *top;
            if let Some(sheet) = sheets.last_mut() {
                sheet.texts.push(Text { top: t, ..text });
            }
            *top += LINE;
        };
        let subject = self.wrap(&letter.subject, 11.0, Face::Bold, BODY_W);
        for line in subject {
            put(&mut sheets, &mut top, text(LEFT, 11.0, Face::Bold, line));
        }
        top += LINE;
        for block in &letter.body {
            match block {
                Block::Heading(h) => {
                    // Keep a heading with at least two lines of what follows.
                    if top + 3.0 * LINE > BODY_BOTTOM {
                        sheets.push(Sheet::default());
                        top = NEXT_TOP;
                    }
                    put(
                        &mut sheets,
                        &mut top,
                        text(LEFT, BODY_SIZE, Face::Bold, h.clone()),
                    );
                }
                Block::Paragraph(p) => {
                    for line in self.wrap(p, BODY_SIZE, Face::Regular, BODY_W) {
                        put(
                            &mut sheets,
                            &mut top,
                            text(LEFT, BODY_SIZE, Face::Regular, line),
                        );
                    }
                    top += LINE * 0.6;
                }
                Block::Table { rows, total } => {
                    let amount_w = 35.0;
                    for (label, amount) in rows {
                        let lines =
                            self.wrap(label, BODY_SIZE, Face::Regular, BODY_W - amount_w - 5.0);
                        let last = lines.len().saturating_sub(1);
                        for (i, line) in lines.into_iter().enumerate() {
                            put(
                                &mut sheets,
                                &mut top,
                                text(LEFT, BODY_SIZE, Face::Regular, line),
                            );
                            if i == last {
                                let x = PAGE_W - RIGHT - self.width(amount, BODY_SIZE, false);
                                if let Some(sheet) = sheets.last_mut() {
                                    sheet.texts.push(Text {
                                        top: top - LINE,
                                        ..text(x, BODY_SIZE, Face::Regular, amount.clone())
                                    });
                                }
                            }
                        }
                    }
                    if let Some((label, amount)) = total {
                        if top + LINE > BODY_BOTTOM {
                            sheets.push(Sheet::default());
                            top = NEXT_TOP;
                        }
                        if let Some(sheet) = sheets.last_mut() {
                            sheet.rules.push((LEFT, PAGE_W - RIGHT, top - 1.0));
                        }
                        top += 1.0;
                        put(
                            &mut sheets,
                            &mut top,
                            text(LEFT, BODY_SIZE, Face::Bold, label.clone()),
                        );
                        let x = PAGE_W - RIGHT - self.width(amount, BODY_SIZE, true);
                        if let Some(sheet) = sheets.last_mut() {
                            sheet.texts.push(Text {
                                top: top - LINE,
                                ..text(x, BODY_SIZE, Face::Bold, amount.clone())
                            });
                        }
                    }
                    top += LINE * 0.6;
                }
            }
        }

        let pages = sheets.len();
        for (i, sheet) in sheets.iter_mut().enumerate() {
            if i > 0 {
                self.running_head(sheet, letter, head);
            }
            self.footer(sheet, head);
            if pages > 1 {
                let label = format!("Seite {} von {pages}", i + 1);
                let x = PAGE_W - RIGHT - self.width(&label, 8.5, false);
                sheet.texts.push(Text {
                    top: 271.0,
                    ..text(x, 8.5, Face::Regular, label)
                });
            }
        }
        self.write(letter, head, &sheets)
    }

    fn first_page(&self, sheet: &mut Sheet, letter: &Page, head: &Letterhead) {
        sheet.texts.push(Text {
            top: 18.0,
            ..text(LEFT, 15.0, Face::Bold, head.authority.clone())
        });
        sheet.texts.push(Text {
            top: 25.0,
            grey: 0.25,
            ..text(LEFT, 10.0, Face::Regular, head.department.clone())
        });
        // Return line in the 5 mm zone at the top of the address field.
        let back = std::iter::once(head.authority.as_str())
            .chain(head.address.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" · ");
        sheet.texts.push(Text {
            top: 48.5,
            grey: 0.3,
            ..text(20.0, 6.5, Face::Regular, back)
        });
        sheet.rules.push((20.0, 105.0, 51.2));
        if let Some(note) = &letter.postal_note {
            sheet.texts.push(Text {
                top: 55.0,
                ..text(20.0, 8.0, Face::Bold, note.clone())
            });
        }
        // Anschriftzone of DIN 5008 Form B: 62.7 to 90 mm from the top, six lines of
        // 10 pt; the last line's descenders end above 88 mm.
        for (i, line) in letter.recipient.iter().take(ADDRESS_LINES).enumerate() {
            sheet.texts.push(Text {
                top: ADDRESS_TOP + i as f32 * ADDRESS_LEADING,
                ..text(20.0, ADDRESS_SIZE, Face::Regular, line.clone())
            });
        }
        // Information block: 125 mm from the left, from 50 mm.
        let mut top = 52.0;
        for (label, value) in &letter.info {
            sheet.texts.push(Text {
                top,
                grey: 0.35,
                ..text(125.0, 7.5, Face::Regular, label.clone())
            });
            for line in self.wrap(value, 9.0, Face::Regular, 53.0) {
                sheet.texts.push(Text {
                    top,
                    ..text(147.0, 9.0, Face::Regular, line)
                });
                top += 4.2;
            }
        }
        // Fold marks (105 mm, 210 mm) and the punch mark (148.5 mm).
        for (y, len) in [(105.0, 5.0), (148.5, 7.0), (210.0, 5.0)] {
            sheet.rules.push((3.0, 3.0 + len, y));
        }
    }

    pub(crate) fn running_head(&self, sheet: &mut Sheet, letter: &Page, head: &Letterhead) {
        sheet.texts.push(Text {
            top: 15.0,
            ..text(LEFT, 9.0, Face::Bold, head.authority.clone())
        });
        let x = PAGE_W - RIGHT - self.width(&letter.reference, 9.0, false);
        sheet.texts.push(Text {
            top: 15.0,
            ..text(x, 9.0, Face::Regular, letter.reference.clone())
        });
        sheet.rules.push((LEFT, PAGE_W - RIGHT, 18.0));
    }

    pub(crate) fn footer(&self, sheet: &mut Sheet, head: &Letterhead) {
        sheet.rules.push((LEFT, PAGE_W - RIGHT, 275.0));
        let mut columns: Vec<Vec<String>> = vec![
            std::iter::once(head.authority.clone())
                .chain(head.address.iter().cloned())
                .collect(),
            vec![
                format!("Telefon {}", head.phone),
                head.email.clone(),
                head.web.clone(),
            ],
            vec![
                head.bank.clone(),
                format!("IBAN {}", head.iban),
                format!("BIC {}", head.bic),
            ],
        ];
        if !head.opening_hours.is_empty() {
            columns[1].push(head.opening_hours.clone());
        }
        for (c, lines) in columns.into_iter().enumerate() {
            for (i, line) in lines.into_iter().enumerate() {
                sheet.texts.push(Text {
                    top: 279.0 + i as f32 * 3.2,
                    grey: 0.3,
                    ..text(LEFT + c as f32 * 57.0, 7.0, Face::Regular, line)
                });
            }
        }
    }

    pub(crate) fn write(
        &self,
        letter: &Page,
        head: &Letterhead,
        sheets: &[Sheet],
    ) -> Result<Vec<u8>, LetterError> {
        let mut doc = PdfDocument::new(&letter.title);
        let info = &mut doc.metadata.info;
        if letter.pdfa {
            info.conformance = PdfConformance::A2B_2011_PDF_1_7;
        }
        let created = printpdf::date::DateTime::from_unix_timestamp(letter.created_unix)
            .map_err(|e| LetterError::Input(format!("Datum: {e}")))?;
        info.creation_date = created;
        info.modification_date = created;
        info.metadata_date = created;
        info.author = head.authority.clone();
        info.creator = "Amtsstube".into();
        info.producer = "Amtsstube".into();
        info.subject = letter.subject.clone();
        // Embed only the glyphs this letter uses (a few KB instead of 1.4 MB of fonts):
        // printpdf subsets only with its layout engine, which a letter does not need.
        let used = |face: Face| -> String {
            sheets
                .iter()
                .flat_map(|sh| sh.texts.iter())
                .filter(|t| t.face == face)
                .flat_map(|t| t.text.chars())
                .collect()
        };
        let regular = doc.add_font(&subset(FONT_REGULAR, &self.regular, &used(Face::Regular))?);
        let bold = doc.add_font(&subset(FONT_BOLD, &self.bold, &used(Face::Bold))?);
        let logo = match &head.logo_png {
            Some(bytes) => Some(grey_png(bytes)?),
            None => None,
        };
        let logo = logo.map(|(image, w, h)| (doc.add_image(&image), w, h));

        let mut pages = Vec::with_capacity(sheets.len());
        for (index, sheet) in sheets.iter().enumerate() {
            let mut ops = Vec::new();
            if let (0, Some((id, w, h))) = (index, &logo) {
                // 22 mm high, top right of the letterhead.
                let height_mm = 22.0;
                let dpi = *h as f32 / (height_mm / 25.4);
                let width_mm = *w as f32 / dpi * 25.4;
                ops.push(Op::UseXobject {
                    id: id.clone(),
                    transform: XObjectTransform {
                        translate_x: Some(Mm(PAGE_W - RIGHT - width_mm).into()),
                        translate_y: Some(Mm(PAGE_H - 8.0 - height_mm).into()),
                        dpi: Some(dpi),
                        ..Default::default()
                    },
                });
            }
            ops.push(Op::SetOutlineThickness { pt: Pt(0.4) });
            ops.push(Op::SetOutlineColor {
                col: Color::Greyscale(Greyscale::new(0.4, None)),
            });
            for &(x, top, w, h, grey) in &sheet.boxes {
                ops.push(Op::SetFillColor {
                    col: Color::Greyscale(Greyscale::new(grey, None)),
                });
                ops.push(Op::DrawRectangle {
                    rectangle: printpdf::Rect {
                        x: Mm(x).into(),
                        y: Mm(PAGE_H - top - h).into(),
                        width: Mm(w).into(),
                        height: Mm(h).into(),
                        mode: Some(printpdf::PaintMode::Fill),
                        winding_order: None,
                    },
                });
            }
            for &(x1, x2, top) in &sheet.rules {
                let y = Mm(PAGE_H - top).into();
                ops.push(Op::DrawLine {
                    line: Line {
                        points: vec![
                            LinePoint {
                                p: Point {
                                    x: Mm(x1).into(),
                                    y,
                                },
                                bezier: false,
                            },
                            LinePoint {
                                p: Point {
                                    x: Mm(x2).into(),
                                    y,
                                },
                                bezier: false,
                            },
                        ],
                        is_closed: false,
                    },
                });
            }
            for t in sheet.texts.iter().filter(|t| !t.text.is_empty()) {
                let font = match t.face {
                    Face::Regular => regular.clone(),
                    Face::Bold => bold.clone(),
                };
                // `top` is the top of the line box; the baseline sits 80 % of the size lower.
                let baseline = PAGE_H - t.top - t.size * 0.8 * 25.4 / 72.0;
                ops.extend([
                    Op::StartTextSection,
                    Op::SetFillColor {
                        col: Color::Greyscale(Greyscale::new(t.grey, None)),
                    },
                    Op::SetFont {
                        font: PdfFontHandle::External(font),
                        size: Pt(t.size),
                    },
                    Op::SetTextCursor {
                        pos: Point {
                            x: Mm(t.x).into(),
                            y: Mm(baseline).into(),
                        },
                    },
                    Op::ShowText {
                        items: vec![TextItem::Text(t.text.clone())],
                    },
                    Op::EndTextSection,
                ]);
            }
            pages.push(PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), ops));
        }
        let mut warnings = Vec::new();
        let mut lo = doc
            .with_pages(pages)
            .to_lopdf_document(&PdfSaveOptions::default(), &mut warnings);
        // The PDF/A output intent's ICC profile (0.6 MB) is the same in every letter:
        // put in the copy compressed once, so `compress` below leaves it alone.
        for object in lo.objects.values_mut() {
            // PDF/A: the XMP metadata stays unfiltered, readable by archive tools.
            if let lopdf::Object::Stream(stream) = object
                && stream
                    .dict
                    .get(b"Type")
                    .is_ok_and(|t| t.as_name().is_ok_and(|n| n == b"Metadata"))
            {
                stream.allows_compression = false;
            }
            if let lopdf::Object::Stream(stream) = object
                && stream.dict.get(b"N").is_ok()
                && stream.dict.get(b"Filter").is_err()
                && stream.content.len() > 100_000
            {
                let (raw_len, packed) = compressed_icc(&stream.content)?;
                if raw_len == stream.content.len() {
                    stream.dict.set("Filter", "FlateDecode");
                    stream.set_content(packed.clone());
                }
            }
        }
        if letter.pdfa {
            pdfa_identification(&mut lo, letter, head)?;
        }
        compress(&mut lo)?;
        let mut bytes = Vec::new();
        lo.save_to(&mut bytes)
            .map_err(|e| LetterError::Input(format!("PDF nicht schreibbar: {e}")))?;
        Ok(bytes)
    }
}

/// Deflate every stream that may be compressed and is not yet, as lopdf's
/// `Document::compress` does, but at level 3: lopdf always takes the best (level 9),
/// which spent half of a letter's time on its font subsets and content – for the
/// same size within 1 KB (measured: 38 KB either way; level 1 gives 47 KB).
fn compress(lo: &mut lopdf::Document) -> Result<(), LetterError> {
    use std::io::Write as _;
    for object in lo.objects.values_mut() {
        if let lopdf::Object::Stream(stream) = object
            && stream.allows_compression
            && stream.dict.get(b"Filter").is_err()
        {
            let mut enc = flate2::write::ZlibEncoder::new(
                Vec::with_capacity(stream.content.len() / 2),
                flate2::Compression::new(DEFLATE_LEVEL),
            );
            enc.write_all(&stream.content)
                .map_err(|e| LetterError::Input(format!("PDF nicht komprimierbar: {e}")))?;
            let packed = enc
                .finish()
                .map_err(|e| LetterError::Input(format!("PDF nicht komprimierbar: {e}")))?;
            // As lopdf: only when it saves more than the filter entry costs.
            if packed.len() + 19 < stream.content.len() {
                stream.dict.set("Filter", "FlateDecode");
                stream.set_content(packed);
            }
        }
    }
    Ok(())
}

/// zlib level of the letters' streams (1 fastest … 9 smallest); see [`compress`].
const DEFLATE_LEVEL: u32 = 3;

/// What printpdf leaves out of PDF/A: the XMP metadata identifying PDF/A-2b (printpdf
/// writes XMP only for PDF/X), an output intent of the PDF/A kind (it writes GTS_PDFX),
/// a document information dictionary that agrees with the XMP, and the file ID.
fn pdfa_identification(
    lo: &mut lopdf::Document,
    letter: &Page,
    head: &Letterhead,
) -> Result<(), LetterError> {
    use lopdf::{Dictionary, Object, Stream, StringFormat};
    let at = jiff::Timestamp::from_second(letter.created_unix)
        .map_err(|e| LetterError::Input(format!("Datum: {e}")))?;
    let xmp_date = at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let pdf_date = at.strftime("D:%Y%m%d%H%M%SZ").to_string();
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let xmp = format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n\
<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n\
<rdf:Description rdf:about=\"\" xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\" xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\">\n\
<pdfaid:part>2</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>\n\
<dc:format>application/pdf</dc:format>\n\
<dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">{title}</rdf:li></rdf:Alt></dc:title>\n\
<dc:creator><rdf:Seq><rdf:li>{author}</rdf:li></rdf:Seq></dc:creator>\n\
<xmp:CreateDate>{date}</xmp:CreateDate><xmp:ModifyDate>{date}</xmp:ModifyDate><xmp:MetadataDate>{date}</xmp:MetadataDate>\n\
<xmp:CreatorTool>Amtsstube</xmp:CreatorTool><pdf:Producer>Amtsstube</pdf:Producer>\n\
</rdf:Description></rdf:RDF></x:xmpmeta>\n<?xpacket end=\"w\"?>",
        title = esc(&letter.title),
        author = esc(&head.authority),
        date = xmp_date,
    );
    let mut stream = Stream::new(
        Dictionary::from_iter(vec![
            ("Type", Object::Name(b"Metadata".to_vec())),
            ("Subtype", Object::Name(b"XML".to_vec())),
        ]),
        xmp.into_bytes(),
    );
    stream.allows_compression = false;
    let metadata = lo.add_object(Object::Stream(stream));
    let text = |s: &str| Object::String(utf16be(s), StringFormat::Hexadecimal);
    let info = lo.add_object(Object::Dictionary(Dictionary::from_iter(vec![
        ("Title", text(&letter.title)),
        ("Author", text(&head.authority)),
        ("Creator", text("Amtsstube")),
        ("Producer", text("Amtsstube")),
        ("CreationDate", Object::string_literal(pdf_date.clone())),
        ("ModDate", Object::string_literal(pdf_date)),
    ])));
    lo.trailer.set("Info", Object::Reference(info));
    // A stable file ID from the content that identifies the letter.
    let id = {
        use std::hash::{Hash, Hasher};
        let mut a = std::collections::hash_map::DefaultHasher::new();
        (&letter.title, &letter.reference, letter.created_unix).hash(&mut a);
        let x = a.finish();
        x.to_be_bytes()
            .iter()
            .chain(x.rotate_left(17).to_be_bytes().iter())
            .copied()
            .collect::<Vec<u8>>()
    };
    lo.trailer.set(
        "ID",
        Object::Array(vec![
            Object::String(id.clone(), StringFormat::Hexadecimal),
            Object::String(id, StringFormat::Hexadecimal),
        ]),
    );
    let catalog_id = lo
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(|e| LetterError::Input(format!("PDF ohne Katalog: {e}")))?;
    let catalog = lo
        .get_object_mut(catalog_id)
        .and_then(Object::as_dict_mut)
        .map_err(|e| LetterError::Input(format!("PDF-Katalog: {e}")))?;
    catalog.set("Metadata", Object::Reference(metadata));
    if let Ok(Object::Array(intents)) = catalog.get_mut(b"OutputIntents") {
        for intent in intents.iter_mut() {
            if let Object::Dictionary(d) = intent {
                d.set("S", Object::Name(b"GTS_PDFA1".to_vec()));
            }
        }
    }
    Ok(())
}

/// A PDF text string in UTF-16BE with byte order mark (umlauts in titles).
fn utf16be(s: &str) -> Vec<u8> {
    let mut out = vec![0xFE, 0xFF];
    for unit in s.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

/// The output-intent profile compressed once per process (it never changes).
fn compressed_icc(raw: &[u8]) -> Result<(usize, &'static Vec<u8>), LetterError> {
    use std::io::Write;
    static PACKED: std::sync::OnceLock<(usize, Vec<u8>)> = std::sync::OnceLock::new();
    if let Some((len, packed)) = PACKED.get() {
        return Ok((*len, packed));
    }
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(raw)
        .map_err(|e| LetterError::Input(format!("Farbprofil: {e}")))?;
    let packed = enc
        .finish()
        .map_err(|e| LetterError::Input(format!("Farbprofil: {e}")))?;
    let (len, packed) = PACKED.get_or_init(|| (raw.len(), packed));
    Ok((*len, packed))
}

/// A font reduced to the glyphs of `chars` (plus .notdef), parsed again so that its
/// character map and advance widths match the new glyph numbers.
fn subset(bytes: &[u8], full: &ParsedFont, chars: &str) -> Result<ParsedFont, LetterError> {
    use allsorts::binary::read::ReadScope;
    use allsorts::font_data::FontData;
    let mut ids: Vec<u16> = chars
        .chars()
        .filter_map(|c| full.lookup_glyph_index(c as u32))
        .filter(|g| *g != 0)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.insert(0, 0);
    let err = |e: &dyn std::fmt::Display| LetterError::Font(format!("Teilschrift: {e}"));
    let file = ReadScope::new(bytes)
        .read::<FontData<'_>>()
        .map_err(|e| err(&e))?;
    let provider = file.table_provider(0).map_err(|e| err(&e))?;
    let sub = allsorts::subset::subset(
        &provider,
        &ids,
        &allsorts::subset::SubsetProfile::Pdf,
        allsorts::subset::CmapTarget::Unicode,
    )
    .map_err(|e| err(&e))?;
    ParsedFont::from_bytes(&sub, 0, &mut Vec::new()).ok_or_else(|| err(&"nicht lesbar"))
}

pub(crate) fn text(x: f32, size: f32, face: Face, text: String) -> Text {
    Text {
        x,
        top: 0.0,
        size,
        face,
        grey: 0.0,
        text,
    }
}

/// Decode a PNG and flatten it to grey on white (no transparency, as PDF/A-1 and
/// plain printers like it).
fn grey_png(bytes: &[u8]) -> Result<(RawImage, usize, usize), LetterError> {
    let bad =
        |e: &dyn std::fmt::Display| LetterError::Input(format!("Logo (PNG) nicht lesbar: {e}"));
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| bad(&e))?;
    let size = reader.output_buffer_size().ok_or_else(|| bad(&"zu groß"))?;
    if size > 64 * 1024 * 1024 {
        return Err(bad(&"zu groß"));
    }
    let mut buf = vec![0; size];
    let frame = reader.next_frame(&mut buf).map_err(|e| bad(&e))?;
    let (w, h) = (frame.width as usize, frame.height as usize);
    let channels = frame.color_type.samples();
    let data = &buf[..frame.buffer_size()];
    let mut grey = Vec::with_capacity(w * h);
    for px in data.chunks_exact(channels) {
        let (lum, alpha) = match channels {
            1 => (f32::from(px[0]), 255.0),
            2 => (f32::from(px[0]), f32::from(px[1])),
            3 => (luma(px), 255.0),
            _ => (luma(px), f32::from(px[3])),
        };
        let a = alpha / 255.0;
        grey.push((lum * a + 255.0 * (1.0 - a)).round() as u8);
    }
    Ok((
        RawImage {
            pixels: RawImageData::U8(grey),
            width: w,
            height: h,
            data_format: RawImageFormat::R8,
            tag: Vec::new(),
        },
        w,
        h,
    ))
}

fn luma(px: &[u8]) -> f32 {
    0.299 * f32::from(px[0]) + 0.587 * f32::from(px[1]) + 0.114 * f32::from(px[2])
}
