//! Validation errors that name the field (as a JSON pointer) and the rule that failed.

use serde::Serialize;

/// One rule broken by one field. `field` is a JSON pointer into the request (`/address/municipality`)
/// or the name of a query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Where the bad value is: a JSON pointer for bodies, the parameter name for queries.
    pub field: String,
    /// A stable, machine-readable rule name (`required`, `format`, `range`, `check_digit`, ...).
    pub code: String,
    /// A sentence for a human.
    pub message: String,
}

impl FieldError {
    /// A rule failure whose location is filled in later with [`FieldError::at`].
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            field: String::new(),
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// Places the error at `field`, prefixing whatever nested location it already had.
    #[must_use]
    pub fn at(mut self, field: &str) -> Self {
        self.field = format!("{field}{}", self.field);
        self
    }
}

/// Every rule broken by a request; empty means valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an error at `field`.
    pub fn push(&mut self, field: &str, err: FieldError) {
        self.0.push(err.at(field));
    }

    /// Records the error of a parse result at `field` and returns the value, if any.
    pub fn check<T>(&mut self, field: &str, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(field, e);
                None
            }
        }
    }

    /// Like [`FieldErrors::check`] for an optional value.
    pub fn check_opt<T, R>(
        &mut self,
        field: &str,
        raw: Option<R>,
        parse: impl FnOnce(R) -> Result<T, FieldError>,
    ) -> Option<T> {
        raw.and_then(|r| self.check(field, parse(r)))
    }

    /// Whether no rule was broken.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when no rule was broken, otherwise the errors.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, FieldErrors> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
}

impl From<FieldError> for FieldErrors {
    fn from(e: FieldError) -> Self {
        Self(vec![e])
    }
}
