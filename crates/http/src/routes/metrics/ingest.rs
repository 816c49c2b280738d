//! `POST /projects/{id}/metrics`: batches of observations, all or nothing.

use super::*;
use crate::answers;
use crate::cache::Deps;
use crate::caller::Caller;
use crate::dto::{blank, parse_id};
use crate::error::{ApiError, Problem, ProblemField};
use crate::extract::{JsonAny, from_value};
use crate::routes::projects::{ProjectPath, find_project};
use crate::routes::writes;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, post, web};
use legami_domain::{
    Dimensions, FieldError, FieldErrors, IstatCode, MetricFields, MetricKind, MetricValue,
    ThemeCode, parse_date, parse_name, parse_text,
};
use legami_persistence::metrics::{self as store, MAX_BATCH};
use serde_json::Value;

fn dim(raw: &Option<String>, at: &str, e: &mut FieldErrors) -> Option<String> {
    blank(raw).and_then(|v| e.check(at, parse_name(v, 80)))
}

fn parse_row(m: &MetricInput, at: &str, e: &mut FieldErrors) -> Option<MetricFields> {
    let indicator = e.check(&format!("{at}/indicator"), ThemeCode::parse(&m.indicator));
    let kind = e.check(&format!("{at}/kind"), MetricKind::parse(&m.kind));
    let value = match &m.value {
        Value::Number(n) => e.check(&format!("{at}/value"), MetricValue::parse(&n.to_string())),
        _ => {
            e.push(
                &format!("{at}/value"),
                FieldError::new("type", "a value is a number >= 0"),
            );
            None
        }
    };
    let start = e.check(&format!("{at}/period_start"), parse_date(&m.period_start));
    let end = e.check(&format!("{at}/period_end"), parse_date(&m.period_end));
    if let (Some(s), Some(en)) = (start, end)
        && en < s
    {
        e.push(
            &format!("{at}/period_end"),
            FieldError::new("order", "period_end cannot be before period_start"),
        );
    }
    let lab_id = e.check_opt(&format!("{at}/lab_id"), blank(&m.lab_id), parse_id);
    let municipality = e.check_opt(
        &format!("{at}/municipality"),
        blank(&m.municipality),
        IstatCode::parse,
    );
    let d = m.dimensions.clone().unwrap_or_default();
    let dimensions = Dimensions {
        age_band: dim(&d.age_band, &format!("{at}/dimensions/age_band"), e),
        gender: dim(&d.gender, &format!("{at}/dimensions/gender"), e),
        group: dim(&d.group, &format!("{at}/dimensions/group"), e),
    };
    let source = blank(&m.source).and_then(|s| {
        e.check(&format!("{at}/source"), parse_text(s, 1000))
            .flatten()
    });
    let note = blank(&m.note).and_then(|s| {
        e.check(&format!("{at}/note"), parse_text(s, 2000))
            .flatten()
    });
    Some(MetricFields {
        indicator: indicator?,
        kind: kind?,
        value: value?,
        period_start: start?,
        period_end: end?,
        lab_id,
        municipality,
        dimensions,
        source,
        note,
    })
}

fn prefix(err: ApiError, at: &str) -> ApiError {
    let fix = |v: Vec<ProblemField>| {
        v.into_iter()
            .map(|p| ProblemField {
                field: format!("{at}{}", p.field),
                ..p
            })
            .collect()
    };
    match err {
        ApiError::BadRequest { detail, errors } => ApiError::BadRequest {
            detail,
            errors: fix(errors),
        },
        ApiError::Validation(v) => ApiError::Validation(fix(v)),
        other => other,
    }
}

/// The observations of a batch body (is it one object?), each parsed or with its error. A
/// well-formed body, the usual case, is parsed straight into `MetricInput`s; only one with a bad
/// row goes through `serde_json::Value`, where each row is deserialised on its own so that the
/// errors name the row and the field.
fn batch_items(raw: &[u8]) -> Result<(Vec<Result<MetricInput, ApiError>>, bool), ApiError> {
    match raw.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            if let Ok(rows) = serde_json::from_slice::<Vec<MetricInput>>(raw) {
                return Ok((rows.into_iter().map(Ok).collect(), false));
            }
        }
        Some(b'{') => {
            if let Ok(row) = serde_json::from_slice::<MetricInput>(raw) {
                return Ok((vec![Ok(row)], true));
            }
        }
        _ => {}
    }
    let (values, single) = match JsonAny::parse(raw)?.0 {
        Value::Array(items) => (items, false),
        obj @ Value::Object(_) => (vec![obj], true),
        _ => {
            return Err(ApiError::bad_request(
                "send one observation object or an array of them",
            ));
        }
    };
    Ok((
        values.into_iter().map(from_value::<MetricInput>).collect(),
        single,
    ))
}

