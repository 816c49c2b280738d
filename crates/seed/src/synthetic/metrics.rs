//! Monthly observations over every indicator.

use chrono::{Datelike, NaiveDate};
use legami_domain::{
    Dimensions, IndicatorUnit, IstatCode, MetricFields, MetricKind, MetricValue, ThemeCode,
};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::*;

pub(super) fn add_months(d: NaiveDate, months: u32) -> NaiveDate {
    let total = d.year() * 12 + d.month0() as i32 + months as i32;
    NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1).unwrap_or(d)
}

/// Exactly `quota` monthly observations of one project: month by month over its span, a set of
/// its indicators, each broken down by gender or age band; about one row in ten is a target.
pub(super) fn metrics(
    rng: &mut ChaCha8Rng,
    quota: usize,
    indicators: &[(ThemeCode, IndicatorUnit)],
    (start, end): (Option<NaiveDate>, Option<NaiveDate>),
    labs: &[Uuid],
    municipality: Option<IstatCode>,
) -> Vec<MetricFields> {
    const BANDS: &[&str] = &["0-5", "6-10", "11-14", "15-17", "18-29", "30-64", "65+"];
    let start = start.unwrap_or_default();
    let end = end.unwrap_or(start);
    let months = ((end.year() - start.year()) * 12 + end.month() as i32 - start.month() as i32 + 1)
        .max(1) as u32;
    let k = rng.gen_range(4..=8).min(indicators.len());
    let mine: Vec<&(ThemeCode, IndicatorUnit)> = indicators.choose_multiple(rng, k).collect();
    // Rows per (month, indicator) so that the span holds the quota: actuals plus 1 in 10 targets.
    let cells = (months as usize * mine.len()).max(1);
    let per_cell = quota.div_ceil(cells).max(1);
    let mut out = Vec::with_capacity(quota);
    'fill: loop {
        for m in 0..months {
            let ps = add_months(start, m);
            let pe = add_months(ps, 1).pred_opt().unwrap_or(ps);
            for (code, unit) in &mine {
                let (lo, hi, decimals) = match unit {
                    IndicatorUnit::Eur => (50, 5_000, true),
                    IndicatorUnit::Hours => (2, 200, true),
                    IndicatorUnit::Households => (1, 25, false),
                    IndicatorUnit::Organisations => (1, 12, false),
                    IndicatorUnit::Events | IndicatorUnit::Count => (1, 10, false),
                    IndicatorUnit::People => (1, 60, false),
                };
                for b in 0..per_cell {
                    if out.len() >= quota {
                        break 'fill;
                    }
                    let whole: i64 = rng.gen_range(lo..=hi);
                    let milli = whole * 1000
                        + if decimals {
                            rng.gen_range(0..4) * 250
                        } else {
                            0
                        };
                    let target = rng.gen_bool(0.1);
                    let dims = if per_cell <= 2 {
                        Dimensions {
                            gender: (per_cell == 2).then(|| ["f", "m"][b % 2].to_owned()),
                            ..Dimensions::default()
                        }
                    } else {
                        Dimensions {
                            age_band: Some(BANDS[b % BANDS.len()].to_owned()),
                            gender: (b >= BANDS.len())
                                .then(|| ["f", "m"][b / BANDS.len() % 2].to_owned()),
                            ..Dimensions::default()
                        }
                    };
                    out.push(MetricFields {
                        indicator: code.clone(),
                        kind: if target {
                            MetricKind::Target
                        } else {
                            MetricKind::Actual
                        },
                        value: MetricValue::from_milli(if target { milli * 6 / 5 } else { milli }),
                        period_start: ps,
                        period_end: pe,
                        lab_id: (!labs.is_empty() && rng.gen_bool(0.3)).then(|| *pick(rng, labs)),
                        municipality: municipality.clone(),
                        dimensions: dims,
                        source: Some("Dati sintetici (legami seed synthetic)".to_owned()),
                        note: None,
                    });
                }
            }
        }
        if out.is_empty() {
            break;
        }
    }
    out
}
