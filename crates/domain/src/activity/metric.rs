//! Indicators and the observations (metrics) recorded against them.

use crate::enums::*;
use crate::error::FieldError;
use crate::values::{IstatCode, ThemeCode};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::str::FromStr;
use uuid::Uuid;

/// An indicator of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    /// Code.
    pub code: ThemeCode,
    /// Italian name.
    pub name_it: String,
    /// English name.
    pub name_en: String,
    /// What it measures.
    pub description: Option<String>,
    /// Unit.
    pub unit: IndicatorUnit,
    /// How observations combine.
    pub aggregation: Aggregation,
    /// When it was added.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A measured value: non-negative, at most three decimals, kept exact as thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricValue(i64);

impl MetricValue {
    /// Parses the decimal text of a JSON number.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let d = Decimal::from_str(raw)
            .or_else(|_| Decimal::from_scientific(raw))
            .map_err(|_| FieldError::new("type", "a value is a number"))?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(FieldError::new("range", "a value cannot be negative"));
        }
        if d.normalize().scale() > 3 {
            return Err(FieldError::new("format", "at most three decimals"));
        }
        let milli = d * Decimal::from(1000);
        let n = i64::try_from(milli.trunc())
            .map_err(|_| FieldError::new("range", "value too large"))?;
        if n > 1_000_000_000_000_000 {
            return Err(FieldError::new("range", "value too large"));
        }
        Ok(Self(n))
    }

    /// From stored thousandths.
    pub fn from_milli(n: i64) -> Self {
        Self(n)
    }

    /// Stored thousandths.
    pub fn milli(self) -> i64 {
        self.0
    }

    /// As an exact decimal.
    pub fn decimal(self) -> Decimal {
        Decimal::new(self.0, 3).normalize()
    }
}

/// Optional disaggregation of an observation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dimensions {
    /// Age band, e.g. `0-17`.
    pub age_band: Option<String>,
    /// Gender.
    pub gender: Option<String>,
    /// Group, e.g. `families`.
    pub group: Option<String>,
}

/// One participation observation, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFields {
    /// Indicator code.
    pub indicator: ThemeCode,
    /// Target or actual.
    pub kind: MetricKind,
    /// Value.
    pub value: MetricValue,
    /// First day of the period.
    pub period_start: NaiveDate,
    /// Last day of the period.
    pub period_end: NaiveDate,
    /// Lab of the project it refers to.
    pub lab_id: Option<Uuid>,
    /// Municipality it refers to.
    pub municipality: Option<IstatCode>,
    /// Disaggregation.
    pub dimensions: Dimensions,
    /// Where the figure comes from.
    pub source: Option<String>,
    /// Free note.
    pub note: Option<String>,
}

/// A stored observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Id.
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Content.
    pub fields: MetricFields,
    /// When it was recorded.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// How far `actual` has come towards `target`: `actual / target`, rounded to six decimals
/// (no actual counts as 0); `None` without a positive target.
pub fn attainment(actual: Option<MetricValue>, target: Option<MetricValue>) -> Option<Decimal> {
    let t = target?.decimal();
    if t.is_zero() {
        return None;
    }
    let a = actual.map_or(Decimal::ZERO, MetricValue::decimal);
    Some((a / t).round_dp(6))
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(raw: &str) -> Result<NaiveDate, FieldError> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|_| raw.len() == 10)
        .ok_or_else(|| FieldError::new("format", "a date is YYYY-MM-DD"))
}
