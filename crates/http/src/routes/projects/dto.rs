//! What `/projects` reads and writes: the record as the API shows it, and what a client sends (with
//! its validation).

use super::*;

/// An organisation's part in a project.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"organisation_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "role": "funder"}))]
pub struct PartnerDto {
    /// Organisation id.
    #[schema(format = "uuid")]
    pub organisation_id: String,
    /// Role.
    #[schema(value_type = PartnerRoleCode)]
    pub role: String,
}

/// A funding line, in euros, exact.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"funder_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "amount": "150000.00"}))]
pub struct FundingDto {
    /// Funding organisation id.
    #[schema(format = "uuid")]
    pub funder_id: String,
    /// Decimal string, EUR, at most two decimals (never a float).
    #[schema(pattern = "^[0-9]+(\\.[0-9]{1,2})?$", example = "150000.00")]
    pub amount: String,
}

/// Progress on one indicator: target, actual to date and attainment.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"indicator": "families_supported", "target": 600, "actual": 159, "attainment": 0.265}))]
pub struct ResultDto {
    /// Indicator code.
    pub indicator: String,
    /// Aggregated target (`null` without one).
    pub target: Option<f64>,
    /// Aggregated actual value to date.
    pub actual: Option<f64>,
    /// `actual / target`; `null` without a target.
    pub attainment: Option<f64>,
}

/// A project as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2f", "slug": "fare-benecomune", "title": "Fare #BeneComune",
    "summary": null, "description": null, "programme": "Welfare in Azione", "phase": "active",
    "start_date": "2018-11-01", "end_date": null, "lead_organisation_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b",
    "partners": [], "funding": [], "lab_ids": [], "municipalities": ["018110"], "themes": ["parenting"],
    "objectives": [], "actions": [], "website": null, "status": "published", "version": 1,
    "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct ProjectDto {
    /// UUID v7.
    pub id: Uuid,
    /// Unique, URL-safe; usable in place of the id.
    pub slug: String,
    /// Title.
    pub title: String,
    /// One-paragraph summary.
    pub summary: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Funding programme.
    pub programme: Option<String>,
    /// Phase.
    #[schema(value_type = ProjectPhaseCode)]
    pub phase: ProjectPhase,
    /// Start date.
    pub start_date: Option<NaiveDate>,
    /// End date (not before the start).
    pub end_date: Option<NaiveDate>,
    /// Lead organisation.
    pub lead_organisation_id: Uuid,
    /// Partners with roles.
    pub partners: Vec<PartnerDto>,
    /// Funding lines.
    pub funding: Vec<FundingDto>,
    /// Labs of the project.
    pub lab_ids: Vec<Uuid>,
    /// ISTAT codes of the municipalities covered.
    pub municipalities: Vec<String>,
    /// Theme codes.
    pub themes: Vec<String>,
    /// Objectives.
    pub objectives: Vec<String>,
    /// Actions.
    pub actions: Vec<String>,
    /// Web page.
    pub website: Option<String>,
    /// Publication status.
    #[schema(value_type = StatusSchema)]
    pub status: Status,
    /// +1 on each change.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Per indicator: target, actual to date, attainment (detail view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<ResultDto>>,
}

impl From<&Project> for ProjectDto {
    fn from(p: &Project) -> Self {
        let f = &p.fields;
        Self {
            id: p.meta.id,
            slug: p.meta.slug.as_str().to_owned(),
            title: f.title.clone(),
            summary: f.summary.clone(),
            description: f.description.clone(),
            programme: f.programme.clone(),
            phase: f.phase,
            start_date: f.start_date,
            end_date: f.end_date,
            lead_organisation_id: f.lead_organisation_id,
            partners: f
                .partners
                .iter()
                .map(|x| PartnerDto {
                    organisation_id: x.organisation_id.to_string(),
                    role: x.role.as_str().to_owned(),
                })
                .collect(),
            funding: f
                .funding
                .iter()
                .map(|x| FundingDto {
                    funder_id: x.funder_id.to_string(),
                    amount: x.amount.to_canonical(),
                })
                .collect(),
            lab_ids: f.lab_ids.clone(),
            municipalities: f
                .municipalities
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect(),
            themes: f.themes.iter().map(|t| t.as_str().to_owned()).collect(),
            objectives: f.objectives.clone(),
            actions: f.actions.clone(),
            website: f.website.as_ref().map(|w| w.as_str().to_owned()),
            status: p.meta.status,
            version: p.meta.version,
            created_at: p.meta.created_at,
            updated_at: p.meta.updated_at,
            results: None,
        }
    }
}

