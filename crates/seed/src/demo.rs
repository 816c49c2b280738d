//! Demo data drawn from the public Italian texts the product was born from (each record cites its
//! source by publisher and title):
//! real organisations with the facts the texts give. Anything the texts do not give (a street,
//! an exact position) is either left out or marked in the record as an example
//! ("dato di esempio"). Loading is idempotent: records whose slug exists are skipped.

use legami_domain::{
    Address, Contact, ContactPerson, Email, IdOrSlug, IstatCode, Location, OrganisationFields,
    OrganisationKind, Slug, Status, ThemeCode, Visibility,
};
use legami_persistence::{DatabaseConnection, StoreError};

/// ISTAT codes used by the demo data.
pub mod places {
    /// Pavia.
    pub const PAVIA: &str = "018110";
    /// Milano.
    pub const MILANO: &str = "015146";
    /// Lecco.
    pub const LECCO: &str = "097042";
    /// Monza.
    pub const MONZA: &str = "108033";
}

struct Org {
    slug: &'static str,
    name: &'static str,
    kind: OrganisationKind,
    description: &'static str,
    themes: &'static [&'static str],
    municipality: &'static str,
    /// Centre of the municipality, approximate (the texts give no addresses).
    location: Option<(f64, f64)>,
    email: Option<&'static str>,
    person: Option<(&'static str, &'static str)>,
}

