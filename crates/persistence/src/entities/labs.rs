use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "labs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub slug: String,
    pub name: String,
    pub kind: String,
    pub description: Option<String>,
    pub activities: String,
    pub neighbourhood: Option<String>,
    pub street: Option<String>,
    pub postcode: Option<String>,
    pub municipality: String,
    pub lat: f64,
    pub lon: f64,
    pub opening_hours: String,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_website: Option<String>,
    pub accessibility: Option<String>,
    pub status: String,
    /// Its theme codes, sorted and comma-separated, for the map (`map::theme_codes`).
    pub theme_codes: String,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
