"""Slow clients (issue 12, slowloris): a byte now and then does not hold a
session.  A command line must be complete within command-timeout of the
session starting to wait for it; a message must arrive at data-min-rate
octets a second on average, with data-timeout as the most it may fall
behind.  A slow but honest client still gets through.

The configured values are small so that the tests are fast; the trickles
send a byte far more often than the timeouts (which, before these
deadlines, were pushed back by every byte and so never fired).
"""
import socket
import time

from e2elib import T


def expect_timeout(c, within):
    """The 421 4.4.2 of a timeout arrives within `within` s, then EOF."""
    c.settimeout(T(within))
    r = c.reply()
    assert r.code == 421 and r.enhanced == "4.4.2", r
    assert c.read_until_closed() == b""


def trickle(c, data, every, limit):
    """Send data one byte every `every` s until the server closes; the
    seconds that took (at most `limit`, else the test fails)."""
    start = time.monotonic()
    for i in range(len(data)):
        try:
            c.send(data[i:i + 1])
        except OSError:
            break
        time.sleep(every)
        if c.read_idle(0.01):
            break
        assert time.monotonic() - start < T(limit), \
            "still open after %ss of a trickle" % limit
    return time.monotonic() - start


def test_command_line_trickle_is_cut_off(server):
    srv = server(extra=["command-timeout 3"])
    with srv.connect() as c:
        c.settimeout(T(1))
        start = time.monotonic()
        # 60 bytes at 0.25 s: 15 s of a line, each byte well inside 3 s.
        line = b"NOOP " + b"x" * 55
        sent = 0
        closed = False
        while sent < len(line) and time.monotonic() - start < T(8):
            c.send(line[sent:sent + 1])
            sent += 1
            time.sleep(0.25)
            got = c.read_idle(0.01)
            if got:
                assert got.startswith(b"421 4.4.2 "), got
                closed = True
                break
        took = time.monotonic() - start
        assert closed, "no 421 after %d bytes in %.1fs" % (sent, took)
        assert 2.5 <= took < T(5), took
    srv.wait_log(r"disconnect reason=timeout")


def test_unterminated_line_is_cut_off(server):
    """No newline ever: the same cut-off, even for an over-long line."""
    srv = server(extra=["command-timeout 2"])
    with srv.connect() as c:
        c.ehlo()
        c.send(b"y" * 3000)     # over the line limit: skipped to its end
        r = c.reply()
        assert r.code == 500, r
        c.settimeout(T(1))
        took = trickle(c, b"y" * 60, 0.25, 8)
        assert 1.5 <= took < T(4), took


def test_data_trickle_is_cut_off(server):
    # 100 octets a second required; a byte every 0.2 s is 5 a second.
    srv = server(extra=["data-timeout 2", "data-min-rate 100"])
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        c.settimeout(T(1))
        took = trickle(c, b"Subject: slow\r\n\r\n" + b"z" * 200, 0.2, 8)
        assert 1.8 <= took < T(4), took
    srv.wait_log(r"abort-data reason=timeout")
    srv.wait_queue_empty()
    assert srv.messages("user@example.org") == []


def test_bdat_trickle_is_cut_off(server):
    """Chunks of one octet: the waits between chunks count too."""
    srv = server(extra=["data-timeout 2", "data-min-rate 1000",
                        "command-timeout 30"])
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        start = time.monotonic()
        got = b""
        while time.monotonic() - start < T(8):
            try:
                c.send(b"BDAT 1\r\nx")
            except OSError:
                break
            time.sleep(0.3)
            got = c.read_idle(0.01)
            if b"421" in got:
                break
        assert b"421 4.4.2 " in got, got
        assert time.monotonic() - start < T(4)