const ORGS: &[Org] = &[
    Org {
        slug: "csv-lombardia-sud",
        name: "CSV Lombardia Sud",
        kind: OrganisationKind::VolunteerServiceCentre,
        description: "Centro di Servizio per il Volontariato, sede territoriale di Pavia. Ha coordinato \
            la Mappa dei Laboratori Sociali e dei Gruppi di cittadini di Pavia (presentata il 2 luglio \
            2020) e dal 2019 la mappatura dei gruppi informali attivi in città nella cura del verde, nel \
            mutuo aiuto e nell'incontro tra famiglie. Fonti: CSV Lombardia Sud, «E' nata la Mappa dei laboratori Sociali Fare#Bene Comune», luglio 2020; CSV Lombardia Sud, «Il manifesto e la mappa dei Laboratori Sociali e dei Gruppi di cittadini». \
            Posizione: centro del comune (dato di esempio).",
        themes: &[
            "volunteering",
            "civic_participation",
            "green_spaces",
            "mutual_help",
        ],
        municipality: places::PAVIA,
        location: Some((45.1847, 9.1582)),
        email: None,
        person: Some(("Maria Piccio", "m.piccio@csvlombardia.it")),
    },
    Org {
        slug: "csv-lombardia",
        name: "CSV Lombardia",
        kind: OrganisationKind::VolunteerServiceCentre,
        description: "I Centri di Servizio per il Volontariato della Lombardia: mettono in connessione i \
            soggetti che abitano un territorio, collaborano alla costruzione di reti locali e tematiche, \
            accompagnano enti locali e imprese nel welfare partecipato (progetti COnTatto, MIND THE \
            G.A.P., Valoriamo, Tavolo per la Giustizia Riparativa). Fonte: CSV Lombardia, «Per il territorio». \
            Sede: dato di esempio.",
        themes: &[
            "volunteering",
            "civic_participation",
            "corporate_engagement",
        ],
        municipality: places::MILANO,
        location: None,
        email: None,
        person: None,
    },
    Org {
        slug: "consorzio-sociale-pavese",
        name: "Consorzio Sociale Pavese",
        kind: OrganisationKind::Consortium,
        description: "Promotore di Fare #BeneComune, progetto di welfare di comunità nato per aiutare le \
            famiglie con figli minori attraverso la collaborazione tra istituzioni, associazioni e \
            cittadini nel Distretto sociale pavese. Fonte: CSV Lombardia Sud, «E' nata la Mappa dei laboratori Sociali Fare#Bene Comune», luglio 2020. \
            Posizione: centro del comune (dato di esempio).",
        themes: &["parenting", "social_inclusion", "school_support", "poverty"],
        municipality: places::PAVIA,
        location: Some((45.1847, 9.1582)),
        email: Some("farebenecomune@consorziosocialepavese.it"),
        person: None,
    },
    Org {
        slug: "fondazione-cariplo",
        name: "Fondazione Cariplo",
        kind: OrganisationKind::Foundation,
        description: "Cofinanzia, con il programma Welfare in Azione, i progetti Fare #BeneComune \
            (Pavia, avviato nel novembre 2018) e Fare Legami (Crema, Cremona, Casalmaggiore), e \
            finanzia il progetto COnTatto: trame riparative nella comunità. \
            Fonti: CSV Lombardia, «Per il territorio»; CSV Lombardia Sud, «E' nata la Mappa dei laboratori Sociali Fare#Bene Comune», luglio 2020; Fondazione Cariplo, Welfare in Azione, «Fare Legami». Sede: dato di esempio.",
        themes: &["fundraising", "social_inclusion"],
        municipality: places::MILANO,
        location: None,
        email: None,
        person: None,
    },
    Org {
        slug: "regione-lombardia",
        name: "Regione Lombardia",
        kind: OrganisationKind::PublicBody,
        description: "Ha finanziato MIND THE G.A.P., il modello di contrasto al gioco d'azzardo del \
            Distretto di Lecco da estendere agli 8 Ambiti Territoriali di ATS Brianza; con la DGR \
            4563/2021 ha approvato le linee di indirizzo per la programmazione sociale territoriale \
            2021-2023, con l'obiettivo \"Fare Comunità\". Fonti: CSV Lombardia, «Per il territorio»; Ambito di Lecco, «Piano di Zona»: Una rinnovata strategia della solidarietà.",
        themes: &["gambling_prevention", "civic_participation"],
        municipality: places::MILANO,
        location: None,
        email: None,
        person: None,
    },
    Org {
        slug: "comune-di-pavia",
        name: "Comune di Pavia",
        kind: OrganisationKind::PublicBody,
        description: "Con l'Assessorato ai Servizi Sociali, Volontariato, Sanità e Politiche per la casa \
            collabora con il Consorzio Sociale Pavese in Fare #BeneComune. Fonte: CSV Lombardia Sud, «E' nata la Mappa dei laboratori Sociali Fare#Bene Comune», luglio 2020. \
            Posizione: centro del comune (dato di esempio).",
        themes: &["social_inclusion", "housing", "volunteering"],
        municipality: places::PAVIA,
        location: Some((45.1847, 9.1582)),
        email: None,
        person: None,
    },
    Org {
        slug: "ats-brianza",
        name: "ATS Brianza",
        kind: OrganisationKind::HealthAuthority,
        description: "Agenzia di Tutela della Salute il cui territorio, articolato in 8 Ambiti \
            Territoriali, è destinatario della replica del modello di Lecco di contrasto al gioco \
            d'azzardo (MIND THE G.A.P.). Fonte: CSV Lombardia, «Per il territorio». Sede: dato di esempio.",
        themes: &["gambling_prevention", "health_prevention"],
        municipality: places::MONZA,
        location: None,
        email: None,
        person: None,
    },
    Org {
        slug: "impresa-sociale-consorzio-girasole",
        name: "Impresa Sociale Consorzio Girasole",
        kind: OrganisationKind::SocialEnterprise,
        description: "Forma gestionale a capitale misto pubblico-privato scelta nel 2019 dall'Ambito di \
            Lecco: un'amministrazione condivisa del welfare tra Pubblica Amministrazione e Terzo \
            Settore. Fonte: Ambito di Lecco, «Piano di Zona»: Una rinnovata strategia della solidarietà.",
        themes: &["social_inclusion", "civic_participation"],
        municipality: places::LECCO,
        location: None,
        email: None,
        person: None,
    },
    Org {
        slug: "comune-di-cremona",
        name: "Comune di Cremona",
        kind: OrganisationKind::PublicBody,
        description: "Uno dei tre comuni del progetto Fare Legami (Crema, Cremona, Casalmaggiore). \
            Fonte: Fondazione Cariplo, Welfare in Azione, «Fare Legami». Il ruolo di capofila nel progetto è un dato di esempio.",
        themes: &["social_inclusion", "employment"],
        municipality: "019036",
        location: None,
        email: None,
        person: None,
    },
    Org {
        slug: "comune-di-crema",
        name: "Comune di Crema",
        kind: OrganisationKind::PublicBody,
        description: "Uno dei tre comuni del progetto Fare Legami. Fonte: Fondazione Cariplo, Welfare in Azione, «Fare Legami».",
        themes: &["social_inclusion"],
        municipality: "019035",
        location: None,
        email: None,
        person: None,
    },
    Org {
        slug: "comune-di-casalmaggiore",
        name: "Comune di Casalmaggiore",
        kind: OrganisationKind::PublicBody,
        description: "Uno dei tre comuni del progetto Fare Legami. Fonte: Fondazione Cariplo, Welfare in Azione, «Fare Legami».",
        themes: &["social_inclusion"],
        municipality: "019021",
        location: None,
        email: None,
        person: None,
    },
    Org {
        slug: "gruppo-cittadini-cura-del-verde-esempio",
        name: "Gruppo di cittadini per la cura del verde (esempio)",
        kind: OrganisationKind::InformalGroup,
        description: "Gruppo informale di esempio, del tipo censito nella Mappa dei Laboratori Sociali e \
            dei Gruppi di cittadini di Pavia: cura del verde e valorizzazione dei beni comuni. \
            Record interamente di esempio.",
        themes: &["green_spaces", "civic_participation"],
        municipality: places::PAVIA,
        location: None,
        email: None,
        person: None,
    },
];

