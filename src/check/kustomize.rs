//! Kustomizations next to the manifests (docs/ci.md): the files a `kustomization.yaml` lists as
//! patches are partial objects (a Deployment with only the env it changes), so judging one as a
//! whole workload gives false alarms; they are left out, and the directory gets a note with the
//! command that checks what kustomize renders.
//!
//! Where kustomizations are looked for: every directory searched under a `-f DIR`, and for a
//! `-f FILE` its directory and the directories above it (up to the working directory, or the
//! root for a path outside it).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file names kustomize accepts for a kustomization.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// One kustomization found.
#[derive(Debug)]
pub struct Found {
    /// The directory holding it, as shown.
    pub dir: PathBuf,
    /// The kustomization file.
    pub file: PathBuf,
    /// The patch files it lists that exist: canonical path and the path as written.
    pub patches: BTreeMap<PathBuf, String>,
    /// Why its patch list could not be read, if it could not.
    pub error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Kustomization {
    #[serde(default, deserialize_with = "null_default")]
    patches: Vec<PatchRef>,
    #[serde(default, deserialize_with = "null_default")]
    patches_strategic_merge: Vec<String>,
    #[serde(default, rename = "patchesJson6902", deserialize_with = "null_default")]
    patches_json6902: Vec<PatchRef>,
}

#[derive(Deserialize)]
struct PatchRef {
    #[serde(default)]
    path: Option<String>,
}

fn null_default<'de, D: serde::Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Reads the kustomization in `dir`, if there is one.
pub fn find(dir: &Path) -> Option<Found> {
    let file = FILE_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file())?;
    let mut found = Found { dir: dir.to_owned(), file: file.clone(), patches: BTreeMap::new(), error: None };
    let k = std::fs::read_to_string(&file).map_err(|e| e.to_string()).and_then(|text| {
        serde_yaml_ng::from_str::<Option<Kustomization>>(&text)
            .map(Option::unwrap_or_default)
            .map_err(|e| super::parse::sanitize(&e.to_string()))
    });
    let k = match k {
        Ok(k) => k,
        Err(e) => {
            found.error = Some(e);
            return Some(found);
        }
    };
    // `patchesStrategicMerge` entries are file paths or inline patches; only existing files count.
    let paths = k
        .patches
        .iter()
        .chain(&k.patches_json6902)
        .filter_map(|p| p.path.as_deref())
        .chain(k.patches_strategic_merge.iter().map(String::as_str).filter(|s| !s.contains('\n')));
    for p in paths {
        if let Ok(c) = dir.join(p).canonicalize() {
            found.patches.insert(c, p.to_owned());
        }
    }
    Some(found)
}

/// The directories where a kustomization may list `file` as a patch: its own and those above
/// it as the path is written (a relative path up to `.`; an absolute one up to the working
/// directory, or the root for a path outside it).
pub fn dirs_above(file: &Path) -> Vec<PathBuf> {
    let cwd = std::env::current_dir().ok();
    let mut out = Vec::new();
    for d in file.ancestors().skip(1) {
        let d = if d.as_os_str().is_empty() { Path::new(".") } else { d };
        out.push(d.to_owned());
        if d == Path::new(".") || cwd.as_deref() == Some(d) {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_kind_of_patch_reference() {
        let dir = std::env::temp_dir().join(format!("natsguard-kustomize-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("patches")).unwrap();
        for f in ["a.yaml", "b.yaml", "c.yaml"] {
            std::fs::write(dir.join("patches").join(f), "kind: Deployment\n").unwrap();
        }
        std::fs::write(
            dir.join("kustomization.yaml"),
            "resources: [../base]\npatches:\n- path: patches/a.yaml\n- patch: |-\n    - op: remove\n      path: /x\n  target: {kind: Deployment}\npatchesStrategicMerge:\n- patches/b.yaml\n- |-\n  kind: Deployment\npatchesJson6902:\n- path: patches/c.yaml\n  target: {kind: Deployment, name: x}\n- path: patches/missing.yaml\n",
        )
        .unwrap();
        let f = find(&dir).unwrap();
        assert!(f.error.is_none(), "{:?}", f.error);
        let names: Vec<&str> = f.patches.values().map(String::as_str).collect();
        assert_eq!(names, ["patches/a.yaml", "patches/b.yaml", "patches/c.yaml"]);
        std::fs::write(dir.join("kustomization.yaml"), "patches: {path: [\n").unwrap();
        assert!(find(&dir).unwrap().error.is_some());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(find(&dir).is_none());
        let up: Vec<PathBuf> = dirs_above(Path::new("a/b/c.yaml"));
        assert_eq!(up, [PathBuf::from("a/b"), PathBuf::from("a"), PathBuf::from(".")]);
    }
}
