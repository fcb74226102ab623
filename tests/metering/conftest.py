"""Fixtures for the metering tests: a fake pynvml, an empty powercap root, isolated meters."""

from __future__ import annotations

from types import SimpleNamespace

import pynvml
import pytest
from fake_pynvml import FakeNvmlState, make_fake_pynvml  # type: ignore[import-not-found]


@pytest.fixture
def nvml_state() -> FakeNvmlState:
    return FakeNvmlState()


@pytest.fixture
def fake_pynvml(nvml_state: FakeNvmlState) -> SimpleNamespace:
    return make_fake_pynvml(nvml_state)


@pytest.fixture
def no_gpu() -> SimpleNamespace:
    """A pynvml whose library is missing, as on a machine without the NVIDIA driver."""
    return make_fake_pynvml(FakeNvmlState(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND))


@pytest.fixture
def no_rapl(tmp_path):
    """An empty powercap root: the machine has no RAPL."""
    root = tmp_path / "powercap-empty"
    root.mkdir()
    return root


@pytest.fixture
def make_meter(no_rapl, no_gpu, tmp_path):
    """Build Meters isolated from this host's GPU, RAPL, cgroup and environment; closes them after."""
    from carbonguard.metering import Meter

    made: list[Meter] = []
    empty_cgroup = tmp_path / "cgroup-none"
    empty_cgroup.mkdir(exist_ok=True)

    def factory(**kwargs) -> Meter:
        kwargs.setdefault("nvml_backend", no_gpu)
        kwargs.setdefault("powercap_root", no_rapl)
        kwargs.setdefault("environ", {})
        kwargs.setdefault("cgroup_root", empty_cgroup)
        kwargs.setdefault("proc_self_cgroup", empty_cgroup / "absent")
        meter = Meter(**kwargs)
        made.append(meter)
        return meter

    yield factory
    for meter in made:
        meter.close()
