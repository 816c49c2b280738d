//! Rate limits and failed-login throttles shared by every instance (PostgreSQL only).
//!
//! The tables are `UNLOGGED` (migration `m20261208_000015_shared_limits`). Times are the
//! database's (`statement_timestamp()`), so instances whose clocks differ still count alike.

use crate::StoreResult;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

/// `cells` requests at once against a GCRA limit of `per_window` requests per `window_secs` (a
/// burst of `per_window`, then one every `window_secs / per_window`), counted under `key`, after
/// giving back `refund` cells taken earlier and not used, in one statement. `Ok(ahead)`: allowed,
/// and the caller's bucket is `ahead` seconds from full; `Err(wait)`: refused (nothing taken,
/// nothing given back), one more request fits in `wait` seconds.
pub async fn take(
    db: &impl ConnectionTrait,
    key: &str,
    per_window: u32,
    window_secs: f64,
    cells: u32,
    refund: u32,
) -> StoreResult<Result<f64, f64>> {
    let interval = window_secs / f64::from(per_window.max(1));
    let cost = interval * f64::from(cells.max(1));
    // EXCLUDED.tat - $2 is now; a stored arrival time in the past counts from now.
    let sql = "INSERT INTO rate_limits AS r (key, tat) \
               VALUES ($1, extract(epoch FROM statement_timestamp()) + $2) \
               ON CONFLICT (key) DO UPDATE \
               SET tat = GREATEST(r.tat - $4, EXCLUDED.tat - $2) + $2 \
               WHERE GREATEST(r.tat - $4, EXCLUDED.tat - $2) + $2 - (EXCLUDED.tat - $2) <= $3 \
               RETURNING tat - extract(epoch FROM statement_timestamp()) AS ahead";
    let vals: Vec<Value> = vec![
        key.into(),
        cost.into(),
        window_secs.into(),
        (interval * f64::from(refund)).into(),
    ];
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            vals,
        ))
        .await?;
    if let Some(row) = row {
        return Ok(Ok(row.try_get_by_index::<f64>(0)?));
    }
    // Refused (the rare case): how long until one more request fits.
    let sql = "SELECT tat - extract(epoch FROM statement_timestamp()) FROM rate_limits \
               WHERE key = $1";
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [key.into()],
        ))
        .await?;
    let ahead = match row {
        Some(r) => r.try_get_by_index::<f64>(0)?,
        None => 0.0,
    };
    Ok(Err((ahead + interval - window_secs).max(0.0)))
}

/// Forgets the callers whose buckets are full again.
pub async fn prune_rates(db: &impl ConnectionTrait) -> StoreResult<u64> {
    let sql = "DELETE FROM rate_limits WHERE tat <= extract(epoch FROM statement_timestamp())";
    Ok(db
        .execute_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .rows_affected())
}

/// The `VALUES` list `($first), ($first+1), ...` of `n` keys.
fn key_list(n: usize, first: usize) -> String {
    (0..n)
        .map(|i| format!("(${}::text)", first + i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The seconds to wait before the first of `keys` (each with its limit of failures within
/// `window_secs`) is below its limit again; `None` when none of them is at it.
pub async fn throttled(
    db: &impl ConnectionTrait,
    keys: &[(String, u32)],
    window_secs: f64,
) -> StoreResult<Option<f64>> {
    if keys.is_empty() {
        return Ok(None);
    }
    let list = (0..keys.len())
        .map(|i| format!("(${}::text, ${}::int8)", 2 + 2 * i, 3 + 2 * i))
        .collect::<Vec<_>>()
        .join(", ");
    // For each key at its limit: the age of its limit-th newest failure within the window.
    let sql = format!(
        "SELECT max($1 - s.age) FROM (VALUES {list}) AS k(key, lim) CROSS JOIN LATERAL ( \
           SELECT count(*) AS n, \
             COALESCE(extract(epoch FROM statement_timestamp() - min(w.t)), 0)::float8 AS age \
           FROM (SELECT t FROM login_failures f, unnest(f.times) t WHERE f.key = k.key \
                 AND t > statement_timestamp() - make_interval(secs => $1) \
                 ORDER BY t DESC LIMIT k.lim) w) s \
         WHERE s.n >= k.lim"
    );
    let mut vals: Vec<Value> = vec![window_secs.into()];
    for (key, limit) in keys {
        vals.push(key.clone().into());
        vals.push(i64::from(*limit).into());
    }
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            vals,
        ))
        .await?;
    Ok(match row {
        Some(r) => r.try_get_by_index::<Option<f64>>(0)?,
        None => None,
    })
}

/// Records one failure, now, against each of `keys` (distinct), keeping at most `most` within
/// `window_secs` for each.
pub async fn fail(
    db: &impl ConnectionTrait,
    keys: &[String],
    most: u32,
    window_secs: f64,
) -> StoreResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO login_failures AS f (key, times) \
         SELECT key, ARRAY[statement_timestamp()] FROM (VALUES {}) AS k(key) \
         ON CONFLICT (key) DO UPDATE SET times = ARRAY( \
           SELECT t FROM unnest(f.times || statement_timestamp()) t \
           WHERE t > statement_timestamp() - make_interval(secs => $1) \
           ORDER BY t DESC LIMIT $2)",
        key_list(keys.len(), 3)
    );
    let mut vals: Vec<Value> = vec![window_secs.into(), i64::from(most).into()];
    vals.extend(keys.iter().map(|k| Value::from(k.clone())));
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        vals,
    ))
    .await?;
    Ok(())
}

/// Forgets the failures of `key` (after a successful login).
pub async fn clear(db: &impl ConnectionTrait, key: &str) -> StoreResult<()> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM login_failures WHERE key = $1",
        [key.into()],
    ))
    .await?;
    Ok(())
}

/// Forgets the keys whose newest failure is older than `window_secs`.
pub async fn prune_failures(db: &impl ConnectionTrait, window_secs: f64) -> StoreResult<u64> {
    Ok(db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "DELETE FROM login_failures \
             WHERE times[1] IS NULL OR times[1] <= statement_timestamp() - make_interval(secs => $1)",
            [window_secs.into()],
        ))
        .await?
        .rows_affected())
}
