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

/// A reference to an object that may no longer be in any cache (a deleted Deployment, a
/// deleted policy).
pub fn reference(api_version: &str, kind: &str, namespace: &str, name: &str, uid: Option<&str>) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.to_owned()),
        kind: Some(kind.to_owned()),
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        uid: uid.map(str::to_owned),
        ..Default::default()
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
