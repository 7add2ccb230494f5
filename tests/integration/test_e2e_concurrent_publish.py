"""Two `pants publish` processes at the same moment, through the real ./pants against the real
Distribution registry on loopback, checked with skopeo. These tests check that two publishes
racing each other leave a repository that skopeo reads back in full.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import pytest
from e2e_support import BuildRoot, MiB, PantsRun
from image_checks import Layout

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
from registry_fixtures import have_registry, skopeo, start_registry  # noqa: E402

pytestmark = pytest.mark.integration

requires_registry = pytest.mark.skipif(not have_registry(), reason="needs docker-registry")


# -------------------------------------------------------------------------------------------
# Two `pants publish` processes at the same moment, one registry, one repository
# -------------------------------------------------------------------------------------------


class GatedProxies:
    """One TCP forwarder on loopback per client, all to the same registry. No connection is
    forwarded until every forwarder has accepted one (or `patience` s passed): each client's
    first request waits, so the pushes start together however long each Pants took to get
    there. `opened_by_all` says whether they did."""

    def __init__(self, upstream: str, clients: int, patience: float = 90.0) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.patience = patience
        self.gate = threading.Event()
        self.arrivals: List[Optional[float]] = [None] * clients
        self.connections = [0] * clients
        self.opened_by_all: Optional[bool] = None
        self._lock = threading.RLock()
        self._sockets: List[socket.socket] = []
        self._listeners: List[socket.socket] = []
        self.hosts: List[str] = []
        for i in range(clients):
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            listener.listen(64)
            self._listeners.append(listener)
            self.hosts.append(f"127.0.0.1:{listener.getsockname()[1]}")
            threading.Thread(target=self._accept, args=(i, listener), daemon=True).start()

    def _open(self, by_all: bool) -> None:
        with self._lock:
            if not self.gate.is_set():
                self.opened_by_all = by_all
                self.gate.set()

    def _accept(self, i: int, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(conn)
                self.connections[i] += 1
                if self.arrivals[i] is None:
                    self.arrivals[i] = time.monotonic()
                if all(a is not None for a in self.arrivals):
                    self._open(True)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if not self.gate.wait(self.patience):
            self._open(False)
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            self._sockets.append(upstream)
        back = threading.Thread(target=self._pump, args=(upstream, client), daemon=True)
        back.start()
        self._pump(client, upstream)
        back.join()
        client.close()
        upstream.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def describe(self) -> str:
        return f"arrivals {self.arrivals}, connections {self.connections}, opened_by_all {self.opened_by_all}"

    def close(self) -> None:
        for s in self._listeners:
            s.close()
        with self._lock:
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def __enter__(self) -> "GatedProxies":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


TWINS = "e2e_twins"
_TWINS_BUILD = """
files(name="shared_files", sources=["shared/*"])
files(name="a_files", sources=["a.txt"])
files(name="b_files", sources=["b.txt"])
oci_layer(name="shared", dependencies=[":shared_files"], destination="/opt/shared")
oci_layer(name="only_a", dependencies=[":a_files"], destination="/a")
oci_layer(name="only_b", dependencies=[":b_files"], destination="/b")
oci_image(name="img_a", layers=[":shared", ":only_a"], repository="e2e/twins", image_tags=["a"])
oci_image(name="img_b", layers=[":shared", ":only_b"], repository="e2e/twins", image_tags=["b"])
"""

# target -> (layout dir under dist/, repository, tags)
PUBLISHED = {
    "examples/layered:layered": ("examples.layered/layered", "examples/layered", ["1.0", "latest"]),
    "examples/derived:derived": ("examples.derived/derived", "examples/derived", ["latest"]),
    f"{TWINS}:img_a": (f"{TWINS}/img_a", "e2e/twins", ["a"]),
    f"{TWINS}:img_b": (f"{TWINS}/img_b", "e2e/twins", ["b"]),
}


def run_at_once(jobs: Sequence[Tuple[BuildRoot, Sequence[str], Optional[dict]]]) -> List[PantsRun]:
    """Start every `./pants` of `jobs` at the same time and wait for all of them."""
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(root.run, *args, env=env) for root, args, env in jobs]
        return [f.result() for f in futures]


@pytest.fixture(scope="module")
def twin_roots(e2e_base: Path):
    """Two checkouts of the same sources on one machine (like two CI jobs or two developers),
    each with its own pantsd, sharing one local store as checkouts under one ~/.cache/pants
    do. Both package every image the tests publish, at the same time."""
    roots: List[BuildRoot] = []
    try:
        for name in ("a", "b"):
            roots.append(
                BuildRoot.create(e2e_base / "pristine", e2e_base / f"root-twin-{name}", e2e_base / f"state-twin-{name}")
            )
        roots[1].store = roots[0].store
        shared = random.Random(20240611).randbytes(8 * MiB)  # the same bytes in both roots
        for root in roots:
            root.write(f"{TWINS}/BUILD", _TWINS_BUILD)
            root.write(f"{TWINS}/shared/blob.bin", shared)
            root.write(f"{TWINS}/shared/notes.txt", "shared by img_a and img_b\n")
            root.write(f"{TWINS}/a.txt", "only in a\n")
            root.write(f"{TWINS}/b.txt", "only in b\n")
        runs = run_at_once([(root, ("package", *PUBLISHED), None) for root in roots])
        for run in runs:
            assert run.returncode == 0, run.describe()
        assert runs[0].packaged == runs[1].packaged, "the two checkouts built different images"
        yield roots
    finally:
        for root in roots:
            root.stop()
        for root in roots:
            left = root._stray_pids()
            assert not left, f"processes of {root.path} still running after stop(): {left}"


def _docker_config(directory: Path, registry, hosts: Sequence[str]) -> Dict[str, str]:
    """DOCKER_CONFIG with the registry's credentials for each address it is reached at."""
    directory.mkdir(parents=True, exist_ok=True)
    auths = {}
    if registry.creds:
        auth = base64.b64encode(registry.creds.encode()).decode()
        auths = {host: {"auth": auth} for host in [*hosts, registry.host]}
    (directory / "config.json").write_text(json.dumps({"auths": auths}))
    return {"DOCKER_CONFIG": str(directory)}


