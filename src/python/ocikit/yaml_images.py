"""The `image:` values of deploy manifests (Kubernetes, Compose; multi-document YAML): found,
and replaced with nothing else in the file touched.

An image value is the string value of any mapping key `image`, at any depth of any document
(`spec.containers[].image`, `services.web.image`, a CronJob's `jobTemplate`...). Values that
are not strings (a mapping such as Helm's `image: {repository: ...}`, a number, null) are left
alone.

Replacing splices the new value into the original text where PyYAML's safe composer says the
old one is, so comments, key order, quoting, anchors and formatting all stay; a value defined
once with an anchor (`&img`) changes everywhere it is used through aliases. The result is
parsed again and compared with the original, node for node: anything but the replaced values
differing is an error, never a silently different file.

Bounded input: a file larger than MAX_FILE_BYTES, or whose aliases would expand to more than
MAX_EXPANDED_NODES nodes (a "billion laughs" or merge-key bomb, which consumers such as
`podman kube play` would expand), is refused. Composing and every walk here follow aliases
once, so a bomb costs no more than its size.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Optional

import yaml

from ocikit.errors import OcikitError

MAX_FILE_BYTES = 1 << 20
MAX_EXPANDED_NODES = 1_000_000

_STR_TAG = "tag:yaml.org,2002:str"
# What may stand between a node's start (its anchor or tag) and the scalar itself.
_PROPERTIES_RE = re.compile(r"(?:(?:&[^\s,\[\]{}]+|![^\s,\[\]{}]*)\s+)*")
_PLAIN_SAFE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]*$")


class ManifestYamlError(OcikitError, ValueError):
    """A deploy manifest that cannot be read or rewritten: the message names the file and line."""


@dataclass(frozen=True)
class ImageValue:
    value: str
    filename: str
    line: int  # 1-based
    document: int  # 0-based
    path: str  # e.g. spec.containers[0].image

    @property
    def where(self) -> str:
        return f"{self.filename}:{self.line} (document {self.document + 1}, {self.path})"


def _decode(data: str | bytes, filename: str) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise ManifestYamlError(
            f"{filename}: {len(data)} bytes is more than a deploy manifest may have ({MAX_FILE_BYTES}); "
            "split it into several files"
        )
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ManifestYamlError(f"{filename}: not UTF-8 ({e})") from None


def _compose(text: str, filename: str) -> list[yaml.Node]:
    try:
        documents = [d for d in yaml.compose_all(text, Loader=yaml.SafeLoader)]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise ManifestYamlError(f"{filename}{line}: not valid YAML ({problem})") from None
    for number, document in enumerate(documents):
        size = _expanded_size(document)
        if size > MAX_EXPANDED_NODES:
            raise ManifestYamlError(
                f"{filename}:{document.start_mark.line + 1}: document {number + 1} expands through its "
                f"aliases to more than {MAX_EXPANDED_NODES} nodes (a YAML bomb?): refused"
            )
    return documents


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _expanded_size(root: yaml.Node) -> int:
    """The node count with every alias expanded, computed once per node (aliases are shared
    nodes): a few hundred bytes can stand for billions of nodes."""
    sizes: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if children_done:
            sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in _children(node)), MAX_EXPANDED_NODES + 1)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)
    return sizes[id(root)]


def _image_nodes(document: yaml.Node) -> Iterator[tuple[yaml.ScalarNode, str]]:
    """Each string value of an `image` key, once (however many aliases reach it), with the
    path it was first reached by."""
    visited: set[int] = set()  # mappings and sequences
    yielded: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(document, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                child = f"{path}.{name}" if path else str(name)
                if name == "image" and key.tag == _STR_TAG and isinstance(value, yaml.ScalarNode):
                    if value.tag == _STR_TAG and id(value) not in yielded:
                        yielded.add(id(value))
                        yield value, child
                    continue
                stack.append((value, child))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(node.value))))


def find_image_values(data: str | bytes, filename: str) -> tuple[ImageValue, ...]:
    """Every `image:` string value of every document, in document and file order."""
    text = _decode(data, filename)
    found = []
    for number, document in enumerate(_compose(text, filename)):
        for node, path in _image_nodes(document):
            found.append(ImageValue(node.value, filename, node.start_mark.line + 1, number, path))
    return tuple(sorted(found, key=lambda v: (v.document, v.line, v.path)))


def _scalar_span(text: str, node: yaml.ScalarNode) -> tuple[int, int]:
    """Where the scalar itself is in `text`: after its anchor and tag, before trailing space."""
    properties = _PROPERTIES_RE.match(text, node.start_mark.index)
    assert properties is not None  # `(...)*` matches the empty string
    start = properties.end()
    end = node.end_mark.index
    while end > start and text[end - 1] in " \t\r\n":
        end -= 1
    return start, end


def _written(new: str, style: Optional[str]) -> str:
    if style == "'" and "'" not in new:
        return f"'{new}'"
    if style is None and _PLAIN_SAFE_RE.match(new):
        return new
    return json.dumps(new)  # a JSON string is a YAML double-quoted scalar


def replace_image_values(data: str | bytes, filename: str, replacement: Callable[[ImageValue], Optional[str]]) -> str:
    """The text with each image value `replacement` gives a new string for (None: unchanged)
    replaced in place; everything else is kept byte for byte."""
    text = _decode(data, filename)
    documents = _compose(text, filename)
    new_values: dict[int, str] = {}
    spans = []
    for number, document in enumerate(documents):
        for node, path in _image_nodes(document):
            new = replacement(ImageValue(node.value, filename, node.start_mark.line + 1, number, path))
            if new is None or new == node.value:
                continue
            new_values[id(node)] = new
            start, end = _scalar_span(text, node)
            spans.append((start, end, _written(new, node.style)))
    out = text
    for start, end, written in sorted(spans, reverse=True):
        out = out[:start] + written + out[end:]
    _check_same_but_images(documents, _compose(out, filename), new_values, filename)
    return out


def _check_same_but_images(
    before: list[yaml.Node], after: list[yaml.Node], new_values: Mapping[int, str], filename: str
) -> None:
    """The rewritten documents are the originals with only the replaced values changed (same
    tags, keys, structure and sharing), compared once per pair of nodes."""
    if len(before) != len(after):
        raise ManifestYamlError(f"{filename}: rewriting the image values changed the number of documents")
    seen: set[tuple[int, int]] = set()
    stack = list(zip(before, after))
    while stack:
        old, new = stack.pop()
        if (id(old), id(new)) in seen:
            continue
        seen.add((id(old), id(new)))
        expected = new_values.get(id(old), old.value) if isinstance(old, yaml.ScalarNode) else None
        same = (
            type(old) is type(new)
            and old.tag == new.tag
            and (
                expected == new.value
                if isinstance(old, yaml.ScalarNode)
                else len(_children(old)) == len(_children(new))
            )
        )
        if not same:
            raise ManifestYamlError(
                f"{filename}:{old.start_mark.line + 1}: rewriting the image values would change this "
                "value too (is an image value written in a form this tool cannot replace?); nothing was written"
            )
        stack.extend(zip(_children(old), _children(new)))
