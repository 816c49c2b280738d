//! SQLite reads in the calling thread. Through sqlx every statement is a hand-off to the worker
//! thread of a pooled connection and back, plus a ping when the connection returns to the pool:
//! on a two-core machine those thread switches cost several times what SQLite spends on a
//! record read. A read made on the pool itself (never inside a transaction) therefore runs on a
//! connection this thread keeps open to the same file (read-only, WAL: it sees every committed
//! write), with the same SQL and the same value encodings as sqlx. Anything it cannot run
//! exactly as sqlx would (an in-memory database, a value type it does not bind, any SQLite
//! error) is left to the pool, which then runs it as before.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::types::{Value as Sql, ValueRef};
use rusqlite::{Connection, OpenFlags};
use sea_orm::sea_query::{ColumnType, Value};
use sea_orm::{DatabaseConnection, DbBackend};
use serde_json::{Map, Value as Json};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Connections a thread keeps (one per database file it has read).
const PER_THREAD: usize = 8;

/// The page cache of each such connection, KiB.
const READ_CACHE_KIB: i64 = 8 * 1024;

/// Statements run in the calling thread since start (the `legami_db_inline_reads_total` metric).
static READS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Whether reads may run in the calling thread (`LEGAMI_SQLITE_INLINE_READS`, on by default).
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns reads in the calling thread on or off for the process.
pub fn enable(on: bool) {
    ENABLED.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// How many statements have been run in the calling thread since start.
pub fn reads() -> u64 {
    READS.load(std::sync::atomic::Ordering::Relaxed)
}

/// How many statements have been run in this thread (exact for one test's own reads).
pub fn reads_in_this_thread() -> u64 {
    HERE.with(std::cell::Cell::get)
}

thread_local! {
    static HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static CONNECTIONS: RefCell<Vec<(PathBuf, Connection)>> = const { RefCell::new(Vec::new()) };
}

/// A row as JSON: each column as serde reads the model's field type from it.
pub(crate) type Row = Map<String, Json>;

/// The rows of `sql` with `values` bound, each column typed by `types` (name, type) or else by
/// its storage class; `None` when the pool should run it instead.
pub(crate) fn query(
    db: &DatabaseConnection,
    sql: &str,
    values: &[Value],
    types: &[(&str, ColumnType)],
) -> Option<Vec<Row>> {
    with_connection(db, values, |conn, params| run(conn, sql, params, types))
}

/// The rows of `sql` with `values` bound, each a list of its columns by their storage class
/// (no names: for statements of many rows, such as every match of a search).
pub(crate) fn query_values(
    db: &DatabaseConnection,
    sql: &str,
    values: &[Value],
) -> Option<Vec<Vec<Json>>> {
    with_connection(db, values, |conn, params| {
        let mut stmt = conn.prepare_cached(sql)?;
        let n = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let values = (0..n)
                .map(|i| {
                    let v = row.get_ref(i)?;
                    decode(v, None).ok_or(rusqlite::Error::InvalidColumnType(
                        i,
                        String::new(),
                        v.data_type(),
                    ))
                })
                .collect::<rusqlite::Result<_>>()?;
            out.push(values);
        }
        Ok(out)
    })
}

/// Runs `f` on this thread's connection to `db`'s file with `values` bound as sqlx would;
/// `None` when the pool should run the statement instead.
fn with_connection<T>(
    db: &DatabaseConnection,
    values: &[Value],
    f: impl FnOnce(&Connection, &[Sql]) -> rusqlite::Result<T>,
) -> Option<T> {
    if db.get_database_backend() != DbBackend::Sqlite
        || !ENABLED.load(std::sync::atomic::Ordering::Relaxed)
    {
        return None;
    }
    let pool = db.get_sqlite_connection_pool();
    let path = pool.connect_options().get_filename().to_path_buf();
    if !path.is_file() {
        return None;
    }
    let params: Vec<Sql> = values.iter().map(bind).collect::<Option<_>>()?;
    CONNECTIONS.with(|cell| {
        let mut conns = cell.borrow_mut();
        let at = match conns.iter().position(|(p, _)| *p == path) {
            Some(i) => i,
            None => {
                if conns.len() >= PER_THREAD {
                    conns.remove(0);
                }
                conns.push((path.clone(), open(&path).ok()?));
                conns.len() - 1
            }
        };
        let out = f(&conns[at].1, &params).ok()?;
        READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HERE.with(|n| n.set(n.get() + 1));
        Some(out)
    })
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "query_only", true)?;
    // A search reads a few hundred scattered rows per answer: with SQLite's default 2 MiB page
    // cache those are reads from the kernel's cache each time; 8 MiB holds the hot rows of a
    // scale-1 registry (measured: organisations matching a word 216 -> 297 req/s, cache off; no
    // gain past 8 MiB). There is one such connection per worker thread.
    conn.pragma_update(None, "cache_size", -READ_CACHE_KIB)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn run(
    conn: &Connection,
    sql: &str,
    params: &[Sql],
    types: &[(&str, ColumnType)],
) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let names: Vec<String> = stmt
        .column_names()
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    let typed: Vec<Option<&ColumnType>> = names
        .iter()
        .map(|n| types.iter().find(|(c, _)| c == n).map(|(_, t)| t))
        .collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Map::new();
        for (i, name) in names.iter().enumerate() {
            let v = decode(row.get_ref(i)?, typed[i]).ok_or(rusqlite::Error::InvalidColumnType(
                i,
                name.clone(),
                row.get_ref(i)?.data_type(),
            ))?;
            values.insert(name.clone(), v);
        }
        out.push(values);
    }
    Ok(out)
}

