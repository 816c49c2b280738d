//! Sparse answers (`fields=`): their schemas, every property optional but `id`.

use super::*;

/// The schema name a `$ref` points at.
pub(super) fn ref_name(schema: &Value) -> Option<String> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .map(str::to_owned)
}

pub(super) fn sparse_name(name: &str) -> String {
    format!("{name}Sparse")
}

/// The JSON answer of an operation with `fields` is the full schema or its sparse variant.
pub(super) fn sparse_answer(op: &mut Map<String, Value>, sparse: &mut Vec<String>) {
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
pub(super) fn add_sparse_schema(schemas: &mut Map<String, Value>, name: &str) {
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
pub(super) fn trim_example(example: &mut Value) {
    if let Some(obj) = example.as_object_mut() {
        obj.retain(|k, _| ["id", "name", "slug"].contains(&k.as_str()));
    }
}

pub(super) fn add_sparse_object(schemas: &mut Map<String, Value>, name: &str) {
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
