//! Targets: `--target URL` and Prometheus `file_sd` files (JSON or YAML lists of
//! `{targets: [host:port], labels: {...}}`), with Prometheus' `job` and `instance` labels.
//! A group may set its targets' scrape protocols with the meta labels
//! `__scrape_protocols__` (comma-separated, in order of preference) and
//! `__fallback_scrape_protocol__`, Prometheus' `scrape_protocols` and `fallback_scrape_protocol`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::protocol::{self, Protocol};

/// One scrape target: where, the labels its series get, and how its format is negotiated.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    pub url: String,
    /// `job`, `instance` and the file_sd labels (sorted, no `__` labels).
    pub labels: Vec<(String, String)>,
    /// The protocols to ask for, in order (`None`: `--scrape-protocols`).
    pub protocols: Option<Vec<Protocol>>,
    /// How to read a response without a usable Content-Type (`None`:
    /// `--fallback-scrape-protocol`).
    pub fallback: Option<Protocol>,
}

/// Why a target or file is rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Not an http(s) URL with a host.
    #[error("target {0:?} is not an http:// or https:// URL with a host")]
    BadUrl(String),
    /// The file cannot be read or parsed.
    #[error("file_sd {path}: {message}")]
    File { path: String, message: String },
}

/// The `host:port` of a URL, as Prometheus' `instance` label.
fn instance(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let hostport = rest.split(['/', '?', '#']).next()?;
    (!hostport.is_empty()).then(|| hostport.to_owned())
}

/// A `--target URL`, with `job` = `default_job`.
pub fn from_url(url: &str, default_job: &str) -> Result<Target, Error> {
    let inst = instance(url).ok_or_else(|| Error::BadUrl(url.to_owned()))?;
    Ok(Target {
        url: url.to_owned(),
        labels: vec![
            ("instance".into(), inst),
            ("job".into(), default_job.into()),
        ],
        ..Target::default()
    })
}

#[derive(Deserialize)]
struct Group {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// The targets of one file_sd file. `__scheme__` (default http) and `__metrics_path__`
/// (default `/stats/prometheus`, Envoy's) build the URL; `job` defaults to `default_job`.
pub fn load(path: &Path, default_job: &str) -> Result<Vec<Target>, Error> {
    let err = |message: String| Error::File {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    // YAML is a superset of JSON, so one parser reads both.
    let groups: Vec<Group> = if text.trim().is_empty() {
        Vec::new()
    } else {
        serde_yaml::from_str(&text).map_err(|e| err(e.to_string()))?
    };
    let mut out = Vec::new();
    for g in groups {
        let scheme = g.labels.get("__scheme__").map_or("http", String::as_str);
        let path = g
            .labels
            .get("__metrics_path__")
            .map_or("/stats/prometheus", String::as_str);
        let protocols = g
            .labels
            .get("__scrape_protocols__")
            .map(|s| protocol::parse_list(s))
            .transpose()
            .map_err(|e| err(format!("__scrape_protocols__: {e}")))?;
        let fallback = g
            .labels
            .get("__fallback_scrape_protocol__")
            .map(|s| s.parse::<Protocol>())
            .transpose()
            .map_err(|e| err(format!("__fallback_scrape_protocol__: {e}")))?;
        for hostport in &g.targets {
            if hostport.is_empty() || hostport.contains('/') {
                return Err(err(format!("target {hostport:?} is not host:port")));
            }
            let mut labels: BTreeMap<String, String> = g
                .labels
                .iter()
                .filter(|(k, _)| !k.starts_with("__"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            labels
                .entry("job".into())
                .or_insert_with(|| default_job.into());
            labels
                .entry("instance".into())
                .or_insert_with(|| hostport.clone());
            out.push(Target {
                url: format!("{scheme}://{hostport}{path}"),
                labels: labels.into_iter().collect(),
                protocols: protocols.clone(),
                fallback,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demonstrates `instance`/`job` labels for a `--target` URL and rejection of a non-URL.
    #[test]
    fn target_urls() {
        let t = from_url("http://127.0.0.1:15090/stats/prometheus", "envoy-stats").unwrap();
        assert_eq!(
            t.labels,
            vec![
                ("instance".to_owned(), "127.0.0.1:15090".to_owned()),
                ("job".to_owned(), "envoy-stats".to_owned())
            ]
        );
        assert!(from_url("127.0.0.1:15090", "j").is_err());
        assert!(from_url("http:///x", "j").is_err());
    }

    /// Demonstrates a file_sd file: labels, `__metrics_path__`, `job` override, errors named.
    #[test]
    fn file_sd_groups() {
        let dir = std::env::temp_dir().join(format!("mixerless-filesd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("targets.json");
        std::fs::write(
            &f,
            r#"[{"targets":["10.0.0.1:15020","10.0.0.2:15020"],
                 "labels":{"namespace":"test","job":"pods","__metrics_path__":"/stats/prometheus"}},
                {"targets":["10.0.0.3:15090"]}]"#,
        )
        .unwrap();
        let ts = load(&f, "envoy-stats").unwrap();
        assert_eq!(ts.len(), 3);
        assert_eq!(ts[0].url, "http://10.0.0.1:15020/stats/prometheus");
        assert_eq!(
            ts[0].labels,
            vec![
                ("instance".to_owned(), "10.0.0.1:15020".to_owned()),
                ("job".to_owned(), "pods".to_owned()),
                ("namespace".to_owned(), "test".to_owned())
            ]
        );
        assert_eq!(
            ts[2].labels[1],
            ("job".to_owned(), "envoy-stats".to_owned())
        );
        std::fs::write(&f, "[{targets: [http://x/y]}]").unwrap();
        assert!(load(&f, "j")
            .unwrap_err()
            .to_string()
            .contains("is not host:port"));
        std::fs::write(&f, "{not: a list}").unwrap();
        assert!(load(&f, "j")
            .unwrap_err()
            .to_string()
            .starts_with("file_sd "));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Demonstrates per-group scrape protocols and fallback, and a bad name refusing the file.
    #[test]
    fn file_sd_protocols() {
        let dir = std::env::temp_dir().join(format!("mixerless-filesd-p-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("targets.yaml");
        std::fs::write(
            &f,
            "- targets: [a:1]\n  labels: {__scrape_protocols__: 'PrometheusText0.0.4,OpenMetricsText1.0.0', __fallback_scrape_protocol__: PrometheusText0.0.4}\n- targets: [b:1]\n",
        )
        .unwrap();
        let ts = load(&f, "j").unwrap();
        assert_eq!(
            ts[0].protocols,
            Some(vec![
                Protocol::PrometheusText0_0_4,
                Protocol::OpenMetricsText1_0_0
            ])
        );
        assert_eq!(ts[0].fallback, Some(Protocol::PrometheusText0_0_4));
        assert_eq!((ts[1].protocols.clone(), ts[1].fallback), (None, None));
        assert!(!ts[0].labels.iter().any(|(k, _)| k.starts_with("__")));
        std::fs::write(
            &f,
            "- targets: [a:1]\n  labels: {__fallback_scrape_protocol__: text}\n",
        )
        .unwrap();
        let e = load(&f, "j").unwrap_err().to_string();
        assert!(
            e.contains("__fallback_scrape_protocol__: unknown scrape protocol \"text\""),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
