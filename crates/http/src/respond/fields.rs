//! Sparse fieldsets (`fields=name,slug`).

use crate::error::ApiError;
use serde_json::Value;
use std::collections::HashSet;
use utoipa::ToSchema;

/// A sparse fieldset (`fields=name,slug`): the chosen top-level fields plus `id`.
#[derive(Debug, Clone, Default)]
pub struct FieldSet(Option<HashSet<String>>);

impl FieldSet {
    /// Parses `fields=` against the names a representation has; unknown names are a `422`.
    pub fn parse(raw: Option<&str>, known: &[String]) -> Result<Self, ApiError> {
        let Some(raw) = raw else {
            return Ok(Self(None));
        };
        let mut set = HashSet::new();
        let mut unknown: Vec<&str> = Vec::new();
        let mut seen = HashSet::new();
        for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if known.iter().any(|k| k == name) {
                set.insert(name.to_owned());
            } else if seen.insert(name) {
                // Each distinct name once; the error renderer caps how many are listed.
                unknown.push(name);
            }
        }
        if !unknown.is_empty() {
            // The known names are stated once, in the first entry.
            let errors = unknown
                .iter()
                .enumerate()
                .map(|(i, name)| crate::error::ProblemField {
                    field: "fields".into(),
                    code: "unknown_field".into(),
                    message: if i == 0 {
                        format!("unknown field '{name}'; known: {}", known.join(", "))
                    } else {
                        format!("unknown field '{name}'")
                    },
                })
                .collect();
            return Err(ApiError::Validation(errors));
        }
        if set.is_empty() {
            return Err(ApiError::invalid(
                "fields",
                "required",
                "name at least one field",
            ));
        }
        set.insert("id".into());
        Ok(Self(Some(set)))
    }

    /// Keeps only the chosen fields of a JSON object.
    pub fn apply(&self, mut v: Value) -> Value {
        if let (Some(set), Value::Object(map)) = (&self.0, &mut v) {
            map.retain(|k, _| set.contains(k));
        }
        v
    }

    /// Whether a top-level field is kept.
    pub fn keeps(&self, name: &str) -> bool {
        self.0.as_ref().is_none_or(|s| s.contains(name))
    }
}

/// The property names of a schema: the field names `fields=` accepts. Composed once per type
/// (building a schema costs more than the rest of a record read).
pub fn schema_fields<T: ToSchema + 'static>() -> &'static [String] {
    use std::any::TypeId;
    use std::collections::HashMap;
    use std::sync::{OnceLock, RwLock};
    use utoipa::openapi::{RefOr, Schema};
    static CACHE: OnceLock<RwLock<HashMap<TypeId, &'static [String]>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let id = TypeId::of::<T>();
    if let Some(known) = cache.read().ok().and_then(|c| c.get(&id).copied()) {
        return known;
    }
    let names: Vec<String> = match T::schema() {
        RefOr::T(Schema::Object(o)) => o.properties.keys().cloned().collect(),
        _ => Vec::new(),
    };
    // One leak per DTO type: a fixed, small set.
    let names: &'static [String] = names.leak();
    match cache.write() {
        Ok(mut c) => c.entry(id).or_insert(names),
        Err(_) => names,
    }
}
