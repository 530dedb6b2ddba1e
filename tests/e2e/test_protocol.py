"""The SMTP dialogue: replies to each command, sequencing, pipelining,
input split anywhere, line-length and size limits, recipient policy."""
import socket
import time

import pytest

from e2elib import (HOSTNAME, QUEUE_ID_RE, Client, as_stored, crlf,
                    normalize_ids, parse_replies, split_delivered)


@pytest.fixture(scope="module")
def shared(module_server_factory):
    """One server for the tests below that only look at replies: each uses
    its own sessions and delivers nothing."""
    return module_server_factory()


def test_greeting_and_ehlo_capabilities(shared):
    with shared.connect() as c:
        assert c.greeting.line == "220 %s ESMTP" % HOSTNAME
        r = c.ehlo("caps.test")
        assert r.lines[0] == "250-%s Hello caps.test [127.0.0.1]" % HOSTNAME
        caps = [t.split()[0].upper() for t in r.texts[1:]]
        for cap in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES",
                    "SMTPUTF8", "CHUNKING"):
            assert cap in caps, r
        assert "SIZE 35882577" in r.texts
        # No certificate: no STARTTLS; no TLS: no AUTH (auth-over-plaintext
        # is off by default).
        assert "STARTTLS" not in caps
        assert "AUTH" not in caps


@pytest.mark.parametrize("verb", ["HELO", "EHLO", "helo", "ehlo"])
def test_helo_without_argument(shared, verb):
    with shared.connect() as c:
        r = c.cmd(verb)
        assert r.code == 501, r
        r = c.cmd(verb + " ")
        assert r.code == 501, r
        assert c.cmd("%s ok.test" % verb).code == 250


def test_mail_before_helo(shared):
    with shared.connect() as c:
        r = c.cmd("MAIL FROM:<a@example.com>")
        assert r.code == 503 and r.enhanced == "5.5.1", r


def test_rcpt_before_mail(shared):
    with shared.connect() as c:
        c.ehlo()
        r = c.cmd("RCPT TO:<user@example.org>")
        assert r.code == 503 and r.enhanced == "5.5.1", r


def test_data_before_rcpt(shared):
    with shared.connect() as c:
        r = c.cmd("DATA")
        assert r.code == 503, r
        c.ehlo()
        r = c.cmd("DATA")
        assert r.code == 503, r
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        r = c.cmd("DATA")
        # RFC 5321 3.3: no valid RCPT -> 503 (out of sequence) or 554
        # (no valid recipients).
        assert r.code in (503, 554) and r.enhanced == "5.5.1", r
        # The transaction is still open: a recipient and DATA now work.
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: x\r\n\r\n.\r\n")
        assert QUEUE_ID_RE.match(c.reply().line)


def test_nested_mail(shared):
    with shared.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        r = c.cmd("MAIL FROM:<b@example.com>")
        assert r.code == 503, r


def test_vrfy_help_noop_rset(shared):
    with shared.connect() as c:
        c.ehlo()
        r = c.cmd("VRFY user@example.org")
        assert r.code == 252, r
        r = c.cmd("VRFY nobody@example.org")
        assert r.code == 252, r     # no user enumeration
        r = c.cmd("HELP")
        assert r.code == 214, r
        r = c.cmd("NOOP")
        assert r.line == "250 2.0.0 Ok"
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        r = c.cmd("RSET")
        assert r.line == "250 2.0.0 Ok"
        # RSET ended the transaction.
        assert c.cmd("RCPT TO:<user@example.org>").code == 503
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250


def test_quit_closes(shared):
    with shared.connect() as c:
        r = c.cmd("QUIT")
        assert r.line == "221 2.0.0 %s closing connection" % HOSTNAME
        assert c.is_closed()


def test_unknown_command(shared):
    with shared.connect() as c:
        r = c.cmd("FROBNICATE now")
        assert r.line == "500 5.5.1 Unknown command"
        assert c.cmd("NOOP").code == 250


