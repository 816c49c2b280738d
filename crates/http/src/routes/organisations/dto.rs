//! What `/organisations` reads and writes: the record as the API shows it, and what a client sends (with
//! its validation).

use super::*;

/// An organisation as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "slug": "consorzio-sociale-pavese",
    "name": "Consorzio Sociale Pavese", "kind": "consortium",
    "description": "Promotore di Fare #BeneComune, progetto di welfare di comunità del Distretto sociale pavese.",
    "runts_section": null, "runts_id": null, "tax_code": null, "vat_number": null,
    "themes": ["parenting", "social_inclusion"],
    "contact": {"email": "farebenecomune@consorziosocialepavese.it", "phone": null, "website": null},
    "address": {"street": null, "postcode": null, "municipality": "018110"},
    "location": {"lat": 45.1847, "lon": 9.1582}, "contact_person": null, "status": "published",
    "version": 1, "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct OrganisationDto {
    /// UUID v7.
    pub id: Uuid,
    /// Unique, URL-safe; usable in place of the id.
    #[schema(example = "consorzio-sociale-pavese")]
    pub slug: String,
    /// Name.
    pub name: String,
    /// Kind of body.
    #[schema(value_type = OrganisationKindCode)]
    pub kind: OrganisationKind,
    /// Free text.
    pub description: Option<String>,
    /// RUNTS section (third-sector bodies only).
    #[schema(value_type = Option<RuntsSectionCode>)]
    pub runts_section: Option<RuntsSection>,
    /// RUNTS registration number.
    pub runts_id: Option<String>,
    /// Codice fiscale (16-character or 11-digit form).
    pub tax_code: Option<String>,
    /// Partita IVA (11 digits).
    pub vat_number: Option<String>,
    /// Theme codes (see `/themes`).
    pub themes: Vec<String>,
    /// Public contact.
    pub contact: ContactDto,
    /// Address.
    pub address: AddressDto,
    /// Where it is; `null` for bodies without a place (e.g. some informal groups).
    pub location: Option<LocationDto>,
    /// Contact person; `null` for anonymous callers unless it is marked public.
    pub contact_person: Option<ContactPersonDto>,
    /// Publication status.
    #[schema(value_type = StatusSchema)]
    pub status: Status,
    /// +1 on each change.
    #[schema(example = 1, minimum = 1)]
    pub version: i64,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
    /// Great-circle distance from `near`, km (only with `near`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 1.234)]
    pub distance_km: Option<f64>,
}

impl OrganisationDto {
    /// The view of `o` a caller with `vis` gets.
    pub fn new(o: &Organisation, vis: &Visibility) -> Self {
        let f = &o.fields;
        let contact_person = f
            .contact_person
            .as_ref()
            .filter(|c| c.public || vis.sees_private_of(&[o.meta.id]))
            .map(ContactPersonDto::from);
        Self {
            id: o.meta.id,
            slug: o.meta.slug.as_str().to_owned(),
            name: f.name.clone(),
            kind: f.kind,
            description: f.description.clone(),
            runts_section: f.runts_section,
            runts_id: f.runts_id.clone(),
            tax_code: f.tax_code.as_ref().map(|t| t.as_str().to_owned()),
            vat_number: f.vat_number.as_ref().map(|t| t.as_str().to_owned()),
            themes: f.themes.iter().map(|t| t.as_str().to_owned()).collect(),
            contact: ContactDto::from(&f.contact),
            address: AddressDto {
                street: f.address.street.clone(),
                postcode: f.address.postcode.as_ref().map(|p| p.as_str().to_owned()),
                municipality: f.address.municipality.as_str().to_owned(),
            },
            location: f.location.as_ref().map(LocationDto::from),
            contact_person,
            status: o.meta.status,
            version: o.meta.version,
            created_at: o.meta.created_at,
            updated_at: o.meta.updated_at,
            distance_km: None,
        }
    }
}

