"""The PR comment against a local stand-in for GitHub's REST API: find by marker, update, create, 403."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from carbonguard.github.comment import (
    MAX_BODY_CHARS,
    CommentError,
    make_client,
    marker,
    prepare_body,
    upsert_comment,
    workflow_escape,
)
from tests.github.fake_github import FakeGitHub

REPO = Path(__file__).resolve().parents[2]
TOKEN = "ghs_test_token_value"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    server = FakeGitHub()
    yield server
    server.close()


def upsert(github: FakeGitHub, body: str, tag: str = "train-small", number: int = 7):
    with make_client(TOKEN) as client:
        return upsert_comment(client, repo="acme/models", number=number, body=body, tag=tag, api_url=github.url)


def test_creates_the_comment_when_absent(github: FakeGitHub) -> None:
    github.add(7, "LGTM")
    result = upsert(github, "## Carbon budget: allow")
    assert result.action == "created"
    [_, created] = github.comments[7]
    assert created["body"].startswith(marker("train-small") + "\n## Carbon budget: allow")
    post = github.requests[-1]
    assert post.method == "POST" and post.path == "/repos/acme/models/issues/7/comments"
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.headers["accept"] == "application/vnd.github+json"
    assert post.headers["x-github-api-version"] == "2022-11-28"


def test_updates_in_place_found_on_a_later_page(github: FakeGitHub) -> None:
    for i in range(250):
        github.add(7, f"comment {i}")
    target = github.add(7, f"{marker('train-small')}\nold figures")
    github.add(7, f"{marker('other-job')}\nanother job's comment")
    result = upsert(github, "new figures")
    assert (result.action, result.comment_id) == ("updated", target)
    assert len(github.comments[7]) == 252  # nothing added
    body = next(c["body"] for c in github.comments[7] if c["id"] == target)
    assert body == f"{marker('train-small')}\nnew figures"
    gets = [r for r in github.requests if r.method == "GET"]
    assert len(gets) == 3  # pages of 100: the marker is on the third
    assert github.requests[-1].method == "PATCH"
    assert github.requests[-1].path == f"/repos/acme/models/issues/comments/{target}"


def test_a_second_run_updates_the_first_runs_comment(github: FakeGitHub) -> None:
    first = upsert(github, "run 1")
    second = upsert(github, "run 2")
    assert first.action == "created" and second.action == "updated"
    assert second.comment_id == first.comment_id and len(github.comments[7]) == 1


def test_fork_token_403_is_a_clear_error(github: FakeGitHub) -> None:
    github.refuse_writes = True
    with pytest.raises(CommentError) as info:
        upsert(github, "figures")
    message = str(info.value)
    assert "403" in message and "fork" in message and "read-only token" in message
    assert "result is unchanged" in message


def test_pagination_to_another_host_is_not_followed_with_the_token(github: FakeGitHub) -> None:
    other = FakeGitHub()
    try:
        for i in range(150):
            github.add(7, f"comment {i}")
        github.next_link_to = other.url
        with pytest.raises(CommentError, match="another host"):
            upsert(github, "figures")
        assert other.requests == []
    finally:
        other.close()


def test_body_over_githubs_limit_is_cut_with_a_note() -> None:
    body = prepare_body("x" * (MAX_BODY_CHARS * 2), "t")
    assert len(body) <= MAX_BODY_CHARS
    assert body.startswith(marker("t")) and "65,536-character limit" in body


@pytest.mark.parametrize("tag", ["", "a b", "x-->", "<!--", "a" * 101])
def test_hostile_tags_are_refused(tag: str) -> None:
    with pytest.raises(ValueError):
        marker(tag)


def test_workflow_escape_stops_command_injection() -> None:
    assert workflow_escape("50%\r\n::error::pwned") == "50%25%0D%0A::error::pwned"


def run_module(
    github: FakeGitHub, tmp_path: Path, *extra: str, token: str | None = TOKEN
) -> subprocess.CompletedProcess:
    body = tmp_path / "comment.md"
    body.write_text("## Carbon budget\n")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    env = {**os.environ, "GITHUB_REPOSITORY": "acme/models", "GITHUB_EVENT_PATH": str(event),
           "GITHUB_API_URL": github.url}
    env.pop("GITHUB_TOKEN", None)
    if token:
        env["GITHUB_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "carbonguard.github.comment", "--tag", "train-small",
                           "--body-file", str(body), *extra], cwd=REPO, capture_output=True, text=True, env=env,
                          timeout=60)


def test_module_reads_the_pr_number_from_the_event(github: FakeGitHub, tmp_path: Path) -> None:
    out = run_module(github, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "created pull-request comment" in out.stdout
    assert github.comments[7][0]["body"].startswith(marker("train-small"))


def test_module_403_warns_and_exits_0(github: FakeGitHub, tmp_path: Path) -> None:
    github.refuse_writes = True
    out = run_module(github, tmp_path)
    assert out.returncode == 0
    assert out.stdout.startswith("::warning title=carbonguard PR comment::GitHub refused to create")
    assert TOKEN not in out.stdout + out.stderr


def test_module_without_token_warns_and_exits_0(github: FakeGitHub, tmp_path: Path) -> None:
    out = run_module(github, tmp_path, token=None)
    assert out.returncode == 0 and "GITHUB_TOKEN is not set" in out.stdout
    assert github.requests == []


def test_unreachable_api_warns_and_exits_0(tmp_path: Path) -> None:
    dead = FakeGitHub()
    dead.close()
    out = run_module(dead, tmp_path)
    assert out.returncode == 0 and "could not reach GitHub" in out.stdout


def test_redirects_are_not_followed(github: FakeGitHub) -> None:
    assert make_client(TOKEN).follow_redirects is False
    assert isinstance(make_client(TOKEN), httpx.Client)


def test_the_checks_markdown_comment_is_posted_with_one_marker_and_updated_in_place(github: FakeGitHub) -> None:
    """The action's path: `check -o markdown --tag T` renders the marker itself; the upsert keeps it single."""
    from carbonguard.formats.registry import RenderOptions, render
    from tests.formats.check_cases import check_report

    tag = "examples/jobs/train-small.yaml"
    body = render("markdown", check_report(), RenderOptions(tag=tag))
    first = upsert(github, body, tag=tag)
    second = upsert(github, body.replace("over main", "over main (again)"), tag=tag)
    assert first.action == "created" and second.action == "updated" and second.comment_id == first.comment_id
    [posted] = github.comments[7]
    assert posted["body"].count("<!-- carbonguard:") == 1 and "(again)" in posted["body"]
