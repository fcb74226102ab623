"""WattTime API v3: historical and forecast emissions rates, with a bearer token from `/login`.

`GET /login` with HTTP basic auth returns `{"token": "..."}`, valid for 30 minutes; we refresh it
after 25 minutes and once more on a 401. `GET /v3/historical` and `GET /v3/forecast` return
`{"data": [{"point_time": ..., "value": ...}], "meta": {"units": "lbs_co2_per_mwh",
"data_point_period_seconds": 300, ...}}`. Values in lbs/MWh are converted with
1 lb/MWh = 0.45359237 g/kWh. Signal `marginal` asks for `co2_moer`, `average` for `co2_aoer`
(historical only). The percentile signal index (`/v3/signal-index`) is never used as a g/kWh figure:
any unit other than lbs/MWh is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from carbonguard.intensity.errors import ProviderError
from carbonguard.intensity.providers._http import Fields, JsonHttp
from carbonguard.intensity.timeseries import require_utc
from carbonguard.models import IntensityPoint, Origin, Signal

DEFAULT_BASE_URL = "https://api.watttime.org"
G_PER_KWH_PER_LB_PER_MWH = 0.45359237
TOKEN_LIFETIME = timedelta(minutes=30)
TOKEN_REFRESH_AFTER = timedelta(minutes=25)
HISTORICAL_MAX = timedelta(days=30)
ACCEPTED_UNITS = frozenset({"lbs_co2_per_mwh"})


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class WattTimeSource:
    """Marginal (MOER) or average (AOER) emissions rates from WattTime, converted to g/kWh."""

    name = "watttime"

    def __init__(
        self,
        *,
        username: str | None,
        password: str | None,
        http: JsonHttp,
        base_url: str = DEFAULT_BASE_URL,
        signal: Literal["average", "marginal"] = "marginal",
        zone_map: dict[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._username = username
        self._password = password
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.signal = signal
        self.zone_map = {k.upper(): v for k, v in (zone_map or {}).items()}
        self.clock = clock
        self._token: str | None = None
        self._token_at: datetime | None = None
        self.logins = 0

    @property
    def signal_type(self) -> str:
        return "co2_moer" if self.signal == "marginal" else "co2_aoer"

    def _login(self) -> str:
        url = f"{self.base_url}/login"
        if not self._username or not self._password:
            raise ProviderError(
                self.name,
                url,
                "no credentials: set the username and password environment variables named in "
                "spec.intensity.watttime (defaults WATTTIME_USERNAME, WATTTIME_PASSWORD)",
            )
        body = self.http.get_json(url, auth=(self._username, self._password))
        f = Fields(self.name, url)
        token = f.get(f.obj(body, ""), "token", "")
        if not isinstance(token, str) or not token:
            raise f.fail("token", "expected a non-empty string")
        self._token, self._token_at = token, self.clock()
        self.logins += 1
        return token

    def _bearer(self) -> str:
        if (
            self._token is None
            or self._token_at is None
            or self.clock() - self._token_at >= TOKEN_REFRESH_AFTER
        ):
            return self._login()
        return self._token

    def _get(self, path: str, params: dict[str, str]) -> Any:
        url = f"{self.base_url}/{path}"
        try:
            return self.http.get_json(
                url, params=params, headers={"Authorization": f"Bearer {self._bearer()}"}
            )
        except ProviderError as err:
            if err.status != 401:
                raise
            self._token = None  # expired or revoked early: log in again, once
            return self.http.get_json(
                url, params=params, headers={"Authorization": f"Bearer {self._bearer()}"}
            )

    def _points(self, zone: str, body: Any, url: str, kind: str) -> list[IntensityPoint]:
        f = Fields(self.name, url)
        root = f.obj(body, "")
        meta = f.obj(f.get(root, "meta", ""), "meta")
        units = f.get(meta, "units", "meta")
        if units not in ACCEPTED_UNITS:
            raise f.fail(
                "meta.units",
                f"unit {units!r} is not an emissions rate in lbs/MWh; refusing to use it as g/kWh",
            )
        period = f.number(meta.get("data_point_period_seconds", 300), "meta.data_point_period_seconds")
        if not period:
            raise f.fail("meta.data_point_period_seconds", "must be positive")
        signal = meta.get("signal_type", self.signal_type)
        out = []
        for i, raw in enumerate(f.lst(f.get(root, "data", ""), "data")):
            item = f.obj(raw, f"data[{i}]")
            when = f.time(f.get(item, "point_time", f"data[{i}]"), f"data[{i}].point_time")
            value = f.number(f.get(item, "value", f"data[{i}]"), f"data[{i}].value", allow_none=True)
            if value is None:
                continue
            out.append(
                IntensityPoint(
                    zone=zone,
                    start=when,
                    duration_s=int(period),
                    intensity_g_per_kwh=value * G_PER_KWH_PER_LB_PER_MWH,
                    signal=Signal.MARGINAL if signal == "co2_moer" else Signal.AVERAGE,
                    kind=kind,  # type: ignore[arg-type]
                    provider=self.name,
                    origin=Origin.LIVE,
                    source=f"WattTime API v3 {signal} (lbs/MWh x 0.45359237)",
                )
            )
        return out

    def _region(self, zone: str) -> str:
        return self.zone_map.get(zone.upper(), zone.upper())

    def historical(self, zone: str, start: datetime, end: datetime) -> list[IntensityPoint]:
        out: list[IntensityPoint] = []
        t = start
        while t < end:
            t_end = min(t + HISTORICAL_MAX, end)
            params = {
                "region": self._region(zone),
                "start": _iso(t),
                "end": _iso(t_end),
                "signal_type": self.signal_type,
            }
            body = self._get("v3/historical", params)
            out += self._points(
                zone, body, f"{self.base_url}/v3/historical?region={params['region']}", "actual"
            )
            t = t_end
        return out

    def forecast(self, zone: str, horizon_hours: int = 24) -> list[IntensityPoint]:
        if self.signal_type != "co2_moer":
            raise ProviderError(
                self.name,
                f"{self.base_url}/v3/forecast",
                "WattTime publishes no forecast of the average signal",
            )
        params = {
            "region": self._region(zone),
            "signal_type": self.signal_type,
            "horizon_hours": str(horizon_hours),
        }
        body = self._get("v3/forecast", params)
        return self._points(zone, body, f"{self.base_url}/v3/forecast?region={params['region']}", "forecast")

    def series(self, zone: str, start: datetime, end: datetime) -> list[IntensityPoint]:
        start = require_utc(start, "start")
        end = require_utc(end, "end")
        now = self.clock()
        points: list[IntensityPoint] = []
        if start < now:
            aligned = start.replace(second=0, microsecond=0) - timedelta(minutes=start.minute % 5)
            points += self.historical(zone, aligned, min(end, now))
        if end > now:
            hours = max(1, min(72, int((end - now).total_seconds() // 3600) + 1))
            points += self.forecast(zone, hours)
        return [p for p in points if p.start < end and p.start + timedelta(seconds=p.duration_s) > start]
