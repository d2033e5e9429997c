//! Search words, pure: folds case and accents so that a shopper typing `caffe` on a kiosk keyboard without
//! accents finds "Caffè", and splits text into the words the store indexes.
//!
//! Owns the folding table and the matching rule (every query word is a prefix of some product word). The
//! storage layer keeps [`index_text`] per product and filters with [`matches()`]; nothing here touches storage.

use std::collections::BTreeSet;

use super::Product;

/// Longest word kept, in bytes. Longer runs of letters (a pasted code, garbage) are cut so index keys stay small.
pub const MAX_WORD_BYTES: usize = 40;

/// The ASCII spelling of a lowercase letter with a diacritic, for the letters Italian and its neighbours use.
fn fold_lower(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
        'æ' => "ae",
        'ç' => "c",
        'è' | 'é' | 'ê' | 'ë' => "e",
        'ì' | 'í' | 'î' | 'ï' => "i",
        'ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => "o",
        'ù' | 'ú' | 'û' | 'ü' => "u",
        'ý' | 'ÿ' => "y",
        'ß' => "ss",
        'œ' => "oe",
        'š' => "s",
        'ž' => "z",
        _ => return None,
    })
}

/// Lowercases `text` and replaces accented letters by their ASCII base letter ("Caffè" → "caffe",
/// "PÂTÉ" → "pate"). Combining accents (text in decomposed form) are dropped. Other characters are kept,
/// lowercased.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        // U+0300..U+036F: combining diacritical marks, as in "e\u{300}" for "è" written decomposed.
        if ('\u{300}'..='\u{36f}').contains(&c) {
            continue;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        for l in c.to_lowercase() {
            match fold_lower(l) {
                Some(s) => out.push_str(s),
                None => out.push(l),
            }
        }
    }
    out
}

/// The folded words of `text`, in order: runs of letters and digits, everything else separates
/// ("dell'Emilia" → `dell`, `emilia`; "Coca-Cola 1,5L" → `coca`, `cola`, `1`, `5l`).
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| truncate(w, MAX_WORD_BYTES).to_owned())
        .collect()
}

/// Cuts `w` to at most `max` bytes on a character boundary.
fn truncate(w: &str, max: usize) -> &str {
    if w.len() <= max {
        return w;
    }
    let mut end = max;
    while !w.is_char_boundary(end) {
        end -= 1;
    }
    &w[..end]
}

/// Every distinct word a product can be found by (name, brand and description), sorted, joined by spaces:
/// what [`matches()`] reads.
pub fn index_text(p: &Product) -> String {
    let mut set = BTreeSet::new();
    for text in [&p.name, &p.brand, &p.description] {
        set.extend(words(text));
    }
    set.into_iter().collect::<Vec<_>>().join(" ")
}

/// The words of a shopper's query, without repeats, longest first (the longest rules out most products).
pub fn query_words(query: &str) -> Vec<String> {
    let mut q = words(query);
    q.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    q.dedup();
    q
}

/// Whether every query word is a prefix of some word of `index_text` ("caff" matches "caffe"). An empty
/// query matches nothing: the kiosk should not list the whole catalog.
pub fn matches(query: &[String], index_text: &str) -> bool {
    !query.is_empty()
        && query
            .iter()
            .all(|q| index_text.split(' ').any(|w| w.starts_with(q.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_italian_accents_and_case() {
        assert_eq!(fold("Caffè"), "caffe");
        assert_eq!(fold("CAFFÈ"), "caffe");
        assert_eq!(
            fold("Specialità Perché Più Così Però"),
            "specialita perche piu cosi pero"
        );
        assert_eq!(fold("Pâté Façon Jalapeño Müsli"), "pate facon jalapeno musli");
        assert_eq!(fold("Cafe\u{301}"), "cafe");
    }

    #[test]
    fn splits_on_anything_that_is_not_a_letter_or_digit() {
        assert_eq!(
            words("Parmigiano-Reggiano DOP, 24 mesi"),
            ["parmigiano", "reggiano", "dop", "24", "mesi"]
        );
        assert_eq!(
            words("Olio extravergine d'oliva"),
            ["olio", "extravergine", "d", "oliva"]
        );
        assert!(words("  --  ").is_empty());
    }

    #[test]
    fn every_query_word_must_prefix_some_product_word() {
        let product = words("Caffè Qualità Rossa Lavazza").join(" ");
        assert!(matches(&query_words("caff"), &product));
        assert!(matches(&query_words("CAFFÈ lavazza"), &product));
        assert!(matches(&query_words("qualita rossa"), &product));
        assert!(!matches(&query_words("caffe oro"), &product));
        assert!(
            !matches(&query_words("affe"), &product),
            "inner substrings do not match, only prefixes"
        );
        assert!(!matches(&query_words(""), &product));
    }

    #[test]
    fn index_text_holds_each_word_of_name_brand_and_description_once() {
        let p: Product = serde_json::from_str(
            r#"{"sku":"X","gtins":[],"name":"Pâté di Fegato","brand":"Rovagnati","description":"Pâté, 100 g",
                "price_cents":1,"vat_rate_bp":1000}"#,
        )
        .expect("a valid product");
        assert_eq!(index_text(&p), "100 di fegato g pate rovagnati");
    }

    #[test]
    fn long_words_are_cut_on_a_character_boundary() {
        // Cyrillic is kept as is (two bytes a letter), so a cut at 40 bytes would fall inside a letter.
        let long = "я".repeat(30);
        let w = words(&format!("x{long}"));
        assert_eq!(w[0], format!("x{}", "я".repeat(19)));
    }
}
