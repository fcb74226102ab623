"""Safe YAML reading that remembers where every value came from.

PyYAML's `safe_load` forgets line numbers, silently keeps the last of duplicate keys, expands
aliases without limit and resolves scalars by YAML 1.1 rules. Policies are security-relevant input,
so this reader composes the node graph itself with a node and depth limit applied while composing,
resolves plain scalars by the YAML 1.2 core schema (refusing numbers YAML 1.1 would read
differently), refuses duplicate keys, multiple documents, oversize files and alias-expansion bombs,
keeps dates as strings (pydantic decides what a date is) and records `path -> (line, column)`.
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


PLAIN = "tag:carbonguard,2026:plain"  # a plain (unquoted, untagged) scalar, resolved below
STR, SEQ, MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution). PyYAML implements YAML
# 1.1, where `1:30` is 90 (sexagesimal), `1_000` is 1000, `017` is octal 15 and `yes`/`on`/`NO` are
# booleans. Policies are read with the core schema instead, so `NO` (Norway) stays text; and the
# forms that YAML 1.1 tools would read differently as numbers are refused rather than guessed.
_NULL = {"", "~", "null", "Null", "NULL"}
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(inf|Inf|INF)$")
_NAN = re.compile(r"^\.(nan|NaN|NAN)$")
_RADIX = re.compile(r"^[-+]?0[xXoObB][0-9a-fA-F_]+$")
_LEADING_ZERO = re.compile(r"^[-+]?0[0-9_]+$")
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")
_UNDERSCORE = re.compile(r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?$")


def _plain(value: str) -> Any:
    """A plain scalar's value under the YAML 1.2 core schema; ValueError for ambiguous numbers."""
    if value in _NULL:
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _LEADING_ZERO.match(value):
        raise ValueError(f"{value!r} has a leading zero (YAML 1.1 reads it as octal); write it without "
                         "the zero, or quote it to mean text")
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value):
        return float(value)
    if _INF.match(value):
        return float("-inf") if value.startswith("-") else float("inf")
    if _NAN.match(value):
        return float("nan")
    if _RADIX.match(value):
        raise ValueError(f"{value!r} is not a decimal number; write numbers in decimal, or quote it to mean text")
    if _SEXAGESIMAL.match(value):
        raise ValueError(f"{value!r} is ambiguous (YAML 1.1 reads it as a base-60 number); quote it to mean "
                         "text, or write the number in decimal")
    if "_" in value and _UNDERSCORE.match(value):
        raise ValueError(f"{value!r} is not a number here (digit separators are YAML 1.1 only); write it "
                         "without '_', or quote it to mean text")
    return value


def _scalar(node: yaml.ScalarNode) -> Any:
    if node.tag == PLAIN:
        return _plain(node.value)
    if node.tag == STR:  # quoted, block, or tagged !!str: always text
        return node.value
    raise ValueError(f"unsupported YAML tag {node.tag!r}")


class _LimitedComposer(yaml.composer.Composer, yaml.resolver.BaseResolver):
    """PyYAML's composer without its YAML 1.1 resolver, counting nodes while composing.

    Why count here: composing a 1 MB file of ~400k nodes takes seconds and hundreds of MB before
    any later check can run. The parser produces events lazily, so stopping the composer at the
    node limit stops reading the file too (benchmarks/policy_parse.py).
    """

    source: str
    composed: int
    depth: int

    def _start(self, source: str) -> None:
        yaml.composer.Composer.__init__(self)
        yaml.resolver.BaseResolver.__init__(self)
        self.source = source
        self.composed = 0
        self.depth = 0

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return PLAIN
        return super().resolve(kind, value, implicit)

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.composed += 1
        self.depth += 1
        try:
            if self.composed > MAX_NODES or self.depth > MAX_DEPTH + 1:
                mark = self.peek_event().start_mark
                message = (f"document has more than {MAX_NODES} nodes" if self.composed > MAX_NODES
                           else f"nesting deeper than {MAX_DEPTH} levels")
                raise InputError(Problem(message, self.source, mark.line + 1, mark.column + 1))
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _PyLoader(_LimitedComposer, yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    def __init__(self, stream: str, source: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        self._start(source)


if getattr(yaml, "__with_libyaml__", False):

    class _CLoader(_LimitedComposer, yaml._yaml.CParser):  # libyaml's scanner and parser: ~10x faster
        def __init__(self, stream: str, source: str) -> None:
            yaml._yaml.CParser.__init__(self, stream)
            self._start(source)

    _Loader: type = _CLoader
else:  # pragma: no cover - PyYAML built without libyaml
    _Loader = _PyLoader


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
            if node.tag != SEQ:
                raise self.error(node, f"unsupported YAML tag {node.tag!r}", path)
            return [self.build(child, (*path, i), depth + 1) for i, child in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            if node.tag != MAP:
                raise self.error(node, f"unsupported YAML tag {node.tag!r}", path)
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in (PLAIN, STR) \
                        or key_node.value == "<<":
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
    loader: _LimitedComposer | None = None
    try:
        loader = _Loader(text, source)
        nodes = []
        if loader.check_node():
            nodes.append(loader.get_node())
            if loader.check_node():  # a second document: say where its content starts, compose nothing
                loader.get_event()  # its DocumentStartEvent
                nodes.append(loader.peek_event())
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
    finally:
        if loader is not None:
            loader.dispose()
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
