//! The demo projects and the participation figures their texts give.

use super::*;
use legami_domain::{
    Dimensions, IdOrSlug, MetricFields, MetricKind, MetricValue, Partner, PartnerRole,
    ProjectFields, ProjectPhase, Status, ThemeCode, Visibility,
};
use legami_persistence::DatabaseConnection;
use uuid::Uuid;

/// (indicator, kind, value, start, end, group, source, note)
type Figure = (
    &'static str,
    MetricKind,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
);

const BENECOMUNE_SOURCE: &str =
    "CSV Lombardia Sud, «E' nata la Mappa dei laboratori Sociali Fare#Bene Comune», luglio 2020";
const LEGAMI_SOURCE: &str =
    "Fondazione Cariplo, Welfare in Azione, «Fare Legami», risultati attesi";
const LEGAMI_NOTE: Option<&str> =
    Some("Periodo di riferimento di esempio: il testo non indica date.");

const BENECOMUNE: &[Figure] = &[
    (
        "families_supported",
        MetricKind::Actual,
        "159",
        "2018-11-01",
        "2020-07-02",
        None,
        BENECOMUNE_SOURCE,
        Some(
            "Nuclei familiari aiutati a Pavia e nel Distretto sociale pavese \"in poco più di un anno\".",
        ),
    ),
    (
        "minors_involved",
        MetricKind::Actual,
        "600",
        "2018-11-01",
        "2020-07-02",
        Some("eventi ludici e culturali"),
        BENECOMUNE_SOURCE,
        Some("\"oltre 600 minori\" in situazioni di svantaggio educativo e sociale."),
    ),
    (
        "minors_involved",
        MetricKind::Actual,
        "100",
        "2018-11-01",
        "2020-07-02",
        Some("laboratori di cittadinanza"),
        BENECOMUNE_SOURCE,
        Some(
            "Altri 100 in laboratori di cittadinanza, scambi europei e corsi di avvicinamento al lavoro.",
        ),
    ),
    (
        "citizens_reached",
        MetricKind::Actual,
        "7100",
        "2018-11-01",
        "2020-07-02",
        None,
        BENECOMUNE_SOURCE,
        Some("\"oltre 7100 cittadini e cittadine\"."),
    ),
    (
        "organisations_involved",
        MetricKind::Actual,
        "116",
        "2018-11-01",
        "2020-07-02",
        None,
        BENECOMUNE_SOURCE,
        Some("Organizzazioni sociali e gruppi informali."),
    ),
    (
        "volunteers",
        MetricKind::Actual,
        "235",
        "2018-11-01",
        "2020-07-02",
        None,
        BENECOMUNE_SOURCE,
        None,
    ),
];

const FARE_LEGAMI: &[Figure] = &[
    (
        "beneficiaries",
        MetricKind::Target,
        "500",
        "2018-01-01",
        "2020-12-31",
        None,
        LEGAMI_SOURCE,
        LEGAMI_NOTE,
    ),
    (
        "labs_active",
        MetricKind::Target,
        "45",
        "2018-01-01",
        "2020-12-31",
        Some("laboratori di comunità"),
        LEGAMI_SOURCE,
        LEGAMI_NOTE,
    ),
    (
        "companies_involved",
        MetricKind::Target,
        "15",
        "2018-01-01",
        "2020-12-31",
        None,
        LEGAMI_SOURCE,
        LEGAMI_NOTE,
    ),
    (
        "workers_involved",
        MetricKind::Target,
        "1000",
        "2018-01-01",
        "2020-12-31",
        None,
        LEGAMI_SOURCE,
        LEGAMI_NOTE,
    ),
    (
        "schools_involved",
        MetricKind::Target,
        "10",
        "2018-01-01",
        "2020-12-31",
        Some("istituti comprensivi"),
        LEGAMI_SOURCE,
        LEGAMI_NOTE,
    ),
    (
        "pupils_involved",
        MetricKind::Target,
        "1500",
        "2018-01-01",
        "2020-12-31",
        None,
        LEGAMI_SOURCE,
        LEGAMI_NOTE,
    ),
    (
        "families_supported",
        MetricKind::Target,
        "500",
        "2018-01-01",
        "2020-12-31",
        None,
        LEGAMI_SOURCE,
        LEGAMI_NOTE,
    ),
    (
        "public_officials_involved",
        MetricKind::Target,
        "100",
        "2018-01-01",
        "2020-12-31",
        None,
        LEGAMI_SOURCE,
        LEGAMI_NOTE,
    ),
    (
        "training_labs",
        MetricKind::Target,
        "10",
        "2018-01-01",
        "2020-12-31",
        None,
        LEGAMI_SOURCE,
        LEGAMI_NOTE,
    ),
];

