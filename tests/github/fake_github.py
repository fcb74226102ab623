"""A real HTTP server on 127.0.0.1 standing in for GitHub's issue-comment REST endpoints.

It keeps comments in memory and speaks the documented shapes: GET .../issues/{n}/comments paginated
with `per_page`/`page` and a `Link: <...>; rel="next"` header, PATCH .../issues/comments/{id} (200),
POST .../issues/{n}/comments (201). `refuse_writes` answers 403 the way a fork's read-only token is
refused; `next_link_to` points the pagination at another origin. Every request is logged.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None


@dataclass
class FakeGitHub:
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    refuse_writes: bool = False
    next_link_to: str | None = None
    page_size_cap: int = 100

    def __post_init__(self) -> None:
        self._next_id = 1000
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length)) if length else None

            def _log(self, body: Any = None) -> None:
                outer.requests.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                           body))

            def do_GET(self) -> None:
                self._log()
                parts = urlsplit(self.path)
                m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/issues/(\d+)/comments", parts.path)
                if not m:
                    return self._reply(404, {"message": "Not Found"})
                query = parse_qs(parts.query)
                per_page = min(int(query.get("per_page", ["30"])[0]), outer.page_size_cap)
                page = int(query.get("page", ["1"])[0])
                items = outer.comments.get(int(m.group(3)), [])
                chunk = items[(page - 1) * per_page: page * per_page]
                headers = {}
                if page * per_page < len(items):
                    base = outer.next_link_to or outer.url
                    headers["Link"] = f'<{base}{parts.path}?per_page={per_page}&page={page + 1}>; rel="next"'
                self._reply(200, chunk, headers)

            def do_PATCH(self) -> None:
                body = self._body()
                self._log(body)
                m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/issues/comments/(\d+)", self.path)
                if outer.refuse_writes:
                    return self._reply(403, {"message": "Resource not accessible by integration"})
                for items in outer.comments.values():
                    for c in items:
                        if m and c["id"] == int(m.group(3)):
                            c["body"] = body["body"]
                            return self._reply(200, c)
                self._reply(404, {"message": "Not Found"})

            def do_POST(self) -> None:
                body = self._body()
                self._log(body)
                m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/issues/(\d+)/comments", self.path)
                if outer.refuse_writes:
                    return self._reply(403, {"message": "Resource not accessible by integration"})
                if not m:
                    return self._reply(404, {"message": "Not Found"})
                outer._next_id += 1
                c = {"id": outer._next_id, "body": body["body"],
                     "html_url": f"https://github.example/c/{outer._next_id}", "user": {"login": "github-actions[bot]"}}
                outer.comments.setdefault(int(m.group(3)), []).append(c)
                self._reply(201, c)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, number: int, body: str, login: str = "someone") -> int:
        self._next_id += 1
        self.comments.setdefault(number, []).append({"id": self._next_id, "body": body, "user": {"login": login},
                                                     "html_url": f"https://github.example/c/{self._next_id}"})
        return self._next_id

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
