//! What `/labs` reads and writes: the record as the API shows it, and what a client sends (with
//! its validation).

use super::*;

/// An organisation running a lab.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"organisation_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "role": "manager"}))]
pub struct OperatorDto {
    /// Id of the organisation.
    #[schema(format = "uuid")]
    pub organisation_id: String,
    /// `manager` or `partner`; a published lab needs at least one manager.
    #[schema(value_type = OperatorRoleCode)]
    pub role: String,
}

/// One weekly opening slot.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"day": "wed", "opens": "16:30", "closes": "19:00"}))]
pub struct OpeningSlotDto {
    /// Day of the week.
    #[schema(value_type = WeekdayCode)]
    pub day: String,
    /// Opening time, `HH:MM`.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub opens: String,
    /// Closing time, `HH:MM`, after `opens` (24:00 allowed).
    #[schema(pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    pub closes: String,
}

/// A lab as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2c", "slug": "laboratorio-sociale-esempio-pavia",
    "name": "Laboratorio Sociale di quartiere (esempio)", "kind": "social_lab",
    "description": "Laboratorio di esempio della Rete dei Laboratori Sociali di Pavia.",
    "themes": ["mutual_help", "school_support"], "activities": ["supporto scolastico", "mutuo aiuto"],
    "operators": [{"organisation_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "role": "manager"}],
    "address": {"street": "Via Esempio 1 (indirizzo di esempio)", "postcode": "27100", "municipality": "018110"},
    "neighbourhood": "Centro", "location": {"lat": 45.1847, "lon": 9.1582},
    "opening_hours": [{"day": "wed", "opens": "16:30", "closes": "19:00"}],
    "contact": {"email": null, "phone": null, "website": null}, "accessibility": null,
    "status": "published", "version": 1,
    "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct LabDto {
    /// UUID v7.
    pub id: Uuid,
    /// Unique, URL-safe; usable in place of the id.
    pub slug: String,
    /// Name.
    pub name: String,
    /// Kind of place.
    #[schema(value_type = LabKindCode)]
    pub kind: LabKind,
    /// Free text.
    pub description: Option<String>,
    /// Theme codes.
    pub themes: Vec<String>,
    /// Short activity labels.
    pub activities: Vec<String>,
    /// Organisations running it.
    pub operators: Vec<OperatorDto>,
    /// Address.
    pub address: AddressDto,
    /// Neighbourhood (quartiere).
    pub neighbourhood: Option<String>,
    /// Position.
    pub location: LocationDto,
    /// Weekly opening hours.
    pub opening_hours: Vec<OpeningSlotDto>,
    /// Public contact.
    pub contact: ContactDto,
    /// Accessibility notes.
    pub accessibility: Option<String>,
    /// Publication status.
    #[schema(value_type = StatusSchema)]
    pub status: Status,
    /// +1 on each change.
    #[schema(minimum = 1)]
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Great-circle distance from `near`, km (only with `near`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 1.234)]
    pub distance_km: Option<f64>,
}

impl LabDto {
    /// The view of a lab (with its distance, when searched by radius).
    pub fn new(l: &Lab, distance: Option<f64>) -> Self {
        let f = &l.fields;
        Self {
            id: l.meta.id,
            slug: l.meta.slug.as_str().to_owned(),
            name: f.name.clone(),
            kind: f.kind,
            description: f.description.clone(),
            themes: f.themes.iter().map(|t| t.as_str().to_owned()).collect(),
            activities: f.activities.clone(),
            operators: f
                .operators
                .iter()
                .map(|o| OperatorDto {
                    organisation_id: o.organisation_id.to_string(),
                    role: o.role.as_str().to_owned(),
                })
                .collect(),
            address: AddressDto {
                street: f.address.street.clone(),
                postcode: f.address.postcode.as_ref().map(|p| p.as_str().to_owned()),
                municipality: f.address.municipality.as_str().to_owned(),
            },
            neighbourhood: f.neighbourhood.clone(),
            location: LocationDto::from(&f.location),
            opening_hours: f
                .opening_hours
                .iter()
                .map(|s| OpeningSlotDto {
                    day: s.day.as_str().to_owned(),
                    opens: s.opens.format(),
                    closes: s.closes.format(),
                })
                .collect(),
            contact: ContactDto::from(&f.contact),
            accessibility: f.accessibility.clone(),
            status: l.meta.status,
            version: l.meta.version,
            created_at: l.meta.created_at,
            updated_at: l.meta.updated_at,
            distance_km: distance.map(|d| (d * 1000.0).round() / 1000.0),
        }
    }
}

