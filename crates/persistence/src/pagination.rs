//! Keyset pagination: a page starts strictly after the (sort key, id) of the previous page's
//! last item. Never OFFSET, so pages stay stable under concurrent inserts.

use sea_orm::sea_query::{Expr, ExprTrait, IntoCondition};
use sea_orm::{ColumnTrait, Condition, Value};

/// Where the previous page ended: the sort key (as text) and the id of its last item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysetPos {
    /// The sort field's value, as text (RFC 3339 for times).
    pub key: String,
    /// The id (or primary key) of the last item.
    pub id: String,
}

/// A sort field of a collection and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortSpec {
    /// The field name, one of the collection's sortable fields.
    pub field: &'static str,
    /// Descending when true.
    pub desc: bool,
}

impl SortSpec {
    /// Parses `name` or `-name` against the allowed fields; `None` when not allowed.
    pub fn parse(raw: &str, allowed: &[&'static str]) -> Option<Self> {
        let (desc, name) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        allowed
            .iter()
            .find(|a| **a == name)
            .map(|field| Self { field, desc })
    }

    /// The canonical text form (`-updated_at`).
    pub fn as_param(&self) -> String {
        if self.desc {
            format!("-{}", self.field)
        } else {
            self.field.to_owned()
        }
    }
}

/// What page to read.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Items per page, 1..=100 (checked by the caller).
    pub limit: u64,
    /// Start after this position.
    pub after: Option<KeysetPos>,
    /// Whether to count the whole filtered collection.
    pub count: bool,
    /// Sort order.
    pub sort: SortSpec,
}

/// One page of a collection.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items, in order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<KeysetPos>,
    /// Size of the whole filtered collection, when asked for.
    pub total: Option<u64>,
}

impl<T> Page<T> {
    /// The same page with each item mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
            total: self.total,
        }
    }
}

/// The condition "after (key, id)" as one row-value comparison, `(sort, id) > (key, id)` (or `<`
/// when descending). Both SQLite and PostgreSQL turn it into a range scan of a (sort, id) index,
/// so a page costs the same at the millionth row as at the first; the equivalent
/// `sort > key OR (sort = key AND id > id)` is read from the start of the index on every page.
pub(crate) fn after_expr(col: Expr, id_col: Expr, desc: bool, key: Value, id: &str) -> Expr {
    let left = Expr::tuple([col, id_col]);
    let right = Expr::tuple([Expr::val(key), Expr::val(id.to_owned())]);
    if desc { left.lt(right) } else { left.gt(right) }
}

/// [`after_expr`] for an entity's columns.
pub(crate) fn after<C: ColumnTrait>(
    col: C,
    id_col: C,
    desc: bool,
    key: Value,
    id: &str,
) -> Condition {
    after_expr(Expr::col(col), Expr::col(id_col), desc, key, id).into_condition()
}

/// Splits the `limit + 1` rows read into a page and the position of the next one.
pub(crate) fn finish<T>(
    mut rows: Vec<T>,
    limit: u64,
    pos: impl Fn(&T) -> KeysetPos,
) -> (Vec<T>, Option<KeysetPos>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(pos);
        (rows, next)
    } else {
        (rows, None)
    }
}
