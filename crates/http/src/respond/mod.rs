//! Building responses: content negotiation (here), conditional GET ([`conditional`]), sparse
//! fieldsets ([`fields`]), collection pages ([`pages`]) and streamed exports ([`exports`]).

use crate::error::ApiError;
use actix_web::HttpRequest;
use actix_web::http::header::{self};

pub mod conditional;
pub mod exports;
pub mod fields;
pub mod pages;

pub use conditional::*;
pub use exports::*;
pub use fields::*;
pub use pages::*;

/// A representation a client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `text/csv` (RFC 4180, header row, UTF-8).
    Csv,
    /// `application/geo+json` (RFC 7946).
    GeoJson,
}

impl Format {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "json" => Some(Self::Json),
            "csv" => Some(Self::Csv),
            "geojson" => Some(Self::GeoJson),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::GeoJson => "geojson",
        }
    }
}

/// Picks the representation from `?format=` (which wins) or the `Accept` header.
pub fn negotiate(
    req: &HttpRequest,
    format: Option<&str>,
    allowed: &[Format],
) -> Result<Format, ApiError> {
    if let Some(f) = format {
        return Format::parse(f)
            .filter(|f| allowed.contains(f))
            .ok_or_else(|| {
                let names: Vec<_> = allowed.iter().map(|f| f.name()).collect();
                ApiError::invalid(
                    "format",
                    "enum",
                    format!("must be one of: {}", names.join(", ")),
                )
            });
    }
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(Format::Json);
    };
    if accept.trim().is_empty() {
        return Ok(Format::Json);
    }
    let mut ranges: Vec<(f32, usize, String)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut it = part.split(';');
            let media = it.next()?.trim().to_ascii_lowercase();
            let q = it
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0).then_some((q, i, media))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, _, media) in ranges {
        let candidate = match media.as_str() {
            "*/*" | "application/*" | "application/json" | "application/problem+json" => {
                Some(Format::Json)
            }
            "text/csv" | "text/*" => Some(Format::Csv),
            "application/geo+json" => Some(Format::GeoJson),
            _ => None,
        };
        if let Some(c) = candidate.filter(|c| allowed.contains(c)) {
            return Ok(c);
        }
    }
    let types: Vec<&str> = allowed
        .iter()
        .map(|f| match f {
            Format::Json => "application/json",
            Format::Csv => "text/csv",
            Format::GeoJson => "application/geo+json",
        })
        .collect();
    Err(ApiError::NotAcceptable(format!(
        "this resource is available as {}",
        types.join(", ")
    )))
}