/// What a client writes to create a lab (and, as a merge patch, to change one).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Laboratorio Sociale di quartiere (esempio)", "kind": "social_lab",
    "themes": ["mutual_help"], "activities": ["supporto scolastico"],
    "operators": [{"organisation_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "role": "manager"}],
    "address": {"municipality": "018110"}, "location": {"lat": 45.1847, "lon": 9.1582},
    "opening_hours": [{"day": "wed", "opens": "16:30", "closes": "19:00"}]
}))]
pub struct LabInput {
    /// Wanted slug; derived from the name when absent.
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 120)]
    pub slug: Option<String>,
    /// Name, 1-300 characters.
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    /// Kind of place.
    #[schema(value_type = LabKindCode)]
    pub kind: String,
    /// Free text.
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    /// Theme codes.
    #[serde(default)]
    pub themes: Vec<String>,
    /// Short activity labels (up to 50, each up to 100 characters).
    #[serde(default)]
    pub activities: Vec<String>,
    /// Running organisations; at least one `manager` to publish. An editor may name as
    /// `manager` only an organisation it is a member of (partners may be any organisation).
    #[serde(default)]
    pub operators: Vec<OperatorDto>,
    /// Address (the municipality must exist).
    pub address: AddressDto,
    /// Neighbourhood.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub neighbourhood: Option<String>,
    /// Position (required: a lab is a place).
    pub location: LocationDto,
    /// Weekly opening hours.
    #[serde(default)]
    pub opening_hours: Vec<OpeningSlotDto>,
    /// Public contact.
    #[serde(default)]
    pub contact: ContactDto,
    /// Accessibility notes.
    #[serde(default)]
    pub accessibility: Option<String>,
    /// Publication status; `draft` when absent.
    #[serde(default)]
    #[schema(value_type = Option<StatusSchema>)]
    pub status: Option<String>,
}

impl LabInput {
    /// Validates every field.
    pub fn parse(&self) -> Result<LabFields, FieldErrors> {
        let mut e = FieldErrors::new();
        let slug = e.check_opt("/slug", blank(&self.slug), Slug::parse);
        let name = e.check("/name", parse_name(&self.name, 300));
        let kind = e.check("/kind", LabKind::parse(&self.kind));
        let description = parse_opt_text(&self.description, "/description", 10_000, &mut e);
        let themes: Vec<ThemeCode> = parse_themes(&self.themes, &mut e);
        let activities = parse_lines(&self.activities, "/activities", 50, 100, &mut e);
        let operators: Vec<Operator> = self
            .operators
            .iter()
            .enumerate()
            .filter_map(|(i, o)| {
                let id = e.check(
                    &format!("/operators/{i}/organisation_id"),
                    parse_id(&o.organisation_id),
                );
                let role = e.check(
                    &format!("/operators/{i}/role"),
                    OperatorRole::parse(&o.role),
                );
                Some(Operator {
                    organisation_id: id?,
                    role: role?,
                })
            })
            .collect();
        let address = self.address.parse("/address", &mut e);
        let neighbourhood = match blank(&self.neighbourhood) {
            Some(n) => e.check("/neighbourhood", parse_name(n, 200)),
            None => None,
        };
        let location = self.location.parse("/location", &mut e);
        let mut opening_hours = Vec::new();
        for (i, s) in self.opening_hours.iter().enumerate() {
            match OpeningSlot::parse(&s.day, &s.opens, &s.closes) {
                Ok(slot) => opening_hours.push(slot),
                Err(list) => {
                    for err in list {
                        e.push(&format!("/opening_hours/{i}"), err);
                    }
                }
            }
        }
        let contact = self.contact.parse("/contact", &mut e);
        let accessibility = parse_opt_text(&self.accessibility, "/accessibility", 2000, &mut e);
        let status = parse_status(&self.status, &mut e);
        let (Some(name), Some(kind), Some(municipality), Some(location), Some(status)) =
            (name, kind, address.municipality, location, status)
        else {
            if e.is_empty() {
                e.push("/", missing());
            }
            return Err(e);
        };
        if !e.is_empty() {
            return Err(e);
        }
        let fields = LabFields {
            slug,
            name,
            kind,
            description,
            themes,
            activities,
            operators,
            address: Address {
                street: address.street,
                postcode: address.postcode,
                municipality,
            },
            neighbourhood,
            location,
            opening_hours,
            contact,
            accessibility,
            status,
        };
        fields.check_rules()?;
        Ok(fields)
    }
}
