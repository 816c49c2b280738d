//! `legami seed synthetic --scale N`: a large, realistic and deterministic registry for
//! benchmarks and load tests.
//!
//! At scale 1: 20,000 organisations, 5,000 labs, 2,000 projects (about 6 partners each), 400
//! networks and 1,000,000 metric rows (monthly periods 2019-2026 over every indicator, about
//! 10 % of them targets). Places are municipalities of Lombardy drawn in proportion to their ISTAT
//! population; positions lie around the municipality inside Lombardy; names are Italian and
//! descriptions 40-80 words with accents. The same scale always gives the same records (one
//! seeded ChaCha8 generator, `rand_chacha`); ids and timestamps are assigned by the store as for
//! any write. Records go through the same persistence functions as the API (validation, search
//! documents, change feed, audit log as `system`, metric rollups), grouped in large
//! transactions so that scale 1 loads in well under a minute on SQLite.

use legami_domain::{IndicatorUnit, IstatCode, OrganisationKind, ThemeCode};
use legami_persistence::DatabaseConnection;
use legami_persistence::audit::{Actor, Audit};
use rand::distributions::WeightedIndex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use std::time::Instant;

mod generate;
mod metrics;
mod words;

use generate::*;
use metrics::*;
use words::*;
/// Records per unit of scale.
const ORGS: f64 = 20_000.0;
const LABS: f64 = 5_000.0;
const PROJECTS: f64 = 2_000.0;
const NETWORKS: f64 = 400.0;
const METRIC_ROWS: f64 = 1_000_000.0;
/// Records written per transaction (each record is its own savepoint inside it).
const CHUNK: usize = 500;

/// How many records a scale gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Organisations.
    pub organisations: usize,
    /// Labs.
    pub labs: usize,
    /// Projects.
    pub projects: usize,
    /// Networks.
    pub networks: usize,
    /// Metric rows.
    pub metrics: usize,
}

impl Sizes {
    /// The sizes of `scale` (at least a handful of each, so tiny scales still exercise
    /// everything).
    pub fn of(scale: f64) -> Self {
        let n = |per: f64, min: usize| ((per * scale).round() as usize).max(min);
        Self {
            organisations: n(ORGS, 20),
            labs: n(LABS, 5),
            projects: n(PROJECTS, 3),
            networks: n(NETWORKS, 2),
            metrics: n(METRIC_ROWS, 300),
        }
    }
}

/// A municipality of Lombardy with its weight and an approximate centre.
struct Place {
    code: IstatCode,
    name: String,
    lat: f64,
    lon: f64,
}

