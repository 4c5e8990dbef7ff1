//! The supervisor figures as a PDF report for the council: overview against the
//! previous period, decisions per week and the backlog by age as bar charts (drawn as
//! vector bars, each with its numbers), and the figures per case type and channel.
//! Same fonts, footer and page numbering as the letters.

use reports::{AGE_LABELS, Group, Report, Stats};

use crate::LetterError;
use crate::layout::{
    BODY_BOTTOM, Face, LEFT, Letterhead, NEXT_TOP, PAGE_W, Page, RIGHT, Renderer, Sheet, Text, text,
};

const SIZE: f32 = 9.0;
const ROW: f32 = 5.0;

struct Flow<'a> {
    r: &'a Renderer,
    sheets: Vec<Sheet>,
    top: f32,
}

impl<'a> Flow<'a> {
    /// A first page with the authority, its department and the document's title.
    fn titled(r: &'a Renderer, head: &Letterhead, title: &str) -> Flow<'a> {
        let mut f = Flow {
            r,
            sheets: vec![Sheet::default()],
            top: 15.0,
        };
        f.put(LEFT, 14.0, Face::Bold, head.authority.clone());
        f.top += 7.0;
        f.put(LEFT, 9.0, Face::Regular, head.department.clone());
        f.top += 10.0;
        f.put(LEFT, 13.0, Face::Bold, title);
        f.top += 7.0;
        f
    }
    fn sheet(&mut self) -> &mut Sheet {
        if self.sheets.is_empty() {
            self.sheets.push(Sheet::default());
        }
        let last = self.sheets.len() - 1;
        &mut self.sheets[last]
    }

    /// Room for `h` mm, else a new page.
    fn need(&mut self, h: f32) {
        if self.top + h > BODY_BOTTOM {
            self.sheets.push(Sheet::default());
            self.top = NEXT_TOP;
        }
    }

    fn put(&mut self, x: f32, size: f32, face: Face, s: impl Into<String>) {
        let top = self.top;
        self.sheet().texts.push(Text {
            top,
            ..text(x, size, face, s.into())
        });
    }

    fn right(&mut self, right_edge: f32, size: f32, face: Face, s: impl Into<String>) {
        let s = s.into();
        let x = right_edge - self.r.width(&s, size, face == Face::Bold);
        self.put(x, size, face, s);
    }

    /// A heading kept on the page with `room` mm of what follows.
    fn heading(&mut self, s: &str, room: f32) {
        self.need(3.0 * ROW + room);
        self.top += ROW * 0.6;
        self.put(LEFT, 11.0, Face::Bold, s);
        self.top += ROW * 1.4;
    }

    fn paragraph(&mut self, s: &str) {
        for line in self.r.wrap_lines(s, SIZE, PAGE_W - LEFT - RIGHT) {
            self.need(ROW);
            self.put(LEFT, SIZE, Face::Regular, line);
            self.top += ROW;
        }
    }

    /// A table: column right edges (first column left-aligned at LEFT), header, rows.
    fn table(&mut self, edges: &[f32], header: &[&str], rows: &[Vec<String>]) {
        let head = |f: &mut Flow<'_>| {
            f.need(2.0 * ROW);
            for (i, h) in header.iter().enumerate() {
                if i == 0 {
                    f.put(LEFT, 8.0, Face::Bold, *h);
                } else {
                    f.right(edges[i], 8.0, Face::Bold, *h);
                }
            }
            f.top += ROW;
            let top = f.top - 1.0;
            f.sheet().rules.push((LEFT, PAGE_W - RIGHT, top));
        };
        head(self);
        for row in rows {
            if self.top + ROW > BODY_BOTTOM {
                self.need(2.0 * ROW);
                head(self);
            }
            // The first column wraps; the figures stand on its first line.
            let w = edges.get(1).copied().unwrap_or(PAGE_W) - LEFT - 18.0;
            let first = row.first().map(String::as_str).unwrap_or("");
            let label = self.r.wrap_lines(first, SIZE, w.max(30.0));
            for (i, cell) in row.iter().enumerate().skip(1) {
                self.right(edges[i], SIZE, Face::Regular, cell.clone());
            }
            for line in label {
                self.put(LEFT, SIZE, Face::Regular, line);
                self.top += ROW;
            }
        }
        self.top += ROW * 0.5;
    }