/// Record observations of a project: one object, or an array of up to 1,000, all or nothing.
///
/// Every row is checked before anything is stored; each bad row gets its own `errors[]` entries
/// (`/3/value`). `lab_id` must be one of the project's labs.
#[utoipa::path(
    tag = "metrics",
    params(ProjectPath),
    request_body(content = Vec<MetricInput>, content_type = "application/json", description = "One `MetricInput` object, or an array of up to 1,000"),
    responses(
        (status = 201, description = "Stored; a single object answers a `MetricDto`, an array a `MetricBatchResult`", body = MetricBatchResult),
        answers::MalformedJson, answers::NoToken,
        (status = 404, description = "No such project", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The body did not arrive in time (`LEGAMI_BODY_TIMEOUT_SECS`, 30 s by default, from its turn to be read); nothing was stored", body = Problem, content_type = "application/problem+json"),
        answers::TooLarge, answers::NotJson,
        (status = 422, description = "Invalid rows; nothing was stored", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/projects/{id}/metrics")]
pub async fn create_metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ProjectPath>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    crate::cache::writes(&req, Deps::METRICS);
    let project = find_project(&state, &path.id, &caller.visibility()).await?;
    caller.may_write_metrics(&project.fields.owners())?;
    // Bodies are read a few at a time (the rest wait unread in their connections), each within
    // the body deadline that every read of a body has (`LEGAMI_BODY_TIMEOUT_SECS`, counted from
    // here); a read body then queues for one of the permits to parse and write.
    let stopping = |_| ApiError::Unavailable("the server is stopping".into());
    let reading = state.ingest_bodies.acquire().await.map_err(stopping)?;
    let raw = JsonAny::read(&req, payload).await?;
    let _permit = state.ingest.acquire().await.map_err(stopping)?;
    drop(reading);
    let (items, single) = batch_items(&raw)?;
    drop(raw);
    if items.is_empty() {
        return Err(ApiError::invalid(
            "/",
            "required",
            "send at least one observation",
        ));
    }
    if items.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "/",
            "length",
            format!("at most {MAX_BATCH} observations per request"),
        ));
    }
    let mut e = FieldErrors::new();
    let mut rows = Vec::with_capacity(items.len());
    let mut unknown_fields: Vec<ProblemField> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = if single {
            String::new()
        } else {
            format!("/{i}")
        };
        match item {
            Ok(input) => {
                if let Some(r) = parse_row(&input, &at, &mut e) {
                    rows.push(r);
                }
            }
            Err(err) => match prefix(err, &at) {
                ApiError::BadRequest { errors, .. } => unknown_fields.extend(errors),
                ApiError::Validation(v) => {
                    for p in v {
                        e.0.push(FieldError {
                            field: p.field,
                            code: p.code,
                            message: p.message,
                        });
                    }
                }
                other => return Err(other),
            },
        }
    }
    if !unknown_fields.is_empty() {
        return Err(ApiError::BadRequest {
            detail: format!(
                "{} unknown or read-only field(s); nothing was stored",
                unknown_fields.len()
            ),
            errors: unknown_fields,
        });
    }
    if !e.is_empty() {
        return Err(e.into());
    }
    let labs = legami_persistence::projects::lab_ids(&state.db, project.meta.id).await?;
    let stored = store::insert_batch(&state.db, project.meta.id, rows, &labs, &caller.actor()?)
        .await
        .map_err(|err| match err {
            legami_persistence::StoreError::Invalid(mut fe) if single => {
                for f in &mut fe.0 {
                    f.field = f.field.trim_start_matches("/0").to_owned();
                }
                ApiError::from(fe)
            }
            other => other.into(),
        })?;
    if single {
        let m = &stored[0];
        return writes::created(
            &req,
            &caller,
            &MetricDto::from(m),
            &format!("/api/v1/metrics?project={}", project.meta.id),
        );
    }
    let body = MetricBatchResult {
        count: stored.len(),
        data: stored.iter().map(MetricDto::from).collect(),
    };
    writes::created(
        &req,
        &caller,
        &body,
        &format!("/api/v1/metrics?project={}", project.meta.id),
    )
}
