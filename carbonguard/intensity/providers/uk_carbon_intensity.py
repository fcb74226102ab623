"""GB Carbon Intensity API (NESO): national and regional half-hourly intensity, no key needed.

National: `GET /intensity/{from}/{to}` returns `{"data": [{"from": "2018-01-20T12:00Z",
"to": "2018-01-20T12:30Z", "intensity": {"forecast": 266, "actual": 263, "index": "moderate"}}]}`;
we use `actual` when present and the forecast otherwise (kind says which). Regional:
`GET /regional/intensity/{from}/{to}/regionid/{id}` returns `{"data": {"regionid": 13,
"shortname": "London", "data": [{"from", "to", "intensity": {"forecast", "index"}, ...}]}}`.
Zones: `GB` for the national grid, `GB-REGION-<id>` (1-17) for the API's regions. The `index` band
is a label, never used as a number. Data licence: CC BY 4.0.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from carbonguard.intensity.errors import ProviderError
from carbonguard.intensity.providers._http import Fields, JsonHttp
from carbonguard.intensity.timeseries import require_utc
from carbonguard.models import IntensityPoint, Origin, Signal

DEFAULT_BASE_URL = "https://api.carbonintensity.org.uk"
MAX_SPAN = timedelta(days=13)  # the API answers at most 14 days per request
REGION_IDS = range(1, 18)


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


class UkCarbonIntensitySource:
    """Half-hourly GB intensity, national or by region."""

    name = "uk-carbon-intensity"

    def __init__(self, *, http: JsonHttp, base_url: str = DEFAULT_BASE_URL) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    def _route(self, zone: str) -> tuple[str, int | None]:
        z = zone.strip().upper()
        if z in ("GB", "UK"):
            return "GB", None
        if z.startswith("GB-REGION-"):
            tail = z.removeprefix("GB-REGION-")
            if tail.isdigit() and int(tail) in REGION_IDS:
                return z, int(tail)
        raise ProviderError(
            self.name, self.base_url, f"zone {zone!r} is not served (use GB or GB-REGION-1 .. GB-REGION-17)"
        )

    def _entries(self, body: Any, f: Fields, regional: bool) -> tuple[list[Any], str]:
        root = f.obj(body, "")
        data = f.get(root, "data", "")
        if not regional:
            return f.lst(data, "data"), "data"
        if isinstance(data, list):  # some deployments wrap the region object in a one-item list
            if len(data) != 1:
                raise f.fail("data", f"expected one region object, got {len(data)}")
            data = data[0]
        region = f.obj(data, "data")
        return f.lst(f.get(region, "data", "data"), "data.data"), "data.data"

    def _points(self, zone: str, entries: list[Any], path: str, f: Fields) -> list[IntensityPoint]:
        out = []
        for i, raw in enumerate(entries):
            item = f.obj(raw, f"{path}[{i}]")
            t0 = f.time(f.get(item, "from", f"{path}[{i}]"), f"{path}[{i}].from")
            t1 = f.time(f.get(item, "to", f"{path}[{i}]"), f"{path}[{i}].to")
            if t1 <= t0:
                raise f.fail(f"{path}[{i}].to", "interval ends before it starts")
            intensity = f.obj(f.get(item, "intensity", f"{path}[{i}]"), f"{path}[{i}].intensity")
            actual = f.number(intensity.get("actual"), f"{path}[{i}].intensity.actual", allow_none=True)
            forecast = f.number(intensity.get("forecast"), f"{path}[{i}].intensity.forecast", allow_none=True)
            value, kind = (actual, "actual") if actual is not None else (forecast, "forecast")
            if value is None:
                continue  # neither figure published for this half-hour: a gap, not a zero
            out.append(
                IntensityPoint(
                    zone=zone,
                    start=t0,
                    duration_s=int((t1 - t0).total_seconds()),
                    intensity_g_per_kwh=value,
                    signal=Signal.AVERAGE,
                    kind=kind,  # type: ignore[arg-type]
                    provider=self.name,
                    origin=Origin.LIVE,
                    source="NESO Carbon Intensity API (carbonintensity.org.uk), CC BY 4.0",
                )
            )
        return out

    def series(self, zone: str, start: datetime, end: datetime) -> list[IntensityPoint]:
        start = require_utc(start, "start")
        end = require_utc(end, "end")
        z, region = self._route(zone)
        out: list[IntensityPoint] = []
        t = start
        while t < end:
            t_end = min(t + MAX_SPAN, end)
            path = f"intensity/{_iso(t)}/{_iso(t_end)}"
            if region is not None:
                path = f"regional/{path}/regionid/{region}"
            url = f"{self.base_url}/{path}"
            body = self.http.get_json(url)
            f = Fields(self.name, url)
            entries, where = self._entries(body, f, region is not None)
            out += self._points(z, entries, where, f)
            t = t_end
        unique = {p.start: p for p in out}  # chunk edges may repeat a half-hour
        return [
            p
            for p in sorted(unique.values(), key=lambda p: p.start)
            if p.start < end and p.start + timedelta(seconds=p.duration_s) > start
        ]
