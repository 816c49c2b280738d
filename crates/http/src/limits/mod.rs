//! Abuse limits: per-caller rate limits on the whole API ([`rate`]), throttling of failed
//! logins ([`login`]), and `Idempotency-Key` replay on POSTs ([`replay`]).

pub mod login;
pub mod rate;
pub mod replay;

pub use login::{FailedLogins, LoginThrottle, THROTTLE_KEYS, ThrottleKey, ThrottleScope};
pub use rate::{Limit, RateLimits, client_address, rate_limit};
pub use replay::{IDEMPOTENCY_KEY, idempotency};
