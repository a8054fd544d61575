//! `crds/natsguard.io.yaml` is what the API server gets (tests, Helm chart, `make demo`); it must be
//! exactly what the Rust types generate.

#[test]
fn committed_crds_match_the_rust_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/natsguard.io.yaml");
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let generated = natsguard::crd::crds_yaml().expect("the CRDs render");
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()))
            + 1;
        panic!(
            "{} is out of date with the CRD types in src/crd/ (first difference at line {line}); \
             run `make crds` and commit the result",
            path.display()
        );
    }
}
