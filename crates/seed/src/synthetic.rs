//! `legami seed synthetic --scale N`: a large, realistic and deterministic registry for
//! benchmarks and load tests.
//!
//! At scale 1: 20,000 organisations, 5,000 labs, 2,000 projects (about 6 partners each), 400
//! networks and 1,000,000 metric rows (monthly periods 2019-2026 over every indicator, about
//! 10 % of them targets). Places are municipalities of Lombardy drawn in proportion to their ISTAT
//! population; positions lie around the municipality inside Lombardy; names are Italian and
//! descriptions 40-80 words with accents. The same scale always gives the same records (one
//! seeded ChaCha8 generator, `rand_chacha`); ids and timestamps are assigned by the store as for
//! any write. Records go through the same persistence functions as the API (validation, search
//! documents, change feed, audit log as `system`, metric rollups), grouped in large
//! transactions so that scale 1 loads in well under a minute on SQLite.

use chrono::{Datelike, NaiveDate};
use legami_domain::{
    Address, Contact, ContactPerson, Dimensions, Email, Funding, IndicatorUnit, IstatCode,
    LabFields, LabKind, Location, Member, MemberType, MetricFields, MetricKind, MetricValue,
    NetworkFields, OpeningSlot, Operator, OperatorRole, OrganisationFields, OrganisationKind,
    Partner, PartnerRole, ProjectFields, ProjectPhase, Slug, Status, ThemeCode,
};
use legami_persistence::DatabaseConnection;
use legami_persistence::audit::{Actor, Audit};
use rand::distributions::{Distribution, WeightedIndex};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use std::time::Instant;
use uuid::Uuid;

/// Records per unit of scale.
const ORGS: f64 = 20_000.0;
const LABS: f64 = 5_000.0;
const PROJECTS: f64 = 2_000.0;
const NETWORKS: f64 = 400.0;
const METRIC_ROWS: f64 = 1_000_000.0;
/// Records written per transaction (each record is its own savepoint inside it).
const CHUNK: usize = 500;

/// How many records a scale gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Organisations.
    pub organisations: usize,
    /// Labs.
    pub labs: usize,
    /// Projects.
    pub projects: usize,
    /// Networks.
    pub networks: usize,
    /// Metric rows.
    pub metrics: usize,
}

impl Sizes {
    /// The sizes of `scale` (at least a handful of each, so tiny scales still exercise
    /// everything).
    pub fn of(scale: f64) -> Self {
        let n = |per: f64, min: usize| ((per * scale).round() as usize).max(min);
        Self {
            organisations: n(ORGS, 20),
            labs: n(LABS, 5),
            projects: n(PROJECTS, 3),
            networks: n(NETWORKS, 2),
            metrics: n(METRIC_ROWS, 300),
        }
    }
}

/// A municipality of Lombardy with its weight and an approximate centre.
struct Place {
    code: IstatCode,
    name: String,
    lat: f64,
    lon: f64,
}

/// Centres of the provincial capitals of Lombardy (approximate, public knowledge).
const CAPITALS: &[(&str, f64, f64)] = &[
    ("MI", 45.4642, 9.1900),
    ("BG", 45.6983, 9.6773),
    ("BS", 45.5416, 10.2118),
    ("CO", 45.8081, 9.0852),
    ("CR", 45.1332, 10.0227),
    ("LC", 45.8566, 9.3977),
    ("LO", 45.3142, 9.5037),
    ("MN", 45.1564, 10.7914),
    ("MB", 45.5845, 9.2744),
    ("PV", 45.1847, 9.1582),
    ("SO", 46.1699, 9.8787),
    ("VA", 45.8206, 8.8251),
];

/// Lombardy's bounding box: every generated position lies inside it.
const LAT: (f64, f64) = (44.70, 46.60);
const LON: (f64, f64) = (8.55, 11.40);

