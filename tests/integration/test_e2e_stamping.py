"""Stamped tags through the real ./pants, in a build root that is a git repository, against the
real Distribution registry on loopback, read back with skopeo: two commits give one image
digest (no layer rebuilt) and two commit tags; a dirty tree is marked; `{env.NAME}` and
`{image.digest_short}` stamp; oci-verify checks the stamped tags; `stamped_annotations` opts
into a digest per commit; bad input fails naming the target and field."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from e2e_support import BuildRoot, PantsRun
from image_checks import Layout
from real_parts import needs
from registry_fixtures import skopeo, start_registry

pytestmark = [pytest.mark.integration, pytest.mark.registry, needs("docker-registry", "skopeo", "git")]

TARGET = "stamp:web"
RELPATH = "stamp/web"
BUILD = """
files(name="files", sources=["hello.txt"])

oci_image(
    name="web",
    dependencies=[":files"],
    repository="stamp/{env.CHANNEL}",
    image_tags=["sha-{git.commit_short}", "{git.commit}", "d-{image.digest_short}", "fixed"],
    output_path="stamp/web",
)

oci_image(
    name="annotated",
    dependencies=[":files"],
    repository="stamp/annotated",
    stamped_annotations={"org.opencontainers.image.revision": "{git.commit}",
                         "org.opencontainers.image.version": "{env.CHANNEL}"},
    output_path="stamp/annotated",
)
"""


def git(root: BuildRoot, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root.path), "-c", "user.name=e2e", "-c", "user.email=e2e@example.com", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def root(e2e_base: Path):
    """A build root of its own (git-initialised: the session root stays a plain directory)."""
    root = BuildRoot.create(e2e_base / "pristine", e2e_base / "root-stamp", e2e_base / "state-stamp")
    root.write(".gitignore", "dist/\n.pants.d/\n.pids/\n")
    root.write("stamp/BUILD", BUILD)
    root.write("stamp/hello.txt", "hello\n")
    root.write("NOTES", "one\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    try:
        yield root
    finally:
        root.stop()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with start_registry(tmp_path_factory.mktemp("stamp-registry"), "none") as reg:
        yield reg


def options(registry) -> tuple:
    return (
        f"--oci-registries={{'r': {{'address': '{registry.host}', 'default': True}}}}",
        "--oci-stamp-env-vars=['CHANNEL=dev', 'BUILD_ID']",
    )


def publish(root: BuildRoot, registry, *targets: str, env: dict = None) -> PantsRun:
    """`package` (publish writes no layout to dist/), then `publish`."""
    root.package(*targets)
    return root.run("publish", *options(registry), *targets, env={"CHANNEL": "beta", **(env or {})})


def served_digest(registry, reference: str) -> str:
    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{registry.host}/{reference}", text=False).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def test_two_commits_give_one_digest_and_two_commit_tags(root: BuildRoot, registry) -> None:
    first_commit = git(root, "rev-parse", "HEAD")
    first = publish(root, registry, TARGET)
    assert first.returncode == 0, first.describe()
    digest = Layout(root.dist(RELPATH)).top()["digest"]
    hexdigest = digest.split(":")[1]
    stamped = [
        f"stamp/beta:sha-{first_commit[:12]}",
        f"stamp/beta:{first_commit}",
        f"stamp/beta:d-{hexdigest[:12]}",
        "stamp/beta:fixed",
    ]
    for reference in stamped:
        assert f"{registry.host}/{reference}" in first.output, first.describe()
        assert served_digest(registry, reference) == digest, reference
    record = json.loads(root.dist(f"{RELPATH}.publish.json").read_text())
    (pushed,) = record["pushed"]
    assert pushed["ref"] == f"{registry.host}/stamp/beta@{digest}"
    assert sorted(pushed["tags"]) == sorted(r.split(":", 1)[1] for r in stamped)
    assert Layout(root.dist(RELPATH)).tags() == ["fixed"], "the layout records the literal tags only"

    root.write("NOTES", "two\n")  # a commit that changes nothing of the image
    git(root, "commit", "-qam", "two")
    second_commit = git(root, "rev-parse", "HEAD")
    second = publish(root, registry, TARGET)
    assert second.returncode == 0, second.describe()
    assert second.layer_processes_run == [], "a new commit rebuilds no layer (the package before it built none either)"
    assert Layout(root.dist(RELPATH)).top()["digest"] == digest, "the same image digest for both commits"
    assert served_digest(registry, f"stamp/beta:sha-{second_commit[:12]}") == digest
    assert served_digest(registry, f"stamp/beta:sha-{first_commit[:12]}") == digest
    assert second_commit[:12] != first_commit[:12]


def test_a_dirty_tree_is_marked_and_oci_verify_checks_the_stamped_tags(root: BuildRoot, registry) -> None:
    commit = git(root, "rev-parse", "HEAD")
    root.write("NOTES", "uncommitted\n")
    try:
        run = publish(root, registry, TARGET)
        assert run.returncode == 0, run.describe()
        assert f"{registry.host}/stamp/beta:sha-{commit[:12]}-dirty" in run.output, run.describe()
        verify = root.run("oci-verify", *options(registry), TARGET, env={"CHANNEL": "beta"})
        assert verify.returncode == 0, verify.describe()
        assert f"stamp/beta:sha-{commit[:12]}-dirty" in verify.stdout, verify.describe()
        assert "{" not in verify.stdout, "no template reaches the report"
    finally:
        git(root, "checkout", "--", "NOTES")


def test_stamped_annotations_opt_into_a_digest_per_commit(root: BuildRoot, registry) -> None:
    commit = git(root, "rev-parse", "HEAD")
    packaged = root.run("package", *options(registry), "stamp:annotated")
    assert packaged.returncode == 0, packaged.describe()
    manifest = Layout(root.dist("stamp/annotated")).manifest()
    assert manifest["annotations"]["org.opencontainers.image.revision"] == commit
    assert manifest["annotations"]["org.opencontainers.image.version"] == "dev", "the allowlist's default"
    before = Layout(root.dist("stamp/annotated")).top()["digest"]
    git(root, "commit", "-q", "--allow-empty", "-m", "three")
    rebuilt = root.run("package", *options(registry), "stamp:annotated")
    assert rebuilt.returncode == 0, rebuilt.describe()
    assert Layout(root.dist("stamp/annotated")).top()["digest"] != before
    assert rebuilt.layer_processes_run == [], "only the manifest changes"


def test_bad_stamping_fails_naming_target_field_and_value(root: BuildRoot, registry) -> None:
    run = root.run("publish", *options(registry), TARGET, env={})  # CHANNEL falls back to its default
    assert run.returncode == 0, run.describe()
    assert f"{registry.host}/stamp/dev:fixed" in run.output, run.describe()
    root.write(
        "stamp/BUILD", BUILD + '\noci_image(name="bad", dependencies=[":files"], image_tags=["{env.BUILD_ID}"])\n'
    )
    try:
        run = publish(root, registry, "stamp:bad")
        assert run.returncode != 0
        assert (
            "The `image_tags` field in target stamp:bad has an invalid value '{env.BUILD_ID}': {env.BUILD_ID}: "
            "BUILD_ID is not set and [oci].stamp_env_vars gives it no default"
        ) in run.output, run.describe()
        run = publish(root, registry, "stamp:bad", env={"BUILD_ID": "not/a/tag"})
        assert run.returncode != 0
        assert "stamps to 'not/a/tag', not a valid tag" in run.output, run.describe()
    finally:
        root.write("stamp/BUILD", BUILD)
