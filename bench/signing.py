"""What signing and attesting add to a publish of one image, side by side in one run.

    "$(./pants --print-venv)/bin/python" bench/signing.py            # 15 rounds
    "$(./pants --print-venv)/bin/python" bench/signing.py --rounds 3 # quick

Each round pushes the same small image to fresh repositories of one loopback registry three
ways, interleaved: unsigned; signed and attested (a PEM key); and the same with cosign's
encrypted key (whose scrypt key derivation is paid once per push process). Then it pushes the
signed image again (an unchanged re-publish: nothing signed or sent). Prints medians. The push
is `ocikit.registry.push.PushSession.push` plus loading the key, as `push-run` does: Pants' own
costs are the same with and without signing. Only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [
    str(HERE),
    str(HERE.parent / "src" / "python"),
    str(HERE.parent / "tests"),
    str(HERE.parent / "tests" / "registry"),
]

from _registry import Registry  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from registry_images import write_image  # noqa: E402

from ocikit.contracts.publish import Signing  # noqa: E402
from ocikit.registry.attest import Predicate  # noqa: E402
from ocikit.registry.push import PushSession  # noqa: E402
from ocikit.registry.sign import load_signer  # noqa: E402
from ocikit.signing.keys import SigningKey, encrypt_cosign_key  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    os.environ["DOCKER_CONFIG"] = tempfile.mkdtemp()
    work = Path(tempfile.mkdtemp(prefix="bench-signing-"))
    key = ec.generate_private_key(ec.SECP256R1())
    (work / "plain.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (work / "cosign.key").write_bytes(encrypt_cosign_key(SigningKey(key), b"pw"))
    os.environ["BENCH_PW"] = "pw"
    image = write_image(work / "layout", label="bench-signing")
    provenance = (Predicate("https://slsa.dev/provenance/v1", {"buildDefinition": {"n": list(range(50))}}),)
    registry = Registry(work / "registry")
    times: dict[str, list[float]] = {
        k: [] for k in ("unsigned", "signed (PEM key)", "signed (cosign key)", "signed, unchanged re-publish")
    }
    try:
        for n in range(args.rounds):
            for name, keyfile in (
                ("unsigned", None),
                ("signed (PEM key)", "plain.pem"),
                ("signed (cosign key)", "cosign.key"),
            ):
                started = time.perf_counter()
                signer = load_signer(Signing(str(work / keyfile), "BENCH_PW")) if keyfile else None
                with PushSession(signer=signer) as session:
                    session.push(
                        str(work / "layout"),
                        [f"{registry.host}/bench/{n}/{keyfile or 'none'}:v1"],
                        predicates=provenance if signer else (),
                    )
                times[name].append(time.perf_counter() - started)
            started = time.perf_counter()
            with PushSession(signer=load_signer(Signing(str(work / "plain.pem"), "BENCH_PW"))) as session:
                summary = session.push(
                    str(work / "layout"), [f"{registry.host}/bench/{n}/plain.pem:v1"], predicates=provenance
                )
            assert summary.stats.signatures_pushed == summary.stats.attestations_pushed == 0
            times["signed, unchanged re-publish"].append(time.perf_counter() - started)
    finally:
        registry.stop()
    base = statistics.median(times["unsigned"])
    print(f"push of one image ({image.digest[:19]}...), {args.rounds} rounds, load {os.getloadavg()[0]:.1f}")
    print("| push | median ms | added vs unsigned |\n| --- | --- | --- |")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median * 1000:.0f} | {(median - base) * 1000:+.0f} ms |")


if __name__ == "__main__":
    main()
