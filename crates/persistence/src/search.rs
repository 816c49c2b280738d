//! Full-text search over organisations, labs, projects and networks, Italian-aware on both
//! backends: accents folded, words stemmed, names weighted above descriptions.
//!
//! PostgreSQL: `to_tsvector('italian', unaccent(...))` in a GIN-indexed column and
//! `websearch_to_tsquery` for queries (any input is safe). SQLite: an FTS5 table fed words folded
//! by `deunicode` and stemmed by `rust-stemmers` (Snowball Italian), the same processing applied to
//! queries, each stem quoted so no input is read as FTS syntax. Documents are rewritten in the same
//! transaction as the record they describe.

use crate::error::{StoreError, StoreResult};
use crate::geo::{BBox, Near, haversine_km};
use legami_domain::{FieldError, Status, Visibility};
use rust_stemmers::{Algorithm, Stemmer};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use std::collections::{HashMap, HashSet};

/// The record types `/search` covers.
pub const TYPES: &[&str] = &["organisation", "lab", "project", "network"];

/// Lower-case words with accents folded (`Attività` -> `attivita`).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| deunicode::deunicode(&w.to_lowercase()).to_lowercase())
        .flat_map(|w| {
            w.split(|c: char| !c.is_ascii_alphanumeric())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// The Italian stem of a folded word.
pub fn stem(word: &str) -> String {
    Stemmer::create(Algorithm::Italian).stem(word).into_owned()
}

fn terms(text: &str) -> String {
    let stemmer = Stemmer::create(Algorithm::Italian);
    words(text)
        .iter()
        .map(|w| stemmer.stem(w).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Italian function words left out of queries (documents are indexed whole; PostgreSQL also
/// drops its own list from them).
const STOPWORDS: &[&str] = &[
    "a", "ad", "al", "alla", "alle", "agli", "ai", "all", "che", "chi", "ci", "col", "con", "da",
    "dal", "dalla", "dalle", "dai", "dagli", "degli", "dei", "del", "della", "delle", "dello",
    "di", "e", "ed", "gli", "ha", "i", "il", "in", "la", "le", "lo", "ma", "nei", "nel", "nella",
    "nelle", "non", "o", "per", "si", "su", "sul", "sulla", "tra", "fra", "un", "una", "uno",
    "the", "of", "and",
];

/// A validated search string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// What the client typed (trimmed).
    pub raw: String,
    /// Its stems, in order, without repeats or stopwords.
    pub stems: Vec<String>,
}

impl SearchQuery {
    /// 1-200 characters without control characters (NUL included): anything else is searched as
    /// text.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(FieldError::new("required", "type something to search for"));
        }
        if t.chars().count() > 200 {
            return Err(FieldError::new("length", "at most 200 characters"));
        }
        if t.chars().any(char::is_control) {
            return Err(FieldError::new(
                "format",
                "control characters cannot be searched",
            ));
        }
        let mut seen = HashSet::new();
        let stems = words(t)
            .iter()
            .filter(|w| !STOPWORDS.contains(&w.as_str()))
            .map(|w| stem(w))
            .filter(|s| seen.insert(s.clone()))
            .collect();
        Ok(Self {
            raw: t.to_owned(),
            stems,
        })
    }

    /// The forms one query stem matches: itself as a prefix, and its shorter forms (down to four
    /// letters fewer, at least four) exactly. Snowball stems inflections of one word differently
    /// (`laboratorio` -> `laborator`, `laboratori` -> `labor`); this joins them.
    fn forms(stem: &str) -> (String, Vec<String>) {
        let n = stem.len();
        let shortest = n.saturating_sub(4).max(4);
        let shorter = (shortest..n).map(|k| stem[..k].to_owned()).collect();
        (stem.to_owned(), shorter)
    }

    /// An FTS5 query: every word, each as prefix-or-shorter-form; only quoted `[a-z0-9]` terms.
    pub fn fts_match(&self) -> String {
        self.stems
            .iter()
            .map(|s| {
                let (prefix, shorter) = Self::forms(s);
                let mut alts = vec![format!("\"{prefix}\"*")];
                alts.extend(shorter.iter().map(|x| format!("\"{x}\"")));
                format!("({})", alts.join(" OR "))
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The same query as a PostgreSQL `tsquery` (terms are `[a-z0-9]`, so nothing needs quoting).
    pub fn pg_tsquery(&self) -> String {
        self.stems
            .iter()
            .map(|s| {
                let (prefix, shorter) = Self::forms(s);
                let mut alts = vec![format!("{prefix}:*")];
                alts.extend(shorter);
                format!("({})", alts.join(" | "))
            })
            .collect::<Vec<_>>()
            .join(" & ")
    }
}

/// `record_id IN (the ids of `entity` documents matching q)`, for the collections' `q` filter.
pub fn in_matches(backend: DbBackend, entity: &str, id_col: &str, q: &SearchQuery) -> SimpleExpr {
    if q.stems.is_empty() {
        return Expr::cust("1 = 0");
    }
    match backend {
        DbBackend::Postgres => Expr::cust_with_values(
            format!(
                "{id_col} IN (SELECT record_id FROM search_docs WHERE entity = $1 AND tsv @@ to_tsquery('simple', $2))"
            ),
            [Value::from(entity), Value::from(q.pg_tsquery())],
        ),
        _ => Expr::cust_with_values(
            format!(
                "{id_col} IN (SELECT record_id FROM search_fts WHERE search_fts MATCH ? AND entity = ?)"
            ),
            [Value::from(q.fts_match()), Value::from(entity)],
        ),
    }
}

/// What a record puts in the search index.
#[derive(Debug, Clone, Default)]
pub struct Document {
    /// Name or title (weighted above the body).
    pub title: String,
    /// Texts searched (blank ones are left out); theme names are added.
    pub body: Vec<String>,
    /// Kind (a facet).
    pub kind: Option<String>,
    /// Themes (a facet; their names are searched too).
    pub themes: Vec<legami_domain::ThemeCode>,
    /// Municipality (a filter; its province too).
    pub municipality: Option<String>,
    /// Position, for radius and box filters.
    pub location: Option<legami_domain::Location>,
}

struct Doc {
    slug: String,
    title: String,
    body: String,
    status: Status,
    kind: Option<String>,
    themes: Vec<String>,
    municipality: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
}

async fn theme_names(
    db: &impl ConnectionTrait,
    codes: &[legami_domain::ThemeCode],
) -> StoreResult<Vec<String>> {
    let all = crate::themes::list(db).await?;
    Ok(codes
        .iter()
        .filter_map(|c| {
            all.iter()
                .find(|t| &t.code == c)
                .map(|t| format!("{} {}", t.name_it, t.name_en))
        })
        .collect())
}

async fn prepare(
    db: &impl ConnectionTrait,
    meta: &legami_domain::RecordMeta,
    d: Document,
) -> StoreResult<Doc> {
    let mut body = d.body;
    body.extend(theme_names(db, &d.themes).await?);
    Ok(Doc {
        slug: meta.slug.as_str().to_owned(),
        title: d.title,
        body: body
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
        status: meta.status,
        kind: d.kind,
        themes: d.themes.iter().map(|t| t.as_str().to_owned()).collect(),
        municipality: d.municipality,
        lat: d.location.map(|l| l.lat),
        lon: d.location.map(|l| l.lon),
    })
}

async fn exec(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> StoreResult<()> {
    let backend = db.get_database_backend();
    let sql = if backend == DbBackend::Postgres {
        let mut n = 0;
        sql.chars()
            .map(|c| {
                if c == '?' {
                    n += 1;
                    format!("${n}")
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        sql.to_owned()
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// Removes a record's search document (and, on SQLite, its full-text row).
async fn remove_doc(
    db: &impl ConnectionTrait,
    entity: &str,
    id: &str,
    pg: bool,
) -> StoreResult<()> {
    if !pg {
        // By rowid: the FTS5 table's own columns are not indexed.
        exec(
            db,
            "DELETE FROM search_fts WHERE rowid = (SELECT fts_rowid FROM search_docs WHERE entity = ? AND record_id = ?)",
            vec![entity.into(), id.into()],
        )
        .await?;
    }
    exec(
        db,
        "DELETE FROM search_docs WHERE entity = ? AND record_id = ?",
        vec![entity.into(), id.into()],
    )
    .await
}

/// Removes the search document of a record (deleted in this transaction).
pub(crate) async fn remove(db: &impl ConnectionTrait, entity: &str, id: &str) -> StoreResult<()> {
    let pg = db.get_database_backend() == DbBackend::Postgres;
    remove_doc(db, entity, id, pg).await
}

/// Writes the search document of a record, replacing the one it had unless it is `new` in this
/// transaction.
pub(crate) async fn index(
    db: &impl ConnectionTrait,
    entity: &str,
    meta: &legami_domain::RecordMeta,
    doc: Document,
    new: bool,
) -> StoreResult<()> {
    let id = &meta.id.to_string();
    let pg = db.get_database_backend() == DbBackend::Postgres;
    if !new {
        remove_doc(db, entity, id, pg).await?;
    }
    let doc = prepare(db, meta, doc).await?;
    let province = match &doc.municipality {
        Some(m) => crate::municipalities::get(
            db,
            &legami_domain::IstatCode::parse(m).map_err(|e| StoreError::Db(e.message))?,
        )
        .await
        .ok()
        .map(|m| m.province_abbr),
        None => None,
    };
    exec(
        db,
        "INSERT INTO search_docs (entity, record_id, slug, title, body, status, kind, themes, municipality, province, lat, lon) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            entity.into(),
            id.into(),
            doc.slug.into(),
            doc.title.clone().into(),
            doc.body.clone().into(),
            doc.status.as_str().into(),
            doc.kind.into(),
            format!("|{}|", doc.themes.join("|")).into(),
            doc.municipality.into(),
            province.into(),
            doc.lat.into(),
            doc.lon.into(),
        ],
    )
    .await?;
    if pg {
        exec(
            db,
            "UPDATE search_docs SET tsv = setweight(to_tsvector('italian', unaccent(title)), 'A') || setweight(to_tsvector('italian', unaccent(body)), 'B') WHERE entity = ? AND record_id = ?",
            vec![entity.into(), id.into()],
        )
        .await?;
    } else {
        exec(
            db,
            "INSERT INTO search_fts (entity, record_id, title, body) VALUES (?, ?, ?, ?)",
            vec![
                entity.into(),
                id.into(),
                terms(&doc.title).into(),
                terms(&doc.body).into(),
            ],
        )
        .await?;
        exec(
            db,
            "UPDATE search_docs SET fts_rowid = last_insert_rowid() WHERE entity = ? AND record_id = ?",
            vec![entity.into(), id.into()],
        )
        .await?;
    }
    Ok(())
}

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

/// One search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Record type.
    pub entity: String,
    /// Record id.
    pub id: String,
    /// Slug.
    pub slug: String,
    /// Name or title.
    pub title: String,
    /// Indexed text.
    pub body: String,
    /// Relevance, higher is better.
    pub score: f64,
    /// Kind.
    pub kind: Option<String>,
    /// Themes.
    pub themes: Vec<String>,
    /// Municipality.
    pub municipality: Option<String>,
    /// Province.
    pub province: Option<String>,
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
    /// Distance from `near`, km.
    pub distance_km: Option<f64>,
}

/// Every hit, best first (ties by type and id), with the filters applied.
pub async fn search(
    db: &impl ConnectionTrait,
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
            "search_fts JOIN search_docs d ON d.entity = search_fts.entity AND d.record_id = search_fts.record_id",
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
        "SELECT d.entity, d.record_id, d.slug, d.title, d.body, CAST({score} AS DOUBLE PRECISION), d.kind, d.themes, d.municipality, d.province, d.lat, d.lon FROM {from} WHERE {}",
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
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, vals))
        .await?;
    let mut hits = Vec::with_capacity(rows.len());
    for r in rows {
        let lat: Option<f64> = r.try_get_by_index(10)?;
        let lon: Option<f64> = r.try_get_by_index(11)?;
        let distance_km = match (f.near, lat, lon) {
            (Some(n), Some(la), Some(lo)) => {
                let d = haversine_km(n.lat, n.lon, la, lo);
                if d > n.radius_km {
                    continue;
                }
                Some(d)
            }
            (Some(_), _, _) => continue,
            _ => None,
        };
        let themes: String = r.try_get_by_index(7)?;
        hits.push(Hit {
            entity: r.try_get_by_index(0)?,
            id: r.try_get_by_index(1)?,
            slug: r.try_get_by_index(2)?,
            title: r.try_get_by_index(3)?,
            body: r.try_get_by_index(4)?,
            score: r.try_get_by_index(5)?,
            kind: r.try_get_by_index(6)?,
            themes: themes
                .split('|')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            municipality: r.try_get_by_index(8)?,
            province: r.try_get_by_index(9)?,
            lat,
            lon,
            distance_km,
        });
    }
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.entity.cmp(&b.entity))
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(hits)
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
            .entry(h.entity.clone())
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
