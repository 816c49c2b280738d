//! Small value types with one rule each.

use crate::error::FieldError;
use serde::{Deserialize, Serialize};
use validator::{ValidateEmail, ValidateUrl};

/// A URL-safe identifier: lower-case ASCII letters, digits and single `-` between them,
/// 1 to 120 characters. Derived from a name with Italian accents folded ("Città Solidale" ->
/// `citta-solidale`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    /// Longest slug accepted.
    pub const MAX_LEN: usize = 120;

    /// Accepts a slug given by a client as it is; it must already be in canonical form.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-')
            && !raw.contains("--");
        if !ok {
            return Err(FieldError::new(
                "format",
                "a slug is 1-120 lower-case ASCII letters, digits and single '-' between them",
            ));
        }
        if uuid::Uuid::try_parse(raw).is_ok() {
            return Err(FieldError::new(
                "format",
                "a slug cannot have the form of a UUID",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Derives a slug from a human name: accents folded to ASCII, everything else that is not a
    /// letter or digit becomes a single `-`. Falls back to `record` for names with no letters.
    pub fn derive(name: &str) -> Self {
        let mut s = slug::slugify(name);
        if s.len() > Self::MAX_LEN {
            s.truncate(Self::MAX_LEN);
            while s.ends_with('-') {
                s.pop();
            }
        }
        if s.is_empty() {
            s = "record".to_owned();
        }
        if uuid::Uuid::try_parse(&s).is_ok() {
            // A slug must never be mistaken for an id in `{id}` paths.
            s.push_str("-x");
        }
        Self(s)
    }

    /// The same slug with a numeric suffix, used to make a derived slug unique.
    #[must_use]
    pub fn with_suffix(&self, n: u32) -> Self {
        let suffix = format!("-{n}");
        let mut base = self.0.clone();
        base.truncate(Self::MAX_LEN - suffix.len());
        while base.ends_with('-') {
            base.pop();
        }
        Self(format!("{base}{suffix}"))
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a path `{id}` names: a record id or a slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdOrSlug {
    /// A UUID.
    Id(uuid::Uuid),
    /// A slug.
    Slug(Slug),
}

impl IdOrSlug {
    /// A UUID is taken as an id, anything else must be a well-formed slug.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match uuid::Uuid::try_parse(raw) {
            Ok(id) => Ok(Self::Id(id)),
            Err(_) => Slug::parse(raw).map(Self::Slug),
        }
    }
}

/// An ISTAT municipality code: six digits, leading zeros kept ("018110" is Pavia).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IstatCode(String);

impl IstatCode {
    /// Checks the form only; whether the municipality exists is a question for the database.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new("format", "an ISTAT code is six digits"))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A two-letter Italian province abbreviation (`PV`), upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProvinceAbbr(String);

impl ProvinceAbbr {
    /// Two ASCII letters, any case; stored upper case.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.len() == 2 && raw.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Self(raw.to_ascii_uppercase()))
        } else {
            Err(FieldError::new(
                "format",
                "a province is two letters, e.g. PV",
            ))
        }
    }

    /// The abbreviation as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A theme code of the controlled vocabulary: `snake_case`, 2-50 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ThemeCode(String);

impl ThemeCode {
    /// Checks the form only; whether the theme exists is a question for the database.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let ok = (2..=50).contains(&raw.len())
            && raw.as_bytes()[0].is_ascii_lowercase()
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                "format",
                "a theme code is 2-50 characters of a-z, 0-9 and '_', starting with a letter",
            ))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A required, trimmed, single-line name of 1 to `max` characters.
pub fn parse_name(raw: &str, max: usize) -> Result<String, FieldError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(FieldError::new("required", "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(FieldError::new(
            "length",
            format!("at most {max} characters"),
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(FieldError::new("format", "must be a single line of text"));
    }
    Ok(t.to_owned())
}

/// Optional free text of at most `max` characters; blank becomes absent.
pub fn parse_text(raw: &str, max: usize) -> Result<Option<String>, FieldError> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t.chars().count() > max {
        return Err(FieldError::new(
            "length",
            format!("at most {max} characters"),
        ));
    }
    if t.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(FieldError::new(
            "format",
            "must not contain control characters",
        ));
    }
    Ok(Some(t.to_owned()))
}

/// An e-mail address (HTML5 rules, as the `validator` crate checks them), at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Trims, then checks the address.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let t = raw.trim();
        if t.len() <= 254 && t.validate_email() {
            Ok(Self(t.to_owned()))
        } else {
            Err(FieldError::new("email", "not a valid e-mail address"))
        }
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An absolute `http` or `https` URL of at most 2,000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebUrl(String);

