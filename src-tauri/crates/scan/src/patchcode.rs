//! Kodak patch codes (Patch 1, 2, 3, 4, 6, T) on separator sheets: four parallel
//! black bars, two wide (0.20″) and two narrow (0.08″), separated by three narrow
//! spaces, 0.80″ across and at least 0.75″ long (Kodak A-61599). The six patches are
//! the six orders of the bars; Patch T (narrow, wide, narrow, wide) is the transfer
//! patch that scanning desks put on the sheet between two documents.
//!
//! No barcode library reads patch codes, so they are found here: along every column
//! (bars parallel to the leading edge) and every row (end-fed sheets), the dark and
//! light runs are measured; four bars between quiet zones whose spaces agree in width
//! and whose bars are narrow or wide by that measure give a candidate, and a patch
//! counts only when neighbouring lines agree over a bar length of at least six narrow
//! widths. Pure logic on a grey page, without I/O.

use std::fmt;
use std::str::FromStr;

/// One of the six patch codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Patch {
    P1,
    P2,
    P3,
    P4,
    P6,
    T,
}

impl Patch {
    pub const ALL: [Patch; 6] = [
        Patch::P1,
        Patch::P2,
        Patch::P3,
        Patch::P4,
        Patch::P6,
        Patch::T,
    ];

    /// The bars in order, `true` for wide (Patch T: narrow, wide, narrow, wide).
    pub fn bars(self) -> [bool; 4] {
        match self {
            Patch::P1 => [true, true, false, false],
            Patch::P2 => [true, false, false, true],
            Patch::P3 => [true, false, true, false],
            Patch::P4 => [false, true, true, false],
            Patch::P6 => [false, false, true, true],
            Patch::T => [false, true, false, true],
        }
    }

    fn from_bars(bars: [bool; 4]) -> Option<Patch> {
        Patch::ALL.into_iter().find(|p| p.bars() == bars)
    }
}

impl fmt::Display for Patch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Patch::P1 => "1",
            Patch::P2 => "2",
            Patch::P3 => "3",
            Patch::P4 => "4",
            Patch::P6 => "6",
            Patch::T => "T",
        })
    }
}

impl FromStr for Patch {
    type Err = String;

    /// "1", "2", "3", "4", "6" or "T" (also "Patch T", any case).
    fn from_str(s: &str) -> Result<Patch, String> {
        let t = s.trim();
        let t = t
            .strip_prefix("Patch")
            .or_else(|| t.strip_prefix("patch"))
            .or_else(|| t.strip_prefix("PATCH"))
            .unwrap_or(t)
            .trim();
        match t {
            "1" => Ok(Patch::P1),
            "2" => Ok(Patch::P2),
            "3" => Ok(Patch::P3),
            "4" => Ok(Patch::P4),
            "6" => Ok(Patch::P6),
            "T" | "t" => Ok(Patch::T),
            _ => Err(format!(
                "„{s}“ ist kein Patchcode (erlaubt: 1, 2, 3, 4, 6, T)."
            )),
        }
    }
}

/// A candidate on one line: the patch, where its first bar begins, its narrow width.
#[derive(Debug, Clone, Copy)]
struct Hit {
    patch: Patch,
    start: u32,
    narrow: f32,
}

/// The patch codes on a grey page (`width`×`height`, row by row, 0 black), each once,
/// in the order of [`Patch::ALL`].
pub fn find(width: u32, height: u32, luma: &[u8]) -> Vec<Patch> {
    let (w, h) = (width as usize, height as usize);
    if w == 0 || h == 0 || luma.len() < w * h {
        return Vec::new();
    }
    let short = w.min(h) as f32;
    let mut found = Vec::new();
    let mut line = Vec::with_capacity(w.max(h));
    // Bars across the page (parallel to the leading edge): read down each column.
    let mut columns = Vec::with_capacity(w);
    for x in 0..w {
        line.clear();
        line.extend((0..h).map(|y| luma[y * w + x]));
        columns.push(hits(&line, short));
    }
    agreeing(&columns, &mut found);
    // End-fed sheets: the bars run down the page, read along each row.
    let rows: Vec<Vec<Hit>> = (0..h)
        .map(|y| hits(&luma[y * w..(y + 1) * w], short))
        .collect();
    agreeing(&rows, &mut found);
    found.sort_unstable();
    found.dedup();
    found
}

