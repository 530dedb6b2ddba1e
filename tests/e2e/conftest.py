"""Fixtures for the end-to-end tests: a factory of smtpauthd instances.

    def test_x(server):
        srv = server(extra=["max-recipients 3"])
        with srv.connect() as c: ...

Each instance lives in its own directory under /tmp with its own ports,
users file, Maildir root, spool and log; at teardown it gets SIGTERM, ten
seconds, then SIGKILL for its whole process group, and the directory is
removed (keep it with SMTPAUTH_E2E_KEEP=1).  A crash or sanitizer report in
its log fails the test at teardown unless the test set allow_crash.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2elib import SMTPAUTHD, Server  # noqa: E402


def pytest_configure(config):
    if not SMTPAUTHD.is_file():
        raise pytest.UsageError(
            "%s not found: run make first (or set SMTPAUTH_BUILD)" % SMTPAUTHD)


class _Factory:
    def __init__(self):
        self.servers = []

    def __call__(self, extra=(), start=True, **kw):
        srv = Server(extra=extra, **kw)
        self.servers.append(srv)
        if start:
            srv.start()
        return srv

    def cleanup(self):
        problems = []
        for srv in self.servers:
            problems += srv.cleanup()
        return problems


@pytest.fixture
def server():
    """Factory: server(extra=[directives], users=[...], domains=[...],
    ipv6=False, workers=2, start=True) -> a started Server."""
    f = _Factory()
    yield f
    problems = f.cleanup()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def module_server_factory():
    """The same factory for servers shared by a module's tests (used where
    the tests are independent sessions that cannot disturb one another)."""
    f = _Factory()
    yield f
    problems = f.cleanup()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
