"""A writer signs only on a head it can verify (`Ledger._check_head`, `verify.head_seal_problem`).

Why: every write ends with a seal that signs the head, and through the links everything before it.
Written on a head that someone without the key rewrote, it vouched for the rewrite: an edit
re-linked with forged checkpoints, or with its checkpoints stripped, became "intact" after the next
ordinary append, in every verification mode (found in review). Now nothing is written there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from carbonguard.ledger import Signer, UnsealedHead, open_ledger
from carbonguard.ledger import ledger as ledger_module

from .conftest import stage_record
from .tamper import rebuild, rewrite_from, rows

REPO = Path(__file__).resolve().parents[2]


def _stage(run_id: str = "run-x", hour: int = 0) -> dict:
    return stage_record(run_id=run_id, hour=hour).model_dump(mode="json")


def _edit(payload: dict) -> None:
    payload["stage"] = "edited"


def _ledger(url: str) -> Signer:
    signer = Signer.generate()
    with open_ledger(url, signing_key=signer) as led:
        for i in range(6):
            led.append("stage", _stage(hour=i))
    return signer


def _strip_after_first_stage(envs: list[dict]) -> list[dict]:
    """Edit the first stage, drop every checkpoint after it (rebuild re-links and renumbers)."""
    out, seen = [], False
    for env in envs:
        if env["record_type"] == "stage" and not seen:
            seen = True
            _edit(env["payload"])
        elif seen and env["record_type"] == "checkpoint":
            continue
        out.append(env)
    return out


@pytest.mark.parametrize("attack", ["forged-checkpoints", "stripped-checkpoints"])
def test_a_writer_does_not_seal_a_rewritten_chain(ledger_url: str, attack: str) -> None:
    signer = _ledger(ledger_url)
    first = next(r[0] for r in rows(ledger_url) if r[1] == "stage")
    if attack == "forged-checkpoints":
        rewrite_from(ledger_url, first, _edit, Signer.generate())
    else:
        rebuild(ledger_url, _strip_after_first_stage)
    before = rows(ledger_url)
    expected = 13 if attack == "forged-checkpoints" else 16
    with open_ledger(ledger_url, signing_key=signer) as led:
        for write in (lambda: led.append("stage", _stage("run-y")), led.checkpoint,
                      lambda: led.add_key(Signer.generate().public_b64)):
            with pytest.raises(UnsealedHead) as caught:
                write()
            assert caught.value.exit_code == expected and "Nothing was written" in str(caught.value)
    assert rows(ledger_url) == before
    with open_ledger(ledger_url, create=False) as led:
        for every in (False, True):
            assert led.verify(workers=1, every_signature=every, pubkeys=[signer.public_b64]).exit_code == expected


def test_writers_verify_each_others_seals_and_skip_their_own(ledger_url: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    signer = Signer.generate()
    checked = []
    real = ledger_module.head_seal_problem
    monkeypatch.setattr(ledger_module, "head_seal_problem", lambda *a: checked.append(a[1]) or real(*a))
    with open_ledger(ledger_url, signing_key=signer) as one, open_ledger(ledger_url, signing_key=signer) as two:
        one.append("stage", _stage(hour=0))
        assert checked == []  # a new ledger: nothing before the genesis key
        for i in range(3):
            one.append("stage", _stage(hour=i))
        assert checked == []  # its own seals
        two.append("stage", _stage(hour=5))
        one.append("stage", _stage(hour=6))
        assert len(checked) == 2  # each the other's seal, once
        assert one.verify(workers=1).ok


def test_an_unsigned_tail_is_sealed_only_on_request_and_after_verifying(tmp_path: Path) -> None:
    """`audit checkpoint --seal-unsigned-tail`: for a tail an older carbonguard left unsigned (the
    only fault: 16); any other fault is reported (its code) and nothing is written."""
    url = str(tmp_path / "ledger.db")
    signer = _ledger(url)
    from carbonguard.ledger.keys import write_key_pair

    write_key_pair(signer, tmp_path)
    key = tmp_path / "signing-key.pem"
    rebuild(url, lambda envs: [e for e in envs if not (e["record_type"] == "checkpoint" and e["seq"] > 6)])
    cli = [sys.executable, "-m", "carbonguard", "audit", "checkpoint", "--ledger", url]
    env = {"CARBONGUARD_SIGNING_KEY": str(key), "PATH": "/usr/bin:/bin"}
    plain = subprocess.run(cli, capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert plain.returncode == 16 and "--seal-unsigned-tail" in plain.stderr
    sealed = subprocess.run([*cli, "--seal-unsigned-tail"], capture_output=True, text=True, cwd=REPO, env=env,
                            timeout=60)
    assert sealed.returncode == 0, sealed.stderr
    with open_ledger(url, create=False) as led:
        assert led.verify(workers=1, every_signature=True).ok
    rewrite_from(url, 2, _edit, Signer.generate())  # now a forged signature: not an unsigned tail
    before = rows(url)
    again = subprocess.run([*cli, "--seal-unsigned-tail"], capture_output=True, text=True, cwd=REPO, env=env,
                           timeout=60)
    assert again.returncode == 13 and "nothing was sealed" in again.stderr
    assert rows(url) == before
