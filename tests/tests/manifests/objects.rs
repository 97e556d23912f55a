//! The shipped manifests in `istio/`: kustomize builds the install and its variants, every
//! Kubernetes object validates against the Kubernetes OpenAPI schemas (kubernetes-validate,
//! offline, Kubernetes 1.26 and 1.37), every Istio object against the CRD schemas of
//! `../shared/conformance/istio-crds/crd-all.gen.yaml` (scripts/validate-istio-crds.py: JSON
//! Schema + CEL rules), the objects agree with each other and with the adapter's flags, and the
//! example HPAs follow kube-metrics-adapter's grammar with queries that parse.

use std::collections::BTreeSet;

use super::common::{
    api_group, docs, file_objects, istio, kubernetes_validate, kustomize, kustomize_with, name,
    validate_istio, Objects,
};
use mixerless_harness::paths;
use serde_yaml::Value;

const KUBERNETES_VERSIONS: [&str; 2] = ["1.26.0", "1.37.0"];

fn inventory(objs: &Objects) -> BTreeSet<String> {
    objs.iter()
        .map(|o| format!("{}/{}", o["kind"].as_str().unwrap_or("?"), name(o)))
        .collect()
}

fn kinds(objs: &Objects) -> BTreeSet<String> {
    objs.iter()
        .filter_map(|o| o["kind"].as_str().map(str::to_owned))
        .collect()
}