impl WebUrl {
    /// Trims, then checks the URL and its scheme.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let t = raw.trim();
        let lower = t.to_ascii_lowercase();
        let scheme_ok = lower.starts_with("http://") || lower.starts_with("https://");
        if t.len() <= 2000 && scheme_ok && t.validate_url() {
            Ok(Self(t.to_owned()))
        } else {
            Err(FieldError::new("url", "not a valid http(s) URL"))
        }
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number as people write it: digits, spaces and `+ ( ) - / .`, 6-20 digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Trims, then checks the characters and the number of digits.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let t = raw.trim();
        let chars_ok = t
            .chars()
            .all(|c| c.is_ascii_digit() || " +()-/.".contains(c));
        let digits = t.chars().filter(char::is_ascii_digit).count();
        if chars_ok && (6..=20).contains(&digits) && t.len() <= 40 {
            Ok(Self(t.to_owned()))
        } else {
            Err(FieldError::new("phone", "not a valid phone number"))
        }
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An Italian postcode (CAP): five digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Postcode(String);

impl Postcode {
    /// Five digits.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let t = raw.trim();
        if t.len() == 5 && t.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(t.to_owned()))
        } else {
            Err(FieldError::new("format", "a postcode (CAP) is five digits"))
        }
    }

    /// The postcode as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A WGS 84 point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Latitude in degrees, -90..=90.
    pub lat: f64,
    /// Longitude in degrees, -180..=180.
    pub lon: f64,
}

impl Location {
    /// Checks both ranges, naming `/lat` and `/lon` in the errors.
    pub fn parse(lat: f64, lon: f64) -> Result<Self, Vec<FieldError>> {
        let mut errs = Vec::new();
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            errs.push(FieldError::new("range", "latitude must be between -90 and 90").at("/lat"));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            errs.push(
                FieldError::new("range", "longitude must be between -180 and 180").at("/lon"),
            );
        }
        if errs.is_empty() {
            Ok(Self { lat, lon })
        } else {
            Err(errs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slugs_fold_italian_accents() {
        assert_eq!(Slug::derive("Città Solidale").as_str(), "citta-solidale");
        assert_eq!(
            Slug::derive("Fare #BeneComune — Attività").as_str(),
            "fare-benecomune-attivita"
        );
        assert_eq!(Slug::derive("  ").as_str(), "record");
        assert_eq!(
            Slug::derive("Perché sì").with_suffix(2).as_str(),
            "perche-si-2"
        );
    }

    #[test]
    fn slug_parse_rejects_non_canonical() {
        for bad in [
            "",
            "A",
            "a--b",
            "-a",
            "a-",
            "à",
            "a b",
            "0190f3a0-0000-7000-8000-000000000000",
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
        assert!(Slug::parse("comune-di-pavia").is_ok());
    }

    #[test]
    fn istat_codes_are_six_digits() {
        assert!(IstatCode::parse("018110").is_ok());
        for bad in ["18110", "0181100", "01811a", ""] {
            assert!(IstatCode::parse(bad).is_err());
        }
    }

    #[test]
    fn locations_are_range_checked() {
        assert!(Location::parse(45.18, 9.15).is_ok());
        assert_eq!(Location::parse(95.0, 200.0).unwrap_err().len(), 2);
        assert!(Location::parse(f64::NAN, 0.0).is_err());
    }

    #[test]
    fn emails_and_urls() {
        assert!(Email::parse("m.piccio@csvlombardia.it").is_ok());
        assert!(Email::parse("not-an-email").is_err());
        assert!(WebUrl::parse("https://www.csvlombardia.it/").is_ok());
        assert!(WebUrl::parse("ftp://example.org").is_err());
        assert!(WebUrl::parse("javascript:alert(1)").is_err());
    }

    proptest! {
        #[test]
        fn derived_slugs_always_parse(name in "\\PC{0,200}") {
            let s = Slug::derive(&name);
            prop_assert!(Slug::parse(s.as_str()).is_ok(), "{:?}", s);
            let s2 = s.with_suffix(17);
            prop_assert!(Slug::parse(s2.as_str()).is_ok(), "{:?}", s2);
        }

        #[test]
        fn istat_parse_never_panics(raw in "\\PC{0,10}") {
            let _ = IstatCode::parse(&raw);
        }
    }
}
