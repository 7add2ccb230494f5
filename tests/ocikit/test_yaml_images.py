"""`image:` values of deploy manifests: found wherever they are, replaced with every other byte
kept, and bad or hostile YAML refused with the file and line."""

from __future__ import annotations

import pytest
import yaml

from ocikit import yaml_images
from ocikit.yaml_images import (
    MAX_EXPANDED_NODES,
    MAX_FILE_BYTES,
    ManifestYamlError,
    find_image_values,
    replace_image_values,
)

NEW = "127.0.0.1:5000/team/web@sha256:" + "a" * 64

KUBERNETES = """\
# The web tier.
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}   # flow style stays
spec:
  template:
    spec:
      initContainers:
      - name: migrate
        image: team/web:1.0        # ours, by repository
      containers:
      - name: web
        image: "//team:web"
        imagePullPolicy: IfNotPresent
      - name: sidecar
        image: 'docker.io/library/nginx:1.25'
...
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - {name: job, image: team/web}
"""


def test_every_image_value_is_found_with_its_document_line_and_path() -> None:
    found = find_image_values(KUBERNETES.encode(), "deploy/web.yaml")
    assert [(v.value, v.line, v.document, v.path) for v in found] == [
        ("team/web:1.0", 10, 0, "spec.template.spec.initContainers[0].image"),
        ("//team:web", 13, 0, "spec.template.spec.containers[0].image"),
        ("docker.io/library/nginx:1.25", 16, 0, "spec.template.spec.containers[1].image"),
        ("team/web", 29, 1, "spec.jobTemplate.spec.template.spec.containers[0].image"),
    ]
    assert found[0].where == "deploy/web.yaml:10 (document 1, spec.template.spec.initContainers[0].image)"


def test_only_string_values_of_image_keys_count() -> None:
    text = """\
image: {repository: team/web, tag: "1.0"}
values:
  image: 12
  other: {image: null, imageName: team/web, "image": quoted/key}
  list: [image, {image: [a, b]}]
"""
    assert [v.value for v in find_image_values(text, "x.yaml")] == ["quoted/key"]


def _ours(value) -> str | None:
    return NEW if value.value.startswith(("team/", "//team")) else None


