"""`oci_deploy_manifests`: `package` writes the YAML with image values resolved to the digests
`package` computes for the images; inference links the images; every bad value is named."""

from __future__ import annotations

import pytest
import yaml
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address, Addresses
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.engine.target import DependenciesRequest, InferredDependencies
from pants.testutil.rule_runner import RuleRunner

from ocikit.yaml_images import MAX_EXPANDED_NODES
from pants_oci.deploy_fields import OciDeployDependenciesField
from pants_oci.goals.package import OciImageFieldSet
from pants_oci.goals.package_deploy import OciDeployManifestsFieldSet
from pants_oci.util_rules.deploy_images import InferOciDeployDependencies, OciDeployInferenceFieldSet

REGISTRIES = "{'prod': {'address': 'registry.example.com', 'default': True}, 'local': {'address': '127.0.0.1:5000'}}"

IMAGES = """
files(name="f", sources=["hello.txt"])
oci_image(name="web", dependencies=[":f"], repository="team/web", image_tags=["1.0", "latest"])
oci_image(name="worker", dependencies=[":f"], env={"ROLE": "worker"}, registries=["@prod", "@local"])
oci_image(name="local_only", dependencies=[":f"], registries=["@local"])
oci_image(name="unpublished", dependencies=[":f"], skip_push=True)
"""

POD = """\
# The web pod: the comments and layout stay.
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: web
    image: //app:web          # by address
  - name: worker
    image: ":worker"
  - name: again
    image: team/web:1.0
  - name: db
    image: docker.io/library/postgres:15
"""

COMPOSE = (
    """\
services:
  web: {image: team/web}
  cache:
    image: registry.example.com/infra/cache@sha256:"""
    + "c" * 64
    + """
"""
)


@pytest.fixture
def deploy_runner(rule_runner: RuleRunner) -> RuleRunner:
    runner = RuleRunner(
        rules=[
            *rule_runner.rules,
            QueryRule(BuiltPackage, [OciDeployManifestsFieldSet]),
            QueryRule(InferredDependencies, [InferOciDeployDependencies]),
            QueryRule(Addresses, [DependenciesRequest]),
        ],
        target_types=rule_runner.target_types,
    )
    runner.set_options([f"--oci-registries={REGISTRIES}"], env_inherit={"PATH", "HOME"})
    return runner


def write(
    runner: RuleRunner,
    files: dict,
    deploy: str = 'oci_deploy_manifests(name="deploy", sources=["k8s/*.yaml", "compose.yml"])',
) -> None:
    runner.write_files(
        {"app/hello.txt": "hi", "app/BUILD": IMAGES + deploy + "\n", **{f"app/{k}": v for k, v in files.items()}}
    )


def package_deploy(runner: RuleRunner, name: str = "deploy") -> tuple[BuiltPackage, dict[str, str]]:
    target = runner.get_target(Address("app", target_name=name))
    built = runner.request(BuiltPackage, [OciDeployManifestsFieldSet.create(target)])
    contents = runner.request(DigestContents, [built.digest])
    return built, {fc.path: fc.content.decode() for fc in contents}


def image_digest(runner: RuleRunner, name: str) -> str:
    target = runner.get_target(Address("app", target_name=name))
    return runner.request(BuiltPackage, [OciImageFieldSet.create(target)]).artifacts[0].digest


def test_package_resolves_our_images_and_keeps_everything_else(deploy_runner: RuleRunner) -> None:
    write(deploy_runner, {"k8s/pod.yaml": POD, "compose.yml": COMPOSE})
    built, files = package_deploy(deploy_runner)
    web = f"registry.example.com/team/web@{image_digest(deploy_runner, 'web')}"
    worker = f"registry.example.com/worker@{image_digest(deploy_runner, 'worker')}"
    assert sorted(files) == ["app/deploy/compose.yml", "app/deploy/k8s/pod.yaml"]
    assert files["app/deploy/k8s/pod.yaml"] == (
        POD.replace("image: //app:web ", f"image: {web} ")
        .replace('image: ":worker"', f'image: "{worker}"')
        .replace("image: team/web:1.0", f"image: {web}")
    )
    assert files["app/deploy/compose.yml"] == COMPOSE.replace("{image: team/web}", f"{{image: {web}}}")
    assert built.artifacts[0].relpath == "app/deploy"
    assert built.artifacts[0].extra_log_lines == (
        f"    //app:web -> {web}",
        f"    :worker -> {worker}",
        f"    team/web -> {web}",
        f"    team/web:1.0 -> {web}",
    )
    pod = yaml.safe_load(files["app/deploy/k8s/pod.yaml"])
    assert [c["image"] for c in pod["spec"]["containers"]] == [web, worker, web, "docker.io/library/postgres:15"]


def test_the_registry_field_chooses_where_the_references_point(deploy_runner: RuleRunner) -> None:
    write(
        deploy_runner,
        {"k8s/w.yaml": "image: //app:worker\n"},
        'oci_deploy_manifests(name="deploy", sources=["k8s/*.yaml"], registry="@local")',
    )
    _, files = package_deploy(deploy_runner)
    assert files["app/deploy/k8s/w.yaml"] == f"image: 127.0.0.1:5000/worker@{image_digest(deploy_runner, 'worker')}\n"