def test_command_line_limit(shared):
    """512 octets with CRLF is the limit (RFC 5321 4.5.3.1.4); a longer
    line is refused with 500 5.5.6 and the session goes on."""
    with shared.connect() as c:
        c.ehlo()
        line = "NOOP " + "x" * (512 - 2 - 5)
        assert len(line) + 2 == 512
        assert c.cmd(line).code == 250
        r = c.cmd("NOOP " + "x" * (513 - 2 - 5))
        assert r.code == 500 and r.enhanced == "5.5.6", r
        r = c.cmd("MAIL FROM:<" + "a" * 2000 + "@example.com>")
        assert r.code == 500 and r.enhanced == "5.5.6", r
        # The rest of the long line was skipped, not taken as a command.
        assert c.cmd("NOOP").line == "250 2.0.0 Ok"
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250


def test_policy_unknown_user_and_relay(shared):
    with shared.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        r = c.cmd("RCPT TO:<nosuchuser@example.org>")
        assert r.line == "550 5.1.1 Recipient unknown", r
        r = c.cmd("RCPT TO:<someone@elsewhere.example>")
        assert r.line == "550 5.7.1 Relay access denied", r
        assert c.cmd("RCPT TO:<user@example.org>").code == 250


def test_size_parameter_over_default_limit(shared):
    with shared.connect() as c:
        c.ehlo()
        r = c.cmd("MAIL FROM:<a@b> SIZE=99999999999")
        assert r.line.startswith("552 5.3.4"), r
        assert c.cmd("MAIL FROM:<a@b> SIZE=1000").code == 250


def test_pipelined_transaction(server):
    srv = server()
    with srv.connect() as c:
        c.ehlo()
        c.send(b"MAIL FROM:<p@example.com>\r\n"
               b"RCPT TO:<user@example.org>\r\n"
               b"RCPT TO:<nosuchuser@example.org>\r\n"
               b"RCPT TO:<info@example.net>\r\n"
               b"DATA\r\n")
        rs = c.replies(5)
        assert [r.code for r in rs] == [250, 250, 550, 250, 354], rs
        assert rs[2].enhanced == "5.1.1"
        msg = crlf("Subject: pipelined\n\nbody\n")
        # The message, the next transaction and QUIT, all in one write.
        c.send(msg + b".\r\n"
               b"RSET\r\nMAIL FROM:<q@example.com>\r\n"
               b"RCPT TO:<other@example.org>\r\nDATA\r\n")
        rs = c.replies(5)
        assert QUEUE_ID_RE.match(rs[0].line), rs
        assert [r.code for r in rs] == [250, 250, 250, 250, 354], rs
        c.send(msg + b".\r\nQUIT\r\n")
        rs = c.replies(2)
        assert QUEUE_ID_RE.match(rs[0].line) and rs[1].code == 221, rs
        assert c.is_closed()
    for rcpt in ("user@example.org", "info@example.net", "other@example.org"):
        [raw] = srv.wait_messages(rcpt, 1)
        assert split_delivered(raw)["body"] == as_stored(msg)
    assert srv.messages("nosuchuser@example.org") == []


SPLIT_SESSION = (
    b"EHLO split.test\r\n"
    b"MAIL FROM:<split@example.com> SIZE=60\r\n"
    b"RCPT TO:<user@example.org>\r\n"
    b"DATA\r\n"
    b"Subject: split\r\n\r\n..dot\r\nx\r\n.\r\n"
    b"NOOP\r\n"
    b"QUIT\r\n")


def _split_session(port, data, i=None):
    """Send data cut at i (a pause between the parts); the reply lines."""
    with Client(port) as c:
        if i is None:
            c.send(data)
        else:
            c.send(data[:i])
            time.sleep(0.003)
            c.send(data[i:])
        return normalize_ids(
            [l for r in parse_replies(c.read_until_closed()) for l in r.lines])


