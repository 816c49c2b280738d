//! Projects: funded work led by an organisation, with partners, funding, labs and places.

use crate::entities::projects::{ActiveModel, Column, Entity, Model};
use crate::error::{StoreError, StoreResult};
use crate::record::{self, Active, Filter, Link, Links, Record, Row, Write, text};
use crate::records::{a, in_set, of_provinces, sub, texts};
use chrono::{DateTime, Utc};
use legami_domain::{
    Amount, FieldError, Funding, IstatCode, Lab, Organisation, Partner, PartnerRole, Project,
    ProjectFields, ProjectPhase, ProvinceAbbr, RecordMeta, Slug, Status, ThemeCode, Visibility,
    WebUrl,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Value,
};
use uuid::Uuid;

/// Sortable fields.
pub const SORTS: &[&str] = &["title", "slug", "created_at", "updated_at"];

/// Filters of `GET /projects`.
#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    /// Phases.
    pub phases: Vec<ProjectPhase>,
    /// Themes.
    pub themes: Vec<ThemeCode>,
    /// Covering any of these municipalities.
    pub municipalities: Vec<IstatCode>,
    /// Covering municipalities of these provinces.
    pub provinces: Vec<ProvinceAbbr>,
    /// Municipalities of the chosen area(s), already resolved.
    pub area_municipalities: Option<Vec<String>>,
    /// Led by or partnered with any of these organisations.
    pub organisations: Vec<Uuid>,
    /// With any of these labs.
    pub labs: Vec<Uuid>,
    /// Statuses.
    pub statuses: Vec<Status>,
    /// Changed at or after.
    pub updated_since: Option<DateTime<Utc>>,
    /// Full-text query (`q`).
    pub q: Option<crate::search::SearchQuery>,
}

fn corrupt(e: FieldError) -> StoreError {
    StoreError::Db(format!("stored project is invalid: {}", e.message))
}

fn uuid(s: &str) -> StoreResult<Uuid> {
    Uuid::try_parse(s).map_err(|e| StoreError::Db(e.to_string()))
}

fn to_domain(m: Model, mut links: Links) -> StoreResult<Project> {
    let status = Status::parse(&m.status).map_err(corrupt)?;
    let pairs = |rows: Vec<Vec<Option<String>>>| -> StoreResult<Vec<(String, String)>> {
        rows.into_iter()
            .map(|r| {
                let mut r = r.into_iter();
                Ok((text(r.next().flatten())?, text(r.next().flatten())?))
            })
            .collect()
    };
    Ok(Project {
        meta: RecordMeta {
            id: uuid(&m.id)?,
            slug: Slug::parse(&m.slug).map_err(corrupt)?,
            status,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        },
        fields: ProjectFields {
            slug: None,
            title: m.title,
            summary: m.summary,
            description: m.description,
            programme: m.programme,
            phase: ProjectPhase::parse(&m.phase).map_err(corrupt)?,
            start_date: m.start_date,
            end_date: m.end_date,
            lead_organisation_id: uuid(&m.lead_organisation_id)?,
            partners: pairs(links.rows(0))?
                .into_iter()
                .map(|(id, role)| {
                    Ok(Partner {
                        organisation_id: uuid(&id)?,
                        role: PartnerRole::parse(&role).map_err(corrupt)?,
                    })
                })
                .collect::<StoreResult<_>>()?,
            funding: pairs(links.rows(1))?
                .into_iter()
                .map(|(id, amount)| {
                    Ok(Funding {
                        funder_id: uuid(&id)?,
                        amount: Amount::parse(&amount).map_err(corrupt)?,
                    })
                })
                .collect::<StoreResult<_>>()?,
            lab_ids: links
                .column(2)?
                .iter()
                .map(|s| uuid(s))
                .collect::<StoreResult<_>>()?,
            municipalities: links
                .column(3)?
                .iter()
                .map(|s| IstatCode::parse(s).map_err(corrupt))
                .collect::<StoreResult<_>>()?,
            themes: links
                .column(4)?
                .iter()
                .map(|s| ThemeCode::parse(s).map_err(corrupt))
                .collect::<StoreResult<_>>()?,
            objectives: serde_json::from_str(&m.objectives)
                .map_err(|e| StoreError::Db(e.to_string()))?,
            actions: serde_json::from_str(&m.actions).map_err(|e| StoreError::Db(e.to_string()))?,
            website: m
                .website
                .as_deref()
                .map(WebUrl::parse)
                .transpose()
                .map_err(corrupt)?,
            status,
        },
    })
}

