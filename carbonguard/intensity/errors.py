"""Errors of the intensity layer: all are `InputError`s, so the CLI exits 2 and the gate can report them.

A provider that cannot give a figure (down, refusing us, answering nonsense) raises `ProviderError`;
the fallback chain catches it and asks the next source. A zone for which no figure exists at all
raises `UnknownZoneError` when the policy says `unknown_zone: block`.
"""

from __future__ import annotations

from carbonguard.errors import InputError, Problem


class ProviderError(InputError):
    """A live provider failed: the message names the provider, the URL and, for bad bodies, the field."""

    def __init__(
        self,
        provider: str,
        url: str,
        message: str,
        *,
        field: str | None = None,
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        self.provider = provider
        self.url = url
        self.field = field
        self.status = status
        self.retryable = retryable
        super().__init__(Problem(f"{provider}: {message}", source=url, field_path=field))


class UnknownZoneError(InputError):
    """No grid figure exists for a zone and the settings say to refuse rather than guess."""

    def __init__(self, zone: str, *, hint: str = "") -> None:
        self.zone = zone
        message = (
            f"no grid carbon intensity for zone {zone!r}; use a known zone "
            "(`carbonguard intensity --list-zones`), or accept the flagged world average with "
            "spec.intensity.unknown_zone: warn in a policy or --unknown-zone warn on the command line"
        )
        if hint:
            message += f" ({hint})"
        super().__init__(Problem(message, source="location", field_path="zone"))
