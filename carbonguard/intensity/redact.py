"""Take every configured credential out of every message a provider's failure produces.

Why: some APIs echo the key they were sent in their error body ("invalid token abc123"), and our
errors quote a body excerpt, a redirect target or a field value. Those messages reach stderr, the
`provider_errors` of `--json` and the ledger. So the credentials we read (and the headers we send)
are collected in one `Secrets`, and every error leaving a provider passes `Secrets.redact_error`:
in the HTTP client, around each live source built by the factory, and in the fallback chain.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from carbonguard.errors import InputError

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 4  # shorter values are not real credentials, and redacting them would shred messages


class Secrets:
    """The credential values of one configuration, plus the encodings they travel in."""

    def __init__(self, values: Iterable[str | None] = ()) -> None:
        self._values: set[str] = set()
        for value in values:
            self.add(value)

    def __len__(self) -> int:
        return len(self._values)

    def add(self, value: str | None) -> None:
        """Remember a credential and its URL- and JSON-escaped forms (how an echo may quote it)."""
        if not value or len(value) < MIN_SECRET_CHARS:
            return
        self._values.add(value)
        for form in (quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]):
            if len(form) >= MIN_SECRET_CHARS:
                self._values.add(form)

    def add_header(self, value: str) -> None:
        """A header we send: the whole value and, for `Bearer X` / `Basic X`, the credential X."""
        self.add(value)
        scheme, _, credential = value.partition(" ")
        if credential and scheme.isalpha():
            self.add(credential.strip())

    def add_basic(self, username: str, password: str) -> None:
        """HTTP basic credentials: each part and the base64 form they are sent in."""
        self.add(username)
        self.add(password)
        self.add(base64.b64encode(f"{username}:{password}".encode()).decode("ascii"))

    def redact(self, text: str) -> str:
        """`text` with every known secret replaced by `[redacted]` (longest first)."""
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def redact_error(self, error: InputError) -> InputError:
        """The same error (same type and attributes) with every secret taken out of its text."""
        if not self._values:
            return error
        error.problems = [
            dataclasses.replace(
                p,
                message=self.redact(p.message),
                source=self.redact(p.source) if p.source else p.source,
                field_path=self.redact(p.field_path) if p.field_path else p.field_path,
            )
            for p in error.problems
        ]
        if isinstance(getattr(error, "url", None), str):
            error.url = self.redact(error.url)  # type: ignore[attr-defined]
        error.args = (str(error),)
        error.__cause__ = None  # a chained exception may quote the body again in a traceback
        error.__context__ = None
        return error


def redact(text: str, secrets: Secrets | None) -> str:
    """Module-level shorthand for code that holds an optional `Secrets`."""
    return secrets.redact(text) if secrets is not None else text


class RedactingSource:
    """Wraps an `IntensitySource` so that no error it raises carries a configured secret."""

    def __init__(self, inner, secrets: Secrets) -> None:
        self.inner = inner
        self.secrets = secrets
        self.name = inner.name

    def series(self, zone, start, end):
        try:
            return self.inner.series(zone, start, end)
        except InputError as error:
            raise self.secrets.redact_error(error) from None

    def __getattr__(self, name: str):
        return getattr(self.inner, name)
