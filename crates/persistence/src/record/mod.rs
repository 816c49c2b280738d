//! One mechanism for every record resource (organisations, labs, projects, networks, areas).
//!
//! A resource implements [`Record`] once: its table, how a row with its links becomes the domain
//! type, its checks, its link tables, its search document, its ownership rule and its after-write
//! hook. Reading (`find`, `list`, `fingerprint`) and writing (`create`, `update`, `delete`,
//! `restore`) are written here, once: every write goes through one transaction that also appends
//! to the change log, rewrites the search document and writes the audit entry, so no resource
//! can forget them. A record's links are read in the statement that reads the record, aggregated
//! by the database (`json_group_array` on SQLite, `json_agg` on PostgreSQL).

mod read;
mod write;

pub use read::*;
pub use write::*;

use crate::error::{StoreError, StoreResult};
use crate::records::a;
use crate::search::Document;
use legami_domain::{RecordMeta, Slug, Status, Visibility};
use sea_orm::sea_query::{Cond, Expr, ExprTrait};
use sea_orm::{ConnectionTrait, EntityTrait, Value};
use std::future::Future;
use uuid::Uuid;

/// The sea-orm row of a record type.
pub type Row<R> = <<R as Record>::Entity as EntityTrait>::Model;

/// The sea-orm active model of a record type.
pub type Active<R> = <<R as Record>::Entity as EntityTrait>::ActiveModel;

/// A table of rows belonging to a record (`lab_themes` of a lab).
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// The link table.
    pub table: &'static str,
    /// Its column naming the owning record.
    pub owner: &'static str,
    /// The columns read back, in order (all text).
    pub cols: &'static [&'static str],
    /// The order rows are read in.
    pub order_by: &'static str,
    /// A column numbering the rows as written (their order), when the table has one.
    pub position: Option<&'static str>,
}

impl Link {
    /// A link table read in `order_by` order.
    pub const fn new(
        table: &'static str,
        owner: &'static str,
        cols: &'static [&'static str],
        order_by: &'static str,
    ) -> Self {
        Self {
            table,
            owner,
            cols,
            order_by,
            position: None,
        }
    }

    /// A link table keeping the order its rows were written in, in column `position`.
    pub const fn ordered(
        table: &'static str,
        owner: &'static str,
        cols: &'static [&'static str],
        position: &'static str,
    ) -> Self {
        Self {
            table,
            owner,
            cols,
            order_by: position,
            position: Some(position),
        }
    }
}

/// The link rows of one record, one list per [`Record::LINKS`] entry, each row its columns.
#[derive(Debug, Default)]
pub struct Links(Vec<Vec<Vec<Option<String>>>>);

impl Links {
    /// The rows of link `i` (taken: each is read once).
    pub fn rows(&mut self, i: usize) -> Vec<Vec<Option<String>>> {
        self.0.get_mut(i).map(std::mem::take).unwrap_or_default()
    }

    /// The first column of link `i`'s rows.
    pub fn column(&mut self, i: usize) -> StoreResult<Vec<String>> {
        self.rows(i)
            .into_iter()
            .map(|r| text(r.into_iter().next().flatten()))
            .collect()
    }
}

/// A link column that must not be null.
pub fn text(v: Option<String>) -> StoreResult<String> {
    v.ok_or_else(|| StoreError::Db("a stored link has an empty column".into()))
}

/// What a write says about itself: its wanted slug, its label (name or title) and status.
pub struct About<'a> {
    /// The slug asked for, if any.
    pub slug: Option<&'a Slug>,
    /// Name or title (a slug is derived from it).
    pub label: &'a str,
    /// Publication status.
    pub status: Status,
}

/// Which write an after-write hook follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// A new record.
    Created,
    /// A changed record; whether its status changed.
    Updated {
        /// The status is not what it was.
        status_changed: bool,
    },
    /// A soft delete.
    Deleted,
    /// An undelete.
    Restored,
}