    /// Vertical bars with their value above and the label below.
    fn bars(&mut self, values: &[(String, u32)], label_every: usize) {
        let height = 45.0;
        self.need(height + 3.0 * ROW);
        // No values: an empty chart scaled to 1.
        let max = values.iter().map(|v| v.1).max().unwrap_or(0).max(1) as f32;
        let width = PAGE_W - LEFT - RIGHT;
        let slot = width / values.len().max(1) as f32;
        let base = self.top + height + ROW;
        for (i, (label, v)) in values.iter().enumerate() {
            let h = height * *v as f32 / max;
            let x = LEFT + i as f32 * slot;
            let bar = (slot * 0.7).min(14.0);
            self.sheet()
                .boxes
                .push((x + (slot - bar) / 2.0, base - h, bar, h, 0.35));
            let value = v.to_string();
            let vx = x + slot / 2.0 - self.r.width(&value, 6.5, false) / 2.0;
            let top = base - h - 3.2;
            self.sheet().texts.push(Text {
                top,
                ..text(vx, 6.5, Face::Regular, value)
            });
            if i % label_every.max(1) == 0 {
                let lx = x + slot / 2.0 - self.r.width(label, 6.5, false) / 2.0;
                self.sheet().texts.push(Text {
                    top: base + 1.0,
                    ..text(lx, 6.5, Face::Regular, label.clone())
                });
            }
        }
        self.sheet().rules.push((LEFT, PAGE_W - RIGHT, base));
        self.top = base + 2.0 * ROW;
    }
}

fn num(v: f64) -> String {
    format!("{v:.1}").replace('.', ",")
}

fn days(v: Option<f64>) -> String {
    v.map(|d| format!("{} Tage", num(d)))
        .unwrap_or_else(|| "–".into())
}

fn stat(s: &Stats) -> String {
    format!("{} (P90 {})", days(s.median_days), days(s.p90_days))
}

fn german_day(iso: &str) -> String {
    iso.parse::<jiff::civil::Date>()
        .map(crate::compose::datum)
        .unwrap_or_else(|_| iso.to_owned())
}

fn group_row(g: &Group) -> Vec<String> {
    vec![
        g.label.clone(),
        g.current.arrivals.to_string(),
        g.current.decided.to_string(),
        days(g.current.arrival_to_decision.median_days),
        days(g.current.arrival_to_decision.p90_days),
        g.backlog.open.to_string(),
        g.backlog.by_age[3].to_string(),
        g.backlog.overdue.to_string(),
    ]
}

