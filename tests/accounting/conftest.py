"""Accounting is priced against live-provider fakes too: reuse the intensity tests' HTTP servers."""

from tests.intensity.conftest import client, uk_server  # noqa: F401  (pytest fixtures)
