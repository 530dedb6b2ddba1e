"""The milter client: a milter double for the edge cases (modifications,
silence, death), and the real rspamd and OpenDKIM."""
import smtplib
import time

import pytest

from e2elib import T, crlf
from milterlib import Milter, hdr

MSG = crlf("From: a@example.com\nTo: user@example.org\nSubject: hi\n"
           "\nbody line\n")


@pytest.fixture
def milter():
    made = []

    def make(**kw):
        m = Milter(**kw)
        made.append(m)
        return m
    yield make
    for m in made:
        m.stop()


def send(srv, msg=MSG, rcpts=("user@example.org",)):
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=T(20)) as s:
        return s.sendmail("a@example.com", list(rcpts), msg)


def test_headers_and_body_changes_reach_the_mailbox(server, milter):
    def on(cmd, data):
        if cmd == "E":
            return [("h", hdr("X-Added", "yes")),
                    ("i", hdr("X-Top", "first", 0)),
                    ("m", hdr("Subject", "changed\n\tfolded", 1)),
                    ("b", b"new body\r\nsecond line\r\n"),
                    ("a", b"")]
    m = milter(on=on)
    srv = server(extra=["milter %s" % m.spec])
    assert send(srv) == {}
    [raw] = srv.wait_messages("user@example.org", 1)
    assert raw.index(b"X-Top: first") < raw.index(b"Received:")
    assert b"Subject: changed\n\tfolded\n" in raw
    assert b"Subject: hi" not in raw
    assert b"X-Added: yes\n\nnew body\nsecond line\n" in raw
    cmds = m.cmds()
    for c in "OCHMRTLNBE":
        assert c in cmds, (c, cmds)
    assert m.macros["{client_addr}"] == "127.0.0.1"
    assert m.macros["{rcpt_addr}"] == "user@example.org"
    assert m.macros["j"] == srv.hostname
    assert len(m.macros["i"]) == 16


def test_reply_text_of_the_milter_reaches_the_client(server, milter):
    def on(cmd, data):
        if cmd == "R" and b"other" in data:
            return [("y", b"550 5.7.1 no thanks, says the milter\0")]
    m = milter(on=on)
    srv = server(extra=["milter %s" % m.spec])
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=T(20)) as s:
        s.ehlo()
        s.mail("a@example.com")
        code, text = s.rcpt("other@example.org")
        assert (code, text) == (550, b"5.7.1 no thanks, says the milter")
        assert s.rcpt("user@example.org")[0] == 250


def test_malformed_reply_text_is_the_default_action(server, milter):
    def on(cmd, data):
        if cmd == "M":
            return [("y", b"250 fine\r\nbogus\0")]
    m = milter(on=on)
    srv = server(extra=["milter %s" % m.spec])
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=T(20)) as s:
        s.ehlo()
        code, text = s.mail("a@example.com")
        assert code == 451, text
    srv.wait_log(r"milter=\S+ failed reason=bad-reply action=tempfail")


def test_silent_milter_gives_the_default_action_in_time(server, milter):
    m = milter(on=lambda cmd, data: "hang" if cmd == "M" else None)
    srv = server(extra=["milter %s command-timeout=1" % m.spec])
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=T(20)) as s:
        s.ehlo()
        t0 = time.monotonic()
        code, text = s.mail("a@example.com")
        took = time.monotonic() - t0
        assert code == 451 and b"4.3.5" in text, text
        assert 0.9 < took < T(3), took


def test_silent_milter_with_default_accept(server, milter):
    m = milter(on=lambda cmd, data: "hang" if cmd == "E" else None)
    srv = server(extra=["milter %s eom-timeout=1" % m.spec,
                        "milter-default-action accept"])
    assert send(srv) == {}
    [raw] = srv.wait_messages("user@example.org", 1)
    assert b"body line" in raw


def test_milter_dying_mid_message_loses_nothing_acknowledged(server, milter):
    m = milter(on=lambda cmd, data: "die" if cmd == "B" else None)
    srv = server(extra=["milter %s" % m.spec])
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=T(20)) as s:
        s.ehlo()
        s.mail("a@example.com")
        s.rcpt("user@example.org")
        code, text = s.data(MSG)
        assert code == 451 and b"4.3.5" in text, text
    time.sleep(0.3)
    assert not list((srv.spool / "queue").glob("*.msg"))
    assert not list((srv.mailbox_root).rglob("new/*"))


def test_no_milter_on_a_listener_that_says_none(server, milter):
    m = milter()
    srv = server(extra=["milter %s" % m.spec])
    srv.extra.append("milter none listen=127.0.0.1:%d" % srv.port)
    srv.write_config()
    srv.stop()
    srv.start()
    assert send(srv) == {}
    srv.wait_messages("user@example.org", 1)
    assert "M" not in m.cmds()


def test_down_milter_tempfails_mail(server):
    srv = server(extra=["milter inet:127.0.0.1:1 connect-timeout=1"])
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=T(20)) as s:
        assert s.ehlo()[0] == 250
        code, text = s.mail("a@example.com")
        assert code == 451, text


def test_quarantine_is_a_header(server, milter):
    m = milter(on=lambda cmd, data: [("q", b"looks odd\0"), ("c", b"")]
               if cmd == "E" else None)
    srv = server(extra=["milter %s" % m.spec])
    assert send(srv) == {}
    [raw] = srv.wait_messages("user@example.org", 1)
    assert b"X-Quarantined: looks odd" in raw
    srv.wait_log(r"quarantine reason=\"looks odd\"")