def test_replacing_keeps_every_other_byte_and_each_value_s_quoting() -> None:
    out = replace_image_values(KUBERNETES, "deploy/web.yaml", _ours)
    expected = (
        KUBERNETES.replace("image: team/web:1.0 ", f"image: {NEW} ")
        .replace('image: "//team:web"', f'image: "{NEW}"')
        .replace("image: team/web}", f"image: {NEW}}}")
    )
    assert out == expected
    documents = list(yaml.safe_load_all(out))
    containers = documents[0]["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == [NEW, "docker.io/library/nginx:1.25"]


def test_a_compose_file_with_anchors_merge_keys_and_aliases() -> None:
    text = """\
x-base: &base
  restart: always
  image: &web team/web
services:
  web:
    <<: *base
    ports: ["8080:8080"]
  worker:
    image: *web
    command: ["work"]
  db:
    image: docker.io/library/postgres:15
"""
    assert [v.value for v in find_image_values(text, "compose.yaml")] == ["team/web", "docker.io/library/postgres:15"]
    out = replace_image_values(text, "compose.yaml", _ours)
    assert out == text.replace("image: &web team/web", f"image: &web {NEW}")
    services = yaml.safe_load(out)["services"]
    assert (services["web"]["image"], services["worker"]["image"], services["db"]["image"]) == (
        NEW,
        NEW,
        "docker.io/library/postgres:15",
    )


@pytest.mark.parametrize(
    "value, written",
    [
        ("team/web\n", f"{NEW}\n"),
        ("'team/web'\n", f"'{NEW}'\n"),
        ('"team/web"\n', f'"{NEW}"\n'),
        ("!!str team/web\n", f"!!str {NEW}\n"),
        ("&a team/web\n", f"&a {NEW}\n"),
        ("|\n    team/web\n", f'"{NEW}"\n'),
        (">-\n    team/web\n", f'"{NEW}"\n'),
        ("team/\n    web\n", f"{NEW}\n"),  # a plain scalar folded over two lines
    ],
)
def test_each_scalar_style_is_replaced_in_place(value: str, written: str) -> None:
    out = replace_image_values(
        f"spec:\n  image: {value}  next: 1\n",
        "x.yaml",
        lambda v: NEW if v.value.replace(" ", "").strip() == "team/web" else None,
    )
    assert out == f"spec:\n  image: {written}  next: 1\n"
    assert yaml.safe_load(out)["spec"] == {"image": NEW, "next": 1}


def test_a_value_that_needs_quotes_is_double_quoted_and_crlf_lines_stay() -> None:
    ipv6 = "[::1]:5000/team/web@sha256:" + "b" * 64
    text = "a: 1\r\nimage: team/web\r\nb: 2\r\n"
    out = replace_image_values(text, "x.yaml", lambda v: ipv6)
    assert out == f'a: 1\r\nimage: "{ipv6}"\r\nb: 2\r\n'


def test_the_rewrite_is_checked_against_the_original(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yaml_images, "_written", lambda new, style: f"[{new}]")
    with pytest.raises(ManifestYamlError, match=r"^x.yaml:2: rewriting the image values would change this value"):
        replace_image_values("a: 1\nimage: team/web\n", "x.yaml", lambda v: NEW)


@pytest.mark.parametrize(
    "text, message",
    [
        ("spec:\n  containers: [\n    {image: a}\n", r"^bad.yaml:4: not valid YAML \(expected ',' or ']'"),
        ("a: b\n  c: d\n", r"^bad.yaml:2: not valid YAML \(mapping values are not allowed here\)"),
        ("a: *nowhere\n", r"^bad.yaml:1: not valid YAML \(found undefined alias 'nowhere'\)"),
        ("ok: 1\n---\n- [x\n", r"^bad.yaml:4: not valid YAML"),
    ],
)
def test_yaml_that_does_not_parse_names_the_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ManifestYamlError, match=message):
        find_image_values(text, "bad.yaml")


def _billion_laughs(levels: int) -> str:
    lines = ["l0: &l0 {image: team/web}"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def _merge_bomb(levels: int) -> str:
    lines = ["m0: &m0 {k0: v, image: team/web}"]
    lines += [f"m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * 9) + f"], k{i}: v}}" for i in range(1, levels + 1)]
    return "---\nok: 1\n---\n" + "\n".join(lines) + "\n"


def test_yaml_bombs_are_refused_before_anything_expands_them() -> None:
    # 9**9 (387 million) nodes, and a merge-key bomb that PyYAML's safe_load itself takes
    # exponential time to flatten: both are refused from the node graph, which is their size.
    with pytest.raises(
        ManifestYamlError,
        match=rf"^bomb.yaml:1: document 1 expands through its aliases to more than {MAX_EXPANDED_NODES} nodes",
    ):
        find_image_values(_billion_laughs(9), "bomb.yaml")
    with pytest.raises(ManifestYamlError, match=r"^bomb.yaml:4: document 2 expands through its aliases"):
        replace_image_values(_merge_bomb(8), "bomb.yaml", lambda v: NEW)
    # A few levels are a legitimate use of aliases.
    assert [v.value for v in find_image_values(_billion_laughs(3), "ok.yaml")] == ["team/web"]
    assert replace_image_values(_merge_bomb(3), "ok.yaml", lambda v: NEW).count(NEW) == 1


def test_oversized_and_undecodable_files_are_refused() -> None:
    with pytest.raises(
        ManifestYamlError, match=rf"^big.yaml: {MAX_FILE_BYTES + 1} bytes is more than a deploy manifest may have"
    ):
        find_image_values(b"#" * (MAX_FILE_BYTES + 1), "big.yaml")
    with pytest.raises(ManifestYamlError, match=r"^latin.yaml: not UTF-8"):
        find_image_values("image: caf\u00e9\n".encode("latin-1"), "latin.yaml")
