//! Networks of organisations and labs.

use crate::enums::*;
use crate::organisation::RecordMeta;
use crate::values::Slug;
use chrono::NaiveDate;
use uuid::Uuid;

/// A member of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Organisation or lab.
    pub member_type: MemberType,
    /// Its id.
    pub id: Uuid,
    /// When it joined.
    pub joined: Option<NaiveDate>,
}

/// Everything a client may write about a network, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkFields {
    /// Wanted slug.
    pub slug: Option<Slug>,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Year it started.
    pub since: Option<i32>,
    /// Coordinating organisation.
    pub coordinator_id: Option<Uuid>,
    /// Members.
    pub members: Vec<Member>,
    /// Publication status.
    pub status: Status,
}

impl NetworkFields {
    /// The organisations a network belongs to: its coordinator.
    pub fn owners(&self) -> Vec<Uuid> {
        self.coordinator_id.into_iter().collect()
    }
}

/// A stored network.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Bookkeeping.
    pub meta: RecordMeta,
    /// Content.
    pub fields: NetworkFields,
}