/// Loads a synthetic registry of `scale` into `db`; prints progress to standard error and
/// returns the sizes loaded. Refuses a database that already holds a synthetic registry.
pub async fn seed(db: &DatabaseConnection, scale: f64) -> anyhow::Result<Sizes> {
    if !(scale > 0.0 && scale <= 20.0) {
        anyhow::bail!("--scale must be above 0 and at most 20");
    }
    let sizes = Sizes::of(scale);
    let existing = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM organisations WHERE slug LIKE '%-syn-1'",
        ))
        .await?
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0);
    if existing > 0 {
        anyhow::bail!("this database already holds a synthetic registry; use a new database");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x4c45_4741_4d49 ^ scale.to_bits());
    let places = places(db).await?;
    let weights = WeightedIndex::new(places.iter().map(|p| p.1))?;
    let places: Vec<Place> = places.into_iter().map(|p| p.0).collect();
    let themes: Vec<ThemeCode> = legami_persistence::themes::list(db)
        .await?
        .into_iter()
        .map(|t| t.code)
        .collect();
    let indicators: Vec<(ThemeCode, IndicatorUnit)> = legami_persistence::indicators::list(db)
        .await?
        .into_iter()
        .map(|i| (i.code, i.unit))
        .collect();
    if places.is_empty() || themes.is_empty() || indicators.is_empty() {
        anyhow::bail!("the reference data (municipalities, themes, indicators) is missing");
    }
    let data = Gen {
        places,
        weights,
        themes,
    };
    let actor = Actor::system();

    let started = Instant::now();
    let mut orgs = Vec::with_capacity(sizes.organisations);
    let mut foundations = Vec::new();
    for chunk in chunks(sizes.organisations) {
        let txn = db.begin().await?;
        for i in chunk {
            let f = data.organisation(&mut rng, i);
            let foundation = f.kind == OrganisationKind::Foundation;
            let o = legami_persistence::record::create::<legami_domain::Organisation, _>(
                &txn,
                f,
                &Audit {
                    actor: &actor,
                    view: &crate::view::loader_view::<legami_domain::Organisation>,
                },
            )
            .await?;
            if foundation {
                foundations.push(o.meta.id);
            }
            orgs.push(o.meta.id);
        }
        txn.commit().await?;
    }
    if foundations.is_empty() {
        foundations.push(orgs[0]);
    }
    eprintln!(
        "synthetic: {} organisations ({:.1} s)",
        orgs.len(),
        started.elapsed().as_secs_f64()
    );

    let mut labs = Vec::with_capacity(sizes.labs);
    for chunk in chunks(sizes.labs) {
        let txn = db.begin().await?;
        for i in chunk {
            let f = data.lab(&mut rng, i, &orgs)?;
            let l = legami_persistence::record::create::<legami_domain::Lab, _>(
                &txn,
                f,
                &Audit {
                    actor: &actor,
                    view: &crate::view::loader_view::<legami_domain::Lab>,
                },
            )
            .await?;
            labs.push(l.meta.id);
        }
        txn.commit().await?;
    }
    eprintln!(
        "synthetic: {} labs ({:.1} s)",
        labs.len(),
        started.elapsed().as_secs_f64()
    );

    for chunk in chunks(sizes.networks) {
        let txn = db.begin().await?;
        for i in chunk {
            let f = data.network(&mut rng, i, &orgs, &labs);
            legami_persistence::record::create::<legami_domain::Network, _>(
                &txn,
                f,
                &Audit {
                    actor: &actor,
                    view: &crate::view::loader_view::<legami_domain::Network>,
                },
            )
            .await?;
        }
        txn.commit().await?;
    }
    eprintln!(
        "synthetic: {} networks ({:.1} s)",
        sizes.networks,
        started.elapsed().as_secs_f64()
    );

    let per_project = sizes.metrics / sizes.projects;
    let mut extra = sizes.metrics % sizes.projects;
    let mut rows = 0usize;
    for chunk in chunks(sizes.projects) {
        let txn = db.begin().await?;
        for i in chunk {
            let f = data.project(&mut rng, i, &orgs, &foundations, &labs);
            let (start, end, lab_ids, municipality) = (
                f.start_date,
                f.end_date,
                f.lab_ids.clone(),
                f.municipalities.first().cloned(),
            );
            let p = legami_persistence::record::create::<legami_domain::Project, _>(
                &txn,
                f,
                &Audit {
                    actor: &actor,
                    view: &crate::view::loader_view::<legami_domain::Project>,
                },
            )
            .await?;
            let quota = per_project + usize::from(extra > 0);
            extra = extra.saturating_sub(1);
            let figures = metrics(
                &mut rng,
                quota,
                &indicators,
                (start, end),
                &lab_ids,
                municipality,
            );
            for batch in figures.chunks(legami_persistence::metrics::MAX_BATCH) {
                legami_persistence::metrics::insert_batch(
                    &txn,
                    p.meta.id,
                    batch.to_vec(),
                    &lab_ids,
                    &actor,
                )
                .await?;
            }
            rows += figures.len();
        }
        txn.commit().await?;
    }
    eprintln!(
        "synthetic: {} projects, {rows} metric rows ({:.1} s)",
        sizes.projects,
        started.elapsed().as_secs_f64()
    );
    // Planner statistics for the new data: without them PostgreSQL takes the freshly loaded
    // tables for nearly empty (it joined every project's metrics and sorted them for each page
    // of an export, 0.9 s a page instead of 2 ms) until autovacuum gets round to them. On
    // PostgreSQL a VACUUM too: until the visibility map covers the new rows, an index-only scan
    // reads every row's heap page as well (a filtered count: 0.65 -> 0.27 ms once vacuumed).
    let statement = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "VACUUM (ANALYZE)",
        _ => "ANALYZE",
    };
    db.execute_unprepared(statement).await?;
    eprintln!(
        "synthetic: statistics updated ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(Sizes {
        metrics: rows,
        ..sizes
    })
}

