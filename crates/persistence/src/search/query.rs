//! Search strings: Italian words folded and stemmed, and the queries both backends run.

use legami_domain::FieldError;
use rust_stemmers::{Algorithm, Stemmer};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{DbBackend, Value};
use std::collections::HashSet;

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

pub(super) fn terms(text: &str) -> String {
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

/// The records of type `R` whose search documents match `q` (the collections' `q` filter).
pub fn matching<R: crate::record::Record>(backend: DbBackend, q: &SearchQuery) -> SimpleExpr {
    in_matches(backend, R::ENTITY, &format!("{}.id", R::TABLE), q)
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
                "{id_col} IN (SELECT d.record_id FROM search_fts JOIN search_docs d ON d.fts_rowid = search_fts.rowid WHERE search_fts MATCH ? AND d.entity = ?)"
            ),
            [Value::from(q.fts_match()), Value::from(entity)],
        ),
    }
}