/// Demonstrates that `kubectl kustomize istio/` builds exactly the documented install, and that
/// each variant component swaps what it says it swaps.
#[test]
fn kustomize_builds_the_install_and_its_variants() {
    let base = kustomize(&istio());
    let want: BTreeSet<String> = [
        "APIService/v1beta1.external.metrics.k8s.io",
        "Certificate/mixerless-adapter-serving",
        "ClusterRole/mixerless-adapter",
        "ClusterRoleBinding/mixerless-adapter",
        "ClusterRoleBinding/mixerless-adapter:system:auth-delegator",
        "Deployment/mixerless-adapter",
        "Issuer/mixerless-selfsigned",
        "PodDisruptionBudget/mixerless-adapter",
        "RoleBinding/mixerless-adapter-auth-reader",
        "Service/mixerless-adapter",
        "ServiceAccount/mixerless-adapter",
        "Telemetry/mixerless-native-stats-off",
        "WasmPlugin/mixerless-stats-inbound",
        "WasmPlugin/mixerless-stats-outbound",
        "WasmPlugin/mixerless-stats-tcp",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(inventory(&base), want);

    let ef = kustomize_with(&["components/envoyfilter"]);
    assert!(!kinds(&ef).contains("WasmPlugin"), "{:?}", inventory(&ef));
    assert!(inventory(&ef).contains("EnvoyFilter/mixerless-stats"));
    // One EnvoyFilter for the three WasmPlugins.
    assert_eq!(ef.len(), base.len() - 2);

    let no_cm = kustomize_with(&["components/without-cert-manager"]);
    assert!(!kinds(&no_cm).contains("Certificate") && !kinds(&no_cm).contains("Issuer"));
    let api = no_cm.iter().find(|o| o["kind"] == "APIService").unwrap();
    assert!(api["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].is_null());
    assert_eq!(api["spec"]["insecureSkipTLSVerify"], Value::Bool(false));
}

/// Every object any variant installs, plus the example HPAs.
fn all_objects() -> Objects {
    let mut objs = kustomize(&istio());
    objs.extend(kustomize_with(&[
        "components/envoyfilter",
        "components/without-cert-manager",
    ]));
    objs.extend(file_objects(&istio(), "HorizontalPodAutoscaler-"));
    objs.extend(file_objects(
        &istio().join("hpa-query-form"),
        "HorizontalPodAutoscaler-",
    ));
    objs
}

fn is_istio(o: &Value) -> bool {
    api_group(o).ends_with(".istio.io")
}

fn is_cert_manager(o: &Value) -> bool {
    api_group(o) == "cert-manager.io"
}

/// Demonstrates that every Kubernetes object (built install, variants, example HPAs) passes
/// kubernetes-validate's strict check against the OpenAPI schemas of Kubernetes 1.26 and 1.37.
#[test]
fn kubernetes_objects_validate_against_the_openapi_schemas() {
    let objs: Objects = all_objects()
        .into_iter()
        .filter(|o| !is_istio(o) && !is_cert_manager(o))
        .collect();
    assert!(objs.len() >= 17, "{}", objs.len());
    for version in KUBERNETES_VERSIONS {
        let (ok, log) = kubernetes_validate(&objs, version);
        assert!(ok, "kubernetes-validate {version}:\n{log}");
        let passed = log.matches("passed for resource").count();
        assert_eq!(
            passed,
            objs.len(),
            "every object is checked, none skipped:\n{log}"
        );
    }
}

/// Demonstrates that every Istio object (the three WasmPlugins, the Telemetry, the EnvoyFilter)
/// validates against its CRD's openAPIV3Schema, CEL rules included.
#[test]
fn istio_objects_validate_against_the_crd_schemas() {
    let objs: Objects = all_objects().into_iter().filter(is_istio).collect();
    let kinds = kinds(&objs);
    for k in ["WasmPlugin", "Telemetry", "EnvoyFilter"] {
        assert!(kinds.contains(k), "{kinds:?}");
    }
    let Some((ok, log)) = validate_istio(&objs) else {
        return;
    };
    assert!(ok, "{log}");
    assert_eq!(
        log.matches("\nok ").count() + usize::from(log.starts_with("ok ")),
        objs.len(),
        "{log}"
    );
    assert!(log.contains("CEL rules evaluated"), "{log}");
}

/// Demonstrates that the validators can fail: each deliberately broken copy of a shipped object
/// is rejected with a message naming the problem.
#[test]
fn broken_objects_are_caught() {
    let hpa = &file_objects(&istio(), "HorizontalPodAutoscaler-podinfo-total")[0];
    let mut bad = hpa.clone();
    bad["spec"]["maxReplicas"] = Value::from("five");
    let (ok, log) = kubernetes_validate(&[bad], "1.37.0");
    assert!(!ok && log.contains("maxReplicas"), "{log}");

    let base = kustomize(&istio());
    let deployment = base.iter().find(|o| o["kind"] == "Deployment").unwrap();
    let mut bad = deployment.clone();
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = Value::from("typo");
    let (ok, log) = kubernetes_validate(&[bad], "1.37.0");
    assert!(!ok && log.contains("readinessProbes"), "{log}");

    let wasm = base.iter().find(|o| o["kind"] == "WasmPlugin").unwrap();
    let cases: [(&str, &str, Value, &str); 4] = [
        ("phase", "spec", Value::from("STAT"), "is not one of"),
        (
            "url",
            "spec",
            Value::from("ftp://example.com/f.wasm"),
            "url must have schema",
        ),
        (
            "sha256",
            "spec",
            Value::from("not-a-digest"),
            "does not match",
        ),
        ("pluginConfg", "spec", Value::from("x"), "pluginConfg"),
    ];
    for (field, parent, value, message) in cases {
        let mut bad = wasm.clone();
        bad[parent][field] = value;
        let Some((ok, log)) = validate_istio(&[bad]) else {
            return;
        };
        assert!(!ok && log.contains(message), "{field}: {log}");
    }
    // A CEL rule (x-kubernetes-validations), not expressible in JSON Schema.
    let mut bad = wasm.clone();
    bad["spec"]["selector"] = serde_yaml::from_str("{matchLabels: {app: podinfo}}").unwrap();
    bad["spec"]["targetRefs"] =
        serde_yaml::from_str("[{group: '', kind: Service, name: podinfo}]").unwrap();
    let Some((ok, log)) = validate_istio(&[bad]) else {
        return;
    };
    assert!(
        !ok && log.contains("only one of targetRefs or selector can be set"),
        "{log}"
    );
    let telemetry = base.iter().find(|o| o["kind"] == "Telemetry").unwrap();
    let mut bad = telemetry.clone();
    bad["spec"]["metrics"][0]["overrides"][0]["match"]["metric"] = Value::from("ALL");
    let Some((ok, log)) = validate_istio(&[bad]) else {
        return;
    };
    assert!(!ok && log.contains("ALL_METRICS"), "{log}");
    // A string that YAML 1.1 would read as a boolean stays a string on its way to the validator.
    let mut bad = telemetry.clone();
    bad["spec"]["metrics"][0]["overrides"][0]["disabled"] = Value::from("yes");
    let Some((ok, log)) = validate_istio(&[bad]) else {
        return;
    };
    assert!(!ok && log.contains("is not of type 'boolean'"), "{log}");
}

fn find<'a>(objs: &'a Objects, kind: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

/// Demonstrates that the adapter's objects refer to each other correctly: Service → Deployment
/// pods, APIService → Service, bindings → ServiceAccount and the right roles, serving
/// certificate → Secret volume and CA injection.
#[test]
fn adapter_objects_refer_to_each_other() {
    let objs = kustomize(&istio());
    let dep = find(&objs, "Deployment");
    let pod = &dep["spec"]["template"];
    let ns = dep["metadata"]["namespace"].as_str().unwrap();
    assert_eq!(
        ns, "kube-system",
        "the requestheader CA ConfigMap is mounted from kube-system"
    );

    let svc = find(&objs, "Service");
    for (k, v) in svc["spec"]["selector"].as_mapping().unwrap() {
        assert_eq!(&pod["metadata"]["labels"][k], v, "Service selector {k:?}");
    }
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "https");
    assert_eq!(pod["spec"]["containers"][0]["ports"][0]["name"], "https");

    let api = find(&objs, "APIService");
    assert_eq!(api["spec"]["group"], "external.metrics.k8s.io");
    assert_eq!(api["spec"]["version"], "v1beta1");
    assert_eq!(api["spec"]["service"]["name"], svc["metadata"]["name"]);
    assert_eq!(
        api["spec"]["service"]["namespace"],
        svc["metadata"]["namespace"]
    );
    assert_eq!(
        api["spec"]["service"]["port"],
        svc["spec"]["ports"][0]["port"]
    );
    assert_eq!(api["spec"]["insecureSkipTLSVerify"], Value::Bool(false));

    let sa = find(&objs, "ServiceAccount");
    assert_eq!(pod["spec"]["serviceAccountName"], sa["metadata"]["name"]);
    let mut roles = BTreeSet::new();
    for b in objs.iter().filter(|o| {
        matches!(
            o["kind"].as_str(),
            Some("RoleBinding" | "ClusterRoleBinding")
        )
    }) {
        assert_eq!(b["subjects"][0]["kind"], "ServiceAccount");
        assert_eq!(b["subjects"][0]["name"], sa["metadata"]["name"]);
        assert_eq!(b["subjects"][0]["namespace"], sa["metadata"]["namespace"]);
        roles.insert(format!(
            "{}/{}@{}",
            b["roleRef"]["kind"].as_str().unwrap(),
            b["roleRef"]["name"].as_str().unwrap(),
            b["metadata"]["namespace"].as_str().unwrap_or("")
        ));
    }
    assert_eq!(
        roles,
        BTreeSet::from([
            "ClusterRole/mixerless-adapter@".to_owned(),
            "ClusterRole/system:auth-delegator@".to_owned(),
            "Role/extension-apiserver-authentication-reader@kube-system".to_owned(),
        ])
    );
    let rules = find(&objs, "ClusterRole")["rules"].as_sequence().unwrap();
    let grants = |group: &str, resource: &str, verb: &str| {
        rules.iter().any(|r| {
            let has = |k: &str, v: &str| r[k].as_sequence().unwrap().iter().any(|x| x == v);
            has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
        })
    };
    for verb in ["list", "watch"] {
        assert!(grants("autoscaling", "horizontalpodautoscalers", verb));
        assert!(grants("", "pods", verb));
    }
    assert!(grants("", "events", "create"));

    let cert = find(&objs, "Certificate");
    let secret = pod["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "serving-cert")
        .unwrap();
    assert_eq!(secret["secret"]["secretName"], cert["spec"]["secretName"]);
    let host = format!("{}.{}.svc", name(svc), ns);
    assert!(cert["spec"]["dnsNames"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|d| d == host.as_str()));
    assert_eq!(
        cert["spec"]["issuerRef"]["name"],
        find(&objs, "Issuer")["metadata"]["name"]
    );
    assert_eq!(
        api["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].as_str(),
        Some(format!("{ns}/{}", name(cert)).as_str())
    );
    let pdb = find(&objs, "PodDisruptionBudget");
    for (k, v) in pdb["spec"]["selector"]["matchLabels"].as_mapping().unwrap() {
        assert_eq!(&pod["metadata"]["labels"][k], v);
    }
}

/// Demonstrates that the Deployment runs the adapter as the issue asks (2 replicas, probes on
/// /healthz and /readyz over HTTPS, resources, non-root, read-only root filesystem) and that
/// every flag in its args is one `mixerless-adapter serve --help` lists.
#[test]
fn adapter_deployment_is_hardened_and_uses_real_flags() {
    let objs = kustomize(&istio());
    let dep = find(&objs, "Deployment");
    assert_eq!(dep["spec"]["replicas"], 2);
    let c = &dep["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["scheme"], "HTTPS");
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert!(dep["spec"]["template"]["spec"]["securityContext"]["runAsUser"].as_u64() > Some(0));
    assert!(c["image"]
        .as_str()
        .unwrap()
        .starts_with("registry.example.com/mixerless/adapter:"));

    let args: Vec<&str> = c["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "serve");
    let bin = paths::root().join("target/debug/mixerless-adapter");
    assert!(
        bin.exists(),
        "no {}: run `cargo build -p mixerless-adapter`",
        bin.display()
    );
    let out = std::process::Command::new(&bin)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for arg in &args[1..] {
        let flag = arg.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "{flag} is not a flag of `mixerless-adapter serve`:\n{help}"
        );
    }
    for flag in [
        "--kube",
        "--tls-cert-file",
        "--requestheader-client-ca-file",
        "--requestheader-allowed-names",
    ] {
        assert!(
            args.iter().any(|a| a.split('=').next() == Some(flag)),
            "{flag}"
        );
    }
}

/// Demonstrates that every `<Kind>-<purpose>.yaml` file in istio/ holds exactly one object of
/// that kind carrying the shared `app.kubernetes.io` labels.
#[test]
fn one_object_per_file_named_after_its_kind_with_shared_labels() {
    let mut files = Vec::new();
    super::common::walk(&istio(), &mut files);
    let mut checked = 0;
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if !file.starts_with(|c: char| c.is_ascii_uppercase()) || !file.ends_with(".yaml") {
            continue;
        }
        let objs = docs(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(objs.len(), 1, "{}: one object per file", path.display());
        let o = &objs[0];
        let kind = o["kind"].as_str().unwrap();
        assert!(
            file.starts_with(&format!("{kind}-")) && file.ends_with(".yaml"),
            "{file}"
        );
        let labels = &o["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/part-of"], "mixerless", "{file}");
        assert_eq!(
            labels["app.kubernetes.io/version"],
            env!("CARGO_PKG_VERSION"),
            "{file}"
        );
        assert!(labels["app.kubernetes.io/name"].is_string(), "{file}");
        assert!(labels["app.kubernetes.io/component"].is_string(), "{file}");
        checked += 1;
    }
    assert!(checked >= 21, "{checked}");
}

/// Demonstrates that both WasmPlugins and the EnvoyFilter load the same module with the same
/// per-mode configuration, and that the filter's own parser accepts each configuration.
#[test]
fn filter_configurations_agree_and_parse() {
    let base = kustomize(&istio());
    let ef = kustomize_with(&["components/envoyfilter"]);
    let ef = find(&ef, "EnvoyFilter");
    let patches = ef["spec"]["configPatches"].as_sequence().unwrap();
    let ext = |name: &str| -> &Value {
        patches
            .iter()
            .find(|p| p["applyTo"] == "EXTENSION_CONFIG" && p["patch"]["value"]["name"] == name)
            .map(|p| &p["patch"]["value"]["typed_config"]["config"])
            .unwrap_or_else(|| panic!("no extension config {name}"))
    };
    for (plugin, mode, reporter) in [
        ("mixerless-stats-inbound", "SERVER", "destination"),
        ("mixerless-stats-outbound", "CLIENT", "source"),
    ] {
        let wp = base.iter().find(|o| name(o) == plugin).unwrap();
        assert_eq!(wp["spec"]["phase"], "STATS");
        assert_eq!(wp["spec"]["match"][0]["mode"], mode);
        let json = serde_json::to_string(&wp["spec"]["pluginConfig"]).unwrap();
        let parsed = mixerless_filter::config::PluginConfig::parse(json.as_bytes())
            .unwrap_or_else(|e| panic!("{plugin}: {e}"));
        assert_eq!(
            format!("{:?}", parsed.reporter).to_lowercase(),
            format!("some({reporter})")
        );

        let config = ext(plugin);
        let text = config["configuration"]["value"].as_str().unwrap();
        let from_ef: serde_json::Value = serde_json::from_str(text).unwrap();
        let from_wp: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            from_ef, from_wp,
            "{plugin}: EnvoyFilter and WasmPlugin configurations"
        );
        let remote = &config["vm_config"]["code"]["remote"];
        assert_eq!(remote["http_uri"]["uri"], wp["spec"]["url"]);
        assert_eq!(remote["sha256"], wp["spec"]["sha256"]);
        assert_eq!(config["root_id"], wp["spec"]["pluginName"]);
    }
    // The TCP plugin: a network filter on every listener, its configuration saying so too.
    let tcp = base
        .iter()
        .find(|o| name(o) == "mixerless-stats-tcp")
        .unwrap();
    assert_eq!(tcp["spec"]["type"], "NETWORK");
    assert_eq!(tcp["spec"]["phase"], "STATS");
    assert!(tcp["spec"]["match"].is_null());
    let json = serde_json::to_string(&tcp["spec"]["pluginConfig"]).unwrap();
    let parsed = mixerless_filter::config::PluginConfig::parse(json.as_bytes()).unwrap();
    assert_eq!(
        parsed.filter_type,
        mixerless_filter::config::FilterType::Network
    );
    assert_eq!((parsed.reporter, parsed.tcp_reporting_ms), (None, 5000));
    let config = ext("mixerless-stats-tcp");
    let from_ef: serde_json::Value =
        serde_json::from_str(config["configuration"]["value"].as_str().unwrap()).unwrap();
    let from_wp: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        from_ef, from_wp,
        "TCP: EnvoyFilter and WasmPlugin configurations"
    );
    let remote = &config["vm_config"]["code"]["remote"];
    assert_eq!(remote["http_uri"]["uri"], tcp["spec"]["url"]);
    assert_eq!(remote["sha256"], tcp["spec"]["sha256"]);
    assert_eq!(config["root_id"], tcp["spec"]["pluginName"]);
    let network: BTreeSet<&str> = patches
        .iter()
        .filter(|p| p["applyTo"] == "NETWORK_FILTER")
        .map(|p| {
            assert_eq!(
                p["match"]["listener"]["filterChain"]["filter"]["name"],
                "envoy.filters.network.tcp_proxy"
            );
            assert_eq!(p["patch"]["operation"], "INSERT_BEFORE");
            assert_eq!(p["patch"]["value"]["name"], "mixerless-stats-tcp");
            p["match"]["context"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        network,
        BTreeSet::from(["GATEWAY", "SIDECAR_INBOUND", "SIDECAR_OUTBOUND"])
    );
    let contexts: BTreeSet<&str> = patches
        .iter()
        .filter(|p| p["applyTo"] == "HTTP_FILTER")
        .map(|p| p["match"]["context"].as_str().unwrap())
        .collect();
    assert_eq!(
        contexts,
        BTreeSet::from(["GATEWAY", "SIDECAR_INBOUND", "SIDECAR_OUTBOUND"])
    );
}

/// Demonstrates that the generated pod annotations apply as a strategic-merge patch to a
/// workload (as the guide says: kustomize `patches:` or `kubectl patch --patch-file`), and the
/// patched Deployment still validates.
#[test]
fn pod_annotations_patch_a_deployment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        istio().join("mesh/pod-annotations.yaml"),
        dir.path().join("pod-annotations.yaml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: podinfo, namespace: test}\n\
         spec:\n  selector: {matchLabels: {app: podinfo}}\n  template:\n    metadata:\n\
         \x20     labels: {app: podinfo}\n      annotations: {keep: me}\n    spec:\n\
         \x20     containers: [{name: podinfo, image: podinfo}]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources: [deployment.yaml]\npatches:\n  - path: pod-annotations.yaml\n    \
         target: {kind: Deployment, name: podinfo}\n",
    )
    .unwrap();
    let objs = kustomize(dir.path());
    let ann = &objs[0]["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(ann["keep"], "me");
    let tags = ann["sidecar.istio.io/extraStatTags"].as_str().unwrap();
    // The 25 standard labels and istio_build's component and tag.
    assert_eq!(
        tags.split(',').collect::<Vec<_>>(),
        mixerless_filter::labels::all().collect::<Vec<_>>()
    );
    assert_eq!(ann["sidecar.istio.io/statsInclusionPrefixes"], "wasmcustom");
    let (ok, log) = kubernetes_validate(&objs, "1.37.0");
    assert!(ok, "{log}");
}

/// Demonstrates that the Telemetry turns off every native Istio metric in both modes, so no
/// series is reported twice.
#[test]
fn telemetry_turns_native_stats_off() {
    let base = kustomize(&istio());
    let t = find(&base, "Telemetry");
    assert_eq!(t["metadata"]["namespace"], "istio-system");
    assert!(t["spec"]["selector"].is_null(), "mesh-wide");
    let o = &t["spec"]["metrics"][0]["overrides"][0];
    assert_eq!(o["match"]["metric"], "ALL_METRICS");
    assert_eq!(o["match"]["mode"], "CLIENT_AND_SERVER");
    assert_eq!(o["disabled"], true);
    assert_eq!(
        t["spec"]["metrics"][0]["providers"][0]["name"],
        "prometheus"
    );
}

/// Demonstrates that the certificate script (the no-cert-manager path) makes a serving
/// certificate that verifies against its CA for the adapter's Service name.
#[test]
fn serving_cert_script_makes_a_certificate_for_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(istio().join("certs/make-serving-cert.sh"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verify = |host: &str| {
        std::process::Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(dir.path().join("ca.crt"))
            .args(["-verify_hostname", host])
            .arg(dir.path().join("tls.crt"))
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(verify("mixerless-adapter.kube-system.svc"));
    assert!(!verify("other.kube-system.svc"), "the check can fail");
}