/// Every record type, listed once: `record_types!(m)` expands to
/// `m!(Organisation, Lab, Project, Network, Area)` (their domain types), for what is done to each
/// type (indexing every one, mapping API type names to collections).
#[macro_export]
macro_rules! record_types {
    ($m:ident) => {
        $m!(
            legami_domain::Organisation,
            legami_domain::Lab,
            legami_domain::Project,
            legami_domain::Network,
            legami_domain::Area
        )
    };
}

/// The methods of [`Record`] every record type writes the same way, for a type with `meta` and
/// `fields` whose fields have `slug`, `status` and the label field named here.
macro_rules! named_by {
    ($label:ident) => {
        fn meta(&self) -> &legami_domain::RecordMeta {
            &self.meta
        }

        fn label(&self) -> &str {
            &self.fields.$label
        }

        fn about(f: &Self::Fields) -> crate::record::About<'_> {
            crate::record::About {
                slug: f.slug.as_ref(),
                label: &f.$label,
                status: f.status,
            }
        }
    };
}

pub(crate) use named_by;

/// A record resource: what is particular to it. Everything else is in this module.
pub trait Record: Sized + Send + Sync + 'static {
    /// Its sea-orm entity (the record's own table).
    type Entity: EntityTrait<Model: serde::de::DeserializeOwned>;
    /// What a client writes.
    type Fields: Send + Sync;
    /// The table.
    const TABLE: &'static str;
    /// Its name in the change log, the audit and the search index (`lab`).
    const ENTITY: &'static str;
    /// The column it is named by and sorted by default (`name`, `title`).
    const LABEL: &'static str;
    /// Its link tables.
    const LINKS: &'static [Link] = &[];

    /// Bookkeeping.
    fn meta(&self) -> &RecordMeta;
    /// Name or title.
    fn label(&self) -> &str;
    /// The record from its row and its links.
    fn from_row(row: Row<Self>, links: Links) -> StoreResult<Self>;
    /// Writes the fields into a row (everything but id, slug and bookkeeping).
    fn fill(am: &mut Active<Self>, f: &Self::Fields) -> StoreResult<()>;
    /// Slug, label and status of a write.
    fn about(f: &Self::Fields) -> About<'_>;
    /// The rows of each link table (aligned with [`Record::LINKS`]; a position column, when the
    /// link has one, is filled in).
    fn links(_f: &Self::Fields) -> Vec<Vec<Vec<Value>>> {
        Vec::new()
    }
    /// The rows belonging to any of `orgs` (drafts they read, records they change); `None` when
    /// nobody owns this type.
    fn owned(_orgs: &[Uuid]) -> Option<Cond> {
        None
    }
    /// What only the database knows (references exist, unique fields are free), before the slug.
    fn check<C: ConnectionTrait>(
        db: &C,
        f: &Self::Fields,
        own_id: Option<&str>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Refuses a delete (in its transaction), when something depends on the record.
    fn before_delete<C: ConnectionTrait>(
        _db: &C,
        _id: Uuid,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        async { Ok(()) }
    }
    /// Keeps derived data right after a write, in its transaction.
    fn after_write<C: ConnectionTrait>(
        _db: &C,
        _id: &str,
        _write: Write,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        async { Ok(()) }
    }
    /// Its search document.
    fn document(&self) -> Document;
}

/// Rows of `R` visible to a caller: live, and published unless the caller may read drafts (its
/// own, by [`Record::owned`], or all).
pub fn visible<R: Record>(vis: &Visibility) -> Cond {
    let c = Cond::all().add(Expr::col((a(R::TABLE), a("deleted_at"))).is_null());
    let Some(orgs) = vis.members() else {
        return c;
    };
    let published = Expr::col((a(R::TABLE), a("status"))).eq(Status::Published.as_str());
    // A caller of no organisation owns nothing: a plain `status = $n`, which the planner (a
    // prepared statement's generic plan too) can read from an index, instead of an `OR` over an
    // empty ownership subquery it cannot fold away.
    if orgs.is_empty() {
        return c.add(published);
    }
    match R::owned(orgs) {
        Some(owned) => c.add(Cond::any().add(published).add(owned)),
        None => c.add(published),
    }
}

/// The column `col` of `R`'s table, as an expression.
pub fn col<R: Record>(col: &str) -> Expr {
    Expr::col((a(R::TABLE), a(col)))
}
