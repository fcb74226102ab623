"""Safe YAML reading that remembers where every value came from.

PyYAML's `safe_load` forgets line numbers, silently keeps the last of duplicate keys and expands
aliases without limit. Policies are security-relevant input, so this reader composes the node graph
itself, refuses duplicate keys, multiple documents, oversize files and alias-expansion bombs, keeps
timestamps as strings (pydantic decides what a date is) and records `path -> (line, column)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from carbonguard.errors import InputError, Problem

MAX_BYTES = 1_000_000
MAX_NODES = 20_000
MAX_DEPTH = 64

Path = tuple[str | int, ...]


@dataclass
class LocatedDocument:
    """A parsed YAML document plus the 1-based line and column of every node, keyed by path."""

    data: Any
    source: str
    locations: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_locations: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path) -> tuple[int | None, int | None]:
        """Line and column of the deepest known ancestor of `path` (a missing key points at its parent)."""
        for cut in range(len(path), -1, -1):
            prefix = tuple(path[:cut])
            if prefix in self.locations:
                return self.locations[prefix]
        return None, None

    def locate_key(self, path: Path) -> tuple[int | None, int | None]:
        """Line of a mapping key itself, falling back to its value's location."""
        if path in self.key_locations:
            return self.key_locations[path]
        return self.locate(path)


_SCALAR = yaml.constructor.SafeConstructor()
# YAML 1.2 numbers that PyYAML's YAML 1.1 resolver leaves as strings (`1e-9`, `5e3`: no dot). Only
# plain scalars qualify, so a quoted "1e-9" stays a string and is refused where a number belongs.
_YAML12_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+$")


def _scalar(node: yaml.ScalarNode) -> Any:
    tag = node.tag
    if tag == "tag:yaml.org,2002:timestamp":
        return node.value  # keep dates as text; the model validates their format strictly
    if tag in (
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
    ):
        return _SCALAR.construct_object(node, deep=True)
    if tag == "tag:yaml.org,2002:str":
        if node.style is None and _YAML12_FLOAT.match(node.value):
            return float(node.value)
        return node.value
    raise ValueError(f"unsupported YAML tag {tag!r}")


class _Builder:
    def __init__(self, source: str) -> None:
        self.doc = LocatedDocument(data=None, source=source)
        self.count = 0

    def error(self, node: yaml.Node, message: str, path: Path) -> InputError:
        mark = node.start_mark
        return InputError(
            Problem(message, self.doc.source, mark.line + 1, mark.column + 1, _format_path(path) or None)
        )

    def build(self, node: yaml.Node, path: Path, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.error(node, f"document expands to more than {MAX_NODES} nodes (alias bomb?)", path)
        if depth > MAX_DEPTH:
            raise self.error(node, f"nesting deeper than {MAX_DEPTH} levels", path)
        mark = node.start_mark
        self.doc.locations[path] = (mark.line + 1, mark.column + 1)
        if isinstance(node, yaml.ScalarNode):
            try:
                return _scalar(node)
            except (ValueError, yaml.YAMLError, OverflowError) as exc:
                raise self.error(node, str(exc).splitlines()[0], path) from None
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise self.error(node, f"unsupported YAML tag {node.tag!r}", path)
            return [self.build(child, (*path, i), depth + 1) for i, child in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            if node.tag != "tag:yaml.org,2002:map":
                raise self.error(node, f"unsupported YAML tag {node.tag!r}", path)
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    raise self.error(key_node, "mapping keys must be plain scalars (no merge keys)", path)
                key = str(key_node.value)
                if key in result:
                    raise self.error(key_node, f"duplicate key {key!r}", path)
                kmark = key_node.start_mark
                self.doc.key_locations[(*path, key)] = (kmark.line + 1, kmark.column + 1)
                result[key] = self.build(value_node, (*path, key), depth + 1)
            return result
        raise self.error(node, "unsupported YAML node", path)


def _format_path(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


format_path = _format_path


def load_located(text: str | bytes, source: str, what: str = "policy") -> LocatedDocument:
    """Parse one YAML document; every failure is an `InputError` naming `source`, line and column.

    `what` names the kind of document in messages ('policy', 'job spec').
    """
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise InputError(Problem(f"file is larger than {MAX_BYTES} bytes", source))
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = text[: exc.start].count(b"\n") + 1
            column = exc.start - (text.rfind(b"\n", 0, exc.start) + 1) + 1
            raise InputError(Problem(f"not UTF-8 text (byte {exc.start})", source, line, column)) from None
    if len(text) > MAX_BYTES:
        raise InputError(Problem(f"file is larger than {MAX_BYTES} bytes", source))
    builder = _Builder(source)
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        message = exc.problem or exc.context or "invalid YAML"
        raise InputError(Problem(f"invalid YAML: {message}", source, line, column)) from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        raise InputError(
            Problem(f"invalid YAML: character {exc.character!r} is not allowed", source, line, column)
        ) from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else repr(exc)
        raise InputError(Problem(f"invalid YAML: {first}", source, 1, 1)) from None
    if not nodes:
        raise InputError(Problem(f"empty document: expected a {what} mapping", source, 1, 1))
    if len(nodes) > 1:
        mark = nodes[1].start_mark
        raise InputError(
            Problem(f"more than one YAML document; put one {what} per file", source, mark.line + 1, mark.column + 1)
        )
    try:
        builder.doc.data = builder.build(nodes[0], (), 0)
    except RecursionError:
        raise InputError(Problem(f"nesting deeper than {MAX_DEPTH} levels", source, 1, 1)) from None
    return builder.doc
