//! Organisations: third-sector bodies, public bodies, companies, schools and informal groups.

use crate::enums::{OrganisationKind, RuntsSection, Status};
use crate::error::{FieldError, FieldErrors};
use crate::tax::{TaxCode, VatNumber};
use crate::values::{Email, IstatCode, Location, Phone, Postcode, Slug, ThemeCode, WebUrl};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Bookkeeping every record carries.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordMeta {
    /// UUID v7.
    pub id: Uuid,
    /// Unique per collection.
    pub slug: Slug,
    /// Publication status.
    pub status: Status,
    /// +1 on each change, starting at 1.
    pub version: i64,
    /// When the record was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Public ways to reach a body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contact {
    /// Public e-mail address.
    pub email: Option<Email>,
    /// Public phone number.
    pub phone: Option<Phone>,
    /// Web site.
    pub website: Option<WebUrl>,
}

/// A postal address in Italy; only the municipality is required.
#[derive(Debug, Clone, PartialEq)]
pub struct Address {
    /// Street and number.
    pub street: Option<String>,
    /// CAP.
    pub postcode: Option<Postcode>,
    /// ISTAT code of the municipality.
    pub municipality: IstatCode,
}

/// A named person to contact: personal data, shown to anonymous callers only when `public`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactPerson {
    /// Full name.
    pub name: String,
    /// E-mail address.
    pub email: Option<Email>,
    /// Phone number.
    pub phone: Option<Phone>,
    /// Whether anonymous callers may see this person.
    pub public: bool,
}

/// Everything a client may write about an organisation, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganisationFields {
    /// Wanted slug; derived from the name when absent.
    pub slug: Option<Slug>,
    /// Official or common name.
    pub name: String,
    /// Kind of body.
    pub kind: OrganisationKind,
    /// Free text.
    pub description: Option<String>,
    /// RUNTS section, third-sector bodies only.
    pub runts_section: Option<RuntsSection>,
    /// RUNTS registration number.
    pub runts_id: Option<String>,
    /// Codice fiscale, unique.
    pub tax_code: Option<TaxCode>,
    /// Partita IVA.
    pub vat_number: Option<VatNumber>,
    /// Theme codes, without duplicates.
    pub themes: Vec<ThemeCode>,
    /// Public contact.
    pub contact: Contact,
    /// Address.
    pub address: Address,
    /// Where it is, when it has a place.
    pub location: Option<Location>,
    /// Contact person.
    pub contact_person: Option<ContactPerson>,
    /// Publication status.
    pub status: Status,
}

impl OrganisationFields {
    /// Rules that involve more than one field; per-field rules were applied while parsing.
    pub fn check_rules(&self) -> Result<(), FieldErrors> {
        let mut errs = FieldErrors::new();
        if self.runts_section.is_some() && !self.kind.is_third_sector() {
            errs.push(
                "/runts_section",
                FieldError::new(
                    "not_applicable",
                    format!(
                        "a RUNTS section applies to third-sector bodies only, not to kind '{}'",
                        self.kind
                    ),
                ),
            );
        }
        if self.runts_id.is_some() && self.runts_section.is_none() {
            errs.push(
                "/runts_id",
                FieldError::new("requires", "a RUNTS id needs a runts_section"),
            );
        }
        errs.into_result(|| ())
    }
}

/// A stored organisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Organisation {
    /// Id, slug, status, version and times.
    pub meta: RecordMeta,
    /// The writable content.
    pub fields: OrganisationFields,
}

/// Removes duplicates from a list of theme codes, keeping the first occurrence order.
pub fn dedup_themes(themes: Vec<ThemeCode>) -> Vec<ThemeCode> {
    let mut seen = std::collections::HashSet::new();
    themes
        .into_iter()
        .filter(|t| seen.insert(t.clone()))
        .collect()
}