fn figures(list: &[Figure], municipality: Option<&str>) -> anyhow::Result<Vec<MetricFields>> {
    list.iter()
        .map(|(ind, kind, value, start, end, group, source, note)| {
            Ok(MetricFields {
                indicator: ThemeCode::parse(ind).map_err(|e| anyhow::anyhow!(e.message))?,
                kind: *kind,
                value: MetricValue::parse(value).map_err(|e| anyhow::anyhow!(e.message))?,
                period_start: date(start)?,
                period_end: date(end)?,
                lab_id: None,
                municipality: municipality.map(istat).transpose()?,
                dimensions: Dimensions {
                    group: group.map(str::to_owned),
                    ..Default::default()
                },
                source: Some((*source).to_owned()),
                note: note.map(str::to_owned),
            })
        })
        .collect()
}

struct DemoProject {
    fields: ProjectFields,
    figures: Vec<MetricFields>,
}

pub(super) async fn projects(db: &DatabaseConnection, lab_ids: &[Uuid]) -> anyhow::Result<usize> {
    let cariplo = org(db, "fondazione-cariplo").await?;
    let regione = org(db, "regione-lombardia").await?;
    let csv = org(db, "csv-lombardia").await?;
    let base = |s: &str, title: &str, lead: Uuid| -> anyhow::Result<ProjectFields> {
        Ok(ProjectFields {
            slug: Some(slug(s)?),
            title: title.into(),
            summary: None,
            description: None,
            programme: None,
            phase: ProjectPhase::Active,
            start_date: None,
            end_date: None,
            lead_organisation_id: lead,
            partners: Vec::new(),
            funding: Vec::new(),
            lab_ids: Vec::new(),
            municipalities: Vec::new(),
            themes: Vec::new(),
            objectives: Vec::new(),
            actions: Vec::new(),
            website: None,
            status: Status::Published,
        })
    };
    let mut list = Vec::new();

    let mut p = base(
        "fare-benecomune",
        "Fare #BeneComune",
        org(db, "consorzio-sociale-pavese").await?,
    )?;
    p.summary = Some("Progetto triennale di welfare di comunità del Distretto sociale pavese per le famiglie con figli minori, in collaborazione tra istituzioni, associazioni e cittadini.".into());
    p.description = Some("Promosso dal Consorzio Sociale Pavese e cofinanziato dalla Fondazione Cariplo con il programma Welfare in Azione, avviato nel novembre 2018. Ha potenziato l'Assessorato ai Servizi Sociali del Comune di Pavia e il Consorzio, coordinando assistenti sociali, istituti scolastici, laboratori sociali e partner. A luglio 2020 si avvicinava a metà del percorso (fonte: CSV Lombardia Sud, «E' nata la Mappa dei laboratori Sociali Fare#Bene Comune», luglio 2020).".into());
    p.programme = Some("Welfare in Azione".into());
    p.start_date = Some(date("2018-11-01")?);
    p.partners = vec![
        Partner {
            organisation_id: cariplo,
            role: PartnerRole::Funder,
        },
        Partner {
            organisation_id: org(db, "comune-di-pavia").await?,
            role: PartnerRole::Partner,
        },
        Partner {
            organisation_id: org(db, "csv-lombardia-sud").await?,
            role: PartnerRole::Partner,
        },
    ];
    p.lab_ids = lab_ids.to_vec();
    p.municipalities = vec![istat("018110")?];
    p.themes = themes(&[
        "parenting",
        "school_support",
        "social_inclusion",
        "mutual_help",
    ])?;
    p.objectives = lines(&[
        "Aiutare le famiglie con figli minori a carico",
        "Sviluppare iniziative di welfare comunitario capaci di dialogare con il welfare municipale",
    ]);
    p.actions = lines(&[
        "Sostegno a nuclei familiari con problemi economici, lavorativi e relazionali",
        "Eventi ludici e culturali per minori in svantaggio educativo",
        "Laboratori di cittadinanza, scambi europei e corsi di avvicinamento al lavoro",
        "Rete e Mappa dei Laboratori Sociali",
    ]);
    list.push(DemoProject {
        fields: p,
        figures: figures(BENECOMUNE, Some("018110"))?,
    });

    let mut p = base(
        "fare-legami",
        "Fare Legami",
        org(db, "comune-di-cremona").await?,
    )?;
    p.summary = Some("Ricerca-azione di welfare per sostenere persone e famiglie a rischio con percorsi di empowerment, laboratori di comunità e nuove collaborazioni tra pubblico, privato sociale e profit.".into());
    p.description = Some("Progetto del programma Welfare in Azione di Fondazione Cariplo a Crema, Cremona e Casalmaggiore (provincia di Cremona). Il capofila indicato è un dato di esempio: il testo non lo nomina (fonte: Fondazione Cariplo, Welfare in Azione, «Fare Legami»).".into());
    p.programme = Some("Welfare in Azione".into());
    p.partners = vec![
        Partner {
            organisation_id: cariplo,
            role: PartnerRole::Funder,
        },
        Partner {
            organisation_id: org(db, "comune-di-crema").await?,
            role: PartnerRole::Partner,
        },
        Partner {
            organisation_id: org(db, "comune-di-casalmaggiore").await?,
            role: PartnerRole::Partner,
        },
    ];
    p.municipalities = vec![istat("019021")?, istat("019035")?, istat("019036")?];
    p.themes = themes(&[
        "social_inclusion",
        "employment",
        "corporate_engagement",
        "parenting",
    ])?;
    p.objectives = lines(&[
        "Intercettare i soggetti vulnerabili in ottica partecipativa e preventiva",
        "Favorire la revisione complessiva del modello di lavoro sociale mediante l'investimento sul lavoro di comunità",
        "Sviluppare opportunità d'incontro, di socializzazione e di aggregazione delle persone nei luoghi di vita",
        "Guardare allo sviluppo del territorio sulla base della qualità del tessuto sociale",
        "Favorire percorsi di attivazione delle persone per l'autonomia",
        "Ristrutturare i processi di accesso e (ri)collocamento al lavoro",
    ]);
    p.actions = lines(&[
        "Patti generativi per l'inclusione sociale di famiglie con minori e giovani disoccupati",
        "Laboratori di comunità",
        "Civic center per attività extrascolastiche, animative, culturali e aggregative",
        "Wel(l)fare lab",
    ]);
    list.push(DemoProject {
        fields: p,
        figures: figures(FARE_LEGAMI, None)?,
    });

    let mut p = base(
        "contatto-trame-riparative",
        "COnTatto: trame riparative nella comunità",
        csv,
    )?;
    p.summary = Some("Rimette al centro la comunità nella gestione dei conflitti, perché incomprensioni e contenziosi non siano delegati solo al sistema giudiziario. Finanziato da Fondazione Cariplo (fonte: CSV Lombardia, «Per il territorio»); capofila: dato di esempio.".into());
    p.partners = vec![Partner {
        organisation_id: cariplo,
        role: PartnerRole::Funder,
    }];
    p.themes = themes(&["restorative_justice", "civic_participation"])?;
    list.push(DemoProject {
        fields: p,
        figures: Vec::new(),
    });

    let mut p = base(
        "mind-the-gap-azzardo",
        "MIND THE G.A.P. - L'azzardo azzanna",
        org(db, "ats-brianza").await?,
    )?;
    p.summary = Some("Condivisione del modello di contrasto al gioco d'azzardo del Distretto di Lecco, da replicare negli 8 Ambiti Territoriali di ATS Brianza. Finanziato da Regione Lombardia (fonte: CSV Lombardia, «Per il territorio»); capofila: dato di esempio.".into());
    p.partners = vec![Partner {
        organisation_id: regione,
        role: PartnerRole::Funder,
    }];
    p.municipalities = vec![istat("097042")?];
    p.themes = themes(&["gambling_prevention", "health_prevention"])?;
    list.push(DemoProject {
        fields: p,
        figures: Vec::new(),
    });

    let mut p = base(
        "valoriamo-marketing-sociale",
        "Valoriamo - Marketing sociale",
        csv,
    )?;
    p.summary = Some("Il marketing sociale come strumento per raccolte fondi stabili e strutturate a sostegno delle organizzazioni non profit e delle associazioni locali, promuovendo il lavoro in provincia di Lecco (fonte: CSV Lombardia, «Per il territorio»); capofila: dato di esempio.".into());
    p.municipalities = vec![istat("097042")?];
    p.themes = themes(&["fundraising", "corporate_engagement"])?;
    list.push(DemoProject {
        fields: p,
        figures: Vec::new(),
    });

    let mut added = 0;
    for d in list {
        let key = IdOrSlug::Slug(
            d.fields
                .slug
                .clone()
                .ok_or_else(|| anyhow::anyhow!("slug"))?,
        );
        if !missing(
            legami_persistence::record::find::<legami_domain::Project>(
                db,
                &key,
                &Visibility::Privileged,
            )
            .await,
        )? {
            continue;
        }
        let labs = d.fields.lab_ids.clone();
        let created = legami_persistence::record::create::<legami_domain::Project, _>(
            db,
            d.fields,
            &legami_persistence::audit::Audit {
                actor: &legami_persistence::audit::Actor::system(),
                view: &crate::view::loader_view::<legami_domain::Project>,
            },
        )
        .await?;
        if !d.figures.is_empty() {
            legami_persistence::metrics::insert_batch(
                db,
                created.meta.id,
                d.figures,
                &labs,
                &legami_persistence::audit::Actor::system(),
            )
            .await?;
        }
        added += 1;
    }
    Ok(added)
}
