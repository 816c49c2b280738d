//! Opaque, tamper-evident pagination cursors.
//!
//! A cursor is `base64url(json [collection, sort, key, id])` followed by `.` and a truncated
//! SHA-256 of a server secret and that payload. A cursor from another collection or sort order, or
//! one that was edited, is a `400`.

use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use legami_persistence::KeysetPos;
use sha2::{Digest, Sha256};

fn mac(secret: &str, payload: &str) -> String {
    let mut h = Sha256::new();
    h.update(secret.as_bytes());
    h.update([0u8]);
    h.update(payload.as_bytes());
    URL_SAFE_NO_PAD.encode(&h.finalize()[..12])
}

/// Encodes where the next page starts.
pub fn encode(secret: &str, collection: &str, sort: &str, pos: &KeysetPos) -> String {
    let raw = serde_json::json!([collection, sort, pos.key, pos.id]).to_string();
    let payload = URL_SAFE_NO_PAD.encode(raw.as_bytes());
    let tag = mac(secret, &payload);
    format!("{payload}.{tag}")
}

/// Decodes a cursor made by [`encode`] for the same collection and sort.
pub fn decode(
    secret: &str,
    collection: &str,
    sort: &str,
    cursor: &str,
) -> Result<KeysetPos, ApiError> {
    let bad = || ApiError::BadRequest {
        detail:
            "the cursor is not valid for this collection and sort order; start again without it"
                .into(),
        errors: vec![crate::error::ProblemField {
            field: "cursor".into(),
            code: "invalid".into(),
            message: "malformed, tampered or foreign cursor".into(),
        }],
    };
    let (payload, tag) = cursor.split_once('.').ok_or_else(bad)?;
    if mac(secret, payload) != tag {
        return Err(bad());
    }
    let raw = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
    let parts: (String, String, String, String) =
        serde_json::from_slice(&raw).map_err(|_| bad())?;
    if parts.0 != collection || parts.1 != sort {
        return Err(bad());
    }
    Ok(KeysetPos {
        key: parts.2,
        id: parts.3,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let pos = KeysetPos {
            key: "Città".into(),
            id: "abc".into(),
        };
        let c = encode("s", "organisations", "name", &pos);
        assert_eq!(decode("s", "organisations", "name", &c).unwrap(), pos);
        assert!(decode("s", "labs", "name", &c).is_err());
        assert!(decode("s", "organisations", "-name", &c).is_err());
        assert!(decode("other", "organisations", "name", &c).is_err());
        let mut t = c.clone();
        t.insert(3, 'x');
        assert!(decode("s", "organisations", "name", &t).is_err());
        assert!(decode("s", "organisations", "name", "garbage").is_err());
    }
}
