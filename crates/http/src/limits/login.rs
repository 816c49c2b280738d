//! Throttling of failed logins, per account or client and address, and per address.

use crate::error::ApiError;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a failed login is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleScope {
    /// One account (or API client) tried from one address: `max` failures.
    Account,
    /// One address, whatever it tries: `4 × max` failures.
    Address,
}

/// A throttle key: a scope and a fixed-size digest of what it names, so an e-mail of any length
/// costs the same 16 bytes and nothing a client typed is kept in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThrottleKey([u8; 16], bool);

impl ThrottleKey {
    /// The key of `parts` (an account or client and an address, or an address alone).
    pub fn new(scope: ThrottleScope, parts: &[&str]) -> Self {
        let mut h = Sha256::new();
        h.update([scope as u8]);
        for p in parts {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p.as_bytes());
        }
        let digest = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        Self(out, scope == ThrottleScope::Address)
    }
}

/// Throttles failed logins: after `max` failures within `window` for one account or client from
/// one address, or `4 × max` for one address, further attempts are `429` until the oldest
/// failure ages out. The account count is per address, so failures from one address never lock
/// the account's owner out elsewhere. Only failures count (a rate limiter would count every
/// attempt), and a success clears the account's record. Memory is bounded: keys are 16-byte
/// digests, each keeps at most its limit of timestamps, [`LoginThrottle::prune`] (on a timer)
/// forgets aged-out keys, and past `cap` keys the stalest are forgotten first.
pub struct LoginThrottle {
    max: usize,
    window: Duration,
    cap: usize,
    failures: Mutex<HashMap<ThrottleKey, std::collections::VecDeque<Instant>>>,
}

/// How many keys the throttle remembers at most.
pub const THROTTLE_KEYS: usize = 100_000;

impl LoginThrottle {
    /// A throttle allowing `max` failures per account within `window` (0 turns it off).
    pub fn new(max: u32, window: Duration) -> Self {
        Self::with_cap(max, window, THROTTLE_KEYS)
    }

    /// The same with another bound on the keys kept (at least 1).
    pub fn with_cap(max: u32, window: Duration, cap: usize) -> Self {
        Self {
            max: max as usize,
            window,
            cap: cap.max(1),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn limit_for(&self, key: &ThrottleKey) -> usize {
        if key.1 { self.max * 4 } else { self.max }
    }

    /// How many keys are remembered now.
    pub fn len(&self) -> usize {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `429` if any of `keys` has too many recent failures.
    pub fn check(&self, keys: &[ThrottleKey]) -> Result<(), ApiError> {
        if self.max == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            if let Some(list) = map.get_mut(key) {
                while list
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    list.pop_front();
                }
                if list.len() >= self.limit_for(key) {
                    let oldest = list.front().copied().unwrap_or(now);
                    let wait = self.window.saturating_sub(now.duration_since(oldest));
                    return Err(ApiError::TooManyRequests {
                        detail: "too many failed attempts; wait before trying again".into(),
                        retry_after: wait.as_secs().max(1),
                    });
                }
            }
        }
        Ok(())
    }

    /// Records a failure against each of `keys`.
    pub fn fail(&self, keys: &[ThrottleKey]) {
        if self.max == 0 {
            return;
        }
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            if !map.contains_key(key) && map.len() >= self.cap {
                self.make_room(&mut map, now);
            }
            let limit = self.limit_for(key);
            let list = map.entry(*key).or_default();
            list.push_back(now);
            while list.len() > limit {
                list.pop_front();
            }
        }
    }

    /// Forgets aged-out keys; if that is not enough, the quarter whose last failure is oldest.
    fn make_room(
        &self,
        map: &mut HashMap<ThrottleKey, std::collections::VecDeque<Instant>>,
        now: Instant,
    ) {
        self.retain_live(map, now);
        if map.len() < self.cap {
            return;
        }
        let mut last: Vec<Instant> = map.values().filter_map(|l| l.back().copied()).collect();
        let cut = last.len() / 4;
        let (_, &mut bound, _) = last.select_nth_unstable(cut);
        map.retain(|_, l| l.back().is_some_and(|t| *t > bound));
    }

