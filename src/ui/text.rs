//! The shopper-facing words, in Italian and English. One table per language so a translator sees every string
//! of a language together; formatting of numbers that carry words (stock, age, weight) lives here too.
//!
//! Strings here are written in characters the ISO 8859-15 fonts can draw: "..." instead of "…", straight quotes.

use super::{ErrorClass, Language};

/// Every fixed string of the UI in one language.
#[derive(Debug)]
pub struct Texts {
    /// Header bar title on every colour screen.
    pub title: &'static str,
    /// Idle screen headline.
    pub idle_headline: &'static str,
    /// Idle screen friendly line.
    pub idle_hint: &'static str,
    /// Idle headline on the 128×64 panel.
    pub idle_headline_short: &'static str,
    /// Offline marker.
    pub offline: &'static str,
    /// Offline marker on the 128×64 panel.
    pub offline_short: &'static str,
    /// Stock line prefix: "In stock here: " + count.
    pub in_stock_prefix: &'static str,
    /// Short stock prefix on the 128×64 panel.
    pub in_stock_prefix_short: &'static str,
    /// Stock is zero.
    pub out_of_stock: &'static str,
    /// Stock is zero, 128×64 panel.
    pub out_of_stock_short: &'static str,
    /// Suffix after a per-kg price.
    pub per_kg: &'static str,
    /// Label before the weight of a variable-measure item.
    pub weight_label: &'static str,
    /// "Over N only": text before the age.
    pub age_prefix: &'static str,
    /// "Over N only": text after the age.
    pub age_suffix: &'static str,
    /// Label before the struck-through regular price.
    pub regular_price_label: &'static str,
    /// Not-found screen headline.
    pub not_found_headline: &'static str,
    /// Not-found headline on the 128×64 panel.
    pub not_found_headline_short: &'static str,
    /// Ask staff.
    pub ask_staff: &'static str,
    /// Invalid-code screen headline.
    pub invalid_headline: &'static str,
    /// Invalid-code hint under the reason.
    pub invalid_hint: &'static str,
    /// Scanner-disconnected headline.
    pub disconnected_headline: &'static str,
    /// Scanner-disconnected headline on the 128×64 panel.
    pub disconnected_headline_short: &'static str,
    /// Scanner-disconnected second line.
    pub reconnecting: &'static str,
    /// Attract screen line while payments are paused (outbox full).
    pub sales_paused: &'static str,
    /// The same on the 128×64 panel.
    pub sales_paused_short: &'static str,
    /// Out-of-order headline (kiosk locked by central).
    pub out_of_order_headline: &'static str,
}

const IT: Texts = Texts {
    title: "Verifica prezzo",
    idle_headline: "Scansiona un prodotto",
    idle_hint: "Avvicina il codice a barre al lettore",
    idle_headline_short: "Scansiona un prodotto",
    offline: "NON IN LINEA",
    offline_short: "OFF",
    in_stock_prefix: "Disponibili qui: ",
    in_stock_prefix_short: "Disponibili: ",
    out_of_stock: "Esaurito qui",
    out_of_stock_short: "Esaurito",
    per_kg: "al kg",
    weight_label: "Peso",
    age_prefix: "Vietato ai minori di ",
    age_suffix: " anni",
    regular_price_label: "invece di",
    not_found_headline: "Prodotto non trovato",
    not_found_headline_short: "Non trovato",
    ask_staff: "Chiedi al personale",
    invalid_headline: "Codice non valido",
    invalid_hint: "Riprova oppure chiedi al personale",
    disconnected_headline: "Lettore non collegato",
    disconnected_headline_short: "Lettore scollegato",
    reconnecting: "Stiamo riprovando...",
    sales_paused: "Pagamenti sospesi: in attesa del collegamento con la sede. La verifica prezzi funziona.",
    sales_paused_short: "Pagamenti sospesi",
    out_of_order_headline: "Fuori servizio",
};

const EN: Texts = Texts {
    title: "Price check",
    idle_headline: "Scan a product",
    idle_hint: "Hold the barcode under the scanner",
    idle_headline_short: "Scan a product",
    offline: "OFFLINE",
    offline_short: "OFF",
    in_stock_prefix: "In stock here: ",
    in_stock_prefix_short: "In stock: ",
    out_of_stock: "Out of stock here",
    out_of_stock_short: "Out of stock",
    per_kg: "per kg",
    weight_label: "Weight",
    age_prefix: "Over ",
    age_suffix: " only",
    regular_price_label: "was",
    not_found_headline: "Product not found",
    not_found_headline_short: "Not found",
    ask_staff: "Please ask a member of staff",
    invalid_headline: "Barcode not valid",
    invalid_hint: "Please try again or ask a member of staff",
    disconnected_headline: "Scanner disconnected",
    disconnected_headline_short: "No scanner",
    reconnecting: "Reconnecting...",
    sales_paused: "Payments paused: waiting for the link to head office. Price check still works.",
    sales_paused_short: "Payments paused",
    out_of_order_headline: "Out of order",
};

/// The table for `lang`.
pub fn texts(lang: Language) -> &'static Texts {
    match lang {
        Language::It => &IT,
        Language::En => &EN,
    }
}

