//! Access tokens (EdDSA-signed JWTs with `kid`), the JWKS that publishes their public keys, and
//! Argon2id password hashing.

use crate::error::ApiError;
use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use legami_persistence::accounts::{KeyRecord, User};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How long an access token lives, seconds.
pub const ACCESS_TTL_SECS: i64 = 15 * 60;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Subject: the user id, or the client id for `client_credentials` tokens.
    pub sub: String,
    /// Present on tokens of API clients (RFC 9068): the client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Token id.
    pub jti: String,
    /// Space-separated scopes.
    pub scope: String,
}

/// The keys the server signs with and verifies against.
pub struct Keys {
    signing_kid: String,
    signing: EncodingKey,
    /// Every key that may verify: its decoder, JWK and retirement time.
    verifying: HashMap<String, Verifier>,
    /// `iss` of issued tokens.
    pub issuer: String,
    /// `aud` of issued tokens.
    pub audience: String,
    /// Tokens whose signature, issuer and audience were verified, with their claims: an
    /// Ed25519 verification is most of an authenticated read's CPU, and a client sends the
    /// same token for up to [`ACCESS_TTL_SECS`]. Bounded; only verified tokens enter it, and a
    /// hit is taken only before the token's expiry (otherwise it is verified in full again).
    verified: quick_cache::sync::Cache<String, Claims>,
}

/// How many verified tokens [`Keys`] keeps.
const VERIFIED_TOKENS: usize = 4096;

struct Verifier {
    key: DecodingKey,
    jwk: serde_json::Value,
    retired_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Verifier {
    /// Whether the key still verifies: active, or retired less than an access token's
    /// lifetime ago (every token it signed has expired after that).
    fn live(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.retired_at
            .is_none_or(|r| now < r + chrono::Duration::seconds(ACCESS_TTL_SECS))
    }
}

impl Keys {
    /// Builds the key set: `configured` signs (or, without one, the newest active record that
    /// keeps its private key); active keys verify, and retired ones for an access token's
    /// lifetime after their retirement.
    pub fn new(
        records: &[KeyRecord],
        configured: Option<&KeyRecord>,
        issuer: &str,
        audience: &str,
    ) -> Result<Self, String> {
        let signer = configured
            .or_else(|| {
                records
                    .iter()
                    .find(|k| k.retired_at.is_none() && !k.private_pkcs8.is_empty())
            })
            .ok_or("no active signing key")?;
        let mut verifying = HashMap::new();
        for k in records.iter().chain(configured) {
            let retired_at = if k.kid == signer.kid {
                None
            } else {
                k.retired_at
            };
            verifying.insert(
                k.kid.clone(),
                Verifier {
                    key: DecodingKey::from_ed_components(&k.public_x).map_err(|e| e.to_string())?,
                    jwk: serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": k.public_x, "kid": k.kid, "alg": "EdDSA", "use": "sig"}),
                    retired_at,
                },
            );
        }
        Ok(Self {
            signing_kid: signer.kid.clone(),
            signing: EncodingKey::from_ed_der(&signer.private_pkcs8),
            verifying,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            verified: quick_cache::sync::Cache::new(VERIFIED_TOKENS),
        })
    }

    /// The JWKS document: the keys that verify now (newest retirement last).
    pub fn jwks(&self) -> serde_json::Value {
        let now = chrono::Utc::now();
        let mut live: Vec<&Verifier> = self.verifying.values().filter(|v| v.live(now)).collect();
        live.sort_by_key(|v| (v.retired_at.is_some(), std::cmp::Reverse(v.retired_at)));
        serde_json::json!({ "keys": live.iter().map(|v| v.jwk.clone()).collect::<Vec<_>>() })
    }

    /// Signs an access token for a user.
    pub fn issue(&self, user: &User) -> Result<(String, Claims), ApiError> {
        self.sign(user.id, None, scopes(&user.role).join(" "))
    }

    /// Signs an access token for an API client.
    pub fn issue_client(
        &self,
        client: &legami_persistence::clients::Client,
    ) -> Result<(String, Claims), ApiError> {
        self.sign(
            client.id,
            Some(client.id.to_string()),
            client.scopes.join(" "),
        )
    }

    fn sign(
        &self,
        sub: uuid::Uuid,
        client_id: Option<String>,
        scope: String,
    ) -> Result<(String, Claims), ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: sub.to_string(),
            client_id,
            exp: now + ACCESS_TTL_SECS,
            iat: now,
            jti: uuid::Uuid::now_v7().to_string(),
            scope,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.signing_kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.signing)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok((token, claims))
    }

    /// Verifies signature (EdDSA only, known `kid`), issuer, audience and expiry. A token
    /// verified before is answered from memory while it has not expired.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        if let Some(claims) = self.verified.get(token)
            && claims.exp > chrono::Utc::now().timestamp()
        {
            return Some(claims);
        }
        let claims = self.verify_signed(token)?;
        self.verified.insert(token.to_owned(), claims.clone());
        Some(claims)
    }

    fn verify_signed(&self, token: &str) -> Option<Claims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::EdDSA {
            return None;
        }
        let verifier = self.verifying.get(header.kid.as_deref()?)?;
        if !verifier.live(chrono::Utc::now()) {
            return None;
        }
        let key = &verifier.key;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[&self.audience]);
        v.set_issuer(&[&self.issuer]);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, key, &v)
            .ok()
            .map(|d| d.claims)
    }
}

/// The scopes a role carries.
pub fn scopes(role: &str) -> Vec<&'static str> {
    match role {
        "admin" => vec!["read", "read:drafts", "write", "metrics:write", "admin"],
        "editor" => vec!["read", "read:drafts", "write", "metrics:write"],
        _ => vec!["read", "read:drafts"],
    }
}

/// An Argon2id PHC hash of a password.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// A hash of nothing in particular, so unknown accounts cost the same time as wrong passwords.
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Whether `password` matches `hash`; with no hash, spends the same time and answers false.
pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    let dummy =
        DUMMY_HASH.get_or_init(|| hash_password("legami-dummy-password").unwrap_or_default());
    let target = hash.unwrap_or(dummy);
    let ok = PasswordHash::new(target)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false);
    ok && hash.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        let key = legami_persistence::accounts::generate_key().expect("a key");
        Keys::new(std::slice::from_ref(&key), None, "iss", "aud").expect("keys")
    }

    #[test]
    fn a_verified_token_is_answered_again_until_it_expires() {
        let keys = keys();
        let (token, claims) = keys
            .sign(uuid::Uuid::now_v7(), None, "read".into())
            .expect("signed");
        let first = keys.verify(&token).expect("valid");
        let again = keys.verify(&token).expect("still valid");
        assert_eq!(
            (first.jti.as_str(), again.sub.as_str()),
            (claims.jti.as_str(), claims.sub.as_str())
        );
        // A token remembered from before its expiry is verified in full again after it, and fails.
        let mut old = claims.clone();
        old.exp = chrono::Utc::now().timestamp() - 1;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(keys.signing_kid.clone());
        let expired = jsonwebtoken::encode(&header, &old, &keys.signing).expect("signed");
        keys.verified.insert(expired.clone(), old);
        assert!(
            keys.verify(&expired).is_none(),
            "an expired token is refused"
        );
        // Nothing unverified is remembered: a forged token stays refused and is not kept.
        let forged = format!("{token}x");
        assert!(keys.verify(&forged).is_none());
        assert!(keys.verified.get(&forged).is_none());
    }
}
