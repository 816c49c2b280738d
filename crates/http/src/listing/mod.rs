//! The query parameters every collection shares: `limit`, `cursor`, `sort`, `count`, `fields`,
//! `format`, and helpers to parse repeatable filters with one error per bad value.

use crate::cursor;
use crate::error::{ApiError, ProblemField};
use crate::respond::{FieldSet, Format, negotiate};
use actix_web::HttpRequest;
use chrono::{DateTime, Utc};
use legami_domain::FieldError;
use legami_persistence::{KeysetPos, PageRequest, SortSpec};
use serde::Deserialize;

mod filters;
mod serve;

pub use filters::*;
pub use serve::*;

/// Collects 422 errors about query parameters.
#[derive(Debug, Default)]
pub struct ParamErrors(pub Vec<ProblemField>);

impl ParamErrors {
    /// Records a failure of `param`.
    pub fn add(&mut self, param: &str, e: FieldError) {
        self.0.push(ProblemField {
            field: param.to_owned(),
            code: e.code,
            message: e.message,
        });
    }

    /// Parses every value of a repeatable parameter.
    pub fn each<T>(
        &mut self,
        param: &str,
        raw: &Option<Vec<String>>,
        parse: impl Fn(&str) -> Result<T, FieldError>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for v in raw.iter().flatten().flat_map(|v| v.split(',')) {
            match parse(v.trim()) {
                Ok(x) => out.push(x),
                Err(e) => self.add(
                    param,
                    FieldError {
                        message: format!("'{v}': {}", e.message),
                        ..e
                    },
                ),
            }
        }
        out
    }

    /// Parses an optional single value.
    pub fn one<T>(
        &mut self,
        param: &str,
        raw: &Option<String>,
        parse: impl Fn(&str) -> Result<T, FieldError>,
    ) -> Option<T> {
        match raw.as_deref().map(parse) {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                self.add(param, e);
                None
            }
            None => None,
        }
    }

    /// `Ok` when nothing failed.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

/// An RFC 3339 timestamp parameter.
pub fn timestamp(raw: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| FieldError::new("format", "an RFC 3339 timestamp, e.g. 2026-11-22T09:30:00Z"))
}

/// The parameters every collection of records shares, as sent; their documentation is
/// `routes::records::ListParams`, written once from each collection's sorts and formats.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
    sort: Option<String>,
    count: Option<String>,
    fields: Option<String>,
    format: Option<String>,
}

impl ListQuery {
    /// The parameter names.
    pub const NAMES: &'static [&'static str] =
        &["limit", "cursor", "sort", "count", "fields", "format"];

    /// The parameters, borrowed, for [`parse_list_args`].
    pub fn raw(&self) -> RawListArgs<'_> {
        crate::raw_list_args!(self)
    }
}

/// The raw shared parameters of a listing.
#[derive(Debug, Default)]
pub struct RawListArgs<'a> {
    /// `limit`.
    pub limit: Option<&'a str>,
    /// `cursor`.
    pub cursor: Option<&'a str>,
    /// `sort`.
    pub sort: Option<&'a str>,
    /// `count`.
    pub count: Option<&'a str>,
    /// `fields`.
    pub fields: Option<&'a str>,
    /// `format`.
    pub format: Option<&'a str>,
}

/// The [`RawListArgs`] of a collection's query parameters (a struct with the shared fields).
#[macro_export]
macro_rules! raw_list_args {
    ($q:expr) => {
        $crate::listing::RawListArgs {
            limit: $q.limit.as_deref(),
            cursor: $q.cursor.as_deref(),
            sort: $q.sort.as_deref(),
            count: $q.count.as_deref(),
            fields: $q.fields.as_deref(),
            format: $q.format.as_deref(),
        }
    };
}

/// Parsed shared parameters.
#[derive(Debug)]
pub struct ListArgs {
    /// The page to read.
    pub page: PageRequest,
    /// Whether `limit` or `cursor` was given (exports then stream one page only).
    pub paged: bool,
    /// Chosen fields.
    pub fields: FieldSet,
    /// Chosen representation.
    pub format: Format,
}

/// How a collection is described for parsing its shared parameters.
pub struct CollectionSpec<'a> {
    /// Name used in cursors (`organisations`).
    pub name: &'static str,
    /// Sortable fields.
    pub sorts: &'static [&'static str],
    /// Default sort.
    pub default_sort: &'static str,
    /// Field names for `fields=`.
    pub fields: &'a [String],
    /// Representations offered.
    pub formats: &'a [Format],
}

/// Parses and checks the shared parameters; every bad one is reported.
pub fn parse_list_args(
    req: &HttpRequest,
    secret: &str,
    raw: RawListArgs<'_>,
    spec: &CollectionSpec<'_>,
    errs: &mut ParamErrors,
) -> Result<ListArgs, ApiError> {
    let limit = match raw.limit {
        None => 20,
        Some(l) => match l.parse::<u64>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                errs.add(
                    "limit",
                    FieldError::new("range", "limit is a whole number from 1 to 100"),
                );
                20
            }
        },
    };
    let sort = match raw.sort {
        None => SortSpec::parse(spec.default_sort, spec.sorts),
        Some(s) => {
            let parsed = SortSpec::parse(s, spec.sorts);
            if parsed.is_none() {
                errs.add(
                    "sort",
                    FieldError::new(
                        "enum",
                        format!(
                            "sort by one of: {} (prefix '-' for descending)",
                            spec.sorts.join(", ")
                        ),
                    ),
                );
            }
            parsed
        }
    };
    let count = match raw.count {
        None | Some("true") => true,
        Some("false") => false,
        Some(_) => {
            errs.add("count", FieldError::new("format", "count is true or false"));
            true
        }
    };
    let fields = match FieldSet::parse(raw.fields, spec.fields) {
        Ok(f) => f,
        Err(ApiError::Validation(v)) => {
            errs.0.extend(v);
            FieldSet::default()
        }
        Err(e) => return Err(e),
    };
    let format = match negotiate(req, raw.format, spec.formats) {
        Ok(f) => f,
        Err(ApiError::Validation(v)) => {
            errs.0.extend(v);
            Format::Json
        }
        Err(e) => return Err(e),
    };
    let sort = sort.unwrap_or(SortSpec {
        field: spec.sorts[0],
        desc: false,
    });
    if !errs.0.is_empty() {
        return Err(ApiError::Validation(std::mem::take(&mut errs.0)));
    }
    let after: Option<KeysetPos> = match raw.cursor {
        Some(c) => Some(cursor::decode(secret, spec.name, &sort.as_param(), c)?),
        None => None,
    };
    Ok(ListArgs {
        paged: raw.limit.is_some() || raw.cursor.is_some(),
        page: PageRequest {
            limit,
            after,
            count,
            sort,
        },
        fields,
        format,
    })
}
