"""Fetch blobs from a REAPI CAS through ByteStream.Read, one after another, checking each sha256,
and print the seconds and bytes as JSON. Runs on BuildGrid's own Python (it has grpc and the
protos): `python _cas_fetch.py grpc://HOST:PORT INSTANCE '[["<hex>", size], ...]'`."""

import hashlib
import json
import sys
import time

import grpc
from buildgrid._protos.google.bytestream.bytestream_pb2 import ReadRequest
from buildgrid._protos.google.bytestream.bytestream_pb2_grpc import ByteStreamStub


def main() -> None:
    address, instance, blobs = sys.argv[1].replace("grpc://", ""), sys.argv[2], json.loads(sys.argv[3])
    stub = ByteStreamStub(grpc.insecure_channel(address))
    total = 0
    started = time.monotonic()
    for hexdigest, size in blobs:
        h = hashlib.sha256()
        for response in stub.Read(ReadRequest(resource_name=f"{instance}/blobs/{hexdigest}/{size}")):
            h.update(response.data)
            total += len(response.data)
        if h.hexdigest() != hexdigest:
            sys.exit(f"blob {hexdigest} came back with sha256 {h.hexdigest()}")
    print(json.dumps({"seconds": time.monotonic() - started, "bytes": total}))


if __name__ == "__main__":
    main()
