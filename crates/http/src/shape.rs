//! The shape of a request body, checked against the OpenAPI schema of the DTO it is read into,
//! before serde reads it: an array where the schema says object (serde's derive would take a
//! sequence for a struct, so `"location": [9.15, 45.18]` would become `lat=9.15`), an object
//! where it says array, a value of the wrong JSON type, and every missing required field are
//! reported together, each naming its field as a JSON pointer.
//!
//! Only JSON types and required fields are checked here; values (ranges, formats, codes) are
//! the domain's to judge. Unknown fields are left to serde, which refuses them with a `400`.

use crate::error::ProblemField;
use serde_json::Value;
use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use utoipa::ToSchema;

/// A DTO's schema and the component schemas it refers to, as JSON.
struct Schemas {
    root: Value,
    components: HashMap<String, Value>,
}

/// Deepest nesting followed (our DTOs are a few levels deep; this bounds a cyclic schema).
const MAX_DEPTH: usize = 16;

fn schemas_of<T: ToSchema + 'static>() -> Arc<Schemas> {
    static CACHE: OnceLock<RwLock<HashMap<TypeId, Arc<Schemas>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(s) = cache
        .read()
        .ok()
        .and_then(|c| c.get(&TypeId::of::<T>()).cloned())
    {
        return s;
    }
    let mut refs = Vec::new();
    T::schemas(&mut refs);
    let json = |s: &utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
        serde_json::to_value(s).unwrap_or(Value::Null)
    };
    let built = Arc::new(Schemas {
        root: json(&T::schema()),
        components: refs
            .iter()
            .map(|(name, s)| (name.clone(), json(s)))
            .collect(),
    });
    if let Ok(mut c) = cache.write() {
        c.insert(TypeId::of::<T>(), built.clone());
    }
    built
}

/// Every shape error of `value` as a `T`, in document order (empty when the shape is right).
pub fn check<T: ToSchema + 'static>(value: &Value) -> Vec<ProblemField> {
    let schemas = schemas_of::<T>();
    let mut errors = Vec::new();
    walk(&schemas, &schemas.root, value, "", 0, &mut errors);
    errors
}

fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn fits(ty: &str, value: &Value) -> bool {
    match (ty, kind_of(value)) {
        ("number", "integer") => true,
        (t, k) => t == k,
    }
}

fn article(ty: &str) -> &'static str {
    match ty {
        "object" => "an object",
        "array" => "an array",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        "string" => "a string",
        _ => "another type",
    }
}

fn walk(
    all: &Schemas,
    schema: &Value,
    value: &Value,
    at: &str,
    depth: usize,
    errors: &mut Vec<ProblemField>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or_default();
        if let Some(target) = all.components.get(name) {
            walk(all, target, value, at, depth + 1, errors);
        }
        return;
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = schema.get(key) {
            // `Option<Dto>` is `oneOf: [null, Dto]`: follow the one branch that is not null.
            let real: Vec<&Value> = branches.iter().filter(|b| types(b) != ["null"]).collect();
            if value.is_null() && real.len() < branches.len() {
                return;
            }
            if let [only] = real.as_slice() {
                walk(all, only, value, at, depth + 1, errors);
            }
            return;
        }
    }
    if let Some(Value::Array(parts)) = schema.get("allOf") {
        for p in parts {
            walk(all, p, value, at, depth + 1, errors);
        }
        return;
    }
    let expected = types(schema);
    if !expected.is_empty() && !expected.iter().any(|t| fits(t, value)) {
        let want = expected
            .iter()
            .filter(|t| **t != "null")
            .map(|t| article(t))
            .collect::<Vec<_>>()
            .join(" or ");
        let null_ok = if expected.contains(&"null") {
            " (or null)"
        } else {
            ""
        };
        errors.push(ProblemField {
            field: if at.is_empty() { "/".into() } else { at.into() },
            code: "type".into(),
            message: format!("must be {want}{null_ok}, not {}", article(kind_of(value))),
        });
        return;
    }
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(required)) = schema.get("required") {
                for name in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(name) {
                        errors.push(ProblemField {
                            field: format!("{at}/{name}"),
                            code: "required".into(),
                            message: format!("'{name}' is required"),
                        });
                    }
                }
            }
            if let Some(Value::Object(props)) = schema.get("properties") {
                for (name, v) in map {
                    if let Some(s) = props.get(name) {
                        walk(all, s, v, &format!("{at}/{name}"), depth + 1, errors);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(all, s, v, &format!("{at}/{i}"), depth + 1, errors);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Deserialize, ToSchema)]
    #[allow(dead_code)]
    struct Point {
        lat: f64,
        lon: f64,
    }

    #[derive(serde::Deserialize, ToSchema)]
    #[allow(dead_code)]
    struct Place {
        name: String,
        kind: String,
        location: Option<Point>,
        #[serde(default)]
        tags: Vec<String>,
    }

    fn fields(v: Value) -> Vec<String> {
        let mut f: Vec<String> = check::<Place>(&v).into_iter().map(|e| e.field).collect();
        f.sort();
        f
    }

    #[test]
    fn arrays_for_objects_and_every_missing_field() {
        assert!(
            fields(json!({"name": "a", "kind": "b", "location": {"lat": 1, "lon": 2.5}}))
                .is_empty()
        );
        assert!(fields(json!({"name": "a", "kind": "b", "location": null})).is_empty());
        assert_eq!(fields(json!({})), ["/kind", "/name"]);
        assert_eq!(
            fields(json!({"name": "a", "kind": "b", "location": [9.15, 45.18]})),
            ["/location"]
        );
        assert_eq!(
            fields(json!({"name": 1, "kind": "b", "location": {"lat": "x"}, "tags": "t"})),
            ["/location/lat", "/location/lon", "/name", "/tags"]
        );
        assert_eq!(
            fields(json!({"name": "a", "kind": "b", "tags": [1]})),
            ["/tags/0"]
        );
    }
}
