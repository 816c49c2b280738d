//! DTOs shared by several resources, and schema-only types for the domain's enums.

use legami_domain::{
    Contact, ContactPerson, Email, FieldError, FieldErrors, IstatCode, Location, Phone, Postcode,
    WebUrl,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares a schema-only type listing the codes of a domain enum.
macro_rules! enum_schema {
    ($name:ident, $domain:ty, $desc:literal, $example:literal) => {
        #[doc = $desc]
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some(<$domain>::ALL.iter().copied()))
                    .description(Some($desc))
                    .examples([serde_json::json!($example)])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

enum_schema!(
    StatusCode,
    legami_domain::Status,
    "Publication status. Drafts and archived records are visible only to callers who may read drafts.",
    "published"
);
enum_schema!(
    OrganisationKindCode,
    legami_domain::OrganisationKind,
    "What kind of body an organisation is.",
    "social_cooperative"
);
enum_schema!(
    RuntsSectionCode,
    legami_domain::RuntsSection,
    "Section of the RUNTS, the national register of third-sector bodies.",
    "odv"
);

/// Public ways to reach a body or place.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"email": "farebenecomune@consorziosocialepavese.it", "phone": null, "website": null}))]
#[serde(deny_unknown_fields)]
pub struct ContactDto {
    /// E-mail address.
    #[schema(format = "email", example = "info@consorziosocialepavese.it")]
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number as people write it.
    #[schema(example = "+39 0382 123456")]
    #[serde(default)]
    pub phone: Option<String>,
    /// Web site (http or https).
    #[schema(format = "uri", example = "https://www.csvlombardia.it")]
    #[serde(default)]
    pub website: Option<String>,
}

/// A postal address in Italy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"street": null, "postcode": "27100", "municipality": "018110"}))]
#[serde(deny_unknown_fields)]
pub struct AddressDto {
    /// Street and number.
    #[schema(example = "Via Example 1 (example address)", max_length = 300)]
    #[serde(default)]
    pub street: Option<String>,
    /// CAP, five digits.
    #[schema(pattern = "^[0-9]{5}$", example = "27100")]
    #[serde(default)]
    pub postcode: Option<String>,
    /// ISTAT code of the municipality (see `/municipalities`).
    #[schema(pattern = "^[0-9]{6}$", example = "018110")]
    pub municipality: String,
}

/// A WGS 84 point.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"lat": 45.1847, "lon": 9.1582}))]
#[serde(deny_unknown_fields)]
pub struct LocationDto {
    /// Latitude in degrees.
    #[schema(minimum = -90, maximum = 90, example = 45.1847)]
    pub lat: f64,
    /// Longitude in degrees.
    #[schema(minimum = -180, maximum = 180, example = 9.1582)]
    pub lon: f64,
}

/// A named contact person. Personal data: anonymous callers see it only when `public` is true.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Maria Piccio", "email": "m.piccio@csvlombardia.it", "phone": null, "public": true}))]
#[serde(deny_unknown_fields)]
pub struct ContactPersonDto {
    /// Full name.
    #[schema(example = "Maria Piccio", max_length = 200)]
    pub name: String,
    /// E-mail address.
    #[schema(format = "email", example = "m.piccio@csvlombardia.it")]
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Whether anonymous callers may see this person.
    #[serde(default)]
    pub public: bool,
}

impl ContactDto {
    /// Validates into the domain type; errors are placed under `at`.
    pub fn parse(&self, at: &str, errs: &mut FieldErrors) -> Contact {
        Contact {
            email: errs.check_opt(&format!("{at}/email"), blank(&self.email), Email::parse),
            phone: errs.check_opt(&format!("{at}/phone"), blank(&self.phone), Phone::parse),
            website: errs.check_opt(
                &format!("{at}/website"),
                blank(&self.website),
                WebUrl::parse,
            ),
        }
    }
}

impl From<&Contact> for ContactDto {
    fn from(c: &Contact) -> Self {
        Self {
            email: c.email.as_ref().map(|v| v.as_str().to_owned()),
            phone: c.phone.as_ref().map(|v| v.as_str().to_owned()),
            website: c.website.as_ref().map(|v| v.as_str().to_owned()),
        }
    }
}

impl ContactPersonDto {
    /// Validates into the domain type.
    pub fn parse(&self, at: &str, errs: &mut FieldErrors) -> Option<ContactPerson> {
        let name = errs.check(
            &format!("{at}/name"),
            legami_domain::parse_name(&self.name, 200),
        );
        let email = errs.check_opt(&format!("{at}/email"), blank(&self.email), Email::parse);
        let phone = errs.check_opt(&format!("{at}/phone"), blank(&self.phone), Phone::parse);
        name.map(|name| ContactPerson {
            name,
            email,
            phone,
            public: self.public,
        })
    }
}

impl From<&ContactPerson> for ContactPersonDto {
    fn from(c: &ContactPerson) -> Self {
        Self {
            name: c.name.clone(),
            email: c.email.as_ref().map(|v| v.as_str().to_owned()),
            phone: c.phone.as_ref().map(|v| v.as_str().to_owned()),
            public: c.public,
        }
    }
}

impl LocationDto {
    /// Validates the ranges.
    pub fn parse(&self, at: &str, errs: &mut FieldErrors) -> Option<Location> {
        match Location::parse(self.lat, self.lon) {
            Ok(l) => Some(l),
            Err(list) => {
                for e in list {
                    errs.push(at, e);
                }
                None
            }
        }
    }
}

impl From<&Location> for LocationDto {
    fn from(l: &Location) -> Self {
        Self {
            lat: l.lat,
            lon: l.lon,
        }
    }
}

/// Street, postcode and municipality, validated.
pub struct ParsedAddress {
    /// Street.
    pub street: Option<String>,
    /// Postcode.
    pub postcode: Option<Postcode>,
    /// Municipality.
    pub municipality: Option<IstatCode>,
}

impl AddressDto {
    /// Validates the form of each part (whether the municipality exists is checked in storage).
    pub fn parse(&self, at: &str, errs: &mut FieldErrors) -> ParsedAddress {
        let street = match blank(&self.street) {
            Some(s) => errs
                .check(&format!("{at}/street"), legami_domain::parse_text(s, 300))
                .flatten(),
            None => None,
        };
        ParsedAddress {
            street,
            postcode: errs.check_opt(
                &format!("{at}/postcode"),
                blank(&self.postcode),
                Postcode::parse,
            ),
            municipality: errs.check(
                &format!("{at}/municipality"),
                IstatCode::parse(&self.municipality),
            ),
        }
    }
}

/// Treats an empty or blank string as absent.
pub fn blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.trim().is_empty())
}

