"""Out of file descriptors (issue 12): max-sessions is fitted into the open
files limit, the log says so at start, and a client past that cap is told
421 4.3.2 at once instead of hanging in the listen queue."""
import os
import resource
import subprocess
import sys
import time

from e2elib import T, Client

LIMIT = 64


def low_nofile():
    # Soft and hard alike: smtpauthd raises a soft limit to the hard one.
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


def test_max_sessions_fits_the_descriptor_limit(server):
    srv = server(extra=["max-sessions 1000"], workers=1, start=False)
    srv.preexec = low_nofile
    srv.start()
    m = srv.wait_log(r"max-sessions 1000 lowered to (\d+): open files "
                     r"limit %d" % LIMIT)
    cap = int(m.group(1))
    assert 1 <= cap < LIMIT // 2, cap
    time.sleep(T(0.3))      # the start-up probe session is gone
    held = []
    try:
        for _ in range(cap):
            c = srv.connect()
            assert c.greeting.code == 220, c.greeting
            held.append(c)
        # Every connection past the cap is answered, promptly.
        for _ in range(cap + 10):
            start = time.monotonic()
            with Client(srv.port, timeout=T(3)) as extra:
                g = extra.greeting
                assert g.line == "421 4.3.2 %s service not available, " \
                    "try later" % srv.hostname, g
                assert extra.read_until_closed(3) == b""
            assert time.monotonic() - start < T(2)
        # The sessions held still work, with a message each.
        for c in held[:3]:
            c.ehlo()
            assert c.cmd("MAIL FROM:<a@example.com>").code == 250
            assert c.cmd("RCPT TO:<user@example.org>").code == 250
            assert c.cmd("DATA").code == 354
            c.send(b"Subject: held\r\n\r\nbody\r\n.\r\n")
            assert c.reply().code == 250
    finally:
        for c in held:
            c.close()
    srv.wait_log(r"refuse reason=max-sessions-fd-limit")
    # Room again once they are gone.
    deadline = time.monotonic() + T(5)
    while True:
        with Client(srv.port) as c:
            if c.greeting.code == 220:
                break
        assert time.monotonic() < deadline, "no room after the sessions left"
        time.sleep(0.1)
    srv.wait_messages("user@example.org", 3)


def set_soft_nofile(pid, soft):
    """The worker's soft open files limit, set as its own user may (it runs
    as nobody under a root suite, and root here may lack CAP_SYS_RESOURCE):
    a soft limit may go down and back up to the hard one."""
    code = ("import resource, sys; p = int(sys.argv[1]); "
            "h = resource.prlimit(p, resource.RLIMIT_NOFILE)[1]; "
            "resource.prlimit(p, resource.RLIMIT_NOFILE, "
            "(int(sys.argv[2]) if sys.argv[2] != '-' else h, h))")
    kw = {}
    if os.geteuid() == 0:
        kw = dict(user="nobody", group="nogroup", extra_groups=[])
    subprocess.run([sys.executable, "-c", code, str(pid), str(soft)],
                   check=True, **kw)


def test_out_of_descriptors_at_accept_is_answered(server):
    """The worker runs out of descriptors after its start (its limit is
    lowered from outside, as prlimit(1) does): accept fails with EMFILE,
    and each waiting client is still told 421 4.3.2 at once, through the
    worker's spare descriptor, instead of hanging."""
    srv = server(workers=1)
    pid = srv.worker_pids()[0]
    top = max(int(fd) for fd in os.listdir("/proc/%d/fd" % pid))
    set_soft_nofile(pid, top + 1)
    got = []
    try:
        # Free numbers below the top (if any) take a few sessions first.
        for _ in range(top + 3):
            start = time.monotonic()
            c = Client(srv.port, timeout=T(3))
            srv.clients.append(c)
            assert time.monotonic() - start < T(2)
            got.append(c.greeting.line)
            if c.greeting.code != 220:
                assert c.read_until_closed(3) == b""
        refused = [g for g in got if g.startswith("421")]
        assert refused, got
        assert set(refused) == {"421 4.3.2 %s service not available, "
                                "try later" % srv.hostname}, refused
        srv.wait_log(r"refuse reason=out-of-descriptors")
    finally:
        set_soft_nofile(pid, "-")
    # With descriptors again, a client is served (the spare came back).
    for c in srv.clients:
        c.close()
    deadline = time.monotonic() + T(5)
    while True:
        with Client(srv.port) as c:
            if c.greeting.code == 220:
                break
        assert time.monotonic() < deadline, "not served after the limit"
        time.sleep(0.1)
    assert srv.running()


def test_no_cap_under_a_generous_limit(server):
    srv = server(extra=["max-sessions 10"])
    assert "lowered to" not in srv.log()
    with srv.connect() as c:
        assert c.greeting.code == 220