async fn check(db: &impl ConnectionTrait, f: &ProjectFields) -> StoreResult<()> {
    let mut refs = record::Refs::new(db);
    let lead = ("/lead_organisation_id".to_owned(), f.lead_organisation_id);
    refs.records::<Organisation>([lead]).await?;
    let partners = f.partners.iter().enumerate();
    let named =
        partners.map(|(i, p)| (format!("/partners/{i}/organisation_id"), p.organisation_id));
    refs.records::<Organisation>(named).await?;
    let funding = f.funding.iter().enumerate();
    let named = funding.map(|(i, p)| (format!("/funding/{i}/funder_id"), p.funder_id));
    refs.records::<Organisation>(named).await?;
    let labs = f.lab_ids.iter().enumerate();
    refs.records::<Lab>(labs.map(|(i, l)| (format!("/lab_ids/{i}"), *l)))
        .await?;
    let places = f.municipalities.iter().enumerate();
    let named: Vec<_> = places
        .map(|(i, m)| (format!("/municipalities/{i}"), m))
        .collect();
    refs.municipalities(&named).await?;
    refs.themes(&f.themes).await?;
    refs.finish()
}

fn fill(am: &mut ActiveModel, f: &ProjectFields) -> StoreResult<()> {
    am.title = Set(f.title.clone());
    am.summary = Set(f.summary.clone());
    am.description = Set(f.description.clone());
    am.programme = Set(f.programme.clone());
    am.phase = Set(f.phase.as_str().to_owned());
    am.start_date = Set(f.start_date);
    am.end_date = Set(f.end_date);
    am.lead_organisation_id = Set(f.lead_organisation_id.to_string());
    am.website = Set(f.website.as_ref().map(|w| w.as_str().to_owned()));
    am.objectives =
        Set(serde_json::to_string(&f.objectives).map_err(|e| StoreError::Db(e.to_string()))?);
    am.actions = Set(serde_json::to_string(&f.actions).map_err(|e| StoreError::Db(e.to_string()))?);
    am.status = Set(f.status.as_str().to_owned());
    Ok(())
}

fn link_rows(f: &ProjectFields) -> Vec<Vec<Vec<Value>>> {
    let one = |v: String| vec![Value::from(v)];
    vec![
        f.partners
            .iter()
            .map(|p| vec![p.organisation_id.to_string().into(), p.role.as_str().into()])
            .collect(),
        f.funding
            .iter()
            .map(|x| {
                vec![
                    x.funder_id.to_string().into(),
                    x.amount.to_canonical().into(),
                ]
            })
            .collect(),
        f.lab_ids.iter().map(|l| one(l.to_string())).collect(),
        f.municipalities
            .iter()
            .map(|m| one(m.as_str().to_owned()))
            .collect(),
        f.themes
            .iter()
            .map(|t| one(t.as_str().to_owned()))
            .collect(),
    ]
}

impl Filter for ProjectFilter {
    type Record = Project;

    fn cond(&self, vis: &Visibility, backend: sea_orm::DbBackend) -> Condition {
        let f = self;
        let mut c = record::visible::<Project>(vis);
        if !f.phases.is_empty() {
            c = c.add(Column::Phase.is_in(f.phases.iter().map(|k| k.as_str())));
        }
        if !f.statuses.is_empty() {
            c = c.add(Column::Status.is_in(f.statuses.iter().map(|k| k.as_str())));
        }
        if !f.themes.is_empty() {
            let themes = f.themes.iter().map(|t| t.as_str().to_owned());
            c = c.add(Column::Id.in_subquery(sub(
                "project_themes",
                "project_id",
                "theme_code",
                themes,
            )));
        }
        let places = "project_municipalities";
        let in_municipalities = |codes: &[String]| {
            let col = r#""project_municipalities"."municipality""#;
            let mut q = Query::select();
            q.column(a("project_id")).from(a(places));
            Column::Id.in_subquery(q.and_where(in_set(backend, col, codes)).to_owned())
        };
        if !f.municipalities.is_empty() {
            c = c.add(in_municipalities(&texts(&f.municipalities)));
        }
        if let Some(ms) = &f.area_municipalities {
            c = c.add(in_municipalities(ms));
        }
        if !f.provinces.is_empty() {
            let mut q = Query::select();
            q.column(a("project_id")).from(a(places));
            q.and_where(Expr::col(a("municipality")).in_subquery(of_provinces(&f.provinces)));
            c = c.add(Column::Id.in_subquery(q));
        }
        if !f.organisations.is_empty() {
            let ids: Vec<String> = f.organisations.iter().map(Uuid::to_string).collect();
            let partnered = sub(
                "project_partners",
                "project_id",
                "organisation_id",
                ids.clone(),
            );
            c = c.add(
                Condition::any()
                    .add(Column::LeadOrganisationId.is_in(ids))
                    .add(Column::Id.in_subquery(partnered)),
            );
        }
        if !f.labs.is_empty() {
            let labs = f.labs.iter().map(Uuid::to_string);
            c = c.add(Column::Id.in_subquery(sub("project_labs", "project_id", "lab_id", labs)));
        }
        if let Some(since) = f.updated_since {
            c = c.add(Column::UpdatedAt.gte(since));
        }
        if let Some(q) = &f.q {
            c = c.add(crate::search::matching::<Project>(backend, q));
        }
        c
    }
}

