//! Networks: standing networks of organisations and labs.

use crate::entities::networks::{ActiveModel, Column, Entity, Model};
use crate::error::{StoreError, StoreResult};
use crate::record::{self, Active, Filter, Link, Links, Record, Row, text};
use crate::records::sub;
use chrono::{DateTime, NaiveDate, Utc};
use legami_domain::{
    FieldError, Lab, Member, MemberType, Network, NetworkFields, Organisation, RecordMeta, Slug,
    Status, Visibility,
};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, Value};
use uuid::Uuid;

/// Sortable fields.
pub const SORTS: &[&str] = &["name", "slug", "created_at", "updated_at"];

/// Filters of `GET /networks`.
#[derive(Debug, Clone, Default)]
pub struct NetworkFilter {
    /// Networks with any of these organisations or labs as members (or coordinator).
    pub members: Vec<Uuid>,
    /// Statuses.
    pub statuses: Vec<Status>,
    /// Changed at or after.
    pub updated_since: Option<DateTime<Utc>>,
    /// Full-text query (`q`).
    pub q: Option<crate::search::SearchQuery>,
}

fn corrupt(e: FieldError) -> StoreError {
    StoreError::Db(format!("stored network is invalid: {}", e.message))
}

fn uuid(s: &str) -> StoreResult<Uuid> {
    Uuid::try_parse(s).map_err(|e| StoreError::Db(e.to_string()))
}

