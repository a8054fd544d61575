//! Blanking the parts of a block-style workload document that `check` never reads, before the
//! YAML parser sees them. Parsing is nearly all of `check`'s cost, and probes, resources,
//! volumes and the like are most of a rendered Deployment; blanking them (lines become empty,
//! so line numbers stay right) halves the work.
//!
//! Only subtrees under keys that cannot occur inside `env`/`envFrom` or in the labels and
//! annotations `check` reads are blanked, never inside the top-level `metadata`, never inside
//! block scalars or multi-line quoted scalars. If the pruned document does not parse, the
//! caller parses the original, so errors are reported exactly as before. A syntax error inside
//! a blanked subtree goes unnoticed: `check` is a transport gate, not a schema validator.

/// Keys whose whole subtree `check` never needs (outside the top-level `metadata`).
const SKIP: [&str; 22] = [
    "resources",
    "readinessProbe",
    "livenessProbe",
    "startupProbe",
    "volumeMounts",
    "volumeDevices",
    "ports",
    "volumes",
    "securityContext",
    "affinity",
    "tolerations",
    "topologySpreadConstraints",
    "strategy",
    "updateStrategy",
    "selector",
    "args",
    "command",
    "lifecycle",
    "nodeSelector",
    "imagePullSecrets",
    "dnsConfig",
    "hostAliases",
];

fn indent(line: &str) -> usize {
    line.bytes().take_while(|&b| b == b' ').count()
}

/// The key of a `key:` line (not a `- key:` sequence entry), if it is a plain key.
fn plain_key(rest: &str) -> Option<&str> {
    let i = rest.find(':')?;
    let key = &rest[..i];
    let after = &rest[i + 1..];
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    (after.is_empty() || after.starts_with([' ', '\t', '\r', '\n'])).then_some(key)
}

/// Whether a line opens a block scalar or leaves a quoted one open. A byte scan first: most
/// lines have neither quotes nor `|`/`>`.
fn opens_scalar(line: &str) -> bool {
    line.bytes().any(|b| matches!(b, b'"' | b'\'' | b'|' | b'>')) && (opens_block_scalar(line) || opens_quoted(line))
}

/// Whether a line's value opens a block scalar (`|`, `>`, with indicators, maybe a comment).
fn opens_block_scalar(line: &str) -> bool {
    let v = line.trim_end();
    let v = match v.find(" #") {
        Some(i) => v[..i].trim_end(),
        None => v,
    };
    let tail = v.rsplit(' ').next().unwrap_or("");
    let before = v[..v.len() - tail.len()].trim_end();
    (tail.starts_with('|') || tail.starts_with('>'))
        && tail[1..].bytes().all(|b| b == b'-' || b == b'+' || b.is_ascii_digit())
        && (before.ends_with(':') || before.ends_with('-'))
}

/// Whether a line leaves a quoted scalar open (it continues on the next lines).
fn opens_quoted(line: &str) -> bool {
    let Some(i) = line.find([':', '-']) else {
        return false;
    };
    let v = line[i + 1..].trim_start();
    let v = v.strip_prefix("- ").unwrap_or(v);
    if let Some(s) = v.strip_prefix('"') {
        // Count unescaped closing quotes.
        let mut esc = false;
        for c in s.chars() {
            match c {
                '\\' if !esc => esc = true,
                '"' if !esc => return false,
                _ => esc = false,
            }
        }
        return true;
    }
    if let Some(s) = v.strip_prefix('\'') {
        return s.replace("''", "").find('\'').is_none();
    }
    false
}

