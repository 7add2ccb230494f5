"""The table `pants oci-verify` prints: one row per image and destination (target, reference,
result, detail), then, under a tag that differs, what differs: platforms and config keys, and
each differing layer with the paths that differ. Digests are shortened here; the JSON report
(dist/oci-verify.json) holds them whole."""

from __future__ import annotations

from collections import Counter
from typing import List, Optional, Sequence

from ocikit.contracts.verify import LayerDifference, TagVerdict

_HEADER = ("target", "reference", "result", "detail")
_INDENT = "    "


def short(digest: Optional[str]) -> str:
    """`sha256:` and 12 hex digits: enough to tell digests apart in a table."""
    if not digest:
        return "-"
    algorithm, _, hex_ = digest.partition(":")
    return f"{algorithm}:{hex_[:12]}"


def format_report(verdicts: Sequence[TagVerdict]) -> str:
    rows = [_HEADER, *((v.key, v.reference, v.status, v.detail) for v in verdicts)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines: List[str] = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
        if n:
            lines.extend(_INDENT + line for line in difference_lines(verdicts[n - 1]))
    lines.append(summary_line(verdicts))
    return "\n".join(line.rstrip() for line in lines)


def difference_lines(verdict: TagVerdict) -> List[str]:
    lines = [f"registry {short(verdict.registry_digest)}, here {short(verdict.digest)}"] if verdict.layers else []
    lines += [f"note: {note}" for note in verdict.notes]
    for layer in verdict.layers:
        lines.extend(layer_lines(layer))
    return lines


def layer_lines(layer: LayerDifference) -> List[str]:
    lines = [f"{layer.platform} layer {layer.index}: {layer.summary}"]
    for side, digest, diff_id in (
        ("registry", layer.registry_digest, layer.registry_diff_id),
        ("here", layer.here_digest, layer.here_diff_id),
    ):
        if digest:
            lines.append(f"  {side:<8} {short(digest)} (diff_id {short(diff_id)})")
    width = max((len(p.change) for p in layer.paths), default=0)
    lines += [f"  {p.change:<{width}}  {p.path}" + (f": {p.detail}" if p.detail else "") for p in layer.paths]
    if layer.more_paths:
        lines.append(f"  and {layer.more_paths} more path{'s' if layer.more_paths != 1 else ''}")
    return lines


def summary_line(verdicts: Sequence[TagVerdict]) -> str:
    if not verdicts:
        return "no destinations to verify"
    counts = Counter(v.status for v in verdicts)
    parts = "; ".join(f"{counts[status]} {status}" for status in sorted(counts))
    failing = sum(not v.ok for v in verdicts)
    verdict = "all verified" if not failing else f"{failing} not verified"
    return f"{len(verdicts)} destination{'s' if len(verdicts) != 1 else ''}: {parts} ({verdict})"
