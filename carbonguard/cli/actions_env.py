"""Write the Actions step summary and step outputs when `-o github` runs inside GitHub Actions.

GitHub names the files in `$GITHUB_STEP_SUMMARY` (markdown, appended) and `$GITHUB_OUTPUT`
(`name<<DELIMITER` blocks, appended). The delimiter is random per run, as GitHub's docs advise, so
no value can close its block early and smuggle in another output. Unset variables: nothing written.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any


def write_actions_files(result: Any, environ: Mapping[str, str] | None = None) -> list[str]:
    """Append the summary and outputs for `result` (a CheckReport); returns the files written."""
    from carbonguard.formats.github import output_file_text, step_outputs
    from carbonguard.formats.registry import RenderOptions, render

    env = os.environ if environ is None else environ
    written = []
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8", newline="") as handle:
            handle.write(render("markdown", result, RenderOptions(max_chars=1024 * 1024)))
        written.append(summary)
    outputs = env.get("GITHUB_OUTPUT")
    if outputs:
        text = output_file_text(step_outputs(result), f"ghadelimiter_{secrets.token_hex(16)}")
        with open(outputs, "a", encoding="utf-8", newline="") as handle:
            handle.write(text)
        written.append(outputs)
    return written
