//! The validating admission webhook (docs/configuration.md, "Admission"):
//! `POST /validate` answers AdmissionReview `admission.k8s.io/v1` for `apps/v1` Deployments
//! (CREATE, UPDATE) with the decision of [`crate::admission`]. Served over TLS by every replica
//! (leader or not: it only reads), on the shared hyper server ([`super::http::serve`]).
//!
//! Policies and ConfigMaps come from the operator's caches through [`Caches`]; a review never
//! calls the API server and never reads a Secret, and it has no side effects (dry-run safe).
//! Anything that is not a Deployment CREATE or UPDATE is allowed with no opinion; a body that
//! is not an AdmissionReview gets a 400 naming what is wrong (never echoing the body), one over
//! [`MAX_BODY`] a 413, one that does not arrive within 10 s a 408.

use super::http::{Body, Handler};
use super::metrics::{Metrics, decision};
use crate::admission::{self, Candidate, Change, Decision};
use crate::crd::NatsTransportPolicy;
use crate::env::ConfigMapLookup;
use crate::workload::PodEnv;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use k8s_openapi::jiff::Timestamp;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The path the API server posts reviews to.
pub const PATH: &str = "/validate";
/// Largest request body: an AdmissionReview of an UPDATE carries the object twice, each up to
/// etcd's default 1.5 MiB request limit.
pub const MAX_BODY: usize = 8 << 20;
/// How long a client may take to send the body (the API server's own timeout is at most 30 s).
#[cfg(not(test))]
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
#[cfg(test)]
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(1);
/// The only AdmissionReview version served (the webhook registers `admissionReviewVersions: [v1]`).
const REVIEW_API_VERSION: &str = "admission.k8s.io/v1";
/// Shown when the caches cannot answer yet.
pub const NOT_SYNCED_WARNING: &str =
    "natsguard: the operator's caches are still syncing; this Deployment was admitted without a check";

/// Whether the operator's caches can answer for a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// The operator does not watch the namespace (`--namespace`): no policy applies.
    NotWatched,
    /// Watched, but the initial lists have not all arrived.
    Syncing,
    /// Watched, and every cache has its initial list.
    Synced,
}

/// What the webhook reads of the operator's caches: a narrow view, so the reconcile path can
/// restructure its watches and only the wiring in `controller/mod.rs` changes.
pub trait Caches: Send + Sync + 'static {
    /// Whether the caches can answer for `namespace`.
    fn coverage(&self, namespace: &str) -> Coverage;
    /// The policies in `namespace`.
    fn policies(&self, namespace: &str) -> Vec<Arc<NatsTransportPolicy>>;
    /// The ConfigMaps `pod` reads in `namespace`, each looked up once (never a scan of the
    /// namespace). One the caches cannot tell (the operator keeps only the keys its workloads
    /// read) looks up as [`crate::env::Lookup::Unknown`]: the verdict is then `Indeterminate`, a warning,
    /// never a guess; the operator judges the Deployment once it exists.
    fn configmaps(&self, namespace: &str, pod: &PodEnv) -> Box<dyn ConfigMapLookup + '_>;
}

/// The webhook: the caches it reads and the metrics it records.
pub struct Webhook<C> {
    pub caches: C,
    pub metrics: Arc<Metrics>,
}

/// An answer: HTTP status, JSON or text body, and the `decision` label for the metrics.
pub struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub decision: &'static str,
}

impl Answer {
    fn malformed(status: StatusCode, what: impl std::fmt::Display) -> Answer {
        Answer {
            status,
            body: format!("malformed AdmissionReview: {what}\n").into_bytes(),
            decision: decision::MALFORMED,
        }
    }
}

/// The Deployment of a review, as read from `request.object` or `request.oldObject`.
struct Object {
    name: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    pod: PodEnv,
}

impl Object {
    fn read(obj: &DynamicObject, field: &str) -> Result<Object, String> {
        let meta = &obj.metadata;
        let name = meta.name.clone().or_else(|| meta.generate_name.clone()).unwrap_or_default();
        let pod = match obj.data.get("spec").and_then(|s| s.get("template")).and_then(|t| t.get("spec")) {
            None | Some(serde_json::Value::Null) => PodEnv::default(),
            // The error's text is not shown: it may quote a value from the object.
            Some(v) => PodEnv::deserialize(v)
                .map_err(|_| format!("{field}.spec.template.spec does not have the shape of a pod spec"))?,
        };
        Ok(Object {
            name,
            labels: meta.labels.clone().unwrap_or_default(),
            annotations: meta.annotations.clone().unwrap_or_default(),
            pod,
        })
    }

