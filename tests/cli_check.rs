//! `natsguard check` end to end: the built binary on realistic manifests (tests/fixtures/).

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn check(args: &[&str], stdin: Option<&str>) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_natsguard"));
    cmd.arg("check").args(args).current_dir(FIX).env_remove("NO_COLOR");
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn natsguard");
    if let Some(input) = stdin {
        let mut s = child.stdin.take().expect("stdin");
        // The binary does not read stdin when every -f names a file.
        if let Err(e) = s.write_all(input.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    }
    let o = child.wait_with_output().expect("wait");
    Out {
        code: o.status.code().expect("exit code"),
        stdout: String::from_utf8(o.stdout).expect("utf8 stdout"),
        stderr: String::from_utf8(o.stderr).expect("utf8 stderr"),
    }
}

fn json(args: &[&str]) -> (i32, Value) {
    let mut a = args.to_vec();
    a.extend(["-o", "json"]);
    let o = check(&a, None);
    let v = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", o.stdout, o.stderr));
    (o.code, v)
}

fn codes(v: &Value, name: &str, container: &str) -> Vec<String> {
    let r = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name && r["container"] == container)
        .unwrap_or_else(|| panic!("no result for {name}/{container} in {v}"));
    r["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn kustomize_production_overlay_with_tls_is_compliant() {
    let o = check(&["-f", "kustomize/overlays/prod/rendered.yaml"], None);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("Deployment cordum-prod/prod-cordum-scheduler"), "{}", o.stdout);
    assert!(o.stdout.contains("container scheduler (production)"), "{}", o.stdout);
    assert!(o.stdout.contains("init container migrate"), "{}", o.stdout);
    assert!(o.stdout.contains("1 workload checked (2 containers): 0 violations"), "{}", o.stdout);
    assert!(!o.stdout.contains('\x1b'), "no colour when stdout is not a terminal");
    assert!(o.stderr.is_empty(), "{}", o.stderr);

    let (code, v) = json(&["-f", "kustomize/overlays/prod/rendered.yaml"]);
    assert_eq!(code, 0);
    for c in ["scheduler", "migrate"] {
        let violations: Vec<_> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["container"] == c)
            .flat_map(|r| r["findings"].as_array().unwrap().iter())
            .filter(|f| f["severity"] == "violation")
            .collect();
        assert!(violations.is_empty(), "{c}: {violations:?}");
    }
}

#[test]
fn helm_chart_with_plaintext_and_inline_password_fails() {
    let o = check(&["-f", "helm/rendered.yaml"], None);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("PlaintextTransport"), "{}", o.stdout);
    assert!(o.stdout.contains("SecretInPlainEnv"), "{}", o.stdout);
    assert!(!o.stdout.contains("hunter2"), "{}", o.stdout);
    let (_, v) = json(&["-f", "helm/rendered.yaml"]);
    let c = codes(&v, "release-cordum-gateway", "gateway");
    assert!(c.contains(&"PlaintextTransport".to_owned()), "{c:?}");
    assert!(c.contains(&"SecretInPlainEnv".to_owned()), "{c:?}");
    // ServiceAccount, ConfigMap and Service are not workloads.
    assert_eq!(v["results"].as_array().unwrap().len(), 1);
}

