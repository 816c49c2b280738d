//! Labs, projects, networks, areas, indicators and participation metrics.

use crate::enums::*;
use crate::error::FieldError;
use crate::organisation::{Address, Contact, RecordMeta};
use crate::values::{IstatCode, Location, Slug, ThemeCode, WebUrl};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::str::FromStr;
use uuid::Uuid;

/// A time of day, `HH:MM`, 00:00 to 24:00 (24:00 only as a closing time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    /// Parses `HH:MM`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new("format", "a time is HH:MM, from 00:00 to 24:00");
        let b = raw.as_bytes();
        if b.len() != 5
            || b[2] != b':'
            || !b
                .iter()
                .enumerate()
                .all(|(i, c)| i == 2 || c.is_ascii_digit())
        {
            return Err(bad());
        }
        let h = u16::from(b[0] - b'0') * 10 + u16::from(b[1] - b'0');
        let m = u16::from(b[3] - b'0') * 10 + u16::from(b[4] - b'0');
        if m > 59 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(Self(h * 60 + m))
    }

    /// Back to `HH:MM`.
    pub fn format(self) -> String {
        format!("{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// One opening slot of a lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpeningSlot {
    /// Day of the week.
    pub day: Weekday,
    /// Opening time.
    pub opens: TimeOfDay,
    /// Closing time, after `opens`.
    pub closes: TimeOfDay,
}

impl OpeningSlot {
    /// Checks the times and that the slot does not end before it starts.
    pub fn parse(day: &str, opens: &str, closes: &str) -> Result<Self, Vec<FieldError>> {
        let mut errs = Vec::new();
        let d = Weekday::parse(day)
            .map_err(|e| errs.push(e.at("/day")))
            .ok();
        let o = TimeOfDay::parse(opens)
            .map_err(|e| errs.push(e.at("/opens")))
            .ok();
        let c = TimeOfDay::parse(closes)
            .map_err(|e| errs.push(e.at("/closes")))
            .ok();
        if let (Some(o), Some(c)) = (o, c)
            && o >= c
        {
            errs.push(FieldError::new("order", "closes must be after opens").at("/closes"));
        }
        match (d, o, c) {
            (Some(day), Some(opens), Some(closes)) if errs.is_empty() => {
                Ok(Self { day, opens, closes })
            }
            _ => Err(errs),
        }
    }
}

/// An organisation running a lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The organisation.
    pub organisation_id: Uuid,
    /// Its role.
    pub role: OperatorRole,
}

/// Everything a client may write about a lab, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct LabFields {
    /// Wanted slug.
    pub slug: Option<Slug>,
    /// Name.
    pub name: String,
    /// Kind of place.
    pub kind: LabKind,
    /// Free text.
    pub description: Option<String>,
    /// Theme codes.
    pub themes: Vec<ThemeCode>,
    /// Short activity labels.
    pub activities: Vec<String>,
    /// Running organisations.
    pub operators: Vec<Operator>,
    /// Address.
    pub address: Address,
    /// Neighbourhood (quartiere).
    pub neighbourhood: Option<String>,
    /// Position.
    pub location: Location,
    /// Weekly opening hours.
    pub opening_hours: Vec<OpeningSlot>,
    /// Public contact.
    pub contact: Contact,
    /// Accessibility notes.
    pub accessibility: Option<String>,
    /// Publication status.
    pub status: Status,
}

impl LabFields {
    /// The organisations a lab belongs to: its operators (managers and partners).
    pub fn owners(&self) -> Vec<Uuid> {
        self.operators.iter().map(|o| o.organisation_id).collect()
    }

    /// The organisations that run the lab as `manager` (who may name one: see `leaders`).
    pub fn leaders(&self) -> Vec<Uuid> {
        self.operators
            .iter()
            .filter(|o| o.role == OperatorRole::Manager)
            .map(|o| o.organisation_id)
            .collect()
    }

    /// Rules across fields: a published lab has at least one manager; one role per organisation.
    pub fn check_rules(&self) -> Result<(), crate::FieldErrors> {
        let mut errs = crate::FieldErrors::new();
        if self.status == Status::Published
            && !self
                .operators
                .iter()
                .any(|o| o.role == OperatorRole::Manager)
        {
            errs.push(
                "/operators",
                FieldError::new(
                    "manager_required",
                    "a published lab needs at least one operator with role 'manager'",
                ),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, o) in self.operators.iter().enumerate() {
            if !seen.insert(o.organisation_id) {
                errs.push(
                    &format!("/operators/{i}/organisation_id"),
                    FieldError::new("duplicate", "each organisation appears once"),
                );
            }
        }
        errs.into_result(|| ())
    }
}

/// A stored lab.
#[derive(Debug, Clone, PartialEq)]
pub struct Lab {
    /// Bookkeeping.
    pub meta: RecordMeta,
    /// Content.
    pub fields: LabFields,
}

/// A euro amount: non-negative, at most two decimals, kept exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(Decimal);

impl Amount {
    /// Parses a decimal string such as `"150000.00"`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let d = Decimal::from_str(raw.trim()).map_err(|_| {
            FieldError::new(
                "format",
                "an amount is a decimal string, e.g. \"150000.00\"",
            )
        })?;
        if d.is_sign_negative() {
            return Err(FieldError::new("range", "an amount cannot be negative"));
        }
        if d.normalize().scale() > 2 {
            return Err(FieldError::new("format", "at most two decimals (cents)"));
        }
        if d > Decimal::from(1_000_000_000_000_i64) {
            return Err(FieldError::new("range", "amount too large"));
        }
        Ok(Self(d))
    }

    /// Canonical text with two decimals.
    pub fn to_canonical(self) -> String {
        format!("{:.2}", self.0)
    }
}

