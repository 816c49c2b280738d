//! Labs, projects, networks, areas, indicators and participation metrics.
//! One file per record: [`lab`], [`project`], [`network`], [`area`], and [`metric`] (indicators
//! and observations).

mod area;
mod lab;
mod metric;
mod network;
mod project;

pub use area::*;
pub use lab::*;
pub use metric::*;
pub use network::*;
pub use project::*;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn opening_slots() {
        assert!(OpeningSlot::parse("mon", "09:00", "12:30").is_ok());
        assert!(OpeningSlot::parse("sun", "18:00", "24:00").is_ok());
        assert_eq!(
            OpeningSlot::parse("mon", "12:00", "09:00").unwrap_err()[0].field,
            "/closes"
        );
        assert_eq!(
            OpeningSlot::parse("xyz", "9:00", "25:00")
                .unwrap_err()
                .len(),
            3
        );
        assert!(OpeningSlot::parse("mon", "10:00", "10:00").is_err());
    }

    #[test]
    fn amounts_and_values_are_exact() {
        assert_eq!(Amount::parse("150000").unwrap().to_canonical(), "150000.00");
        assert_eq!(Amount::parse("0.10").unwrap().to_canonical(), "0.10");
        assert!(Amount::parse("1.005").is_err());
        assert!(Amount::parse("-1").is_err());
        assert!(Amount::parse("abc").is_err());
        assert_eq!(MetricValue::parse("159").unwrap().milli(), 159_000);
        assert_eq!(MetricValue::parse("0.1").unwrap().milli(), 100);
        assert_eq!(
            MetricValue::parse("7100.5").unwrap().decimal().to_string(),
            "7100.5"
        );
        assert!(MetricValue::parse("-3").is_err());
        assert!(MetricValue::parse("1.0001").is_err());
        assert!(MetricValue::parse("1e30").is_err());
        assert_eq!(MetricValue::parse("1e3").unwrap().milli(), 1_000_000);
    }

    #[test]
    fn dates() {
        assert!(parse_date("2018-11-01").is_ok());
        assert!(parse_date("2018-02-30").is_err());
        assert!(parse_date("2018-1-1").is_err());
    }

    proptest! {
        #[test]
        fn times_round_trip(h in 0u16..24, m in 0u16..60) {
            let s = format!("{h:02}:{m:02}");
            prop_assert_eq!(TimeOfDay::parse(&s).unwrap().format(), s);
        }

        #[test]
        fn time_parsing_never_panics(raw in "\\PC{0,8}") {
            let _ = TimeOfDay::parse(&raw);
            let _ = MetricValue::parse(&raw);
            let _ = Amount::parse(&raw);
        }
    }
}
