"""A bidirectional gRPC stream with known message counts, for the filter's gRPC message counters.

    echo.py serve PORT           a server of /mixerless.test.Echo/Chat: one reply per request
                                 message, then one final reply ("done:N")
    echo.py call PORT MESSAGES   one Chat stream sending MESSAGES messages; prints the replies

Raw bytes on the wire (no protobuf schema), so nothing needs generating.
"""
import sys
from concurrent.futures import ThreadPoolExecutor

import grpc

SERVICE, METHOD = "mixerless.test.Echo", "Chat"


def chat(requests, _context):
    n = 0
    for message in requests:
        n += 1
        yield message
    yield b"done:%d" % n


def serve(port):
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {METHOD: grpc.stream_stream_rpc_method_handler(chat)}
    )
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def call(port, messages):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stream = channel.stream_stream(f"/{SERVICE}/{METHOD}")
        replies = list(stream(iter([b"m%d" % i for i in range(messages)]), timeout=20))
    print(len(replies), replies[-1].decode(), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        call(int(sys.argv[2]), int(sys.argv[3]))
