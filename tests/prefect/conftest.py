"""A real Prefect API for these tests: `prefect_test_harness` starts a temporary local server."""

from __future__ import annotations

import pytest

pytest.importorskip("prefect", reason="Prefect is an extra: pip install carbonguard[prefect]")


@pytest.fixture(scope="session", autouse=True)
def prefect_api():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