/// What a client writes to create a project (and, as a merge patch, to change one).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Fare #BeneComune", "programme": "Welfare in Azione", "phase": "active", "start_date": "2018-11-01",
    "lead_organisation_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "municipalities": ["018110"], "themes": ["parenting"]
}))]
pub struct ProjectInput {
    /// Wanted slug; derived from the title when absent.
    #[serde(default)]
    pub slug: Option<String>,
    /// Title.
    #[schema(min_length = 1, max_length = 300)]
    pub title: String,
    /// One-paragraph summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Funding programme.
    #[serde(default)]
    pub programme: Option<String>,
    /// Phase; `planned` when absent.
    #[serde(default)]
    #[schema(value_type = Option<ProjectPhaseCode>)]
    pub phase: Option<String>,
    /// Start date, `YYYY-MM-DD`.
    #[serde(default)]
    #[schema(format = "date")]
    pub start_date: Option<String>,
    /// End date, `YYYY-MM-DD`, not before the start.
    #[serde(default)]
    #[schema(format = "date")]
    pub end_date: Option<String>,
    /// Lead organisation id. An editor may name only an organisation it is a member of
    /// (partners may be any organisation).
    #[schema(format = "uuid")]
    pub lead_organisation_id: String,
    /// Partners with roles (each organisation once).
    #[serde(default)]
    pub partners: Vec<PartnerDto>,
    /// Funding lines.
    #[serde(default)]
    pub funding: Vec<FundingDto>,
    /// Lab ids.
    #[serde(default)]
    pub lab_ids: Vec<String>,
    /// ISTAT codes covered.
    #[serde(default)]
    pub municipalities: Vec<String>,
    /// Theme codes.
    #[serde(default)]
    pub themes: Vec<String>,
    /// Objectives (up to 50, each up to 500 characters).
    #[serde(default)]
    pub objectives: Vec<String>,
    /// Actions (up to 50, each up to 500 characters).
    #[serde(default)]
    pub actions: Vec<String>,
    /// Web page.
    #[serde(default)]
    #[schema(format = "uri")]
    pub website: Option<String>,
    /// Publication status; `draft` when absent.
    #[serde(default)]
    #[schema(value_type = Option<StatusSchema>)]
    pub status: Option<String>,
}

impl ProjectInput {
    pub(super) fn parse(&self) -> Result<ProjectFields, FieldErrors> {
        let mut e = FieldErrors::new();
        let slug = e.check_opt("/slug", blank(&self.slug), Slug::parse);
        let title = e.check("/title", parse_name(&self.title, 300));
        let summary = parse_opt_text(&self.summary, "/summary", 2000, &mut e);
        let description = parse_opt_text(&self.description, "/description", 20_000, &mut e);
        let programme = match blank(&self.programme) {
            Some(p) => e.check("/programme", parse_name(p, 200)),
            None => None,
        };
        let phase = match blank(&self.phase) {
            Some(p) => e.check("/phase", ProjectPhase::parse(p)),
            None => Some(ProjectPhase::Planned),
        };
        let start_date = e.check_opt("/start_date", blank(&self.start_date), parse_date);
        let end_date = e.check_opt("/end_date", blank(&self.end_date), parse_date);
        let lead = e.check(
            "/lead_organisation_id",
            parse_id(&self.lead_organisation_id),
        );
        let partners: Vec<Partner> = self
            .partners
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let id = e.check(
                    &format!("/partners/{i}/organisation_id"),
                    parse_id(&p.organisation_id),
                );
                let role = e.check(&format!("/partners/{i}/role"), PartnerRole::parse(&p.role));
                Some(Partner {
                    organisation_id: id?,
                    role: role?,
                })
            })
            .collect();
        let funding: Vec<Funding> = self
            .funding
            .iter()
            .enumerate()
            .filter_map(|(i, x)| {
                let id = e.check(&format!("/funding/{i}/funder_id"), parse_id(&x.funder_id));
                let amount = e.check(&format!("/funding/{i}/amount"), Amount::parse(&x.amount));
                Some(Funding {
                    funder_id: id?,
                    amount: amount?,
                })
            })
            .collect();
        let mut lab_ids: Vec<Uuid> = self
            .lab_ids
            .iter()
            .enumerate()
            .filter_map(|(i, l)| e.check(&format!("/lab_ids/{i}"), parse_id(l)))
            .collect();
        lab_ids.dedup();
        let mut municipalities: Vec<IstatCode> = self
            .municipalities
            .iter()
            .enumerate()
            .filter_map(|(i, m)| e.check(&format!("/municipalities/{i}"), IstatCode::parse(m)))
            .collect();
        municipalities.sort();
        municipalities.dedup();
        let themes = parse_themes(&self.themes, &mut e);
        let objectives = parse_lines(&self.objectives, "/objectives", 50, 500, &mut e);
        let actions = parse_lines(&self.actions, "/actions", 50, 500, &mut e);
        let website = e.check_opt("/website", blank(&self.website), WebUrl::parse);
        let status = parse_status(&self.status, &mut e);
        let (Some(title), Some(phase), Some(lead_organisation_id), Some(status)) =
            (title, phase, lead, status)
        else {
            if e.is_empty() {
                e.push("/", missing());
            }
            return Err(e);
        };
        if !e.is_empty() {
            return Err(e);
        }
        let f = ProjectFields {
            slug,
            title,
            summary,
            description,
            programme,
            phase,
            start_date,
            end_date,
            lead_organisation_id,
            partners,
            funding,
            lab_ids,
            municipalities,
            themes,
            objectives,
            actions,
            website,
            status,
        };
        f.check_rules()?;
        Ok(f)
    }
}
