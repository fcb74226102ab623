"""Scale: what judging a run and appending cost in a large ledger, before and now, side by side.

    python benchmarks/ledger.py --scale [--sizes 1000,100000,1000000] [--repeats 3] [--postgres URL] [--big-run]

Ledgers of each size are built once per store (valid, chained, signed: runs of 1,000 stage
records, a checkpoint every 100) and cached under the temp directory (`--fresh` rebuilds), with a
10-record run appended through `Ledger.append` (each append sealed, as `@metered` writes it). Every
measure runs the code path before this change and the one now, interleaved in one run, and prints
medians with peak RSS; each gate and verification runs in a child process of its own, so wall time
includes the interpreter start and imports, as for `carbonguard gate`, and RSS is its own.

"before" is the previous code path, selected in the child: the gate verifies the whole chain and
loads records as dicts (strptime, gc running) then validates them; verification maps up to 2 GiB,
checks each record with the loop before it was trimmed (tests/ledger/verify_reference.py) and reads
PostgreSQL by binary COPY; appends run the append path before the append-CPU work
(benchmarks/append_before.py), and, unless `--no-before-appends`, a second "before" row gives
PostgreSQL's previous guard (`NOT EXISTS (... seq >= $1)`). Beside the appends, bare durable
commits of one row each (`commit_floor`) give the ceiling that the disk and the store's commit put
on any append committed on its own. The indexes are the new ones on both sides (their effect is
shown by tests/ledger/test_query_plans.py and the append rate). Each gate judges a run whose 10
records were just appended at the head, as a gate at the end of a run meets it.

`--big-run` judges one run of 99,000 stage records (each gate on a fresh copy of the cached
ledger); there "before" is the pipeline before compact rows (records loaded as StageRecord
models, attribution copying models, accounting on datetimes: the reference implementation in
tests/accounting/reference.py, which the equivalence tests hold the new code to, bit for bit,
and the collector running while judging). A second "before" there is the load before
`StageRowParser` (each record validated as a `StageRecord` model, then copied into its row),
everything else as now: the rows "same, before = load through models". A third is the load
before one read served both verification and loading: the span verified, then the run's rows read
again and validated by pydantic (the rows "same, before = two reads, pydantic rows"; the
attribution and accounting are the current ones there too). Besides wall time and
peak RSS it prints the child's CPU seconds (user + system), which the load of a shared machine
inflates least.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGETS = {"gate10_s": 0.5, "gate10_mb": 150.0, "gate_big_s": 2.0, "gate_big_mb": 300.0,
           "appends": 2000.0, "verify": 200_000.0, "verify_mb": 300.0}
POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {name: bench, version: "1"}
spec:
  location: {zone: DE}
  pue: 1.2
  budgets:
    - {id: run-co2e, metric: co2e_kg, limit: 1000000, action: block}
  measurement: {estimated: allow, unavailable: block}
"""
SMALL_RUN = "bench-small"
CACHE = Path(tempfile.gettempdir()) / "carbonguard-bench-v1"


