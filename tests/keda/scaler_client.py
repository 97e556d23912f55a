#!/usr/bin/env python3
"""KEDA's side of the external-scaler contract, for tests/tests/keda.rs: a gRPC client that is
not the adapter's own (grpcio, stubs generated here from the proto with grpcio-tools).

    scaler_client.py PROTO ADDR [--ca CA.pem [--cert C.pem --key C.key]]

Reads one JSON request per line on stdin and writes one JSON line per answer on stdout:

    {"id": 1, "rpc": "IsActive" | "GetMetricSpec" | "GetMetrics" | "StreamIsActive",
     "metadata": {...}, "metricName": "..."}                       (metricName: GetMetrics)
    -> {"id": 1, "ok": {...answer as JSON...}, "t": UNIX_SECONDS}
    -> {"id": 1, "code": "INVALID_ARGUMENT", "details": "...", "t": ...}

A StreamIsActive request answers once per streamed message ({"id", "ok", "t"}) until the
stream ends ({"id", "code", "details", "t"}; code "OK" for a clean end).
"""

import argparse
import json
import os
import sys
import tempfile
import threading
import time

import grpc
from google.protobuf import json_format
from grpc_tools import protoc

out_lock = threading.Lock()


def emit(obj):
    obj["t"] = time.time()
    with out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def stubs(proto):
    """Generates the Python stubs for PROTO into a temporary directory and imports them."""
    out = tempfile.mkdtemp(prefix="keda-stubs-")
    include = os.path.dirname(os.path.abspath(proto))
    grpc_include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{include}", f"-I{grpc_include}", f"--python_out={out}",
                      f"--grpc_python_out={out}", os.path.abspath(proto)])
    if rc != 0:
        sys.exit(f"protoc failed on {proto}: {rc}")
    sys.path.insert(0, out)
    import externalscaler_pb2
    import externalscaler_pb2_grpc
    return externalscaler_pb2, externalscaler_pb2_grpc


def answer(msg):
    return json_format.MessageToDict(msg, preserving_proto_field_name=False,
                                     always_print_fields_with_no_presence=True)


def failed(rid, err):
    emit({"id": rid, "code": err.code().name, "details": err.details()})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("proto")
    ap.add_argument("addr")
    ap.add_argument("--ca")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()
    pb, pb_grpc = stubs(args.proto)
    if args.ca:
        read = lambda p: open(p, "rb").read() if p else None
        creds = grpc.ssl_channel_credentials(read(args.ca), read(args.key), read(args.cert))
        channel = grpc.secure_channel(args.addr, creds)
    else:
        channel = grpc.insecure_channel(args.addr)
    stub = pb_grpc.ExternalScalerStub(channel)
    emit({"ready": True})
    for line in sys.stdin:
        req = json.loads(line)
        rid = req["id"]
        ref = pb.ScaledObjectRef(name=req.get("name", "podinfo"),
                                 namespace=req.get("namespace", "test"),
                                 scalerMetadata=req.get("metadata", {}))
        rpc = req["rpc"]
        try:
            if rpc == "IsActive":
                emit({"id": rid, "ok": answer(stub.IsActive(ref, timeout=10))})
            elif rpc == "GetMetricSpec":
                emit({"id": rid, "ok": answer(stub.GetMetricSpec(ref, timeout=10))})
            elif rpc == "GetMetrics":
                r = pb.GetMetricsRequest(scaledObjectRef=ref, metricName=req["metricName"])
                emit({"id": rid, "ok": answer(stub.GetMetrics(r, timeout=10))})
            elif rpc == "StreamIsActive":
                threading.Thread(target=stream, args=(stub, ref, rid), daemon=True).start()
            else:
                emit({"id": rid, "code": "CLIENT", "details": f"unknown rpc {rpc}"})
        except grpc.RpcError as err:
            failed(rid, err)


def stream(stub, ref, rid):
    try:
        for msg in stub.StreamIsActive(ref):
            emit({"id": rid, "ok": answer(msg)})
        emit({"id": rid, "code": "OK", "details": "stream ended"})
    except grpc.RpcError as err:
        failed(rid, err)


if __name__ == "__main__":
    main()
