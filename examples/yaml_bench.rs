//! Where `natsguard check`'s time goes, stage by stage, and how the ways to parse compare (the
//! evidence for the parsing decision in docs/ci.md, "How fast"). Rates are per CPU-second of this
//! single thread.
//!
//! Usage: `cargo run --release --example yaml_bench -- FILE` (FILE from `gen_manifests N FILE`).
use k8s_openapi::api::apps::v1::Deployment;
use natsguard::workload::PodEnv;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What `check` reads of a Deployment (the shape of `check`'s own slim types).
#[derive(Deserialize, Serialize, PartialEq, Debug)]
struct Slim {
    #[serde(default)]
    metadata: Option<Meta>,
    #[serde(default)]
    spec: Option<SlimSpec>,
}
#[derive(Deserialize, Serialize, PartialEq, Debug)]
struct Meta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}
#[derive(Deserialize, Serialize, PartialEq, Debug)]
struct SlimSpec {
    #[serde(default)]
    template: Option<SlimTemplate>,
}
#[derive(Deserialize, Serialize, PartialEq, Debug)]
struct SlimTemplate {
    #[serde(default)]
    spec: Option<PodEnv>,
}

/// CPU seconds of this process so far.
fn cpu() -> f64 {
    // /proc/self/stat fields 14 and 15: utime and stime in clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn bench<T>(label: &str, docs: &[&str], bytes: usize, f: impl Fn(&str) -> T) -> f64 {
    let c = cpu();
    for d in docs {
        std::hint::black_box(f(d));
    }
    let s = (cpu() - c).max(0.01);
    println!("{label:44} {:8.0} docs/s {:7.1} MB/s  ({s:.2} CPU-s)", docs.len() as f64 / s, bytes as f64 / s / 1e6);
    s
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: yaml_bench FILE");
    let text = std::fs::read_to_string(path).expect("read");
    let docs: Vec<&str> = text.split("---\n").filter(|d| d.contains("\nkind: Deployment")).collect();
    let bytes: usize = docs.iter().map(|d| d.len()).sum();
    println!("{} Deployment documents, {:.1} MB", docs.len(), bytes as f64 / 1e6);
    let saphyr = || {
        let mut o = serde_saphyr::Options::default();
        o.with_snippet = false;
        o
    };
    // Every reader must read the same thing.
    for d in docs.iter().take(200) {
        let full: Slim = serde_yaml_ng::from_str(d).expect("serde_yaml_ng");
        assert_eq!(natsguard::check::fast::from_str::<Slim>(d).ok().as_ref(), Some(&full), "fast reader");
        assert_eq!(serde_saphyr::from_str_with_options::<Slim>(d, saphyr()).ok().as_ref(), Some(&full), "saphyr");
    }
    println!("-- full parsers (libyaml through serde_yaml_ng; serde-saphyr, pure Rust)");
    bench("serde_yaml_ng: whole k8s Deployment", &docs, bytes, |d| serde_yaml_ng::from_str::<Deployment>(d).ok());
    bench("serde_yaml_ng: check's slim types", &docs, bytes, |d| serde_yaml_ng::from_str::<Slim>(d).ok());
    bench("serde_yaml_ng: IgnoredAny (scan only)", &docs, bytes, |d| serde_yaml_ng::from_str::<IgnoredAny>(d).ok());
    bench("serde-saphyr: check's slim types", &docs, bytes, |d| {
        serde_saphyr::from_str_with_options::<Slim>(d, saphyr()).ok()
    });
    bench("serde-saphyr: IgnoredAny (scan only)", &docs, bytes, |d| {
        serde_saphyr::from_str_with_options::<IgnoredAny>(d, saphyr()).ok()
    });
    println!("-- check's fast reader (falls back to serde_yaml_ng outside its subset)");
    let fallbacks = docs.iter().filter(|d| natsguard::check::fast::from_str::<Slim>(d).is_err()).count();
    bench("fast reader: check's slim types", &docs, bytes, |d| natsguard::check::fast::from_str::<Slim>(d).ok());
    println!("   documents that fell back: {fallbacks}");
    println!("-- the other stages of check, per document");
    bench("split lines + find kind (memchr)", &docs, bytes, |d| {
        d.lines().find(|l| l.starts_with("kind:")).map(str::len)
    });
    let parsed: Vec<Slim> = docs.iter().filter_map(|d| natsguard::check::fast::from_str::<Slim>(d).ok()).collect();
    let json: Vec<String> = parsed.iter().map(|s| serde_json::to_string(s).expect("json")).collect();
    let jbytes: usize = json.iter().map(String::len).sum();
    println!(
        "   records: {:.1} MB as JSON lines ({:.0}% of the YAML)",
        jbytes as f64 / 1e6,
        jbytes as f64 * 100.0 / bytes as f64
    );
    let c = cpu();
    for s in &parsed {
        std::hint::black_box(serde_json::to_vec(s).ok());
    }
    let s = (cpu() - c).max(0.01);
    println!(
        "{:44} {:8.0} docs/s {:7.1} MB/s of YAML",
        "record to JSON",
        parsed.len() as f64 / s,
        bytes as f64 / s / 1e6
    );
    let refs: Vec<&str> = json.iter().map(String::as_str).collect();
    bench("record from JSON", &refs, bytes, |j| serde_json::from_str::<Slim>(j).ok());
    let spec = natsguard::crd::NatsTransportPolicySpec::default();
    let cms = natsguard::env::ConfigMaps::unknown();
    let ctx = natsguard::evaluate::EvalContext::at(k8s_openapi::jiff::Timestamp::now());
    let empty = BTreeMap::new();
    let c = cpu();
    for d in &parsed {
        let meta = d.metadata.as_ref();
        let pod = d.spec.as_ref().and_then(|s| s.template.as_ref()).and_then(|t| t.spec.as_ref());
        let Some(pod) = pod else { continue };
        let w = natsguard::evaluate::WorkloadInput {
            namespace: meta.and_then(|m| m.namespace.as_deref()).unwrap_or(""),
            name: meta.and_then(|m| m.name.as_deref()).unwrap_or(""),
            annotations: meta.and_then(|m| m.annotations.as_ref()).unwrap_or(&empty),
            pod,
        };
        std::hint::black_box(natsguard::evaluate::evaluate_workload(&spec, &w, &cms, &ctx));
    }
    let s = (cpu() - c).max(0.01);
    println!(
        "{:44} {:8.0} docs/s {:7.1} MB/s of YAML",
        "evaluate_workload",
        parsed.len() as f64 / s,
        bytes as f64 / s / 1e6
    );
}
