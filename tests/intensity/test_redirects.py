"""A provider that redirects must not receive-then-forward our API key to another host."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from carbonguard.intensity.errors import ProviderError
from carbonguard.intensity.providers._http import JsonHttp


def _server(handler: type[BaseHTTPRequestHandler], host: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("client_follows", [False, True], ids=["own-client", "caller-client-follows"])
def test_redirects_are_refused_and_the_key_stays_home(client_follows: bool) -> None:
    seen_elsewhere: list[dict[str, str]] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen_elsewhere.append(dict(self.headers))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    other = _server(Elsewhere, "127.0.0.2")

    class Redirector(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.2:{other.server_port}/v3/carbon-intensity/latest")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    home = _server(Redirector, "127.0.0.1")
    try:
        client = httpx.Client(follow_redirects=True) if client_follows else None
        http = JsonHttp("electricitymaps", timeout_s=2, max_retries=0, client=client)
        with pytest.raises(ProviderError, match="redirects are not followed"):
            http.get_json(f"http://127.0.0.1:{home.server_port}/v3/carbon-intensity/latest",
                          headers={"auth-token": "SECRET-TOKEN"})
        assert seen_elsewhere == []
    finally:
        home.shutdown()
        other.shutdown()