/// Candidates on one line of pixels.
fn hits(line: &[u8], short_side: f32) -> Vec<Hit> {
    const DARK: u8 = 128;
    // Runs as (dark, start, length).
    let mut runs: Vec<(bool, u32, u32)> = Vec::new();
    for (i, px) in line.iter().enumerate() {
        let dark = *px < DARK;
        match runs.last_mut() {
            Some((d, _, len)) if *d == dark => *len += 1,
            _ => runs.push((dark, i as u32, 1)),
        }
    }
    let mut out = Vec::new();
    // A patch: light, bar, space, bar, space, bar, space, bar, light – the outer light
    // runs inside the page (the sheet keeps a margin around the patch).
    for win in runs.windows(9) {
        if win[0].0 {
            continue;
        }
        let spaces = [win[2].2, win[4].2, win[6].2].map(|v| v as f32);
        let narrow = (spaces[0] + spaces[1] + spaces[2]) / 3.0;
        // Narrow width 0.08″ on the shorter side (A5 5.8″ … A3 11.7″, some slack).
        if narrow < 3.0 || narrow < short_side * 0.004 || narrow > short_side * 0.025 {
            continue;
        }
        if spaces
            .iter()
            .any(|s| *s < narrow * 0.6 || *s > narrow * 1.4)
        {
            continue;
        }
        let quiet = narrow * 2.0;
        if (win[0].2 as f32) < quiet || (win[8].2 as f32) < quiet {
            continue;
        }
        let mut bars = [false; 4];
        let mut ok = true;
        for (k, bar) in [win[1], win[3], win[5], win[7]].iter().enumerate() {
            let r = bar.2 as f32 / narrow;
            if (0.55..=1.6).contains(&r) {
                bars[k] = false;
            } else if (1.8..=3.4).contains(&r) {
                bars[k] = true;
            } else {
                ok = false;
                break;
            }
        }
        if !ok {
            continue;
        }
        if let Some(patch) = Patch::from_bars(bars) {
            out.push(Hit {
                patch,
                start: win[1].1,
                narrow,
            });
        }
    }
    out
}

/// Patches seen on enough neighbouring lines at the same place: a run of lines
/// (single missing lines forgiven, a drift of a third narrow width per line for a
/// skewed sheet) at least six narrow widths long.
fn agreeing(lines: &[Vec<Hit>], found: &mut Vec<Patch>) {
    // Open tracks: (patch, last start, narrow, first line, last line).
    let mut tracks: Vec<(Patch, u32, f32, usize, usize)> = Vec::new();
    for (i, hits) in lines.iter().enumerate() {
        for hit in hits {
            let near = tracks.iter_mut().find(|t| {
                t.0 == hit.patch
                    && i - t.4 <= 2
                    && (t.1.abs_diff(hit.start) as f32) <= (t.2 / 3.0).max(2.0)
            });
            match near {
                Some(t) => {
                    t.1 = hit.start;
                    t.4 = i;
                }
                None => tracks.push((hit.patch, hit.start, hit.narrow, i, i)),
            }
        }
        tracks.retain(|t| {
            let long = (t.4 - t.3 + 1) as f32 >= t.2 * 6.0;
            if long {
                found.push(t.0);
            }
            !long && i - t.4 <= 2
        });
    }
}

