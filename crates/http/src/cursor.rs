//! Opaque, tamper-evident pagination cursors.
//!
//! A cursor is `base64url(json [collection, sort, key, id])` followed by `.` and an
//! HMAC-SHA256 of that payload under the server's cursor secret (truncated to 16 bytes). A cursor from another collection or sort order, or
//! one that was edited, is a `400`.

use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use legami_persistence::KeysetPos;
use sha2::Sha256;

fn mac(secret: &str, payload: &str) -> Option<Hmac<Sha256>> {
    // HMAC takes a key of any length, so this is never `None`.
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    m.update(payload.as_bytes());
    Some(m)
}

fn tag(secret: &str, payload: &str) -> String {
    mac(secret, payload)
        .map(|m| URL_SAFE_NO_PAD.encode(&m.finalize().into_bytes()[..16]))
        .unwrap_or_default()
}

/// Encodes where the next page starts.
pub fn encode(secret: &str, collection: &str, sort: &str, pos: &KeysetPos) -> String {
    let raw = serde_json::json!([collection, sort, pos.key, pos.id]).to_string();
    let payload = URL_SAFE_NO_PAD.encode(raw.as_bytes());
    let tag = tag(secret, &payload);
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
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
    if tag.len() != 16 {
        return Err(bad());
    }
    // Constant-time comparison of the truncated tag.
    mac(secret, payload)
        .ok_or_else(bad)?
        .verify_truncated_left(&tag)
        .map_err(|_| bad())?;
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
        // A shortened tag (a prefix of the right one) is refused too.
        let short = &c[..c.len() - 2];
        assert!(decode("s", "organisations", "name", short).is_err());
    }

    #[test]
    fn the_tag_is_an_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let t = tag("Jefe", "what do ya want for nothing?");
        let expected = hex::decode("5bdcc146bf60754e6a042426089575c7").unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(t).unwrap(), expected);
    }
}