def test_inference_links_the_named_images_so_dependents_see_the_manifests(deploy_runner: RuleRunner) -> None:
    write(deploy_runner, {"k8s/pod.yaml": POD, "compose.yml": COMPOSE + "  typo: {image: team/wbe}\n"})
    target = deploy_runner.get_target(Address("app", target_name="deploy"))
    inferred = deploy_runner.request(
        InferredDependencies, [InferOciDeployDependencies(OciDeployInferenceFieldSet.create(target))]
    )
    assert sorted(inferred.include) == [Address("app", target_name="web"), Address("app", target_name="worker")]
    dependencies = deploy_runner.request(Addresses, [DependenciesRequest(target[OciDeployDependenciesField])])
    assert sorted(dependencies) == sorted(inferred.include)


@pytest.mark.parametrize(
    "manifest, message",
    [
        (
            "image: team/wbe\n",
            r"The image value 'team/wbe' at app/k8s/m.yaml:1 \(document 1, image\) of app:deploy: it names no known "
            r"image: 'team/wbe' is the repository of no `oci_image` \(known: .*team/web.*\)\. .*'docker.io/team/wbe'",
        ),
        (
            "a: 1\n---\nspec: {image: postgres}\n",
            r"at app/k8s/m.yaml:3 \(document 2, spec.image\) of app:deploy: it names no known image: 'postgres'.*"
            r"'docker.io/library/postgres'",
        ),
        (
            "image: //app:f\n",
            r"The image value '//app:f' at app/k8s/m.yaml:1 .* names app:f, a `files` target: an "
            r"image value may name only `oci_image` targets",
        ),
        ("image: //app:nope\n", r"The image value '//app:nope' at app/k8s/m.yaml:1 .* names no target"),
        ("image: //no/such/dir:x\n", r"The image value '//no/such/dir:x' .* names no target"),
        ("image: team/web:2.0\n", r"app:web is tagged 1.0, latest, not '2.0'"),
        ("image: Team/Web\n", r"it is neither an `oci_image` address .* nor an image reference"),
        (
            "image: //app:local_only\n",
            r"app:deploy points its images at @prod \(registry.example.com\), but "
            r"app:local_only is not published there \(it is published to: @local\)",
        ),
        ("image: //app:unpublished\n", r"but app:unpublished is not published there \(it is published to: none\)"),
        (
            "spec:\n  containers: [\n    {image: a}\n",
            r"app/k8s/m.yaml:4: not valid YAML .* \(in the `sources` of app:deploy\)",
        ),
        (
            "\n".join(
                ["l0: &l0 {image: team/web}"]
                + [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)]
            ),
            rf"app/k8s/m.yaml:1: document 1 expands through its aliases to more than {MAX_EXPANDED_NODES} nodes",
        ),
    ],
)
def test_each_bad_value_names_the_target_file_line_and_value(
    deploy_runner: RuleRunner, manifest: str, message: str
) -> None:
    write(deploy_runner, {"k8s/m.yaml": manifest}, 'oci_deploy_manifests(name="deploy", sources=["k8s/*.yaml"])')
    with pytest.raises(ExecutionError, match=message):
        package_deploy(deploy_runner)


def test_two_images_with_one_repository_must_be_named_by_address(deploy_runner: RuleRunner) -> None:
    write(
        deploy_runner,
        {"k8s/m.yaml": "image: team/web\n"},
        'oci_image(name="web2", repository="team/web")\noci_deploy_manifests(name="deploy", sources=["k8s/*.yaml"])',
    )
    with pytest.raises(
        ExecutionError, match=r"'team/web' is the repository of 2 images \(app:web, app:web2\): name one by address"
    ):
        package_deploy(deploy_runner)


@pytest.mark.parametrize(
    "registries, field, message",
    [
        ("{'a': {'address': 'a.example.com'}}", "", r"no default registry in \[oci\].registries: choose"),
        (
            "{'a': {'address': 'a.example.com', 'default': True}, 'b': {'address': 'b.example.com', 'default': True}}",
            "",
            r"several default registries \(@a, @b\)",
        ),
        (
            REGISTRIES,
            ', registry="@nope"',
            r"unknown registry alias '@nope'; configured in \[oci\].registries: @local, @prod",
        ),
    ],
)
def test_the_registry_must_be_one_configured_registry(
    deploy_runner: RuleRunner, registries: str, field: str, message: str
) -> None:
    deploy_runner.set_options([f"--oci-registries={registries}"], env_inherit={"PATH", "HOME"})
    write(
        deploy_runner,
        {"k8s/m.yaml": "image: //app:web\n"},
        f'oci_deploy_manifests(name="deploy", sources=["k8s/*.yaml"]{field})',
    )
    with pytest.raises(ExecutionError, match=message):
        package_deploy(deploy_runner)


def test_a_registry_that_is_not_an_alias_is_refused_when_the_build_file_is_read(deploy_runner: RuleRunner) -> None:
    write(
        deploy_runner,
        {"k8s/m.yaml": "image: //app:web\n"},
        'oci_deploy_manifests(name="deploy", sources=["k8s/*.yaml"], registry="registry.example.com")',
    )
    with pytest.raises(
        ExecutionError,
        match=r"The `registry` field in target app:deploy has an invalid value "
        r"'registry.example.com': expected a registry alias",
    ):
        deploy_runner.get_target(Address("app", target_name="deploy"))
