//! `--kube` against a fake API server that speaks the watch protocol (`tests/src/kube_api.rs`):
//! the real adapter process follows pod churn and HPA edits through its watches, with its
//! scrape set (read from `/status`) exact after every step, and survives a watch cut mid-line
//! and a `410 Gone` after compaction.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mixerless_e2e::kube_api::{Kind, KubeApi};
use mixerless_harness::{paths, process};
use serde_json::{json, Value};

/// How long a change may take to show on `/status`: a watch delivers it within a second; the
/// rest is slack for a loaded 2-core machine (a re-list every 10 s would miss it only by luck,
/// so the churn steps also check that no list happened in between).
const SETTLE: Duration = Duration::from_secs(8);

/// The adapter process, killed when dropped.
struct Adapter {
    child: Child,
    log: PathBuf,
    base: String,
    client: reqwest::blocking::Client,
}

impl Adapter {
    fn start(dir: &Path, api: &KubeApi, flags: &[&str]) -> anyhow::Result<Self> {
        let kubeconfig = dir.join("kubeconfig");
        api.write_kubeconfig(&kubeconfig)?;
        let port = paths::free_port();
        let log = dir.join("adapter.log");
        let out = std::fs::File::create(&log)?;
        // Sidecar metrics on a port nothing listens on: the targets exist (and are scraped,
        // failing at once) without traffic leaving 127.0.0.1.
        let metrics_port = paths::free_port().to_string();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec![
            "serve",
            "--listen",
            &listen,
            "--kube",
            "--kube-metrics-port",
            &metrics_port,
            "--scrape-interval",
            "5s",
        ];
        args.extend_from_slice(flags);
        let child = process::guarded(process::binary("mixerless-adapter")?)
            .args(&args)
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "info")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("spawn mixerless-adapter")?;
        let client = reqwest::blocking::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            child,
            log,
            base: format!("https://{listen}"),
            client,
        })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn status(&self) -> anyhow::Result<Value> {
        Ok(self
            .client
            .get(format!("{}/status", self.base))
            .send()?
            .error_for_status()?
            .json()?)
    }

    /// `namespace/pod` of every scrape target.
    fn scrape_set(&self) -> anyhow::Result<BTreeSet<String>> {
        let status = self.status()?;
        let targets = status["targets"].as_array().context("no targets")?;
        Ok(targets
            .iter()
            .map(|t| {
                format!(
                    "{}/{}",
                    t["labels"]["namespace"].as_str().unwrap_or("?"),
                    t["labels"]["pod"].as_str().unwrap_or("?")
                )
            })
            .collect())
    }

    /// Waits until `read` returns `want`, failing with the last value and the log.
    fn until<T: PartialEq + std::fmt::Debug>(
        &mut self,
        what: &str,
        want: &T,
        read: impl Fn(&Self) -> anyhow::Result<T>,
    ) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let mut last = None;
        while start.elapsed() < SETTLE {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("adapter exited with {status}:\n{}", self.log());
            }
            match read(self) {
                Ok(v) if &v == want => return Ok(start.elapsed()),
                Ok(v) => last = Some(format!("{v:?}")),
                Err(e) => last = Some(e.to_string()),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        anyhow::bail!(
            "{what}: not reached in {SETTLE:?}\nwant {want:?}\nlast {}\nlog:\n{}",
            last.unwrap_or_default(),
            self.log()
        )
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pod(ns: &str, name: &str, app: &str, ready: bool) -> Value {
    json!({
        "metadata": {"name": name, "namespace": ns, "labels": {"app": app},
            "annotations": {"sidecar.istio.io/status": "{\"containers\":[\"istio-proxy\"]}"}},
        "spec": {"containers": [{"name": "app", "image": "app"}, {"name": "istio-proxy", "image": "proxyv2"}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    })
}

fn names(ns: &str, range: std::ops::Range<usize>) -> BTreeSet<String> {
    range.map(|i| format!("{ns}/p{i:03}")).collect()
}

/// Lists (not watches) the adapter has made so far.
fn lists(api: &KubeApi) -> usize {
    api.requests()
        .iter()
        .filter(|r| r.starts_with("GET ") && !r.contains("watch="))
        .count()
}

/// Demonstrates that the scrape set follows pod churn exactly through watches: 100 pods
/// created, 50 deleted, 20 turned unready, each step without a new list; that the namespace
/// and label selector narrow the watch on the server; and that a watch cut mid-line is resumed
/// from its resourceVersion (no list) while a `410 Gone` after compaction leads to one list,
/// with the set exact after both.
#[test]
fn scrape_set_follows_pod_churn_and_survives_watch_faults() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let api = KubeApi::start()?;
    // A pod the selector leaves out and one in a namespace not watched: never targets.
    api.put(Kind::Pod, pod("test", "other", "other", true));
    api.put(Kind::Pod, pod("elsewhere", "p000", "podinfo", true));
    let mut a = Adapter::start(
        dir.path(),
        &api,
        &[
            "--kube-namespace",
            "test,prod",
            "--kube-pod-selector",
            "app=podinfo",
        ],
    )?;
    a.until("no pods yet", &BTreeSet::new(), Adapter::scrape_set)?;
    let listed = lists(&api);

    for i in 0..100 {
        let ns = if i % 4 == 0 { "prod" } else { "test" };
        api.put(Kind::Pod, pod(ns, &format!("p{i:03}"), "podinfo", true));
    }
    let mut want: BTreeSet<String> = (0..100)
        .map(|i| format!("{}/p{i:03}", if i % 4 == 0 { "prod" } else { "test" }))
        .collect();
    a.until("100 pods created", &want, Adapter::scrape_set)?;

    for i in 50..100 {
        let ns = if i % 4 == 0 { "prod" } else { "test" };
        assert!(api.delete(Kind::Pod, ns, &format!("p{i:03}")));
        want.remove(&format!("{ns}/p{i:03}"));
    }
    a.until("50 pods deleted", &want, Adapter::scrape_set)?;

    for i in 0..20 {
        let ns = if i % 4 == 0 { "prod" } else { "test" };
        api.put(Kind::Pod, pod(ns, &format!("p{i:03}"), "podinfo", false));
        want.remove(&format!("{ns}/p{i:03}"));
    }
    a.until("20 pods unready", &want, Adapter::scrape_set)?;
    assert_eq!(want.len(), 30);
    assert_eq!(
        lists(&api),
        listed,
        "churn arrived by watch, without a list"
    );

    // A relabelled pod leaves the selector: the watch sees it DELETED.
    api.put(Kind::Pod, pod("test", "p021", "retired", true));
    want.remove("test/p021");
    a.until(
        "a pod relabelled out of the selector",
        &want,
        Adapter::scrape_set,
    )?;

    // Cut mid-line: resumed from the last resourceVersion, without a list.
    api.cut();
    api.put(Kind::Pod, pod("test", "p200", "podinfo", true));
    api.resume();
    want.insert("test/p200".into());
    a.until("a pod created after a cut", &want, Adapter::scrape_set)?;
    assert_eq!(lists(&api), listed, "a cut watch is resumed, not re-listed");

    // A cut, changes (a delete, a create), then compaction: the resume gets 410 Gone and the
    // watcher lists again; the changes it missed are in the set after the list.
    api.cut();
    assert!(api.delete(Kind::Pod, "test", "p022"));
    want.remove("test/p022");
    api.put(Kind::Pod, pod("prod", "p300", "podinfo", true));
    want.insert("prod/p300".into());
    api.compact();
    api.resume();
    a.until(
        "the set after 410 Gone and a list",
        &want,
        Adapter::scrape_set,
    )?;
    assert!(lists(&api) > listed, "410 Gone leads to a list");

    let requests = api.requests();
    let watches: Vec<&String> = requests.iter().filter(|r| r.contains("watch=")).collect();
    assert!(!watches.is_empty());
    for w in &watches {
        assert!(
            w.contains("allowWatchBookmarks=true") && w.contains("resourceVersion="),
            "{w}"
        );
    }
    let pod_requests: Vec<&String> = requests.iter().filter(|r| r.contains("/pods")).collect();
    for r in &pod_requests {
        assert!(
            (r.contains("/namespaces/test/pods") || r.contains("/namespaces/prod/pods"))
                && r.contains("labelSelector=app%3Dpodinfo"),
            "pods are watched per namespace with the selector: {r}"
        );
    }
    assert!(
        !names("elsewhere", 0..1).iter().any(|n| want.contains(n)),
        "unwatched namespace"
    );
    Ok(())
}

fn hpa(name: &str, query: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "test", "annotations": {
            format!("metric-config.external.prometheus-query.prometheus/{name}-rps"): query}},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1, "maxReplicas": 5,
            "metrics": [{"type": "External", "external": {
                "metric": {"name": "prometheus-query", "selector": {"matchLabels": {"query-name": format!("{name}-rps")}}},
                "target": {"type": "AverageValue", "averageValue": "10"}}}]},
        "status": {"currentReplicas": 1, "desiredReplicas": 1}
    })
}

