"""Out of file descriptors (issue 12): max-sessions is fitted into the open
files limit, the log says so at start, and a client past that cap is told
421 4.3.2 at once instead of hanging in the listen queue."""
import resource
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


def test_no_cap_under_a_generous_limit(server):
    srv = server(extra=["max-sessions 10"])
    assert "lowered to" not in srv.log()
    with srv.connect() as c:
        assert c.greeting.code == 220

