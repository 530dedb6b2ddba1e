"""Defences: SMTP smuggling, cross-protocol (HTTP) requests, error and
session limits, timeouts, and what client text can do to the log."""
import re
import time

import pytest

from e2elib import QUEUE_ID_RE, T

SMUGGLED = (b"MAIL FROM:<evil@example.com>\r\n"
            b"RCPT TO:<user@example.org>\r\n"
            b"DATA\r\n"
            b"Subject: smuggled\r\n\r\nI should not exist.\r\n")

# Every "end of data" but the real one (RFC 5321 4.5.2 wants CRLF.CRLF).
FAKE_ENDS = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n",
             b"\r\n.\r", b"\n.\r"]


@pytest.mark.parametrize("end", FAKE_ENDS, ids=lambda e: repr(e)[2:-1])
def test_smtp_smuggling_refused(server, end):
    srv = server()
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@example.com>").code == 250
        assert c.cmd("RCPT TO:<other@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: outer\r\n\r\nhello" + end + SMUGGLED + b"\r\n.\r\n")
        # One reply, for the real end of data: a refusal.  Nothing the
        # smuggled commands would have said comes first.
        r = c.reply()
        assert r.code == 554 and r.enhanced == "5.6.0", r
        assert c.cmd("NOOP").line == "250 2.0.0 Ok"
        # A last, clean message: once it is delivered, nothing else was.
        assert c.cmd("MAIL FROM:<sender@example.com>").code == 250
        assert c.cmd("RCPT TO:<info@example.net>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: sentinel\r\n\r\nok\r\n.\r\n")
        qid = QUEUE_ID_RE.match(c.reply().line).group(1)
        assert c.cmd("QUIT").code == 221
    srv.wait_messages("info@example.net", 1)
    srv.wait_queue_empty()
    assert srv.messages("other@example.org") == []
    assert srv.messages("user@example.org") == []
    assert re.findall(r"queued id=(\w+)", srv.log()) == [qid]


@pytest.mark.parametrize("line", [
    "GET / HTTP/1.1",
    "POST /evil HTTP/1.1",
    "CONNECT www.example.com:80 HTTP/1.1",
])
def test_http_request_closes_session(server, line):
    srv = server()
    with srv.connect() as c:
        c.send(line + "\r\nHost: mx.test\r\n\r\n")
        r = c.reply()
        assert r.code == 421 and r.enhanced == "4.7.0", r
        rest = c.read_until_closed()
        assert rest == b"", rest


def test_http_header_line_closes_session(server):
    """Later lines of a request that the first line did not give away."""
    srv = server()
    with srv.connect() as c:
        c.ehlo()
        c.send(b"Host: mx.test\r\n")
        r = c.reply()
        assert r.code == 421, r
        assert c.read_until_closed() == b""


def test_max_errors(server):
    srv = server(extra=["max-errors 3"])
    with srv.connect(timeout=3) as c:
        assert c.cmd("BOGUS1").code == 500
        assert c.cmd("BOGUS2").code == 500
        r = c.cmd("BOGUS3")
        assert r.code == 500, r
        r = c.reply()
        assert r.code == 421 and r.enhanced == "4.7.0", r
        assert c.read_until_closed() == b""


def test_max_errors_counts_all_refusals(server):
    srv = server(extra=["max-errors 3"])
    with srv.connect(timeout=3) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        assert c.cmd("RCPT TO:<nobody1@example.org>").code == 550
        assert c.cmd("RCPT TO:<x@elsewhere.example>").code == 550
        assert c.cmd("NOOP").code == 250
        c.sendline("RCPT TO:<nobody2@example.org>")
        rs = c.replies(2)
        assert [r.code for r in rs] == [550, 421], rs
        assert c.read_until_closed() == b""