/// `name: query` of every HPA metric on `/status`.
fn queries(a: &Adapter) -> anyhow::Result<BTreeSet<String>> {
    let status = a.status()?;
    let metrics = status["metrics"].as_array().context("no metrics")?;
    Ok(metrics
        .iter()
        .map(|m| {
            format!(
                "{}: {}",
                m["hpa"].as_str().unwrap_or("?"),
                m["query"].as_str().unwrap_or("?")
            )
        })
        .collect())
}

/// Demonstrates that HPAs added, edited and removed reach the query table through the watch,
/// that a status-only update (the HPA controller's every sync) changes nothing, and that an
/// edit after a `410 Gone` is picked up by the list that follows.
#[test]
fn query_table_follows_hpa_edits() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let api = KubeApi::start()?;
    let q1 = r#"sum(rate(istio_requests_total{destination_workload="a"}[1m]))"#;
    let q2 = r#"sum(rate(istio_requests_total{destination_workload="a",response_code="200"}[1m]))"#;
    let q3 = r#"sum(rate(istio_requests_total{destination_workload="b"}[1m]))"#;
    api.put(Kind::Hpa, hpa("a", q1));
    // An HPA whose query does not parse: a Warning Event is posted on it.
    api.put(Kind::Hpa, hpa("broken", "sum(rate(x[1m])"));
    let mut a = Adapter::start(dir.path(), &api, &[])?;
    let one = |q: &str| format!("a: {q}");
    a.until("the listed HPA", &BTreeSet::from([one(q1)]), queries)?;
    assert!(api.delete(Kind::Hpa, "test", "broken"));

    api.put(Kind::Hpa, hpa("b", q3));
    let mut want = BTreeSet::from([one(q1), format!("b: {q3}")]);
    a.until("an HPA added", &want, queries)?;

    api.put(Kind::Hpa, hpa("a", q2));
    want.remove(&one(q1));
    want.insert(one(q2));
    a.until("an HPA edited", &want, queries)?;

    assert!(api.delete(Kind::Hpa, "test", "b"));
    want.remove(&format!("b: {q3}"));
    a.until("an HPA removed", &want, queries)?;

    api.cut();
    api.put(Kind::Hpa, hpa("a", q1));
    api.compact();
    api.resume();
    let want = BTreeSet::from([one(q1)]);
    a.until("an HPA edited across 410 Gone", &want, queries)?;
    let hpa_lists = api
        .requests()
        .iter()
        .filter(|r| r.contains("horizontalpodautoscalers") && !r.contains("watch="))
        .count();
    assert_eq!(hpa_lists, 2, "one list at start, one after 410 Gone");
    assert!(
        api.requests()
            .iter()
            .any(|r| r.starts_with("POST /api/v1/namespaces/test/events")),
        "the broken HPA's Event"
    );
    assert!(
        !a.log().contains("--kube-resync"),
        "no deprecation warning without the flag"
    );
    Ok(())
}