    fn retain_live(
        &self,
        map: &mut HashMap<ThrottleKey, std::collections::VecDeque<Instant>>,
        now: Instant,
    ) {
        map.retain(|_, list| {
            list.retain(|t| now.duration_since(*t) < self.window);
            !list.is_empty()
        });
    }

    /// Forgets every key whose failures have all aged out (run on a timer).
    pub fn prune(&self) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        self.retain_live(&mut map, now);
        map.shrink_to_fit();
    }

    /// Clears the failures of an account after a successful login.
    pub fn succeed(&self, key: &ThrottleKey) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

/// Where failed logins are counted: this process's memory ([`LoginThrottle`]), or on
/// PostgreSQL a row per key shared by every instance (`legami_persistence::shared_limits`), so
/// N instances allow the limit once, not N times. Shared counters that cannot be reached fall
/// back to this process's own.
pub struct FailedLogins {
    memory: LoginThrottle,
    shared: Option<legami_persistence::DatabaseConnection>,
}

impl FailedLogins {
    /// Failures counted by `memory`, or with its limits in `shared`.
    pub fn new(
        memory: LoginThrottle,
        shared: Option<legami_persistence::DatabaseConnection>,
    ) -> Self {
        Self { memory, shared }
    }

    fn shared_key(key: &ThrottleKey) -> String {
        format!(
            "{}:{}",
            hex::encode(key.0),
            if key.1 { "address" } else { "account" }
        )
    }

    fn window_secs(&self) -> f64 {
        self.memory.window.as_secs_f64()
    }

    /// `429` if any of `keys` has too many recent failures.
    pub async fn check(&self, keys: &[ThrottleKey]) -> Result<(), ApiError> {
        if self.memory.max == 0 {
            return Ok(());
        }
        if let Some(db) = &self.shared {
            let limits: Vec<(String, u32)> = keys
                .iter()
                .map(|k| (Self::shared_key(k), self.memory.limit_for(k) as u32))
                .collect();
            match legami_persistence::shared_limits::throttled(db, &limits, self.window_secs())
                .await
            {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) => {
                    return Err(ApiError::TooManyRequests {
                        detail: "too many failed attempts; wait before trying again".into(),
                        retry_after: (wait.ceil() as u64).max(1),
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "shared login throttle unavailable: counting in this process");
                }
            }
        }
        self.memory.check(keys)
    }

    /// Records a failure against each of `keys`.
    pub async fn fail(&self, keys: &[ThrottleKey]) {
        if self.memory.max == 0 {
            return;
        }
        if let Some(db) = &self.shared {
            let shared: Vec<String> = keys.iter().map(Self::shared_key).collect();
            let most = keys
                .iter()
                .map(|k| self.memory.limit_for(k))
                .max()
                .unwrap_or(1) as u32;
            match legami_persistence::shared_limits::fail(db, &shared, most, self.window_secs())
                .await
            {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "shared login throttle unavailable: counting in this process");
                }
            }
        }
        self.memory.fail(keys);
    }

    /// Clears the failures of an account after a successful login.
    pub async fn succeed(&self, key: &ThrottleKey) {
        if let Some(db) = &self.shared
            && let Err(e) =
                legami_persistence::shared_limits::clear(db, &Self::shared_key(key)).await
        {
            tracing::warn!(error = %e, "cannot clear a shared login throttle key");
        }
        self.memory.succeed(key);
    }

    /// Forgets every key whose failures have all aged out (run on a timer).
    pub async fn prune(&self) {
        self.memory.prune();
        if let Some(db) = &self.shared
            && let Err(e) =
                legami_persistence::shared_limits::prune_failures(db, self.window_secs()).await
        {
            tracing::warn!(error = %e, "cannot prune the shared login throttle");
        }
    }
}
