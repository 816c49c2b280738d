//! Reference data: ISTAT municipalities and the themes vocabulary.

use crate::values::ThemeCode;
use chrono::{DateTime, Utc};

/// An Italian municipality as ISTAT lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Municipality {
    /// Six-digit ISTAT code.
    pub istat_code: String,
    /// Official Italian name.
    pub name: String,
    /// Name in the second official language, where there is one.
    pub name_other_language: Option<String>,
    /// ISTAT region code (`03` is Lombardia).
    pub region_code: String,
    /// Region name.
    pub region_name: String,
    /// ISTAT code of the province or metropolitan city.
    pub province_code: String,
    /// Province name.
    pub province_name: String,
    /// Two-letter province abbreviation.
    pub province_abbr: String,
    /// Chief town of its province.
    pub is_province_capital: bool,
    /// Belfiore cadastral code.
    pub cadastral_code: String,
    /// Eurostat NUTS-3 code.
    pub nuts3_code: String,
    /// Resident population (older census), when known.
    pub population: Option<u32>,
}

/// A theme of the controlled vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    /// Code used in `themes[]` fields and `theme` filters.
    pub code: ThemeCode,
    /// Italian label.
    pub name_it: String,
    /// English label.
    pub name_en: String,
    /// What the theme covers.
    pub description: Option<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}