/// Demonstrates that `--kube-resync` is still accepted, with a warning that it is ignored.
#[test]
fn kube_resync_is_accepted_with_a_warning() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let api = KubeApi::start()?;
    api.put(Kind::Pod, pod("test", "p000", "podinfo", true));
    let mut a = Adapter::start(dir.path(), &api, &["--kube-resync", "30s"])?;
    a.until("the listed pod", &names("test", 0..1), Adapter::scrape_set)?;
    let log = a.log();
    assert!(
        log.contains("--kube-resync is deprecated and ignored"),
        "{log}"
    );
    Ok(())
}

/// `(apiGroup, resource, verb)` of an API request, as RBAC authorizes it.
fn rbac_attributes(request: &str) -> Option<(String, String, String)> {
    let (method, target) = request.split_once(' ')?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let resource = match rest {
        ["namespaces", _, resource] | [resource] => *resource,
        _ => return None,
    };
    let verb = match method {
        "GET"
            if query
                .split('&')
                .any(|p| p == "watch=true" || p == "watch=1") =>
        {
            "watch"
        }
        "GET" => "list",
        "POST" => "create",
        other => other,
    };
    Some((group.to_owned(), resource.to_owned(), verb.to_owned()))
}

/// Demonstrates that the adapter's ClusterRole (istio/) grants exactly what `--kube` does
/// against the API server (pods and HPAs listed and watched, Events created on a broken HPA),
/// nothing missing and nothing more.
#[test]
fn cluster_role_grants_exactly_what_the_watches_use() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let api = KubeApi::start()?;
    api.put(Kind::Pod, pod("test", "p000", "podinfo", true));
    api.put(Kind::Hpa, hpa("broken", "sum(rate(x[1m])"));
    let mut a = Adapter::start(dir.path(), &api, &[])?;
    a.until("the listed pod", &names("test", 0..1), Adapter::scrape_set)?;
    let posted = |api: &KubeApi| api.requests().iter().any(|r| r.starts_with("POST "));
    let start = Instant::now();
    while !posted(&api) && start.elapsed() < SETTLE {
        std::thread::sleep(Duration::from_millis(100));
    }
    let used: BTreeSet<(String, String, String)> = api
        .requests()
        .iter()
        .map(|r| rbac_attributes(r).with_context(|| format!("unexpected request {r}")))
        .collect::<anyhow::Result<_>>()?;

    let role: Value = serde_yaml::from_str(&std::fs::read_to_string(
        paths::root().join("istio/ClusterRole-mixerless-adapter.yaml"),
    )?)?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut granted = BTreeSet::new();
    for rule in role["rules"].as_array().context("no rules")? {
        for g in strings(&rule["apiGroups"]) {
            for r in strings(&rule["resources"]) {
                for v in strings(&rule["verbs"]) {
                    granted.insert((g.clone(), r.clone(), v));
                }
            }
        }
    }
    let t = |g: &str, r: &str, v: &str| (g.to_owned(), r.to_owned(), v.to_owned());
    assert_eq!(
        used,
        BTreeSet::from([
            t("", "pods", "list"),
            t("", "pods", "watch"),
            t("autoscaling", "horizontalpodautoscalers", "list"),
            t("autoscaling", "horizontalpodautoscalers", "watch"),
            t("", "events", "create"),
        ]),
        "the requests made"
    );
    assert_eq!(granted, used, "the ClusterRole grants exactly what is used");
    Ok(())
}
