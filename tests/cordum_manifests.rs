//! `natsguard check` on a Cordum control plane shaped like its production overlay
//! (tests/fixtures/cordum/): shared ConfigMaps through envFrom, mTLS client settings, an
//! OpenTelemetry sidecar, a validate-secrets init container, the context engine, the dashboard and
//! cordum-mcp. The compliant rendering must pass with no false finding; the drifted one must give
//! exactly the reviewed verdicts in drifted.expected.json.

use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

fn check(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_natsguard"))
        .arg("check")
        .args(args)
        .args(["-o", "json"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cordum"))
        .output()
        .expect("run natsguard");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    (out.status.code().unwrap_or(-1), json)
}

/// "Kind name" -> container -> sorted codes.
fn verdicts(v: &Value) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for r in v["results"].as_array().expect("results") {
        let key = format!("{} {}", r["kind"].as_str().unwrap_or(""), r["name"].as_str().unwrap_or(""));
        let mut codes: Vec<String> = r["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["code"].as_str().map(str::to_owned))
            .collect();
        codes.sort();
        out.entry(key).or_default().insert(r["container"].as_str().unwrap_or("").to_owned(), codes);
    }
    out
}

#[test]
fn the_production_overlay_passes_without_a_false_finding() {
    let (code, v) = check(&["-f", "production.yaml", "--fail-on", "warning"]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!((v["summary"]["violations"].as_u64(), v["summary"]["warnings"].as_u64()), (Some(0), Some(0)), "{v:#}");
    let got = verdicts(&v);
    let not_clients: Vec<String> = got
        .iter()
        .flat_map(|(w, cs)| {
            cs.iter().filter(|(_, codes)| *codes == &["NotNatsClient"]).map(move |(c, _)| format!("{w}/{c}"))
        })
        .collect();
    // The sidecars, the init containers, the context engine, the dashboard and the NATS server
    // itself do not dial NATS as clients; everything else is judged and passes.
    assert_eq!(not_clients.len(), 11, "{not_clients:#?}");
    for c in ["context-engine", "dashboard", "otel-collector", "validate-secrets", "nats"] {
        assert!(
            not_clients.iter().any(|n| n.ends_with(&format!("/{c}"))),
            "{c} is not a NATS client: {not_clients:#?}"
        );
    }
    for (w, c) in [
        ("Deployment cordum-api-gateway", "gateway"),
        ("Deployment cordum-scheduler", "scheduler"),
        ("Deployment cordum-workflow-engine", "workflow-engine"),
        ("Deployment cordum-safety-kernel", "safety"),
        ("Deployment cordum-mcp", "mcp"),
    ] {
        assert_eq!(got[w][c], Vec::<String>::new(), "{w}/{c} is a compliant mTLS client");
    }
    // The fixture's Secret value is never printed.
    assert!(!v.to_string().contains("Zq9-fixture"), "a Secret value leaked");
}

#[test]
fn the_drifted_overlay_gives_exactly_the_reviewed_verdicts() {
    let (code, v) = check(&["-f", "drifted.yaml"]);
    assert_eq!(code, 1, "violations fail the gate");
    let want: BTreeMap<String, BTreeMap<String, Vec<String>>> = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cordum/drifted.expected.json"))
            .expect("expected verdicts"),
    )
    .expect("expected verdicts JSON");
    assert_eq!(verdicts(&v), want);
    let messages = v.to_string();
    // The two surprises the drift holds: mTLS stops authenticating once the URL fails the gate,
    // and cordum-mcp falls back to local audit logging instead of exiting.
    assert!(messages.contains("the client certificate is presented only when every entry of NATS_URL is tls://"));
    assert!(messages.contains("cordum-mcp runs without NATS and falls back to local audit logging"));
}