fn chunks(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..n).step_by(CHUNK).map(move |s| s..(s + CHUNK).min(n))
}

/// Municipalities of Lombardy with their population (the sampling weight).
async fn places(db: &DatabaseConnection) -> anyhow::Result<Vec<(Place, u64)>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT istat_code, name, province_abbr, CAST(COALESCE(population, 0) AS BIGINT) \
             FROM municipalities WHERE region_name = 'Lombardia' ORDER BY istat_code",
        ))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let code: String = r.try_get_by_index(0)?;
        let name: String = r.try_get_by_index(1)?;
        let province: String = r.try_get_by_index(2)?;
        let population: i64 = r.try_get_by_index(3)?;
        let Some(&(_, lat, lon)) = CAPITALS.iter().find(|c| c.0 == province) else {
            continue;
        };
        // A stable offset from the provincial capital for each municipality (none for the
        // capital itself), seeded by the ISTAT code.
        let mut local = ChaCha8Rng::seed_from_u64(code.parse::<u64>().unwrap_or(0));
        let (dlat, dlon) = if name_is_capital(&name) {
            (0.0, 0.0)
        } else {
            (local.gen_range(-0.22..0.22), local.gen_range(-0.28..0.28))
        };
        let place = Place {
            code: IstatCode::parse(&code).map_err(|e| anyhow::anyhow!(e.message))?,
            name,
            lat: (lat + dlat).clamp(LAT.0, LAT.1),
            lon: (lon + dlon).clamp(LON.0, LON.1),
        };
        out.push((place, u64::try_from(population.max(1)).unwrap_or(1)));
    }
    Ok(out)
}

fn name_is_capital(name: &str) -> bool {
    matches!(
        name,
        "Milano"
            | "Bergamo"
            | "Brescia"
            | "Como"
            | "Cremona"
            | "Lecco"
            | "Lodi"
            | "Mantova"
            | "Monza"
            | "Pavia"
            | "Sondrio"
            | "Varese"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use legami_domain::MetricKind;

    #[test]
    fn sizes_follow_the_scale() {
        let one = Sizes::of(1.0);
        assert_eq!(one.organisations, 20_000);
        assert_eq!(one.labs, 5_000);
        assert_eq!(one.projects, 2_000);
        assert_eq!(one.metrics, 1_000_000);
        assert_eq!(Sizes::of(0.01).projects, 20);
        assert_eq!(Sizes::of(0.0001).projects, 3);
    }

    #[test]
    fn metrics_fill_the_quota_inside_the_span_deterministically() {
        let ind = vec![
            (
                ThemeCode::parse("volunteers").unwrap(),
                IndicatorUnit::People,
            ),
            (ThemeCode::parse("hours").unwrap(), IndicatorUnit::Hours),
            (
                ThemeCode::parse("families").unwrap(),
                IndicatorUnit::Households,
            ),
            (ThemeCode::parse("events").unwrap(), IndicatorUnit::Events),
        ];
        let s = NaiveDate::from_ymd_opt(2021, 3, 1);
        let e = NaiveDate::from_ymd_opt(2022, 2, 28);
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            metrics(&mut rng, 500, &ind, (s, e), &[], None)
        };
        let a = run(7);
        assert_eq!(a.len(), 500);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        assert!(
            a.iter()
                .all(|m| m.period_start >= s.unwrap() && m.period_end <= e.unwrap())
        );
        let targets = a.iter().filter(|m| m.kind == MetricKind::Target).count();
        assert!((20..=90).contains(&targets), "{targets} targets");
    }
}