/// What a client writes to create an organisation (and, as a merge patch, to change one).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Consorzio Sociale Pavese", "kind": "consortium",
    "themes": ["parenting", "social_inclusion"],
    "contact": {"email": "farebenecomune@consorziosocialepavese.it"},
    "address": {"municipality": "018110"}, "status": "draft"
}))]
pub struct OrganisationInput {
    /// Wanted slug; derived from the name (accents folded) when absent. A taken slug is a 409.
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 120)]
    pub slug: Option<String>,
    /// Name, 1-300 characters.
    #[schema(min_length = 1, max_length = 300, example = "Consorzio Sociale Pavese")]
    pub name: String,
    /// Kind of body.
    #[schema(value_type = OrganisationKindCode)]
    pub kind: String,
    /// Free text, up to 10,000 characters.
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    /// RUNTS section; only for third-sector kinds.
    #[serde(default)]
    #[schema(value_type = Option<RuntsSectionCode>)]
    pub runts_section: Option<String>,
    /// RUNTS registration number; needs `runts_section`.
    #[serde(default)]
    #[schema(max_length = 40)]
    pub runts_id: Option<String>,
    /// Codice fiscale: 16-character personal form or 11-digit numeric form, check character
    /// validated; unique.
    #[serde(default)]
    #[schema(example = "01234567897")]
    pub tax_code: Option<String>,
    /// Partita IVA: 11 digits (an `IT` prefix is accepted), check digit validated.
    #[serde(default)]
    #[schema(example = "01234567897")]
    pub vat_number: Option<String>,
    /// Theme codes from `/themes`; unknown codes are a 422.
    #[serde(default)]
    pub themes: Vec<String>,
    /// Public contact.
    #[serde(default)]
    pub contact: ContactDto,
    /// Address; the municipality (ISTAT code) is required and must exist.
    pub address: AddressDto,
    /// Where it is, if it has a place.
    #[serde(default)]
    pub location: Option<LocationDto>,
    /// Contact person (personal data).
    #[serde(default)]
    pub contact_person: Option<ContactPersonDto>,
    /// Publication status; `draft` when absent.
    #[serde(default)]
    #[schema(value_type = Option<StatusSchema>)]
    pub status: Option<String>,
}

impl OrganisationInput {
    /// Validates every field, reporting each broken rule.
    pub fn parse(&self) -> Result<OrganisationFields, FieldErrors> {
        let mut e = FieldErrors::new();
        let slug = e.check_opt("/slug", blank(&self.slug), Slug::parse);
        let name = e.check("/name", parse_name(&self.name, 300));
        let kind = e.check("/kind", OrganisationKind::parse(&self.kind));
        let description = match blank(&self.description) {
            Some(d) => e.check("/description", parse_text(d, 10_000)).flatten(),
            None => None,
        };
        let runts_section = e.check_opt(
            "/runts_section",
            blank(&self.runts_section),
            RuntsSection::parse,
        );
        let runts_id = match blank(&self.runts_id) {
            Some(r) => e.check("/runts_id", parse_name(r, 40)),
            None => None,
        };
        let tax_code = e.check_opt("/tax_code", blank(&self.tax_code), TaxCode::parse);
        let vat_number = e.check_opt("/vat_number", blank(&self.vat_number), VatNumber::parse);
        let themes: Vec<ThemeCode> = self
            .themes
            .iter()
            .enumerate()
            .filter_map(|(i, t)| e.check(&format!("/themes/{i}"), ThemeCode::parse(t)))
            .collect();
        let contact = self.contact.parse("/contact", &mut e);
        let address = self.address.parse("/address", &mut e);
        let location = self
            .location
            .as_ref()
            .and_then(|l| l.parse("/location", &mut e));
        let contact_person = self
            .contact_person
            .as_ref()
            .and_then(|c| c.parse("/contact_person", &mut e));
        let status = match blank(&self.status) {
            Some(s) => e.check("/status", Status::parse(s)),
            None => Some(Status::Draft),
        };
        let (Some(name), Some(kind), Some(municipality), Some(status)) =
            (name, kind, address.municipality, status)
        else {
            if e.is_empty() {
                e.push("/", missing());
            }
            return Err(e);
        };
        if !e.is_empty() {
            return Err(e);
        }
        let fields = OrganisationFields {
            slug,
            name,
            kind,
            description,
            runts_section,
            runts_id,
            tax_code,
            vat_number,
            themes: dedup_themes(themes),
            contact,
            address: Address {
                street: address.street,
                postcode: address.postcode,
                municipality,
            },
            location,
            contact_person,
            status,
        };
        fields.check_rules()?;
        Ok(fields)
    }
}
