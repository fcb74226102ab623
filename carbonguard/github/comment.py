"""One pull-request comment per check, updated in place: found by a hidden marker, patched, or created.

    python -m carbonguard.github.comment --repo OWNER/NAME --pr N --tag TAG --body-file FILE

Uses the documented REST endpoints (GET /repos/{owner}/{repo}/issues/{n}/comments, paginated by its
Link header; PATCH /repos/{owner}/{repo}/issues/comments/{id}; POST /repos/{owner}/{repo}/issues/{n}/comments).
The marker `<!-- carbonguard:TAG -->` is invisible in the rendered comment, so re-runs edit the same
comment instead of adding one per push (the Infracost pattern).

Posting a comment is a courtesy, never the verdict: any failure here prints a workflow warning and
exits 0, so the budget check's own exit code decides the job. A pull request from a fork gets a
read-only token and a 403; the warning says so. The token is sent only to the API origin: a Link
header pointing elsewhere is not followed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
MAX_BODY_CHARS = 65_536  # GitHub refuses longer comment bodies
MAX_PAGES = 50  # 5,000 comments at 100 a page: enough for any pull request, and no endless Link loop
TRUNCATED_NOTE = "\n\n_Comment cut to fit GitHub's 65,536-character limit; see the workflow run for the rest._\n"
_TAG = re.compile(r"^[A-Za-z0-9._/-]{1,100}$")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class CommentError(Exception):
    """The comment could not be posted; the message says why and what to do."""


@dataclass(frozen=True)
class CommentResult:
    action: Literal["created", "updated", "skipped"]
    comment_id: int | None = None
    url: str | None = None
    warning: str | None = None


def marker(tag: str) -> str:
    if not _TAG.match(tag):
        raise ValueError(f"comment tag {tag!r} must be 1-100 of A-Z a-z 0-9 . _ / -")
    return f"<!-- carbonguard:{tag} -->"


def prepare_body(body: str, tag: str) -> str:
    """The body with its marker first (added when missing), cut to GitHub's limit with a note."""
    mark = marker(tag)
    if mark not in body:
        body = f"{mark}\n{body}"
    if len(body) > MAX_BODY_CHARS:
        body = body[: MAX_BODY_CHARS - len(TRUNCATED_NOTE)] + TRUNCATED_NOTE
    return body


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port


def _fail(response: httpx.Response, doing: str) -> CommentError:
    try:
        message = str(response.json().get("message", ""))[:200]
    except (ValueError, AttributeError):
        message = ""
    if response.status_code == 403 or (response.status_code == 404 and doing != "list"):
        return CommentError(
            f"GitHub refused to {doing} the pull-request comment ({response.status_code}"
            f"{': ' + message if message else ''}). A pull request from a fork gets a read-only token; "
            "give the job `pull-requests: write`, or post the comment from a `workflow_run` workflow. "
            "The budget check result is unchanged."
        )
    return CommentError(f"GitHub answered {response.status_code} when asked to {doing} the comment"
                        f"{': ' + message if message else ''}; the budget check result is unchanged.")


def find_comment(client: httpx.Client, api_url: str, repo: str, number: int, tag: str) -> dict | None:
    """The first comment on the issue or pull request carrying the marker, following pagination."""
    mark = marker(tag)
    origin = _origin(api_url)
    url: str | None = f"{api_url.rstrip('/')}/repos/{repo}/issues/{number}/comments"
    params: dict[str, int] | None = {"per_page": 100}
    for _ in range(MAX_PAGES):
        if url is None:
            return None
        response = client.get(url, params=params)
        if response.status_code != 200:
            raise _fail(response, "list")
        try:
            comments = response.json()
        except ValueError:
            raise CommentError("GitHub sent comments that are not JSON; the budget check result is unchanged.") \
                from None
        if not isinstance(comments, list):
            raise CommentError("GitHub sent comments that are not a list; the budget check result is unchanged.")
        for comment in comments:
            if isinstance(comment, dict) and isinstance(comment.get("body"), str) and mark in comment["body"]:
                return comment
        next_url = response.links.get("next", {}).get("url")
        if next_url is not None and _origin(next_url) != origin:
            raise CommentError(f"GitHub's pagination pointed at another host ({_origin(next_url)[1]}); "
                               "not following it with the token. The budget check result is unchanged.")
        url, params = next_url, None  # the next link carries its own query
    raise CommentError(f"more than {MAX_PAGES} pages of comments; not searching further. "
                       "The budget check result is unchanged.")