#[test]
fn json_shape_field_by_field() {
    let (code, v) = json(&["-f", "helm/rendered.yaml"]);
    assert_eq!(code, 1);
    let obj = v.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), vec!["results", "summary"]);
    let r = &v["results"][0];
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec!["source", "kind", "namespace", "name", "container", "production", "findings"];
    want.sort();
    let mut got = keys.clone();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(r["source"], "helm/rendered.yaml");
    assert_eq!(r["kind"], "Deployment");
    assert_eq!(r["namespace"], "");
    assert_eq!(r["name"], "release-cordum-gateway");
    assert_eq!(r["container"], "gateway");
    assert_eq!(r["production"], true);
    for f in r["findings"].as_array().unwrap() {
        let mut k: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort();
        assert_eq!(k, vec!["code", "message", "severity"]);
        assert!(["violation", "warning", "info"].contains(&f["severity"].as_str().unwrap()));
        assert!(!f["message"].as_str().unwrap().is_empty());
    }
    let s = &v["summary"];
    let mut k: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort();
    assert_eq!(k, vec!["violations", "warnings", "workloads"]);
    assert_eq!(s["workloads"], 1);
    let count = |sev: &str| r["findings"].as_array().unwrap().iter().filter(|f| f["severity"] == sev).count() as u64;
    assert_eq!(s["violations"].as_u64().unwrap(), count("violation"));
    assert_eq!(s["warnings"].as_u64().unwrap(), count("warning"));
}

#[test]
fn configmap_urls_are_resolved_and_missing_ones_indeterminate() {
    let (code, v) = json(&["-f", "configmap"]);
    assert_eq!(code, 0, "{v}");
    // tls:// from the ConfigMap given alongside: no transport finding.
    let worker = codes(&v, "cordum-worker", "worker");
    assert!(!worker.iter().any(|c| c == "PlaintextTransport" || c == "Indeterminate"), "{worker:?}");
    // The referenced ConfigMap is not in the input: the verdict cannot be known offline.
    let audit = codes(&v, "cordum-audit", "audit");
    assert!(audit.contains(&"Indeterminate".to_owned()), "{audit:?}");
    assert!(!audit.contains(&"PlaintextTransport".to_owned()), "{audit:?}");

    // Without the ConfigMap file, the worker is indeterminate too.
    let (_, v) = json(&["-f", "configmap/deployments.yaml"]);
    assert!(codes(&v, "cordum-worker", "worker").contains(&"Indeterminate".to_owned()));
}

#[test]
fn lists_in_yaml_and_json_and_directories_in_sorted_order() {
    let (code, v) = json(&["-f", "lists"]);
    assert_eq!(code, 1, "{v}");
    let sources: Vec<&str> = v["results"].as_array().unwrap().iter().map(|r| r["source"].as_str().unwrap()).collect();
    assert_eq!(sources, vec!["lists/list.json", "lists/list.yaml"]);
    // The ConfigMap inside the YAML List resolved the URL: plaintext in production.
    assert!(codes(&v, "from-yaml-list", "app").contains(&"PlaintextTransport".to_owned()));
    assert!(!codes(&v, "from-json-list", "app").iter().any(|c| c == "PlaintextTransport"));
    assert_eq!(v["summary"]["workloads"], 2);
}

#[test]
fn multi_document_files_and_stdin() {
    let text = std::fs::read_to_string(format!("{FIX}/helm/rendered.yaml")).unwrap()
        + "---\n"
        + &std::fs::read_to_string(format!("{FIX}/kustomize/overlays/prod/rendered.yaml")).unwrap();
    // No -f and stdin is not a terminal: stdin is read.
    let o = check(&["-o", "json"], Some(&text));
    assert_eq!(o.code, 1, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["summary"]["workloads"], 2);
    assert!(v["results"].as_array().unwrap().iter().all(|r| r["source"] == "-"));
    let names: Vec<&str> = v["results"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["release-cordum-gateway", "prod-cordum-scheduler", "prod-cordum-scheduler"]);
    // `-f -` too, mixed with a file.
    let o = check(&["-f", "-", "-f", "dev/warning-only.yaml", "-o", "json"], Some(&text));
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["summary"]["workloads"], 3);
}

#[test]
fn no_f_reads_stdin_and_bad_paths_or_usage_exit_2() {
    // Without -f, stdin is read when it is not a terminal (here /dev/null). Nothing to judge is
    // no pass (exit 2) unless --allow-empty says so. On a terminal no -f is a usage error (exit
    // 2); a test cannot give the binary a terminal.
    let o = check(&[], None);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("nothing was judged"), "{}", o.stderr);
    assert!(!o.stdout.contains("all compliant"), "{}", o.stdout);
    let o = check(&["--allow-empty"], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = check(&["-f", "does/not/exist.yaml"], None);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("does/not/exist.yaml"), "{}", o.stderr);
    let o = check(&["-f", "helm", "-o", "xml"], None);
    assert_eq!(o.code, 2);
}

