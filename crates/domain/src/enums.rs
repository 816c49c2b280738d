//! The closed vocabularies of the contract, as enums that (de)serialise to their snake_case codes.

use crate::error::FieldError;

/// Declares a string-coded enum: serde as the code, `ALL` codes, `as_str` and `parse`.
#[macro_export]
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every code, in declaration order.
            pub const ALL: &'static [&'static str] = &[$($code),+];

            /// The wire code of this value.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $code),+ }
            }

            /// Parses a wire code; the error lists the accepted codes.
            pub fn parse(raw: &str) -> Result<Self, $crate::error::FieldError> {
                match raw {
                    $($code => Ok(Self::$variant),)+
                    _ => Err($crate::error::FieldError::new(
                        "enum",
                        format!("must be one of: {}", Self::ALL.join(", ")),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Self::parse(&raw).map_err(|_| serde::de::Error::unknown_variant(&raw, Self::ALL))
            }
        }
    };
}

string_enum!(
    /// Publication status of every record.
    Status {
        Draft => "draft",
        Published => "published",
        Archived => "archived",
    }
);

string_enum!(
    /// What kind of body an organisation is.
    OrganisationKind {
        Odv => "odv",
        Aps => "aps",
        SocialCooperative => "social_cooperative",
        SocialEnterprise => "social_enterprise",
        Foundation => "foundation",
        Association => "association",
        Consortium => "consortium",
        VolunteerServiceCentre => "volunteer_service_centre",
        PublicBody => "public_body",
        HealthAuthority => "health_authority",
        School => "school",
        Company => "company",
        ReligiousBody => "religious_body",
        InformalGroup => "informal_group",
        Other => "other",
    }
);

impl OrganisationKind {
    /// Whether bodies of this kind can be entered in the RUNTS (the national third-sector
    /// register). Public bodies, schools, companies, religious bodies as such and informal
    /// groups cannot.
    pub fn is_third_sector(self) -> bool {
        matches!(
            self,
            Self::Odv
                | Self::Aps
                | Self::SocialCooperative
                | Self::SocialEnterprise
                | Self::Foundation
                | Self::Association
                | Self::Consortium
                | Self::VolunteerServiceCentre
                | Self::Other
        )
    }
}

string_enum!(
    /// Section of the RUNTS (Registro Unico Nazionale del Terzo Settore).
    RuntsSection {
        Odv => "odv",
        Aps => "aps",
        PhilanthropicBody => "philanthropic_body",
        SocialEnterprise => "social_enterprise",
        AssociativeNetwork => "associative_network",
        MutualAidSociety => "mutual_aid_society",
        OtherEts => "other_ets",
    }
);

/// Parses a list of codes of one enum, reporting each bad entry at `/index`.
pub fn parse_codes<T>(
    raw: &[String],
    parse: impl Fn(&str) -> Result<T, FieldError>,
) -> Result<Vec<T>, FieldError> {
    raw.iter()
        .enumerate()
        .map(|(i, s)| parse(s).map_err(|e| e.at(&format!("/{i}"))))
        .collect()
}

string_enum!(
    /// What kind of place a lab is.
    LabKind {
        SocialLab => "social_lab",
        CivicCentre => "civic_centre",
        CommunityHub => "community_hub",
        GreenSpace => "green_space",
        Other => "other",
    }
);

string_enum!(
    /// An organisation's role in running a lab.
    OperatorRole {
        Manager => "manager",
        Partner => "partner",
    }
);

string_enum!(
    /// Day of the week.
    Weekday {
        Mon => "mon",
        Tue => "tue",
        Wed => "wed",
        Thu => "thu",
        Fri => "fri",
        Sat => "sat",
        Sun => "sun",
    }
);

string_enum!(
    /// Where a project stands, beside its publication status.
    ProjectPhase {
        Planned => "planned",
        Active => "active",
        Completed => "completed",
        Cancelled => "cancelled",
    }
);

string_enum!(
    /// An organisation's role in a project.
    PartnerRole {
        Lead => "lead",
        Partner => "partner",
        Funder => "funder",
        Supporter => "supporter",
    }
);

string_enum!(
    /// What kind of territorial grouping an area is.
    AreaKind {
        Ambito => "ambito",
        District => "district",
        HealthAuthority => "health_authority",
        Other => "other",
    }
);

string_enum!(
    /// What an indicator counts.
    IndicatorUnit {
        People => "people",
        Households => "households",
        Organisations => "organisations",
        Events => "events",
        Hours => "hours",
        Eur => "eur",
        Count => "count",
    }
);

string_enum!(
    /// How observations of an indicator combine: summed, the largest, or the latest period's.
    Aggregation {
        Sum => "sum",
        Max => "max",
        Last => "last",
    }
);

string_enum!(
    /// Whether an observation is a goal or a measured result.
    MetricKind {
        Target => "target",
        Actual => "actual",
    }
);

string_enum!(
    /// What a network member is.
    MemberType {
        Organisation => "organisation",
        Lab => "lab",
    }
);