/// Why a code was refused, in words a shopper understands.
pub fn invalid_reason(lang: Language, reason: ErrorClass) -> &'static str {
    match (lang, reason) {
        (Language::It, ErrorClass::Empty) => "Non è stato letto nulla.",
        (Language::It, ErrorClass::CheckDigit) => "Cifra di controllo errata: l'etichetta potrebbe essere rovinata.",
        (Language::It, ErrorClass::Length) => "Il numero di cifre è sbagliato.",
        (Language::It, ErrorClass::Characters) => "Il codice contiene caratteri non ammessi.",
        (Language::It, ErrorClass::Date) => "Il codice contiene una data non valida.",
        (Language::It, ErrorClass::Malformed) => "Il codice è illeggibile o rovinato.",
        (Language::En, ErrorClass::Empty) => "Nothing was read.",
        (Language::En, ErrorClass::CheckDigit) => "The check digit is wrong: the label may be damaged.",
        (Language::En, ErrorClass::Length) => "The code has the wrong number of digits.",
        (Language::En, ErrorClass::Characters) => "The code contains characters that are not allowed.",
        (Language::En, ErrorClass::Date) => "The code contains a date that is not valid.",
        (Language::En, ErrorClass::Malformed) => "The code is unreadable or damaged.",
    }
}

/// Why a code was refused, in at most 25 characters (128×64 panel).
pub fn invalid_reason_short(lang: Language, reason: ErrorClass) -> &'static str {
    match (lang, reason) {
        (Language::It, ErrorClass::Empty) => "Nessun codice letto",
        (Language::It, ErrorClass::CheckDigit) => "Cifra di controllo errata",
        (Language::It, ErrorClass::Length) => "Numero di cifre errato",
        (Language::It, ErrorClass::Characters) => "Caratteri non ammessi",
        (Language::It, ErrorClass::Date) => "Data non valida",
        (Language::It, ErrorClass::Malformed) => "Codice illeggibile",
        (Language::En, ErrorClass::Empty) => "Nothing was read",
        (Language::En, ErrorClass::CheckDigit) => "Check digit wrong",
        (Language::En, ErrorClass::Length) => "Wrong number of digits",
        (Language::En, ErrorClass::Characters) => "Characters not allowed",
        (Language::En, ErrorClass::Date) => "Date not valid",
        (Language::En, ErrorClass::Malformed) => "Code unreadable",
    }
}

/// The stock line: a count in this store, or "out of stock" at zero or below (a count that went negative
/// through unrecorded sales is still nothing on the shelf).
pub fn stock(lang: Language, units: i64, short: bool) -> String {
    let t = texts(lang);
    if units <= 0 {
        return (if short { t.out_of_stock_short } else { t.out_of_stock }).to_string();
    }
    format!(
        "{}{units}",
        if short {
            t.in_stock_prefix_short
        } else {
            t.in_stock_prefix
        }
    )
}

/// The age restriction line, e.g. "Vietato ai minori di 18 anni".
pub fn age(lang: Language, min_age: u8) -> String {
    let t = texts(lang);
    format!("{}{min_age}{}", t.age_prefix, t.age_suffix)
}

/// A weight the Italian way, as on scale labels: `0,532 kg` (same in both languages, like prices).
pub fn weight(grams: u32) -> String {
    format!("{},{:03} kg", grams / 1000, grams % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_read_like_scale_labels() {
        assert_eq!(weight(532), "0,532 kg");
        assert_eq!(weight(1234), "1,234 kg");
        assert_eq!(weight(0), "0,000 kg");
        assert_eq!(weight(u32::MAX), "4294967,295 kg");
    }

    #[test]
    fn stock_says_out_of_stock_at_zero_or_below() {
        assert_eq!(stock(Language::It, 12, false), "Disponibili qui: 12");
        assert_eq!(stock(Language::En, 12, false), "In stock here: 12");
        assert_eq!(stock(Language::It, 0, false), "Esaurito qui");
        assert_eq!(stock(Language::En, -3, false), "Out of stock here");
    }

    #[test]
    fn age_line_in_both_languages() {
        assert_eq!(age(Language::It, 18), "Vietato ai minori di 18 anni");
        assert_eq!(age(Language::En, 18), "Over 18 only");
    }

    #[test]
    fn every_reason_has_distinct_words_in_each_language() {
        let all = [
            ErrorClass::Empty,
            ErrorClass::CheckDigit,
            ErrorClass::Length,
            ErrorClass::Characters,
            ErrorClass::Date,
            ErrorClass::Malformed,
        ];
        for lang in [Language::It, Language::En] {
            for words in [invalid_reason, invalid_reason_short] {
                let mut seen: Vec<&str> = all.iter().map(|r| words(lang, *r)).collect();
                seen.sort();
                seen.dedup();
                assert_eq!(seen.len(), all.len(), "{lang:?}");
            }
            for r in all {
                assert!(
                    invalid_reason_short(lang, r).chars().count() <= 25,
                    "{r:?} too long for 128x64"
                );
            }
        }
    }
}
