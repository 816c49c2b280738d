//! The parts of the OpenAPI document that follow from cross-cutting behaviour rather than from
//! one handler, applied once after the routes have added their paths: the problem answers every
//! middleware can give; the shape of sparse (`fields=`) answers; merge-patch bodies (`XPatch`,
//! derived from `XInput`), GeoJSON and key-set schemas where utoipa leaves `{}`; `security: []`
//! on operations that take no token; and the patterns of shared parameters and properties
//! (`fields`, `sort`, codes, slugs, `near`, `bbox`).

use serde_json::{Map, Value, json};

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

/// The schema name a `$ref` points at.
fn ref_name(schema: &Value) -> Option<String> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .map(str::to_owned)
}

fn sparse_name(name: &str) -> String {
    format!("{name}Sparse")
}

/// The JSON answer of an operation with `fields` is the full schema or its sparse variant.
fn sparse_answer(op: &mut Map<String, Value>, sparse: &mut Vec<String>) {
    let Some(content) = op
        .get_mut("responses")
        .and_then(|r| r.get_mut("200"))
        .and_then(|r| r.get_mut("content"))
        .and_then(|c| c.get_mut("application/json"))
    else {
        return;
    };
    let Some(name) = content.get("schema").and_then(ref_name) else {
        return;
    };
    content["schema"] = json!({
        "anyOf": [
            {"$ref": format!("#/components/schemas/{name}")},
            {"$ref": format!("#/components/schemas/{}", sparse_name(&name))},
        ],
        "description": "The whole object, or with `fields` only the fields named there (and `id`)",
    });
    if !sparse.contains(&name) {
        sparse.push(name);
    }
}

/// `NameSparse`: a page whose items are sparse, or an object whose only required field is `id`.
fn add_sparse_schema(schemas: &mut Map<String, Value>, name: &str) {
    let Some(full) = schemas.get(name).cloned() else {
        return;
    };
    let item = full
        .pointer("/properties/data/items")
        .and_then(ref_name)
        .filter(|_| full.pointer("/properties/data/type") == Some(&json!("array")));
    let Some(item) = item else {
        add_sparse_object(schemas, name);
        return;
    };
    let mut page = full;
    if let Some(items) = page
        .pointer_mut("/example/data")
        .and_then(Value::as_array_mut)
    {
        items.iter_mut().for_each(trim_example);
    }
    page["properties"]["data"]["items"] =
        json!({"$ref": format!("#/components/schemas/{}", sparse_name(&item))});
    page["description"] = json!(format!(
        "{} With `fields`: each item carries only the named fields (and `id`).",
        page["description"].as_str().unwrap_or_default()
    ));
    schemas.insert(sparse_name(name), page);
    add_sparse_object(schemas, &item);
}

/// The example of a sparse answer: what `fields=name,slug` gives.
fn trim_example(example: &mut Value) {
    if let Some(obj) = example.as_object_mut() {
        obj.retain(|k, _| ["id", "name", "slug"].contains(&k.as_str()));
    }
}

fn add_sparse_object(schemas: &mut Map<String, Value>, name: &str) {
    if schemas.contains_key(&sparse_name(name)) {
        return;
    }
    let Some(mut out) = schemas.get(name).cloned() else {
        return;
    };
    if let Some(example) = out.get_mut("example") {
        trim_example(example);
    }
    let keeps_id = out.pointer("/properties/id").is_some();
    out["required"] = if keeps_id { json!(["id"]) } else { json!([]) };
    out["description"] = json!(format!(
        "{} Sparse: only the fields `fields` named (and `id`).",
        out["description"].as_str().unwrap_or_default()
    ));
    schemas.insert(sparse_name(name), out);
}