impl Record for Project {
    type Entity = Entity;
    type Fields = ProjectFields;
    const TABLE: &'static str = "projects";
    const ENTITY: &'static str = "project";
    const LABEL: &'static str = "title";
    const LINKS: &'static [Link] = &[
        Link::new(
            "project_partners",
            "project_id",
            &["organisation_id", "role"],
            "organisation_id",
        ),
        Link::ordered(
            "project_funding",
            "project_id",
            &["funder_id", "amount"],
            "position",
        ),
        Link::new("project_labs", "project_id", &["lab_id"], "lab_id"),
        Link::new(
            "project_municipalities",
            "project_id",
            &["municipality"],
            "municipality",
        ),
        Link::new(
            "project_themes",
            "project_id",
            &["theme_code"],
            "theme_code",
        ),
    ];

    record::named_by!(title);

    fn from_row(row: Row<Self>, links: Links) -> StoreResult<Self> {
        to_domain(row, links)
    }

    fn fill(am: &mut Active<Self>, f: &ProjectFields) -> StoreResult<()> {
        fill(am, f)
    }

    fn links(f: &ProjectFields) -> Vec<Vec<Vec<Value>>> {
        link_rows(f)
    }

    /// The projects an organisation leads or is a `lead`/`partner` of.
    fn owned(orgs: &[Uuid]) -> Option<Condition> {
        let ids = || orgs.iter().map(Uuid::to_string);
        let partnered = Query::select()
            .column(a("project_id"))
            .from(a("project_partners"))
            .and_where(Expr::col(a("organisation_id")).is_in(ids()))
            .and_where(Expr::col(a("role")).is_in(["lead", "partner"]))
            .to_owned();
        Some(
            Condition::any()
                .add(record::col::<Self>("lead_organisation_id").is_in(ids()))
                .add(record::col::<Self>("id").in_subquery(partnered)),
        )
    }

    async fn check<C: ConnectionTrait>(
        db: &C,
        f: &ProjectFields,
        _own: Option<&str>,
    ) -> StoreResult<()> {
        check(db, f).await
    }

    /// The public rollup of a project's figures follows its status and its deletion.
    async fn after_write<C: ConnectionTrait>(db: &C, id: &str, write: Write) -> StoreResult<()> {
        match write {
            Write::Created
            | Write::Updated {
                status_changed: false,
            } => Ok(()),
            _ => crate::metrics::refresh_public_rollup(db, id).await,
        }
    }

    fn document(&self) -> crate::search::Document {
        let f = &self.fields;
        let mut body = vec![
            f.summary.clone().unwrap_or_default(),
            f.description.clone().unwrap_or_default(),
            f.programme.clone().unwrap_or_default(),
        ];
        body.extend(f.objectives.iter().cloned());
        body.extend(f.actions.iter().cloned());
        crate::search::Document {
            title: f.title.clone(),
            body,
            kind: Some(f.phase.as_str().to_owned()),
            themes: f.themes.clone(),
            municipality: f.municipalities.first().map(|m| m.as_str().to_owned()),
            location: None,
        }
    }
}

/// Live projects (planned or active, not deleted) led by an organisation: (slug, title).
pub async fn led_live(
    db: &impl ConnectionTrait,
    organisation: Uuid,
) -> StoreResult<Vec<(String, String)>> {
    Ok(Entity::find()
        .select_only()
        .column(Column::Slug)
        .column(Column::Title)
        .filter(Column::LeadOrganisationId.eq(organisation.to_string()))
        .filter(Column::DeletedAt.is_null())
        .filter(Column::Phase.is_in([
            ProjectPhase::Planned.as_str(),
            ProjectPhase::Active.as_str(),
        ]))
        .order_by_asc(Column::Title)
        .into_tuple::<(String, String)>()
        .all(db)
        .await?)
}

/// The labs of a live project.
pub async fn lab_ids(db: &impl ConnectionTrait, project: Uuid) -> StoreResult<Vec<Uuid>> {
    let q = Query::select()
        .column(a("lab_id"))
        .from(a("project_labs"))
        .and_where(Expr::col(a("project_id")).eq(project.to_string()))
        .to_owned();
    db.query_all(&q)
        .await?
        .iter()
        .map(|r| uuid(&r.try_get_by_index::<String>(0)?))
        .collect()
}
