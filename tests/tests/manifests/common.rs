//! Helpers of the manifest tests: kustomize builds, YAML documents, the validators in the venv.

use std::path::{Path, PathBuf};
use std::process::Command;

use mixerless_harness::paths;
use serde_yaml::Value;

pub(crate) type Objects = Vec<Value>;

pub(crate) fn istio() -> PathBuf {
    paths::root().join("istio")
}

/// A tool that `make deps` puts into the project venv.
pub(crate) fn venv(bin: &str) -> PathBuf {
    let path = paths::root().join(".venv/bin").join(bin);
    assert!(path.exists(), "no {}: run `make deps`", path.display());
    path
}

/// The Istio CRDs from the shared data (`shared/` is a sibling of the clone in CI), or `None`
/// with one line saying what is skipped.
pub(crate) fn crd_file() -> Option<PathBuf> {
    paths::shared_data(
        "conformance/istio-crds/crd-all.gen.yaml",
        "validating istio/ against Istio's CRD schemas",
    )
}

/// Runs a command; (success, stdout + stderr).
pub(crate) fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), log)
}

/// The non-empty documents of a YAML stream (documents separated by `---` lines).
pub(crate) fn docs(text: &str) -> Objects {
    let mut chunks = vec![String::new()];
    for line in text.lines() {
        if line == "---" || line.starts_with("--- ") {
            chunks.push(String::new());
        } else if let Some(last) = chunks.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    chunks
        .iter()
        .map(|c| serde_yaml::from_str::<Value>(c).unwrap_or_else(|e| panic!("bad YAML: {e}\n{c}")))
        .filter(|v| !v.is_null())
        .collect()
}

pub(crate) fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("?")
}

/// The group of an object's apiVersion ("" for the core group).
pub(crate) fn api_group(o: &Value) -> &str {
    o["apiVersion"]
        .as_str()
        .and_then(|v| v.rsplit_once('/'))
        .map_or("", |(g, _)| g)
}

/// `kubectl kustomize DIR`, parsed.
pub(crate) fn kustomize(dir: &Path) -> Objects {
    let (ok, log) = run(Command::new(venv("kubectl")).arg("kustomize").arg(dir));
    assert!(ok, "kubectl kustomize {} failed:\n{log}", dir.display());
    docs(&log)
}

/// Every file under `dir`, recursively, sorted.
pub(crate) fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let mut files = Vec::new();
    walk(from, &mut files);
    for f in files {
        let dest = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap();
    }
}

/// `istio/` built with these components enabled, the way the guide says to enable them (the
/// `components:` list of istio/kustomization.yaml), from a copy.
pub(crate) fn kustomize_with(components: &[&str]) -> Objects {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("istio");
    copy_dir(&istio(), &copy);
    let k = copy.join("kustomization.yaml");
    let text = std::fs::read_to_string(&k).unwrap();
    let list: String = components.iter().map(|c| format!("\n  - {c}")).collect();
    assert!(
        text.contains("\ncomponents: []\n"),
        "istio/kustomization.yaml has `components: []`"
    );
    std::fs::write(
        &k,
        text.replace("\ncomponents: []\n", &format!("\ncomponents:{list}\n")),
    )
    .unwrap();
    kustomize(&copy)
}

/// The objects of the `prefix*.yaml` files of `dir`.
pub(crate) fn file_objects(dir: &Path, prefix: &str) -> Objects {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let f = p.file_name().unwrap().to_string_lossy();
            f.starts_with(prefix) && f.ends_with(".yaml")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no {prefix}*.yaml in {}", dir.display());
    for f in files {
        out.extend(docs(&std::fs::read_to_string(&f).unwrap()));
    }
    out
}

fn write_stream(objs: &[Value]) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    let text: Vec<String> = objs
        .iter()
        // JSON documents: PyYAML reads YAML 1.1, where serde_yaml's plain `yes` would turn
        // into a boolean and hide a type error; JSON means the same to both.
        .map(|o| serde_json::to_string(o).unwrap() + "\n")
        .collect();
    std::fs::write(file.path(), text.join("---\n")).unwrap();
    file
}

/// kubernetes-validate --strict against one Kubernetes version (schemas from the wheel, offline).
pub(crate) fn kubernetes_validate(objs: &[Value], version: &str) -> (bool, String) {
    let file = write_stream(objs);
    run(Command::new(venv("kubernetes-validate"))
        .args(["--strict", "-k", version])
        .arg(file.path()))
}

/// scripts/validate-istio-crds.py against crd-all.gen.yaml; `None` without the shared data.
pub(crate) fn validate_istio(objs: &[Value]) -> Option<(bool, String)> {
    let crds = crd_file()?;
    let file = write_stream(objs);
    Some(run(Command::new(venv("python"))
        .arg(paths::root().join("scripts/validate-istio-crds.py"))
        .arg(crds)
        .arg(file.path())))
}