const NAME_CORES: &[&str] = &[
    "Il Girasole",
    "La Rondine",
    "Il Melograno",
    "Città Aperta",
    "Mani Unite",
    "Il Ponte",
    "La Bottega Solidale",
    "Arcobaleno",
    "Il Sorriso",
    "Terra Comune",
    "La Quercia",
    "Nuovi Orizzonti",
    "Il Faro",
    "Il Cerchio",
    "La Tenda",
    "Amici del Parco",
    "Crescere Insieme",
    "Porte Aperte",
    "L'Aquilone",
    "La Lanterna",
    "Il Seme",
    "Bambini al Centro",
    "Famiglie in Rete",
    "Vicini di Casa",
    "Il Granaio",
    "Filo d'Argento",
    "La Fenice",
    "Il Chiostro",
    "Oltre il Muro",
    "San Martino",
    "Sant'Ambrogio",
    "Santa Chiara",
    "La Cordata",
    "Passo dopo Passo",
    "Il Mosaico",
    "La Casa di Tutti",
];

const FIRST_NAMES: &[&str] = &[
    "Giulia",
    "Marco",
    "Francesca",
    "Luca",
    "Chiara",
    "Andrea",
    "Sara",
    "Matteo",
    "Elena",
    "Davide",
    "Federica",
    "Niccolò",
    "Alessia",
    "Lorenzo",
    "Martina",
    "Simone",
    "Beatrice",
    "Gabriele",
    "Ilaria",
    "Tommaso",
];

const SURNAMES: &[&str] = &[
    "Rossi",
    "Bianchi",
    "Colombo",
    "Ferrari",
    "Brambilla",
    "Galli",
    "Fumagalli",
    "Sala",
    "Villa",
    "Riva",
    "Bassi",
    "Mariani",
    "Cattaneo",
    "Longhi",
    "Pozzi",
    "Fossati",
    "Negri",
    "Bonfanti",
    "Crippa",
    "Mauri",
];

const SENTENCES: &[&str] = &[
    "Da anni l'associazione accompagna le famiglie del territorio con attività di ascolto, orientamento e mutuo aiuto.",
    "La nostra comunità crede che la solidarietà nasca dall'incontro quotidiano tra vicini di casa.",
    "Gli spazi sono aperti a tutti: bambini, ragazzi, genitori e anziani trovano qui un luogo di relazione.",
    "Promuoviamo il doposcuola, l'aiuto nei compiti e laboratori creativi per i minori più fragili.",
    "I volontari curano il verde pubblico, gli orti condivisi e le aiuole del quartiere.",
    "Collaboriamo con il Comune, le scuole e le parrocchie per costruire un welfare di comunità più vicino alle persone.",
    "Il progetto è cofinanziato da una fondazione e coinvolge cooperative, associazioni e gruppi informali.",
    "Ogni settimana organizziamo incontri per genitori, sportelli di orientamento al lavoro e corsi di italiano.",
    "La città è cambiata e con essa i bisogni: per questo ascoltiamo prima di agire.",
    "Offriamo un punto di riferimento per chi vive situazioni di solitudine, povertà o difficoltà abitativa.",
    "Le attività sono gratuite e si reggono sull'impegno di decine di cittadini volontari.",
    "Crediamo nella partecipazione: le decisioni si prendono insieme, in assemblea aperta.",
    "Negli ultimi anni abbiamo sostenuto centinaia di nuclei familiari con beni di prima necessità.",
    "Il laboratorio è nato dalla volontà di alcuni residenti di prendersi cura del proprio quartiere.",
    "Cerchiamo sempre nuove persone disponibili a dedicare qualche ora del proprio tempo.",
    "Lavoriamo in rete con i servizi sociali perché nessuno resti indietro.",
];

const ACTIVITIES: &[&str] = &[
    "Doposcuola",
    "Sportello di ascolto",
    "Orto condiviso",
    "Corso di italiano",
    "Banco alimentare",
    "Gruppo di cammino",
    "Cineforum",
    "Laboratorio di cucito",
    "Spazio compiti",
    "Caffè sospeso",
    "Riparazioni e riuso",
    "Incontri per genitori",
];

const NEIGHBOURHOODS: &[&str] = &[
    "Centro storico",
    "Borgo",
    "Stazione",
    "Quartiere Nord",
    "Quartiere Sud",
    "Villaggio",
    "Periferia Est",
    "San Pietro",
    "Case Popolari",
    "Cascina",
];

