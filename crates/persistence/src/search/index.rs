//! Search documents, written in the transaction of the record they describe.

use super::terms;
use crate::error::{StoreError, StoreResult};
use legami_domain::Status;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

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
