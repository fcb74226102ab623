"""Each sentence of docs/ledger.md "What the ledger guarantees", as an attack on both stores.

The attacker can write the store (triggers out of the way) but holds no key the ledger trusts,
unless a case says otherwise. The auditor pins the first key (`--pubkey`) and, in the second
half of each case, also holds a checkpoint exported before the attack. Every case runs through
`carbonguard audit verify` and through the standalone verifier on an export, which must agree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from carbonguard.cli.main import main
from carbonguard.ledger import Signer, open_ledger
from carbonguard.ledger.keys import load_signer, write_key_pair

from .conftest import stage_record
from .tamper import append_raw, raw, rebuild, rewrite_from, rows, signed_checkpoint

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_ledger.py"


def _stages(envs: list[dict]) -> list[int]:
    return [i for i, e in enumerate(envs) if e["record_type"] == "stage"]


def strip_checkpoints_and_relink(url: str, ctx: dict) -> None:
    """The attack of issue 9: drop every checkpoint, lower a signed figure, rebuild the chain."""
    def change(envs: list[dict]) -> list[dict]:
        kept = [e for e in envs if e["record_type"] != "checkpoint"]
        kept[1]["payload"]["components"][0]["energy_kwh"] = "0.01"
        return kept
    rebuild(url, change)


def relink_keeping_checkpoints(url: str, ctx: dict) -> None:
    """Edit a record and re-link everything, keeping the old signed checkpoints as they were."""
    def change(envs: list[dict]) -> list[dict]:
        envs[_stages(envs)[1]]["payload"]["host"] = "elsewhere"
        return envs
    rebuild(url, change)


def drop_checkpoints_only(url: str, ctx: dict) -> None:
    with raw(url) as run:
        run("DELETE FROM records WHERE record_type = 'checkpoint' AND seq > 3")


def forge_checkpoints(url: str, ctx: dict) -> None:
    rewrite_from(url, 4, lambda p: p.update(host="elsewhere"), Signer.generate())


def append_unsigned(url: str, ctx: dict) -> None:
    append_raw(url, "stage", stage_record(run_id="run-x").model_dump(mode="json"), ctx["signer"].key_id)


def append_under_unenrolled_key(url: str, ctx: dict) -> None:
    stranger = Signer.generate()
    append_raw(url, "stage", stage_record(run_id="run-x").model_dump(mode="json"), stranger.key_id)
    signed_checkpoint(url, stranger)


def cut_to_checkpoint(url: str, ctx: dict) -> None:
    with raw(url) as run:  # the last write transaction: a stage and the checkpoint sealing it
        run("DELETE FROM records WHERE seq >= ?", (ctx["head"] - 1,))


def cut_seal(url: str, ctx: dict) -> None:
    with raw(url) as run:
        run("DELETE FROM records WHERE seq = ?", (ctx["head"],))


def insert_in_middle(url: str, ctx: dict) -> None:
    def change(envs: list[dict]) -> list[dict]:
        extra = json.loads(json.dumps(envs[_stages(envs)[0]]))
        extra["record_id"] = "00000000-0000-4000-8000-000000000001"
        return [*envs[:4], extra, *envs[4:]]
    rebuild(url, change)


def duplicate_row(url: str, ctx: dict) -> None:
    """A copy of record 4 placed at 5, the rest moved up one (its hash column altered, as the
    column is unique)."""
    with raw(url) as run:
        all_rows = run("SELECT seq, record_type, run_id, record_hash, envelope FROM records ORDER BY seq DESC")
        for r in all_rows:
            if r[0] >= 5:
                run("UPDATE records SET seq = ? WHERE seq = ?", (-(r[0] + 1), r[0]))
        run("UPDATE records SET seq = -seq WHERE seq < 0")
        four = next(r for r in all_rows if r[0] == 4)
        run("INSERT INTO records VALUES (?, ?, ?, ?, ?)", (5, four[1], four[2], "f" * 64, bytes(four[4])))


def delete_middle(url: str, ctx: dict) -> None:
    with raw(url) as run:
        run("DELETE FROM records WHERE seq = 4")


def swap(url: str, ctx: dict) -> None:
    with raw(url) as run:
        run("UPDATE records SET seq = -1 WHERE seq = 4")
        run("UPDATE records SET seq = 4 WHERE seq = 6")
        run("UPDATE records SET seq = 6 WHERE seq = -1")


def edit_bytes(url: str, ctx: dict) -> None:
    env = bytes(rows(url)[3][4])
    with raw(url) as run:
        run("UPDATE records SET envelope = ? WHERE seq = 4", (env.replace(b"host-a", b"host-b"),))


def new_ledger_under_own_key(url: str, ctx: dict) -> None:
    other = str(ctx["tmp"] / "attacker.db")
    with open_ledger(other, signing_key=Signer.generate()) as led:
        led.append("stage", stage_record(run_id="run-x").model_dump(mode="json"))
    forged = rows(other)
    with raw(url) as run:
        run("DELETE FROM records")
        for r in forged:
            run("INSERT INTO records VALUES (?, ?, ?, ?, ?)", (r[0], r[1], r[2], r[3], bytes(r[4])))


def empty(url: str, ctx: dict) -> None:
    with raw(url) as run:
        run("DELETE FROM records")


def retired_key_writes_on(url: str, ctx: dict) -> None:
    """The writer rotated its key; whoever still holds the old one (and the store) appends."""
    with open_ledger(url, signing_key=ctx["signer"]) as led:
        led.rotate_key(Signer.generate())
    append_raw(url, "stage", stage_record(run_id="run-x").model_dump(mode="json"), ctx["signer"].key_id)
    signed_checkpoint(url, ctx["signer"])


def second_genesis(url: str, ctx: dict) -> None:
    """A self-signed first-key record of the attacker's own, appended mid-chain, then used."""
    from carbonguard.ledger.keys import key_message

    mine = Signer.generate()
    with raw(url) as run:
        prev = run("SELECT record_hash FROM records ORDER BY seq DESC LIMIT 1")[0][0]
    append_raw(url, "key", {"action": "genesis", "algorithm": "ed25519", "key_id": mine.key_id,
                            "public_key": mine.public_b64, "signed_by": mine.key_id,
                            "signature": mine.sign(key_message("genesis", mine.key_id, mine.public_b64,
                                                               mine.key_id, prev))}, mine.key_id)
    append_raw(url, "stage", stage_record(run_id="run-x").model_dump(mode="json"), mine.key_id)
    signed_checkpoint(url, mine)