const PROJECT_PATTERNS: &[&str] = &[
    "Fare Legami a {}",
    "Comunità che cura: {}",
    "Reti di prossimità {}",
    "Welfare in Azione {}",
    "Crescere a {}",
    "Ponti tra generazioni {}",
    "{} si prende cura",
    "Casa comune {}",
];

/// Loads a synthetic registry of `scale` into `db`; prints progress to standard error and
/// returns the sizes loaded. Refuses a database that already holds a synthetic registry.
pub async fn seed(db: &DatabaseConnection, scale: f64) -> anyhow::Result<Sizes> {
    if !(scale > 0.0 && scale <= 20.0) {
        anyhow::bail!("--scale must be above 0 and at most 20");
    }
    let sizes = Sizes::of(scale);
    let existing = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM organisations WHERE slug LIKE '%-syn-1'",
        ))
        .await?
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0);
    if existing > 0 {
        anyhow::bail!("this database already holds a synthetic registry; use a new database");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x4c45_4741_4d49 ^ scale.to_bits());
    let places = places(db).await?;
    let weights = WeightedIndex::new(places.iter().map(|p| p.1))?;
    let places: Vec<Place> = places.into_iter().map(|p| p.0).collect();
    let themes: Vec<ThemeCode> = legami_persistence::themes::list(db)
        .await?
        .into_iter()
        .map(|t| t.code)
        .collect();
    let indicators: Vec<(ThemeCode, IndicatorUnit)> = legami_persistence::indicators::list(db)
        .await?
        .into_iter()
        .map(|i| (i.code, i.unit))
        .collect();
    if places.is_empty() || themes.is_empty() || indicators.is_empty() {
        anyhow::bail!("the reference data (municipalities, themes, indicators) is missing");
    }
    let data = Gen {
        places,
        weights,
        themes,
    };
    let actor = Actor::system();

    let started = Instant::now();
    let mut orgs = Vec::with_capacity(sizes.organisations);
    let mut foundations = Vec::new();
    for chunk in chunks(sizes.organisations) {
        let txn = db.begin().await?;
        for i in chunk {
            let f = data.organisation(&mut rng, i);
            let foundation = f.kind == OrganisationKind::Foundation;
            let o = legami_persistence::organisations::create(
                &txn,
                f,
                &Audit {
                    actor: &actor,
                    view: &crate::view::loader_view::<legami_domain::Organisation>,
                },
            )
            .await?;
            if foundation {
                foundations.push(o.meta.id);
            }
            orgs.push(o.meta.id);
        }
        txn.commit().await?;
    }
    if foundations.is_empty() {
        foundations.push(orgs[0]);
    }
    eprintln!(
        "synthetic: {} organisations ({:.1} s)",
        orgs.len(),
        started.elapsed().as_secs_f64()
    );

    let mut labs = Vec::with_capacity(sizes.labs);
    for chunk in chunks(sizes.labs) {
        let txn = db.begin().await?;
        for i in chunk {
            let f = data.lab(&mut rng, i, &orgs)?;
            let l = legami_persistence::labs::create(
                &txn,
                f,
                &Audit {
                    actor: &actor,
                    view: &crate::view::loader_view::<legami_domain::Lab>,
                },
            )
            .await?;
            labs.push(l.meta.id);
        }
        txn.commit().await?;
    }
    eprintln!(
        "synthetic: {} labs ({:.1} s)",
        labs.len(),
        started.elapsed().as_secs_f64()
    );

    for chunk in chunks(sizes.networks) {
        let txn = db.begin().await?;
        for i in chunk {
            let f = data.network(&mut rng, i, &orgs, &labs);
            legami_persistence::networks::create(
                &txn,
                f,
                &Audit {
                    actor: &actor,
                    view: &crate::view::loader_view::<legami_domain::Network>,
                },
            )
            .await?;
        }
        txn.commit().await?;
    }
    eprintln!(
        "synthetic: {} networks ({:.1} s)",
        sizes.networks,
        started.elapsed().as_secs_f64()
    );

    let per_project = sizes.metrics / sizes.projects;
    let mut extra = sizes.metrics % sizes.projects;
    let mut rows = 0usize;
    for chunk in chunks(sizes.projects) {
        let txn = db.begin().await?;
        for i in chunk {
            let f = data.project(&mut rng, i, &orgs, &foundations, &labs);
            let (start, end, lab_ids, municipality) = (
                f.start_date,
                f.end_date,
                f.lab_ids.clone(),
                f.municipalities.first().cloned(),
            );
            let p = legami_persistence::projects::create(
                &txn,
                f,
                &Audit {
                    actor: &actor,
                    view: &crate::view::loader_view::<legami_domain::Project>,
                },
            )
            .await?;
            let quota = per_project + usize::from(extra > 0);
            extra = extra.saturating_sub(1);
            let figures = metrics(
                &mut rng,
                quota,
                &indicators,
                (start, end),
                &lab_ids,
                municipality,
            );
            for batch in figures.chunks(legami_persistence::metrics::MAX_BATCH) {
                legami_persistence::metrics::insert_batch(
                    &txn,
                    p.meta.id,
                    batch.to_vec(),
                    &lab_ids,
                    &actor,
                )
                .await?;
            }
            rows += figures.len();
        }
        txn.commit().await?;
    }
    eprintln!(
        "synthetic: {} projects, {rows} metric rows ({:.1} s)",
        sizes.projects,
        started.elapsed().as_secs_f64()
    );
    // Planner statistics for the new data: without them PostgreSQL takes the freshly loaded
    // tables for nearly empty (it joined every project's metrics and sorted them for each page
    // of an export, 0.9 s a page instead of 2 ms) until autovacuum gets round to them.
    db.execute_unprepared("ANALYZE").await?;
    eprintln!(
        "synthetic: statistics updated ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(Sizes {
        metrics: rows,
        ..sizes
    })
}