def test_session_split_at_every_byte(server):
    """However the input is cut, the replies and the message are the
    same (the parsers keep their state across reads)."""
    srv = server()
    ref = _split_session(srv.port, SPLIT_SESSION)
    assert ref[-3] == "250 2.0.0 Ok: queued as ID", ref
    assert ref[-2] == "250 2.0.0 Ok", ref
    assert ref[-1].startswith("221 "), ref
    n = len(SPLIT_SESSION)
    for i in range(1, n):
        got = _split_session(srv.port, SPLIT_SESSION, i)
        assert got == ref, "split at %d: %r" % (i, SPLIT_SESSION[:i])
    msgs = srv.wait_messages("user@example.org", n, timeout=30)
    assert len(msgs) == n
    for raw in msgs:
        assert split_delivered(raw)["body"] == b"Subject: split\n\n.dot\nx\n"


def test_session_with_bare_cr_split_at_every_byte(server):
    """The same for a message refused for a bare CR: same replies
    wherever the cut falls, and nothing is delivered."""
    srv = server()
    data = SPLIT_SESSION.replace(b"x\r\n.", b"x\r\r\n.")
    ref = _split_session(srv.port, data)
    assert ref[-3].startswith("554 5.6.0"), ref
    for i in range(data.index(b"DATA"), len(data)):
        got = _split_session(srv.port, data, i)
        assert got == ref, "split at %d: %r" % (i, data[:i])
    srv.wait_queue_empty()
    assert srv.messages("user@example.org") == []
    assert "queued id=" not in srv.log()


def test_overlong_data_line(server):
    """998 octets + CRLF is legal; one more is refused with 500 5.5.6 at
    the end of DATA, and nothing is delivered."""
    srv = server()
    with srv.connect() as c:
        c.ehlo()
        for n, ok in ((998, True), (999, False), (5000, False)):
            assert c.cmd("MAIL FROM:<a@example.com>").code == 250
            assert c.cmd("RCPT TO:<user@example.org>").code == 250
            assert c.cmd("DATA").code == 354
            c.send(b"Subject: long\r\n\r\n" + b"y" * n + b"\r\nend\r\n.\r\n")
            r = c.reply()
            if ok:
                assert QUEUE_ID_RE.match(r.line), (n, r)
            else:
                assert r.code == 500 and r.enhanced == "5.5.6", (n, r)
        assert c.cmd("NOOP").code == 250
        # A last good message: once it is there, nothing else will come.
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: sentinel\r\n\r\n.\r\n")
        assert QUEUE_ID_RE.match(c.reply().line)
    srv.wait_queue_empty()
    msgs = srv.wait_messages("user@example.org", 2)
    assert len(msgs) == 2
    bodies = sorted(split_delivered(m)["body"] for m in msgs)
    assert bodies == sorted([b"Subject: long\n\n" + b"y" * 998 + b"\nend\n",
                             b"Subject: sentinel\n\n"])


def test_message_size_limit(server):
    srv = server(extra=["max-message-size 10000"])
    with srv.connect() as c:
        r = c.ehlo()
        assert "SIZE 10000" in r.texts
        r = c.cmd("MAIL FROM:<a@b> SIZE=10001")
        assert r.line == "552 5.3.4 Message size exceeds limit", r
        r = c.cmd("MAIL FROM:<a@b> SIZE=99999999999")
        assert r.line == "552 5.3.4 Message size exceeds limit", r
        # Declared small, sent big: refused after the end of the data.
        assert c.cmd("MAIL FROM:<a@example.com> SIZE=100").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: big\r\n\r\n" + (b"z" * 78 + b"\r\n") * 150
               + b".\r\n")
        r = c.reply()
        assert r.line == "552 5.3.4 Message size exceeds limit", r
        # The session goes on; a message under the limit is accepted.
        assert c.cmd("NOOP").code == 250
        small = b"Subject: small\r\n\r\n" + (b"s" * 78 + b"\r\n") * 100
        assert c.cmd("MAIL FROM:<a@example.com> SIZE=%d" % len(small)).code \
            == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(small + b".\r\n")
        assert QUEUE_ID_RE.match(c.reply().line)
    srv.wait_queue_empty()
    [raw] = srv.wait_messages("user@example.org", 1)
    assert split_delivered(raw)["body"] == as_stored(small)


