"""Plain text for `audit verify`, `audit judged`, `keys list` and `policy validate`.

Every string that came from a file or the ledger goes through `text_safe`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carbonguard.formats.escape import text_safe as t
from carbonguard.formats.registry import RenderOptions

if TYPE_CHECKING:
    from carbonguard.reporting.judged import JudgedListing
    from carbonguard.reporting.ledger_admin import KeyEntry, KeyList, VerifyReport
    from carbonguard.reporting.policy_validation import PolicyCheck, PolicyValidation


def render_verify(result: VerifyReport, options: RenderOptions) -> str:
    if result.ok:
        return f"{t(result.ledger_url)}: {t(result.message)}; head {t(result.head_hash)}\n"
    return f"{t(result.ledger_url)}: {t(result.failure)}: {t(result.message)}\n"


def render_judged(result: JudgedListing, options: RenderOptions) -> str:
    """Summary lines (prefixed `#`), then `seq record_hash run_id` per judged record, in ledger order.

    The hash comes before the run id, which may hold spaces, so
    `grep -v '^#' | awk '{print $2}' | LC_ALL=C sort | sha256sum` gives the digest again.
    """
    head = [f"# {t(result.message)}",
            f"# {result.record_type} {t(result.record_hash)}: {result.count} records, sha256 {t(result.sha256)}"
            + (f", through seq {result.through_seq}" if result.through_seq is not None else " (listed)")]
    head += [f"# not a stage record of the run: {t(h)}" for h in result.missing]
    return "".join(line + "\n" for line in head) + "".join(
        f"{e.seq} {t(e.record_hash)} {t(e.run_id)}\n" for e in result.entries)


def key_line(key: KeyEntry) -> str:
    return f"{t(key.key_id)}  {key.state}{' (first key)' if key.first_key else ''}  {t(key.public_key)}"


def render_keys(result: KeyList, options: RenderOptions) -> str:
    return "".join(key_line(k) + "\n" for k in result.keys)


def policy_ok_line(check: PolicyCheck) -> str:
    return f"{t(check.path)}: ok ({t(check.name)} v{t(check.version)}, sha256 {(check.content_hash or '')[:12]})"


def policy_problem_lines(check: PolicyCheck) -> list[str]:
    return [t(problem) for problem in check.problems]


def render_policy_validation(result: PolicyValidation, options: RenderOptions) -> str:
    """Problems of every invalid file; with `extra["quiet"]` false, an ok line per valid file too."""
    quiet = bool(options.extra.get("quiet"))
    lines: list[str] = []
    for check in result.files:
        lines += policy_problem_lines(check) if not check.ok else ([] if quiet else [policy_ok_line(check)])
    return "".join(line + "\n" for line in lines)


RENDERERS: dict[str, Any] = {"verify": render_verify, "judged": render_judged, "keys": render_keys,
                             "policy-validation": render_policy_validation}