fn chunks(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..n).step_by(CHUNK).map(move |s| s..(s + CHUNK).min(n))
}

/// Municipalities of Lombardy with their population (the sampling weight).
async fn places(db: &DatabaseConnection) -> anyhow::Result<Vec<(Place, u64)>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT istat_code, name, province_abbr, CAST(COALESCE(population, 0) AS BIGINT) \
             FROM municipalities WHERE region_name = 'Lombardia' ORDER BY istat_code",
        ))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let code: String = r.try_get_by_index(0)?;
        let name: String = r.try_get_by_index(1)?;
        let province: String = r.try_get_by_index(2)?;
        let population: i64 = r.try_get_by_index(3)?;
        let Some(&(_, lat, lon)) = CAPITALS.iter().find(|c| c.0 == province) else {
            continue;
        };
        // A stable offset from the provincial capital for each municipality (none for the
        // capital itself), seeded by the ISTAT code.
        let mut local = ChaCha8Rng::seed_from_u64(code.parse::<u64>().unwrap_or(0));
        let (dlat, dlon) = if name_is_capital(&name) {
            (0.0, 0.0)
        } else {
            (local.gen_range(-0.22..0.22), local.gen_range(-0.28..0.28))
        };
        let place = Place {
            code: IstatCode::parse(&code).map_err(|e| anyhow::anyhow!(e.message))?,
            name,
            lat: (lat + dlat).clamp(LAT.0, LAT.1),
            lon: (lon + dlon).clamp(LON.0, LON.1),
        };
        out.push((place, u64::try_from(population.max(1)).unwrap_or(1)));
    }
    Ok(out)
}

fn name_is_capital(name: &str) -> bool {
    matches!(
        name,
        "Milano"
            | "Bergamo"
            | "Brescia"
            | "Como"
            | "Cremona"
            | "Lecco"
            | "Lodi"
            | "Mantova"
            | "Monza"
            | "Pavia"
            | "Sondrio"
            | "Varese"
    )
}

struct Gen {
    places: Vec<Place>,
    weights: WeightedIndex<u64>,
    themes: Vec<ThemeCode>,
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

impl Gen {
    fn place(&self, rng: &mut ChaCha8Rng) -> &Place {
        &self.places[self.weights.sample(rng)]
    }

