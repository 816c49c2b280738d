//! Projects: partners, funding, labs and municipalities.

use crate::enums::*;
use crate::error::FieldError;
use crate::organisation::RecordMeta;
use crate::values::{IstatCode, Slug, ThemeCode, WebUrl};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::str::FromStr;
use uuid::Uuid;

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
