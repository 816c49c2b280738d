//! Full-text search over organisations, labs, projects and networks, Italian-aware on both
//! backends: accents folded, words stemmed, names weighted above descriptions.
//!
//! PostgreSQL: `to_tsvector('italian', unaccent(...))` in a GIN-indexed column and
//! `websearch_to_tsquery` for queries (any input is safe). SQLite: an FTS5 table fed words folded
//! by `deunicode` and stemmed by `rust-stemmers` (Snowball Italian), the same processing applied to
//! queries, each stem quoted so no input is read as FTS syntax. Documents are rewritten in the same
//! transaction as the record they describe.

mod index;
mod query;

pub use index::Document;
pub(crate) use index::{index, remove};
pub use query::*;

use crate::error::{StoreError, StoreResult};
use crate::geo::{BBox, Near, haversine_km};
use legami_domain::{Status, Visibility};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use std::collections::{HashMap, HashSet};

/// Filters of `GET /search`.
#[derive(Debug, Clone, Default)]
pub struct SearchFilter {
    /// Record types (empty: all).
    pub types: Vec<String>,
    /// Themes (any of).
    pub themes: Vec<String>,
    /// Kinds (any of).
    pub kinds: Vec<String>,
    /// Provinces (any of).
    pub provinces: Vec<String>,
    /// Municipalities (areas resolved).
    pub municipalities: Option<Vec<String>>,
    /// Within a radius.
    pub near: Option<Near>,
    /// Inside a box.
    pub bbox: Option<BBox>,
}

/// One search hit: what ranks, filters and counts it. What a page shows of it is read for
/// the page only ([`shown`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Record type.
    pub entity: &'static str,
    /// Record id.
    pub id: String,
    /// Relevance, higher is better.
    pub score: f64,
    /// Kind.
    pub kind: Option<String>,
    /// Themes.
    pub themes: Vec<String>,
    /// Province.
    pub province: Option<String>,
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
    /// Distance from `near`, km.
    pub distance_km: Option<f64>,
}

/// What an answer shows of a hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// Slug.
    pub slug: String,
    /// Name or title.
    pub title: String,
    /// Indexed text.
    pub body: String,
    /// Municipality.
    pub municipality: Option<String>,
}

