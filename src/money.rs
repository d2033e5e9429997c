//! Money: integer cents, and the one place that formats them for shoppers.
//!
//! Amounts are never floating point anywhere in omnigate. This module must never round:
//! rounding rules belong to the pricing engine that produced the cents.

/// Formats cents the Italian way, as shown on shelf labels and screens: `€ 1,99`, `€ 1.234,50`, `-€ 0,50`.
///
/// The same format is used for both UI languages: the currency and the store are Italian, and a shopper
/// compares the screen with the shelf label.
pub fn format_eur(cents: i64) -> String {
    let neg = cents < 0;
    let abs = cents.unsigned_abs();
    let euros = abs / 100;
    let rest = abs % 100;
    let digits = euros.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push('.');
        }
        grouped.push(ch);
    }
    format!("{}€ {},{:02}", if neg { "-" } else { "" }, grouped, rest)
}

/// Price of `weight_g` grams of an item sold at `cents_per_kg`, rounded half-up to the cent.
///
/// Half-up on the exact product (integer arithmetic, no float): 1,234 g at € 9,99/kg = 1232.766 → 1233 cents.
pub fn price_for_weight(cents_per_kg: i64, weight_g: u32) -> i64 {
    let num = cents_per_kg as i128 * weight_g as i128;
    let q = num.div_euclid(1000);
    let r = num.rem_euclid(1000);
    (if r * 2 >= 1000 { q + 1 } else { q }) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_a_shelf_label() {
        for (cents, want) in [
            (0, "€ 0,00"),
            (5, "€ 0,05"),
            (199, "€ 1,99"),
            (100000, "€ 1.000,00"),
            (123456789, "€ 1.234.567,89"),
            (-50, "-€ 0,50"),
        ] {
            assert_eq!(format_eur(cents), want, "{cents}");
        }
    }

    #[test]
    fn weight_price_rounds_half_up() {
        assert_eq!(price_for_weight(999, 1234), 1233); // 1232.766
        assert_eq!(price_for_weight(1000, 1), 1); // exactly 1.0
        assert_eq!(price_for_weight(500, 1), 1); // 0.5 rounds up
        assert_eq!(price_for_weight(499, 1), 0); // 0.499 rounds down
    }
}