def test_bdat_over_size_limit(server):
    srv = server(extra=["max-message-size 10000"])
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        chunk = b"b" * 6000
        c.send(b"BDAT 6000\r\n" + chunk)
        assert c.reply().code == 250
        c.send(b"BDAT 6000 LAST\r\n" + chunk)
        r = c.reply()
        assert r.line == "552 5.3.4 Message size exceeds limit", r
        assert c.cmd("NOOP").code == 250
    time.sleep(0.3)
    srv.wait_queue_empty()
    assert srv.messages("user@example.org") == []
    assert "queued id=" not in srv.log()


def test_max_recipients(server):
    users = ["u%d@example.org" % i for i in range(1, 5)]
    srv = server(extra=["max-recipients 3"], users=users)
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        for u in users[:3]:
            assert c.cmd("RCPT TO:<%s>" % u).code == 250
        r = c.cmd("RCPT TO:<%s>" % users[3])
        assert r.code == 452 and r.enhanced == "4.5.3", r
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: three\r\n\r\nx\r\n.\r\n")
        assert QUEUE_ID_RE.match(c.reply().line)
    for u in users[:3]:
        srv.wait_messages(u, 1)
    srv.wait_queue_empty()
    assert srv.messages(users[3]) == []


def test_half_close_after_pipelined_quit(server):
    """A client that writes the whole session and then shuts down its
    sending side (printf ... | nc -N) still gets every reply."""
    srv = server()
    msg = crlf("Subject: half-close\n\nbody\n")
    with srv.connect() as c:
        c.send(b"EHLO half.test\r\nMAIL FROM:<h@example.com>\r\n"
               b"RCPT TO:<user@example.org>\r\nDATA\r\n"
               + msg + b".\r\nQUIT\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        rs = parse_replies(c.read_until_closed())
    codes = [r.code for r in rs]
    assert codes == [250, 250, 250, 354, 250, 221], rs
    srv.wait_messages("user@example.org", 1)


# ----------------------------------------------------------------------
# A refused command never changes the session state

def _to_state(c, state):
    """Walk a fresh session to state (CONNECTED ... BDAT_WAIT)."""
    steps = {
        "CONNECTED": [],
        "HELO": ["EHLO c.test"],
        "MAIL": ["EHLO c.test", "MAIL FROM:<s@example.com>"],
        "RCPT": ["EHLO c.test", "MAIL FROM:<s@example.com>",
                 "RCPT TO:<user@example.org>"],
        "BDAT_WAIT": ["EHLO c.test", "MAIL FROM:<s@example.com>",
                      "RCPT TO:<user@example.org>", b"BDAT 3\r\nabc"],
    }[state]
    for step in steps:
        if isinstance(step, bytes):
            c.send(step)
            r = c.reply()
        else:
            r = c.cmd(step)
        assert r.code == 250, (state, step, r)


def _state_of(c):
    """Which state the session is in, from replies that tell them apart
    (the last probe of RCPT, 354, leaves DATA: the session is closed)."""
    r = c.cmd("DATA")
    if r.code == 354:
        return "RCPT"
    if r.line == "554 5.5.1 Error: no valid recipients":
        return "MAIL"
    if r.line == "503 5.5.1 Error: DATA after BDAT":
        return "BDAT_WAIT"
    assert r.line == "503 5.5.1 Error: need RCPT command", r
    r = c.cmd("MAIL FROM:<probe@example.com>")
    if r.code == 250:
        return "HELO"
    assert r.line == "503 5.5.1 Error: send HELO/EHLO first", r
    return "CONNECTED"


STATES = ["CONNECTED", "HELO", "MAIL", "RCPT", "BDAT_WAIT"]
# Refused in every one of those states (no certificate, no AUTH in clear).
ALWAYS_REFUSED = [
    "HELO", "EHLO", b"EHLO bad\x7fname", "EHLO " + "x" * 300,
    "RSET now", "VRFY", "EXPN list", "FOO bar", "STARTTLS", "AUTH PLAIN",
    "AUTH LOGIN", "MAIL FROM:<bad", "MAIL FROM:<a@example.com> FOO=1",
    "MAIL FROM:<a@example.com> SIZE=999999999999",
    "MAIL TO:<a@example.com>",
    "RCPT TO:<bad", "RCPT TO:<x@elsewhere.test>",
    "RCPT TO:<nobody@example.org>", "RCPT TO:<user@example.org> FOO=1",
    "DATA now",
]
# Refused only in some states; the chunk of a refused BDAT is "RSET\r\n":
# taken as a command it would answer 250 and end the transaction.
SOMETIMES_REFUSED = [
    ("DATA", ["CONNECTED", "HELO", "MAIL", "BDAT_WAIT"]),
    ("MAIL FROM:<a@example.com>", ["CONNECTED", "MAIL", "RCPT",
                                   "BDAT_WAIT"]),
    ("RCPT TO:<user@example.org>", ["CONNECTED", "HELO", "BDAT_WAIT"]),
    (b"BDAT 6\r\nRSET\r\n", ["CONNECTED", "HELO", "MAIL"]),
    (b"BDAT 6 LAST\r\nRSET\r\n", ["CONNECTED", "HELO", "MAIL"]),
]
CASES = [(st, cmd) for st in STATES for cmd in ALWAYS_REFUSED] + \
    [(st, cmd) for cmd, sts in SOMETIMES_REFUSED for st in sts]


def test_refused_commands_never_change_state(shared):
    """Every verb in every state where it is refused: the reply is 4xx or
    5xx and the session is in the state it was in before."""
    wrong = []
    for state, cmd in CASES:
        with shared.connect() as c:
            _to_state(c, state)
            if isinstance(cmd, bytes) and b"\r\n" in cmd:
                c.send(cmd)
                r = c.reply()
            else:
                r = c.cmd(cmd)
            assert r.code >= 400, (state, cmd, r)
            got = _state_of(c)
            if got != state:
                wrong.append("%s + %r -> %s" % (state, cmd, got))
    assert wrong == []


def test_refused_bdat_before_ehlo_greets_no_one(shared):
    with shared.connect() as c:
        c.send(b"BDAT 6\r\nRSET\r\n")
        assert c.reply().line == "503 5.5.1 Error: need RCPT command"
        r = c.cmd("MAIL FROM:<s@example.com>")
        assert r.line == "503 5.5.1 Error: send HELO/EHLO first", r


def test_refused_mail_leaves_no_sender_behind(shared):
    """A MAIL refused after its sender was read (here for its SIZE) keeps
    no part of it: a refused BDAT after it finds no transaction."""
    with shared.connect() as c:
        c.ehlo()
        r = c.cmd("MAIL FROM:<a@example.com> SIZE=999999999999")
        assert r.line == "552 5.3.4 Message size exceeds limit", r
        c.send(b"BDAT 6\r\nRSET\r\n")
        assert c.reply().line == "503 5.5.1 Error: need RCPT command"
        assert _state_of(c) == "HELO"


@pytest.mark.parametrize("name,hello", [
    ("[127.0.0.1]", "Hello [127.0.0.1]"),
    ("[10.1.2.3]", "Hello [10.1.2.3] [127.0.0.1]"),
    ("[IPv6:::1]", "Hello [IPv6:::1] [127.0.0.1]"),
    ("client.test", "Hello client.test [127.0.0.1]"),
])
def test_ehlo_address_literal_shown_once(shared, name, hello):
    with shared.connect() as c:
        r = c.ehlo(name)
        assert r.lines[0] == "250-%s %s" % (HOSTNAME, hello), r