    fn near(rng: &mut ChaCha8Rng, p: &Place) -> Location {
        Location {
            lat: (p.lat + rng.gen_range(-0.012..0.012)).clamp(LAT.0, LAT.1),
            lon: (p.lon + rng.gen_range(-0.016..0.016)).clamp(LON.0, LON.1),
        }
    }

    fn themes(&self, rng: &mut ChaCha8Rng) -> Vec<ThemeCode> {
        let n = rng.gen_range(1..=3);
        let mut t: Vec<ThemeCode> = self
            .themes
            .choose_multiple(rng, n.min(self.themes.len()))
            .cloned()
            .collect();
        t.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        t
    }

    /// 40 to 80 words of Italian sentences, ending with the place.
    fn description(rng: &mut ChaCha8Rng, place: &str) -> String {
        let want = rng.gen_range(40..=80);
        let mut words = 0;
        let mut out = Vec::new();
        let closing = format!("Siamo attivi a {place} e nei comuni vicini.");
        let closing_words = closing.split_whitespace().count();
        while words + closing_words < want {
            let s = *pick(rng, SENTENCES);
            let n = s.split_whitespace().count();
            if words + n + closing_words > 80 {
                break;
            }
            out.push(s.to_owned());
            words += n;
        }
        out.push(closing);
        out.join(" ")
    }

    fn person(rng: &mut ChaCha8Rng) -> (String, String) {
        let first = *pick(rng, FIRST_NAMES);
        let last = *pick(rng, SURNAMES);
        let email = format!(
            "{}.{}@example.org",
            Slug::derive(first).as_str(),
            Slug::derive(last).as_str()
        );
        (format!("{first} {last}"), email)
    }

    fn organisation(&self, rng: &mut ChaCha8Rng, i: usize) -> OrganisationFields {
        use OrganisationKind as K;
        let kinds = [
            (K::Aps, "APS", 22),
            (K::Odv, "ODV", 20),
            (K::Association, "Associazione", 18),
            (K::SocialCooperative, "Cooperativa Sociale", 14),
            (K::InformalGroup, "Gruppo", 8),
            (K::SocialEnterprise, "Impresa Sociale", 4),
            (K::Foundation, "Fondazione", 3),
            (K::ReligiousBody, "Parrocchia", 3),
            (K::School, "Istituto Comprensivo", 3),
            (K::Company, "Società", 3),
            (K::Consortium, "Consorzio", 1),
            (K::PublicBody, "Comune di", 1),
        ];
        let w = WeightedIndex::new(kinds.iter().map(|k| k.2)).ok();
        let (kind, prefix, _) = kinds[w.map_or(0, |w| w.sample(rng))];
        let place = self.place(rng);
        let name = if kind == K::PublicBody {
            format!("{prefix} {}", place.name)
        } else {
            format!("{prefix} {} {}", pick(rng, NAME_CORES), place.name)
        };
        let slug = Slug::derive(&format!("{name} syn {}", i + 1));
        let person = rng.gen_bool(0.4).then(|| {
            let (name, email) = Self::person(rng);
            ContactPerson {
                name,
                email: Email::parse(&email).ok(),
                phone: None,
                public: rng.gen_bool(0.5),
            }
        });
        let email = rng
            .gen_bool(0.7)
            .then(|| Email::parse(&format!("info@{}.example.org", slug.as_str())).ok())
            .flatten();
        OrganisationFields {
            slug: Some(slug),
            name,
            kind,
            description: Some(Self::description(rng, &place.name)),
            runts_section: None,
            runts_id: None,
            tax_code: None,
            vat_number: None,
            themes: self.themes(rng),
            contact: Contact {
                email,
                phone: None,
                website: None,
            },
            address: Address {
                street: Some(format!(
                    "Via {} {}",
                    pick(rng, SURNAMES),
                    rng.gen_range(1..120)
                )),
                postcode: None,
                municipality: place.code.clone(),
            },
            location: rng.gen_bool(0.9).then(|| Self::near(rng, place)),
            contact_person: person,
            status: if rng.gen_bool(0.95) {
                Status::Published
            } else {
                Status::Draft
            },
        }
    }

