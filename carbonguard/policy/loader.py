"""Load a policy file into a validated `Policy`, reporting every problem as `file:line:col: field: message`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from carbonguard.errors import InputError, Problem
from carbonguard.policy.models import Policy
from carbonguard.policy.yamlsafe import MAX_BYTES, LocatedDocument, Path, format_path, load_located
from carbonguard.safe_read import STDIN, read_bytes


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy with the facts a decision must record: source, content hash, line numbers."""

    policy: Policy
    source: str
    content_hash: str
    document: LocatedDocument
    document_text: str = ""

    @property
    def name(self) -> str:
        return self.policy.metadata.name

    @property
    def version(self) -> str:
        return self.policy.metadata.version

    def line_of(self, *path: str | int) -> int | None:
        """Line of a policy element, e.g. `line_of("spec", "budgets", 0)`.

        An element the policy does not write (a rule left at its default) points at the key of its
        nearest written ancestor: `spec.measurement.estimated` with no `measurement` section is the
        `spec:` line, never the first line inside `spec` (which would name an unrelated field).
        """
        doc = self.document
        key = tuple(path)
        for cut in range(len(key), 0, -1):
            prefix = key[:cut]
            if prefix in doc.key_locations:
                return doc.key_locations[prefix][0]
            if prefix in doc.locations:  # a list item has no key: its own line
                return doc.locations[prefix][0]
        line, _ = doc.locate(())
        return line


def _message(error: dict[str, Any]) -> str:
    """Turn pydantic's wording into the short imperative a policy author needs."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()))
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {op} {bound}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}"
    if kind in ("string_too_short", "too_short"):
        return "must not be empty" if ctx.get("min_length") == 1 else f"is too short ({error['msg']})"
    if kind in ("string_too_long", "too_long"):
        return f"is too long ({error['msg']})"
    text = f", not the text {error.get('input')!r}" if isinstance(error.get("input"), str) else ""
    if kind in ("float_parsing", "float_type"):
        return "must be a number" + text
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "must be a whole number"
    if kind in ("finite_number",):
        return "must be a finite number"
    if kind in ("string_type",):
        return "must be a string"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false" + text
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a mapping"
    if kind in ("tuple_type", "list_type"):
        return "must be a list"
    if kind.startswith("date"):
        return "must be a real date written YYYY-MM-DD"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return error["msg"]


def _located(doc: LocatedDocument, path: Path, message: str, key: bool = False) -> Problem:
    line, column = doc.locate_key(path) if key else doc.locate(path)
    return Problem(message, doc.source, line, column, format_path(path) or None)


def validation_problems(doc: LocatedDocument, exc: ValidationError) -> list[Problem]:
    """Each pydantic error as `file:line:col: field: message` (shared by every YAML document kind)."""
    problems = []
    for error in exc.errors(include_url=False):
        path = tuple(error["loc"])
        if error["type"] == "missing":  # point at the mapping that lacks the field
            line, column = doc.locate_key(path[:-1]) if path[:-1] else (1, 1)
            problems.append(Problem(_message(error), doc.source, line, column, format_path(path)))
            continue
        key = error["type"] == "extra_forbidden"
        problems.append(_located(doc, path, _message(error), key=key))
    return problems


def _semantic_problems(doc: LocatedDocument, policy: Policy) -> list[Problem]:
    """Cross-field rules that need a precise location: waivers must name rules that exist."""
    problems = []
    known = policy.spec.known_rule_ids()
    for index, waiver in enumerate(policy.spec.waivers):
        if waiver.rule not in known:
            problems.append(
                _located(
                    doc,
                    ("spec", "waivers", index, "rule"),
                    f"names unknown rule {waiver.rule!r}; known rules: {', '.join(sorted(known))}",
                )
            )
    return problems


def parse_policy(text: str | bytes, source: str) -> LoadedPolicy:
    """Validate policy text; raises `InputError` with every problem found, each with file:line:col."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    doc = load_located(raw, source)
    if not isinstance(doc.data, dict):
        raise InputError(_located(doc, (), "a policy must be a mapping with apiVersion, kind, metadata, spec"))
    try:
        policy = Policy.model_validate(doc.data)
    except ValidationError as exc:
        raise InputError(validation_problems(doc, exc)) from None
    problems = _semantic_problems(doc, policy)
    if problems:
        raise InputError(problems)
    return LoadedPolicy(policy, source, hashlib.sha256(raw).hexdigest(), doc, raw.decode("utf-8"))


def load_policy(path: str | FsPath) -> LoadedPolicy:
    """Read and validate a policy file (`-` for stdin); unreadable or special files are `InputError`s."""
    source = "<stdin>" if str(path) == STDIN else str(path)
    raw = read_bytes(path, max_bytes=MAX_BYTES, what="policy file", allow_stdin=True)
    return parse_policy(raw, source)
