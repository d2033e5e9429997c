//! Why a code was rejected: one specific variant per broken rule, each naming what is wrong and where, and
//! grouped into the coarse [`ErrorClass`] the shopper sees. Positions are 1-based characters of the input as
//! given (before trimming), so staff can count along what the scanner sent.

use std::fmt;

use super::{ErrorClass, GtinError};

/// Where in the input a problem sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// 1-based character position in the input as given.
    At(usize),
    /// In the path of a GS1 Digital Link URI (values are percent-decoded, so no position).
    UriPath,
    /// In the query string of a GS1 Digital Link URI.
    UriQuery,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::At(p) => write!(f, "at position {p}"),
            Place::UriPath => f.write_str("in the URI path"),
            Place::UriQuery => f.write_str("in the URI query"),
        }
    }
}

/// Why a code was rejected. `Display` is a detailed English message for staff, IT and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BarcodeError {
    /// Nothing was read (only spaces or line ends).
    #[error("empty input")]
    Empty,
    /// A GTIN failed validation (kept for callers that convert a [`GtinError`]).
    #[error("{0}")]
    Gtin(#[from] GtinError),
    /// Longer than any supported code; rejected before any other work.
    #[error("input is {len} bytes long; no supported code is longer than {max}")]
    TooLong {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A control character (anything below 0x20 or DEL, except the GS1 separator GS 0x1D).
    #[error("control character 0x{byte:02X} at position {position}")]
    ControlCharacter {
        /// The byte.
        byte: u8,
        /// 1-based position.
        position: usize,
    },
    /// A byte outside ASCII: no barcode this module reads carries one.
    #[error("byte 0x{byte:02X} at position {position} is not ASCII")]
    NotAscii {
        /// The byte.
        byte: u8,
        /// 1-based position.
        position: usize,
    },
    /// A product code (EAN/UPC/GTIN) with something other than a digit.
    #[error("{ch:?} at position {position} is not a digit (and the code matches no store pattern)")]
    NotDigit {
        /// The character.
        ch: char,
        /// 1-based position.
        position: usize,
    },
    /// A product code of a length no EAN/UPC/GTIN has.
    #[error("{what} has {expected} digits, found {found}")]
    ProductLength {
        /// What was expected, e.g. "a product code" or "]E4 (EAN-8)".
        what: String,
        /// Allowed lengths, e.g. "8, 12, 13 or 14".
        expected: &'static str,
        /// Digits found.
        found: usize,
    },
    /// A product code whose check digit does not match.
    #[error("{what} check digit is {found}, expected {expected}")]
    CheckDigit {
        /// Which code, e.g. "EAN-13".
        what: &'static str,
        /// Digit found in the code.
        found: u8,
        /// Digit computed from the other digits.
        expected: u8,
    },
    /// 6 or 7 digits without a symbology identifier: a UPC-E short form (no check digit) is accepted only with
    /// `]E0`, because without it nothing tells it from a truncated read or a typed number.
    #[error(
        "{found} digits without a check digit: read as UPC-E only when the scanner sends the ]E0 identifier \
         (otherwise it may be a truncated read or a typed number); a product code has 8, 12, 13 or 14 digits"
    )]
    ShortUpcEWithoutIdentifier {
        /// Digits found (6 or 7).
        found: usize,
    },
    /// A UPC-E code whose number system is not 0 or 1.
    #[error("UPC-E number system must be 0 or 1, found {found}")]
    UpcENumberSystem {
        /// The first digit found.
        found: char,
    },
    /// A symbology identifier that is broken or does not fit its data.
    #[error("symbology identifier {aim}: {reason}")]
    Symbology {
        /// The identifier as sent (escaped), e.g. `]E1`.
        aim: String,
        /// What is wrong.
        reason: String,
    },
    /// A GS1 element string whose structure is broken (no AI where one must start).
    #[error("GS1 element string {place}: {reason}")]
    Gs1Syntax {
        /// Where.
        place: Place,
        /// What is wrong.
        reason: String,
    },
    /// No AI in the supported table starts with these digits.
    #[error("GS1 element string {place}: no supported AI starts with {digits}")]
    UnknownAi {
        /// The first digits found (up to 4).
        digits: String,
        /// Where the AI starts.
        place: Place,
    },
    /// An AI's data is too short or too long.
    #[error("AI {ai} {place}: {reason}")]
    AiLength {
        /// The AI, e.g. `3103`.
        ai: String,
        /// Where the AI starts.
        place: Place,
        /// What is wrong, e.g. "needs 6 digits, found 4".
        reason: String,
    },
    /// An AI's data holds a character its format forbids.
    #[error("AI {ai} {place}: {reason}")]
    AiCharacters {
        /// The AI.
        ai: String,
        /// Where the AI starts.
        place: Place,
        /// What is wrong.
        reason: String,
    },
    /// An AI's check digit (SSCC, GTIN, GLN) does not match.
    #[error("AI {ai} {place}: check digit is {found}, expected {expected}")]
    AiCheckDigit {
        /// The AI.
        ai: String,
        /// Where the AI starts.
        place: Place,
        /// Digit found.
        found: u8,
        /// Digit computed.
        expected: u8,
    },
    /// A date AI (11, 13, 15, 17 …) that is not a date.
    #[error("AI {ai} {place}: {reason}")]
    AiDate {
        /// The AI.
        ai: String,
        /// Where the AI starts.
        place: Place,
        /// What is wrong, e.g. "month 13 is not a month".
        reason: String,
    },
    /// An AI whose value breaks another rule (undefined decimal position, repeated with another value…).
    #[error("AI {ai} {place}: {reason}")]
    AiValue {
        /// The AI.
        ai: String,
        /// Where the AI starts.
        place: Place,
        /// What is wrong.
        reason: String,
    },
    /// A URL that is not a usable GS1 Digital Link.
    #[error("GS1 Digital Link: {reason}")]
    DigitalLink {
        /// What is wrong.
        reason: String,
    },
    /// A variable-measure code whose price/weight verifier digit (GS1 GenSpecs §7.9.3) does not match.
    #[error("{what} verifier digit is {found}, expected {expected}")]
    Verifier {
        /// "price" or "weight".
        what: &'static str,
        /// Digit found.
        found: u8,
        /// Digit computed from the price or weight field.
        expected: u8,
    },
}

impl BarcodeError {
    /// The coarse class shown to shoppers.
    pub fn class(&self) -> ErrorClass {
        use BarcodeError as E;
        match self {
            E::Empty => ErrorClass::Empty,
            E::Gtin(GtinError::CheckDigit { .. }) => ErrorClass::CheckDigit,
            E::Gtin(GtinError::Length(_)) => ErrorClass::Length,
            E::Gtin(GtinError::NotDigits) => ErrorClass::Characters,
            E::TooLong { .. } | E::ProductLength { .. } | E::ShortUpcEWithoutIdentifier { .. } | E::AiLength { .. } => {
                ErrorClass::Length
            }
            E::ControlCharacter { .. } | E::NotAscii { .. } | E::NotDigit { .. } | E::AiCharacters { .. } => {
                ErrorClass::Characters
            }
            E::CheckDigit { .. } | E::AiCheckDigit { .. } | E::Verifier { .. } => ErrorClass::CheckDigit,
            E::AiDate { .. } => ErrorClass::Date,
            E::Symbology { .. }
            | E::UpcENumberSystem { .. }
            | E::Gs1Syntax { .. }
            | E::UnknownAi { .. }
            | E::AiValue { .. }
            | E::DigitalLink { .. } => ErrorClass::Malformed,
        }
    }
}
