//! The mesh configuration that makes the filter's labels appear (`extraStatTags`,
//! `proxyStatsMatcher`, the per-pod annotations) is generated from the filter's label list, the
//! same list `istio/envoy/stats_tags.yaml` is checked against, so the two cannot drift apart.
//!
//! `MIXERLESS_BLESS=1 cargo test -p mixerless-e2e --test manifests generated::` rewrites the
//! generated files in `istio/mesh/`; without it, a file that differs fails the test.

use std::path::{Path, PathBuf};

use mixerless_filter::labels::{self, NAMES};
use mixerless_harness::paths;

/// Envoy keeps a proxy-wasm metric as `wasmcustom.<labels>…istio_requests_total`; Istio's stats
/// matcher compares the full name, so this prefix lets our metrics through.
const INCLUSION_PREFIX: &str = "wasmcustom";

const HEADER: &str =
    "# GENERATED from the filter's label list (mixerless_filter::labels::all()) by\n\
# tests/tests/manifests/generated.rs; do not edit: MIXERLESS_BLESS=1 cargo test -p mixerless-e2e\n\
# --test manifests generated:: rewrites it.\n";

fn list(indent: &str) -> String {
    labels::all().map(|n| format!("{indent}- {n}\n")).collect()
}

/// `istioctl install -f`: mesh-wide defaults for every sidecar and gateway.
fn istio_operator() -> String {
    format!(
        "{HEADER}# Mesh-wide: every proxy gets one stats tag per label and keeps the filter's metrics.\n\
# `istioctl install -f istio/mesh/IstioOperator-mixerless-mesh-config.yaml` (merge it into your\n\
# own IstioOperator if you have one). Proxies pick it up when they restart.\n\
apiVersion: install.istio.io/v1alpha1\n\
kind: IstioOperator\n\
metadata:\n\
\x20 name: mixerless-mesh-config\n\
\x20 namespace: istio-system\n\
\x20 labels:\n\
\x20   app.kubernetes.io/name: mixerless-filter\n\
\x20   app.kubernetes.io/component: mesh-config\n\
\x20   app.kubernetes.io/part-of: mixerless\n\
\x20   app.kubernetes.io/version: \"{version}\"\n\
spec:\n\
\x20 meshConfig:\n\
\x20   defaultConfig:\n\
\x20     extraStatTags:\n\
{tags}\
\x20     proxyStatsMatcher:\n\
\x20       inclusionPrefixes:\n\
\x20         - {INCLUSION_PREFIX}\n",
        version = env!("CARGO_PKG_VERSION"),
        tags = list("        "),
    )
}

/// `helm upgrade istiod istio/istiod -n istio-system --reuse-values -f …`.
fn helm_values() -> String {
    format!(
        "{HEADER}# The same mesh config as Helm values for the istiod chart:\n\
# helm upgrade istiod istio/istiod -n istio-system --reuse-values -f istio/mesh/values-istiod.yaml\n\
meshConfig:\n\
\x20 defaultConfig:\n\
\x20   extraStatTags:\n\
{tags}\
\x20   proxyStatsMatcher:\n\
\x20     inclusionPrefixes:\n\
\x20       - {INCLUSION_PREFIX}\n",
        tags = list("      "),
    )
}

/// Per workload instead of mesh-wide (and on ASM, where the mesh config is not a file).
fn pod_annotations() -> String {
    format!(
        "{HEADER}# Per workload instead of mesh-wide: the same settings as sidecar annotations on the pod\n\
# template. A strategic-merge patch: `kubectl -n test patch deployment podinfo --patch-file\n\
# istio/mesh/pod-annotations.yaml`, or list it under `patches:` in your kustomization (with a\n\
# `target:` for other workloads). Changing the pod template restarts the pods, and the new\n\
# sidecars start with these stats tags.\n\
apiVersion: apps/v1\n\
kind: Deployment\n\
metadata:\n\
\x20 name: podinfo\n\
spec:\n\
\x20 template:\n\
\x20   metadata:\n\
\x20     annotations:\n\
\x20       sidecar.istio.io/extraStatTags: \"{tags}\"\n\
\x20       sidecar.istio.io/statsInclusionPrefixes: \"{INCLUSION_PREFIX}\"\n",
        tags = labels::all().collect::<Vec<_>>().join(","),
    )
}

