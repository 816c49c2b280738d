//! Areas, indicators, labs, networks, projects and participation metrics.
//!
//! Metric values are stored exactly as integers in thousandths (`value_milli`), so sums are exact
//! on both backends; money is stored as canonical decimal text.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The indicator codes the contract requires: (code, it, en, unit, aggregation).
pub const INDICATORS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "beneficiaries",
        "Beneficiari",
        "Beneficiaries",
        "people",
        "sum",
    ),
    (
        "families_supported",
        "Nuclei familiari sostenuti",
        "Families supported",
        "households",
        "sum",
    ),
    (
        "minors_involved",
        "Minori coinvolti",
        "Minors involved",
        "people",
        "sum",
    ),
    (
        "citizens_reached",
        "Cittadini raggiunti",
        "Citizens reached",
        "people",
        "sum",
    ),
    ("volunteers", "Volontari", "Volunteers", "people", "max"),
    (
        "organisations_involved",
        "Organizzazioni coinvolte",
        "Organisations involved",
        "organisations",
        "max",
    ),
    (
        "companies_involved",
        "Imprese coinvolte",
        "Companies involved",
        "organisations",
        "max",
    ),
    (
        "workers_involved",
        "Lavoratori coinvolti",
        "Workers involved",
        "people",
        "sum",
    ),
    (
        "schools_involved",
        "Istituti scolastici coinvolti",
        "Schools involved",
        "organisations",
        "max",
    ),
    (
        "pupils_involved",
        "Alunni coinvolti",
        "Pupils involved",
        "people",
        "sum",
    ),
    (
        "labs_active",
        "Laboratori attivi",
        "Active labs",
        "count",
        "last",
    ),
    (
        "events_held",
        "Eventi realizzati",
        "Events held",
        "events",
        "sum",
    ),
    (
        "attendees",
        "Partecipanti agli eventi",
        "Attendees",
        "people",
        "sum",
    ),
    (
        "operators_trained",
        "Operatori formati",
        "Operators trained",
        "people",
        "sum",
    ),
];

fn id(col: impl IntoIden) -> ColumnDef {
    let mut c = ColumnDef::new(col);
    c.string_len(36).not_null();
    c
}

fn record_columns(t: &mut TableCreateStatement) {
    t.col(
        ColumnDef::new(Alias::new("status"))
            .string_len(16)
            .not_null(),
    )
    .col(
        ColumnDef::new(Alias::new("version"))
            .big_integer()
            .not_null(),
    )
    .col(crate::ts(Alias::new("created_at")))
    .col(crate::ts(Alias::new("updated_at")))
    .col(ColumnDef::new(Alias::new("deleted_at")).timestamp_with_time_zone());
}

fn fk(
    from_table: &str,
    from_col: &str,
    to_table: &str,
    to_col: &str,
    cascade: bool,
) -> ForeignKeyCreateStatement {
    let mut f = ForeignKey::create();
    f.name(format!("fk_{from_table}_{from_col}"))
        .from(Alias::new(from_table), Alias::new(from_col))
        .to(Alias::new(to_table), Alias::new(to_col));
    if cascade {
        f.on_delete(ForeignKeyAction::Cascade);
    }
    f
}

fn index(table: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(format!("idx_{table}_{}", cols.join("_")))
        .table(Alias::new(table));
    for c in cols {
        i.col(Alias::new(*c));
    }
    i
}

fn link_table(
    name: &str,
    left: (&str, &str, &str),
    right: (&str, &str, &str, u32),
) -> TableCreateStatement {
    let mut t = Table::create();
    t.table(Alias::new(name))
        .col(id(Alias::new(left.0)))
        .col(
            ColumnDef::new(Alias::new(right.0))
                .string_len(right.3)
                .not_null(),
        )
        .primary_key(
            Index::create()
                .col(Alias::new(left.0))
                .col(Alias::new(right.0)),
        )
        .foreign_key(&mut fk(name, left.0, left.1, left.2, true))
        .foreign_key(&mut fk(name, right.0, right.1, right.2, false));
    t
}

