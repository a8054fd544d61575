//! natsguard's model of the NATS client against the real client (docs/natsgo-differential.md).
//!
//! `hack/natsdiff.sh` builds a small Go program against the pinned nats.go and nats-server and
//! hands every URL list of `tests/fixtures/natsurl/corpus.json` to `nats.Connect`, against a
//! plaintext and a TLS-only nats-server on 127.0.0.1. These tests check that what nats.go does
//! still equals the corpus (so the corpus cannot drift from reality) and that
//! `natsurl::client_outcome` gives the same answer for every list. No control plane is needed;
//! Go is: without it, or when the build fails, the tests fail and say so.

use natsguard::natsurl::{ClientOutcome, client_outcome, redact};
use serde::Deserialize;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const CORPUS: &str = "tests/fixtures/natsurl/corpus.json";
const OUTCOMES: [&str; 3] = ["encrypted", "plaintext", "refused"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    url: String,
    outcome: String,
    source: String,
}

/// One line of the harness's output.
#[derive(Deserialize)]
struct Live {
    index: usize,
    url: String,
    outcome: String,
    error: String,
    detail: String,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus() -> Vec<Case> {
    let path = repo().join(CORPUS);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let cases: Vec<Case> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{CORPUS} is not valid: {e}"));
    assert!(cases.len() >= 40, "{CORPUS} holds {} URL lists; the differential needs at least 40", cases.len());
    let mut seen = HashSet::new();
    for (i, c) in cases.iter().enumerate() {
        assert!(seen.insert(c.url.as_str()), "{CORPUS} item {i}: {:?} appears twice", redact(&c.url));
        assert!(OUTCOMES.contains(&c.outcome.as_str()), "{CORPUS} item {i}: unknown outcome {:?}", c.outcome);
        assert!(!c.source.trim().is_empty(), "{CORPUS} item {i}: say where the list comes from");
    }
    for outcome in OUTCOMES {
        assert!(cases.iter().any(|c| c.outcome == outcome), "{CORPUS} has no {outcome} list");
    }
    cases
}

/// Builds (first run only; progress goes to stderr) and runs the harness on the corpus, once per
/// test process.
fn live() -> &'static [Live] {
    static LIVE: OnceLock<Result<Vec<Live>, String>> = OnceLock::new();
    match LIVE.get_or_init(run_harness) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

fn run_harness() -> Result<Vec<Live>, String> {
    let bin = build_harness(None)?;
    let ran = Command::new(&bin)
        .arg(repo().join(CORPUS))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&ran.stdout);
    if !ran.status.success() {
        return Err(format!(
            "the nats.go harness {} failed ({}); stderr:\n{}\nstdout:\n{stdout}",
            bin.display(),
            ran.status,
            String::from_utf8_lossy(&ran.stderr)
        ));
    }
    stdout.lines().map(|l| serde_json::from_str(l).map_err(|e| format!("harness output line {l:?}: {e}"))).collect()
}

/// `hack/natsdiff.sh --print-path`: the cached harness, built first if needed. The build's
/// progress goes to the test's stderr, unless `isolated` gives a PATH and an empty binary cache
/// (then its output is captured into the error).
fn build_harness(isolated: Option<(&OsStr, &Path)>) -> Result<PathBuf, String> {
    let script = repo().join("hack/natsdiff.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script).arg("--print-path").current_dir(repo()).stdin(Stdio::null());
    match isolated {
        Some((path, cache)) => cmd.env("PATH", path).env("NATSGUARD_BIN_CACHE", cache).stderr(Stdio::piped()),
        None => cmd.stderr(Stdio::inherit()),
    };
    let built = cmd.output().map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !built.status.success() {
        return Err(format!(
            "building the nats.go harness failed ({}): {} needs Go 1.26 or newer on PATH and the Go module \
             proxy; its progress and errors are above{}",
            built.status,
            script.display(),
            String::from_utf8_lossy(&built.stderr).lines().map(|l| format!("\n  {l}")).collect::<String>()
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&built.stdout).trim()))
}

/// Corpus and live results side by side, checked to be the same lists in the same order.
fn paired() -> Vec<(Case, &'static Live)> {
    let cases = corpus();
    let live = live();
    assert_eq!(live.len(), cases.len(), "the harness answered {} of {} lists", live.len(), cases.len());
    for (i, l) in live.iter().enumerate() {
        assert_eq!(l.index, i, "harness output out of order");
    }
    cases.into_iter().zip(live).collect()
}

/// The corpus's word for an outcome.
fn outcome_name(o: ClientOutcome) -> &'static str {
    match o {
        ClientOutcome::Encrypted => "encrypted",
        ClientOutcome::Plaintext => "plaintext",
        ClientOutcome::Refused => "refused",
    }
}