fn fields(o: &Org) -> anyhow::Result<OrganisationFields> {
    let bad =
        |e: legami_domain::FieldError| anyhow::anyhow!("demo record {}: {}", o.slug, e.message);
    Ok(OrganisationFields {
        slug: Some(Slug::parse(o.slug).map_err(bad)?),
        name: o.name.to_owned(),
        kind: o.kind,
        description: Some(
            o.description
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        ),
        runts_section: None,
        runts_id: None,
        tax_code: None,
        vat_number: None,
        themes: o
            .themes
            .iter()
            .map(|t| ThemeCode::parse(t))
            .collect::<Result<_, _>>()
            .map_err(bad)?,
        contact: Contact {
            email: o.email.map(Email::parse).transpose().map_err(bad)?,
            phone: None,
            website: None,
        },
        address: Address {
            street: None,
            postcode: None,
            municipality: IstatCode::parse(o.municipality).map_err(bad)?,
        },
        location: o.location.map(|(lat, lon)| Location { lat, lon }),
        contact_person: match o.person {
            Some((name, email)) => Some(ContactPerson {
                name: name.to_owned(),
                email: Some(Email::parse(email).map_err(bad)?),
                phone: None,
                // Published as the public contact in the source texts.
                public: true,
            }),
            None => None,
        },
        status: Status::Published,
    })
}

/// Loads every demo record that is not there yet; returns how many were added.
pub async fn seed(db: &DatabaseConnection) -> anyhow::Result<usize> {
    let mut added = seed_organisations(db).await?;
    added += crate::demo_activity::seed(db).await?;
    Ok(added)
}

async fn seed_organisations(db: &DatabaseConnection) -> anyhow::Result<usize> {
    let mut added = 0;
    for o in ORGS {
        let key = IdOrSlug::Slug(Slug::parse(o.slug).map_err(|e| anyhow::anyhow!(e.message))?);
        match legami_persistence::record::find::<legami_domain::Organisation>(
            db,
            &key,
            &Visibility::Privileged,
        )
        .await
        {
            Ok(_) => continue,
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        legami_persistence::record::create::<legami_domain::Organisation, _>(
            db,
            fields(o)?,
            &legami_persistence::audit::Audit {
                actor: &legami_persistence::audit::Actor::system(),
                view: &crate::view::loader_view::<legami_domain::Organisation>,
            },
        )
        .await?;
        added += 1;
    }
    Ok(added)
}
