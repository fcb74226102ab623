"""Grid carbon intensity: embedded offline data, live providers, cache and fallback chain.

Public entry points (imported lazily so `import carbonguard.intensity` stays cheap):
`build_source`, `IntensitySource`, `resolve_zone`, `time_weighted_average`, `weighted_average`,
`DATASET_VERSION`.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "build_source": "carbonguard.intensity.factory",
    "IntensitySource": "carbonguard.intensity.source",
    "resolve_zone": "carbonguard.intensity.zones",
    "time_weighted_average": "carbonguard.intensity.timeseries",
    "weighted_average": "carbonguard.intensity.timeseries",
    "DATASET_VERSION": "carbonguard.intensity.dataset",
    "ProviderError": "carbonguard.intensity.errors",
    "UnknownZoneError": "carbonguard.intensity.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
