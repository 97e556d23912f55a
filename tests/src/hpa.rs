//! HPA manifests for tests, in the walk-through's form.

/// An autoscaling/v2 HPA `name` in namespace `test` for Deployment `target`, with one External
/// metric in kube-metrics-adapter's legacy form: `prometheus-query` selected by
/// `query-name: <query_name>`, annotated with `query`, AverageValue `average`.
pub fn legacy(name: &str, target: &str, query_name: &str, query: &str, average: &str) -> String {
    let query = query.trim().replace('\n', "\n      ");
    format!(
        r#"apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {name}
  namespace: test
  annotations:
    metric-config.external.prometheus-query.prometheus/{query_name}: |
      {query}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {target}}}
  maxReplicas: 5
  metrics:
  - type: External
    external:
      metric: {{name: prometheus-query, selector: {{matchLabels: {{query-name: {query_name}}}}}}}
      target: {{type: AverageValue, averageValue: "{average}"}}
"#
    )
}

/// `/apis/external.metrics.k8s.io/v1beta1/...` path of a legacy-form metric in namespace `test`.
pub fn legacy_path(query_name: &str) -> String {
    format!("/apis/external.metrics.k8s.io/v1beta1/namespaces/test/prometheus-query?labelSelector=query-name%3D{query_name}")
}

#[cfg(test)]
mod tests {
    /// Demonstrates that the manifest is the one the adapter's HPA reader expects, multi-line
    /// queries included.
    #[test]
    fn legacy_manifest_parses() {
        let yaml = super::legacy("a", "podinfo", "rps", "sum(rate(x[1m]))\n/ 2", "10");
        let v: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(
            v["metadata"]["annotations"]["metric-config.external.prometheus-query.prometheus/rps"],
            "sum(rate(x[1m]))\n/ 2\n"
        );
        assert_eq!(
            v["spec"]["metrics"][0]["external"]["metric"]["selector"]["matchLabels"]["query-name"],
            "rps"
        );
        assert_eq!(v["spec"]["scaleTargetRef"]["name"], "podinfo");
    }
}
