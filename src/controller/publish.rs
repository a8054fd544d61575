//! Emitting Events (events.k8s.io/v1) for the notices the pure core decided on.

use crate::notices::{Notice, Regarding, Related};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};

/// References the notices of one policy reconciliation may point at.
pub struct Refs<'a> {
    pub policy: &'a ObjectReference,
    pub deployment: &'a (dyn Fn(&str) -> Option<ObjectReference> + Sync),
    pub incident: &'a (dyn Fn(&str) -> Option<ObjectReference> + Sync),
}

pub async fn notices(recorder: &Recorder, refs: &Refs<'_>, notices: Vec<Notice>) {
    for n in notices {
        let regarding = match &n.regarding {
            Regarding::Policy => Some(refs.policy.clone()),
            Regarding::Deployment(name) => (refs.deployment)(name),
        };
        let Some(regarding) = regarding else { continue };
        let secondary = match &n.related {
            Related::None => None,
            Related::Policy => Some(refs.policy.clone()),
            Related::Incident(name) => (refs.incident)(name),
        };
        let event = Event {
            type_: if n.warning { EventType::Warning } else { EventType::Normal },
            reason: n.reason.clone(),
            note: Some(truncate(&n.note, 1000)),
            action: "Evaluate".into(),
            secondary,
        };
        if let Err(e) = recorder.publish(&event, &regarding).await {
            tracing::warn!(reason = %n.reason, error = %e, "cannot publish event");
        }
    }
}

/// Event notes are limited to 1 kB by the API server.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}
