//! Fitting text into boxes, pure: mapping to what the ISO 8859-15 fonts can draw, word wrapping and
//! ellipsising. Widths are counted in characters because every UI font is monospaced; the caller turns a box
//! width into columns with its font. Nothing here can make text longer than the columns it is given.

/// What ends a cut text ("…" is not in ISO 8859-15).
pub const ELLIPSIS: &str = "...";

/// Maps `text` to characters the ISO 8859-15 fonts draw: typographic punctuation to its plain form, any space
/// or line break to a space, control characters and combining marks dropped, anything else unknown to `?`.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '…' => out.push_str(ELLIPSIS),
            '‘' | '’' | '‚' | '‛' | '′' | '´' => out.push('\''),
            '“' | '”' | '„' | '‟' | '″' => out.push('"'),
            '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' => out.push('-'),
            c if c.is_whitespace() => out.push(' '),
            // Combining accents (a decomposed "è"): drop the mark, keep the letter.
            '\u{300}'..='\u{36f}' => {}
            c if c.is_control() => {}
            c if in_latin9(c) => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// True when ISO 8859-15 (Latin-9) has `c`.
fn in_latin9(c: char) -> bool {
    match c as u32 {
        0x20..=0x7e => true,
        // The eight code points Latin-9 reassigned from Latin-1.
        0xa0..=0xff => !matches!(c as u32, 0xa4 | 0xa6 | 0xa8 | 0xb4 | 0xb8 | 0xbc | 0xbd | 0xbe),
        _ => matches!(c, '€' | 'Š' | 'š' | 'Ž' | 'ž' | 'Œ' | 'œ' | 'Ÿ'),
    }
}

/// Characters in `s` (each one glyph wide in a monospaced font).
pub fn columns(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to at most `cols` characters, ending with "..." when something was cut.
pub fn ellipsize(s: &str, cols: usize) -> String {
    if columns(s) <= cols {
        return s.to_string();
    }
    mark_cut(s, cols)
}

/// `line` followed by "..." to show that text was left out, cut shorter first when needed (at a word boundary
/// when one is near, so the shopper does not read half a word as a whole one).
fn mark_cut(line: &str, cols: usize) -> String {
    if cols < ELLIPSIS.len() {
        return ".".repeat(cols);
    }
    let keep = cols - ELLIPSIS.len();
    let chars: Vec<char> = line.chars().collect();
    let mut cut: &[char] = &chars[..keep.min(chars.len())];
    if chars.len() > keep && chars[keep] != ' ' {
        // Back up to the last space, unless that throws away more than a third of what fits.
        if let Some(space) = cut.iter().rposition(|c| *c == ' ').filter(|s| s * 3 >= keep * 2) {
            cut = &cut[..space];
        }
    }
    let mut out: String = cut.iter().collect();
    out.truncate(out.trim_end().len());
    out.push_str(ELLIPSIS);
    out
}

/// Wraps `s` by words into at most `max_lines` lines of at most `cols` characters. A word longer than a line
/// is broken; text that does not fit ends with "...". Whitespace runs collapse to one space.
pub fn wrap(s: &str, cols: usize, max_lines: usize) -> Vec<String> {
    if cols == 0 || max_lines == 0 {
        return Vec::new();
    }
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_cols = 0;
    for word in s.split_whitespace() {
        let wcols = columns(word);
        if cur_cols > 0 && cur_cols + 1 + wcols <= cols {
            cur.push(' ');
            cur.push_str(word);
            cur_cols += 1 + wcols;
            continue;
        }
        if cur_cols > 0 {
            lines.push(std::mem::take(&mut cur));
        }
        // A word wider than a line is broken into line-sized pieces.
        let chars: Vec<char> = word.chars().collect();
        let mut pieces = chars.chunks(cols).peekable();
        cur_cols = 0;
        while let Some(piece) = pieces.next() {
            let piece: String = piece.iter().collect();
            if pieces.peek().is_some() {
                lines.push(piece);
            } else {
                cur_cols = columns(&piece);
                cur = piece;
            }
        }
        if lines.len() > max_lines {
            break; // already too long: the rest can only be cut away
        }
    }
    if cur_cols > 0 {
        lines.push(cur);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        let last = lines.last_mut().expect("max_lines > 0 and more lines than that");
        *last = mark_cut(last, cols);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_euro_and_italian_accents() {
        assert_eq!(sanitize("Caffè € 1,99 perché più"), "Caffè € 1,99 perché più");
        assert_eq!(sanitize("ŒUVRE Ÿ š"), "ŒUVRE Ÿ š");
    }

    #[test]
    fn maps_what_the_font_lacks() {
        assert_eq!(sanitize("Crema… “buona” – l’ultima"), "Crema... \"buona\" - l'ultima");
        assert_eq!(sanitize("tab\there\nline"), "tab here line");
        assert_eq!(sanitize("e\u{301}"), "e");
        assert_eq!(sanitize("寿司 🍣"), "?? ?");
        assert_eq!(sanitize("a\u{7}b"), "ab");
        // Latin-1 signs that Latin-9 replaced with other letters.
        assert_eq!(sanitize("½ ¤"), "? ?");
    }

    #[test]
    fn wraps_by_words() {
        assert_eq!(
            wrap("Pasta di semola di grano duro", 12, 3),
            ["Pasta di", "semola di", "grano duro"]
        );
    }

    #[test]
    fn ellipsises_what_does_not_fit() {
        assert_eq!(
            wrap("Pasta di semola di grano duro trafilata al bronzo", 12, 2),
            ["Pasta di", "semola di..."]
        );
        assert_eq!(wrap("aaaa bbbb cccc", 9, 1), ["aaaa..."]);
        assert_eq!(wrap("aaaaaaaaa bbbb", 9, 1), ["aaaaaa..."]);
    }

    #[test]
    fn breaks_a_word_longer_than_the_line() {
        assert_eq!(wrap("Supercalifragilistico", 8, 3), ["Supercal", "ifragili", "stico"]);
        assert_eq!(
            wrap("Supercalifragilistichespiralidoso", 8, 2),
            ["Supercal", "ifrag..."]
        );
    }

    #[test]
    fn degenerate_boxes_give_nothing_or_dots() {
        assert!(wrap("anything", 0, 3).is_empty());
        assert!(wrap("anything", 5, 0).is_empty());
        assert!(wrap("   ", 5, 2).is_empty());
        assert_eq!(ellipsize("anything", 2), "..");
        assert_eq!(ellipsize("ok", 2), "ok");
    }

    proptest! {
        #[test]
        fn never_exceeds_the_box(s in "\\PC{0,120}", cols in 0usize..30, max_lines in 0usize..5) {
            let lines = wrap(&s, cols, max_lines);
            prop_assert!(lines.len() <= max_lines);
            for l in &lines {
                prop_assert!(columns(l) <= cols, "{l:?} wider than {cols}");
            }
            let one = ellipsize(&s, cols);
            prop_assert!(columns(&one) <= cols);
        }

        #[test]
        fn text_that_fits_is_kept_whole(words in proptest::collection::vec("[a-zà-ù]{1,6}", 1..6)) {
            let s = words.join(" ");
            let lines = wrap(&s, 40, 2);
            prop_assert_eq!(lines, vec![s]);
        }
    }
}
