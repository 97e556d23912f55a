//! `--hpa-dir` reading: settling, and the last good version of a file that does not parse.

use super::*;

fn hpa(name: &str, metric: &str) -> String {
    format!(
        r#"apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {name}
  namespace: test
  annotations:
    metric-config.external.prometheus-query.prometheus/{metric}: sum(rate({metric}_total[1m]))
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}
  maxReplicas: 5
  metrics:
  - type: External
    external:
      metric: {{name: prometheus-query, selector: {{matchLabels: {{query-name: {metric}}}}}}}
      target: {{type: AverageValue, averageValue: "10"}}
"#
    )
}

/// A fresh directory under the system's temporary one, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("mixerless-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn names(snap: &Snapshot) -> Vec<String> {
    let mut n: Vec<String> = snap.hpas.iter().map(|h| h.name.clone()).collect();
    n.sort();
    n
}

/// Demonstrates the settle rule: a change is read only once the directory looked the same at
/// two polls in a row, so a file caught mid-write (here: growing between polls) is not read
/// until it stops changing; an unchanged directory is not read again.
#[test]
fn a_change_is_read_once_it_has_settled() {
    let dir = TempDir::new("settle");
    let f = dir.path().join("hpas.yaml");
    std::fs::write(&f, hpa("a", "ra")).unwrap();
    let mut w = Watcher::new(dir.path());
    assert_eq!(names(&w.load_now()), ["a"]);
    assert!(w.poll().is_none(), "nothing changed");
    let full = format!("{}---\n{}", hpa("a", "ra"), hpa("b", "rb"));
    // Mid-write: the first document whole, the second not yet there.
    std::fs::write(&f, &full[..hpa("a", "ra").len() + 4]).unwrap();
    assert!(w.poll().is_none(), "changed since the last poll: not read");
    std::fs::write(&f, &full).unwrap();
    assert!(w.poll().is_none(), "still changing: not read");
    let snap = w.poll().expect("settled: read");
    assert_eq!(names(&snap), ["a", "b"]);
    assert!(snap.file_errors.is_empty(), "{:?}", snap.file_errors);
    assert!(w.poll().is_none());
}

/// Demonstrates the last good version: a file that stops parsing (truncated mid-document,
/// unreadable YAML) keeps serving the HPAs it last defined, with its error naming that; a
/// file never good has only its error; a removed file's HPAs go, and a file that comes back
/// broken has no good version left.
#[test]
fn a_file_that_does_not_parse_serves_its_last_good_version() {
    let dir = TempDir::new("lastgood");
    let f = dir.path().join("hpas.yaml");
    let full = format!("{}---\n{}", hpa("a", "ra"), hpa("b", "rb"));
    std::fs::write(&f, &full).unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "kind: [").unwrap();
    let mut w = Watcher::new(dir.path());
    let snap = w.load_now();
    assert_eq!(names(&snap), ["a", "b"]);
    assert_eq!(snap.file_errors.len(), 1);
    assert!(
        !snap.file_errors[0].error.contains("last good"),
        "{:?}",
        snap.file_errors
    );

    for broken in [
        // Cut inside the second document's annotations: a YAML error.
        full[..full.len() - 300].to_owned(),
        "{not yaml: [".to_owned(),
        format!(
            "{}---\nkind: HorizontalPodAutoscaler\nmetadata: 7\n",
            hpa("a", "ra")
        ),
    ] {
        std::fs::write(&f, &broken).unwrap();
        let snap = w.load_now();
        assert_eq!(names(&snap), ["a", "b"], "{broken}");
        let e = snap
            .file_errors
            .iter()
            .find(|e| e.file == f)
            .unwrap_or_else(|| panic!("no error for {broken}"));
        assert!(
            e.error.starts_with("not a valid manifest: ")
                && e.error
                    .ends_with("; serving its last good version (2 HPAs)"),
            "{}",
            e.error
        );
        assert_eq!(snap.hpas.iter().filter(|h| h.queries.len() == 1).count(), 2);
    }
    // A good version that drops an HPA is the new last good one.
    std::fs::write(&f, hpa("a", "ra")).unwrap();
    assert_eq!(names(&w.load_now()), ["a"]);
    std::fs::write(&f, "{").unwrap();
    assert_eq!(names(&w.load_now()), ["a"]);
    std::fs::remove_file(&f).unwrap();
    assert!(names(&w.load_now()).is_empty());
    std::fs::write(&f, "{").unwrap();
    let snap = w.load_now();
    assert!(
        snap.hpas.is_empty(),
        "a removed file's version is forgotten"
    );
    assert_eq!(snap.file_errors.len(), 2);
}