def _registries_flag(host: str) -> str:
    return f"--oci-registries={{'e2e': {{'address': '{host}', 'default': True}}}}"


def publish_at_once(roots: Sequence[BuildRoot], targets: Sequence[str], registry, tmp_path: Path) -> GatedProxies:
    """`./pants publish` of targets[i] in roots[i], all at the same moment, each through its own
    gated forwarder to `registry`. Returns the forwarders (to check the gate opened for all)."""
    with GatedProxies(registry.host, len(roots)) as proxies:
        env = _docker_config(tmp_path / "docker-config", registry, proxies.hosts)
        runs = run_at_once(
            [
                (root, ("publish", _registries_flag(host), target), env)
                for root, host, target in zip(roots, proxies.hosts, targets)
            ]
        )
    for run in runs:
        assert run.returncode == 0, run.describe()
        if registry.creds:
            assert registry.password not in run.output
    assert proxies.opened_by_all, (
        "the pushes did not overlap: one client reached the registry alone for "
        f"{proxies.patience} s ({proxies.describe()})"
    )
    for root, target in zip(roots, targets):
        relpath = PUBLISHED[target][0]
        record = json.loads(root.dist(f"{relpath}.publish.json").read_text())
        assert record["digest"] == Layout(root.dist(relpath)).top()["digest"], record
    return proxies


def assert_registry_serves(registry, roots: Sequence[BuildRoot], targets: Iterable[str], tmp_path: Path) -> None:
    """Every tag of every target resolves to exactly the manifest both checkouts packaged,
    the repository has no other tags, and skopeo copies each image out in full (every blob
    present, each checked against its digest)."""
    creds = ("--creds", registry.creds) if registry.creds else ()
    tags_per_repo: Dict[str, set] = {}
    for target in targets:
        relpath, repository, tags = PUBLISHED[target]
        tags_per_repo.setdefault(repository, set()).update(tags)
        layouts = [Layout(root.dist(relpath)) for root in roots]
        digest = layouts[0].top()["digest"]
        assert all(layout.top()["digest"] == digest for layout in layouts), "the checkouts disagree"
        manifest = layouts[0].blob(digest)
        for tag in tags:
            ref = f"docker://{registry.host}/{repository}:{tag}"
            raw = skopeo("inspect", "--tls-verify=false", *creds, "--raw", ref).stdout.encode()
            assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest, f"{ref} is not the packaged image"
            assert raw == manifest
            copied = tmp_path / f"copied-{repository.replace('/', '_')}-{tag}"
            skopeo(
                "copy",
                "--src-tls-verify=false",
                *(("--src-creds", registry.creds) if registry.creds else ()),
                ref,
                f"oci:{copied}:{tag}",
            )
            copy = Layout(copied)
            assert copy.top()["digest"] == digest
            assert copy.layer_digests() == layouts[0].layer_digests()
            assert copy.manifest()["config"]["digest"] == layouts[0].manifest()["config"]["digest"]
    for repository, tags in tags_per_repo.items():
        listed = json.loads(
            skopeo("list-tags", "--tls-verify=false", *creds, f"docker://{registry.host}/{repository}").stdout
        )
        assert sorted(listed["Tags"]) == sorted(tags), listed


@pytest.mark.registry
@requires_registry
def test_two_publishes_of_the_same_image_at_once_both_succeed(twin_roots: List[BuildRoot], tmp_path: Path) -> None:
    target = "examples/layered:layered"
    with start_registry(tmp_path / "registry", "token") as registry:
        publish_at_once(twin_roots, [target, target], registry, tmp_path)
        assert_registry_serves(registry, twin_roots, [target], tmp_path)


@pytest.mark.registry
@requires_registry
def test_two_images_sharing_a_layer_published_at_once_into_one_repository(
    twin_roots: List[BuildRoot], tmp_path: Path
) -> None:
    targets = [f"{TWINS}:img_a", f"{TWINS}:img_b"]
    a, b = (Layout(twin_roots[0].dist(PUBLISHED[t][0])) for t in targets)
    shared = set(a.layer_digests()) & set(b.layer_digests())
    assert len(shared) == 1 and a.layer_digests()[0] in shared, "the images share their first layer"
    with start_registry(tmp_path / "registry", "basic") as registry:
        publish_at_once(twin_roots, targets, registry, tmp_path)
        assert_registry_serves(registry, twin_roots, targets, tmp_path)


@pytest.mark.registry
@requires_registry
def test_an_image_and_one_built_on_it_published_at_once(twin_roots: List[BuildRoot], tmp_path: Path) -> None:
    targets = ["examples/layered:layered", "examples/derived:derived"]
    base = Layout(twin_roots[0].dist(PUBLISHED[targets[0]][0]))
    derived = Layout(twin_roots[0].dist(PUBLISHED[targets[1]][0]))
    assert derived.layer_digests()[:3] == base.layer_digests()
    with start_registry(tmp_path / "registry", "none") as registry:
        publish_at_once(twin_roots, targets, registry, tmp_path)
        assert_registry_serves(registry, twin_roots, targets, tmp_path)