def test_slow_honest_client_gets_through(server):
    """Slower than the timeouts overall, but never idle for long and above
    the rate: 8 s of DATA at 4 kB/s with data-timeout 2 and a 1000 B/s
    minimum; each command line takes 1.5 s of a 3 s command-timeout."""
    srv = server(extra=["command-timeout 3", "data-timeout 2",
                        "data-min-rate 1000"])
    body = b"Subject: slow but steady\r\n\r\n" + \
        b"".join(b"line %05d " % i + b"a" * 88 + b"\r\n" for i in range(320))
    with srv.connect() as c:
        for cmd in (b"EHLO slow.client.test", b"MAIL FROM:<a@example.com>",
                    b"RCPT TO:<user@example.org>", b"DATA"):
            c.send(cmd[:len(cmd) // 2])
            time.sleep(1.5)
            r = c.cmd(cmd[len(cmd) // 2:].decode())
            assert r.code in (250, 354), r
        start = time.monotonic()
        for i in range(0, len(body), 2000):
            c.send(body[i:i + 2000])
            time.sleep(0.5)
        c.send(b".\r\n")
        c.settimeout(T(10))
        r = c.reply()
        assert r.code == 250, r
        assert time.monotonic() - start > 7
        assert c.cmd("QUIT").code == 221
    msgs = srv.wait_messages("user@example.org", 1)
    assert b"line 00319" in msgs[0]


def test_junk_commands_do_not_hold_a_session(server):
    """Complete lines restart command-timeout, so NOOP after NOOP would
    hold a session for ever: past junk-command-limit each one counts as
    an error, and max-errors ends the session (Postfix's
    smtpd_junk_command_limit)."""
    srv = server(extra=["junk-command-limit 5", "max-errors 3"])
    with srv.connect() as c:
        c.settimeout(T(5))
        assert c.cmd("EHLO client.example").code == 250
        for verb in ("NOOP", "RSET", "NOOP", "HELP", "NOOP"):
            assert c.cmd(verb).code in (214, 250), verb
        # The 6th and 7th count as errors; the 8th reaches max-errors.
        assert c.cmd("NOOP").code == 250
        assert c.cmd("NOOP").code == 250
        assert c.cmd("NOOP").code == 250
        r = c.reply()
        assert r.code == 421 and r.enhanced == "4.7.0", r
        assert c.read_until_closed() == b""
    srv.wait_log(r"disconnect reason=too-many-errors")
    # Below the limit, a session goes on and delivers.
    with srv.connect() as c:
        c.settimeout(T(5))
        assert c.cmd("EHLO client.example").code == 250
        for _ in range(4):
            assert c.cmd("NOOP").code == 250
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: junk\r\n\r\nok\r\n.\r\n")
        assert c.reply().code == 250


def test_client_that_never_reads_does_not_keep_its_session(server):
    """A client that pipelines commands and never reads a reply: the
    replies fill the socket, the session stops, its timeout says 421 into
    a full socket, and the session is freed 10 s later (CLOSE_LINGER_SECONDS)
    whatever is left unwritten.  With max-sessions 1 a second client gets
    220 once it is gone (before, the first kept it for ever)."""
    srv = server(extra=["command-timeout 2", "max-sessions 1"], workers=1)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", srv.port))
    s.setblocking(False)
    data = b"EHLO x\r\n" * 60000
    sent = 0
    end = time.monotonic() + 1.5
    while time.monotonic() < end and sent < len(data):
        try:
            sent += s.send(data[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.01)
    assert sent >= 200000, "the server read everything: %d bytes" % sent
    start = time.monotonic()
    seen_full = False
    while True:
        with socket.create_connection(("127.0.0.1", srv.port), T(5)) as c:
            c.settimeout(T(5))
            got = c.recv(100)
        if got.startswith(b"220 "):
            break
        assert got.startswith(b"421 4.7.0 "), got
        seen_full = True
        assert time.monotonic() - start < T(16), "session still kept"
        time.sleep(0.5)
    took = time.monotonic() - start
    assert seen_full
    assert 9 <= took, took
    srv.wait_log(r"disconnect reason=timeout")
    s.close()