/// Every hit, best first (ties by type and id), with the filters applied.
pub async fn search(
    db: &(impl ConnectionTrait + 'static),
    q: &SearchQuery,
    f: &SearchFilter,
    vis: &Visibility,
) -> StoreResult<Vec<Hit>> {
    if q.stems.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let pg = backend == DbBackend::Postgres;
    let mut vals: Vec<Value> = Vec::new();
    let (score, from, matcher) = if pg {
        vals.push(q.pg_tsquery().into());
        (
            "ts_rank_cd(d.tsv, to_tsquery('simple', ?))",
            "search_docs d",
            "d.tsv @@ to_tsquery('simple', ?)",
        )
    } else {
        (
            "-bm25(search_fts, 0.0, 0.0, 10.0, 1.0)",
            // The documents' covering index by full-text rowid (migration 11).
            "search_fts JOIN search_docs d ON d.fts_rowid = search_fts.rowid",
            "search_fts MATCH ?",
        )
    };
    let mut w = vec![matcher.to_owned()];
    vals.push(if pg {
        q.pg_tsquery().into()
    } else {
        q.fts_match().into()
    });
    let list = |items: &[String], col: &str, w: &mut Vec<String>, vals: &mut Vec<Value>| {
        if !items.is_empty() {
            w.push(format!("{col} IN ({})", vec!["?"; items.len()].join(", ")));
            vals.extend(items.iter().map(|i| Value::from(i.clone())));
        }
    };
    let types: Vec<String> = if f.types.is_empty() {
        TYPES.iter().map(|t| (*t).to_owned()).collect()
    } else {
        f.types.clone()
    };
    list(&types, "d.entity", &mut w, &mut vals);
    list(&f.kinds, "d.kind", &mut w, &mut vals);
    list(&f.provinces, "d.province", &mut w, &mut vals);
    if let Some(ms) = &f.municipalities {
        // `?` placeholders: numbered for PostgreSQL when the statement is run.
        w.push(crate::records::in_set_sql(
            backend,
            "d.municipality",
            ms,
            &mut vals,
            |v, vals| {
                vals.push(v);
                "?".to_owned()
            },
        ));
    }
    if !f.themes.is_empty() {
        let ors: Vec<String> = f
            .themes
            .iter()
            .map(|_| "d.themes LIKE ?".to_owned())
            .collect();
        w.push(format!("({})", ors.join(" OR ")));
        vals.extend(f.themes.iter().map(|t| Value::from(format!("%|{t}|%"))));
    }
    if !vis.sees_unpublished() {
        w.push("d.status = ?".into());
        vals.push(Status::Published.as_str().into());
    }
    if let Some(b) = f.bbox {
        w.push("d.lat BETWEEN ? AND ? AND d.lon BETWEEN ? AND ?".into());
        vals.extend([
            b.min_lat.into(),
            b.max_lat.into(),
            b.min_lon.into(),
            b.max_lon.into(),
        ]);
    }
    if let Some(n) = f.near {
        let (a, b, c, d) = crate::geo::radius_box(n.lat, n.lon, n.radius_km);
        w.push("d.lat BETWEEN ? AND ? AND d.lon BETWEEN ? AND ?".into());
        vals.extend([a.into(), b.into(), c.into(), d.into()]);
    }
    let mut sql = format!(
        "SELECT d.entity, d.record_id, CAST({score} AS DOUBLE PRECISION), d.kind, d.themes, d.province, d.lat, d.lon FROM {from} WHERE {}",
        w.join(" AND ")
    );
    if !pg {
        sql = sql.replace("AS DOUBLE PRECISION", "AS REAL");
    } else {
        let mut n = 0;
        sql = sql
            .chars()
            .map(|c| {
                if c == '?' {
                    n += 1;
                    format!("${n}")
                } else {
                    c.to_string()
                }
            })
            .collect();
    }
    let hit = |entity: String,
               id: String,
               score: f64,
               kind: Option<String>,
               themes: String,
               province: Option<String>,
               lat: Option<f64>,
               lon: Option<f64>|
     -> StoreResult<Option<Hit>> {
        let distance_km = match (f.near, lat, lon) {
            (Some(n), Some(la), Some(lo)) => {
                let d = haversine_km(n.lat, n.lon, la, lo);
                if d > n.radius_km {
                    return Ok(None);
                }
                Some(d)
            }
            (Some(_), _, _) => return Ok(None),
            _ => None,
        };
        let entity = TYPES
            .iter()
            .find(|t| **t == entity)
            .ok_or_else(|| StoreError::Db(format!("a search document of type {entity}")))?;
        Ok(Some(Hit {
            entity,
            id,
            score,
            kind,
            themes: themes
                .split('|')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            province,
            lat,
            lon,
            distance_km,
        }))
    };
    let mut hits = Vec::new();
    if let Some(rows) = inline_values(db, &sql, &vals) {
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        for r in rows {
            let [entity, id, score, kind, themes, province, lat, lon] = &r[..] else {
                return Err(StoreError::Db("a search row of another shape".into()));
            };
            let bad = || StoreError::Db("a search row with an empty column".into());
            hits.extend(hit(
                text(entity).ok_or_else(bad)?,
                text(id).ok_or_else(bad)?,
                score.as_f64().ok_or_else(bad)?,
                text(kind),
                text(themes).ok_or_else(bad)?,
                text(province),
                lat.as_f64(),
                lon.as_f64(),
            )?);
        }
    } else {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, vals))
            .await?;
        for r in rows {
            hits.extend(hit(
                r.try_get_by_index(0)?,
                r.try_get_by_index(1)?,
                r.try_get_by_index(2)?,
                r.try_get_by_index(3)?,
                r.try_get_by_index(4)?,
                r.try_get_by_index(5)?,
                r.try_get_by_index(6)?,
                r.try_get_by_index(7)?,
            )?);
        }
    }
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.entity.cmp(b.entity))
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(hits)
}

/// The rows of a statement in this thread when `db` is an SQLite pool ([`crate::inline`]).
fn inline_values(
    db: &dyn std::any::Any,
    sql: &str,
    vals: &[Value],
) -> Option<Vec<Vec<serde_json::Value>>> {
    let pool = db.downcast_ref::<sea_orm::DatabaseConnection>()?;
    crate::inline::query_values(pool, sql, vals)
}