/// The answers whose schema the handler could not name (GeoJSON, the key set).
fn untyped_answers(path: &str, op: &mut Map<String, Value>) {
    let Some(content) = op
        .get_mut("responses")
        .and_then(|r| r.get_mut("200"))
        .and_then(|r| r.get_mut("content"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (media, c) in content.iter_mut() {
        if c.get("schema") != Some(&json!({})) {
            continue;
        }
        let name = match media.as_str() {
            "application/geo+json" => "FeatureCollection",
            "application/json" if path == "/.well-known/jwks.json" => "Jwks",
            _ => continue,
        };
        c["schema"] = json!({"$ref": format!("#/components/schemas/{name}")});
    }
}

/// Merge-patch bodies are typed after the create body of their collection: `XInput` gives
/// `XPatch`. Returns the (input, patch) schema names to add.
fn merge_patch_bodies(v: &mut Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(paths) = v.get_mut("paths").and_then(Value::as_object_mut) else {
        return out;
    };
    let inputs: Vec<(String, String)> = paths
        .iter()
        .filter_map(|(path, item)| {
            let schema = item.pointer("/post/requestBody/content/application~1json/schema")?;
            Some((path.clone(), ref_name(schema)?))
        })
        .collect();
    for (path, item) in paths.iter_mut() {
        let Some(schema) =
            item.pointer_mut("/patch/requestBody/content/application~1merge-patch+json/schema")
        else {
            continue;
        };
        if *schema != json!({}) {
            continue;
        }
        let Some(parent) = path.rsplit_once('/').map(|(p, _)| p) else {
            continue;
        };
        let Some((_, input)) = inputs.iter().find(|(p, _)| p == parent) else {
            continue;
        };
        let patch = input
            .strip_suffix("Input")
            .map_or_else(|| format!("{input}Patch"), |base| format!("{base}Patch"));
        *schema = json!({"$ref": format!("#/components/schemas/{patch}")});
        out.push((input.clone(), patch));
    }
    out
}

/// An RFC 7396 merge patch over `input`: every field optional; `null` removes an optional field
/// (a required field of the input cannot be removed, so its schema stays as it is).
fn add_patch_schema(schemas: &mut Map<String, Value>, input: &str, patch: &str) {
    if schemas.contains_key(patch) {
        return;
    }
    let Some(mut out) = schemas.get(input).cloned() else {
        return;
    };
    if let Some(obj) = out.as_object_mut() {
        obj.remove("required");
    }
    out["description"] = json!(format!(
        "A JSON merge patch (RFC 7396) over `{input}`: only the fields to change; `null` clears \
         an optional field; unknown fields are `400`. The merged record is validated as a whole."
    ));
    schemas.insert(patch.to_owned(), out);
}

fn feature_collection() -> Value {
    json!({
        "type": "object",
        "description": "A GeoJSON FeatureCollection (RFC 7946), coordinates WGS 84 `[lon, lat]`. \
            Each feature's `properties` are the record's fields (`/map`: a compact subset with \
            `type` and `url`).",
        "required": ["type", "features"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"], "description": "Always `FeatureCollection`."},
            "features": {
                "type": "array",
                "description": "One feature per located record (`geometry` is null for a record without a location).",
                "items": {
                    "type": "object",
                    "required": ["type", "geometry", "properties"],
                    "properties": {
                        "type": {"type": "string", "enum": ["Feature"]},
                        "id": {"type": "string", "format": "uuid"},
                        "geometry": {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "required": ["type", "coordinates"],
                                    "properties": {
                                        "type": {"type": "string", "enum": ["Point"]},
                                        "coordinates": {
                                            "type": "array",
                                            "items": {"type": "number"},
                                            "minItems": 2,
                                            "maxItems": 2
                                        }
                                    }
                                },
                                {"type": "null"}
                            ]
                        },
                        "properties": {"type": "object"}
                    }
                }
            }
        },
        "example": {
            "type": "FeatureCollection",
            "features": [{
                "type": "Feature",
                "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a40",
                "geometry": {"type": "Point", "coordinates": [9.154, 45.196]},
                "properties": {
                    "type": "lab",
                    "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a40",
                    "slug": "laboratorio-sociale-crosione",
                    "name": "Laboratorio Sociale Crosione",
                    "kind": "social_lab",
                    "themes": ["parenting"],
                    "url": "/api/v1/labs/laboratorio-sociale-crosione"
                }
            }]
        }
    })
}

fn jwks() -> Value {
    json!({
        "type": "object",
        "description": "The JSON Web Key Set (RFC 7517) of the keys that sign access tokens.",
        "required": ["keys"],
        "properties": {
            "keys": {
                "type": "array",
                "description": "Ed25519 public keys; a token's `kid` header names the one that verifies it.",
                "items": {
                    "type": "object",
                    "required": ["kty", "crv", "x", "kid", "alg", "use"],
                    "properties": {
                        "kty": {"type": "string", "enum": ["OKP"]},
                        "crv": {"type": "string", "enum": ["Ed25519"]},
                        "x": {"type": "string", "description": "The public key, base64url"},
                        "kid": {"type": "string"},
                        "alg": {"type": "string", "enum": ["EdDSA"]},
                        "use": {"type": "string", "enum": ["sig"]}
                    }
                }
            }
        },
        "example": {"keys": [{
            "kty": "OKP", "crv": "Ed25519", "x": "SgTB4IcGCX2_7SYC5gnJvQLNVBmuFvmPnYhG4wwpJE0",
            "kid": "ed25519-SgTB4IcGCX2_7SYC", "alg": "EdDSA", "use": "sig"
        }]}
    })
}