def _child(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run this module as a child; (wall s, peak RSS MB, its stdout)."""
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out, err = proc.communicate()
    wall = time.perf_counter() - began
    # RUSAGE_CHILDREN is a maximum over all children, so the child reports its own peak
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed (exit code {proc.returncode}): {err.decode()[-2000:]}")
    lines = out.decode().strip().splitlines()
    return wall, float(lines[-1]), "\n".join(lines[:-1])


def _peak_mb() -> float:
    """This process's peak RSS. Not `ru_maxrss`: Linux keeps it across exec, so a child would
    report its parent's peak; VmHWM belongs to the address space, which exec replaces."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_main(argv: list[str]) -> int:
    """`--child gate URL RUN MODE POLICY` or `--child verify URL MODE`; prints the peak RSS last."""
    kind, url, *rest = argv
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    mode = rest[-2] if kind == "gate" else rest[-1]
    if mode == "before":
        _select_before()
    elif mode == "before-big":
        _select_before_big()
    elif mode == "before-load":
        _select_before_load()
    elif mode == "before-read":
        _select_before_read()
    elif mode == "every":
        _select_every_signature()
    from carbonguard.ledger import open_ledger

    if kind == "gate":
        from carbonguard.assess import assess_run, record_assessment
        from carbonguard.policy import load_policy

        run_id, _, policy = rest
        loaded = load_policy(policy)
        with open_ledger(url, create=False) as led:
            record_assessment(led, loaded, assess_run(loaded, led, run_id))
        times = os.times()
        print(times.user + times.system)  # CPU s of the whole child: what the machine's load inflates least
    elif mode == "split":
        with open_ledger(url, create=False) as led:
            print(" ".join(map(str, _verify_split(led))))
    else:
        with open_ledger(url, create=False) as led:
            began = time.perf_counter()
            result = led.verify(workers=1)
            assert result.ok, result.message
            print(result.records / (time.perf_counter() - began))
    print(_peak_mb())
    return 0


def _verify_split(led) -> tuple[float, float, float]:
    """CPU us per record of a one-process verification (the code now), by part: reading the rows,
    the per-record checks, and judging the events, which is nearly all Ed25519 verification of
    the checkpoints (it holds the GIL, so no thread can take it off the checking thread)."""
    import carbonguard.ledger.verify as verify_mod

    spent = {"read": 0.0, "judge": 0.0}
    scan, combine = led.store.scan_batches, verify_mod.combine

    def timed_scan(*args, **kwargs):
        batches = scan(*args, **kwargs)
        while True:
            began = time.process_time()
            batch = next(batches, None)
            spent["read"] += time.process_time() - began
            if batch is None:
                return
            yield batch

    def timed_combine(*args, **kwargs):
        began = time.process_time()
        try:
            return combine(*args, **kwargs)
        finally:
            spent["judge"] += time.process_time() - began

    led.store.scan_batches = timed_scan
    verify_mod.combine = timed_combine  # type: ignore[assignment]
    began = time.process_time()
    result = led.verify(workers=1)
    total = time.process_time() - began
    assert result.ok, result.message
    per = 1e6 / result.records
    return spent["read"] * per, (total - spent["read"] - spent["judge"]) * per, spent["judge"] * per


def _select_every_signature() -> None:
    """Verification as before the covering signature: every checkpoint's signature checked
    (`every_signature=True`, the per-record loop and everything else as now), in this child only."""
    import carbonguard.ledger.ledger as ledger_mod

    check_segment, combine = ledger_mod.check_segment, ledger_mod.combine
    ledger_mod.check_segment = lambda *a, **k: check_segment(*a, **{**k, "every_signature": True})
    ledger_mod.combine = lambda *a, **k: combine(*a, **{**k, "every_signature": True})
    verify = ledger_mod.Ledger.verify
    ledger_mod.Ledger.verify = lambda self, **k: verify(self, **{**k, "every_signature": True})


def _select_before() -> None:
    """The code path before this change, inside this (child) process only."""
    import contextlib
    from datetime import datetime, timezone

    import carbonguard.assess as assess
    import carbonguard.ledger.ledger as ledger_mod
    import carbonguard.ledger.record as record_mod
    import carbonguard.ledger.verify as verify_mod
    from carbonguard.ledger import postgres_store, sqlite_store
    from carbonguard.models import JudgedRecords, StageRecord
    from carbonguard.runtree import subflow_runs
    from tests.ledger import verify_reference

    sqlite_store.MMAP_BYTES = 2147418112
    # verification: each record checked by the loop before it was trimmed, PostgreSQL read by binary COPY
    # (that loop knows no `every_signature`: it checked every signature, as `combine` did then)
    reference_check = verify_reference.check_segment
    verify_mod.check_segment = lambda *a, every_signature=True, **k: reference_check(*a, **k)  # type: ignore[assignment]
    _select_every_signature()
    postgres_store.PostgresStore.scan_way = "copy"
    ledger_mod.paused_gc = contextlib.nullcontext  # type: ignore[assignment]
    record_mod.parse_time = lambda text: datetime.strptime(  # type: ignore[assignment]
        text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)

    def load_stage_records(ledger, run_id, *, verify=False):  # as it was
        if verify:
            assess.verified(ledger)
        entries = ledger.records(run_id=run_id, record_type="stage")
        for other in dict.fromkeys(subflow_runs(ledger, run_id)):
            if other != run_id:
                entries += ledger.records(run_id=other, record_type="stage")
        entries.sort(key=lambda e: e.seq)
        # The judged records' digest, as assess now expects (decisions carry it instead of the list).
        judged = JudgedRecords.of([e.record_hash for e in entries], ledger.head_seq())
        return [StageRecord.model_validate(e.payload) for e in entries], judged

    assess.load_stage_records = load_stage_records
    assess.load_stage_rows = load_stage_records  # what assess_run calls now; judge takes records too


def _select_before_big() -> None:
    """The gate's pipeline before compact rows (commit 21f0bb7), for the big run: every record
    loaded as a StageRecord, attribution copying models, accounting on datetimes (the reference
    implementation the equivalence tests compare against), the collector running while judging."""
    _select_every_signature()  # and every checkpoint signature checked, as then
    import contextlib

    import carbonguard.assess as assess
    import carbonguard.ledger.record as record_mod
    import carbonguard.pipeline as pipeline
    from carbonguard.models import StageRecord
    from tests.accounting import reference

    record_mod.paused_gc = contextlib.nullcontext  # type: ignore[assignment]  (only _judge imports it late)
    assess.load_stage_rows = lambda ledger, run_id, *, verify=False: assess._load_stage(  # type: ignore[assignment]
        ledger, run_id, verify, StageRecord.model_validate_json, None)
    pipeline.stage_rows = list  # type: ignore[assignment]
    pipeline.attribute_rows = reference.attribute_shared_devices  # type: ignore[assignment]

    def compute_footprint(records, *, judged=None, **options):  # the reference, given the digest it now carries
        return reference.compute_footprint(records, **options).model_copy(update={"judged_records": judged})

    pipeline.compute_footprint = compute_footprint  # type: ignore[assignment]
    pipeline.intensity_span = reference.intensity_span  # type: ignore[assignment]
    requests = pipeline.forecast_requests

    def forecast_requests(loaded, records, as_of):  # as it was: the span first, then the policy asked
        reference.intensity_span(records)
        return requests(loaded, records, as_of)

    pipeline.forecast_requests = forecast_requests  # type: ignore[assignment]
    assess.forecast_requests = forecast_requests  # type: ignore[assignment]


def _select_before_load() -> None:
    """The gate's load before `StageRowParser`: each record validated as a `StageRecord` model, then
    copied into its row (everything else as now)."""
    import carbonguard.assess as assess
    from carbonguard.models import StageRecord, stage_row

    def load_stage_rows(ledger, run_id, *, verify=False):
        strings: dict[str, str] = {}
        return assess._load_stage(ledger, run_id, verify,
                                  lambda payload: stage_row(StageRecord.model_validate_json(payload), strings), None)

    assess.load_stage_rows = load_stage_rows  # type: ignore[assignment]


def _select_before_read() -> None:
    """The gate's load before one read served both (everything else as now): the span verified
    (`verify_span`), then the run's stage rows read again through the run index, each payload
    validated by pydantic into dicts (`StageRowParser` without the ledger-form reader)."""
    import carbonguard.assess as assess
    from carbonguard.models import JudgedRecords, StageRowParser

    def load_stage_rows(ledger, run_id, *, verify=False):
        seqs = ledger.run_seqs(ledger.run_tree(run_id), ("stage", "subflow"))
        head = assess.verified_span(ledger, seqs[0] if seqs else None)
        parse = StageRowParser()
        entries = [e for other in ledger.run_tree(run_id, head) for e in ledger.payloads(other, "stage", parse)]
        entries = sorted((e for e in entries if e[0] <= head), key=lambda e: e[0])
        return [e[2] for e in entries], JudgedRecords.of([e[1] for e in entries], head)

    assess.load_stage_rows = load_stage_rows  # type: ignore[assignment]


def _build(size: int, pg_url: str | None, fresh: bool, generate: Callable, signer, *, kind: str = "",
           every: int = 100) -> dict[str, str]:
    """URLs of the cached ledgers of `size` records, built when missing: `kind=""` the scale
    ledgers (a checkpoint every `every` records, plus the small run), `kind="sealed"` ledgers as
    `append` writes them (`every=2`: a checkpoint after every record)."""
    urls = {"SQLite": str(CACHE / f"{kind or 'ledger'}-{size}.db")}
    # The schema is named after the cache's key too: a benchmark with another cache (another temp
    # directory, so another key) never rebuilds or appends to this one's ledger under its key.
    schema = f"cg_bench_{kind + '_' if kind else ''}{size}_{signer.key_id[:8]}"
    if pg_url:
        urls["PostgreSQL"] = f"{pg_url}?schema={schema}"
    with open(CACHE / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two benchmarks sharing a cache build each ledger once
        _build_missing(urls, size, pg_url, schema, fresh, generate, signer, kind, every)
    return urls


def _build_missing(urls: dict[str, str], size: int, pg_url: str | None, schema: str, fresh: bool,
                   generate: Callable, signer, kind: str, every: int) -> None:
    from carbonguard.ledger import open_ledger

    for store, url in urls.items():
        marker = CACHE / (f"ready-{kind}{store}-{size}" if store == "SQLite" else f"ready-{schema}")
        if marker.exists() and not fresh:
            continue
        if store == "SQLite":
            for suffix in ("", "-wal", "-shm"):
                Path(url + suffix).unlink(missing_ok=True)
        else:
            _drop(pg_url, schema)
        began = time.perf_counter()
        generate(url, size, signer, every=every)
        if not kind:  # the scale ledgers end with a small run appended as `@metered` writes it
            with open_ledger(url, signing_key=signer) as led:
                for i in range(10):
                    led.append("stage", _small_stage(i))
        print(f"built {store} {kind or 'scale'} ledger of {size:,} records in {time.perf_counter() - began:.1f} s",
              file=sys.stderr)
        marker.touch()


def _small_stage(i: int, run_id: str = SMALL_RUN) -> dict:
    from datetime import datetime, timedelta, timezone

    from carbonguard.models import ComponentEnergy, EnergyMethod, StageRecord

    start = datetime(2026, 6, 1, tzinfo=timezone.utc) + timedelta(minutes=10 * i)
    return StageRecord(run_id=run_id, flow_name="train", stage=f"s{i}", start=start,
                       end=start + timedelta(minutes=5), zone="DE", host="bench", pid=1,
                       components=(ComponentEnergy(component="gpu", device="GPU-0", method=EnergyMethod.COUNTER,
                                                   energy_kwh=0.5, source="nvml:total-energy-counter"),),
                       ).model_dump(mode="json")


def _drop(pg_url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def bench_setup() -> tuple[Any, Path, dict[str, str]]:
    """The cache's signing key (made once), the benchmark policy file, and the children's
    environment."""
    from carbonguard.ledger import Signer
    from carbonguard.ledger.keys import load_signer, write_key_pair

    CACHE.mkdir(exist_ok=True)
    key = CACHE / "keys" / "signing-key.pem"
    if not key.exists():
        write_key_pair(Signer.generate(), CACHE / "keys")
    policy = CACHE / "policy.yaml"
    policy.write_text(POLICY)
    # An installed package has its .pyc files: a gate child must not recompile every module on each
    # start, which PYTHONDONTWRITEBYTECODE in the caller's environment would force (as in cli_start.py).
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
           "CARBONGUARD_SIGNING_KEY": str(key)}
    return load_signer(key), policy, env


def run_scale(sizes: list[int], repeats: int, appends: int, pg_url: str | None, fresh: bool,
              generate: Callable, bench_appends: Callable, big_run: bool = False,
              before_appends: bool = True, commit_floor: Callable | None = None) -> int:
    from carbonguard.ledger import open_ledger

    signer, policy, env = bench_setup()
    rows: list[tuple[str, str, float, float, str]] = []  # measure, size, before, now, target text

    def med(values: list[float]) -> float:
        return statistics.median(values)

    for size in sizes:
        urls = _build(size, pg_url, fresh, generate, signer)
        for store, url in urls.items():
            gate = {m: ([], []) for m in ("before", "now")}
            ver = {m: ([], []) for m in ("before", "now")}
            for r in range(repeats):  # interleaved: both meet the same load
                for mode in ("before", "now"):
                    # a run that has just ended, as a gate meets it: its 10 records at the head
                    run_id = f"{SMALL_RUN}-{mode}-{r}-{time.time_ns()}"
                    with open_ledger(url, signing_key=signer) as led:
                        for i in range(10):
                            led.append("stage", _small_stage(i, run_id))
                    wall, mb, _ = _child(["gate", url, run_id, mode, str(policy)], env)
                    gate[mode][0].append(wall)
                    gate[mode][1].append(mb)
                    if size >= 100_000:
                        _, mb, out = _child(["verify", url, mode], env)
                        ver[mode][0].append(float(out))
                        ver[mode][1].append(mb)
            rows.append((f"gate, 10-record run, {store}: wall s", f"{size:,}", med(gate["before"][0]),
                         med(gate["now"][0]), f"<= {TARGETS['gate10_s']}"))
            rows.append((f"gate, 10-record run, {store}: peak RSS MB", f"{size:,}", med(gate["before"][1]),
                         med(gate["now"][1]), f"<= {TARGETS['gate10_mb']:.0f}"))
            if size >= 100_000:
                rows.append((f"audit verify, 1 process, {store}: records/s", f"{size:,}", med(ver["before"][0]),
                             med(ver["now"][0]), f">= {TARGETS['verify']:,.0f}"))
                rows.append((f"audit verify, 1 process, {store}: peak RSS MB", f"{size:,}", med(ver["before"][1]),
                             med(ver["now"][1]), f"<= {TARGETS['verify_mb']:.0f}"))
                # where the time goes now (CPU per record, one more run), and the rate that CPU allows
                read, check, judge = map(float, _child(["verify", url, "split"], env)[2].split())
                for part, value in (("reading rows", read), ("per-record checks", check),
                                    ("judging: Ed25519 of the checkpoints", judge)):
                    rows.append((f"  now, CPU us per record: {part}", f"{size:,}", float("nan"), value, "-"))
                rows.append(("  records/s on a core of its own (1 / CPU per record)", f"{size:,}", float("nan"),
                             1e6 / (read + check + judge), f">= {TARGETS['verify']:,.0f}"))
            # before: the append path before the append-CPU work (benchmarks/append_before.py);
            # guard: PostgreSQL's previous append guard; floor: bare durable commits (the ceiling)
            rates: dict[str, list[float]] = {"before": [], "now": [], "guard": [], "floor": []}
            for _ in range(repeats):  # interleaved: all meet the same load
                for mode in rates:
                    if mode == "guard" and (store == "SQLite" or not before_appends):
                        continue  # PostgreSQL's old guard takes minutes at 1M
                    if mode == "floor":
                        if commit_floor is not None:
                            rates[mode].append(commit_floor(url, appends))
                        continue
                    rates[mode].append(bench_appends(url, appends, signer, legacy_guard=mode == "guard",
                                                     before=mode == "before"))
            rows.append((f"durable appends/s, {store}", f"{size:,}", med(rates["before"]), med(rates["now"]),
                         f">= {TARGETS['appends']:,.0f}"))
            if rates["guard"]:
                rows.append(("  same, before = the previous append guard", f"{size:,}", med(rates["guard"]),
                             med(rates["now"]), f">= {TARGETS['appends']:,.0f}"))
            if rates["floor"]:
                rows.append((f"  durable 1-row commits/s, {store} (disk ceiling)", f"{size:,}", float("nan"),
                             med(rates["floor"]), "-"))
    if big_run:  # one run of 100,000 stage records (SQLite): what the gate of a large run costs
        url = str(CACHE / "one-run-100000.db")
        marker = CACHE / "ready-one-run-100000"
        if not marker.exists() or fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(url + suffix).unlink(missing_ok=True)
            generate(url, 100_000, signer, run_size=10**9)  # every stage in run-0
            marker.touch()
        big = gate_rounds(url, ("before-big", "before-load", "before-read", "now"), repeats, policy, env)
        before = big["before-big"]  # the pipeline before compact rows (see the docstring)
        rows.append(("gate, 99,000-record run, SQLite: wall s", "100,000", med(before[0]), med(big["now"][0]),
                     f"<= {TARGETS['gate_big_s']}"))
        rows.append(("gate, 99,000-record run, SQLite: CPU s", "100,000", med(before[2]), med(big["now"][2]), "-"))
        rows.append(("gate, 99,000-record run, SQLite: peak RSS MB", "100,000", med(before[1]), med(big["now"][1]),
                     f"<= {TARGETS['gate_big_mb']:.0f}"))
        load = big["before-load"]  # before: records validated as StageRecord models (see _select_before_load)
        for i, unit in ((0, "wall s"), (2, "CPU s"), (1, "peak RSS MB")):
            rows.append((f"  same, before = load through models: {unit}", "100,000", med(load[i]), med(big["now"][i]),
                         "-"))
        read = big["before-read"]  # before: the span read twice, rows through pydantic (see _select_before_read)
        for i, unit in ((0, "wall s"), (2, "CPU s"), (1, "peak RSS MB")):
            rows.append((f"  same, before = two reads, pydantic rows: {unit}", "100,000", med(read[i]),
                         med(big["now"][i]), "-"))
    print(f"medians of {repeats} runs, interleaved; {os.cpu_count()} CPUs; load average "
          + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f"; {appends:,} appends per run")
    width = max(46, *(len(r[0]) for r in rows))
    print(f"{'measure':<{width}} {'ledger':>10} {'before':>11} {'now':>11} {'target':>10}")
    for name, size_text, before, now, target in rows:
        print(f"{name:<{width}} {size_text:>10} {_fmt(before):>11} {_fmt(now):>11} {target:>10}")
    return 0


def gate_rounds(url: str, modes: tuple[str, ...], repeats: int, policy: Path, env: dict[str, str]
                ) -> dict[str, tuple[list[float], list[float], list[float]]]:
    """`mode -> (wall s, peak RSS MB, CPU s)` of the gate of run-0 of `url`, each mode in turn,
    `repeats` rounds. Each gate runs on a fresh copy of the ledger, so every one judges the same
    records at the same head (a gate appends its footprint and decision)."""
    big: dict[str, tuple[list[float], list[float], list[float]]] = {m: ([], [], []) for m in modes}
    for _ in range(repeats):
        for mode in modes:
            copy = Path(url).with_name(f"{Path(url).stem}-{mode}.db")
            for suffix in ("-wal", "-shm"):
                Path(str(copy) + suffix).unlink(missing_ok=True)
            shutil.copyfile(url, copy)
            wall, mb, out = _child(["gate", str(copy), "run-0", mode, str(policy)], env)
            big[mode][0].append(wall)
            big[mode][1].append(mb)
            big[mode][2].append(float(out.splitlines()[-1]))
    return big


def _fmt(value: float) -> str:
    if value != value:  # NaN: not measured
        return "-"
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    raise SystemExit(child_main(sys.argv[2:]))
