#!/usr/bin/env python3
"""Captures real fuzz seeds from real Envoy with the mixerless filter, on 127.0.0.1 only.

Runs an outbound (source) Envoy with dist/mixerless-filter.wasm in front of a tiny echo server,
sends a few requests, and writes into fuzz/corpus/:
  exposition/envoy-*.txt   the Envoy's /stats/prometheus text (and an OpenMetrics variant)
  peer_metadata/envoy-*    the x-envoy-peer-metadata header the filter sent upstream
Usage: python3 fuzz/seeds/capture.py   (needs `make deps wasm`)
"""
import http.server, json, os, pathlib, socket, subprocess, sys, tempfile, threading, time, urllib.request, yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fuzz" / "corpus"
seen = []


class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        seen.append(dict(self.headers))
        self.send_response(200 if "fail" not in self.path else 503)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *a):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_exposition(text):
    """Small seeds: one metric family per file, at most 8 samples (a few kB), chosen to cover
    every type, the istio_* families with their 25 labels, and an OpenMetrics variant of each."""
    out = CORPUS / "exposition"
    out.mkdir(parents=True, exist_ok=True)
    families, cur = [], []
    for line in text.split(b"\n"):
        if line.startswith(b"# TYPE") and cur:
            families.append(cur)
            cur = []
        if line:
            cur.append(line)
    families.append(cur)
    picked, kinds = [], {}
    for fam in families:
        kind = fam[0].split()[-1].decode()
        if b"istio_" in fam[0] or kinds.get(kind, 0) < 3:
            kinds[kind] = kinds.get(kind, 0) + 1
            picked.append(fam)
    for fam in picked:
        name = fam[0].split()[2].decode()
        body = b"\n".join(fam[:9]) + b"\n"
        (out / f"envoy-{name}.txt").write_bytes(body)
        (out / f"envoy-{name}.om").write_bytes(body + b"# EOF\n")


def main():
    echo = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    admin, listen = free_port(), free_port()
    wasm = ROOT / "dist" / "mixerless-filter.wasm"
    tags = yaml.safe_load((ROOT / "istio/envoy/stats_tags.yaml").read_text())
    boot = {
        "node": {"id": "sidecar~127.0.0.1~productpage-v1-5f9c.test~test.svc.cluster.local", "cluster": "productpage.test",
                 "metadata": {"NAMESPACE": "test", "WORKLOAD_NAME": "productpage-v1", "CLUSTER_ID": "Kubernetes",
                              "NAME": "productpage-v1-5f9c", "MESH_ID": "cluster.local",
                              "LABELS": {"app": "productpage", "version": "v1",
                                         "service.istio.io/canonical-name": "productpage",
                                         "service.istio.io/canonical-revision": "v1"}}},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "stats_config": {"stats_tags": tags},
        "static_resources": {
            "listeners": [{"name": "main", "traffic_direction": "OUTBOUND",
                           "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen}},
                           "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
                               "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                               "stat_prefix": "main",
                               "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                                   {"match": {"prefix": "/"}, "route": {"cluster": "reviews"}}]}]},
                               "http_filters": [
                                   {"name": "envoy.filters.http.wasm", "typed_config": {
                                       "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                                       "config": {"name": "mixerless", "root_id": "mixerless",
                                                  "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                                                    "value": json.dumps({"reporter": "source"})},
                                                  "vm_config": {"vm_id": "mixerless", "runtime": "envoy.wasm.runtime.v8",
                                                                "code": {"local": {"filename": str(wasm)}}}}}},
                                   {"name": "envoy.filters.http.router", "typed_config": {
                                       "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}]}],
            "clusters": [{"name": "reviews", "type": "STATIC", "connect_timeout": "1s",
                          "load_assignment": {"cluster_name": "reviews", "endpoints": [{"lb_endpoints": [{"endpoint": {
                              "address": {"socket_address": {"address": "127.0.0.1", "port_value": echo.server_address[1]}}}}]}]}}]},
    }
    with tempfile.TemporaryDirectory() as tmp:
        cfg = pathlib.Path(tmp) / "envoy.json"
        cfg.write_text(json.dumps(boot))
        envoy = subprocess.Popen([str(ROOT / ".venv/bin/envoy"), "-c", str(cfg), "--concurrency", "1", "-l", "warn",
                                  "--base-id", str(admin)], stdout=subprocess.DEVNULL, stderr=open(pathlib.Path(tmp) / "log", "w"))
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1)
                    break
                except Exception:
                    time.sleep(0.1)
            for i, (host, path) in enumerate([("reviews.test:9080", "/"), ("reviews", "/fail"), ("Reviews.Test", "/a?b=c"),
                                               ("r;.;x=.=y", "/"), ("\"quoted\"", "/")]):
                req = urllib.request.Request(f"http://127.0.0.1:{listen}{path}", headers={"Host": host})
                try:
                    urllib.request.urlopen(req, timeout=5).read()
                except urllib.error.HTTPError:
                    pass
            time.sleep(1)
            text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats/prometheus", timeout=5).read()
        finally:
            envoy.kill()
            envoy.wait()
    write_exposition(text)
    (CORPUS / "peer_metadata").mkdir(parents=True, exist_ok=True)
    headers = sorted({h.get("x-envoy-peer-metadata") for h in seen if h.get("x-envoy-peer-metadata")})
    for i, h in enumerate(headers):
        (CORPUS / "peer_metadata" / f"envoy-header-{i}").write_text(h)
    print(f"exposition: {len(text)} bytes; peer headers: {len(headers)}; requests seen: {len(seen)}")


if __name__ == "__main__":
    sys.exit(main())
