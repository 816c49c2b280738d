//! Shapes utoipa leaves open: merge-patch bodies, GeoJSON, the JWKS, and the patterns of shared
//! parameters and properties.

use super::*;

/// The answers whose schema the handler could not name (GeoJSON, the key set).
pub(super) fn untyped_answers(path: &str, op: &mut Map<String, Value>) {
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
pub(super) fn merge_patch_bodies(v: &mut Value) -> Vec<(String, String)> {
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
pub(super) fn add_patch_schema(schemas: &mut Map<String, Value>, input: &str, patch: &str) {
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

pub(super) fn feature_collection() -> Value {
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

pub(super) fn jwks() -> Value {
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
pub(super) fn answer_fields(op: &Map<String, Value>, schemas: &Value) -> Vec<String> {
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
pub(super) fn tighten_params(op: &mut Map<String, Value>, schemas: &Value) {
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
pub(super) fn public_needs_no_security(op: &mut Map<String, Value>) {
    if op.get("security") == Some(&json!([{}])) {
        op.insert("security".into(), json!([]));
    }
}

/// A theme code: 2-50 characters of `a-z`, `0-9` and `_`, starting with a letter.
pub(super) const THEME: &str = "^[a-z][a-z0-9_]{1,49}$";

pub(super) fn is_string(schema: &Value) -> bool {
    match &schema["type"] {
        Value::String(t) => t == "string",
        Value::Array(ts) => ts.iter().any(|t| t == "string"),
        _ => false,
    }
}

/// Properties whose form the domain checks say so in the schema, wherever they appear:
/// slugs, ISTAT codes and theme codes.
pub(super) fn tighten_properties(schema: &mut Value) {
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