    fn lab(&self, rng: &mut ChaCha8Rng, i: usize, orgs: &[Uuid]) -> anyhow::Result<LabFields> {
        let place = self.place(rng);
        let kinds = [
            (LabKind::SocialLab, "Laboratorio Sociale"),
            (LabKind::CommunityHub, "Spazio di Comunità"),
            (LabKind::CivicCentre, "Centro Civico"),
            (LabKind::GreenSpace, "Orto Condiviso"),
        ];
        let (kind, prefix) = *pick(rng, &kinds);
        let name = format!("{prefix} {} {}", pick(rng, NAME_CORES), place.name);
        let manager = *pick(rng, orgs);
        let mut operators = vec![Operator {
            organisation_id: manager,
            role: OperatorRole::Manager,
        }];
        for _ in 0..rng.gen_range(0..=2) {
            let o = *pick(rng, orgs);
            if operators.iter().all(|x| x.organisation_id != o) {
                operators.push(Operator {
                    organisation_id: o,
                    role: OperatorRole::Partner,
                });
            }
        }
        let days = ["mon", "tue", "wed", "thu", "fri", "sat"];
        let mut hours = Vec::new();
        let n = rng.gen_range(1..=4);
        for d in days.choose_multiple(rng, n) {
            let open = rng.gen_range(9..=17);
            let slot = OpeningSlot::parse(
                d,
                &format!("{open:02}:00"),
                &format!("{:02}:30", open + rng.gen_range(1..=3)),
            )
            .map_err(|_| anyhow::anyhow!("synthetic opening hours"))?;
            hours.push(slot);
        }
        let n_activities = rng.gen_range(2..=4);
        Ok(LabFields {
            slug: Some(Slug::derive(&format!("{name} syn {}", i + 1))),
            name,
            kind,
            description: Some(Self::description(rng, &place.name)),
            themes: self.themes(rng),
            activities: ACTIVITIES
                .choose_multiple(rng, n_activities)
                .map(|s| (*s).to_owned())
                .collect(),
            operators,
            address: Address {
                street: Some(format!(
                    "Piazza {} {}",
                    pick(rng, SURNAMES),
                    rng.gen_range(1..60)
                )),
                postcode: None,
                municipality: place.code.clone(),
            },
            neighbourhood: Some((*pick(rng, NEIGHBOURHOODS)).to_owned()),
            location: Self::near(rng, place),
            opening_hours: hours,
            contact: Contact::default(),
            accessibility: rng
                .gen_bool(0.3)
                .then(|| "Accesso senza barriere architettoniche.".to_owned()),
            status: if rng.gen_bool(0.95) {
                Status::Published
            } else {
                Status::Draft
            },
        })
    }

    fn network(
        &self,
        rng: &mut ChaCha8Rng,
        i: usize,
        orgs: &[Uuid],
        labs: &[Uuid],
    ) -> NetworkFields {
        let place = self.place(rng);
        let coordinator = *pick(rng, orgs);
        let mut members = vec![Member {
            member_type: MemberType::Organisation,
            id: coordinator,
            joined: None,
        }];
        for _ in 0..rng.gen_range(2..=8) {
            let (member_type, id) = if rng.gen_bool(0.7) {
                (MemberType::Organisation, *pick(rng, orgs))
            } else {
                (MemberType::Lab, *pick(rng, labs))
            };
            if members.iter().all(|m| m.id != id) {
                members.push(Member {
                    member_type,
                    id,
                    joined: NaiveDate::from_ymd_opt(rng.gen_range(2015..=2025), 1, 1),
                });
            }
        }
        let name = format!("Rete {} {}", pick(rng, NAME_CORES), place.name);
        NetworkFields {
            slug: Some(Slug::derive(&format!("{name} syn {}", i + 1))),
            name,
            description: Some(Self::description(rng, &place.name)),
            since: Some(rng.gen_range(2010..=2025)),
            coordinator_id: Some(coordinator),
            members,
            status: Status::Published,
        }
    }

