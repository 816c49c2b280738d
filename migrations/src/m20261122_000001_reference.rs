//! Reference data: the ISTAT municipalities (shipped in `migrations/data/municipalities.csv`)
//! and the themes catalogue seeded with the contract's codes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Municipalities {
    Table,
    IstatCode,
    Name,
    NameOtherLanguage,
    RegionCode,
    RegionName,
    ProvinceCode,
    ProvinceName,
    ProvinceAbbr,
    IsProvinceCapital,
    CadastralCode,
    Nuts3Code,
    Population,
    NameSearch,
}

#[derive(DeriveIden)]
enum Themes {
    Table,
    Code,
    NameIt,
    NameEn,
    Description,
    CreatedAt,
}

/// The ISTAT list, embedded so the binary needs nothing beside it.
const MUNICIPALITIES_CSV: &str = include_str!("../data/municipalities.csv");

/// The theme codes the contract requires, with Italian and English names.
pub const THEMES: &[(&str, &str, &str)] = &[
    ("mutual_help", "Mutuo aiuto", "Mutual help"),
    ("school_support", "Supporto scolastico", "School support"),
    ("parenting", "Genitorialità", "Parenting"),
    ("green_spaces", "Cura del verde", "Green spaces"),
    ("culture", "Cultura", "Culture"),
    (
        "health_prevention",
        "Salute e prevenzione",
        "Health and prevention",
    ),
    ("social_inclusion", "Inclusione sociale", "Social inclusion"),
    ("employment", "Lavoro", "Employment"),
    ("housing", "Casa", "Housing"),
    (
        "restorative_justice",
        "Giustizia riparativa",
        "Restorative justice",
    ),
    (
        "gambling_prevention",
        "Prevenzione del gioco d'azzardo",
        "Gambling prevention",
    ),
    ("youth", "Giovani", "Youth"),
    ("elderly", "Anziani", "Elderly people"),
    ("disability", "Disabilità", "Disability"),
    ("migrants", "Migranti", "Migrants"),
    ("poverty", "Povertà", "Poverty"),
    ("volunteering", "Volontariato", "Volunteering"),
    (
        "civic_participation",
        "Partecipazione civica",
        "Civic participation",
    ),
    ("fundraising", "Raccolta fondi", "Fundraising"),
    (
        "corporate_engagement",
        "Impegno delle imprese",
        "Corporate engagement",
    ),
];

#[derive(serde::Deserialize)]
struct Row {
    istat_code: String,
    name: String,
    name_other_language: String,
    region_code: String,
    region_name: String,
    province_code: String,
    province_name: String,
    province_abbr: String,
    is_province_capital: String,
    cadastral_code: String,
    nuts3_code: String,
    population: String,
}

/// Lower-case, accents folded: what the `q` filter on municipalities compares against.
pub fn fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ä' | 'À' | 'Á' | 'Â' | 'Ä' => 'a',
            'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' | 'Ò' | 'Ó' | 'Ô' | 'Ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
            'ß' => 's',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

fn empty_to_null(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // One transaction on both backends: all 7,900 rows land together, and SQLite is fast.
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Municipalities::Table)
                    .col(
                        ColumnDef::new(Municipalities::IstatCode)
                            .string_len(6)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Municipalities::Name).string().not_null())
                    .col(ColumnDef::new(Municipalities::NameOtherLanguage).string())
                    .col(
                        ColumnDef::new(Municipalities::RegionCode)
                            .string_len(2)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Municipalities::RegionName)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Municipalities::ProvinceCode)
                            .string_len(3)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Municipalities::ProvinceName)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Municipalities::ProvinceAbbr)
                            .string_len(2)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Municipalities::IsProvinceCapital)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Municipalities::CadastralCode)
                            .string_len(4)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Municipalities::Nuts3Code)
                            .string_len(5)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Municipalities::Population).integer())
                    .col(
                        ColumnDef::new(Municipalities::NameSearch)
                            .string()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_municipalities_province", Municipalities::ProvinceAbbr),
            ("idx_municipalities_region", Municipalities::RegionCode),
            ("idx_municipalities_name_search", Municipalities::NameSearch),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Municipalities::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }

        let mut reader = csv::Reader::from_reader(MUNICIPALITIES_CSV.as_bytes());
        let rows: Vec<Row> = reader
            .deserialize()
            .collect::<Result<_, _>>()
            .map_err(|e| DbErr::Migration(format!("municipalities.csv: {e}")))?;
        let db = manager.get_connection();
        for chunk in rows.chunks(500) {
            let mut insert = Query::insert();
            insert.into_table(Municipalities::Table).columns([
                Municipalities::IstatCode,
                Municipalities::Name,
                Municipalities::NameOtherLanguage,
                Municipalities::RegionCode,
                Municipalities::RegionName,
                Municipalities::ProvinceCode,
                Municipalities::ProvinceName,
                Municipalities::ProvinceAbbr,
                Municipalities::IsProvinceCapital,
                Municipalities::CadastralCode,
                Municipalities::Nuts3Code,
                Municipalities::Population,
                Municipalities::NameSearch,
            ]);
            for r in chunk {
                let population: Option<i32> = r.population.parse().ok();
                let search = fold(&r.name);
                insert.values_panic([
                    r.istat_code.clone().into(),
                    r.name.clone().into(),
                    empty_to_null(r.name_other_language.clone()).into(),
                    r.region_code.clone().into(),
                    r.region_name.clone().into(),
                    r.province_code.clone().into(),
                    r.province_name.clone().into(),
                    r.province_abbr.clone().into(),
                    (r.is_province_capital == "1").into(),
                    r.cadastral_code.clone().into(),
                    r.nuts3_code.clone().into(),
                    population.into(),
                    search.into(),
                ]);
            }
            db.execute(&insert).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Themes::Table)
                    .col(
                        ColumnDef::new(Themes::Code)
                            .string_len(50)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Themes::NameIt).string().not_null())
                    .col(ColumnDef::new(Themes::NameEn).string().not_null())
                    .col(ColumnDef::new(Themes::Description).text())
                    .col(crate::ts(Themes::CreatedAt))
                    .to_owned(),
            )
            .await?;
        let mut insert = Query::insert();
        insert.into_table(Themes::Table).columns([
            Themes::Code,
            Themes::NameIt,
            Themes::NameEn,
            Themes::CreatedAt,
        ]);
        let now = chrono::Utc::now();
        for (code, it, en) in THEMES {
            insert.values_panic([(*code).into(), (*it).into(), (*en).into(), now.into()]);
        }
        db.execute(&insert).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Themes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Municipalities::Table).to_owned())
            .await
    }
}