/// An error for a required value that failed to parse earlier (keeps the compiler honest).
pub fn missing() -> FieldError {
    FieldError::new("required", "is required")
}

enum_schema!(
    LabKindCode,
    legami_domain::LabKind,
    "What kind of place a lab is.",
    "social_lab"
);
enum_schema!(
    OperatorRoleCode,
    legami_domain::OperatorRole,
    "An organisation's role in running a lab.",
    "manager"
);
enum_schema!(
    WeekdayCode,
    legami_domain::Weekday,
    "Day of the week.",
    "mon"
);
enum_schema!(
    ProjectPhaseCode,
    legami_domain::ProjectPhase,
    "Where a project stands.",
    "active"
);
enum_schema!(
    PartnerRoleCode,
    legami_domain::PartnerRole,
    "An organisation's role in a project.",
    "partner"
);
enum_schema!(
    AreaKindCode,
    legami_domain::AreaKind,
    "What kind of territorial grouping an area is.",
    "ambito"
);
enum_schema!(
    IndicatorUnitCode,
    legami_domain::IndicatorUnit,
    "What an indicator counts.",
    "people"
);
enum_schema!(
    AggregationCode,
    legami_domain::Aggregation,
    "How observations combine: summed, the largest, or the latest period's.",
    "sum"
);
enum_schema!(
    MetricKindCode,
    legami_domain::MetricKind,
    "Whether an observation is a goal or a measured result.",
    "actual"
);
enum_schema!(
    MemberTypeCode,
    legami_domain::MemberType,
    "What a network member is.",
    "organisation"
);

/// Parses a list of short strings (activities, objectives, actions).
pub fn parse_lines(
    raw: &[String],
    at: &str,
    max_items: usize,
    max_len: usize,
    errs: &mut FieldErrors,
) -> Vec<String> {
    if raw.len() > max_items {
        errs.push(
            at,
            FieldError::new("length", format!("at most {max_items} entries")),
        );
        return Vec::new();
    }
    raw.iter()
        .enumerate()
        .filter_map(|(i, s)| {
            errs.check(&format!("{at}/{i}"), legami_domain::parse_name(s, max_len))
        })
        .collect()
}

/// Parses a record id given in a body.
pub fn parse_id(raw: &str) -> Result<uuid::Uuid, FieldError> {
    uuid::Uuid::try_parse(raw).map_err(|_| FieldError::new("format", "an id is a UUID"))
}

/// Parses theme codes of a body, each error at `/themes/i`.
pub fn parse_themes(raw: &[String], errs: &mut FieldErrors) -> Vec<legami_domain::ThemeCode> {
    let themes = raw
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            errs.check(&format!("/themes/{i}"), legami_domain::ThemeCode::parse(t))
        })
        .collect();
    legami_domain::dedup_themes(themes)
}

/// Parses an optional free text.
pub fn parse_opt_text(
    raw: &Option<String>,
    at: &str,
    max: usize,
    errs: &mut FieldErrors,
) -> Option<String> {
    blank(raw).and_then(|d| errs.check(at, legami_domain::parse_text(d, max)).flatten())
}

/// Parses the publication status (draft when absent).
pub fn parse_status(raw: &Option<String>, errs: &mut FieldErrors) -> Option<legami_domain::Status> {
    match blank(raw) {
        Some(s) => errs.check("/status", legami_domain::Status::parse(s)),
        None => Some(legami_domain::Status::Draft),
    }
}

/// An exact decimal as a JSON number.
pub fn number(d: rust_decimal::Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    d.to_f64().unwrap_or(0.0)
}

/// `actual / target` as a JSON number (the rule is the domain's: [`legami_domain::attainment`]).
pub fn attainment(
    actual: Option<legami_domain::MetricValue>,
    target: Option<legami_domain::MetricValue>,
) -> Option<f64> {
    legami_domain::attainment(actual, target).map(number)
}