    fn candidate<'a>(&'a self, namespace: &'a str) -> Candidate<'a> {
        Candidate { namespace, name: &self.name, labels: &self.labels, annotations: &self.annotations, pod: &self.pod }
    }
}

/// Whether the request is a CREATE or UPDATE of an `apps/v1` Deployment (not a subresource).
fn judged_kind(req: &AdmissionRequest<DynamicObject>) -> bool {
    let (k, r) = (&req.kind, &req.resource);
    k.group == "apps"
        && k.version == "v1"
        && k.kind == "Deployment"
        && r.resource == "deployments"
        && req.sub_resource.as_deref().is_none_or(str::is_empty)
        && matches!(req.operation, Operation::Create | Operation::Update)
}

/// Where a JSON error is, without what the body said there.
fn json_error(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "cannot be read",
        serde_json::error::Category::Syntax => "is not valid JSON",
        serde_json::error::Category::Data => "does not have the shape of an AdmissionReview",
        serde_json::error::Category::Eof => "ends early",
    };
    format!("the body {kind} (line {}, column {})", e.line(), e.column())
}

impl<C: Caches> Webhook<C> {
    /// Answer one request body (the HTTP method and path already checked), at `now`.
    pub fn answer(&self, body: &[u8], now: Timestamp) -> Answer {
        let review: AdmissionReview<DynamicObject> = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => return Answer::malformed(StatusCode::BAD_REQUEST, json_error(&e)),
        };
        if review.types.api_version != REVIEW_API_VERSION || review.types.kind != "AdmissionReview" {
            return Answer::malformed(
                StatusCode::BAD_REQUEST,
                format!(
                    "apiVersion {:?} kind {:?}; only {REVIEW_API_VERSION} AdmissionReview is served",
                    review.types.api_version, review.types.kind
                ),
            );
        }
        let req: AdmissionRequest<DynamicObject> = match review.try_into() {
            Ok(r) => r,
            Err(_) => return Answer::malformed(StatusCode::BAD_REQUEST, "it has no request"),
        };
        let (decision, label) = match self.decide(&req, now) {
            Ok(d) => d,
            Err(problem) => return Answer::malformed(StatusCode::BAD_REQUEST, problem),
        };
        if decision.outcome == admission::Outcome::Denied {
            tracing::info!(
                namespace = req.namespace.as_deref().unwrap_or_default(),
                name = %req.name,
                operation = ?req.operation,
                dry_run = req.dry_run,
                "admission denied"
            );
        }
        let mut response = AdmissionResponse::from(&req);
        if let Some(message) = decision.message {
            response = response.deny(message);
            response.result.code = 403;
            response.result.reason = "Forbidden".into();
        }
        if !decision.warnings.is_empty() {
            response.warnings = Some(decision.warnings);
        }
        match serde_json::to_vec(&response.into_review()) {
            Ok(body) => Answer { status: StatusCode::OK, body, decision: label },
            Err(e) => Answer {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                body: format!("cannot encode the AdmissionReview: {e}\n").into_bytes(),
                decision: decision::MALFORMED,
            },
        }
    }

    /// The decision for one request, or what makes it unusable.
    fn decide(
        &self,
        req: &AdmissionRequest<DynamicObject>,
        now: Timestamp,
    ) -> Result<(Decision, &'static str), String> {
        if !judged_kind(req) {
            return Ok((Decision::no_opinion(), admission::Outcome::NoOpinion.as_str()));
        }
        let object = req.object.as_ref().ok_or("request.object is missing")?;
        let namespace = req
            .namespace
            .as_deref()
            .or(object.metadata.namespace.as_deref())
            .filter(|ns| !ns.is_empty())
            .ok_or("request.namespace is missing")?;
        let new = Object::read(object, "request.object")?;
        let old = match (&req.operation, &req.old_object) {
            (Operation::Update, Some(old)) => Some(Object::read(old, "request.oldObject")?),
            _ => None,
        };
        match self.caches.coverage(namespace) {
            Coverage::NotWatched => return Ok((Decision::no_opinion(), admission::Outcome::NoOpinion.as_str())),
            Coverage::Syncing => {
                let d = Decision {
                    outcome: admission::Outcome::Warned,
                    message: None,
                    warnings: vec![NOT_SYNCED_WARNING.to_owned()],
                };
                return Ok((d, decision::NOT_SYNCED));
            }
            Coverage::Synced => {}
        }
        let candidate = new.candidate(namespace);
        let change = Change::between(old.as_ref().map(|o| o.candidate(namespace)).as_ref(), &candidate);
        let policies = self.caches.policies(namespace);
        let cms = self.caches.configmaps(namespace, &new.pod);
        let d = admission::review(policies.iter().map(|p| p.as_ref()), &candidate, change, cms.as_ref(), now);
        let label = d.outcome.as_str();
        Ok((d, label))
    }

    /// Read the body (bounded) and answer it.
    async fn validate(&self, request: Request<hyper::body::Incoming>) -> Answer {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return Answer::malformed(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is over {MAX_BODY} bytes"));
        }
        let read = tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(request.into_body(), MAX_BODY).collect());
        let body = match read.await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return Answer::malformed(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is over {MAX_BODY} bytes"));
            }
            Ok(Err(e)) => return Answer::malformed(StatusCode::BAD_REQUEST, format!("the body cannot be read: {e}")),
            Err(_) => {
                let after = BODY_READ_TIMEOUT.as_secs();
                return Answer::malformed(
                    StatusCode::REQUEST_TIMEOUT,
                    format!("the body did not arrive within {after} s"),
                );
            }
        };
        self.answer(&body, now())
    }
}

