"""The PostgreSQL store's session settings: JIT off (every ledger query is an index probe or a
streamed scan; on a freshly bulk-loaded table the gate's outline query was priced above
jit_above_cost and spent 6 ms compiling a 0.05 ms probe), and the URL's own libpq options kept."""

from __future__ import annotations

import pytest

from carbonguard.ledger import Signer, open_ledger

pytestmark = pytest.mark.postgres


def test_jit_is_off_and_the_urls_options_are_kept(pg_url: str) -> None:
    url = pg_url + "&options=-c%20statement_timeout%3D12345"
    with open_ledger(url, signing_key=Signer.generate()) as led:
        led.append("stage", {"run_id": "r", "x": "1"})
        assert led.store._db.execute("SHOW jit").fetchone()[0] == "off"
        assert led.store._db.execute("SHOW statement_timeout").fetchone()[0] == "12345ms"
        assert led.verify(workers=1).ok


def test_jit_is_off_on_every_connection_the_store_opens(pg_url: str, monkeypatch) -> None:
    seen = []
    with open_ledger(pg_url, signing_key=Signer.generate()) as led:
        led.append("stage", {"run_id": "r", "x": "1"})
        seen.append(led.store._db.execute("SHOW jit").fetchone()[0])
        connect = led.store._connect

        def spy(**kwargs):
            conn = connect(**kwargs)
            seen.append(conn.execute("SHOW jit").fetchone()[0])
            return conn

        monkeypatch.setattr(led.store, "_connect", spy)
        assert led.verify(workers=1).ok  # the verifier's COPY connection
    assert seen == ["off", "off"]


@pytest.mark.parametrize("url", ["postgresql://127.0.0.1:5432/test?bogus=1", "postgresql://[bad/test"])
def test_a_url_libpq_cannot_parse_is_bad_input_not_a_crash(url: str) -> None:
    from carbonguard.cli.main import main
    from carbonguard.errors import InputError

    with pytest.raises(InputError):
        open_ledger(url, create=False)
    assert main(["audit", "verify", "--ledger", url]) == 2


def test_a_snapshot_whose_first_read_fails_leaves_the_connection_usable(pg_url: str) -> None:
    import psycopg

    with open_ledger(pg_url, signing_key=Signer.generate()) as led:
        led.append("stage", {"run_id": "r", "x": "1"})
        store = led.store
        with pytest.raises(psycopg.Error), store.snapshot():
            store._snapshot_read("SELECT 1/0")  # the BEGIN went with it: the server's block is aborted
        assert store._db.execute("SELECT 1").fetchone()[0] == 1
        led.append("stage", {"run_id": "r", "x": "2"})
        assert led.verify(workers=1).ok