/// What a page shows of its hits (slug, title, indexed text, municipality), in their order;
/// `None` for a hit whose document went away since the search (its record was removed).
pub async fn shown(
    db: &(impl ConnectionTrait + 'static),
    hits: &[&Hit],
) -> StoreResult<Vec<Option<Shown>>> {
    if hits.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let marks: Vec<String> = (1..=hits.len())
        .map(|i| match backend {
            DbBackend::Postgres => format!("${i}"),
            _ => "?".to_owned(),
        })
        .collect();
    let sql = format!(
        "SELECT entity, record_id, slug, title, body, municipality FROM search_docs WHERE record_id IN ({})",
        marks.join(", ")
    );
    let vals: Vec<Value> = hits.iter().map(|h| Value::from(h.id.clone())).collect();
    let mut found: HashMap<(String, String), Shown> = HashMap::with_capacity(hits.len());
    if let Some(rows) = inline_values(db, &sql, &vals) {
        for r in rows {
            let text = |i: usize| r.get(i).and_then(|v| v.as_str()).map(str::to_owned);
            let bad = || StoreError::Db("a search document with an empty column".into());
            found.insert(
                (text(0).ok_or_else(bad)?, text(1).ok_or_else(bad)?),
                Shown {
                    slug: text(2).ok_or_else(bad)?,
                    title: text(3).ok_or_else(bad)?,
                    body: text(4).ok_or_else(bad)?,
                    municipality: text(5),
                },
            );
        }
    } else {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, vals))
            .await?;
        for r in rows {
            found.insert(
                (r.try_get_by_index(0)?, r.try_get_by_index(1)?),
                Shown {
                    slug: r.try_get_by_index(2)?,
                    title: r.try_get_by_index(3)?,
                    body: r.try_get_by_index(4)?,
                    municipality: r.try_get_by_index(5)?,
                },
            );
        }
    }
    Ok(hits
        .iter()
        .map(|h| found.remove(&(h.entity.to_owned(), h.id.clone())))
        .collect())
}

/// A short extract of `text` around the first word matching the query, HTML-escaped, with every
/// matching word wrapped in `<mark>`.
pub fn snippet(title: &str, body: &str, q: &SearchQuery, width: usize) -> String {
    let stems: HashSet<&str> = q.stems.iter().map(String::as_str).collect();
    let matches = |w: &str| words(w).iter().any(|x| stems.contains(stem(x).as_str()));
    let source = if body.split_whitespace().any(matches) {
        body
    } else {
        title
    };
    let tokens: Vec<&str> = source.split_whitespace().collect();
    let first = tokens.iter().position(|t| matches(t)).unwrap_or(0);
    let start = first.saturating_sub(8);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let mut len = 0;
    for t in &tokens[start..] {
        if len > width {
            out.push('…');
            break;
        }
        if !out.is_empty() && !out.ends_with('…') {
            out.push(' ');
        }
        let escaped = t
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;");
        if matches(t) {
            out.push_str(&format!("<mark>{escaped}</mark>"));
        } else {
            out.push_str(&escaped);
        }
        len += t.len() + 1;
    }
    out
}

/// Facet counts of a hit list (exact: computed over every hit).
pub fn facets(hits: &[Hit]) -> HashMap<&'static str, HashMap<String, u64>> {
    let mut out: HashMap<&'static str, HashMap<String, u64>> = HashMap::new();
    for h in hits {
        *out.entry("type")
            .or_default()
            .entry(h.entity.to_owned())
            .or_default() += 1;
        if let Some(k) = &h.kind {
            *out.entry("kind").or_default().entry(k.clone()).or_default() += 1;
        }
        if let Some(p) = &h.province {
            *out.entry("province")
                .or_default()
                .entry(p.clone())
                .or_default() += 1;
        }
        for t in &h.themes {
            *out.entry("theme")
                .or_default()
                .entry(t.clone())
                .or_default() += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_and_stemming_match_italian_forms() {
        let q = |s: &str| SearchQuery::parse(s).unwrap().stems;
        assert_eq!(q("attivita"), q("attività"));
        assert_eq!(q("citta"), q("Città"));
        assert_eq!(q("famiglia"), q("famiglie"));
        // Snowball splits these; the query's shorter forms join them.
        let lab = SearchQuery::parse("laboratorio").unwrap();
        assert!(lab.fts_match().contains("\"labor\""), "{}", lab.fts_match());
        assert!(lab.pg_tsquery().contains("| labor"), "{}", lab.pg_tsquery());
        assert!(SearchQuery::parse("a\0b").is_err());
        assert!(SearchQuery::parse("   ").is_err());
        assert_eq!(q("\"* NEAR( : -"), q("near"));
        assert_eq!(q("la cura del verde"), q("cura verde"));
    }

    #[test]
    fn snippets_escape_and_mark() {
        let q = SearchQuery::parse("famiglie").unwrap();
        let s = snippet(
            "Titolo",
            "Aiuto alle <b>famiglia</b> del quartiere",
            &q,
            100,
        );
        assert!(
            s.contains("<mark>&lt;b&gt;famiglia&lt;/b&gt;</mark>"),
            "{s}"
        );
    }
}
