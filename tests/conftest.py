"""Shared fixtures. The end-to-end fixtures (Synapse, personas, the bot) are in tests/e2e.

The store's tests run against both backends: every test in a unit-test module that opens a
store (it uses ``make_context`` or ``Database``, or names ``STORE_BACKENDS``) runs once on
SQLite and once on a fresh schema of the session's throwaway PostgreSQL (tests/postgres.py),
as ``test_x[sqlite]`` and ``test_x[postgresql]``. ``@pytest.mark.store_backends("sqlite")``
keeps one test to the backends it names (PRAGMAs, file permissions).

A machine without PostgreSQL fails those tests with what to install. ``LOTSE_TEST_POSTGRES=skip``
skips them on a developer's machine (reported as skipped, for a quick run); never in CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres, support

BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "store_backends(*names): run only on these store backends")


def _store_backed(module: object) -> bool:
    if hasattr(module, "STORE_BACKENDS"):
        return bool(module.STORE_BACKENDS)
    path = Path(str(getattr(module, "__file__", "")))
    return path.parent.name == "unit" and any(hasattr(module, n) for n in ("make_context", "Database"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_backend" not in metafunc.fixturenames or not _store_backed(metafunc.module):
        return
    backends = getattr(metafunc.module, "STORE_BACKENDS", BACKENDS)
    marker = metafunc.definition.get_closest_marker("store_backends")
    if marker is not None:
        backends = tuple(b for b in backends if b in marker.args)
    metafunc.parametrize("store_backend", backends, indirect=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.ThrowawayPostgres]:
    """One throwaway PostgreSQL for the session, started when a test first needs it."""
    if postgres.may_skip():
        pytest.skip(f"PostgreSQL tests skipped: {postgres.OPT_OUT_ENV}=skip")
    try:
        server = postgres.start_server()
    except postgres.PostgresUnavailable as exc:
        pytest.fail(
            f"PostgreSQL is needed for the store tests and cannot be started: {exc}. "
            f"(On a developer's machine {postgres.OPT_OUT_ENV}=skip skips them, visibly; never in CI.)",
            pytrace=False,
        )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def store_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The store backend of this test (see the module's docstring)."""
    backend = str(getattr(request, "param", "sqlite"))
    if backend == "postgresql" and postgres.may_skip():
        pytest.skip(f"PostgreSQL store tests skipped: {postgres.OPT_OUT_ENV}=skip")
    server = request.getfixturevalue("postgres_server") if backend == "postgresql" else None
    support.STORE.backend, support.STORE.server = backend, server
    try:
        yield backend
    finally:
        schemas, support.STORE.schemas = list(support.STORE.schemas.values()), {}
        support.STORE.backend, support.STORE.server = "sqlite", None
        if server is not None:
            server.release(schemas)
