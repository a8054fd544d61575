//! Sending one Event (events.k8s.io/v1) for a notice the pure core decided on. Each Event is a
//! transition, sent once (`super::announce` retries a failed send), so it is created directly
//! rather than through kube's `Recorder`, whose series cache keeps every Event of the last
//! minutes in memory and scans it on each send: with thousands of workloads announced at start
//! that cache would be the operator's largest allocation.

use crate::notices::Notice;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client};
use std::sync::atomic::{AtomicU64, Ordering};

/// The API server's limit on an Event note.
pub const MAX_NOTE: usize = 1024;

/// Who reports the Events.
#[derive(Clone, Debug)]
pub struct Reporter {
    pub controller: String,
    pub instance: String,
}

/// Create the Event for `notice` about `regarding`. A notice with a key gets the Event name
/// `<regarding>.<key>`, and an Event of that name already there counts as sent: it is this
/// announcement, sent by a replica whose record of it was never written.
pub async fn send(
    client: &Client,
    reporter: &Reporter,
    notice: &Notice,
    regarding: &ObjectReference,
    related: Option<&ObjectReference>,
) -> Result<(), kube::Error> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let now = Timestamp::now();
    let ns = regarding.namespace.clone().unwrap_or_else(|| "default".to_owned());
    let stem: String = regarding.name.as_deref().unwrap_or("natsguard").chars().take(200).collect();
    // Cut, a name may end in `-` or `.`, which a DNS subdomain label may not.
    let stem = stem.trim_end_matches(['-', '.']);
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let event = Event {
        metadata: ObjectMeta {
            name: Some(match notice.key {
                Some(key) => format!("{stem}.{key:016x}"),
                None => format!("{stem}.{:x}{sequence:x}", now.as_nanosecond()),
            }),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        action: Some("Evaluate".into()),
        event_time: Some(MicroTime(now)),
        note: Some(truncate(&notice.note, MAX_NOTE)),
        reason: Some(notice.reason.clone()),
        regarding: Some(regarding.clone()),
        related: related.cloned(),
        reporting_controller: Some(reporter.controller.clone()),
        reporting_instance: Some(reporter.instance.clone()),
        type_: Some(if notice.warning { "Warning" } else { "Normal" }.into()),
        ..Default::default()
    };
    match Api::<Event>::namespaced(client.clone(), &ns).create(&PostParams::default(), &event).await {
        Err(kube::Error::Api(status)) if status.code == 409 && notice.key.is_some() => {
            tracing::debug!(event = ?event.metadata.name, "Event already sent");
            Ok(())
        }
        other => other.map(drop),
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

/// `s` cut to at most `max` bytes at a character boundary, with `...` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_cut_at_a_character_boundary() {
        assert_eq!(truncate("short", 10), "short");
        let long = "é".repeat(700);
        let cut = truncate(&long, MAX_NOTE);
        assert!(cut.len() <= MAX_NOTE && cut.ends_with("..."), "{}", cut.len());
    }
}