#[test]
fn malformed_document_is_located_and_the_rest_still_reported() {
    let o = check(&["-f", "malformed/stream.yaml", "-o", "json"], None);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let line = o
        .stderr
        .lines()
        .find_map(|l| l.split("malformed/stream.yaml:").nth(1))
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no file:line in {}", o.stderr));
    assert!((13..=23).contains(&line), "line {line}: {}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    let names: Vec<&str> = v["results"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["good-before", "good-after"]);
    // Unreadable input wins over findings, and over --fail-on never.
    assert!(codes(&v, "good-after", "app").contains(&"PlaintextTransport".to_owned()));
    let o = check(&["-f", "malformed/stream.yaml", "--fail-on", "never"], None);
    assert_eq!(o.code, 2);
    assert!(o.stdout.contains("1 document unreadable"), "{}", o.stdout);
}

#[test]
fn fail_on_thresholds() {
    assert_eq!(check(&["-f", "dev/warning-only.yaml"], None).code, 0);
    let o = check(&["-f", "dev/warning-only.yaml", "--fail-on", "warning"], None);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stdout.contains("SecretInPlainEnv"));
    assert_eq!(check(&["-f", "helm/rendered.yaml", "--fail-on", "never"], None).code, 0);
    assert_eq!(check(&["-f", "kustomize/overlays/prod/rendered.yaml", "--fail-on", "warning"], None).code, 0);
}

#[test]
fn past_rollback_by_makes_the_override_overdue() {
    let (code, v) = json(&["-f", "override/overdue.yaml"]);
    assert_eq!(code, 1);
    let c = codes(&v, "cordum-scheduler", "scheduler");
    assert!(c.contains(&"PlaintextOverrideOverdue".to_owned()), "{c:?}");
    assert!(!c.contains(&"OverrideOwnerMissing".to_owned()), "{c:?}");
}