/// The report as PDF. `audit_head`: the audit chain's last entry and hash when
/// printed – an anchor outside the machine to compare the log with later.
pub fn report_pdf(
    renderer: &Renderer,
    r: &Report,
    head: &Letterhead,
    pdfa: bool,
    created_unix: i64,
    audit_head: Option<(i64, &str)>,
) -> Result<Vec<u8>, LetterError> {
    let mut f = Flow::titled(renderer, head, "Bearbeitungszeiten, Rückstand und Fristen");
    let period = format!(
        "Zeitraum {} bis {}, verglichen mit dem gleich langen Zeitraum davor",
        german_day(&r.from),
        german_day(&r.until)
    );
    f.paragraph(&period);
    f.paragraph("Alle Zahlen gelten für das Team; personenbezogene Auswertungen enthält dieser Bericht nicht. Durchlaufzeiten in Kalendertagen; Median und 90. Perzentil (P90).");

    let t = &r.total;
    let (c, p) = (&t.current, &t.previous);
    f.heading("Überblick", 4.0 * ROW);
    let edges = [0.0, 150.0, PAGE_W - RIGHT];
    let pct = |v: Option<f64>| {
        v.map(|x| format!("{} %", num(x * 100.0)))
            .unwrap_or_else(|| "–".into())
    };
    let rows: Vec<Vec<String>> = vec![
        vec![
            "Eingänge".into(),
            c.arrivals.to_string(),
            p.arrivals.to_string(),
        ],
        vec![
            "Entschieden".into(),
            c.decided.to_string(),
            p.decided.to_string(),
        ],
        vec![
            "Versandt".into(),
            c.dispatched.to_string(),
            p.dispatched.to_string(),
        ],
        vec![
            "Entscheidungen je Woche".into(),
            num(c.decided_per_week),
            num(p.decided_per_week),
        ],
        vec![
            "Eingang bis Entscheidung".into(),
            stat(&c.arrival_to_decision),
            stat(&p.arrival_to_decision),
        ],
        vec![
            "Eingang bis Versand".into(),
            stat(&c.arrival_to_dispatch),
            stat(&p.arrival_to_dispatch),
        ],
        vec![
            "Vollständigkeit bis Entscheidung".into(),
            stat(&c.complete_to_decision),
            stat(&p.complete_to_decision),
        ],
        vec![
            "Bearbeitung ohne Wartezeit".into(),
            stat(&c.processing),
            stat(&p.processing),
        ],
        vec![
            "Wartezeit auf Bürgerinnen und Bürger".into(),
            stat(&c.waiting_for_citizen),
            stat(&p.waiting_for_citizen),
        ],
        vec![
            "Nachforderungsquote".into(),
            pct(c.nachforderungsquote),
            pct(p.nachforderungsquote),
        ],
        vec![
            "Offen am Ende des Zeitraums".into(),
            t.backlog.open.to_string(),
            String::new(),
        ],
        vec![
            "Frist in den nächsten 14 Tagen".into(),
            t.backlog.due_soon.to_string(),
            String::new(),
        ],
        vec![
            "Frist überschritten".into(),
            t.backlog.overdue.to_string(),
            String::new(),
        ],
    ];
    f.table(&edges, &["Kennzahl", "Zeitraum", "Vorperiode"], &rows);
    f.paragraph("In der Tabelle nach Vorgangsart: „> 3 Mon.“ offen seit mehr als drei Monaten, „Frist üb.“ gesetzliche Frist oder Zielzeit überschritten.");

    f.heading("Entscheidungen je Woche", 45.0 + 3.0 * ROW);
    let weeks: Vec<(String, u32)> = r
        .weeks
        .iter()
        .map(|w| {
            (
                // german_day gives "dd.mm.yyyy"; the day and month are its first six bytes.
                german_day(&w.start).get(..6).unwrap_or_default().to_owned(),
                w.decided,
            )
        })
        .collect();
    let every = weeks.len().div_ceil(13).max(1);
    f.bars(&weeks, every);

    f.heading(
        "Offene Vorgänge nach Alter (Ende des Zeitraums)",
        45.0 + 3.0 * ROW,
    );
    let ages: Vec<(String, u32)> = AGE_LABELS
        .iter()
        .zip(t.backlog.by_age)
        .map(|(l, v)| ((*l).to_owned(), v))
        .collect();
    f.bars(&ages, 1);

    f.heading("Nach Vorgangsart und Eingangsweg", 4.0 * ROW);
    let edges = [0.0, 90.0, 106.0, 126.0, 145.0, 159.0, 175.0, PAGE_W - RIGHT];
    let rows: Vec<Vec<String>> = r
        .by_type
        .iter()
        .chain(&r.by_channel)
        .map(group_row)
        .collect();
    f.table(
        &edges,
        &[
            "Gruppe",
            "Eingänge",
            "Entsch.",
            "Median",
            "P90",
            "Offen",
            "> 3 Mon.",
            "Frist üb.",
        ],
        &rows,
    );
    if let Some((seq, hash)) = audit_head {
        f.heading("Prüfprotokoll", 3.0 * ROW);
        f.paragraph(&format!(
            "Stand des Prüfprotokolls beim Erstellen dieses Berichts: Eintrag {seq}, Prüfsumme {} {}. Zum späteren Abgleich mit dem Protokoll (Verwaltung: Protokoll prüfen) – ein nachträglich geändertes oder ersetztes Protokoll passt nicht mehr zu dieser Angabe.",
            &hash[..hash.len().min(32)],
            &hash[hash.len().min(32)..]
        ));
    }

    let page = Page {
        title: format!("Kennzahlen {} bis {}", r.from, r.until),
        recipient: Vec::new(),
        postal_note: None,
        info: Vec::new(),
        reference: format!(
            "Kennzahlen {} bis {}",
            german_day(&r.from),
            german_day(&r.until)
        ),
        subject: "Bearbeitungszeiten, Rückstand und Fristen".into(),
        body: Vec::new(),
        created_unix,
        pdfa,
    };
    finish(renderer, &page, head, f.sheets)
}

/// One batch on the release list for destroying paper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRow {
    pub stapel: String,
    pub karton: String,
    pub klasse: String,
    pub seiten: u32,
    /// Who released, and when (German date).
    pub freigabe: String,
}