def test_timeouts(server):
    srv = server(extra=["command-timeout 2", "data-timeout 2"])
    idle = srv.connect()
    c = srv.connect()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@example.com>").code == 250
    assert c.cmd("RCPT TO:<user@example.org>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(b"Subject: never finished\r\n\r\nhalf a messa")
    start = time.monotonic()
    for s in (idle, c):
        s.settimeout(T(10))
        r = s.reply()
        assert r.code == 421 and r.enhanced == "4.4.2", r
        assert s.read_until_closed() == b""
    assert 1.5 <= time.monotonic() - start < T(8)
    # A session that keeps talking is not cut off by the command timeout.
    with srv.connect() as busy:
        for _ in range(5):
            time.sleep(0.6)
            assert busy.cmd("NOOP").code == 250
    srv.wait_queue_empty()
    assert srv.messages("user@example.org") == []


def test_max_sessions_per_ip(server):
    srv = server(extra=["max-sessions-per-ip 3"])
    time.sleep(T(0.3))  # the start-up probe session is gone
    first = [srv.connect() for _ in range(3)]
    fourth = srv.connect()
    assert fourth.greeting.code == 421, fourth.greeting
    assert fourth.read_until_closed() == b""
    for c in first:
        assert c.cmd("NOOP").code == 250
    # The three still deliver.
    for i, c in enumerate(first):
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: %d\r\n\r\n.\r\n" % i)
        assert QUEUE_ID_RE.match(c.reply().line)
        assert c.cmd("QUIT").code == 221
        c.close()
    srv.wait_messages("user@example.org", 3)
    # Their slots are free again.
    def fresh_session_ok():
        with srv.connect() as c:
            return c.greeting.code == 220
    deadline = time.monotonic() + T(5)
    while not fresh_session_ok():
        assert time.monotonic() < deadline, "slots not released"
        time.sleep(0.05)


def test_client_text_escaped_in_log(server):
    srv = server()
    with srv.connect() as c:
        r = c.cmd(b"HELO \x1b[31mred\x7f\xff")
        assert r.code == 501, r
        r = c.cmd(b"HELO nul\x00byte")
        assert 500 <= r.code < 600, r
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        r = c.cmd(b"RCPT TO:<\x01bad@example.org>")
        assert r.code == 501, r
        c.cmd(b"NOSUCH \x07\x08\x0b\x0c\x1b\r\x7f \"quoted\" \\back")
        c.cmd(b"RCPT TO:<nobody@example.org>\rinjected=1")
        assert c.cmd("QUIT").code == 221
    time.sleep(0.2)
    log = srv.log_bytes()
    bad = sorted(set(b for b in log if (b < 0x20 and b != 0x0a) or b == 0x7f))
    assert bad == [], "control octets in the log: %r" % bad
    assert b'cmd=RCPT arg="TO:<\\x01bad@example.org>"' in log


# Message content that DATA refuses, with the reply; BDAT must say the same.
BARE = [
    (b"Subject: a\r\n\r\nbare\nLF\r\n", "554 5.6.0 Bare LF not allowed"),
    (b"Subject: a\r\n\r\nbare\rCR\r\n", "554 5.6.0 Bare CR not allowed"),
    (b"Subject: a\r\n\r\nx\r.\rRSET\r\n", "554 5.6.0 Bare CR not allowed"),
    (b"Subject: a\r\n\r\nx\n.\nRSET\r\n", "554 5.6.0 Bare LF not allowed"),
]


def _transaction(c, rcpt):
    assert c.cmd("MAIL FROM:<sender@example.com>").code == 250
    assert c.cmd("RCPT TO:<%s>" % rcpt).code == 250


@pytest.mark.parametrize("content,refusal", BARE,
                         ids=["LF", "CR", "CR.CR", "LF.LF"])
def test_bdat_refuses_bare_cr_lf_like_data(server, content, refusal):
    """One content rule: DATA and BDAT refuse the same message with the
    same reply, whole or in chunks cut anywhere, and deliver nothing."""
    srv = server(extra=["max-errors 1000"])
    with srv.connect() as c:
        c.ehlo()
        _transaction(c, "other@example.org")
        assert c.cmd("DATA").code == 354
        c.send(content + b".\r\n")
        assert c.reply().line == refusal
        for cut in range(len(content) + 1):
            _transaction(c, "other@example.org")
            a, b = content[:cut], content[cut:]
            if a:
                c.send(b"BDAT %d\r\n" % len(a) + a)
                assert c.reply().code == 250
            c.send(b"BDAT %d LAST\r\n" % len(b) + b)
            assert c.reply().line == refusal, "cut at %d" % cut
        # Refused like DATA: the transaction is over, the session goes on.
        assert c.cmd("RCPT TO:<other@example.org>").code == 503
        _transaction(c, "info@example.net")
        c.send(b"BDAT 10 LAST\r\nsentinel\r\n")
        qid = QUEUE_ID_RE.match(c.reply().line).group(1)
    srv.wait_messages("info@example.net", 1)
    srv.wait_queue_empty()
    assert srv.messages("other@example.org") == []
    assert re.findall(r"queued id=(\w+)", srv.log()) == [qid]
    assert "reject cmd=BDAT reply=\"%s\"" % refusal in srv.log()


def test_bdat_refuses_a_final_bare_cr(server):
    """A CR that ends the last chunk has no LF after it: bare."""
    srv = server()
    with srv.connect() as c:
        c.ehlo()
        _transaction(c, "other@example.org")
        c.send(b"BDAT 4\r\nab\r\n")
        assert c.reply().code == 250
        c.send(b"BDAT 3 LAST\r\ncd\r")
        assert c.reply().line == "554 5.6.0 Bare CR not allowed"
    srv.wait_queue_empty()
    assert srv.messages("other@example.org") == []
