# The filter as an OCI image that Istio pulls for a WasmPlugin (url: oci://...) or for the
# EnvoyFilter variant through istio-agent: Istio's "compat" Wasm image layout, one layer holding
# plugin.wasm. Build from the repository root after `make wasm`:
#   docker build -f istio/images/filter.Dockerfile -t REGISTRY/mixerless/filter:0.1.0 .
# The WasmPlugins' sha256 is then the pushed image's digest (without the "sha256:" prefix).
FROM scratch
LABEL org.opencontainers.image.title="mixerless-filter" \
      org.opencontainers.image.description="Istio standard request metrics from a proxy-wasm filter" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY dist/mixerless-filter.wasm ./plugin.wasm