def retired_key_enrols_a_key(url: str, ctx: dict) -> None:
    """After a rotation, the old key's holder enrols a key of their own and writes with it."""
    from carbonguard.ledger.keys import key_message

    old = ctx["signer"]
    with open_ledger(url, signing_key=old) as led:
        led.rotate_key(Signer.generate())
    mine = Signer.generate()
    with raw(url) as run:
        prev = run("SELECT record_hash FROM records ORDER BY seq DESC LIMIT 1")[0][0]
    append_raw(url, "key", {"action": "add", "algorithm": "ed25519", "key_id": mine.key_id,
                            "public_key": mine.public_b64, "signed_by": old.key_id,
                            "signature": old.sign(key_message("add", mine.key_id, mine.public_b64, old.key_id,
                                                              prev))}, old.key_id)
    append_raw(url, "stage", stage_record(run_id="run-x").model_dump(mode="json"), mine.key_id)
    signed_checkpoint(url, mine)


def retired_key_right_after_rotation(url: str, ctx: dict) -> None:
    """The rotation's seal (the new key's first signature) is cut, and the old key writes on
    straight after the record that retired it."""
    with open_ledger(url, signing_key=ctx["signer"]) as led:
        led.rotate_key(Signer.generate())
    with raw(url) as run:
        run("DELETE FROM records WHERE seq = (SELECT max(seq) FROM records)")
    append_raw(url, "stage", stage_record(run_id="run-x").model_dump(mode="json"), ctx["signer"].key_id)
    signed_checkpoint(url, ctx["signer"])