fn to_domain(m: Model, members: Vec<Vec<Option<String>>>) -> StoreResult<Network> {
    let members = members
        .into_iter()
        .map(|r| {
            let mut r = r.into_iter();
            let member_type = MemberType::parse(&text(r.next().flatten())?).map_err(corrupt)?;
            let id = uuid(&text(r.next().flatten())?)?;
            let joined = r
                .next()
                .flatten()
                .map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d"))
                .transpose()
                .map_err(|e| StoreError::Db(e.to_string()))?;
            Ok(Member {
                member_type,
                id,
                joined,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let status = Status::parse(&m.status).map_err(corrupt)?;
    Ok(Network {
        meta: RecordMeta {
            id: uuid(&m.id)?,
            slug: Slug::parse(&m.slug).map_err(corrupt)?,
            status,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        },
        fields: NetworkFields {
            slug: None,
            name: m.name,
            description: m.description,
            since: m.since,
            coordinator_id: m.coordinator_id.as_deref().map(uuid).transpose()?,
            members,
            status,
        },
    })
}

fn cond(f: &NetworkFilter, vis: &Visibility, backend: sea_orm::DbBackend) -> Condition {
    let mut c = record::visible::<Network>(vis);
    if !f.statuses.is_empty() {
        c = c.add(Column::Status.is_in(f.statuses.iter().map(|k| k.as_str())));
    }
    if !f.members.is_empty() {
        let ids: Vec<String> = f.members.iter().map(Uuid::to_string).collect();
        c = c.add(
            Condition::any()
                .add(Column::CoordinatorId.is_in(ids.clone()))
                .add(Column::Id.in_subquery(sub(
                    "network_members",
                    "network_id",
                    "member_id",
                    ids,
                ))),
        );
    }
    if let Some(since) = f.updated_since {
        c = c.add(Column::UpdatedAt.gte(since));
    }
    if let Some(q) = &f.q {
        c = c.add(crate::search::matching::<Network>(backend, q));
    }
    c
}

/// Leaves out of each network's member list the labs and organisations `vis` may not see
/// (drafts and archived records of others); administrators see every member. For reads only:
/// writes merge into the stored list.
pub async fn hide_invisible_members(
    db: &impl ConnectionTrait,
    networks: &mut [record::Hit<Network>],
    vis: &Visibility,
) -> StoreResult<()> {
    if vis.members().is_none() {
        return Ok(());
    }
    let of = |t: MemberType| -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = networks
            .iter()
            .flat_map(|n| &n.0.fields.members)
            .filter(|m| m.member_type == t)
            .map(|m| m.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let labs = record::visible_ids::<Lab>(db, &of(MemberType::Lab), vis).await?;
    let orgs = record::visible_ids::<Organisation>(db, &of(MemberType::Organisation), vis).await?;
    for (n, _) in networks {
        n.fields.members.retain(|m| match m.member_type {
            MemberType::Lab => labs.contains(&m.id),
            MemberType::Organisation => orgs.contains(&m.id),
        });
    }
    Ok(())
}

async fn check(db: &impl ConnectionTrait, f: &NetworkFields) -> StoreResult<()> {
    let mut refs = record::Refs::new(db);
    let coordinator = f.coordinator_id.map(|c| ("/coordinator_id".to_owned(), c));
    refs.records::<Organisation>(coordinator).await?;
    for (i, m) in f.members.iter().enumerate() {
        let named = [(format!("/members/{i}"), m.id)];
        match m.member_type {
            MemberType::Organisation => refs.records::<Organisation>(named).await?,
            MemberType::Lab => refs.records::<Lab>(named).await?,
        }
    }
    refs.finish()
}

fn fill(am: &mut ActiveModel, f: &NetworkFields) {
    am.name = Set(f.name.clone());
    am.description = Set(f.description.clone());
    am.since = Set(f.since);
    am.coordinator_id = Set(f.coordinator_id.map(|c| c.to_string()));
    am.status = Set(f.status.as_str().to_owned());
}

fn rows(f: &NetworkFields) -> Vec<Vec<Value>> {
    f.members
        .iter()
        .map(|m| {
            vec![
                m.member_type.as_str().into(),
                m.id.to_string().into(),
                Value::ChronoDate(m.joined),
            ]
        })
        .collect()
}

impl Filter for NetworkFilter {
    type Record = Network;

    fn cond(&self, vis: &Visibility, backend: sea_orm::DbBackend) -> Condition {
        cond(self, vis, backend)
    }

    /// Member lists show only visible members: a lab or organisation changing status changes
    /// them, so their fingerprints are part of it.
    async fn fingerprint<C: ConnectionTrait>(
        &self,
        db: &C,
        vis: &Visibility,
    ) -> StoreResult<String> {
        let own =
            record::fingerprint::<Network>(db, cond(self, vis, db.get_database_backend())).await?;
        if vis.members().is_none() {
            return Ok(own);
        }
        let labs = record::fingerprint::<Lab>(db, record::visible::<Lab>(vis)).await?;
        let orgs =
            record::fingerprint::<Organisation>(db, record::visible::<Organisation>(vis)).await?;
        Ok(format!("{own}/{labs}/{orgs}"))
    }
}

impl Record for Network {
    type Entity = Entity;
    type Fields = NetworkFields;
    const TABLE: &'static str = "networks";
    const ENTITY: &'static str = "network";
    const LABEL: &'static str = "name";
    const LINKS: &'static [Link] = &[Link::new(
        "network_members",
        "network_id",
        &["member_type", "member_id", "joined"],
        "member_id",
    )];

    record::named_by!(name);

    fn from_row(row: Row<Self>, mut links: Links) -> StoreResult<Self> {
        to_domain(row, links.rows(0))
    }

    fn fill(am: &mut Active<Self>, f: &NetworkFields) -> StoreResult<()> {
        fill(am, f);
        Ok(())
    }

    fn links(f: &NetworkFields) -> Vec<Vec<Vec<Value>>> {
        vec![rows(f)]
    }

    /// The networks an organisation coordinates.
    fn owned(orgs: &[Uuid]) -> Option<Condition> {
        Some(
            Condition::all()
                .add(record::col::<Self>("coordinator_id").is_in(orgs.iter().map(Uuid::to_string))),
        )
    }

    async fn check<C: ConnectionTrait>(
        db: &C,
        f: &NetworkFields,
        _own: Option<&str>,
    ) -> StoreResult<()> {
        check(db, f).await
    }

    fn document(&self) -> crate::search::Document {
        crate::search::Document {
            title: self.fields.name.clone(),
            body: vec![self.fields.description.clone().unwrap_or_default()],
            ..Default::default()
        }
    }
}