/// A value bound as sqlx binds it for SQLite (`None`: a type left to sqlx).
fn bind(v: &Value) -> Option<Sql> {
    fn or_null<T>(v: &Option<T>, f: impl Fn(&T) -> Sql) -> Sql {
        v.as_ref().map_or(Sql::Null, f)
    }
    Some(match v {
        Value::Bool(b) => or_null(b, |b| Sql::Integer(i64::from(*b))),
        Value::TinyInt(n) => or_null(n, |n| Sql::Integer(i64::from(*n))),
        Value::SmallInt(n) => or_null(n, |n| Sql::Integer(i64::from(*n))),
        Value::Int(n) => or_null(n, |n| Sql::Integer(i64::from(*n))),
        Value::BigInt(n) => or_null(n, |n| Sql::Integer(*n)),
        Value::TinyUnsigned(n) => or_null(n, |n| Sql::Integer(i64::from(*n))),
        Value::SmallUnsigned(n) => or_null(n, |n| Sql::Integer(i64::from(*n))),
        Value::Unsigned(n) => or_null(n, |n| Sql::Integer(i64::from(*n))),
        // A page's `LIMIT`: an integer as sqlx binds it (one past `i64` is left to the pool).
        Value::BigUnsigned(n) => match n {
            Some(n) => Sql::Integer(i64::try_from(*n).ok()?),
            None => Sql::Null,
        },
        Value::Float(n) => or_null(n, |n| Sql::Real(f64::from(*n))),
        Value::Double(n) => or_null(n, |n| Sql::Real(*n)),
        Value::String(s) => or_null(s, |s| Sql::Text(s.clone())),
        Value::Json(j) => or_null(j, |j| Sql::Text(j.to_string())),
        Value::ChronoDate(d) => or_null(d, |d| Sql::Text(d.format("%F").to_string())),
        Value::ChronoDateTime(t) => or_null(t, |t| Sql::Text(t.format("%F %T%.f").to_string())),
        Value::ChronoDateTimeUtc(t) => or_null(t, |t| {
            Sql::Text(t.to_rfc3339_opts(SecondsFormat::AutoSi, false))
        }),
        _ => return None,
    })
}

/// A column as JSON that deserialises into the model's field type as sqlx would decode it.
fn decode(v: ValueRef<'_>, ty: Option<&ColumnType>) -> Option<Json> {
    use ColumnType as T;
    let text = || match v {
        ValueRef::Text(t) => std::str::from_utf8(t).ok(),
        _ => None,
    };
    if matches!(v, ValueRef::Null) {
        return Some(Json::Null);
    }
    Some(match (ty, v) {
        (Some(T::Boolean), ValueRef::Integer(i)) => Json::Bool(i != 0),
        (
            Some(T::TinyInteger | T::SmallInteger | T::Integer | T::BigInteger) | None,
            ValueRef::Integer(i),
        ) => Json::from(i),
        (Some(T::Double | T::Float) | None, ValueRef::Real(r)) => Json::from(r),
        #[allow(clippy::cast_precision_loss)]
        (Some(T::Double | T::Float), ValueRef::Integer(i)) => Json::from(i as f64),
        (Some(T::TimestampWithTimeZone | T::Timestamp), ValueRef::Text(_)) => {
            Json::String(timestamp(text()?)?.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        }
        (Some(T::Date), ValueRef::Text(_)) => {
            Json::String(NaiveDate::parse_from_str(text()?, "%F").ok()?.to_string())
        }
        (Some(T::Json | T::JsonBinary), ValueRef::Text(_)) => serde_json::from_str(text()?).ok()?,
        (Some(T::Char(_) | T::String(_) | T::Text) | None, ValueRef::Text(_)) => {
            Json::String(text()?.to_owned())
        }
        _ => return None,
    })
}

/// A stored timestamp, as sqlx reads one: RFC 3339, else SQLite's `YYYY-MM-DD HH:MM:SS[.f]`.
fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%F %T%.f", "%FT%T%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_as_sqlx_writes_them() {
        let t = DateTime::parse_from_rfc3339("2026-12-03T10:10:04.022142+00:00")
            .unwrap()
            .with_timezone(&Utc);
        let Some(Sql::Text(s)) = bind(&Value::ChronoDateTimeUtc(Some(t))) else {
            panic!("bound as text");
        };
        assert_eq!(s, "2026-12-03T10:10:04.022142+00:00");
        assert_eq!(timestamp(&s), Some(t));
        assert_eq!(
            timestamp("2026-12-03 10:10:04"),
            Some(t.with_nanosecond_zero())
        );
    }

    trait Whole {
        fn with_nanosecond_zero(self) -> Self;
    }

    impl Whole for DateTime<Utc> {
        fn with_nanosecond_zero(self) -> Self {
            use chrono::Timelike;
            self.with_nanosecond(0).unwrap_or(self)
        }
    }

    #[test]
    fn values_it_cannot_bind_exactly_are_left_to_sqlx() {
        assert!(bind(&Value::Uuid(Some(uuid::Uuid::nil()))).is_none());
        assert_eq!(bind(&Value::Bool(Some(true))), Some(Sql::Integer(1)));
        assert_eq!(bind(&Value::String(None)), Some(Sql::Null));
    }
}