fn s(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Areas: named groups of municipalities.
        let mut t = Table::create();
        t.table(s("areas"))
            .col(id(s("id")).primary_key())
            .col(
                ColumnDef::new(s("slug"))
                    .string_len(120)
                    .not_null()
                    .unique_key(),
            )
            .col(ColumnDef::new(s("name")).string_len(300).not_null())
            .col(ColumnDef::new(s("kind")).string_len(40).not_null())
            .col(ColumnDef::new(s("description")).text());
        record_columns(&mut t);
        m.create_table(t).await?;
        m.create_table(link_table(
            "area_municipalities",
            ("area_id", "areas", "id"),
            ("municipality", "municipalities", "istat_code", 6),
        ))
        .await?;
        m.create_index(index("area_municipalities", &["municipality", "area_id"]))
            .await?;

        // Indicators.
        m.create_table(
            Table::create()
                .table(s("indicators"))
                .col(
                    ColumnDef::new(s("code"))
                        .string_len(50)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(s("name_it")).string().not_null())
                .col(ColumnDef::new(s("name_en")).string().not_null())
                .col(ColumnDef::new(s("description")).text())
                .col(ColumnDef::new(s("unit")).string_len(20).not_null())
                .col(ColumnDef::new(s("aggregation")).string_len(10).not_null())
                .col(crate::ts(s("created_at")))
                .to_owned(),
        )
        .await?;
        let now = chrono::Utc::now();
        let mut insert = Query::insert();
        insert.into_table(s("indicators")).columns([
            s("code"),
            s("name_it"),
            s("name_en"),
            s("unit"),
            s("aggregation"),
            s("created_at"),
        ]);
        for (code, it, en, unit, agg) in INDICATORS {
            insert.values_panic([
                (*code).into(),
                (*it).into(),
                (*en).into(),
                (*unit).into(),
                (*agg).into(),
                now.into(),
            ]);
        }
        m.get_connection().execute(&insert).await?;

        // Labs.
        let mut t = Table::create();
        t.table(s("labs"))
            .col(id(s("id")).primary_key())
            .col(
                ColumnDef::new(s("slug"))
                    .string_len(120)
                    .not_null()
                    .unique_key(),
            )
            .col(ColumnDef::new(s("name")).string_len(300).not_null())
            .col(ColumnDef::new(s("kind")).string_len(40).not_null())
            .col(ColumnDef::new(s("description")).text())
            .col(ColumnDef::new(s("activities")).text().not_null())
            .col(ColumnDef::new(s("neighbourhood")).string_len(200))
            .col(ColumnDef::new(s("street")).string_len(300))
            .col(ColumnDef::new(s("postcode")).string_len(5))
            .col(ColumnDef::new(s("municipality")).string_len(6).not_null())
            .col(ColumnDef::new(s("lat")).double().not_null())
            .col(ColumnDef::new(s("lon")).double().not_null())
            .col(ColumnDef::new(s("opening_hours")).text().not_null())
            .col(ColumnDef::new(s("contact_email")).string_len(254))
            .col(ColumnDef::new(s("contact_phone")).string_len(40))
            .col(ColumnDef::new(s("contact_website")).string_len(2000))
            .col(ColumnDef::new(s("accessibility")).text())
            .foreign_key(&mut fk(
                "labs",
                "municipality",
                "municipalities",
                "istat_code",
                false,
            ));
        record_columns(&mut t);
        m.create_table(t).await?;
        for cols in [
            &["name", "id"][..],
            &["updated_at", "id"],
            &["created_at", "id"],
            &["municipality"],
            &["kind"],
            &["lat", "lon"],
        ] {
            m.create_index(index("labs", cols)).await?;
        }
        m.create_table(link_table(
            "lab_themes",
            ("lab_id", "labs", "id"),
            ("theme_code", "themes", "code", 50),
        ))
        .await?;
        m.create_index(index("lab_themes", &["theme_code", "lab_id"]))
            .await?;
        let mut t = link_table(
            "lab_operators",
            ("lab_id", "labs", "id"),
            ("organisation_id", "organisations", "id", 36),
        );
        t.col(ColumnDef::new(s("role")).string_len(16).not_null());
        m.create_table(t).await?;
        m.create_index(index("lab_operators", &["organisation_id", "lab_id"]))
            .await?;

        // Networks.
        let mut t = Table::create();
        t.table(s("networks"))
            .col(id(s("id")).primary_key())
            .col(
                ColumnDef::new(s("slug"))
                    .string_len(120)
                    .not_null()
                    .unique_key(),
            )
            .col(ColumnDef::new(s("name")).string_len(300).not_null())
            .col(ColumnDef::new(s("description")).text())
            .col(ColumnDef::new(s("since")).integer())
            .col(ColumnDef::new(s("coordinator_id")).string_len(36))
            .foreign_key(&mut fk(
                "networks",
                "coordinator_id",
                "organisations",
                "id",
                false,
            ));
        record_columns(&mut t);
        m.create_table(t).await?;
        for cols in [
            &["name", "id"][..],
            &["updated_at", "id"],
            &["created_at", "id"],
        ] {
            m.create_index(index("networks", cols)).await?;
        }
        m.create_table(
            Table::create()
                .table(s("network_members"))
                .col(id(s("network_id")))
                .col(ColumnDef::new(s("member_type")).string_len(16).not_null())
                .col(id(s("member_id")))
                .col(ColumnDef::new(s("joined")).date())
                .primary_key(
                    Index::create()
                        .col(s("network_id"))
                        .col(s("member_type"))
                        .col(s("member_id")),
                )
                .foreign_key(&mut fk(
                    "network_members",
                    "network_id",
                    "networks",
                    "id",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("network_members", &["member_id"]))
            .await?;

        // Projects.
        let mut t = Table::create();
        t.table(s("projects"))
            .col(id(s("id")).primary_key())
            .col(
                ColumnDef::new(s("slug"))
                    .string_len(120)
                    .not_null()
                    .unique_key(),
            )
            .col(ColumnDef::new(s("title")).string_len(300).not_null())
            .col(ColumnDef::new(s("summary")).text())
            .col(ColumnDef::new(s("description")).text())
            .col(ColumnDef::new(s("programme")).string_len(200))
            .col(ColumnDef::new(s("phase")).string_len(16).not_null())
            .col(ColumnDef::new(s("start_date")).date())
            .col(ColumnDef::new(s("end_date")).date())
            .col(id(s("lead_organisation_id")))
            .col(ColumnDef::new(s("website")).string_len(2000))
            .col(ColumnDef::new(s("objectives")).text().not_null())
            .col(ColumnDef::new(s("actions")).text().not_null())
            .foreign_key(&mut fk(
                "projects",
                "lead_organisation_id",
                "organisations",
                "id",
                false,
            ));
        record_columns(&mut t);
        m.create_table(t).await?;
        for cols in [
            &["title", "id"][..],
            &["updated_at", "id"],
            &["created_at", "id"],
            &["lead_organisation_id"],
            &["start_date", "id"],
        ] {
            m.create_index(index("projects", cols)).await?;
        }
        let mut t = link_table(
            "project_partners",
            ("project_id", "projects", "id"),
            ("organisation_id", "organisations", "id", 36),
        );
        t.col(ColumnDef::new(s("role")).string_len(16).not_null());
        m.create_table(t).await?;
        m.create_index(index(
            "project_partners",
            &["organisation_id", "project_id"],
        ))
        .await?;
        m.create_table(
            Table::create()
                .table(s("project_funding"))
                .col(id(s("project_id")))
                .col(ColumnDef::new(s("position")).integer().not_null())
                .col(id(s("funder_id")))
                .col(ColumnDef::new(s("amount")).string_len(40).not_null())
                .primary_key(Index::create().col(s("project_id")).col(s("position")))
                .foreign_key(&mut fk(
                    "project_funding",
                    "project_id",
                    "projects",
                    "id",
                    true,
                ))
                .foreign_key(&mut fk(
                    "project_funding",
                    "funder_id",
                    "organisations",
                    "id",
                    false,
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(link_table(
            "project_labs",
            ("project_id", "projects", "id"),
            ("lab_id", "labs", "id", 36),
        ))
        .await?;
        m.create_index(index("project_labs", &["lab_id", "project_id"]))
            .await?;
        m.create_table(link_table(
            "project_municipalities",
            ("project_id", "projects", "id"),
            ("municipality", "municipalities", "istat_code", 6),
        ))
        .await?;
        m.create_index(index(
            "project_municipalities",
            &["municipality", "project_id"],
        ))
        .await?;
        m.create_table(link_table(
            "project_themes",
            ("project_id", "projects", "id"),
            ("theme_code", "themes", "code", 50),
        ))
        .await?;
        m.create_index(index("project_themes", &["theme_code", "project_id"]))
            .await?;

        // Metrics.
        m.create_table(
            Table::create()
                .table(s("metrics"))
                .col(id(s("id")).primary_key())
                .col(id(s("project_id")))
                .col(ColumnDef::new(s("indicator")).string_len(50).not_null())
                .col(ColumnDef::new(s("kind")).string_len(10).not_null())
                .col(ColumnDef::new(s("value_milli")).big_integer().not_null())
                .col(ColumnDef::new(s("period_start")).date().not_null())
                .col(ColumnDef::new(s("period_end")).date().not_null())
                .col(ColumnDef::new(s("lab_id")).string_len(36))
                .col(ColumnDef::new(s("municipality")).string_len(6))
                .col(ColumnDef::new(s("age_band")).string_len(40))
                .col(ColumnDef::new(s("gender")).string_len(40))
                .col(ColumnDef::new(s("grp")).string_len(80))
                .col(ColumnDef::new(s("source")).text())
                .col(ColumnDef::new(s("note")).text())
                .col(crate::ts(s("created_at")))
                .foreign_key(&mut fk("metrics", "project_id", "projects", "id", false))
                .foreign_key(&mut fk("metrics", "indicator", "indicators", "code", false))
                .foreign_key(&mut fk("metrics", "lab_id", "labs", "id", false))
                .foreign_key(&mut fk(
                    "metrics",
                    "municipality",
                    "municipalities",
                    "istat_code",
                    false,
                ))
                .to_owned(),
        )
        .await?;
        for cols in [
            &["project_id", "indicator"][..],
            &["indicator", "period_start"],
            &["period_start", "id"],
            &["lab_id"],
            &["municipality"],
        ] {
            m.create_index(index("metrics", cols)).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "metrics",
            "project_themes",
            "project_municipalities",
            "project_labs",
            "project_funding",
            "project_partners",
            "projects",
            "network_members",
            "networks",
            "lab_operators",
            "lab_themes",
            "labs",
            "indicators",
            "area_municipalities",
            "areas",
        ] {
            m.drop_table(Table::drop().table(s(t)).to_owned()).await?;
        }
        Ok(())
    }
}
