"""Assess one run from the ledger: verify, load its stage records, fetch intensity, judge, record.

The ledger-bound shell around the pure `pipeline`: it is the one place that reads the clock, asks
an intensity source, reads certificate files and writes to the ledger, so the CLI's `gate` and
`match` and the Prefect `carbon_gate` cannot drift apart. Everything a judgement produces (policy,
footprint, match, certificate claims, decision) is written by `record_assessment` in one place.

Double counting is finally stopped by the ledger's claim registry: two runs that matched the same
certificates at once both computed a claim; the second write raises `ClaimConflict`, and the
loser is judged again with the winner's claim as already claimed, so its recorded decision carries
a `matching.double-counting` finding naming the holder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from carbonguard.errors import CarbonguardError, InputError, Problem
from carbonguard.models import (
    Decision,
    IntensityPoint,
    JudgedRecords,
    RunFootprint,
    StageRecord,
    StageRecords,
    StageRow,
    StageRowParser,
)
from carbonguard.pipeline import (
    forecast_requests,
    intensity_request,
    judge,
    policy_zone,
    residual_request,
)
from carbonguard.policy.loader import LoadedPolicy

if TYPE_CHECKING:
    from carbonguard.ledger.protocol import LedgerProtocol
    from carbonguard.ledger.verify import VerifyResult
    from carbonguard.matching import CertificateFile, ClaimedRange, MatchResult

CertificatePaths = str | os.PathLike[str] | Sequence["str | os.PathLike[str] | CertificateFile"]
MAX_CLAIM_ATTEMPTS = 5  # each lost race re-reads the ledger's claims, so this converges quickly
MAX_REJECTIONS_RECORDED = 100  # per match record; the counts per rule are always complete
_T = TypeVar("_T")

__all__ = [
    "Assessment",
    "LedgerIntegrityError",
    "assess_run",
    "claimed_ranges",
    "fetch_forecasts",
    "fetch_points",
    "fetch_residual",
    "load_certificates",
    "load_stage_records",
    "load_stage_rows",
    "match_payload",
    "policy_zone",
    "record_assessment",
    "verified",
    "verified_span",
]


@dataclass(frozen=True)
class _Inputs:
    """What `judge` was given, kept so a lost claim race can be judged again with the new claims."""

    points: tuple[IntensityPoint, ...]
    run_id: str
    as_of: datetime
    judged: JudgedRecords
    forecasts: dict[str, list[IntensityPoint]] | None
    certificates: tuple[CertificateFile, ...] | None
    residual: tuple[IntensityPoint, ...]
    already_claimed: tuple[ClaimedRange, ...]


@dataclass(frozen=True)
class Assessment:
    records: tuple[StageRow, ...]  # the records judged, as compact rows (`models.StageRow`)
    footprint: RunFootprint
    decision: Decision
    decision_record_hash: str | None = None
    match: MatchResult | None = None  # set when the policy has spec.matching
    inputs: _Inputs | None = field(default=None, repr=False, compare=False)

    @property
    def forecasts(self) -> dict[str, list[IntensityPoint]] | None:
        """The forecasts a reschedule proposal was computed from (None when no rule asked)."""
        return self.inputs.forecasts if self.inputs is not None else None


class LedgerIntegrityError(CarbonguardError):
    """The ledger fails verification: nothing read from it may be judged."""

    def __init__(self, message: str, exit_code: int) -> None:
        self.exit_code = exit_code
        super().__init__(message)


def verified(ledger: LedgerProtocol) -> LedgerProtocol:
    """Verify the whole chain before judging from it, so a decision never rests on edited records.

    Costs one pass over the ledger (about 200,000 records/s on SQLite; see benchmarks/ledger.py).
    """
    _refuse_unless_intact(ledger, ledger.verify())
    return ledger


def verified_span(ledger: LedgerProtocol, first_seq: int | None) -> int:
    """Verify the chain from `first_seq` (a run's first record) to the head and the key records
    (`Ledger.verify_span`); returns the head verified. The gate's cost then grows with the run,
    not with the ledger; `audit verify` still judges everything (docs/ledger.md)."""
    result = ledger.verify_span(first_seq)
    _refuse_unless_intact(ledger, result)
    return result.head_seq


def _refuse_unless_intact(ledger: LedgerProtocol, result: VerifyResult) -> None:
    if not result.ok:
        raise LedgerIntegrityError(
            f"ledger {ledger.url} fails verification, so no decision is made from it: {result.message}",
            result.exit_code,
        )


def load_stage_records(
    ledger: LedgerProtocol, run_id: str, *, verify: bool = False
) -> tuple[list[StageRecord], JudgedRecords]:
    """The run's stage records with those of its subflow runs, in ledger order, and their digest.

    The subflow runs come from the ledger's `subflow` records, so every surface judges the same set.
    `verify`: verify the chain from the run's first stage or subflow record to the head
    (`Ledger.verified_run_payloads`, as `verified_span` does) and parse the records from the very
    rows verified: the bytes parsed are the bytes verified, read once. Either way only records (and
    subflow links) up to one head are read, and that
    head is the digest's `through_seq`, so the ledger can derive the same set again from the run id
    alone (`Ledger.judged_hashes`). A record that is not a valid stage record (its writer was
    faulty: its bytes are signed all the same) is an `InputError` naming the ledger, the record's
    seq and the field.
    """
    return _load_stage(ledger, run_id, verify, StageRecord.model_validate_json, None)


def load_stage_rows(
    ledger: LedgerProtocol, run_id: str, *, verify: bool = False
) -> tuple[list[StageRow], JudgedRecords]:
    """`load_stage_records` as compact rows (`models.StageRow`), what `pipeline.judge` prices.

    Every record is validated as a `StageRecord` validates it (hash-verified bytes can still come
    from a faulty writer), by `StageRowParser`, which builds the row without building the models:
    a run of 99,000 stages then holds about 40 MB rather than 376 MB of models, and repeated names
    are one string each. A refused record's error is `StageRecord`'s own.
    """
    parser = StageRowParser()
    return _load_stage(ledger, run_id, verify, parser, parser.canonical_rows)


class _Malformed:
    """A payload that failed validation, kept until its seq is known (`ledger.payloads` parses)."""

    __slots__ = ("error",)

    def __init__(self, error: ValueError) -> None:
        self.error = error


def _load_stage(
    ledger: LedgerProtocol, run_id: str, verify: bool, parse: Callable[[bytes], _T],
    parse_canonical: Callable[[list[bytes]], list[_T | None]] | None,
) -> tuple[list[_T], JudgedRecords]:
    """`parse_canonical` (a batch of payloads -> each one's value, or None where `parse` must
    judge it) is tried first on the verified load."""

    def checked(payload: bytes) -> _T | _Malformed:
        try:
            return parse(payload)
        except ValueError as exc:  # pydantic's ValidationError, or JSON that is no object
            return _Malformed(exc)

    def checked_all(payloads: list[bytes]) -> list[_T | _Malformed]:
        if parse_canonical is None:
            return [checked(p) for p in payloads]
        return [checked(p) if value is None else value
                for p, value in zip(payloads, parse_canonical(payloads), strict=True)]

    # Each payload parsed once, from its hashed bytes.
    if verify:
        # One read of the span for both: the records judged are the rows the verification checked.
        result, entries, judged = ledger.verified_run_payloads(run_id, "stage", checked_all)
        _refuse_unless_intact(ledger, result)
        head = result.head_seq
    else:
        head, judged = ledger.head_seq(), None
        runs = ledger.run_tree(run_id, head)  # links appended after the head: not judged
        entries = [e for other in runs for e in ledger.payloads(other, "stage", checked)]
        entries = [e for e in entries if e[0] <= head]  # appended after the head: not judged
        entries.sort(key=lambda e: e[0])
    if not entries:
        raise InputError(Problem(f"no stage records for run {run_id!r} in ledger {ledger.url}", "--run"))
    values = [e[2] for e in entries]
    if _Malformed in set(map(type, values)):  # the first refused record, named by its seq
        seq, _, value = next(e for e in entries if type(e[2]) is _Malformed)
        raise InputError(_record_problems(ledger.url, seq, value.error))
    if judged is None:  # not verified here: the digest of the hashes just read
        return values, JudgedRecords.of([e[1] for e in entries], head)  # type: ignore[return-value]
    count, digest = judged  # the verified read's own digest of exactly these records
    return values, JudgedRecords(count=count, sha256=digest, through_seq=head)  # type: ignore[return-value]


def _record_problems(url: str, seq: int, error: ValueError) -> list[Problem]:
    """One problem per field of a stage record that failed validation (at most 10)."""
    where = f"ledger {url}, stage record seq {seq}"
    errors = getattr(error, "errors", None)
    if errors is None:
        return [Problem(f"not a valid stage record: {error}", where, field_path="payload")]
    return [Problem(f"not a valid stage record: {e['msg']}", where,
                    field_path=".".join(["payload", *map(str, e["loc"])]))
            for e in errors()[:10]]


def _policy_source(loaded: LoadedPolicy, credentials: Any = None) -> Any:
    """The policy's intensity providers, as one source with its fallback chain."""
    from carbonguard.intensity import build_source

    # Unknown zones fall back to the flagged world average here, and the gate turns the flag into
    # `intensity.unknown-zone` with the outcome the policy asks for: a block is then a recorded,
    # explained decision rather than an error that leaves no trace in the ledger.
    settings = loaded.policy.spec.intensity.model_copy(update={"unknown_zone": "warn"})
    return build_source(settings, credentials=credentials)


def fetch_points(
    loaded: LoadedPolicy, records: StageRecords, *, source: Any = None, credentials: Any = None
) -> list[IntensityPoint]:
    """The intensity figures `pipeline.judge` needs for these records, from the policy's providers."""
    request = intensity_request(loaded, records)
    if request is None:
        return []
    source = source if source is not None else _policy_source(loaded, credentials)
    return list(source.series(request.zone, request.start, request.end))


def fetch_forecasts(
    loaded: LoadedPolicy, records: StageRecords, as_of: datetime, *, source: Any
) -> dict[str, list[IntensityPoint]] | None:
    """Forecasts per zone for a reschedule proposal; None when no budget can reschedule.

    The embedded annual figures are flat: with them alone the proposal compares zones, not hours.
    """
    requests = forecast_requests(loaded, records, as_of)
    if not requests:
        return None
    return {r.zone: list(source.series(r.zone, r.start, r.end)) for r in requests}


def fetch_residual(loaded: LoadedPolicy, records: StageRecords) -> list[IntensityPoint]:
    """The zone's residual-mix figures (embedded, AIB) for the market-based figure; empty when the
    policy does not match certificates or no residual mix is embedded for the zone (the market-based
    figure is then absent, never 0)."""
    request = residual_request(loaded, records)
    if request is None:
        return []
    from carbonguard.intensity.providers.embedded import residual_mix_series

    try:
        return residual_mix_series(request.zone, request.start, request.end)
    except InputError:
        return []


def load_certificates(loaded: LoadedPolicy, certificates: CertificatePaths | None) -> list[CertificateFile] | None:
    """Read and signature-check certificate files against the keys the policy pins.

    None when none were given. Raises `InputError` (exit 2) for a bad file, or for certificates
    given to a policy without `spec.matching`, before anything is read from or written to a ledger.
    """
    if certificates is None:
        return None
    items = [certificates] if isinstance(certificates, (str, os.PathLike)) else list(certificates)
    matching = loaded.policy.spec.matching
    if matching is None:
        raise InputError(Problem(
            "certificates were given but the policy has no spec.matching section to judge them by "
            "(beneficiary, pinned registry keys, min_cfe)", source=loaded.source, field_path="spec.matching"))
    from carbonguard.matching import CertificateFile
    from carbonguard.matching.loader import load_certificate_files

    paths = [Path(item) for item in items if not isinstance(item, CertificateFile)]
    read = iter(load_certificate_files(paths, matching.pinned_keys))
    return [item if isinstance(item, CertificateFile) else next(read) for item in items]


def claimed_ranges(ledger: Any, files: Sequence[CertificateFile] | None) -> list[ClaimedRange]:
    """The ledger's claims on the registries these files come from (by any run, this one included)."""
    if not files:
        return []
    from carbonguard.matching import ClaimedRange

    registries = set().union(*(f.registries for f in files))
    return [ClaimedRange.from_ledger_payload(r.payload) for r in ledger.records(record_type="claim")
            if r.payload.get("registry") in registries]


def assess_run(
    loaded: LoadedPolicy,
    ledger: LedgerProtocol,
    run_id: str,
    *,
    as_of: datetime | None = None,
    source: Any = None,
    credentials: Callable[[str], str | None] | None = None,
    verify: bool = True,
    forecasts: dict[str, list[IntensityPoint]] | None = None,
    certificates: CertificatePaths | None = None,
) -> Assessment:
    """Footprint and decision for `run_id` with its subflow runs; nothing is written.

    `certificates`: certificate export paths (or files already loaded with `load_certificates`) to
    match hour by hour under the policy's `spec.matching`; they are read before the ledger is.
    `verify`: the run's span of the chain is verified first (`load_stage_rows`); `False` only
    for a caller that has just verified it itself.
    """
    files = load_certificates(loaded, certificates)
    records, judged = load_stage_rows(ledger, run_id, verify=verify)
    source = source if source is not None else _policy_source(loaded, credentials)
    points = fetch_points(loaded, records, source=source)
    as_of = as_of or datetime.now(timezone.utc)
    if forecasts is None:  # forecasts given by the caller (files) win over the policy's providers
        forecasts = fetch_forecasts(loaded, records, as_of, source=source)
    inputs = _Inputs(points=tuple(points), run_id=run_id, as_of=as_of, judged=judged,
                     forecasts=forecasts, certificates=None if files is None else tuple(files),
                     residual=tuple(fetch_residual(loaded, records)),
                     already_claimed=tuple(claimed_ranges(ledger, files)))
    return _judge(loaded, tuple(records), inputs)


def _judge(loaded: LoadedPolicy, records: tuple[StageRow, ...], inputs: _Inputs) -> Assessment:
    from carbonguard.ledger.record import paused_gc

    # Judging a large run allocates a few small tuples per record, none in a cycle, over a heap that
    # already holds the run's rows: with the collector running, each full collection walked them
    # all (measured: attribution of 99,000 rows took twice as long).
    with paused_gc():
        result = judge(loaded, records, inputs.points, run_id=inputs.run_id, as_of=inputs.as_of,
                       judged=inputs.judged, forecasts=inputs.forecasts,
                       certificates=inputs.certificates, residual=inputs.residual,
                       already_claimed=inputs.already_claimed)
    return Assessment(records, result.footprint, result.decision, match=result.match, inputs=inputs)


def _rejudge(ledger: Any, loaded: LoadedPolicy, assessment: Assessment, conflict: Any) -> Assessment:
    """After a lost claim race: read the ledger's claims again (the winner's among them) and judge."""
    from carbonguard.matching import ClaimedRange

    inputs = assessment.inputs
    if inputs is None:
        raise conflict
    first, _, last = str(conflict.holder_range).partition("-")
    held = claimed_ranges(ledger, inputs.certificates)
    held.append(ClaimedRange(registry=conflict.registry, first=int(first), last=int(last or first),
                             run_id=conflict.holder_run_id))
    return _judge(loaded, assessment.records, replace(inputs, already_claimed=tuple(held)))


def record_assessment(ledger: Any, loaded: LoadedPolicy, assessment: Assessment) -> Assessment:
    """Write the policy (once per content hash), the footprint, the match, the claims and the decision.

    All in one ledger transaction: a crash or an error part-way leaves none of them. When a claim
    conflicts (another run claimed the same certificates after this one was judged), nothing of this
    attempt stays; the run is judged again with that claim as already claimed, and the new
    decision, with its `matching.double-counting` finding naming the holder, is what gets recorded.
    """
    return _record(ledger, loaded, assessment, with_decision=True)


def record_match(ledger: Any, loaded: LoadedPolicy, assessment: Assessment) -> Assessment:
    """`carbonguard match --run`: the policy, the match record and the claims, in one transaction (no
    footprint or decision: the gate records those)."""
    return _record(ledger, loaded, assessment, with_decision=False)


def _record(ledger: Any, loaded: LoadedPolicy, assessment: Assessment, *, with_decision: bool) -> Assessment:
    from carbonguard.ledger.record import paused_gc

    # The ledger derives the judged records' digest again on the decision's append (a read of every
    # judged record's hash), while this process still holds the run's rows: none of it in a cycle.
    with paused_gc():
        return _record_attempts(ledger, loaded, assessment, with_decision)


def _record_attempts(ledger: Any, loaded: LoadedPolicy, assessment: Assessment, with_decision: bool) -> Assessment:
    from carbonguard.ledger import ClaimConflict

    for attempt in range(MAX_CLAIM_ATTEMPTS):
        known = {r.payload.get("content_hash") for r in ledger.records(record_type="policy")}
        try:
            with ledger.transaction() as tx:
                if loaded.content_hash not in known:
                    tx.append("policy", _policy_payload(loaded))
                if with_decision:
                    tx.append("footprint", assessment.footprint.model_dump(mode="json"))
                match = assessment.match
                if match is not None:
                    tx.append("match", match_payload(match, loaded))
                    for claim in match.claims:
                        tx.claim_certificates(**claim.ledger_kwargs())
                if not with_decision:
                    return assessment
                record = tx.append("decision", assessment.decision.model_dump(mode="json"))
            return replace(assessment, decision_record_hash=record.record_hash)
        except ClaimConflict as conflict:
            if attempt == MAX_CLAIM_ATTEMPTS - 1:
                raise
            assessment = _rejudge(ledger, loaded, assessment, conflict)
    raise AssertionError("unreachable")


def _policy_payload(loaded: LoadedPolicy) -> dict[str, Any]:
    return {"name": loaded.name, "version": loaded.version, "content_hash": loaded.content_hash,
            "source": loaded.source, "text": loaded.document_text}


def match_payload(match: MatchResult, loaded: LoadedPolicy) -> dict[str, Any]:
    """The `match` ledger record: the score, each hour, rejections and the Scope 2 pair.

    The claims themselves are `claim` records of the same transaction. Rejections are capped at
    `MAX_REJECTIONS_RECORDED` (a bad export can hold a million), with complete counts per rule.
    """
    document = match.model_dump(mode="json", exclude={"claims"})
    by_rule: dict[str, int] = {}
    for rejection in match.rejected:
        by_rule[rejection.rule_id] = by_rule.get(rejection.rule_id, 0) + 1
    document["rejected"] = document["rejected"][:MAX_REJECTIONS_RECORDED]
    document.update(rejected_count=len(match.rejected), rejected_by_rule=dict(sorted(by_rule.items())),
                    claims_count=len(match.claims), policy_hash=loaded.content_hash,
                    policy_name=loaded.name, policy_version=loaded.version)
    return document