/// The current time, to the second (what Kubernetes timestamps carry).
fn now() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    response
}

impl<C: Caches> Handler for Webhook<C> {
    async fn handle(&self, request: Request<hyper::body::Incoming>) -> Response<Body> {
        const PLAIN: &str = "text/plain; charset=utf-8";
        if request.uri().path() != PATH {
            return respond(StatusCode::NOT_FOUND, PLAIN, "not found\n");
        }
        if request.method() != Method::POST {
            let mut r = respond(StatusCode::METHOD_NOT_ALLOWED, PLAIN, "method not allowed\n");
            r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            return r;
        }
        let started = Instant::now();
        let answer = self.validate(request).await;
        self.metrics.admission_reviewed(answer.decision, started.elapsed());
        let content_type = if answer.status == StatusCode::OK { "application/json" } else { PLAIN };
        respond(answer.status, content_type, answer.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Lookup;
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::{Value, json};
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Caches held in memory, with a count of ConfigMap lookups.
    #[derive(Default)]
    struct Fixed {
        coverage: Option<Coverage>,
        policies: Vec<Arc<NatsTransportPolicy>>,
        configmaps: BTreeMap<String, Arc<ConfigMap>>,
        lookups: Mutex<Vec<String>>,
    }

    impl Caches for Fixed {
        fn coverage(&self, _: &str) -> Coverage {
            self.coverage.unwrap_or(Coverage::Synced)
        }
        fn policies(&self, ns: &str) -> Vec<Arc<NatsTransportPolicy>> {
            self.policies.iter().filter(|p| p.metadata.namespace.as_deref() == Some(ns)).cloned().collect()
        }
        fn configmaps(&self, ns: &str, pod: &PodEnv) -> Box<dyn ConfigMapLookup + '_> {
            let mut maps = HashMap::new();
            for name in pod.configmap_names() {
                maps.entry(name.clone()).or_insert_with(|| {
                    self.lookups.lock().unwrap().push(name.clone());
                    self.configmaps.get(name).cloned()
                });
            }
            Box::new(PodConfigMaps { namespace: ns.to_owned(), maps, empty: BTreeMap::new() })
        }
    }

    /// The ConfigMaps one pod refers to, looked up once.
    struct PodConfigMaps {
        namespace: String,
        maps: HashMap<String, Option<Arc<ConfigMap>>>,
        empty: BTreeMap<String, String>,
    }

    impl ConfigMapLookup for PodConfigMaps {
        fn lookup(&self, namespace: &str, name: &str) -> Lookup<'_> {
            if namespace != self.namespace {
                return Lookup::Unknown;
            }
            match self.maps.get(name) {
                Some(Some(cm)) => Lookup::Found(cm.data.as_ref().unwrap_or(&self.empty)),
                Some(None) => Lookup::Absent,
                None => Lookup::Unknown,
            }
        }
    }

