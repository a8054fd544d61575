//! Measures YAML crates deserializing generated Deployments (CPU time of this process).
//! Usage: `cargo run --release --example yaml_bench -- FILE` (FILE from `gen_manifests`).
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{EnvFromSource, EnvVar};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::time::Instant;

#[derive(Deserialize)]
#[allow(dead_code)]
struct Slim {
    #[serde(default)]
    metadata: ObjectMeta,
    spec: Option<SlimSpec>,
}
#[derive(Deserialize)]
#[allow(dead_code)]
struct SlimSpec {
    template: Option<SlimTemplate>,
}
#[derive(Deserialize)]
#[allow(dead_code)]
struct SlimTemplate {
    spec: Option<SlimPod>,
}
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
struct SlimPod {
    #[serde(default)]
    containers: Vec<SlimContainer>,
    #[serde(default)]
    init_containers: Vec<SlimContainer>,
}
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
struct SlimContainer {
    name: String,
    env: Option<Vec<EnvVar>>,
    env_from: Option<Vec<EnvFromSource>>,
}

fn bench<T>(label: &str, docs: &[&str], bytes: usize, f: impl Fn(&str) -> T) {
    let t = Instant::now();
    for d in docs {
        std::hint::black_box(f(d));
    }
    let s = t.elapsed().as_secs_f64();
    println!("{label:32} {:8.0} docs/s {:6.1} MB/s", docs.len() as f64 / s, bytes as f64 / s / 1e6);
}

fn main() {
    let path = std::env::args().nth(1).expect("FILE");
    let text = std::fs::read_to_string(path).expect("read");
    let docs: Vec<&str> = text.split("\n---\n").filter(|d| d.contains("kind: Deployment")).collect();
    let bytes: usize = docs.iter().map(|d| d.len()).sum();
    println!("{} Deployment documents, {} bytes (wall-clock rates; run on an idle machine)", docs.len(), bytes);
    let saphyr = || {
        let mut o = serde_saphyr::Options::default();
        o.with_snippet = false;
        o
    };
    for _ in 0..2 {
        bench("serde_saphyr Deployment", &docs, bytes, |d| {
            serde_saphyr::from_str_with_options::<Deployment>(d, saphyr()).expect("saphyr")
        });
        bench("serde_saphyr IgnoredAny", &docs, bytes, |d| {
            serde_saphyr::from_str_with_options::<IgnoredAny>(d, saphyr()).expect("saphyr")
        });
        bench("serde_yaml_ng Deployment", &docs, bytes, |d| serde_yaml_ng::from_str::<Deployment>(d).expect("ng"));
        bench("serde_yaml_ng slim", &docs, bytes, |d| serde_yaml_ng::from_str::<Slim>(d).expect("ng"));
        bench("serde_yaml_ng IgnoredAny", &docs, bytes, |d| serde_yaml_ng::from_str::<IgnoredAny>(d).expect("ng"));
    }
    // The evaluator alone, on documents parsed beforehand.
    let parsed: Vec<Deployment> = docs.iter().map(|d| serde_yaml_ng::from_str(d).expect("ng")).collect();
    let spec = natsguard::crd::NatsTransportPolicySpec::default();
    let cms = natsguard::env::ConfigMaps::unknown();
    let ctx = natsguard::evaluate::EvalContext::at(k8s_openapi::jiff::Timestamp::now());
    let empty = Default::default();
    let t = Instant::now();
    for d in &parsed {
        let pod = natsguard::workload::PodEnv::from(
            d.spec.as_ref().and_then(|s| s.template.spec.as_ref()).expect("pod spec"),
        );
        let w = natsguard::evaluate::WorkloadInput {
            namespace: d.metadata.namespace.as_deref().unwrap_or(""),
            name: d.metadata.name.as_deref().unwrap_or(""),
            annotations: d.metadata.annotations.as_ref().unwrap_or(&empty),
            pod: &pod,
        };
        std::hint::black_box(natsguard::evaluate::evaluate_workload(&spec, &w, &cms, &ctx));
    }
    let s = t.elapsed().as_secs_f64();
    println!("{:32} {:8.0} docs/s", "evaluate_workload only", parsed.len() as f64 / s);
}
