"""Real HTTP servers on 127.0.0.1 that speak each provider's documented JSON format.

Each server answers from deterministic data, records every request (path, query, headers), and can
be scripted to misbehave for the next N requests to a path: any status with headers, a malformed or
empty body, or a delay longer than the client's timeout.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests.intensity.helpers import gb_rows

UTC = timezone.utc


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | None = None  # None: the server's normal answer
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


def _parse_time(text: str) -> datetime:
    text = text.replace("Z", "+00:00")
    return datetime.fromisoformat(text).astimezone(UTC)


class FakeServer:
    """Base: routing, scripting and request log; subclasses implement `answer`."""

    def __init__(self) -> None:
        self.plans: dict[str, deque[Reply]] = defaultdict(deque)
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def plan(self, path_prefix: str, *replies: Reply) -> None:
        """The next requests whose path starts with `path_prefix` get these replies, in order."""
        with self._lock:
            self.plans[path_prefix].extend(replies)

    def count(self, path_prefix: str) -> int:
        return sum(1 for r in self.requests if r.path.startswith(path_prefix))

    def _scripted(self, path: str) -> Reply | None:
        with self._lock:
            for prefix, queue in self.plans.items():
                if path.startswith(prefix) and queue:
                    return queue.popleft()
        return None

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parsed = urlparse(h.path)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        seen = Seen("GET", unquote(parsed.path), query, {k.lower(): v for k, v in h.headers.items()})
        with self._lock:
            self.requests.append(seen)
        reply = self._scripted(seen.path)
        if reply is None or (reply.body is None and reply.status == 200):
            status, body, headers = self.answer(seen)
            if reply is not None:
                time.sleep(reply.delay_s)
        else:
            time.sleep(reply.delay_s)
            status, body, headers = reply.status, reply.body or b"", reply.headers
        data = body.encode() if isinstance(body, str) else body
        try:
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def answer(self, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    @staticmethod
    def json(obj: Any, status: int = 200) -> tuple[int, str, dict[str, str]]:
        return status, json.dumps(obj), {}


class ElectricityMapsFake(FakeServer):
    """`/v3/carbon-intensity/{latest,history,past-range,forecast}`; hourly value = 100 + hour of day."""

    TOKEN = "em-secret-token"

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.null_hours: set[datetime] = set()
        super().__init__()

    def entry(self, zone: str, t: datetime, *, estimated: bool = False) -> dict[str, Any]:
        value = None if t in self.null_hours else 100 + t.hour
        return {
            "zone": zone,
            "carbonIntensity": value,
            "datetime": t.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "updatedAt": self.now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "createdAt": self.now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "emissionFactorType": "lifecycle",
            "isEstimated": estimated,
            "estimationMethod": "TIME_SLICER_AVERAGE" if estimated else None,
        }

    def answer(self, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        if seen.headers.get("auth-token") != self.TOKEN:
            return self.json({"error": "Unauthorized"}, 401)
        zone = seen.query.get("zone", "")
        hour_now = self.now.replace(minute=0, second=0, microsecond=0)
        if seen.path.endswith("/latest"):
            return self.json(self.entry(zone, hour_now))
        if seen.path.endswith("/history"):
            hours = [hour_now - timedelta(hours=i) for i in range(24, 0, -1)]
            return self.json({"zone": zone, "history": [self.entry(zone, t) for t in hours]})
        if seen.path.endswith("/past-range"):
            t, end = _parse_time(seen.query["start"]), _parse_time(seen.query["end"])
            out = []
            while t < end:
                out.append(self.entry(zone, t, estimated=t.hour % 2 == 1))
                t += timedelta(hours=1)
            return self.json({"zone": zone, "data": out, "temporalGranularity": "hourly"})
        if seen.path.endswith("/forecast"):
            hours = [hour_now + timedelta(hours=i) for i in range(0, 24)]
            return self.json(
                {
                    "zone": zone,
                    "forecast": [
                        {"carbonIntensity": 100 + t.hour, "datetime": t.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
                        for t in hours
                    ],
                    "updatedAt": self.now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                }
            )
        return self.json({"error": "not found"}, 404)


class WattTimeFake(FakeServer):
    """`/login` (basic auth) and `/v3/{historical,forecast}` (bearer); 5-minute MOER of 1000 lbs/MWh."""

    USER, PASSWORD = "wt-user", "wt-pass"

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.tokens: list[str] = []
        self.revoked: set[str] = set()
        self.units = "lbs_co2_per_mwh"
        super().__init__()

    def answer(self, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        if seen.path == "/login":
            expected = "Basic " + base64.b64encode(f"{self.USER}:{self.PASSWORD}".encode()).decode()
            if seen.headers.get("authorization") != expected:
                return self.json({"error": "bad credentials"}, 401)
            token = f"wt-token-{len(self.tokens) + 1}"
            self.tokens.append(token)
            return self.json({"token": token})
        auth = seen.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens or auth[7:] in self.revoked:
            return self.json({"error": "invalid token"}, 401)
        signal = seen.query.get("signal_type", "co2_moer")
        meta = {
            "data_point_period_seconds": 300,
            "region": seen.query.get("region"),
            "signal_type": signal,
            "units": self.units,
            "warnings": [],
            "model": {"date": "2023-03-01", "type": "binned_regression"},
        }
        if seen.path == "/v3/historical":
            t, end = _parse_time(seen.query["start"]), _parse_time(seen.query["end"])
            data = []
            while t < end:
                data.append({"point_time": t.isoformat(), "value": 1000.0})
                t += timedelta(minutes=5)
            return self.json({"data": data, "meta": meta})
        if seen.path == "/v3/forecast":
            hours = int(seen.query.get("horizon_hours", "24"))
            t0 = self.now.replace(second=0, microsecond=0) - timedelta(minutes=self.now.minute % 5)
            data = [
                {"point_time": (t0 + timedelta(minutes=5 * i)).isoformat(), "value": 800.0}
                for i in range(hours * 12)
            ]
            return self.json({"data": data, "meta": dict(meta, generated_at=self.now.isoformat())})
        return self.json({"error": "not found"}, 404)


class UkCarbonIntensityFake(FakeServer):
    """`/intensity/{from}/{to}` and `/regional/intensity/{from}/{to}/regionid/{id}` from the GB fixture."""

    def __init__(self) -> None:
        self.rows = gb_rows()
        super().__init__()

    def entries(self, start: datetime, end: datetime, *, regional: bool) -> list[dict[str, Any]]:
        out = []
        for t, v in self.rows:
            t_end = t + timedelta(minutes=30)
            if t < end and t_end > start:
                item = {
                    "from": t.strftime("%Y-%m-%dT%H:%MZ"),
                    "to": t_end.strftime("%Y-%m-%dT%H:%MZ"),
                    "intensity": {"forecast": int(v), "index": "low"},
                }
                if not regional:
                    item["intensity"]["actual"] = None
                else:
                    item["generationmix"] = [{"fuel": "wind", "perc": 50.0}, {"fuel": "gas", "perc": 50.0}]
                out.append(item)
        return out

    def answer(self, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        parts = seen.path.strip("/").split("/")
        if parts[0] == "intensity" and len(parts) == 3:
            return self.json(
                {"data": self.entries(_parse_time(parts[1]), _parse_time(parts[2]), regional=False)}
            )
        if parts[:2] == ["regional", "intensity"] and len(parts) == 6 and parts[4] == "regionid":
            region = int(parts[5])
            entries = self.entries(_parse_time(parts[2]), _parse_time(parts[3]), regional=True)
            return self.json(
                {
                    "data": {
                        "regionid": region,
                        "dnoregion": "UKPN London",
                        "shortname": "London",
                        "data": entries,
                    }
                }
            )
        return self.json({"error": {"code": "400 Bad Request", "message": "Please enter a valid path"}}, 400)