#[test]
fn policies_select_and_configure() {
    let (code, v) = json(&["-f", "policy/deployments.yaml", "--policy", "policy/policies.yaml"]);
    assert_eq!(code, 1, "{v}");
    let results = v["results"].as_array().unwrap();
    let under = |name: &str, policy: &str| {
        results.iter().find(|r| r["name"] == name && r["policy"] == policy).map(|r| {
            r["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        })
    };
    // `control` is selected by both policies and evaluated under each.
    let strict = under("control", "team-a/always-production").expect("control under always-production");
    assert!(strict.contains(&"PlaintextTransport".to_owned()), "{strict:?}");
    let lax = under("control", "team-a/everything").expect("control under everything");
    assert!(!lax.contains(&"PlaintextTransport".to_owned()), "{lax:?}");
    // `edge` fails the matchExpressions; `elsewhere` is in another namespace.
    assert!(under("edge", "team-a/always-production").is_none());
    assert!(under("edge", "team-a/everything").is_some());
    assert!(!results.iter().any(|r| r["name"] == "elsewhere"));
    assert_eq!(v["summary"]["workloads"], 2);
    let o = check(&["-f", "policy/deployments.yaml", "--policy", "policy/policies.yaml"], None);
    assert!(o.stdout.contains("[policy team-a/always-production]"), "{}", o.stdout);
    assert!(o.stdout.contains("1 workload not selected by any policy"), "{}", o.stdout);
    // Policies given in the input work the same as --policy.
    let (_, v2) = json(&["-f", "policy"]);
    assert_eq!(v2["summary"], v["summary"]);
}

#[test]
fn sarif_is_valid_and_located() {
    let o = check(&["-f", "helm/rendered.yaml", "-f", "override/overdue.yaml", "-o", "sarif"], None);
    assert_eq!(o.code, 1);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "natsguard");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 25, "one rule per finding code");
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for code in ["PlaintextTransport", "TLSSchemeRejected", "CredentialsInURL", "InvalidURL", "Indeterminate"] {
        assert!(ids.contains(&code), "{code}");
    }
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        assert!(ids.contains(&r["ruleId"].as_str().unwrap()));
        assert_eq!(rules[r["ruleIndex"].as_u64().unwrap() as usize]["id"], r["ruleId"]);
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
    }
    let plain = results.iter().find(|r| r["ruleId"] == "PlaintextTransport").unwrap();
    assert_eq!(plain["level"], "error");
    assert_eq!(plain["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "helm/rendered.yaml");
    // The Deployment document starts after the `---` on line 21 (comment on 22, content on 23).
    assert_eq!(plain["locations"][0]["physicalLocation"]["region"]["startLine"], 23);
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
}

#[test]
fn output_is_stable() {
    let a = check(&["-f", "lists", "-f", "configmap", "-o", "json"], None);
    let b = check(&["-f", "lists", "-f", "configmap", "-o", "json"], None);
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn no_output_ever_contains_a_credential() {
    let input = std::fs::read_to_string(format!("{FIX}/leaks/credentials.yaml")).unwrap();
    for fmt in ["text", "json", "sarif"] {
        for args in [vec!["-f", "leaks"], vec!["-f", "-"]] {
            let mut a = args.clone();
            a.extend(["-o", fmt, "--fail-on", "never"]);
            let o = check(&a, Some(&input));
            assert_eq!(o.code, 2, "the malformed document makes the input unreadable: {}", o.stderr);
            for (what, s) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
                assert!(!s.contains("LEAKCANARY"), "{fmt} {what} leaks a credential:\n{s}");
                assert!(!s.contains("12345678"), "{fmt} {what} leaks the numeric password:\n{s}");
                for userinfo in ["initUser", "urlUser", "u2:", "caps:", "cmUser"] {
                    assert!(!s.contains(userinfo), "{fmt} {what} leaks userinfo {userinfo}:\n{s}");
                }
            }
            assert!(o.stderr.contains("credentials.yaml:") || o.stderr.contains("-:"), "{}", o.stderr);
            assert!(o.stdout.contains("leaky"), "{fmt}: {}", o.stdout);
        }
    }
}

#[test]
fn other_pod_template_workloads_are_evaluated() {
    let (code, v) = json(&["-f", "kinds"]);
    assert_eq!(code, 1, "{v}");
    let kinds: Vec<(&str, &str)> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["name"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, vec![("CronJob", "cordum-compactor"), ("StatefulSet", "cordum-store"), ("Pod", "cordum-debug")]);
    assert!(codes(&v, "cordum-compactor", "compactor").contains(&"PlaintextTransport".to_owned()));
    // A Pod's `spec` is the pod spec itself.
    assert!(codes(&v, "cordum-debug", "debug").contains(&"PlaintextTransport".to_owned()));
    assert!(codes(&v, "cordum-store", "store").is_empty());
}

#[test]
fn an_unusable_policy_is_reported_naming_the_field_and_the_rest_still_evaluated() {
    let input = "\
apiVersion: natsguard.io/v1alpha1
kind: NatsTransportPolicy
metadata: {name: strict}
spec:
  selector: {matchLabels: {app: cordum}}
  override: {maxDuration: 1h, warnBefore: 2h}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: scheduler
        env:
        - {name: CORDUM_ENV, value: production}
        - {name: NATS_URL, value: 'nats://nats:4222'}
";
    let o = check(&["-f", "-", "-o", "json"], Some(input));
    assert_eq!(o.code, 2, "an unusable policy is bad input\n{}", o.stderr);
    assert!(o.stderr.contains("<stdin>:1") || o.stderr.contains(":1:"), "located: {}", o.stderr);
    assert!(o.stderr.contains("spec.override.warnBefore"), "names the field: {}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).expect("JSON still written");
    // Without a usable policy the built-in default evaluates the Deployment.
    assert_eq!(codes(&v, "api", "scheduler"), ["AuthMissing", "PlaintextTransport"]);
}

fn sources(v: &Value) -> Vec<String> {
    v["results"].as_array().unwrap().iter().map(|r| r["source"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn kustomize_patch_files_are_never_judged_as_whole_workloads() {
    let o = check(&["-f", "overlay", "-o", "json", "--fail-on", "never"], None);
    let v: Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", o.stdout, o.stderr));
    // The StatefulSet the overlay adds is judged; none of the three patch files is.
    assert_eq!(sources(&v), ["overlay/nats.yaml"], "{}", o.stderr);
    assert!(!o.stdout.contains("cordum-api-gateway") && !o.stdout.contains("cordum-scheduler"), "{}", o.stdout);
    // The note names the patches and gives the command that checks what kustomize renders.
    assert!(o.stderr.contains("overlay holds a kustomization"), "{}", o.stderr);
    assert!(o.stderr.contains("patches/tls-env.yaml"), "{}", o.stderr);
    assert!(o.stderr.contains("patches/replicas.yaml"), "{}", o.stderr);
    assert!(o.stderr.contains("kustomize build overlay | natsguard check -f -"), "{}", o.stderr);
    assert_eq!(o.code, 0, "{}", o.stderr);

    // Named on its own, a patch file is still not judged: nothing is, and that is no pass.
    let o = check(&["-f", "overlay/patches/tls-env.yaml"], None);
    assert_eq!(o.code, 2, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("kustomize build overlay | natsguard check -f -"), "{}", o.stderr);
    assert!(o.stderr.contains("nothing was judged"), "{}", o.stderr);
    assert!(!o.stdout.contains("PlaintextTransport"), "{}", o.stdout);
}

#[test]
fn unrendered_helm_templates_are_reported_with_the_helm_template_command() {
    let o = check(&["-f", "chart/cordum", "-o", "json"], None);
    assert_eq!(o.code, 2, "{}\n{}", o.stdout, o.stderr);
    for f in ["chart/cordum/templates/scheduler.yaml:1:", "chart/cordum/templates/configmap.yaml:2:"] {
        assert!(o.stderr.contains(f), "{f} located: {}", o.stderr);
    }
    assert_eq!(o.stderr.matches("unrendered Helm template").count(), 2, "{}", o.stderr);
    assert!(o.stderr.contains("helm template cordum chart/cordum | natsguard check -f -"), "{}", o.stderr);
    // Said as what it is, not as a YAML syntax error.
    for yaml_error in ["did not find expected", "while parsing", "mapping values"] {
        assert!(!o.stderr.contains(yaml_error), "{}", o.stderr);
    }
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["results"], serde_json::json!([]));
    // Piped in, there is no chart directory to name.
    let text = std::fs::read_to_string(format!("{FIX}/chart/cordum/templates/scheduler.yaml")).unwrap();
    let o = check(&["-f", "-"], Some(&text));
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("-:1: an unrendered Helm template"), "{}", o.stderr);
    assert!(o.stderr.contains("helm template RELEASE CHART | natsguard check -f -"), "{}", o.stderr);
}

#[test]
fn a_policy_that_selects_nothing_is_no_pass() {
    let o = check(&["-f", "policy/deployments.yaml", "--policy", "selection/policy-typo.yaml"], None);
    assert_eq!(o.code, 2, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("nothing was judged: the input holds 3 workloads and no policy selects any of them"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains(
            "policy team-a/prod-strict selects 0 of 3 (namespace team-a, labels app.kubernetes.io/part-of=cordumm)"
        ),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("--allow-empty"), "{}", o.stderr);
    assert!(!o.stdout.contains("all compliant"), "{}", o.stdout);
    assert!(o.stdout.contains("nothing judged"), "{}", o.stdout);
    // --fail-on never does not hide it; --allow-empty accepts it.
    let o =
        check(&["-f", "policy/deployments.yaml", "--policy", "selection/policy-typo.yaml", "--fail-on", "never"], None);
    assert_eq!(o.code, 2);
    let o = check(&["-f", "policy/deployments.yaml", "--policy", "selection/policy-typo.yaml", "--allow-empty"], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("accepted with --allow-empty"), "{}", o.stderr);

    // Beside a policy that does select, the typo is a note, not a failure.
    let o = check(
        &[
            "-f",
            "policy/deployments.yaml",
            "--policy",
            "selection/policy-typo.yaml",
            "--policy",
            "policy/policies.yaml",
        ],
        None,
    );
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("note: policy team-a/prod-strict selects none of the 3 workloads"), "{}", o.stderr);
}

#[test]
fn an_input_without_workloads_is_no_pass() {
    let o = check(&["-f", "configmap/configmap.yaml"], None);
    assert_eq!(o.code, 2, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("the input holds no workload"), "{}", o.stderr);
    assert!(o.stderr.contains("1 ConfigMap"), "{}", o.stderr);
    // YAML that is no Kubernetes object at all.
    let o = check(&["-f", "empty"], None);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("it holds 1 other"), "{}", o.stderr);
    assert_eq!(check(&["-f", "empty", "--allow-empty"], None).code, 0);
    // A file whose only document cannot be read.
    let o = check(&["-f", "-"], Some("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: [\n"));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("-:3:"), "{}", o.stderr);
}

#[test]
fn kubectl_lists_are_streamed_and_configmaps_after_workloads_resolve() {
    let (code, v) = json(&["-f", "kubectl"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(sources(&v), ["kubectl/get.json", "kubectl/get.yaml"]);
    // The ConfigMap comes after the Deployment in both Lists and still resolves its URL.
    assert!(codes(&v, "from-kubectl", "scheduler").contains(&"PlaintextTransport".to_owned()), "{v}");
    assert!(!codes(&v, "from-kubectl", "scheduler").contains(&"Indeterminate".to_owned()), "{v}");
    assert!(
        !codes(&v, "from-kubectl-json", "scheduler").iter().any(|c| c == "PlaintextTransport" || c == "Indeterminate")
    );
    // The items of a document that is not a List are not workloads of the input.
    assert!(!v["results"].as_array().unwrap().iter().any(|r| r["name"] == "inside-a-bundle"), "{v}");
    assert_eq!(v["summary"]["workloads"], 2);
    // Each streamed item is located at its own line.
    let o = check(&["-f", "kubectl/get.yaml", "-o", "sarif"], None);
    let s: Value = serde_json::from_str(&o.stdout).unwrap();
    let line = &s["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"];
    assert_eq!(line, 5, "{s}");
}

#[test]
fn output_is_the_same_bytes_for_any_number_of_jobs() {
    // Enough documents for several batches: the fixtures, many times over, on stdin.
    let mut text = String::new();
    for f in ["helm/rendered.yaml", "kinds/workloads.yaml", "configmap/deployments.yaml", "override/overdue.yaml"] {
        text += &std::fs::read_to_string(format!("{FIX}/{f}")).unwrap();
        text += "\n---\n";
    }
    let text = text.repeat(300);
    for fmt in ["json", "text", "sarif"] {
        let one = check(&["-f", "-", "-f", "lists", "-o", fmt, "--jobs", "1"], Some(&text));
        assert_eq!(one.code, 1, "{}", one.stderr);
        for jobs in ["2", "5"] {
            let many = check(&["-f", "-", "-f", "lists", "-o", fmt, "--jobs", jobs], Some(&text));
            assert!(one.stdout == many.stdout, "{fmt} output differs between --jobs 1 and --jobs {jobs}");
            assert_eq!(one.stderr, many.stderr);
            assert_eq!(one.code, many.code);
        }
    }
    assert_eq!(check(&["-f", "lists", "--jobs", "0"], None).code, 2, "--jobs 0 is bad usage");
}