    fn project(
        &self,
        rng: &mut ChaCha8Rng,
        i: usize,
        orgs: &[Uuid],
        foundations: &[Uuid],
        labs: &[Uuid],
    ) -> ProjectFields {
        let place = self.place(rng);
        let title = pick(rng, PROJECT_PATTERNS).replace("{}", &place.name);
        let lead = *pick(rng, orgs);
        let funder = *pick(rng, foundations);
        let mut partners = Vec::new();
        if funder != lead {
            partners.push(Partner {
                organisation_id: funder,
                role: PartnerRole::Funder,
            });
        }
        for _ in 0..rng.gen_range(4..=7) {
            let o = *pick(rng, orgs);
            if o != lead && partners.iter().all(|p| p.organisation_id != o) {
                partners.push(Partner {
                    organisation_id: o,
                    role: if rng.gen_bool(0.85) {
                        PartnerRole::Partner
                    } else {
                        PartnerRole::Supporter
                    },
                });
            }
        }
        let start = NaiveDate::from_ymd_opt(rng.gen_range(2019..=2024), rng.gen_range(1..=12), 1)
            .unwrap_or_default();
        let months = rng.gen_range(12..=48);
        let end = add_months(start, months).pred_opt().unwrap_or(start);
        let end = end.min(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or(end));
        let today = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or(end);
        let phase = if end < today {
            ProjectPhase::Completed
        } else {
            ProjectPhase::Active
        };
        let mut municipalities = vec![place.code.clone()];
        for _ in 0..rng.gen_range(0..=2) {
            let p = self.place(rng).code.clone();
            if !municipalities.contains(&p) {
                municipalities.push(p);
            }
        }
        let amount = format!("{}000.00", rng.gen_range(30..=400));
        let n_labs = rng.gen_range(0..=3);
        ProjectFields {
            slug: Some(Slug::derive(&format!("{title} syn {}", i + 1))),
            title,
            summary: Some(format!(
                "Progetto di welfare di comunità a {}: famiglie, minori e volontari insieme.",
                place.name
            )),
            description: Some(Self::description(rng, &place.name)),
            programme: rng.gen_bool(0.4).then(|| "Welfare in Azione".to_owned()),
            phase,
            start_date: Some(start),
            end_date: Some(end),
            lead_organisation_id: lead,
            partners,
            funding: legami_domain::Amount::parse(&amount)
                .ok()
                .filter(|_| funder != lead)
                .map(|amount| Funding {
                    funder_id: funder,
                    amount,
                })
                .into_iter()
                .collect(),
            lab_ids: labs.choose_multiple(rng, n_labs).copied().collect(),
            municipalities,
            themes: self.themes(rng),
            objectives: vec![
                "Ridurre l'isolamento delle famiglie più fragili".to_owned(),
                "Rafforzare la rete tra servizi, scuole e volontariato".to_owned(),
            ],
            actions: ACTIVITIES
                .choose_multiple(rng, 3)
                .map(|s| (*s).to_owned())
                .collect(),
            website: None,
            status: if rng.gen_bool(0.95) {
                Status::Published
            } else {
                Status::Draft
            },
        }
    }
}

fn add_months(d: NaiveDate, months: u32) -> NaiveDate {
    let total = d.year() * 12 + d.month0() as i32 + months as i32;
    NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1).unwrap_or(d)
}

