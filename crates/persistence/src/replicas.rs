//! Streaming replicas of PostgreSQL that serve reads: how far behind the primary they are,
//! measured in WAL positions (their pools: [`crate::connect_replica`]).

use crate::{StoreError, StoreResult};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// A WAL position (`16/B374D848`) as a number.
fn lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

async fn position(db: &DatabaseConnection, sql: &str) -> StoreResult<Option<u64>> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?;
    let text: Option<String> = match row {
        Some(r) => r.try_get_by_index(0)?,
        None => None,
    };
    match text {
        None => Ok(None),
        Some(t) => lsn(&t)
            .map(Some)
            .ok_or_else(|| StoreError::Db(format!("not a WAL position: {t}"))),
    }
}

/// The primary's current WAL position.
pub async fn written(primary: &DatabaseConnection) -> StoreResult<u64> {
    position(primary, "SELECT pg_current_wal_lsn()::text")
        .await?
        .ok_or_else(|| StoreError::Db("no WAL position".into()))
}

/// How far a replica has replayed the primary's WAL; `None` when it is not a replica.
pub async fn replayed(replica: &DatabaseConnection) -> StoreResult<Option<u64>> {
    position(replica, "SELECT pg_last_wal_replay_lsn()::text").await
}

#[cfg(test)]
mod tests {
    #[test]
    fn wal_positions_read_as_numbers() {
        assert_eq!(super::lsn("0/0"), Some(0));
        assert_eq!(super::lsn("16/B374D848"), Some((0x16 << 32) | 0xB374_D848));
        assert_eq!(super::lsn("x"), None);
    }
}
