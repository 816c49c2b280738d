use crate::helpers::{TestApp, json_of};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

async fn account(app: &TestApp, email: &str, password: &str, role: &str) {
    let hash = legami_http::auth::hash_password(password).unwrap();
    legami_persistence::accounts::create_user(
        &app.db,
        email,
        "Test",
        &hash,
        role,
        &[],
        &legami_persistence::audit::Actor::system(),
    )
    .await
    .unwrap();
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"grant_type": "password", "email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn token(app: &TestApp, email: &str, password: &str) -> String {
    json_of(login(app, email, password).await, 200).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn password_login_me_and_an_independent_signature_check() {
    let app = TestApp::spawn().await;
    account(&app, "Admin@Example.org", "una passphrase lunga", "admin").await;
    let res = login(&app, "admin@example.org", "una passphrase lunga").await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let t = json_of(res, 200).await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 900);
    let access = t["access_token"].as_str().unwrap();
    let who = json_of(me(&app, access).await, 200).await;
    assert_eq!(who["email"], "admin@example.org");
    assert_eq!(who["role"], "admin");

    // Verify the token with the JWKS and plain Ed25519, not the server's JWT library.
    let jwks = json_of(app.get("/.well-known/jwks.json").await, 200).await;
    let parts: Vec<&str> = access.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("kid published");
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(parts[2])
        .unwrap()
        .try_into()
        .unwrap();
    key.verify_strict(
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&sig),
    )
    .expect("valid EdDSA signature");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    for c in ["iss", "aud", "sub", "exp", "iat", "jti", "scope"] {
        assert!(claims.get(c).is_some(), "claim {c}");
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    // An admin token writes.
    let res = app
        .client
        .post(app.url("/api/v1/organisations"))
        .bearer_auth(access)
        .json(&json!({"name": "Con token", "kind": "aps", "address": {"municipality": "018110"}}))
        .send()
        .await
        .unwrap();
    json_of(res, 201).await;
}

#[tokio::test]
async fn wrong_credentials_look_the_same_whether_the_account_exists_or_not() {
    let app = TestApp::spawn().await;
    account(&app, "editor@example.org", "una passphrase lunga", "editor").await;
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("request_id");
        v
    };
    let wrong = strip(json_of(login(&app, "editor@example.org", "sbagliata!!").await, 401).await);
    let unknown =
        strip(json_of(login(&app, "nessuno@example.org", "sbagliata!!").await, 401).await);
    assert_eq!(wrong, unknown);
    let res = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}))
        .send()
        .await
        .unwrap();
    json_of(res, 401).await;
    // An editor of no organisation may propose a draft organisation, not publish one.
    let t = token(&app, "editor@example.org", "una passphrase lunga").await;
    let res = app
        .client
        .post(app.url("/api/v1/organisations"))
        .bearer_auth(&t)
        .json(&json!({"name": "X", "kind": "aps", "address": {"municipality": "018110"}, "status": "published"}))
        .send()
        .await
        .unwrap();
    json_of(res, 403).await;
    // Disabling the account stops its token at once.
    legami_persistence::accounts::user_by_email(&app.db, "editor@example.org")
        .await
        .unwrap()
        .unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        "UPDATE users SET disabled = true WHERE email = 'editor@example.org'",
    )
    .await
    .unwrap();
    json_of(me(&app, &t).await, 401).await;
    json_of(
        login(&app, "editor@example.org", "una passphrase lunga").await,
        401,
    )
    .await;
}

#[tokio::test]
async fn forged_foreign_and_expired_tokens_are_401() {
    let app = TestApp::spawn().await;
    account(&app, "admin@example.org", "una passphrase lunga", "admin").await;
    let good = token(&app, "admin@example.org", "una passphrase lunga").await;
    let parts: Vec<&str> = good.split('.').collect();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let keys = legami_persistence::accounts::keys(&app.db).await.unwrap();
    let server_key = EncodingKey::from_ed_der(&keys[0].private_pkcs8);
    let kid = keys[0].kid.clone();
    let sign = |alg: Algorithm, kid: Option<String>, claims: &Value, key: &EncodingKey| {
        let mut h = Header::new(alg);
        h.kid = kid;
        jsonwebtoken::encode(&h, claims, key).unwrap()
    };
    // alg: none.
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let none = format!("{none_header}.{}.", parts[1]);
    // HS256 keyed with the published public key (algorithm confusion).
    let hs = sign(
        Algorithm::HS256,
        Some(kid.clone()),
        &claims,
        &EncodingKey::from_secret(keys[0].public_x.as_bytes()),
    );
    // A key the server does not know.
    let stranger = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let der = ed25519_dalek::pkcs8::EncodePrivateKey::to_pkcs8_der(&stranger).unwrap();
    let unknown_kid = sign(
        Algorithm::EdDSA,
        Some("someone-else".into()),
        &claims,
        &EncodingKey::from_ed_der(der.as_bytes()),
    );
    let wrong_signer = sign(
        Algorithm::EdDSA,
        Some(kid.clone()),
        &claims,
        &EncodingKey::from_ed_der(der.as_bytes()),
    );
    let mut aud = claims.clone();
    aud["aud"] = json!("another-api");
    let wrong_aud = sign(Algorithm::EdDSA, Some(kid.clone()), &aud, &server_key);
    let mut old = claims.clone();
    old["exp"] = json!(chrono::Utc::now().timestamp() - 10);
    let expired = sign(Algorithm::EdDSA, Some(kid.clone()), &old, &server_key);
    // The control: the same signing path with good claims is accepted.
    let control = sign(Algorithm::EdDSA, Some(kid.clone()), &claims, &server_key);
    json_of(me(&app, &control).await, 200).await;
    for (name, t) in [
        ("none", none),
        ("hs256", hs),
        ("unknown kid", unknown_kid),
        ("wrong signer", wrong_signer),
        ("wrong aud", wrong_aud),
        ("expired", expired),
        ("garbage", "a.b.c".into()),
    ] {
        let res = me(&app, &t).await;
        assert_eq!(
            res.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\"",
            "{name}"
        );
        json_of(res, 401).await;
    }
}