fn generated() -> Vec<(PathBuf, String)> {
    let mesh = paths::root().join("istio/mesh");
    vec![
        (
            mesh.join("IstioOperator-mixerless-mesh-config.yaml"),
            istio_operator(),
        ),
        (mesh.join("values-istiod.yaml"), helm_values()),
        (mesh.join("pod-annotations.yaml"), pod_annotations()),
    ]
}

fn bless() -> bool {
    std::env::var_os("MIXERLESS_BLESS").is_some_and(|v| v != "0")
}

/// Demonstrates that the generated mesh files are exactly what the label list renders to (or
/// rewrites them under MIXERLESS_BLESS=1).
#[test]
fn mesh_config_files_match_the_label_list() {
    let mut stale = Vec::new();
    for (path, want) in generated() {
        if bless() {
            std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).unwrap();
            std::fs::write(&path, &want).unwrap();
            continue;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have != want {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "generated files differ from the filter's label list: {stale:?}; run \
         MIXERLESS_BLESS=1 cargo test -p mixerless-e2e --test manifests generated::"
    );
}

fn parse(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn yaml(path: &Path) -> serde_yaml::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn strings(v: &serde_yaml::Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Demonstrates that the rendered mesh config and annotations (what the files hold, by the test
/// above) name all 25 labels in Istio's order, then `istio_build`'s `component` and `tag`, and
/// include the filter's metrics, read back as YAML.
#[test]
fn mesh_config_lists_every_label_and_includes_our_metrics() {
    let want: Vec<String> = labels::all().map(str::to_owned).collect();
    assert_eq!(want.len(), 27);
    assert_eq!(want[..25], NAMES);
    assert_eq!(want[25..], ["component", "tag"]);
    let op = parse(&istio_operator());
    let dc = &op["spec"]["meshConfig"]["defaultConfig"];
    assert_eq!(strings(&dc["extraStatTags"]), want);
    assert_eq!(
        strings(&dc["proxyStatsMatcher"]["inclusionPrefixes"]),
        [INCLUSION_PREFIX]
    );
    let values = parse(&helm_values());
    assert_eq!(&values["meshConfig"]["defaultConfig"], dc);
    let patch = parse(&pod_annotations());
    let ann = &patch["spec"]["template"]["metadata"]["annotations"];
    let tags: Vec<String> = ann["sidecar.istio.io/extraStatTags"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(str::to_owned)
        .collect();
    assert_eq!(tags, want);
    assert_eq!(
        ann["sidecar.istio.io/statsInclusionPrefixes"].as_str(),
        Some(INCLUSION_PREFIX)
    );
}

/// Demonstrates that `istio/envoy/stats_tags.yaml` has exactly one regex per label of the
/// filter (`istio_build`'s two included), in the same order, each in Istio's `(name=\.=(value);\.;)` form, so no label stays
/// encoded in a stat name.
#[test]
fn stats_tags_match_the_label_list() {
    let tags = yaml(&paths::root().join("istio/envoy/stats_tags.yaml"));
    let tags = tags.as_sequence().expect("stats_tags.yaml is a list");
    let names: Vec<&str> = tags
        .iter()
        .map(|t| t["tag_name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, labels::all().collect::<Vec<_>>());
    for t in tags {
        let name = t["tag_name"].as_str().unwrap_or_default();
        // response_code is never empty (0 when no response), as in Istio's own regex.
        let value = if name == "response_code" {
            ".+?"
        } else {
            ".*?"
        };
        assert_eq!(
            t["regex"].as_str(),
            Some(format!("({name}=\\.=({value});\\.;)").as_str()),
            "{name}"
        );
    }
}
