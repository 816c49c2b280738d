//! The parts of the OpenAPI document that follow from cross-cutting behaviour rather than from
//! one handler, applied once after the routes have added their paths: the problem answers every
//! middleware can give; the shape of sparse (`fields=`) answers; merge-patch bodies (`XPatch`,
//! derived from `XInput`), GeoJSON and key-set schemas where utoipa leaves `{}`; `security: []`
//! on operations that take no token; and the patterns of shared parameters and properties
//! (`fields`, `sort`, codes, slugs, `near`, `bbox`).

use serde_json::{Map, Value, json};

mod shapes;
mod sparse;

use shapes::*;
use sparse::*;

/// Adds what the middleware and the shared extractors answer to every operation they apply to,
/// and the sparse variant of every schema a `fields` parameter trims.
pub fn complete(doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    // Both conversions hold for every document utoipa makes (the committed-document test
    // would show otherwise); should one fail, the document is served as the routes made it.
    let Ok(mut v) = serde_json::to_value(&doc) else {
        return doc;
    };
    let mut sparse: Vec<String> = Vec::new();
    let patches = merge_patch_bodies(&mut v);
    let schemas = v["components"]["schemas"].clone();
    if let Some(paths) = v.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    continue;
                }
                if let Some(op) = op.as_object_mut() {
                    public_needs_no_security(op);
                    untyped_answers(path, op);
                    common_responses(path, method, op);
                    tighten_params(op, &schemas);
                    if has_query_param(op, "fields") {
                        sparse_answer(op, &mut sparse);
                    }
                }
            }
        }
    }
    if let Some(schemas) = v
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for schema in schemas.values_mut() {
            tighten_properties(schema);
        }
        for name in sparse {
            add_sparse_schema(schemas, &name);
        }
        for (input, patch) in patches {
            add_patch_schema(schemas, &input, &patch);
        }
        schemas.insert("FeatureCollection".into(), feature_collection());
        schemas.insert("Jwks".into(), jwks());
    }
    serde_json::from_value(v).unwrap_or(doc)
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

fn add(responses: &mut Map<String, Value>, status: &str, description: &str) {
    responses
        .entry(status.to_owned())
        .or_insert_with(|| problem(description));
}

fn has_query_param(op: &Map<String, Value>, name: &str) -> bool {
    op.get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| {
            ps.iter()
                .any(|p| p["in"] == "query" && p["name"].as_str() == Some(name))
        })
}

fn common_responses(path: &str, method: &str, op: &mut Map<String, Value>) {
    let bearer = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
    let body = op.contains_key("requestBody");
    let queried = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    if bearer {
        add(
            responses,
            "401",
            "The bearer token is missing (where one is needed), expired, revoked or invalid \
             (`WWW-Authenticate: Bearer error=\"invalid_token\"`)",
        );
    }
    if body {
        add(responses, "400", "Malformed JSON or unknown field");
        add(
            responses,
            "413",
            "The body is larger than the server accepts (`LEGAMI_BODY_LIMIT`)",
        );
        add(
            responses,
            "415",
            "The body is not `application/json` (or the type the operation names)",
        );
        add(
            responses,
            "422",
            "Invalid fields, one `errors[]` entry each",
        );
    }
    if queried {
        add(responses, "422", "Invalid or unknown query parameter");
    }
    if path.starts_with("/api/") && !path.starts_with("/api/v1/auth/") {
        match method {
            "post" => add(
                responses,
                "409",
                "A unique value (slug, code, tax code, email) is already taken, or the \
                 `Idempotency-Key` was used with another body, is still in flight, or named a \
                 request whose answer carried a secret (never replayed; see `Location`)",
            ),
            "patch" => add(
                responses,
                "409",
                "A unique value (slug, code, tax code, email) is already taken",
            ),
            _ => {}
        }
    }
    if path.starts_with("/api/") {
        add(
            responses,
            "429",
            "Too many requests from this caller; `Retry-After` says when to try again",
        );
        add(
            responses,
            "503",
            "The database is unavailable or saturated; retry after `Retry-After` seconds",
        );
    }
}