/// A partner organisation of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    /// The organisation.
    pub organisation_id: Uuid,
    /// Its role.
    pub role: PartnerRole,
}

/// One funding line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Funding {
    /// The funding organisation.
    pub funder_id: Uuid,
    /// Euros.
    pub amount: Amount,
}

/// Everything a client may write about a project, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectFields {
    /// Wanted slug.
    pub slug: Option<Slug>,
    /// Title.
    pub title: String,
    /// One-paragraph summary.
    pub summary: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Funding programme, e.g. "Welfare in Azione".
    pub programme: Option<String>,
    /// Phase.
    pub phase: ProjectPhase,
    /// Start.
    pub start_date: Option<NaiveDate>,
    /// End, not before start.
    pub end_date: Option<NaiveDate>,
    /// Lead organisation.
    pub lead_organisation_id: Uuid,
    /// Partners with roles.
    pub partners: Vec<Partner>,
    /// Funding lines.
    pub funding: Vec<Funding>,
    /// Labs of the project.
    pub lab_ids: Vec<Uuid>,
    /// Municipalities covered.
    pub municipalities: Vec<IstatCode>,
    /// Themes.
    pub themes: Vec<ThemeCode>,
    /// Objectives.
    pub objectives: Vec<String>,
    /// Actions.
    pub actions: Vec<String>,
    /// Web page.
    pub website: Option<WebUrl>,
    /// Publication status.
    pub status: Status,
}

impl ProjectFields {
    /// The organisations a project belongs to: its lead and the partners in the `lead` or
    /// `partner` role (funders and supporters do not run it).
    pub fn owners(&self) -> Vec<Uuid> {
        let mut o = vec![self.lead_organisation_id];
        o.extend(
            self.partners
                .iter()
                .filter(|p| matches!(p.role, PartnerRole::Lead | PartnerRole::Partner))
                .map(|p| p.organisation_id),
        );
        o
    }

    /// The organisations that lead the project: `lead_organisation_id` and partners with role
    /// `lead`. Only their members (or administrators) may name them; plain partners may be any.
    pub fn leaders(&self) -> Vec<Uuid> {
        let mut o = vec![self.lead_organisation_id];
        o.extend(
            self.partners
                .iter()
                .filter(|p| p.role == PartnerRole::Lead)
                .map(|p| p.organisation_id),
        );
        o
    }

    /// Rules across fields.
    pub fn check_rules(&self) -> Result<(), crate::FieldErrors> {
        let mut errs = crate::FieldErrors::new();
        if let (Some(s), Some(e)) = (self.start_date, self.end_date)
            && e < s
        {
            errs.push(
                "/end_date",
                FieldError::new("order", "end_date cannot be before start_date"),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.partners.iter().enumerate() {
            if !seen.insert(p.organisation_id) {
                errs.push(
                    &format!("/partners/{i}/organisation_id"),
                    FieldError::new("duplicate", "each organisation appears once"),
                );
            }
        }
        errs.into_result(|| ())
    }
}

/// A stored project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Bookkeeping.
    pub meta: RecordMeta,
    /// Content.
    pub fields: ProjectFields,
}

/// A member of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Organisation or lab.
    pub member_type: MemberType,
    /// Its id.
    pub id: Uuid,
    /// When it joined.
    pub joined: Option<NaiveDate>,
}

/// Everything a client may write about a network, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkFields {
    /// Wanted slug.
    pub slug: Option<Slug>,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Year it started.
    pub since: Option<i32>,
    /// Coordinating organisation.
    pub coordinator_id: Option<Uuid>,
    /// Members.
    pub members: Vec<Member>,
    /// Publication status.
    pub status: Status,
}

impl NetworkFields {
    /// The organisations a network belongs to: its coordinator.
    pub fn owners(&self) -> Vec<Uuid> {
        self.coordinator_id.into_iter().collect()
    }
}

/// A stored network.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Bookkeeping.
    pub meta: RecordMeta,
    /// Content.
    pub fields: NetworkFields,
}

/// Everything an admin writes about an area.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaFields {
    /// Wanted slug.
    pub slug: Option<Slug>,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: AreaKind,
    /// Free text.
    pub description: Option<String>,
    /// Municipalities (at least one).
    pub municipalities: Vec<IstatCode>,
    /// Publication status.
    pub status: Status,
}

/// A stored area.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    /// Bookkeeping.
    pub meta: RecordMeta,
    /// Content.
    pub fields: AreaFields,
}

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

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(raw: &str) -> Result<NaiveDate, FieldError> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|_| raw.len() == 10)
        .ok_or_else(|| FieldError::new("format", "a date is YYYY-MM-DD"))
}

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
