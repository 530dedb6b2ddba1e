"""Mail goes in over SMTP and comes out in a Maildir, byte for byte.

The Maildir contract: `Return-Path: <sender>`, `Delivered-To: rcpt`, our
`Received:` field, then the message as received after dot-unstuffing, with
LF line endings.
"""
import email.utils
import re
import shutil
import smtplib
import subprocess
import time

import pytest

from e2elib import (HOSTNAME, PEER_SUITES, QUEUE_ID_RE, T, Client,
                    as_stored, crlf, dot_stuff, ipv6_available, received_id,
                    split_delivered, wait_until)


def test_smtplib_message_delivered_exactly(server):
    srv = server()
    msg = crlf("From: Sender <sender@example.com>\n"
               "To: user@example.org\n"
               "Subject: smtplib\n"
               "\n"
               ".a line that starts with a dot\n"
               "..two dots\n"
               ".\n"
               "  leading blanks and trailing blanks  \n"
               "\ttab\n"
               "\n"
               "last line\n")
    with smtplib.SMTP("127.0.0.1", srv.port, local_hostname="smtplib.test",
                      timeout=T(10)) as s:
        refused = s.sendmail("sender@example.com", ["user@example.org"], msg)
    assert refused == {}
    [raw] = srv.wait_messages("user@example.org", 1)
    d = split_delivered(raw)
    assert d["return_path"] == b"sender@example.com"
    assert d["delivered_to"] == b"user@example.org"
    assert d["body"] == as_stored(msg)
    assert b"\r" not in raw


def _swaks_sent_data(transcript):
    """The DATA lines swaks shows in its transcript, as sent (CRLF)."""
    lines = transcript.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("<-  354"))
    out = []
    for l in lines[start + 1:]:
        assert l.startswith(" -> "), l
        l = l[4:]
        if l == ".":
            break
        out.append(l.rstrip("\r"))
    return crlf("\n".join(out) + "\n")


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks missing")
def test_swaks_message_delivered_exactly(server):
    srv = server()
    p = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % srv.port,
         "--to", "user@example.org", "--from", "swaks@example.com",
         "--helo", "swaks.test", "--header", "Subject: swaks test",
         "--body", "Hello from swaks.\nSecond line."],
        capture_output=True, text=True, timeout=T(30))
    assert p.returncode == 0, p.stdout + p.stderr
    qid = re.search(r"<-  250 2\.0\.0 Ok: queued as ([0-9A-F]{16})",
                    p.stdout).group(1)
    sent = _swaks_sent_data(p.stdout)
    assert b"Subject: swaks test\r\n" in sent
    raw = srv.wait_queue_id("user@example.org", qid)
    d = split_delivered(raw)
    assert d["return_path"] == b"swaks@example.com"
    assert d["body"] == as_stored(sent)
    assert re.match(rb"Received: from swaks\.test \(\[127\.0\.0\.1\]\)\n",
                    d["received"])


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl missing")
def test_curl_message_delivered_exactly(server, tmp_path):
    srv = server()
    msg = crlf("Subject: curl\n\n.dot first\nbody\n")
    f = tmp_path / "m.eml"
    f.write_bytes(msg)
    p = subprocess.run(
        ["curl", "-sS", "--max-time", str(int(T(30))),
         "smtp://127.0.0.1:%d/curl.test" % srv.port,
         "--mail-from", "curl@example.com",
         "--mail-rcpt", "info@example.net", "--upload-file", str(f)],
        capture_output=True, text=True, timeout=T(40))
    assert p.returncode == 0, p.stderr
    [raw] = srv.wait_messages("info@example.net", 1)
    d = split_delivered(raw)
    assert d["return_path"] == b"curl@example.com"
    assert d["body"] == as_stored(msg)


def test_several_recipients_in_two_domains(server):
    srv = server()
    rcpts = ["user@example.org", "other@example.org", "info@example.net"]
    msg = crlf("Subject: to three\n\nOne message, three mailboxes.\n")
    qid = srv.send_message("sender@example.com", rcpts, msg)
    for r in rcpts:
        [raw] = srv.wait_messages(r, 1)
        d = split_delivered(raw)
        assert d["delivered_to"] == r.encode()
        assert d["return_path"] == b"sender@example.com"
        assert d["body"] == as_stored(msg)
        assert received_id(raw) == qid
        # With several recipients, none is named in Received:.
        assert b"for <" not in d["received"]
    srv.wait_queue_empty()