/// Exactly `quota` monthly observations of one project: month by month over its span, a set of
/// its indicators, each broken down by gender or age band; about one row in ten is a target.
fn metrics(
    rng: &mut ChaCha8Rng,
    quota: usize,
    indicators: &[(ThemeCode, IndicatorUnit)],
    (start, end): (Option<NaiveDate>, Option<NaiveDate>),
    labs: &[Uuid],
    municipality: Option<IstatCode>,
) -> Vec<MetricFields> {
    const BANDS: &[&str] = &["0-5", "6-10", "11-14", "15-17", "18-29", "30-64", "65+"];
    let start = start.unwrap_or_default();
    let end = end.unwrap_or(start);
    let months = ((end.year() - start.year()) * 12 + end.month() as i32 - start.month() as i32 + 1)
        .max(1) as u32;
    let k = rng.gen_range(4..=8).min(indicators.len());
    let mine: Vec<&(ThemeCode, IndicatorUnit)> = indicators.choose_multiple(rng, k).collect();
    // Rows per (month, indicator) so that the span holds the quota: actuals plus 1 in 10 targets.
    let cells = (months as usize * mine.len()).max(1);
    let per_cell = quota.div_ceil(cells).max(1);
    let mut out = Vec::with_capacity(quota);
    'fill: loop {
        for m in 0..months {
            let ps = add_months(start, m);
            let pe = add_months(ps, 1).pred_opt().unwrap_or(ps);
            for (code, unit) in &mine {
                let (lo, hi, decimals) = match unit {
                    IndicatorUnit::Eur => (50, 5_000, true),
                    IndicatorUnit::Hours => (2, 200, true),
                    IndicatorUnit::Households => (1, 25, false),
                    IndicatorUnit::Organisations => (1, 12, false),
                    IndicatorUnit::Events | IndicatorUnit::Count => (1, 10, false),
                    IndicatorUnit::People => (1, 60, false),
                };
                for b in 0..per_cell {
                    if out.len() >= quota {
                        break 'fill;
                    }
                    let whole: i64 = rng.gen_range(lo..=hi);
                    let milli = whole * 1000
                        + if decimals {
                            rng.gen_range(0..4) * 250
                        } else {
                            0
                        };
                    let target = rng.gen_bool(0.1);
                    let dims = if per_cell <= 2 {
                        Dimensions {
                            gender: (per_cell == 2).then(|| ["f", "m"][b % 2].to_owned()),
                            ..Dimensions::default()
                        }
                    } else {
                        Dimensions {
                            age_band: Some(BANDS[b % BANDS.len()].to_owned()),
                            gender: (b >= BANDS.len())
                                .then(|| ["f", "m"][b / BANDS.len() % 2].to_owned()),
                            ..Dimensions::default()
                        }
                    };
                    out.push(MetricFields {
                        indicator: code.clone(),
                        kind: if target {
                            MetricKind::Target
                        } else {
                            MetricKind::Actual
                        },
                        value: MetricValue::from_milli(if target { milli * 6 / 5 } else { milli }),
                        period_start: ps,
                        period_end: pe,
                        lab_id: (!labs.is_empty() && rng.gen_bool(0.3)).then(|| *pick(rng, labs)),
                        municipality: municipality.clone(),
                        dimensions: dims,
                        source: Some("Dati sintetici (legami seed synthetic)".to_owned()),
                        note: None,
                    });
                }
            }
        }
        if out.is_empty() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_scale() {
        let one = Sizes::of(1.0);
        assert_eq!(one.organisations, 20_000);
        assert_eq!(one.labs, 5_000);
        assert_eq!(one.projects, 2_000);
        assert_eq!(one.metrics, 1_000_000);
        assert_eq!(Sizes::of(0.01).projects, 20);
        assert_eq!(Sizes::of(0.0001).projects, 3);
    }

    #[test]
    fn metrics_fill_the_quota_inside_the_span_deterministically() {
        let ind = vec![
            (
                ThemeCode::parse("volunteers").unwrap(),
                IndicatorUnit::People,
            ),
            (ThemeCode::parse("hours").unwrap(), IndicatorUnit::Hours),
            (
                ThemeCode::parse("families").unwrap(),
                IndicatorUnit::Households,
            ),
            (ThemeCode::parse("events").unwrap(), IndicatorUnit::Events),
        ];
        let s = NaiveDate::from_ymd_opt(2021, 3, 1);
        let e = NaiveDate::from_ymd_opt(2022, 2, 28);
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            metrics(&mut rng, 500, &ind, (s, e), &[], None)
        };
        let a = run(7);
        assert_eq!(a.len(), 500);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        assert!(
            a.iter()
                .all(|m| m.period_start >= s.unwrap() && m.period_end <= e.unwrap())
        );
        let targets = a.iter().filter(|m| m.kind == MetricKind::Target).count();
        assert!((20..=90).contains(&targets), "{targets} targets");
    }
}