# case -> (attack, exit code with --pubkey, exit code with --pubkey and the kept checkpoint)
CASES: dict[str, tuple[Callable[[str, dict], None], int, int]] = {
    # cannot change a record covered by a checkpoint
    "edit-bytes": (edit_bytes, 10, 10),
    "relink-keeping-checkpoints": (relink_keeping_checkpoints, 13, 13),
    "forge-checkpoints": (forge_checkpoints, 13, 13),
    # cannot remove, reorder or insert records covered by a checkpoint
    "delete-middle": (delete_middle, 11, 11),
    "swap": (swap, 12, 12),
    "duplicate-row": (duplicate_row, 12, 12),
    "insert-in-middle": (insert_in_middle, 13, 13),
    # cannot strip checkpoints, with or without re-linking
    "drop-checkpoints-only": (drop_checkpoints_only, 11, 11),
    "strip-checkpoints-and-relink": (strip_checkpoints_and_relink, 16, 14),
    # cannot add records: unsigned, or signed by a key that is not enrolled or was rotated out
    "append-unsigned": (append_unsigned, 16, 16),
    "append-under-unenrolled-key": (append_under_unenrolled_key, 15, 15),
    "retired-key-writes-on": (retired_key_writes_on, 15, 15),
    "retired-key-right-after-rotation": (retired_key_right_after_rotation, 15, 15),
    "retired-key-enrols-a-key": (retired_key_enrols_a_key, 15, 15),
    "second-genesis": (second_genesis, 13, 13),
    "cut-seal": (cut_seal, 16, 16),
    # cannot replace or empty the ledger under a pinned key
    "new-ledger-under-own-key": (new_ledger_under_own_key, 15, 15),
    "empty": (empty, 15, 15),
    # CAN cut back to an earlier checkpoint; only a kept checkpoint shows it
    "cut-to-checkpoint": (cut_to_checkpoint, 0, 14),
}


@pytest.mark.parametrize("case", list(CASES))
def test_guarantee(case: str, ledger_url: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    key, pub = write_key_pair(Signer.generate(), tmp_path / "keys")
    signer = load_signer(key)
    with open_ledger(ledger_url, signing_key=signer) as led:
        for i in range(5):
            led.append("stage", stage_record(run_id=f"run-{i % 2}").model_dump(mode="json"))
        head = led.records()[-1].seq
        kept = tmp_path / "kept.json"
        kept.write_text(json.dumps(led.export_checkpoint(led.latest_checkpoint())))
    assert head == 11
    attack, pinned, with_checkpoint = CASES[case]
    attack(ledger_url, {"signer": signer, "head": head, "tmp": tmp_path})
    export = tmp_path / "export.jsonl"
    assert main(["audit", "export", "--ledger", ledger_url, "--out", str(export)]) == 0
    for extra, expected in (([], pinned), (["--checkpoint", str(kept)], with_checkpoint)):
        args = ["--pubkey", str(pub), *extra]
        capsys.readouterr()
        assert main(["audit", "verify", "--ledger", ledger_url, *args]) == expected, capsys.readouterr().err
        tool = subprocess.run([sys.executable, str(TOOL), str(export), *args], capture_output=True, text=True,
                              timeout=60)
        assert tool.returncode == expected, tool.stderr


@pytest.mark.parametrize("content", ["{}", "[]", "null", '{"format": "carbonguard-checkpoint/1"}', '"x"'])
def test_a_checkpoint_file_that_is_not_one_is_an_input_error(content: str, tmp_path: Path) -> None:
    url = str(tmp_path / "ledger.db")
    with open_ledger(url, signing_key=Signer.generate()) as led:
        led.append("stage", stage_record().model_dump(mode="json"))
    export, cp = tmp_path / "export.jsonl", tmp_path / "cp.json"
    cp.write_text(content)
    assert main(["audit", "export", "--ledger", url, "--out", str(export)]) == 0
    assert main(["audit", "verify", "--ledger", url, "--checkpoint", str(cp)]) == 2
    tool = subprocess.run([sys.executable, str(TOOL), str(export), "--checkpoint", str(cp)], capture_output=True,
                          text=True, timeout=60)
    assert tool.returncode == 2 and "not a carbonguard checkpoint" in tool.stderr, tool.stderr


def test_a_checkpoint_signed_after_a_rotation_verifies_against_the_first_key(ledger_url: str,
                                                                            tmp_path: Path) -> None:
    key, pub = write_key_pair(Signer.generate(), tmp_path / "keys")
    with open_ledger(ledger_url, signing_key=key) as led:
        led.append("stage", stage_record().model_dump(mode="json"))
        led.rotate_key(Signer.generate())
        led.append("stage", stage_record().model_dump(mode="json"))
        kept = tmp_path / "kept.json"
        kept.write_text(json.dumps(led.export_checkpoint(led.latest_checkpoint())))
    export = tmp_path / "export.jsonl"
    assert main(["audit", "export", "--ledger", ledger_url, "--out", str(export)]) == 0
    args = ["--pubkey", str(pub), "--checkpoint", str(kept)]
    assert main(["audit", "verify", "--ledger", ledger_url, *args]) == 0
    tool = subprocess.run([sys.executable, str(TOOL), str(export), *args], capture_output=True, text=True, timeout=60)
    assert tool.returncode == 0, tool.stderr