    fn policy(name: &str, mode: &str) -> Arc<NatsTransportPolicy> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportPolicy",
                "metadata": {"name": name, "namespace": "prod"},
                "spec": {"selector": {"matchLabels": {"app": "sched"}}, "admission": mode}
            }))
            .unwrap(),
        )
    }

    fn deployment(url_from: Value, annotations: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "sched", "namespace": "prod", "labels": {"app": "sched"}, "annotations": annotations},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "sched"}}, "template": {
                "metadata": {"labels": {"app": "sched"}},
                "spec": {"containers": [{"name": "scheduler", "image": "ghcr.io/cordum-io/cordum/scheduler:2.9",
                    "envFrom": [{"configMapRef": {"name": "nats"}}],
                    "env": [
                        {"name": "CORDUM_ENV", "value": "production"},
                        url_from,
                        {"name": "NATS_TLS_CA", "value": "/etc/nats/ca.crt"},
                        {"name": "NATS_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}}
                    ]}]}}}
        })
    }

    fn review(op: &str, object: Value, old: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
                "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
                "name": "sched", "namespace": "prod", "operation": op,
                "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
                "object": object, "oldObject": old, "dryRun": false,
                "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
            }
        }))
        .unwrap()
    }

    fn webhook(fixed: Fixed) -> Webhook<Fixed> {
        Webhook { caches: fixed, metrics: Arc::new(Metrics::default()) }
    }

    fn at() -> Timestamp {
        "2026-06-01T12:00:00Z".parse().unwrap()
    }

    fn response(a: &Answer) -> Value {
        assert_eq!(a.status, StatusCode::OK, "{}", String::from_utf8_lossy(&a.body));
        let v: Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(v["kind"], "AdmissionReview");
        assert_eq!(v["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
        v["response"].clone()
    }

    fn plaintext() -> Value {
        json!({"name": "NATS_URL", "value": "nats://nats:4222"})
    }

    #[test]
    fn deny_warn_and_configmaps_from_the_cache() {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "nats", "namespace": "prod"}, "data": {"NATS_URL": "tls://nats:4222"}
        }))
        .unwrap();
        let fixed = Fixed {
            policies: vec![policy("strict", "Deny")],
            configmaps: BTreeMap::from([("nats".to_string(), Arc::new(cm))]),
            ..Default::default()
        };
        let w = webhook(fixed);
        // The URL from the ConfigMap is tls://: compliant.
        let from_cm = json!({"name": "UNRELATED", "value": "x"});
        let r = response(&w.answer(&review("CREATE", deployment(from_cm, json!({})), Value::Null), at()));
        assert_eq!(r["allowed"], true, "{r}");
        assert!(r.get("warnings").is_none(), "{r}");
        // One lookup per referenced ConfigMap, never a scan.
        assert_eq!(*w.caches.lookups.lock().unwrap(), ["nats"]);
        // A literal plaintext URL overrides it: denied, naming the violation.
        let a = w.answer(&review("CREATE", deployment(plaintext(), json!({})), Value::Null), at());
        assert_eq!(a.decision, "denied");
        let r = response(&a);
        assert_eq!(r["allowed"], false);
        assert_eq!(r["status"]["code"], 403);
        let m = r["status"]["message"].as_str().unwrap();
        assert!(
            m.starts_with(
                "natsguard policy \"strict\" (admission: Deny): PlaintextTransport in container \"scheduler\""
            ),
            "{m}"
        );

        let w = webhook(Fixed { policies: vec![policy("soft", "Warn")], ..Default::default() });
        let a = w.answer(&review("UPDATE", deployment(plaintext(), json!({})), Value::Null), at());
        assert_eq!(a.decision, "warned");
        let r = response(&a);
        assert_eq!(r["allowed"], true);
        assert_eq!(
            r["warnings"][0],
            "natsguard \"soft\": PlaintextTransport in container \"scheduler\": make every NATS_URL entry tls:// with TLS settings and credentials"
        );
        let text = w.metrics.render();
        assert!(
            text.contains("natsguard_admission_reviews_total{decision=\"warned\"} 0"),
            "answer() alone records nothing"
        );
    }

    #[test]
    fn break_glass_and_unchanged_updates() {
        let w = webhook(Fixed { policies: vec![policy("strict", "Deny")], ..Default::default() });
        let glass = json!({"natsguard.io/override-owner": "alice", "natsguard.io/rollback-by": "2026-06-01T13:00:00Z"});
        let mut object = deployment(plaintext(), glass);
        object["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "CORDUM_NATS_ALLOW_PLAINTEXT", "value": "true"}));
        let a = w.answer(&review("CREATE", object.clone(), Value::Null), at());
        assert_eq!(a.decision, "break_glass");
        let r = response(&a);
        assert_eq!(r["allowed"], true);
        assert!(r["warnings"][0].as_str().unwrap().contains("roll back by 2026-06-01T13:00:00Z"), "{r}");
        // Past the deadline, creating it is denied, but scaling it is not.
        let later: Timestamp = "2026-06-01T14:00:00Z".parse().unwrap();
        let a = w.answer(&review("CREATE", object.clone(), Value::Null), later);
        assert_eq!(a.decision, "denied");
        let mut scaled = object.clone();
        scaled["spec"]["replicas"] = json!(5);
        let a = w.answer(&review("UPDATE", scaled, object.clone()), later);
        assert_eq!(a.decision, "warned");
        assert!(response(&a)["warnings"][0].as_str().unwrap().contains("changes nothing natsguard evaluates"));
        // A downgrade of a compliant Deployment is denied.
        let compliant = deployment(json!({"name": "NATS_URL", "value": "tls://nats:4222"}), json!({}));
        assert_eq!(response(&w.answer(&review("CREATE", compliant.clone(), Value::Null), at()))["allowed"], true);
        let downgraded = deployment(plaintext(), json!({}));
        let a = w.answer(&review("UPDATE", downgraded, compliant), at());
        assert_eq!(a.decision, "denied");
    }

    #[test]
    fn no_opinion_not_synced_and_not_watched() {
        let w = webhook(Fixed { policies: vec![policy("strict", "Deny")], ..Default::default() });
        // A DELETE, another kind, a subresource: allowed, no opinion.
        let mut body: Value = serde_json::from_slice(&review("DELETE", Value::Null, Value::Null)).unwrap();
        let a = w.answer(&serde_json::to_vec(&body).unwrap(), at());
        assert_eq!((a.decision, response(&a)["allowed"].clone()), ("no_opinion", json!(true)));
        body["request"]["operation"] = json!("CREATE");
        body["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "Pod"});
        body["request"]["object"] = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}});
        assert_eq!(w.answer(&serde_json::to_vec(&body).unwrap(), at()).decision, "no_opinion");
        let mut scale: Value =
            serde_json::from_slice(&review("UPDATE", deployment(plaintext(), json!({})), Value::Null)).unwrap();
        scale["request"]["subResource"] = json!("scale");
        assert_eq!(w.answer(&serde_json::to_vec(&scale).unwrap(), at()).decision, "no_opinion");
        // Another namespace without policies.
        let mut other: Value =
            serde_json::from_slice(&review("CREATE", deployment(plaintext(), json!({})), Value::Null)).unwrap();
        other["request"]["namespace"] = json!("dev");
        assert_eq!(w.answer(&serde_json::to_vec(&other).unwrap(), at()).decision, "no_opinion");

        let body = review("CREATE", deployment(plaintext(), json!({})), Value::Null);
        let w = webhook(Fixed {
            coverage: Some(Coverage::Syncing),
            policies: vec![policy("strict", "Deny")],
            ..Default::default()
        });
        let a = w.answer(&body, at());
        assert_eq!(a.decision, "not_synced");
        let r = response(&a);
        assert_eq!((r["allowed"].clone(), r["warnings"][0].clone()), (json!(true), json!(NOT_SYNCED_WARNING)));
        let w = webhook(Fixed {
            coverage: Some(Coverage::NotWatched),
            policies: vec![policy("strict", "Deny")],
            ..Default::default()
        });
        assert_eq!(w.answer(&body, at()).decision, "no_opinion");
    }

    #[test]
    fn malformed_bodies_get_a_clear_400_that_never_echoes_the_body() {
        let w = webhook(Fixed::default());
        let text = |a: &Answer| String::from_utf8_lossy(&a.body).into_owned();
        let a = w.answer(b"{\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": \"AdmissionReview\", \"request\": {\"uid\": \"hunter2secret\"", at());
        assert_eq!((a.status, a.decision), (StatusCode::BAD_REQUEST, "malformed"));
        assert!(text(&a).starts_with("malformed AdmissionReview: the body ends early (line 1"), "{}", text(&a));
        let a = w.answer(b"not json at all: hunter2secret", at());
        assert!(text(&a).contains("is not valid JSON") && !text(&a).contains("hunter2"), "{}", text(&a));
        let a = w.answer(
            br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": 5}}"#,
            at(),
        );
        assert!(text(&a).contains("does not have the shape of an AdmissionReview"), "{}", text(&a));
        let a = w.answer(br#"{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}"#, at());
        assert!(text(&a).contains("only admission.k8s.io/v1 AdmissionReview is served"), "{}", text(&a));
        let a = w.answer(br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}"#, at());
        assert!(text(&a).contains("it has no request"), "{}", text(&a));
        let a = w.answer(&review("CREATE", Value::Null, Value::Null), at());
        assert!(text(&a).contains("request.object is missing"), "{}", text(&a));
        let mut bad = deployment(plaintext(), json!({}));
        bad["spec"]["template"]["spec"]["containers"] = json!("hunter2secret");
        let a = w.answer(&review("CREATE", bad, Value::Null), at());
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert!(
            text(&a).contains("request.object.spec.template.spec does not have the shape of a pod spec"),
            "{}",
            text(&a)
        );
        assert!(!text(&a).contains("hunter2"));
    }

    /// Over real HTTP: routing, the size bound, and the metrics of each answer.
    #[tokio::test]
    async fn routes_bounds_and_metrics_over_http() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let w = Arc::new(webhook(Fixed { policies: vec![policy("strict", "Deny")], ..Default::default() }));
        let metrics = w.metrics.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(super::super::http::serve(listener, super::super::http::Plain, w, async move {
            let _ = stopped.await;
        }));
        let exchange = |head: String, body: Vec<u8>| async move {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            s.write_all(head.as_bytes()).await.unwrap();
            let _ = s.write_all(&body).await;
            let mut out = Vec::new();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
            String::from_utf8_lossy(&out).into_owned()
        };
        let post = |path: &str, body: &[u8]| {
            format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
        };
        let body = review("CREATE", deployment(plaintext(), json!({})), Value::Null);
        let r = exchange(post(PATH, &body), body.clone()).await;
        assert!(r.starts_with("HTTP/1.1 200 OK") && r.contains("content-type: application/json"), "{r}");
        assert!(r.contains("\"allowed\":false"), "{r}");
        let r = exchange(post("/other", &body), body.clone()).await;
        assert!(r.starts_with("HTTP/1.1 404"), "{r}");
        let r = exchange(format!("GET {PATH} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"), Vec::new()).await;
        assert!(r.starts_with("HTTP/1.1 405") && r.contains("allow: POST"), "{r}");
        let r = exchange(post(PATH, b"{}"), b"{}".to_vec()).await;
        assert!(r.starts_with("HTTP/1.1 400") && r.contains("malformed AdmissionReview"), "{r}");
        // Declared too large: refused before reading.
        let huge =
            format!("POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", MAX_BODY + 1);
        let r = exchange(huge, Vec::new()).await;
        assert!(r.starts_with("HTTP/1.1 413"), "{r}");
        // Chunked and too large: cut off at the bound.
        let chunk = vec![b' '; 1 << 20];
        let mut chunked = Vec::new();
        for _ in 0..9 {
            chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            chunked.extend_from_slice(&chunk);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let head =
            format!("POST {PATH} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n");
        let r = exchange(head, chunked).await;
        assert!(r.starts_with("HTTP/1.1 413"), "{r}");
        // A body that never arrives in full: cut off after the read timeout.
        let head = format!("POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\nconnection: close\r\n\r\n");
        let r = exchange(head, b"{\"apiVersion\"".to_vec()).await;
        assert!(r.starts_with("HTTP/1.1 408") && r.contains("did not arrive within 1 s"), "{r}");

        let text = metrics.render();
        for line in [
            "natsguard_admission_reviews_total{decision=\"denied\"} 1\n",
            "natsguard_admission_reviews_total{decision=\"malformed\"} 4\n",
            "natsguard_admission_duration_seconds_count 5\n",
        ] {
            assert!(text.contains(line), "{line} missing in:\n{text}");
        }
        stop.send(()).unwrap();
        server.await.unwrap();
    }
}