def test_seed_dialogue(server):
    """The seed's session, lower-case commands and all."""
    srv = server()
    with srv.connect() as c:
        assert c.greeting.line == "220 %s ESMTP" % HOSTNAME
        r = c.cmd("ehlo testing NO UCE")
        assert r.code == 250
        assert r.lines[0].startswith("250-%s" % HOSTNAME)
        assert c.cmd("mail from: <>").code == 250
        assert c.cmd("rcpt to: <user@example.org>").code == 250
        assert c.cmd("data").code == 354
        body = crlf("From: John <>\nTo: Nobody <>\nSubject: fnord\n\n"
                    "hail eris!\n")
        c.send(body + b".\r\n")
        r = c.reply()
        assert QUEUE_ID_RE.match(r.line), r
        r = c.cmd("quit")
        assert r.line == "221 2.0.0 %s closing connection" % HOSTNAME
        assert c.is_closed()
    [raw] = srv.wait_messages("user@example.org", 1)
    d = split_delivered(raw)
    assert d["return_path"] == b""
    assert d["body"] == as_stored(body)
    assert d["received"].startswith(b"Received: from testing ([127.0.0.1])")


def test_received_header_shape(server):
    srv = server()
    msg = crlf("Subject: shape\n\nx\n")
    before = time.time()
    qid = srv.send_message("s@example.com", ["user@example.org"], msg,
                           helo="shape.test")
    [raw] = srv.wait_messages("user@example.org", 1)
    d = split_delivered(raw)
    m = re.fullmatch(
        rb"Received: from shape\.test \(\[127\.0\.0\.1\]\)\n"
        rb"\tby mx\.test with ESMTP id ([0-9A-F]{16})\n"
        rb"\tfor <user@example\.org>; (.+)", d["received"])
    assert m, d["received"]
    assert m.group(1).decode() == qid
    when = email.utils.parsedate_to_datetime(m.group(2).decode())
    assert when.tzinfo is not None
    assert before - 5 <= when.timestamp() <= time.time() + 5
    # HELO (not EHLO) says "with SMTP".
    with srv.connect() as c:
        assert c.cmd("HELO old.test").code == 250
        assert c.cmd("MAIL FROM:<s@example.com>").code == 250
        assert c.cmd("RCPT TO:<other@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(msg + b".\r\n")
        qid2 = QUEUE_ID_RE.match(c.reply().line).group(1)
    [raw] = srv.wait_messages("other@example.org", 1)
    assert re.match(rb"Received: from old\.test \(\[127\.0\.0\.1\]\)\n"
                    rb"\tby mx\.test with SMTP id " + qid2.encode(),
                    split_delivered(raw)["received"])


def test_8bitmime_body_delivered_unchanged(server):
    srv = server()
    octets = bytes(b for b in range(0x80, 0x100))
    msg = (b"Subject: 8bit\r\nContent-Type: text/plain; charset=latin1\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n"
           + octets + b"\r\n" + "héllo wörld €\r\n".encode("utf-8")
           + b"\x01\x02\x7f control octets\r\n")
    srv.send_message("s@example.com", ["user@example.org"], msg,
                     mail_params=" BODY=8BITMIME")
    [raw] = srv.wait_messages("user@example.org", 1)
    assert split_delivered(raw)["body"] == as_stored(msg)


def test_smtputf8(server):
    srv = server()
    with srv.connect() as c:
        c.ehlo()
        r = c.cmd("MAIL FROM:<ü@example.org>")
        assert r.code == 553 and r.enhanced == "5.6.7", r
        r = c.cmd("MAIL FROM:<ü@example.org> SMTPUTF8")
        assert r.code == 250, r
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        msg = crlf("Subject: ünïcödé\n\nGrüße\n")
        c.send(msg + b".\r\n")
        assert QUEUE_ID_RE.match(c.reply().line)
    [raw] = srv.wait_messages("user@example.org", 1)
    d = split_delivered(raw)
    assert d["return_path"] == "ü@example.org".encode()
    assert d["body"] == as_stored(msg)
    assert b" with UTF8SMTP id " in d["received"]


def test_bdat_chunks_delivered_exactly(server):
    srv = server()
    chunks = [b"Subject: bdat\r\n\r\n.not stuffed\r",
              b"\n..two\r\n.\r\n",
              b"last\r\n"]
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@example.com>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        for ch in chunks[:-1]:
            c.send(b"BDAT %d\r\n" % len(ch) + ch)
            r = c.reply()
            assert r.code == 250, r
        c.send(b"BDAT %d LAST\r\n" % len(chunks[-1]) + chunks[-1])
        r = c.reply()
        qid = QUEUE_ID_RE.match(r.line).group(1)
        assert c.cmd("NOOP").code == 250
    raw = srv.wait_queue_id("user@example.org", qid)
    # No dot-unstuffing in BDAT: the octets are the message.
    assert split_delivered(raw)["body"] == as_stored(b"".join(chunks))


def test_bdat_before_mail_skips_the_chunk(server):
    srv = server()
    with srv.connect() as c:
        c.ehlo()
        # The chunk looks like a command; it must be read and thrown away.
        c.send(b"BDAT 6\r\nQUIT\r\n")
        r = c.reply()
        assert r.code == 503, r
        assert c.cmd("NOOP").code == 250
        # And a real BDAT transaction still works afterwards.
        assert c.cmd("MAIL FROM:<s@example.com>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        c.send(b"BDAT 5 LAST\r\nhi!\r\n")
        r = c.reply()
        assert QUEUE_ID_RE.match(r.line), r
    [raw] = srv.wait_messages("user@example.org", 1)
    assert split_delivered(raw)["body"] == b"hi!\n"


def test_empty_message(server):
    """DATA then '.' at once: accepted (an empty message) or refused
    cleanly; either way the session goes on."""
    srv = server()
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@example.com>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        r = c.cmd(".")
        assert r.code == 250 or 500 <= r.code < 600, r
        assert c.cmd("NOOP").code == 250
    if r.code == 250:
        [raw] = srv.wait_messages("user@example.org", 1)
        assert split_delivered(raw)["body"] == b""


def test_domain_compared_without_case(server):
    srv = server()
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@example.com>").code == 250
        r = c.cmd("RCPT TO:<user@EXAMPLE.Org>")
        assert r.code == 250, r


@pytest.mark.skipif(not ipv6_available(), reason="::1 not available")
def test_ipv6_listener_delivers(server):
    srv = server(ipv6=True)
    msg = crlf("Subject: v6\n\nover IPv6\n")
    with Client(srv.port6, host="::1") as c:
        assert c.greeting.line == "220 %s ESMTP" % HOSTNAME
        c.ehlo("six.test")
        assert c.cmd("MAIL FROM:<s@example.com>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(dot_stuff(msg) + b".\r\n")
        assert QUEUE_ID_RE.match(c.reply().line)
    [raw] = srv.wait_messages("user@example.org", 1)
    d = split_delivered(raw)
    assert d["body"] == as_stored(msg)
    assert d["received"].startswith(b"Received: from six.test ([IPv6:::1])")
    assert re.search(r"connect ip=::1 ", srv.log())


def test_log_lines_and_maildir_layout(server):
    srv = server()
    msg = crlf("Subject: log\n\nx\n")
    qid = srv.send_message("logger@example.com", ["user@example.org"], msg)
    [raw] = srv.wait_messages("user@example.org", 1)
    log = srv.log()
    m = re.search(r"session=(\w+) queued id=%s from=<logger@example\.com> "
                  % qid, log)
    assert m, log
    sid = m.group(1)
    assert re.search(r"session=%s connect ip=127\.0\.0\.1 port=\d+" % sid, log)
    # The file is in place before the queue logs it.
    m = srv.wait_log(r"queue: delivery id=%s to=<user@example\.org> "
                     r"result=delivered path=(\S+)" % qid)
    path = m.group(1)
    # Named after the message and the recipient (INTERNALS.md, "Maildir
    # delivery"): a delivery repeated after a crash finds it.
    assert re.fullmatch(r"example\.org/user/new/\d+\.I%sH[0-9a-f]{16}"
                        r"\.mx\.test" % qid, path), path
    assert (srv.mailbox_root / path).read_bytes() == raw
    md = srv.maildir("user@example.org")
    assert sorted(p.name for p in md.iterdir()) == ["cur", "new", "tmp"]
    assert list((md / "tmp").iterdir()) == []
    srv.wait_queue_empty()
    # The spool file is kept for the next message (INTERNALS.md): it
    # waits as ID.dead for the next recycling, then becomes free.K.
    def recycled():
        names = [p.name for p in (srv.spool / "queue").iterdir()]
        return names and all(n.startswith("free.") for n in names)
    wait_until(recycled, T(5), what="queue/ holding free.K only")
    assert not (srv.spool / "incoming").exists()


DOT_STUFFING = PEER_SUITES / "dot-stuffing.txt"


@pytest.mark.skipif(not DOT_STUFFING.exists(), reason="peer file absent")
def test_peer_dot_stuffing_text(server):
    """chasquid's transparency case, restated in peer-suites: what is sent
    after 354, and the body that must be stored."""
    text = DOT_STUFFING.read_text(encoding="utf-8")
    sent_part = text.split("== sent", 1)[1].split("\n", 1)[1]
    sent_part, stored_part = sent_part.split("== expected stored body", 1)
    stored_part = stored_part.split("\n", 1)[1].split("(+ the server", 1)[0]

    def lines(part):
        return [("" if l == "<empty>" else l) for l in part.split("\n")
                if l != ""]
    sent = lines(sent_part)
    assert sent[-1] == "."
    stored = lines(stored_part)
    srv = server()
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<>").code == 250
        assert c.cmd("RCPT TO:<user@example.org>").code == 250
        assert c.cmd("DATA").code == 354
        c.send("".join(l + "\r\n" for l in sent))
        assert QUEUE_ID_RE.match(c.reply().line)
    [raw] = srv.wait_messages("user@example.org", 1)
    assert split_delivered(raw)["body"] == \
        "".join(l + "\n" for l in stored).encode()
