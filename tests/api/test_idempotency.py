"""``ledger.idempotency`` on SQLite and PostgreSQL: claim, replay, conflict, purge, and two concurrent
requests with one key doing the work once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ledger import idempotency
from ledger.errors import ConflictError, ValidationError
from ledger.store.db import session_factory
from tests.db import BACKENDS, fresh_database

SCOPE = "test.scope"


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with fresh_database(str(request.param), tmp_path) as engine:
        yield engine


def test_a_key_is_claimed_then_replays_its_answer(engine: Engine) -> None:
    sessions = session_factory(engine)
    digest = idempotency.request_hash(b"body")
    with sessions.begin() as session:
        assert idempotency.begin(session, SCOPE, "k1", digest, now=10) is None
        idempotency.finish(session, SCOPE, "k1", 200, b'{"ok":true}')
    with sessions.begin() as session:
        stored = idempotency.begin(session, SCOPE, "k1", digest, now=11)
    assert stored == idempotency.StoredResponse(200, b'{"ok":true}')
    with sessions.begin() as session, pytest.raises(ConflictError, match="different request"):
        idempotency.begin(session, SCOPE, "k1", idempotency.request_hash(b"other"), now=12)
    # The same key in another scope is another key.
    with sessions.begin() as session:
        assert idempotency.begin(session, "other.scope", "k1", digest, now=13) is None


def test_a_failed_request_frees_its_key(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions() as session:
        assert idempotency.begin(session, SCOPE, "k2", "h", now=1) is None
        session.rollback()
    with sessions.begin() as session:
        assert idempotency.begin(session, SCOPE, "k2", "h", now=2) is None


@pytest.mark.parametrize("key", ["", " x", "x" * 256, "\u00e9", "a\nb"])
def test_malformed_keys_are_refused(engine: Engine, key: str) -> None:
    with session_factory(engine)() as session, pytest.raises(ValidationError):
        idempotency.begin(session, SCOPE, key, "h", now=1)


def test_purge_drops_old_keys_only(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as session:
        for key, at in (("old", 100), ("new", 200)):
            idempotency.begin(session, SCOPE, key, "h", now=at)
            idempotency.finish(session, SCOPE, key, 200, b"{}")
    with sessions.begin() as session:
        assert idempotency.purge(session, older_than=150) == 1
    with sessions.begin() as session:
        assert idempotency.begin(session, SCOPE, "new", "h", now=300) is not None
        assert idempotency.begin(session, SCOPE, "old", "h", now=300) is None


def test_two_concurrent_requests_with_one_key_do_the_work_once(engine: Engine) -> None:
    sessions = session_factory(engine)
    done: list[str] = []
    answers: dict[str, idempotency.StoredResponse | None] = {}
    first_claimed = threading.Event()

    def request(name: str, session: Session) -> None:
        with session.begin():
            stored = idempotency.begin(session, SCOPE, "race", "h", now=1)
            answers[name] = stored
            if stored is None:
                first_claimed.set()
                done.append(name)  # the work
                threading.Event().wait(0.3)  # the second request arrives meanwhile
                idempotency.finish(session, SCOPE, "race", 200, f'{{"by":"{name}"}}'.encode())

    one = threading.Thread(target=request, args=("one", sessions()))
    one.start()
    assert first_claimed.wait(10)
    two = threading.Thread(target=request, args=("two", sessions()))
    two.start()
    one.join(20)
    two.join(20)
    assert done == ["one"]
    assert answers["two"] == idempotency.StoredResponse(200, b'{"by":"one"}')