/// Writes `doc` to `out` with skippable subtrees blanked (one `\n` per removed line).
pub fn prune(doc: &str, out: &mut String) {
    out.clear();
    out.reserve(doc.len());
    // While Some(n): lines indented more than n (and comments/blank lines) are skipped content.
    let mut skipping: Option<usize> = None;
    // While Some(n): lines indented more than n (or blank) belong to a block/quoted scalar.
    let mut scalar: Option<usize> = None;
    let mut in_metadata = false;
    for line in doc.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let t = body.trim_start();
        let ind = indent(body);
        if let Some(n) = scalar {
            if t.is_empty() || ind > n {
                if skipping.is_some() {
                    out.push('\n');
                } else {
                    out.push_str(line);
                }
                continue;
            }
            scalar = None;
        }
        if let Some(n) = skipping {
            // Compact sequences (`ports:` then `- …` at the same indentation) belong to the key.
            if t.is_empty() || t.starts_with('#') || ind > n || (ind == n && (t == "-" || t.starts_with("- "))) {
                if opens_scalar(body) {
                    scalar = Some(ind);
                }
                out.push('\n');
                continue;
            }
            skipping = None;
        }
        if ind == 0 && !t.is_empty() && !t.starts_with('#') {
            in_metadata = t.starts_with("metadata:");
        }
        if !in_metadata
            && ind > 0
            && let Some(key) = plain_key(t)
            && SKIP.contains(&key)
        {
            skipping = Some(ind);
            if opens_scalar(body) {
                scalar = Some(ind);
            }
            out.push('\n');
            continue;
        }
        if opens_scalar(body) {
            scalar = Some(ind);
        }
        out.push_str(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pruned(doc: &str) -> String {
        let mut out = String::new();
        prune(doc, &mut out);
        assert_eq!(out.lines().count(), doc.lines().count(), "line count kept:\n{out}");
        out
    }

    #[test]
    fn blanks_skippable_subtrees_and_keeps_the_rest() {
        let doc = "kind: Deployment\nmetadata:\n  name: a\n  labels:\n    ports: keep-me\nspec:\n  selector:\n    matchLabels: {a: b}\n  template:\n    spec:\n      containers:\n      - name: c\n        ports:\n        - containerPort: 80\n# a comment at column 0 inside the subtree\n          name: http\n        env:\n        - name: NATS_URL\n          value: tls://n:4222\n        resources:\n          limits: {cpu: 1}\n      - name: d\n        env: []\n";
        let p = pruned(doc);
        assert!(p.contains("ports: keep-me"), "{p}");
        assert!(!p.contains("containerPort") && !p.contains("name: http") && !p.contains("limits"), "{p}");
        assert!(!p.contains("matchLabels"), "{p}");
        assert!(p.contains("- name: c\n") && p.contains("value: tls://n:4222") && p.contains("- name: d"), "{p}");
    }

    #[test]
    fn never_touches_block_or_quoted_scalars() {
        let doc = "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        env:\n        - name: CONFIG\n          value: |\n            resources:\n              x: 1\n        - name: Q\n          value: \"a\n            resources: b\"\n        - name: NATS_URL\n          value: tls://n:4222\n";
        assert_eq!(pruned(doc), doc);
    }

    #[test]
    fn block_scalar_inside_a_skipped_subtree_is_skipped_whole() {
        let doc = "spec:\n  template:\n    spec:\n      containers:\n      - name: c\n        command:\n        - sh\n        - -c\n        - |\n          echo hi\n        env:\n        - name: A\n          value: b\n";
        let p = pruned(doc);
        assert!(!p.contains("echo"), "{p}");
        assert!(p.contains("env:\n        - name: A\n          value: b"), "{p}");
    }

    #[test]
    fn scalar_detection() {
        assert!(opens_block_scalar("  value: |"));
        assert!(opens_block_scalar("  value: >-  # folded"));
        assert!(opens_block_scalar("- |2"));
        assert!(!opens_block_scalar("  value: a|b"));
        assert!(!opens_block_scalar("  value: x"));
        assert!(!opens_block_scalar("  value: a |"));
        assert!(opens_quoted("  value: \"abc"));
        assert!(!opens_quoted("  value: \"abc\""));
        assert!(!opens_quoted("  value: \"a\\\"b\""));
        assert!(opens_quoted("  value: 'it''s"));
        assert!(!opens_quoted("  value: 'it''s'"));
    }
}
