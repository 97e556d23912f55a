#!/usr/bin/env bash
# The adapter's serving certificate without cert-manager: a private CA and a certificate for
# mixerless-adapter.kube-system.svc signed by it, made with openssl. With --apply it also creates
# Secret kube-system/mixerless-adapter-serving and writes the CA into the APIService's caBundle,
# so the aggregator verifies the adapter (insecureSkipTLSVerify stays false).
#
#   istio/certs/make-serving-cert.sh [--out DIR] [--days N] [--apply]
#
# Use it with the components/without-cert-manager variant of istio/kustomization.yaml; run it
# again (with --apply) before the certificate expires, then `kubectl -n kube-system rollout
# restart deployment/mixerless-adapter`.
set -euo pipefail

namespace=kube-system
service=mixerless-adapter
out=$(mktemp -d)
days=365
apply=false
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --apply) apply=true; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "make-serving-cert: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
host="$service.$namespace.svc"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "$days" \
  -subj "/CN=mixerless-adapter-ca" -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=$host" -keyout "$out/tls.key" -out "$out/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s,DNS:%s.cluster.local\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n' \
  "$host" "$host" > "$out/ext.cnf"
openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -days "$days" -extfile "$out/ext.cnf" -out "$out/tls.crt" 2>/dev/null
openssl verify -CAfile "$out/ca.crt" -verify_hostname "$host" "$out/tls.crt" >/dev/null
echo "make-serving-cert: wrote $out/{ca.crt,tls.crt,tls.key} for $host, valid $days days"

if $apply; then
  kubectl -n "$namespace" create secret tls "$service-serving" \
    --cert "$out/tls.crt" --key "$out/tls.key" --dry-run=client -o yaml | kubectl apply -f -
  kubectl patch apiservice v1beta1.external.metrics.k8s.io --type merge \
    -p "{\"spec\":{\"caBundle\":\"$(base64 -w0 < "$out/ca.crt")\",\"insecureSkipTLSVerify\":false}}"
  echo "make-serving-cert: Secret $namespace/$service-serving and the APIService caBundle are set"
fi
