"""The loopback Distribution registry the benchmarks push to (shared by run.py and push_speed.py).

`Registry(root)` picks a free 127.0.0.1 port and starts `docker-registry serve` with its storage
under `root`; `reset()` restarts it on the same port with empty storage (a cold registry),
`stop()` ends it and removes the storage.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Optional

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

# Loopback only: never through a proxy from the environment.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen] = None
        self.generation = 0
        self.reset()

    @property
    def storage(self) -> Path:
        return self.root / f"storage{self.generation}"

    def reset(self) -> None:
        """(Re)start the registry with empty storage."""
        self.stop()
        self.generation += 1
        self.storage.mkdir(parents=True)
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\n"
            f"storage: {{filesystem: {{rootdirectory: {self.storage}}}, delete: {{enabled: true}}}}\n"
            f"http: {{addr: {self.host}}}\n"
        )
        with open(self.root / "registry.log", "ab") as log:
            self.proc = subprocess.Popen(
                ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        for _ in range(100):
            try:
                LOCAL.open(f"http://{self.host}/v2/", timeout=1).read()
                return
            except Exception:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the registry did not start on {self.host} (log: {self.root / 'registry.log'})")

    def manifest_digest(self, repository: str, tag: str) -> str:
        request = urllib.request.Request(
            f"http://{self.host}/v2/{repository}/manifests/{tag}", method="HEAD", headers={"Accept": OCI_MANIFEST}
        )
        with LOCAL.open(request, timeout=10) as response:
            return response.headers.get("Docker-Content-Digest", "")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        shutil.rmtree(self.storage, ignore_errors=True)
