"""Raw client sessions from other projects' fuzz corpora, thrown at
smtpauthd: once in one write, once in small random pieces.  The replies
must not depend on the cut, nothing may crash, and a normal session must
still be served afterwards.

Seeds are read in place from ../shared/peer-suites/fuzz-seeds/smtp-sessions/
(chasquid, profuzzbench; Apache-2.0); skipped when absent.
"""
import random
import re
import time

import pytest

from e2elib import (CRASH_RE, PEER_SUITES, Client, crlf,
                    normalize_ids, parse_replies, split_delivered)

SEED_DIR = PEER_SUITES / "fuzz-seeds" / "smtp-sessions"
SEEDS = sorted(SEED_DIR.glob("*.smtp")) if SEED_DIR.is_dir() else []


@pytest.fixture(scope="module")
def fuzz_server(module_server_factory):
    # The seeds' recipients: chasquid's user@testserver, exim's ubuntu@ubuntu.
    return module_server_factory(users=["user@testserver", "ubuntu@ubuntu"],
                                 domains=["testserver", "ubuntu"])


def _play(port, data, rng=None):
    """Send data (in random pieces when rng is given); the reply lines."""
    with Client(port) as c:
        try:
            if rng is None:
                c.send(data)
            else:
                i = 0
                while i < len(data):
                    n = rng.randint(1, 7)
                    c.send(data[i:i + n])
                    i += n
                    time.sleep(0.0005)
        except (BrokenPipeError, ConnectionResetError):
            pass
        rest = c.read_idle(0.3)
    # A trailing partial line (the server closed mid-reply) would be a bug.
    assert rest == b"" or rest.endswith(b"\r\n"), rest[-200:]
    return [c.greeting.line] + normalize_ids(
        [l for r in parse_replies(rest) for l in r.lines])


@pytest.mark.skipif(not SEEDS, reason="%s not present" % SEED_DIR)
@pytest.mark.parametrize("seed", SEEDS, ids=[p.name for p in SEEDS])
def test_fuzz_seed(fuzz_server, seed):
    srv = fuzz_server
    data = seed.read_bytes()
    mark = len(srv.log())
    whole = _play(srv.port, data)
    pieces = _play(srv.port, data, random.Random(seed.name))
    assert whole == pieces
    # Still serving: a normal message goes through.
    msg = crlf("Subject: after %s\n\nstill alive\n" % seed.name)
    qid = srv.send_message("check@example.com", ["user@testserver"], msg)
    raw = srv.wait_queue_id("user@testserver", qid)
    assert split_delivered(raw)["body"] == msg.replace(b"\r\n", b"\n")
    new_log = srv.log()[mark:]
    assert not CRASH_RE.search(new_log), new_log
    assert not re.search(r"exited with status", new_log), new_log