def upsert_comment(client: httpx.Client, *, repo: str, number: int, body: str, tag: str,
                   api_url: str = DEFAULT_API_URL) -> CommentResult:
    """Update the marked comment in place, or create it. Raises CommentError with a clear message."""
    if not _REPO.match(repo):
        raise CommentError(f"repository {repo!r} must be OWNER/NAME")
    text = prepare_body(body, tag)
    base = api_url.rstrip("/")
    existing = find_comment(client, base, repo, number, tag)
    if existing is not None:
        response = client.patch(f"{base}/repos/{repo}/issues/comments/{int(existing['id'])}", json={"body": text})
        if response.status_code != 200:
            raise _fail(response, "update")
        return CommentResult("updated", int(existing["id"]), response.json().get("html_url"))
    response = client.post(f"{base}/repos/{repo}/issues/{number}/comments", json={"body": text})
    if response.status_code != 201:
        raise _fail(response, "create")
    created = response.json()
    return CommentResult("created", created.get("id"), created.get("html_url"))


def make_client(token: str, *, timeout_s: float = 20.0) -> httpx.Client:
    return httpx.Client(
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "carbonguard-pr-comment",
        },
        timeout=timeout_s,
        follow_redirects=False,  # never carry the token through a redirect
    )


def workflow_escape(text: str) -> str:
    """Escape a workflow-command message so it cannot end the command or start another."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def pr_number_from_event(path: str | None) -> int | None:
    """The pull request number of the triggering event (`GITHUB_EVENT_PATH`), if there is one."""
    if not path:
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    number = (event.get("pull_request") or {}).get("number") if isinstance(event, dict) else None
    return number if isinstance(number, int) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m carbonguard.github.comment",
                                     description="Create or update the marked carbonguard comment on a pull request.")
    parser.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY"), help="OWNER/NAME")
    parser.add_argument("--pr", type=int, help="pull request number (default: from $GITHUB_EVENT_PATH)")
    parser.add_argument("--tag", required=True, help="marker tag: one comment per tag")
    parser.add_argument("--body-file", required=True, type=Path)
    parser.add_argument("--api-url", default=os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL)
    args = parser.parse_args(argv)
    number = args.pr or pr_number_from_event(os.environ.get("GITHUB_EVENT_PATH"))
    token = os.environ.get("GITHUB_TOKEN")

    def warn(message: str) -> int:
        print(f"::warning title=carbonguard PR comment::{workflow_escape(message)}")
        return 0

    if not args.repo or number is None:
        return warn("no repository or pull request number (not a pull_request event?); no comment posted.")
    if not token:
        return warn("GITHUB_TOKEN is not set; no comment posted. The budget check result is unchanged.")
    try:
        body = args.body_file.read_text(encoding="utf-8")
    except OSError as exc:
        return warn(f"cannot read {args.body_file}: {exc.strerror or exc}; no comment posted.")
    try:
        with make_client(token) as client:
            result = upsert_comment(client, repo=args.repo, number=number, body=body, tag=args.tag,
                                    api_url=args.api_url)
    except (CommentError, ValueError) as error:
        return warn(str(error))
    except httpx.HTTPError as error:
        return warn(f"could not reach GitHub ({type(error).__name__}); the budget check result is unchanged.")
    print(f"carbonguard: {result.action} pull-request comment {result.comment_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
