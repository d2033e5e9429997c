//! Store-issued codes (loyalty cards, staff badges, online-order codes) recognised by configured patterns (see
//! [`crate::config::StoreCodePattern`]): literal characters, `#` one digit, `?` one letter or digit, `*` one or
//! more letters or digits. The id is what the wildcards matched, in order.
//!
//! Literal letters match either case (a scanner or keyboard wedge with Caps Lock on still works); the id keeps the
//! case as scanned. When a pattern can match more than one way, each `*` takes as little as it can.
//! Matching is a table over pattern × input (at most 65 × 513 cells), never exponential backtracking.

use super::Kind;

/// Longest pattern accepted.
pub(crate) const MAX_PATTERN_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(u8),
    Digit,
    Alnum,
    Run,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StorePattern {
    kind: Kind,
    toks: Vec<Tok>,
    has_run: bool,
}

impl StorePattern {
    /// Compiles and validates a pattern; the error is the reason, for [`super::RuleError`].
    pub(crate) fn compile(kind: Kind, p: &str) -> Result<StorePattern, String> {
        if p.is_empty() {
            return Err("must not be empty".into());
        }
        if p.len() > MAX_PATTERN_LEN {
            return Err(format!(
                "must be at most {MAX_PATTERN_LEN} characters, found {}",
                p.len()
            ));
        }
        if let Some((i, c)) = p.char_indices().find(|&(_, c)| !c.is_ascii_graphic()) {
            return Err(format!(
                "{c:?} at position {} cannot appear in a scanned code (printable ASCII only)",
                i + 1
            ));
        }
        if p.contains("**") {
            return Err("'**' is ambiguous; one '*' already matches a run of any length".into());
        }
        let toks: Vec<Tok> = p
            .bytes()
            .map(|b| match b {
                b'#' => Tok::Digit,
                b'?' => Tok::Alnum,
                b'*' => Tok::Run,
                other => Tok::Lit(other),
            })
            .collect();
        if toks.iter().all(|t| matches!(t, Tok::Lit(_))) {
            return Err("needs at least one wildcard (#, ? or *): the id is what they match".into());
        }
        let has_run = toks.contains(&Tok::Run);
        Ok(StorePattern { kind, toks, has_run })
    }

    /// What a match means.
    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// The id when `input` matches the whole pattern.
    pub(crate) fn match_id(&self, input: &[u8]) -> Option<String> {
        if !self.has_run {
            if input.len() != self.toks.len() {
                return None;
            }
            let mut id = String::new();
            for (t, &b) in self.toks.iter().zip(input) {
                if !one(*t, b) {
                    return None;
                }
                if !matches!(t, Tok::Lit(_)) {
                    id.push(b as char);
                }
            }
            return Some(id);
        }
        self.match_with_runs(input)
    }

    fn match_with_runs(&self, input: &[u8]) -> Option<String> {
        // Cheap rejection before building the table: the literal prefix must match.
        for (t, b) in self.toks.iter().zip(input) {
            match t {
                Tok::Lit(_) if !one(*t, *b) => return None,
                Tok::Lit(_) => {}
                _ => break,
            }
        }
        let (m, n) = (self.toks.len(), input.len());
        let w = n + 1;
        // ok[j * w + i]: toks[j..] matches input[i..].
        let mut ok = vec![false; (m + 1) * w];
        ok[m * w + n] = true;
        for j in (0..m).rev() {
            for i in (0..n).rev() {
                let t = self.toks[j];
                ok[j * w + i] = match t {
                    Tok::Run => alnum(input[i]) && (ok[(j + 1) * w + i + 1] || ok[j * w + i + 1]),
                    _ => one(t, input[i]) && ok[(j + 1) * w + i + 1],
                };
            }
        }
        if !ok[0] {
            return None;
        }
        let mut id = String::new();
        let mut i = 0;
        for (j, t) in self.toks.iter().enumerate() {
            match t {
                Tok::Lit(_) => i += 1,
                Tok::Digit | Tok::Alnum => {
                    id.push(*input.get(i)? as char);
                    i += 1;
                }
                Tok::Run => {
                    // Take one, then stop as soon as the rest of the pattern can match (lazy).
                    id.push(*input.get(i)? as char);
                    i += 1;
                    while !*ok.get((j + 1) * w + i)? {
                        id.push(*input.get(i)? as char);
                        i += 1;
                    }
                }
            }
        }
        Some(id)
    }
}

fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn one(t: Tok, b: u8) -> bool {
    match t {
        Tok::Lit(c) => c.eq_ignore_ascii_case(&b),
        Tok::Digit => b.is_ascii_digit(),
        Tok::Alnum | Tok::Run => alnum(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(p: &str, s: &str) -> Option<String> {
        StorePattern::compile(Kind::Order, p)
            .expect("valid pattern")
            .match_id(s.as_bytes())
    }

    #[test]
    fn wildcards_collect_the_id() {
        assert_eq!(id("2990#########", "2990123456789").as_deref(), Some("123456789"));
        assert_eq!(id("ORD-*", "ord-A7x9").as_deref(), Some("A7x9"));
        assert_eq!(id("ORD-*", "ORD-"), None);
        assert_eq!(id("ST??-#", "STab-7").as_deref(), Some("ab7"));
        assert_eq!(id("*1*", "a1b1c").as_deref(), Some("ab1c"));
        assert_eq!(id("X*-*", "X12-34").as_deref(), Some("1234"));
        assert_eq!(id("X*-*", "X12-"), None);
    }

    #[test]
    fn patterns_are_validated_with_reasons() {
        for (p, why) in [
            ("", "empty"),
            ("ORD-123", "wildcard"),
            ("ORD **", "printable"),
            ("ORD-**", "ambiguous"),
            (&"#".repeat(65), "at most 64"),
        ] {
            let e = StorePattern::compile(Kind::Loyalty, p).expect_err(p);
            assert!(e.contains(why), "{p}: {e}");
        }
    }
}
