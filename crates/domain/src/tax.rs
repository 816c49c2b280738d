//! Italian tax identifiers with their check characters: the codice fiscale (16-character
//! personal form or 11-digit numeric form) and the partita IVA.

use crate::error::FieldError;
use serde::{Deserialize, Serialize};

/// A codice fiscale: either the 16-character form of natural persons (with its check letter and
/// the omocodia substitutions) or the 11-digit numeric form of legal bodies (with its check digit).
/// Stored upper case without spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaxCode(String);

/// A partita IVA: 11 digits with a Luhn-style check digit. An `IT` prefix is accepted and dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VatNumber(String);

fn normalise(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase()
}

/// The check digit of the first ten digits of an 11-digit numeric code.
fn numeric_check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(*d - b'0');
            if i % 2 == 0 {
                d
            } else {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            }
        })
        .sum();
    // The result is below 10, so the narrowing is lossless.
    ((10 - sum % 10) % 10) as u8
}

fn check_numeric(s: &str) -> Result<(), FieldError> {
    let b = s.as_bytes();
    if b.len() != 11 || !b.iter().all(u8::is_ascii_digit) {
        return Err(FieldError::new("format", "must be 11 digits"));
    }
    if numeric_check_digit(b) != b[10] - b'0' {
        return Err(FieldError::new(
            "check_digit",
            "the check digit does not match",
        ));
    }
    Ok(())
}

/// Value of a character in an odd (1st, 3rd, ...) position of the personal codice fiscale.
fn odd_value(c: u8) -> u32 {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    let idx = if c.is_ascii_digit() {
        c - b'0'
    } else {
        c - b'A'
    };
    ODD[usize::from(idx)]
}

/// Value of a character in an even position of the personal codice fiscale.
fn even_value(c: u8) -> u32 {
    u32::from(if c.is_ascii_digit() {
        c - b'0'
    } else {
        c - b'A'
    })
}

/// Digits may be replaced by these letters (omocodia) in the numeric positions.
const OMOCODE: &[u8] = b"LMNPQRSTUV";
const MONTHS: &[u8] = b"ABCDEHLMPRST";
const DIGIT_POSITIONS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];

fn check_personal(s: &str) -> Result<(), FieldError> {
    let b = s.as_bytes();
    if b.len() != 16 || !b.iter().all(u8::is_ascii_alphanumeric) {
        return Err(FieldError::new(
            "format",
            "a codice fiscale has 16 letters and digits or 11 digits",
        ));
    }
    let shape_ok = (0..16).all(|i| {
        let c = b[i];
        if DIGIT_POSITIONS.contains(&i) {
            c.is_ascii_digit() || OMOCODE.contains(&c)
        } else if i == 8 {
            MONTHS.contains(&c)
        } else {
            c.is_ascii_uppercase()
        }
    });
    if !shape_ok {
        return Err(FieldError::new(
            "format",
            "not in the form of a codice fiscale (e.g. RSSMRA85T10A562S)",
        ));
    }
    let sum: u32 = b[..15]
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if i % 2 == 0 {
                odd_value(c)
            } else {
                even_value(c)
            }
        })
        .sum();
    // `sum % 26` is below 26, so it fits a letter.
    let expected = b'A' + (sum % 26) as u8;
    if expected != b[15] {
        return Err(FieldError::new(
            "check_digit",
            "the check character does not match",
        ));
    }
    Ok(())
}

impl TaxCode {
    /// Accepts either form, spaces ignored and letters in any case.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = normalise(raw);
        if s.len() == 11 {
            check_numeric(&s)?;
        } else {
            check_personal(&s)?;
        }
        Ok(Self(s))
    }

    /// The code as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl VatNumber {
    /// Accepts 11 digits, optionally after `IT`, spaces ignored.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = normalise(raw);
        let s = s.strip_prefix("IT").unwrap_or(&s).to_owned();
        check_numeric(&s)?;
        Ok(Self(s))
    }

    /// The number as stored (11 digits).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_personal_codes() {
        assert!(TaxCode::parse("RSSMRA85T10A562S").is_ok());
        assert!(TaxCode::parse("rssmra85t10a562s").is_ok());
        // Omocodia: the last digit of the municipality code replaced by its letter, new check.
        assert!(TaxCode::parse("RSSMRA85T10A56NH").is_ok());
        assert_eq!(
            TaxCode::parse("RSSMRA85T10A562T").unwrap_err().code,
            "check_digit"
        );
        assert_eq!(
            TaxCode::parse("RSSMRA85Z10A562S").unwrap_err().code,
            "format"
        );
        assert_eq!(TaxCode::parse("12345").unwrap_err().code, "format");
    }

    #[test]
    fn known_numeric_codes() {
        assert!(TaxCode::parse("01234567897").is_ok());
        assert_eq!(
            TaxCode::parse("01234567890").unwrap_err().code,
            "check_digit"
        );
        assert!(VatNumber::parse("IT01234567897").is_ok());
        assert!(VatNumber::parse("0123456789").is_err());
        assert!(VatNumber::parse("0123456789A").is_err());
    }

    fn with_check(ten: &str) -> String {
        let d = numeric_check_digit(ten.as_bytes());
        format!("{ten}{d}")
    }

    proptest! {
        #[test]
        fn every_numeric_code_with_its_digit_is_valid(ten in "[0-9]{10}") {
            let code = with_check(&ten);
            prop_assert!(VatNumber::parse(&code).is_ok());
            prop_assert!(TaxCode::parse(&code).is_ok());
        }

        #[test]
        fn a_single_changed_digit_is_caught(ten in "[0-9]{10}", pos in 0usize..11, delta in 1u8..10) {
            let code = with_check(&ten);
            let mut b = code.into_bytes();
            b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(b).unwrap();
            prop_assert!(VatNumber::parse(&changed).is_err());
        }

        #[test]
        fn a_changed_check_letter_is_caught(delta in 1u8..26) {
            let mut b = b"RSSMRA85T10A562S".to_vec();
            b[15] = b'A' + (b[15] - b'A' + delta) % 26;
            prop_assert!(TaxCode::parse(std::str::from_utf8(&b).unwrap()).is_err());
        }

        #[test]
        fn parsing_never_panics(raw in "\\PC{0,30}") {
            let _ = TaxCode::parse(&raw);
            let _ = VatNumber::parse(&raw);
        }
    }
}
