"""Mutation run over the two ledger verifiers: `python scripts/mutate_verifiers.py` (a few minutes).

Why hand-rolled rather than mutmut: a mutant is judged here in-process, in milliseconds, against
tampered ledgers built once (the attacks of tests/ledger/test_guarantee.py and test_defences.py,
plus intact ledgers with rotation, enrolment, claims and transactions), instead of a full pytest
run per mutant, which on a small machine takes hours. Each mutant changes one operator on one
line of the verification functions (`==`/`!=`, `<`/`<=`, `and`/`or`, a dropped `not`, `+ 1`/`- 1`);
it is killed when any verdict (exit code, failing seq, records counted) differs from the
unmutated module's. Survivors are printed for a person to judge.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from carbonguard.ledger import Signer, open_ledger  # noqa: E402  (after the path is set)
from carbonguard.ledger.export import write_jsonl  # noqa: E402
from carbonguard.ledger.keys import load_signer, write_key_pair  # noqa: E402
from carbonguard.ledger.record import hash_bytes  # noqa: E402
from carbonguard.ledger.sqlite_store import SQLiteStore  # noqa: E402
from tests.ledger import tamper, test_defences, test_guarantee  # noqa: E402
from tests.ledger.conftest import stage_record  # noqa: E402

OPERATORS = [(" != ", " == "), (" == ", " != "), (" < ", " <= "), (" > ", " >= "), (" >= ", " > "),
             (" <= ", " < "), (" and ", " or "), (" or ", " and "), ("not ", ""), (" + 1", " - 1"),
             (" - 1", " + 1")]
Case = tuple[str, str, list[str], "dict | None", bool, int]  # name, db, pins, checkpoint, deep, workers


def mutants(lines: list[str], inside: Callable[[int], bool]) -> Iterator[tuple[int, str]]:
    for i, line in enumerate(lines):
        text = line.strip()
        if not text or text.startswith(("#", "import", "from", "def ", "@")) or not inside(i):
            continue
        for old, new in OPERATORS:
            if old in line:
                yield i, line.replace(old, new, 1)


def _stage() -> dict[str, Any]:
    return stage_record().model_dump(mode="json")


def _rehash(db: str, seq: int, old: bytes, new: bytes) -> None:
    env = bytes(tamper.rows(db)[seq - 1][4]).replace(old, new)
    with tamper.raw(db) as run:
        run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = ?", (env, hash_bytes(env), seq))


def build_cases(tmp: Path) -> list[Case]:
    cases: list[Case] = []

    def fresh(name: str) -> tuple[Path, str, Signer, dict, str]:
        directory = tmp / name
        directory.mkdir()
        signer = load_signer(write_key_pair(Signer.generate(), directory / "keys")[0])
        db = str(directory / "l.db")
        with open_ledger(db, signing_key=signer) as led:
            for i in range(5):
                led.append("stage", stage_record(run_id=f"run-{i % 2}").model_dump(mode="json"))
            kept = led.export_checkpoint(led.latest_checkpoint())
            pin = led.keyring().public[signer.key_id]
        return directory, db, signer, kept, pin

    for name, (attack, _, _) in test_guarantee.CASES.items():
        directory, db, signer, kept, pin = fresh(name)
        attack(db, {"signer": signer, "head": 11, "tmp": directory})
        cases += [(name, db, [pin], None, False, 1), (f"{name}+cp", db, [pin], kept, False, 1),
                  (f"{name}-nopin", db, [], None, False, 1)]
    directory, db, signer, kept, pin = fresh("rich")
    with open_ledger(db, signing_key=signer) as led:
        led.add_key(Signer.generate().public_b64)
        led.claim_certificates("fea", (1, 5), "run-1", "acme", "2026-03-01T10:00:00Z", "DE", "0.1")
        led.rotate_key(Signer.generate())
        with led.transaction() as tx:
            for _ in range(3):
                tx.append("stage", _stage())
        later = led.export_checkpoint(led.latest_checkpoint())
    cases += [("rich", db, [pin], kept, False, 1), ("rich+later", db, [pin], later, False, 3),
              ("rich-deep", db, [pin], None, True, 1)]
    _, db, _, _, pin = fresh("rehash")
    _rehash(db, 4, b"host-a", b"host-b")
    cases.append(("rehash", db, [pin], None, False, 1))
    for name, appends, seq, old, new in (("boundary", 23, 8, b"host-a", b"host-b"),
                                         ("tiny", 1, 1, b'"producer":"carbonguard', b'"producer":"carbonguarD'),
                                         ("tiny-intact", 1, 0, b"", b"")):
        directory = tmp / name
        directory.mkdir()
        db = str(directory / "l.db")
        key = write_key_pair(Signer.generate(), directory / "k")[0]
        with open_ledger(db, signing_key=key) as led, led.transaction() as tx:
            for _ in range(appends):
                tx.append("stage", _stage())
        if seq:
            _rehash(db, seq, old, new)
        cases += [(f"{name}-1", db, [], None, False, 1), (f"{name}-3", db, [], None, False, 3)]
    for column, value in (("run_id", "'zz'"), ("record_type", "'decision'")):
        _, db, _, _, pin = fresh(f"column-{column}")
        with tamper.raw(db) as run:
            run(f"UPDATE records SET {column} = {value} WHERE seq = 4")
        cases.append((f"column-{column}", db, [pin], None, False, 1))
    (tmp / "deep").mkdir()
    test_defences.test_deep_checks_that_bytes_are_canonical(tmp / "deep")
    deep_db = str(tmp / "deep" / "ledger.db")
    cases += [("deep", deep_db, [], None, True, 1), ("deep-fast", deep_db, [], None, False, 1)]
    return cases


class Judge:
    def __init__(self, cases: list[Case]) -> None:
        self.cases = cases
        self.stores = {db: SQLiteStore(Path(db), create=False) for _, db, *_ in cases}
        self.exports: dict[str, list[str]] = {}
        for db, store in self.stores.items():
            out = io.StringIO()
            write_jsonl(types.SimpleNamespace(store=store), out)  # type: ignore[arg-type]
            self.exports[db] = out.getvalue().splitlines()

    def _locate(self, db: str) -> Callable[[int], bool]:
        return lambda seq: any(json.loads(bytes(r[4])).get("seq") == seq for r in self.stores[db].scan())

    def cli(self, mod: types.ModuleType) -> list[Any]:
        verdicts: list[Any] = []
        for _, db, pins, kept, deep, workers in self.cases:
            store = self.stores[db]
            try:
                if workers == 1:
                    r = mod.verify_rows(store.scan_batches(), checkpoint=kept, pubkeys=pins, deep=deep,
                                        locate_seq=self._locate(db))
                else:
                    last = (store.head() or (0,))[0]
                    starts = [1 + last * i // workers for i in range(workers)]
                    ends = [s - 1 for s in starts[1:]] + [None]
                    r = mod.combine([mod.check_segment(store.scan_batches(a, b), a, deep=deep,
                                                       locate_seq=self._locate(db),
                                                       want_hash_at=kept["size"] if kept else None)
                                     for a, b in zip(starts, ends, strict=True)], checkpoint=kept, pubkeys=pins)
                verdicts.append((r.exit_code, r.seq, r.records))
            except Exception as exc:  # a mutant that crashes is killed
                verdicts.append(type(exc).__name__)
        return verdicts

    def tool(self, mod: types.ModuleType) -> list[Any]:
        verdicts: list[Any] = []
        for _, db, pins, kept, _, _ in self.cases:
            lines = [json.loads(text) for text in self.exports[db]]
            pinned = {mod.hashlib.sha256(mod.b64d(p)).hexdigest()[:32]: p for p in pins}
            try:
                verdicts.append(mod.verify(lines, kept, pinned)[0])
            except Exception as exc:
                verdicts.append(type(exc).__name__)
        return verdicts


def load(path: str, text: str) -> types.ModuleType:
    mod = types.ModuleType("mutant_" + path.replace("/", "_").replace(".", "_"))
    mod.__file__ = str(REPO / path)
    sys.modules[mod.__name__] = mod  # dataclasses look their module up
    exec(compile(text, str(REPO / path), "exec"), mod.__dict__)
    return mod


def run(path: str, functions: list[str], judge: Callable[[types.ModuleType], list[Any]]) -> None:
    text = (REPO / path).read_text()
    lines = text.splitlines(keepends=True)
    baseline = judge(load(path, text))
    spans = []
    for name in functions:
        start = next(i for i, line in enumerate(lines) if line.startswith(f"def {name}("))
        end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith(("def ", "class ", "@"))),
                   len(lines))
        spans.append((start, end))
    killed, survived = 0, 0
    for i, mutated in mutants(lines, lambda i: any(a <= i < b for a, b in spans)):
        try:
            verdicts = judge(load(path, "".join([*lines[:i], mutated, *lines[i + 1:]])))
        except Exception:
            verdicts = None
        if verdicts == baseline:
            survived += 1
            print(f"SURVIVED {path}:{i + 1}: {lines[i].strip()}  ->  {mutated.strip()}", flush=True)
        else:
            killed += 1
    print(f"{path}: {killed} killed, {survived} survived", flush=True)


def main() -> int:
    os.chdir(REPO)
    with tempfile.TemporaryDirectory() as tmp:
        judge = Judge(build_cases(Path(tmp)))
        run("carbonguard/ledger/verify.py", ["check_segment", "combine", "verify_rows", "_check_checkpoint",
                                              "_against_checkpoint", "_diagnose"], judge.cli)
        run("tools/verify_ledger.py", ["canon", "signed", "message", "cp_signed", "key_record", "verify"],
            judge.tool)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
