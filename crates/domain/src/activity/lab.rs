//! Labs: where they are, who runs them, when they are open.

use crate::enums::*;
use crate::error::FieldError;
use crate::organisation::{Address, Contact, RecordMeta};
use crate::values::{Location, Slug, ThemeCode};
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
