//! Demo labs, areas, networks, projects and participation figures from public texts (cited in the
//! records by publisher and title).
//!
//! Figures carry their source and are dated by what the texts say. Labs of the Rete dei
//! Laboratori Sociali are examples (names, places and hours are invented and say so); so are
//! project leads and periods the texts do not give.

use chrono::NaiveDate;
use legami_domain::{
    Address, Aggregation, AreaFields, AreaKind, Contact, IdOrSlug, Indicator, IndicatorUnit,
    IstatCode, LabFields, LabKind, Location, Member, MemberType, NetworkFields, OpeningSlot,
    Operator, OperatorRole, Postcode, Slug, Status, ThemeCode, Visibility,
};
use legami_persistence::municipalities::MunicipalityFilter;
use legami_persistence::{DatabaseConnection, PageRequest, SortSpec, StoreError};
use uuid::Uuid;

mod projects;

use projects::projects;

fn slug(s: &str) -> anyhow::Result<Slug> {
    Slug::parse(s).map_err(|e| anyhow::anyhow!("{s}: {}", e.message))
}

fn themes(list: &[&str]) -> anyhow::Result<Vec<ThemeCode>> {
    list.iter()
        .map(|t| ThemeCode::parse(t).map_err(|e| anyhow::anyhow!(e.message)))
        .collect()
}

fn istat(code: &str) -> anyhow::Result<IstatCode> {
    IstatCode::parse(code).map_err(|e| anyhow::anyhow!(e.message))
}

fn date(s: &str) -> anyhow::Result<NaiveDate> {
    Ok(NaiveDate::parse_from_str(s, "%Y-%m-%d")?)
}