/// A sheet with `patch` printed to specification for `dpi` (grey, 0 black): bars
/// across the page, 2.5″ long, one inch below the top edge. For printing separator
/// sheets and for tests.
pub fn sheet(patch: Patch, width: u32, height: u32, dpi: u32) -> Vec<u8> {
    let mut px = vec![255u8; width as usize * height as usize];
    let inch = |v: f32| (v * dpi as f32).round() as u32;
    let (narrow, wide) = (inch(0.08), inch(0.20));
    let left = inch(1.0).min(width / 4);
    let right = (left + inch(2.5)).min(width);
    let mut y = inch(1.0).min(height / 4);
    for (k, is_wide) in patch.bars().into_iter().enumerate() {
        let bar = if is_wide { wide } else { narrow };
        for row in y..(y + bar).min(height) {
            let at = (row * width) as usize;
            px[at + left as usize..at + right as usize].fill(0);
        }
        y += bar;
        if k < 3 {
            y += narrow;
        }
    }
    px
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An A4 page at `dpi`.
    fn a4(dpi: u32) -> (u32, u32) {
        ((8.27 * dpi as f32) as u32, (11.69 * dpi as f32) as u32)
    }

    fn transpose(w: u32, h: u32, px: &[u8]) -> Vec<u8> {
        let (w, h) = (w as usize, h as usize);
        let mut out = vec![0; w * h];
        for y in 0..h {
            for x in 0..w {
                out[x * h + y] = px[y * w + x];
            }
        }
        out
    }

    #[test]
    fn each_patch_is_read_at_scanner_resolutions() {
        for dpi in [100, 150, 200, 300] {
            let (w, h) = a4(dpi);
            for p in Patch::ALL {
                assert_eq!(
                    find(w, h, &sheet(p, w, h, dpi)),
                    vec![p],
                    "{p} at {dpi} dpi"
                );
            }
        }
    }

    #[test]
    fn end_fed_sheets_are_read_too() {
        let (w, h) = a4(150);
        let page = transpose(w, h, &sheet(Patch::T, w, h, 150));
        assert_eq!(find(h, w, &page), vec![Patch::T]);
    }

    #[test]
    fn printing_tolerances_noise_and_skew_are_forgiven() {
        let (w, h) = a4(200);
        let mut page = sheet(Patch::T, w, h, 200);
        // Toner spread: every bar one pixel thicker at the top, speckles all over,
        // grey instead of black, paper not white.
        for y in 1..h as usize {
            for x in 0..w as usize {
                let i = y * w as usize + x;
                if page[i] == 0 && page[i - w as usize] == 255 {
                    page[i - w as usize] = 1;
                }
            }
        }
        for (i, px) in page.iter_mut().enumerate() {
            *px = if *px < 128 { 60 } else { 225 };
            if i % 997 == 0 {
                *px = 0;
            }
        }
        assert_eq!(find(w, h, &page), vec![Patch::T]);
        // Skewed by one pixel every 40 columns.
        let mut skewed = vec![255u8; (w * h) as usize];
        let clean = sheet(Patch::T, w, h, 200);
        for y in 0..h as usize {
            for x in 0..w as usize {
                let shift = x / 40;
                if y + shift < h as usize {
                    skewed[(y + shift) * w as usize + x] = clean[y * w as usize + x];
                }
            }
        }
        assert_eq!(find(w, h, &skewed), vec![Patch::T]);
    }

    #[test]
    fn text_rules_and_short_bars_are_no_patch() {
        let (w, h) = a4(150);
        assert!(
            find(w, h, &vec![255u8; (w * h) as usize]).is_empty(),
            "blank"
        );
        // Lines of "text": strokes two pixels wide, lines of 12 px, a gap of 6.
        let mut text = vec![255u8; (w * h) as usize];
        for y in (150..h - 150).filter(|y| y % 18 < 12) {
            for x in (120..w - 120).filter(|x| (x * 7 + y * 3) % 11 < 2) {
                text[(y * w + x) as usize] = 0;
            }
        }
        assert!(find(w, h, &text).is_empty(), "text");
        // A patch pattern only a third of an inch long (a logo, a form's rule block).
        let mut short = vec![255u8; (w * h) as usize];
        let full = sheet(Patch::T, w, h, 150);
        for y in 0..h as usize {
            for x in 150..200 {
                short[y * w as usize + x] = full[y * w as usize + x];
            }
        }
        assert!(find(w, h, &short).is_empty(), "short bars");
        // Bars of wrong proportions (all equally wide).
        let mut even = vec![255u8; (w * h) as usize];
        for k in 0..4 {
            for y in 150 + k * 40..150 + k * 40 + 20 {
                for x in 150..550 {
                    even[(y * w + x) as usize] = 0;
                }
            }
        }
        assert!(find(w, h, &even).is_empty(), "four equal bars");
    }

    #[test]
    fn patch_names_parse() {
        for p in Patch::ALL {
            assert_eq!(p.to_string().parse::<Patch>(), Ok(p));
        }
        assert_eq!("Patch T".parse::<Patch>(), Ok(Patch::T));
        assert_eq!("t".parse::<Patch>(), Ok(Patch::T));
        let err = "5".parse::<Patch>().err().unwrap_or_default();
        assert!(err.contains("kein Patchcode"), "{err}");
    }

    #[test]
    fn tiny_or_short_pages_do_not_panic() {
        assert!(find(0, 0, &[]).is_empty());
        assert!(find(3, 3, &[0; 4]).is_empty());
        assert!(find(5, 1, &[0, 255, 0, 255, 0]).is_empty());
    }
}