fn why(l: &Live) -> &str {
    if l.error.is_empty() { &l.detail } else { &l.error }
}

#[test]
fn natsgo_outcomes_match_the_corpus() {
    let mut drift = Vec::new();
    for (c, l) in paired() {
        if l.outcome != c.outcome {
            drift.push(format!(
                "  {:?}: corpus says {}, nats.go now says {} ({})",
                redact(&c.url),
                c.outcome,
                l.outcome,
                why(l)
            ));
        }
    }
    assert!(
        drift.is_empty(),
        "{} of the {CORPUS} outcomes are no longer what nats.go does (update the corpus to the truth, \
         then fix natsurl):\n{}",
        drift.len(),
        drift.join("\n")
    );
}

#[test]
fn natsguard_client_outcome_matches_natsgo() {
    let pairs = paired();
    let total = pairs.len();
    let mut differ = Vec::new();
    for (c, l) in pairs {
        let ours = outcome_name(client_outcome(&c.url));
        if ours != c.outcome {
            differ.push(format!(
                "  {:?}: nats.go {} ({}); natsguard {ours}  [{}]",
                redact(&c.url),
                c.outcome,
                why(l),
                c.source
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "natsurl::client_outcome disagrees with nats.go on {} of {total} URL lists:\n{}",
        differ.len(),
        differ.join("\n")
    );
}

#[test]
fn the_harness_never_shows_userinfo() {
    let pairs = paired();
    assert!(
        pairs.iter().any(|(c, _)| c.url.contains("s3cr3t")),
        "the corpus must keep a list with a password to check this"
    );
    let mut leaks = Vec::new();
    for (c, l) in &pairs {
        for secret in userinfo_pieces(&c.url) {
            for (field, text) in [("url", &l.url), ("error", &l.error), ("detail", &l.detail)] {
                if text.contains(secret) {
                    leaks.push(format!("  {:?}: {field} shows part of the userinfo", redact(&c.url)));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "the harness printed URL userinfo:\n{}", leaks.join("\n"));
}

/// The userinfo-looking fragments of a URL list with 3 or more characters: each stretch from
/// `://` (or the start) to an `@`, and its parts between `,` `/` `:` and white space.
fn userinfo_pieces(raw: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < raw.len() {
        if raw.as_bytes()[i..].starts_with(b"://") {
            i += 3;
            start = i;
        } else if raw.as_bytes()[i] == b'@' {
            let region = &raw[start..i];
            out.push(region);
            out.extend(region.split([',', '/', ':', ' ', '?', '#']));
            i += 1;
            start = i;
        } else {
            i += 1;
        }
    }
    out.retain(|p| p.trim().len() >= 3);
    out
}

#[test]
fn without_go_the_build_fails_with_a_clear_message() {
    // PATH without any directory that holds a `go`, and an empty binary cache, so nothing cached
    // can stand in for the build.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).filter(|d| !d.join("go").is_file()).collect();
    let no_go: OsString = std::env::join_paths(dirs).expect("PATH entries are joinable");
    let cache = std::env::temp_dir().join(format!("natsdiff-no-go-{}", std::process::id()));
    std::fs::create_dir_all(&cache).expect("temp dir");
    let result = build_harness(Some((&no_go, &cache)));
    let _ = std::fs::remove_dir_all(&cache);
    let err = result.expect_err("without Go on PATH the harness cannot be built");
    assert!(err.contains("needs Go 1.26 or newer on PATH"), "{err}");
    if Command::new("bash")
        .env("PATH", &no_go)
        .args(["-c", "command -v sha256sum awk flock"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        assert!(err.contains("go is not on PATH"), "the script should name the missing tool: {err}");
    }
}
