#!/usr/bin/env python3
"""Writes the hand-picked fuzz seeds into fuzz/corpus/ (the Envoy captures come from capture.py).

Seeds are real inputs of each kind: the HPA manifests the project ships, the plugin
configurations of its WasmPlugins, Istio's documented dimension expressions, kubectl-style
label selectors and the Quantity forms of apimachinery's table.
Usage: python3 fuzz/seeds/write.py   (after capture.py, which provides the real peer header)
"""
import base64, json, pathlib, re, struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fuzz" / "corpus"


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data.encode() if isinstance(data, str) else data)


# Quantity: mode 0 = f64, mode 1 = i64 milli, else a Quantity string.
for i, v in enumerate([10.056, 1500.0, 1.5, 1e4, 0.001, 2.5e6, -3.75, 9.2e15, 1e-4, 123456.789]):
    put("quantity", f"f64-{i}", b"\x00" + struct.pack("<d", v))
for i, m in enumerate([10056, 1, -1, 2**53, 2**63 - 1, -(2**63)]):
    put("quantity", f"milli-{i}", b"\x01" + struct.pack("<q", m))
for s in ["10056m", "1500", "2500k", "1Ki", "500m", "1.5Gi", "100n", "3u", "1e3", "-7M", "0.5", "+2P"]:
    put("quantity", "str-" + re.sub(r"[^A-Za-z0-9]", "_", s), b"\x02" + s.encode())

# labelSelector, as clients send it in external-metrics requests.
for i, s in enumerate(["", "app=podinfo", "app==podinfo,version!=v2", "env in (prod,staging),!canary",
                       "tier notin (web, cache)", "app.kubernetes.io/name=podinfo", "release",
                       "destination_workload=podinfo,reporter=destination", "a in ()", "k=(v)"]):
    put("selector", f"sel-{i}", s)

# HPA manifests: the ones the project ships.
for path in sorted({p.read_text(): p for p in list((ROOT / "istio").rglob("HorizontalPodAutoscaler-*.yaml")) +
                    list((ROOT / "demo" / "hpa").glob("*.yaml"))}.values()):
    put("hpa_annotations", path.parent.name + "-" + path.stem, path.read_text())

# PromQL: the shipped HPA queries (after a NUL, over the built-in body) and common forms.
queries = [
    'sum(rate(istio_requests_total{reporter="destination",destination_workload="podinfo"}[1m]))',
    'histogram_quantile(0.95,sum(irate(istio_request_duration_milliseconds_bucket{destination_workload="podinfo"}[5m]))by (le))',
    'sum(rate(istio_request_duration_milliseconds_sum[1m])) / sum(rate(istio_request_duration_milliseconds_count[1m]))',
    'sum by (response_code) (increase(istio_requests_total[30s]))',
    'max_over_time(istio_requests_total[1m:15s])',
    'topk(1, istio_requests_total) or vector(0)',
    'count(istio_requests_total offset 30s) * 2 > bool 1',
    'label_replace(istio_requests_total, "x", "$1", "response_code", "(.*)")',
    'absent(nope)', 'scalar(sum(istio_requests_total)) + time()',
]
for p in (ROOT / "istio").rglob("HorizontalPodAutoscaler-*.yaml"):
    for m in re.finditer(r"prometheus/[\w-]+: \|\n\s+(.+)", p.read_text()):
        queries.append(m.group(1).strip())
for i, q in enumerate(dict.fromkeys(queries)):
    put("promql", f"query-{i}", q)
put("promql", "body-and-query", b'# TYPE x counter\nx{a="1"} 1\nx{a="2"} 5\n\0rate(x[1m])')

# Peer metadata: the real header, its decoded Struct, and the forms a reader must accept.
real = sorted(p for p in (CORPUS / "peer_metadata").glob("envoy-header-*") if p.name.count("-") == 2)
for p in real:
    h = p.read_text().strip()
    raw = base64.b64decode(h)
    put("peer_metadata", p.name + "-struct", raw)
    put("peer_metadata", p.name + "-unpadded", h.rstrip("="))
    put("peer_metadata", p.name + "-truncated", h[: len(h) // 2])


def pb_str(field, s):
    b = s.encode()
    return bytes([field << 3 | 2, len(b)]) + b


def struct_of(d):
    out = b""
    for k, v in d.items():
        val = bytes([3 << 3 | 2, len(v.encode())]) + v.encode()  # Value.string_value
        entry = pb_str(1, k) + bytes([2 << 3 | 2, len(val)]) + val
        out += bytes([1 << 3 | 2, len(entry)]) + entry
    return out


peer_obj = struct_of({"workload": "reviews-v2", "namespace": "test", "service": "reviews", "revision": "v2",
                      "identity": "spiffe://cluster.local/ns/test/sa/reviews"})
put("peer_metadata", "peer-object-shape", base64.b64encode(peer_obj).decode())
put("peer_metadata", "hostile-values", base64.b64encode(struct_of({"WORKLOAD_NAME": 'a;.;b=.=c"\n', "NAMESPACE": "x\ty"})).decode())
put("peer_metadata", "endpoint", "reviews-v1;test;reviews;v1;Kubernetes")

# Plugin configuration: the project's WasmPlugin configs and Istio's documented options.
configs = [
    {}, {"reporter": "destination"}, {"reporter": "source", "max_series": 100},
    {"reporter": "waypoint", "metadata_exchange": "false"},
    {"disable_host_header_fallback": True, "max_peer_cache_size": 10},
    {"metrics": [{"name": "requests_total", "dimensions": {"request_host": "request.host", "path": "request.url_path"}}]},
    {"metrics": [{"tags_to_remove": ["response_flags", "source_principal"]}]},
    {"definitions": [{"name": "custom_count", "type": "COUNTER", "value": "1"}],
     "metrics": [{"name": "custom_count", "dimensions": {"reporter": "'custom'"}}]},
    {"field_separator": ";.;", "value_separator": "=.=", "stat_prefix": "istio", "debug": "false"},
]
for p in (ROOT / "istio").glob("WasmPlugin-*.yaml"):
    m = re.search(r"pluginConfig:\n((?:\s{4,}.*\n)+)", p.read_text())
    if m:
        import yaml
        configs.append(yaml.safe_load(m.group(1)))
for i, c in enumerate(configs):
    put("plugin_config", f"config-{i}", json.dumps(c))

# Dimension expressions: Istio Telemetry / stats-config examples.
for i, e in enumerate(["request.host", "request.url_path", "xds.node.metadata['WORKLOAD_NAME']",
                       "request.headers['x-user']", "'literal'", "42", "upstream.port",
                       "request.host + ':' + request.url_path", "response.code", "connection.mtls",
                       "request.method + \"-\" + destination.port"]):
    put("dimension_expr", f"expr-{i}", e)

# Stat-name encoding: authority \x01 peer header \x01 response code \x01 peer SAN.
header = real[0].read_text().strip() if real else ""
for i, (authority, peer, code, san) in enumerate([
    ("reviews.test:9080", header, "200", "spiffe://cluster.local/ns/test/sa/productpage"),
    ("a;.;b=.=c", header, "503", "spiffe://x/ns/a;.;b/sa/c"),
    ('"quoted"\nline', "not base64!", "0", ""),
    ("x" * 300, base64.b64encode(struct_of({"WORKLOAD_NAME": "w=.=;.;", "NAMESPACE": "n"})).decode(), "-1", "\u00e9\u0000"),
]):
    put("stat_name", f"req-{i}", "\x01".join([authority, peer, code, san]))

for d in sorted(CORPUS.iterdir()):
    print(d.name, len(list(d.iterdir())))
