"""Electricity Maps API v3: latest, history (24 h), past-range and forecast carbon intensity.

Requests carry the token in the `auth-token` header. Entries look like
`{"zone": "DE", "carbonIntensity": 302, "datetime": "2019-05-21T00:00:00.000Z",
"emissionFactorType": "lifecycle", "isEstimated": false, ...}` inside `history`, `data` or
`forecast` lists. Values are hourly averages (signal `average`); a null value is a gap, never 0.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from carbonguard.intensity.providers._http import Fields, JsonHttp
from carbonguard.intensity.timeseries import require_utc
from carbonguard.models import IntensityPoint, Origin, Signal

DEFAULT_BASE_URL = "https://api.electricitymap.org/v3"
STEP_S = 3600
PAST_RANGE_MAX = timedelta(days=10)  # the API's limit for hourly past-range queries


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


class ElectricityMapsSource:
    """Hourly average carbon intensity from Electricity Maps."""

    name = "electricitymaps"

    def __init__(
        self,
        *,
        token: str | None,
        http: JsonHttp,
        base_url: str = DEFAULT_BASE_URL,
        zone_map: dict[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._token = token
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.zone_map = {k.upper(): v for k, v in (zone_map or {}).items()}
        self.clock = clock

    def _headers(self) -> dict[str, str]:
        return {"auth-token": self._token} if self._token else {}

    def _get(self, path: str, params: dict[str, str]) -> tuple[Any, Fields]:
        url = f"{self.base_url}/{path}"
        body = self.http.get_json(url, params=params, headers=self._headers())
        return body, Fields(self.name, f"{url}?zone={params.get('zone', '')}")

    def _points(
        self, zone: str, entries: Any, path: str, f: Fields, kind: str | None
    ) -> list[IntensityPoint]:
        out = []
        for i, raw in enumerate(f.lst(entries, path)):
            item = f.obj(raw, f"{path}[{i}]")
            value = f.number(
                f.get(item, "carbonIntensity", f"{path}[{i}]"),
                f"{path}[{i}].carbonIntensity",
                allow_none=True,
            )
            when = f.time(f.get(item, "datetime", f"{path}[{i}]"), f"{path}[{i}].datetime")
            if value is None:
                continue  # no figure for that hour: leave the gap visible
            estimated = bool(item.get("isEstimated"))
            factor = item.get("emissionFactorType") or "lifecycle"
            out.append(
                IntensityPoint(
                    zone=zone,
                    start=when,
                    duration_s=STEP_S,
                    intensity_g_per_kwh=value,
                    signal=Signal.AVERAGE,
                    kind=kind or ("estimated" if estimated else "actual"),  # type: ignore[arg-type]
                    provider=self.name,
                    origin=Origin.LIVE,
                    source=f"Electricity Maps API v3 ({factor} emission factors)",
                    flags=(f"estimation:{item['estimationMethod']}",) if item.get("estimationMethod") else (),
                )
            )
        return out

    def _zone(self, zone: str) -> str:
        return self.zone_map.get(zone.upper(), zone.upper())

    def latest(self, zone: str) -> IntensityPoint:
        body, f = self._get("carbon-intensity/latest", {"zone": self._zone(zone)})
        points = self._points(zone, [f.obj(body, "")], "", f, None)
        if not points:
            raise f.fail("carbonIntensity", "latest figure is null")
        return points[0]

    def history(self, zone: str) -> list[IntensityPoint]:
        body, f = self._get("carbon-intensity/history", {"zone": self._zone(zone)})
        return self._points(zone, f.get(f.obj(body, ""), "history", ""), "history", f, None)

    def past_range(self, zone: str, start: datetime, end: datetime) -> list[IntensityPoint]:
        out: list[IntensityPoint] = []
        t = start
        while t < end:
            t_end = min(t + PAST_RANGE_MAX, end)
            params = {"zone": self._zone(zone), "start": _iso(t), "end": _iso(t_end)}
            body, f = self._get("carbon-intensity/past-range", params)
            out += self._points(zone, f.get(f.obj(body, ""), "data", ""), "data", f, None)
            t = t_end
        return out

    def forecast(self, zone: str) -> list[IntensityPoint]:
        body, f = self._get("carbon-intensity/forecast", {"zone": self._zone(zone)})
        return self._points(zone, f.get(f.obj(body, ""), "forecast", ""), "forecast", f, "forecast")

    def series(self, zone: str, start: datetime, end: datetime) -> list[IntensityPoint]:
        """Past hours from past-range, hours from now on from the forecast, clipped to the window."""
        start = require_utc(start, "start")
        end = require_utc(end, "end")
        now = self.clock()
        hour0 = start.replace(minute=0, second=0, microsecond=0)
        points: list[IntensityPoint] = []
        if hour0 < now:
            points += self.past_range(zone, hour0, min(end, now))
        if end > now:
            points += self.forecast(zone)
        return [p for p in points if p.start < end and p.start + timedelta(seconds=p.duration_s) > start]
