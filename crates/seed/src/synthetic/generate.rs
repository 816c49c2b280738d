//! One generator of names, texts and records, seeded for repeatable output.

use chrono::NaiveDate;
use legami_domain::{
    Address, Contact, ContactPerson, Email, Funding, LabFields, LabKind, Location, Member,
    MemberType, NetworkFields, OpeningSlot, Operator, OperatorRole, OrganisationFields,
    OrganisationKind, Partner, PartnerRole, ProjectFields, ProjectPhase, Slug, Status, ThemeCode,
};
use rand::Rng;
use rand::distributions::Distribution;
use rand::distributions::WeightedIndex;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::*;

pub(super) struct Gen {
    pub(super) places: Vec<Place>,
    pub(super) weights: WeightedIndex<u64>,
    pub(super) themes: Vec<ThemeCode>,
}

pub(super) fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

impl Gen {
    pub(super) fn place(&self, rng: &mut ChaCha8Rng) -> &Place {
        &self.places[self.weights.sample(rng)]
    }

    pub(super) fn near(rng: &mut ChaCha8Rng, p: &Place) -> Location {
        Location {
            lat: (p.lat + rng.gen_range(-0.012..0.012)).clamp(LAT.0, LAT.1),
            lon: (p.lon + rng.gen_range(-0.016..0.016)).clamp(LON.0, LON.1),
        }
    }

    pub(super) fn themes(&self, rng: &mut ChaCha8Rng) -> Vec<ThemeCode> {
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
    pub(super) fn description(rng: &mut ChaCha8Rng, place: &str) -> String {
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

    pub(super) fn person(rng: &mut ChaCha8Rng) -> (String, String) {
        let first = *pick(rng, FIRST_NAMES);
        let last = *pick(rng, SURNAMES);
        let email = format!(
            "{}.{}@example.org",
            Slug::derive(first).as_str(),
            Slug::derive(last).as_str()
        );
        (format!("{first} {last}"), email)
    }

    pub(super) fn organisation(&self, rng: &mut ChaCha8Rng, i: usize) -> OrganisationFields {
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

    pub(super) fn lab(
        &self,
        rng: &mut ChaCha8Rng,
        i: usize,
        orgs: &[Uuid],
    ) -> anyhow::Result<LabFields> {
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

    pub(super) fn network(
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

    pub(super) fn project(
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