/// The release list (Freigabeliste): the batches whose paper may be destroyed, with
/// box and batch numbers, and a field for the record of the destruction.
pub fn release_list_pdf(
    renderer: &Renderer,
    rows: &[ReleaseRow],
    head: &Letterhead,
    pdfa: bool,
    created_unix: i64,
) -> Result<Vec<u8>, LetterError> {
    let mut f = Flow::titled(
        renderer,
        head,
        "Freigabeliste: Vernichtung gescannter Papiervorlagen",
    );
    f.paragraph("Das Papier der folgenden Stapel ist nach BSI TR-03138 (TR-RESISCAN) ersetzend gescannt. Für jeden Stapel sind Vollständigkeit, Qualitätssicherung, Transfervermerk und Siegel geprüft, die Scanprodukte liegen in der E-Akte, die Aufbewahrungsfrist ist abgelaufen und die Fachabteilung hat freigegeben.");
    if rows.is_empty() {
        f.paragraph("Zurzeit ist kein Stapel zur Vernichtung freigegeben.");
    } else {
        f.heading("Freigegebene Stapel", 3.0 * ROW);
        let edges = [0.0, 88.0, 120.0, 140.0, PAGE_W - RIGHT];
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    format!("{} – {}", r.stapel, r.klasse),
                    r.karton.clone(),
                    r.seiten.to_string(),
                    String::new(),
                    r.freigabe.clone(),
                ]
            })
            .collect();
        f.table(
            &edges,
            &[
                "Stapel und Dokumentklasse",
                "Karton",
                "Seiten",
                "",
                "Freigabe",
            ],
            &table,
        );
        f.paragraph(&format!(
            "{} Stapel mit zusammen {} Seiten.",
            rows.len(),
            rows.iter().map(|r| u64::from(r.seiten)).sum::<u64>()
        ));
    }
    f.heading("Vernichtung", 6.0 * ROW);
    for line in [
        "Vernichtet am: ____________________   durch: ______________________________",
        "Art der Vernichtung (z. B. Aktenvernichter, Sicherheitsstufe nach DIN 66399): ____________________",
        "Unterschrift: ______________________________",
    ] {
        f.paragraph(line);
        f.top += ROW;
    }
    let page = Page {
        title: "Freigabeliste Vernichtung".into(),
        recipient: Vec::new(),
        postal_note: None,
        info: Vec::new(),
        reference: "Freigabeliste Vernichtung".into(),
        subject: "Vernichtung gescannter Papiervorlagen".into(),
        body: Vec::new(),
        created_unix,
        pdfa,
    };
    finish(renderer, &page, head, f.sheets)
}

/// Separator sheets (Trennblätter) for the scanning desk: `copies` equal pages, each
/// with the black `marks` (x, top, width, height in mm: patch code bars, barcode
/// modules) and below `marks_bottom` the word TRENNBLATT with `caption` (what the sheet
/// carries, how to print and use it). No letterhead or page numbers near the marks: the
/// scanner must see nothing but the code there.
#[allow(clippy::too_many_arguments)]
pub fn separator_sheets_pdf(
    renderer: &Renderer,
    head: &Letterhead,
    marks: &[(f32, f32, f32, f32)],
    marks_bottom: f32,
    caption: &[String],
    copies: u32,
    pdfa: bool,
    created_unix: i64,
) -> Result<Vec<u8>, LetterError> {
    if copies == 0 || copies > 100 {
        return Err(LetterError::Input(
            "Bitte 1 bis 100 Trennblätter auf einmal drucken.".into(),
        ));
    }
    let mut sheets = Vec::new();
    for _ in 0..copies {
        let mut sheet = Sheet::default();
        for &(x, top, w, h) in marks {
            sheet.boxes.push((x, top, w, h, 0.0));
        }
        let mut top = marks_bottom + 15.0;
        sheet.texts.push(Text {
            top,
            ..text(LEFT, 28.0, Face::Bold, "TRENNBLATT".into())
        });
        top += 14.0;
        for line in caption {
            for wrapped in renderer.wrap_lines(line, 11.0, PAGE_W - LEFT - RIGHT) {
                sheet.texts.push(Text {
                    top,
                    ..text(LEFT, 11.0, Face::Regular, wrapped)
                });
                top += 5.5;
            }
            top += 2.0;
        }
        renderer.footer(&mut sheet, head);
        sheets.push(sheet);
    }
    let page = Page {
        title: "Trennblätter".into(),
        recipient: Vec::new(),
        postal_note: None,
        info: Vec::new(),
        reference: "Trennblatt".into(),
        subject: "Trennblätter für die Scanstelle".into(),
        body: Vec::new(),
        created_unix,
        pdfa,
    };
    renderer.write(&page, head, &sheets)
}

