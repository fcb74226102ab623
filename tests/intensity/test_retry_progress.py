"""A retried provider call tells the person waiting: each backoff is announced to `on_retry`, and the
CLI turns that into a bar of attempts on stderr (never on stdout, never when nothing was retried)."""

from __future__ import annotations

import pytest

from carbonguard.cli.progress import RetryProgress
from carbonguard.intensity.providers._http import JsonHttp
from tests.intensity.fakes import Reply
from tests.intensity.test_provider_electricitymaps import END, START, source

PATH = "/v3/carbon-intensity/past-range"


def _with_hook(make_http, on_retry):
    def make(provider: str, **kw) -> JsonHttp:
        http = make_http(provider, **kw)
        http.on_retry = on_retry
        return http
    return make


def test_each_backoff_is_announced_before_the_wait(em_server, make_http, sleeps) -> None:
    seen: list[tuple[str, int, int, float]] = []
    em_server.plan(PATH, Reply(503, ""), Reply(503, ""))
    points = source(em_server, _with_hook(make_http, lambda *a: seen.append(a))).series("DE", START, END)
    assert len(points) == 3
    assert [(p, made, allowed) for p, made, allowed, _ in seen] == [("electricitymaps", 1, 4),
                                                                     ("electricitymaps", 2, 4)]
    assert [wait for *_, wait in seen] == sleeps  # announced exactly the waits that were slept


def test_the_cli_draws_a_bar_of_attempts_on_stderr(em_server, make_http, sleeps,
                                                   capsys: pytest.CaptureFixture) -> None:
    em_server.plan(PATH, Reply(503, ""), Reply(503, ""))
    with RetryProgress(force=True) as on_retry:
        source(em_server, _with_hook(make_http, on_retry)).series("DE", START, END)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("electricitymaps: retrying") and "2/4 attempts" in captured.err


def test_no_retry_no_bar(em_server, make_http, sleeps, capsys: pytest.CaptureFixture) -> None:
    with RetryProgress(force=True) as on_retry:
        source(em_server, _with_hook(make_http, on_retry)).series("DE", START, END)
    assert capsys.readouterr().err == "" and sleeps == []


def test_off_a_terminal_nothing_is_drawn(em_server, make_http, sleeps, capsys: pytest.CaptureFixture) -> None:
    em_server.plan(PATH, Reply(503, ""))
    with RetryProgress() as on_retry:
        source(em_server, _with_hook(make_http, on_retry)).series("DE", START, END)
    assert capsys.readouterr().err == "" and len(sleeps) == 1
