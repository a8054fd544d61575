//! Code comments cite the repository's own reference (docs/), never the contract file that
//! lives outside it: a reader of a fresh clone must be able to follow every citation.

use std::path::Path;

fn visit(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "comments_cite_the_repository.rs" || n == "fixtures") {
            continue;
        }
        if path.is_dir() {
            visit(&path, out);
            continue;
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(_) => continue,
        };
        for (i, line) in text.lines().enumerate() {
            if line.contains("SPEC §") || line.contains("SPEC section") || line.contains("SPEC.md") {
                out.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
            }
        }
    }
}

#[test]
fn no_citation_points_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for dir in ["src", "tests", "examples", "hack", "charts", "docs", "crds"] {
        visit(&root.join(dir), &mut found);
    }
    for file in ["README.md", "Makefile"] {
        if let Ok(text) = std::fs::read_to_string(root.join(file)) {
            for (i, line) in text.lines().enumerate() {
                if line.contains("SPEC §") || line.contains("SPEC section") || line.contains("SPEC.md") {
                    found.push(format!("{file}:{}: {}", i + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "cite docs/ instead of the contract file:\n{}", found.join("\n"));
}