/// The property names of the objects a 200 JSON answer carries (the items, for a page).
fn answer_fields(op: &Map<String, Value>, schemas: &Value) -> Vec<String> {
    let Some(name) = op
        .get("responses")
        .and_then(|r| r.pointer("/200/content/application~1json/schema"))
        .and_then(ref_name)
    else {
        return Vec::new();
    };
    let schema = &schemas[&name];
    let object = match schema.pointer("/properties/data/items").and_then(ref_name) {
        Some(item) => &schemas[&item],
        None => schema,
    };
    object["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Query parameters whose shape the server checks get a pattern a client (or a fuzzer) can
/// read: `fields` lists the answer's own property names; ISTAT codes are six digits,
/// provinces two capitals, `near` a `lat,lon` pair and `bbox` four numbers.
fn tighten_params(op: &mut Map<String, Value>, schemas: &Value) {
    let fields = answer_fields(op, schemas);
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    const NUM: &str = r"-?[0-9]+(\.[0-9]+)?";
    for p in params.iter_mut().filter(|p| p["in"] == "query") {
        let name = p["name"].as_str().unwrap_or_default().to_owned();
        let schema = &mut p["schema"];
        match name.as_str() {
            "fields" if !fields.is_empty() => {
                let any = fields.join("|");
                schema["pattern"] = json!(format!("^({any})(,({any}))*$"));
                // The shared parameter's example names fields of one collection; give each
                // operation one of its own answer's names.
                let own: Vec<&str> = ["name", "title", "slug", "location"]
                    .into_iter()
                    .filter(|f| fields.iter().any(|k| k == f))
                    .collect();
                if own.is_empty() {
                    p.as_object_mut().map(|o| o.remove("example"));
                } else {
                    p["example"] = json!(own.join(","));
                }
            }
            "municipality" if schema["type"] == "array" => {
                schema["items"]["pattern"] = json!("^[0-9]{6}$");
            }
            "theme" if schema["type"] == "array" => {
                schema["items"]["pattern"] = json!(THEME);
            }
            "province" if schema["type"] == "array" => {
                schema["items"]["pattern"] = json!("^[A-Z]{2}$");
            }
            "near" => schema["pattern"] = json!(format!("^{NUM},{NUM}$")),
            "bbox" => schema["pattern"] = json!(format!("^{NUM},{NUM},{NUM},{NUM}$")),
            _ => {}
        }
    }
}

/// `security: [{}]` (utoipa's spelling of "no token") becomes `[]`: the operation takes no
/// credentials at all, which client generators understand (they would ask for a token).
fn public_needs_no_security(op: &mut Map<String, Value>) {
    if op.get("security") == Some(&json!([{}])) {
        op.insert("security".into(), json!([]));
    }
}

/// A theme code: 2-50 characters of `a-z`, `0-9` and `_`, starting with a letter.
const THEME: &str = "^[a-z][a-z0-9_]{1,49}$";

fn is_string(schema: &Value) -> bool {
    match &schema["type"] {
        Value::String(t) => t == "string",
        Value::Array(ts) => ts.iter().any(|t| t == "string"),
        _ => false,
    }
}

/// Properties whose form the domain checks say so in the schema, wherever they appear:
/// slugs, ISTAT codes and theme codes.
fn tighten_properties(schema: &mut Value) {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, prop) in props.iter_mut() {
        match name.as_str() {
            "slug" if is_string(prop) => {
                prop["pattern"] = json!("^[a-z0-9]+(-[a-z0-9]+)*$");
                prop["maxLength"] = json!(120);
            }
            "municipality" | "istat_code" if is_string(prop) => {
                prop["pattern"] = json!("^[0-9]{6}$");
            }
            "municipalities" if is_string(&prop["items"]) => {
                prop["items"]["pattern"] = json!("^[0-9]{6}$");
            }
            "themes" if is_string(&prop["items"]) => {
                prop["items"]["pattern"] = json!(THEME);
            }
            _ => {}
        }
    }
}