#[tokio::test]
async fn production_refuses_to_start_without_a_signing_key() {
    let db = crate::helpers::TestDb::new().await;
    let mut settings = legami_server::Settings::for_tests(&db.url);
    settings.env = "production".into();
    let err = legami_server::Application::build(&settings)
        .await
        .err()
        .expect("must refuse");
    assert!(
        format!("{err:#}").contains("LEGAMI_JWT_PRIVATE_KEY"),
        "{err:#}"
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_are_single_use_and_reuse_revokes_the_family() {
    let app = TestApp::spawn().await;
    account(&app, "admin@example.org", "una passphrase lunga", "admin").await;
    let first = json_of(
        login(&app, "admin@example.org", "una passphrase lunga").await,
        200,
    )
    .await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |t: String| {
        app.client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({"grant_type": "refresh_token", "refresh_token": t}))
            .send()
    };
    let second = json_of(refresh(r1.clone()).await.unwrap(), 200).await;
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2, "rotates");
    json_of(
        me(&app, second["access_token"].as_str().unwrap()).await,
        200,
    )
    .await;
    // Replaying the spent token revokes the family: the fresh one dies too.
    json_of(refresh(r1).await.unwrap(), 401).await;
    json_of(refresh(r2).await.unwrap(), 401).await;
    // Revocation of one token.
    let other = json_of(
        login(&app, "admin@example.org", "una passphrase lunga").await,
        200,
    )
    .await;
    let r3 = other["refresh_token"].as_str().unwrap().to_owned();
    let res = app
        .client
        .post(app.url("/api/v1/auth/revoke"))
        .json(&json!({"token": r3}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    json_of(refresh(r3).await.unwrap(), 401).await;
    json_of(refresh("never-issued".into()).await.unwrap(), 401).await;
}

#[tokio::test]
async fn admins_manage_users_and_disabling_stops_tokens_at_once() {
    let app = TestApp::spawn().await;
    account(&app, "admin@example.org", "una passphrase lunga", "admin").await;
    let admin = token(&app, "admin@example.org", "una passphrase lunga").await;
    let org = app.create_org("Ente", json!({})).await;
    let post = |body: Value, t: Option<String>| {
        let mut r = app.client.post(app.url("/api/v1/users")).json(&body);
        if let Some(t) = t {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let new = json!({"email": "Editor@Example.org", "password": "un'altra passphrase", "name": "Editrice", "role": "editor", "organisation_ids": [org["id"]]});
    let created = json_of(post(new.clone(), Some(admin.clone())).await.unwrap(), 201).await;
    assert_eq!(created["email"], "editor@example.org");
    assert_eq!(created["organisation_ids"], json!([org["id"]]));
    let text = serde_json::to_string(&created).unwrap();
    assert!(
        !text.contains("password") && !text.contains("argon2"),
        "{text}"
    );
    json_of(post(new.clone(), Some(admin.clone())).await.unwrap(), 409).await;
    json_of(post(new.clone(), None).await.unwrap(), 401).await;
    let bad = json!({"email": "x", "password": "corta", "name": "", "role": "boss"});
    let p = json_of(post(bad, Some(admin.clone())).await.unwrap(), 422).await;
    crate::helpers::assert_fields(&p, &["/email", "/password", "/name", "/role"]);

    let editor = json_of(
        login(&app, "editor@example.org", "un'altra passphrase").await,
        200,
    )
    .await;
    let et = editor["access_token"].as_str().unwrap().to_owned();
    json_of(post(new, Some(et.clone())).await.unwrap(), 403).await;
    let list = json_of(
        app.client
            .get(app.url("/api/v1/users"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        3,
        "the test app's admin, this admin and the editor"
    );
    assert!(!serde_json::to_string(&list).unwrap().contains("argon2"));

    let path = format!("/api/v1/users/{}", created["id"].as_str().unwrap());
    let res = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res, 200).await["disabled"], true);
    json_of(me(&app, &et).await, 401).await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"grant_type": "refresh_token", "refresh_token": editor["refresh_token"]}))
        .send()
        .await
        .unwrap();
    json_of(res, 401).await;
    json_of(
        app.client
            .get(app.url("/api/v1/users/0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
}

#[tokio::test]
async fn an_administrator_cannot_lock_themself_out() {
    let app = TestApp::spawn().await;
    let me = json_of(app.get_auth("/api/v1/me").await, 200).await;
    let path = format!("/api/v1/users/{}", me["id"].as_str().unwrap());
    for (body, field) in [
        (json!({"disabled": true}), "/disabled"),
        (json!({"role": "editor"}), "/role"),
    ] {
        let res = app
            .client
            .patch(app.url(&path))
            .bearer_auth(&app.token)
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let p = json_of(res, 422).await;
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    // Nothing changed: the token still works and the account is still an admin.
    let again = json_of(app.get_auth("/api/v1/me").await, 200).await;
    assert_eq!(again["role"], "admin");
    // Another administrator can still disable this one.
    let other = app.user_token("admin", &[]).await;
    let res = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&other)
        .header("content-type", "application/merge-patch+json")
        .body(json!({"disabled": true}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res, 200).await["disabled"], true);
    json_of(app.get_auth("/api/v1/me").await, 401).await;
}