/// The recovery key in groups of four after its `AGE-SECRET-KEY-1` prefix, seven
/// groups to a line: easier to copy by hand and to read back. Spaces and line breaks
/// are ignored where the key is typed in again.
pub fn recovery_key_lines(key: &str) -> Vec<String> {
    let key: String = key.split_whitespace().collect();
    let (prefix, rest) = match key.split_at_checked(16) {
        Some((p, r)) if p.eq_ignore_ascii_case("AGE-SECRET-KEY-1") => (p, r),
        _ => ("", key.as_str()),
    };
    let chars: Vec<char> = rest.chars().collect();
    let groups: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
    let mut lines: Vec<String> = Vec::new();
    if !prefix.is_empty() {
        lines.push(prefix.to_owned());
    }
    for line in groups.chunks(7) {
        lines.push(line.join(" "));
    }
    lines
}

/// The recovery sheet of a newly set-up PC: the key (see [`recovery_key_lines`]),
/// what it is for, where to keep it, and fields for the record of its safekeeping.
/// `place` names the PC or the town, as far as known at the first run.
pub fn recovery_sheet_pdf(
    renderer: &Renderer,
    key: &str,
    place: &str,
    created: &str,
    created_unix: i64,
) -> Result<Vec<u8>, LetterError> {
    let lines = recovery_key_lines(key);
    if lines.len() < 2 {
        return Err(LetterError::Input(
            "Kein Wiederherstellungsschlüssel.".into(),
        ));
    }
    let head = Letterhead {
        authority: "Amtsstube".into(),
        department: place.to_owned(),
        ..Letterhead::default()
    };
    let mut f = Flow::titled(renderer, &head, "Wiederherstellungsschlüssel");
    f.paragraph(&format!("Erstellt bei der Einrichtung am {created}."));
    f.paragraph("Mit diesem Schlüssel kommt die Administration an den verschlüsselten Datenbestand dieses PCs, wenn alle Passwörter vergessen sind, und spielt eine Datensicherung auf einem neuen PC zurück. Ohne ihn ist beides unmöglich. Wer ihn hat, kann alle Vorgänge lesen.");
    f.heading("Schlüssel", 6.0 * ROW);
    for line in &lines {
        f.need(ROW * 1.6);
        f.put(LEFT, 13.0, Face::Bold, line.clone());
        f.top += ROW * 1.6;
    }
    f.paragraph("Beim Eintippen zählen Leerzeichen und Zeilenumbrüche nicht.");
    f.heading("Verwahrung", 8.0 * ROW);
    f.paragraph("Ausdrucken und verschlossen bei den Unterlagen des Rathauses verwahren (z. B. im Tresor), getrennt von den Sicherungen. Diese Datei danach von diesem PC und vom USB-Stick löschen: Auf dem PC selbst schützt der Schlüssel nichts.");
    for line in [
        "Verwahrt am: ____________________   Ort: ________________________________",
        "Durch (Name, Unterschrift): ____________________________________________",
    ] {
        f.top += ROW;
        f.paragraph(line);
    }
    let page = Page {
        title: "Wiederherstellungsschlüssel".into(),
        recipient: Vec::new(),
        postal_note: None,
        info: Vec::new(),
        reference: "Wiederherstellungsschlüssel".into(),
        subject: "Wiederherstellungsschlüssel".into(),
        body: Vec::new(),
        created_unix,
        pdfa: false,
    };
    finish(renderer, &page, &head, f.sheets)
}

/// Running head from page 2, footer and "Seite x von y" on every page, then the PDF.
fn finish(
    renderer: &Renderer,
    page: &Page,
    head: &Letterhead,
    mut sheets: Vec<Sheet>,
) -> Result<Vec<u8>, LetterError> {
    let pages = sheets.len();
    for (i, sheet) in sheets.iter_mut().enumerate() {
        if i > 0 {
            renderer.running_head(sheet, page, head);
        }
        renderer.footer(sheet, head);
        let label = format!("Seite {} von {pages}", i + 1);
        let x = PAGE_W - RIGHT - renderer.width(&label, 8.5, false);
        sheet.texts.push(Text {
            top: 271.0,
            ..text(x, 8.5, Face::Regular, label)
        });
    }
    renderer.write(page, head, &sheets)
}
