#!/usr/bin/env python3
"""Drives a running ldk-server with Python grpcio, a grpc-core based client.

grpc-core reads a failed call's status only from a proper Trailers-Only response; a server that
gets this wrong shows up here as UNKNOWN "Stream removed". Stubs are generated from the
repository's proto files with grpcio-tools at run time.

Usage: grpcio_client.py ADDRESS CERT_PEM API_KEY_HEX PROTO_DIR
Prints one line per check and exits non-zero on the first mismatch.
"""

import hashlib
import hmac
import struct
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc


def generate_stubs(proto_dir, out_dir):
    files = ["api.proto", "types.proto", "events.proto", "error.proto"]
    args = ["protoc", f"-I{proto_dir}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"]
    if protoc.main(args + files) != 0:
        raise SystemExit("stub generation failed")
    sys.path.insert(0, out_dir)


def x_auth(key_hex, timestamp=None):
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(key_hex.encode(), struct.pack(">Q", timestamp), hashlib.sha256).hexdigest()
    return [("x-auth", f"HMAC {timestamp}:{mac}")]


def expect_status(name, call, code, fragment):
    try:
        call()
    except grpc.RpcError as error:
        if error.code() != code or fragment not in error.details():
            raise SystemExit(f"{name}: got {error.code()} {error.details()!r}, want {code} with {fragment!r}")
        print(f"ok {name}: {error.code().name} {error.details()}")
        return
    raise SystemExit(f"{name}: succeeded, want {code}")


def main():
    address, cert_path, key_hex, proto_dir = sys.argv[1:5]
    with tempfile.TemporaryDirectory() as out_dir:
        generate_stubs(proto_dir, out_dir)
        import api_pb2
        import api_pb2_grpc

        with open(cert_path, "rb") as cert:
            credentials = grpc.ssl_channel_credentials(root_certificates=cert.read())
        channel = grpc.secure_channel(address, credentials)
        stub = api_pb2_grpc.LightningNodeStub(channel)
        auth = x_auth(key_hex)

        expect_status("no x-auth", lambda: stub.ListPayments(api_pb2.ListPaymentsRequest()),
                      grpc.StatusCode.UNAUTHENTICATED, "missing")
        expect_status("stale timestamp", lambda: stub.ListPayments(
            api_pb2.ListPaymentsRequest(), metadata=x_auth(key_hex, int(time.time()) - 120)),
            grpc.StatusCode.UNAUTHENTICATED, "60 s")
        expect_status("node starting", lambda: stub.GetNodeInfo(api_pb2.GetNodeInfoRequest(), metadata=auth),
                      grpc.StatusCode.UNAVAILABLE, "node starting")
        expect_status("bad invoice", lambda: stub.DecodeInvoice(
            api_pb2.DecodeInvoiceRequest(invoice="lnbc1nope"), metadata=auth),
            grpc.StatusCode.INVALID_ARGUMENT, "invoice")
        expect_status("underpaying", lambda: stub.Bolt11SendUnderpaying(
            api_pb2.Bolt11SendUnderpayingRequest(invoice="x", amount_msat=1), metadata=auth),
            grpc.StatusCode.UNIMPLEMENTED, "ldk-node 0.7")

        page = stub.ListPayments(api_pb2.ListPaymentsRequest(), metadata=auth, timeout=30)
        if list(page.payments) or page.HasField("next_page_token"):
            raise SystemExit(f"empty store expected, got {page}")
        print("ok list payments: empty page, no token")


if __name__ == "__main__":
    main()