fn lines(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

async fn org(db: &DatabaseConnection, s: &str) -> anyhow::Result<Uuid> {
    Ok(
        legami_persistence::record::find::<legami_domain::Organisation>(
            db,
            &IdOrSlug::Slug(slug(s)?),
            &Visibility::Privileged,
        )
        .await?
        .meta
        .id,
    )
}

fn missing<T>(r: Result<T, StoreError>) -> anyhow::Result<bool> {
    match r {
        Ok(_) => Ok(false),
        Err(StoreError::NotFound) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

async fn municipalities_of(
    db: &DatabaseConnection,
    provinces: &[&str],
) -> anyhow::Result<Vec<IstatCode>> {
    let filter = MunicipalityFilter {
        provinces: provinces.iter().map(|p| (*p).to_owned()).collect(),
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = PageRequest {
            limit: 100,
            after,
            count: false,
            sort: SortSpec {
                field: "istat_code",
                desc: false,
            },
        };
        let p = legami_persistence::municipalities::list(db, &filter, &page).await?;
        for m in &p.items {
            out.push(istat(&m.istat_code)?);
        }
        match p.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

async fn indicators(db: &DatabaseConnection) -> anyhow::Result<usize> {
    let extra = [
        (
            "public_officials_involved",
            "Amministratori e operatori pubblici coinvolti",
            "Public officials involved",
            IndicatorUnit::People,
            Aggregation::Max,
        ),
        (
            "training_labs",
            "Laboratori formativi",
            "Training labs",
            IndicatorUnit::Count,
            Aggregation::Sum,
        ),
    ];
    let mut added = 0;
    for (code, it, en, unit, aggregation) in extra {
        let code = ThemeCode::parse(code).map_err(|e| anyhow::anyhow!(e.message))?;
        if missing(legami_persistence::indicators::get(db, &code).await)? {
            let i = Indicator {
                code,
                name_it: it.into(),
                name_en: en.into(),
                description: Some(
                    "Aggiunto per gli obiettivi di Fare Legami (fonte: Fondazione Cariplo, Welfare in Azione, «Fare Legami»).".into(),
                ),
                unit,
                aggregation,
                created_at: chrono::Utc::now(),
            };
            legami_persistence::indicators::create(
                db,
                &i,
                &legami_persistence::audit::Actor::system(),
            )
            .await?;
            added += 1;
        }
    }
    Ok(added)
}

async fn areas(db: &DatabaseConnection) -> anyhow::Result<usize> {
    let brianza = municipalities_of(db, &["LC", "MB"]).await?;
    let list = vec![
        (
            "ats-brianza-territorio",
            "Territorio di ATS Brianza",
            AreaKind::HealthAuthority,
            "Le province di Lecco e di Monza e della Brianza, articolate in 8 Ambiti Territoriali (fonte: CSV Lombardia, «Per il territorio»).",
            brianza,
        ),
        (
            "ambito-di-lecco",
            "Ambito di Lecco",
            AreaKind::Ambito,
            "Ambito territoriale che nel 2019 ha scelto l'Impresa Sociale Consorzio Girasole (fonte: Ambito di Lecco, «Piano di Zona»: Una rinnovata strategia della solidarietà). Elenco dei comuni parziale: solo Lecco (esempio).",
            vec![istat("097042")?],
        ),
        (
            "distretto-sociale-pavese",
            "Distretto sociale pavese",
            AreaKind::District,
            "Distretto di Fare #BeneComune e della Rete dei Laboratori Sociali (fonti: CSV Lombardia Sud, «E' nata la Mappa dei laboratori Sociali Fare#Bene Comune», luglio 2020; CSV Lombardia Sud, «Il manifesto e la mappa dei Laboratori Sociali e dei Gruppi di cittadini»). Elenco dei comuni parziale: solo Pavia (esempio).",
            vec![istat("018110")?],
        ),
        (
            "fare-legami-territorio",
            "Territorio di Fare Legami",
            AreaKind::Other,
            "Crema, Cremona e Casalmaggiore, provincia di Cremona (fonte: Fondazione Cariplo, Welfare in Azione, «Fare Legami»).",
            vec![istat("019021")?, istat("019035")?, istat("019036")?],
        ),
    ];
    let mut added = 0;
    for (s, name, kind, description, municipalities) in list {
        if missing(
            legami_persistence::record::find::<legami_domain::Area>(
                db,
                &IdOrSlug::Slug(slug(s)?),
                &Visibility::Privileged,
            )
            .await,
        )? {
            legami_persistence::record::create::<legami_domain::Area, _>(
                db,
                AreaFields {
                    slug: Some(slug(s)?),
                    name: name.into(),
                    kind,
                    description: Some(description.into()),
                    municipalities,
                    status: Status::Published,
                },
                &legami_persistence::audit::Audit {
                    actor: &legami_persistence::audit::Actor::system(),
                    view: &crate::view::loader_view::<legami_domain::Area>,
                },
            )
            .await?;
            added += 1;
        }
    }
    Ok(added)
}

struct ExampleLab {
    slug: &'static str,
    name: &'static str,
    neighbourhood: &'static str,
    at: (f64, f64),
    themes: &'static [&'static str],
    activities: &'static [&'static str],
    hours: &'static [(&'static str, &'static str, &'static str)],
}

const LABS: &[ExampleLab] = &[
    ExampleLab {
        slug: "laboratorio-sociale-pavia-ovest-esempio",
        name: "Laboratorio Sociale Pavia Ovest (esempio)",
        neighbourhood: "Pavia Ovest",
        at: (45.1905, 9.1370),
        themes: &["green_spaces", "mutual_help", "civic_participation"],
        activities: &["cura del verde", "orto condiviso", "scambio e mutuo aiuto"],
        hours: &[("wed", "16:30", "19:00"), ("sat", "10:00", "12:30")],
    },
    ExampleLab {
        slug: "laboratorio-sociale-crosione-esempio",
        name: "Laboratorio Sociale Crosione (esempio)",
        neighbourhood: "Crosione",
        at: (45.1960, 9.1540),
        themes: &["school_support", "parenting"],
        activities: &["supporto scolastico", "formazione per genitori"],
        hours: &[("mon", "15:00", "18:00"), ("thu", "15:00", "18:00")],
    },
    ExampleLab {
        slug: "laboratorio-sociale-san-pietro-esempio",
        name: "Laboratorio Sociale San Pietro in Verzolo (esempio)",
        neighbourhood: "San Pietro in Verzolo",
        at: (45.1880, 9.1700),
        themes: &["health_prevention", "culture", "social_inclusion"],
        activities: &[
            "percorsi su salute e prevenzione",
            "promozione culturale",
            "feste di quartiere",
        ],
        hours: &[("tue", "17:00", "19:00")],
    },
];

async fn labs(db: &DatabaseConnection) -> anyhow::Result<(usize, Vec<Uuid>)> {
    let manager = org(db, "consorzio-sociale-pavese").await?;
    let partner = org(db, "csv-lombardia-sud").await?;
    let mut added = 0;
    let mut ids = Vec::new();
    for l in LABS {
        let key = IdOrSlug::Slug(slug(l.slug)?);
        if let Ok(found) = legami_persistence::record::find::<legami_domain::Lab>(
            db,
            &key,
            &Visibility::Privileged,
        )
        .await
        {
            ids.push(found.meta.id);
            continue;
        }
        let hours = l
            .hours
            .iter()
            .map(|(d, o, c)| {
                OpeningSlot::parse(d, o, c).map_err(|_| anyhow::anyhow!("bad demo hours"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let fields = LabFields {
            slug: Some(slug(l.slug)?),
            name: l.name.into(),
            kind: LabKind::SocialLab,
            description: Some(format!(
                "Laboratorio di esempio della Rete dei Laboratori Sociali di Pavia: luogo fisico e di relazione, punto di riferimento per cittadini e organizzazioni del quartiere {} (fonti: CSV Lombardia Sud, «E' nata la Mappa dei laboratori Sociali Fare#Bene Comune», luglio 2020; CSV Lombardia Sud, «Il manifesto e la mappa dei Laboratori Sociali e dei Gruppi di cittadini»). Nome, indirizzo, posizione e orari sono dati di esempio.",
                l.neighbourhood
            )),
            themes: themes(l.themes)?,
            activities: lines(l.activities),
            operators: vec![
                Operator {
                    organisation_id: manager,
                    role: OperatorRole::Manager,
                },
                Operator {
                    organisation_id: partner,
                    role: OperatorRole::Partner,
                },
            ],
            address: Address {
                street: Some("Indirizzo di esempio".into()),
                postcode: Some(Postcode::parse("27100").map_err(|e| anyhow::anyhow!(e.message))?),
                municipality: istat("018110")?,
            },
            neighbourhood: Some(l.neighbourhood.into()),
            location: Location {
                lat: l.at.0,
                lon: l.at.1,
            },
            opening_hours: hours,
            contact: Contact::default(),
            accessibility: None,
            status: Status::Published,
        };
        ids.push(
            legami_persistence::record::create::<legami_domain::Lab, _>(
                db,
                fields,
                &legami_persistence::audit::Audit {
                    actor: &legami_persistence::audit::Actor::system(),
                    view: &crate::view::loader_view::<legami_domain::Lab>,
                },
            )
            .await?
            .meta
            .id,
        );
        added += 1;
    }
    Ok((added, ids))
}

async fn networks(db: &DatabaseConnection, lab_ids: &[Uuid]) -> anyhow::Result<usize> {
    let csv = org(db, "csv-lombardia-sud").await?;
    let csp = org(db, "consorzio-sociale-pavese").await?;
    let mut members = vec![
        Member {
            member_type: MemberType::Organisation,
            id: csv,
            joined: None,
        },
        Member {
            member_type: MemberType::Organisation,
            id: csp,
            joined: None,
        },
    ];
    members.extend(lab_ids.iter().map(|id| Member {
        member_type: MemberType::Lab,
        id: *id,
        joined: None,
    }));
    let list = vec![
        NetworkFields {
            slug: Some(slug("rete-dei-laboratori-sociali-pavia")?),
            name: "Rete dei Laboratori Sociali (Pavia)".into(),
            description: Some("Rete aperta dei Laboratori Sociali e dei gruppi di cittadini di Pavia e del Distretto sociale pavese, nata nel percorso avviato da CSV nel 2019; prima Assemblea aperta alla cittadinanza il 2 luglio 2020, con la presentazione della Mappa (fonti: CSV Lombardia Sud, «E' nata la Mappa dei laboratori Sociali Fare#Bene Comune», luglio 2020; CSV Lombardia Sud, «Il manifesto e la mappa dei Laboratori Sociali e dei Gruppi di cittadini»). I laboratori membri sono esempi.".into()),
            since: Some(2019),
            coordinator_id: Some(csv),
            members,
            status: Status::Published,
        },
        NetworkFields {
            slug: Some(slug("tavolo-per-la-giustizia-riparativa")?),
            name: "Tavolo per la Giustizia Riparativa".into(),
            description: Some("La rete che dal 2012 lavora al tema della legalità e della giustizia riparativa, su un piano culturale e di realizzazione comune di eventi e iniziative di sensibilizzazione (fonte: CSV Lombardia, «Per il territorio»).".into()),
            since: Some(2012),
            coordinator_id: None,
            members: Vec::new(),
            status: Status::Published,
        },
    ];
    let mut added = 0;
    for n in list {
        let key = IdOrSlug::Slug(n.slug.clone().ok_or_else(|| anyhow::anyhow!("slug"))?);
        if missing(
            legami_persistence::record::find::<legami_domain::Network>(
                db,
                &key,
                &Visibility::Privileged,
            )
            .await,
        )? {
            legami_persistence::record::create::<legami_domain::Network, _>(
                db,
                n,
                &legami_persistence::audit::Audit {
                    actor: &legami_persistence::audit::Actor::system(),
                    view: &crate::view::loader_view::<legami_domain::Network>,
                },
            )
            .await?;
            added += 1;
        }
    }
    Ok(added)
}

/// Loads what is missing; returns how many records were added.
pub async fn seed(db: &DatabaseConnection) -> anyhow::Result<usize> {
    let mut added = indicators(db).await?;
    added += areas(db).await?;
    let (n, lab_ids) = labs(db).await?;
    added += n;
    added += networks(db, &lab_ids).await?;
    added += projects(db, &lab_ids).await?;
    Ok(added)
}
