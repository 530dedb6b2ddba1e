"""The relay (issue 6): mail for other hosts leaves through a smarthost or
the recipient domain's MX hosts, with independent peers on loopback.

- a second smtpauthd as the smarthost: STARTTLS verified against a CA made
  at test time, AUTH with relay-auth credentials, PIPELINING; the bytes
  arrive intact;
- MX delivery through a DNS server run by the test (dnslib) and an
  aiosmtpd sink playing the MX host (relay-port): several recipients in
  one transaction, a connection reused for several messages, the implicit
  MX, a sink that is down (deferred, logged, listed by "smtpauthd queue",
  delivered after "smtpauthd flush"), a sink that says 550 and domains that
  take no mail (a bounce in the local sender's Maildir), the queue
  lifetime;
- crashes and stops: kill -9 of the whole server in the middle of 200
  relayed messages loses none (at least once; duplicates are counted and
  printed), and a clean stop (SIGTERM) delivers none twice.
"""
import asyncio
import email
import os
import re
import signal
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from e2elib import (SMTPAUTHD, T, as_stored, crlf, free_port, log_escaped,
                    wait_until)
from test_tls import pki  # noqa: F401 - the session-wide test CA

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
dnslib = pytest.importorskip("dnslib")
dnsserver = pytest.importorskip("dnslib.server")

PASSWORD = "relay test secret"
SENDER = "user@example.org"
_HASHES = {}


def logged(text):
    """A regex for text as the log writes it (escaped: smtpauthd(8))."""
    return re.escape(log_escaped(text))


def sha512crypt(password):
    if password not in _HASHES:
        _HASHES[password] = subprocess.run(
            ["openssl", "passwd", "-6", "-stdin"], input=password,
            capture_output=True, text=True, check=True).stdout.strip()
    return _HASHES[password]


# ----------------------------------------------------------------------
# Independent peers: an SMTP sink and a DNS server

class _SinkHandler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if address in self.sink.reject:
            return ("550 5.1.1 <%s>: Recipient address rejected: "
                    "no such user here" % address)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        with self.sink.lock:
            self.sink.messages.append((envelope.mail_from,
                                       list(envelope.rcpt_tos),
                                       bytes(envelope.content)))
        return "250 2.0.0 Ok: kept"


class Sink:
    """aiosmtpd on loopback, recording what it is given."""

    def __init__(self, reject=(), delay=0.0):
        self.port = free_port()
        self.reject = set(reject)
        self.delay = delay
        self.lock = threading.Lock()
        self.messages = []
        self.controller = None

    def start(self):
        self.controller = aiosmtpd_controller.Controller(
            _SinkHandler(self), hostname="127.0.0.1", port=self.port,
            ready_timeout=T(10))
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def count(self):
        with self.lock:
            return len(self.messages)

    def wait(self, n, timeout=15):
        wait_until(lambda: self.count() >= n, T(timeout),
                   what="%d message(s) at the sink (has %d)"
                   % (n, self.count()))
        with self.lock:
            return list(self.messages)


class _Zone(dnsserver.BaseResolver):
    """Answers from a table; names not in it do not exist."""

    def __init__(self, records, servfail=()):
        self.records = records
        self.servfail = set(servfail)

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = dnslib.QTYPE[request.q.qtype]
        if name in self.servfail:
            reply.header.rcode = dnslib.RCODE.SERVFAIL
        elif name not in self.records:
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
        else:
            for rtype, rdata in self.records[name]:
                if rtype == qtype:
                    reply.add_answer(dnslib.RR(
                        request.q.qname, getattr(dnslib.QTYPE, rtype),
                        rdata=rdata, ttl=60))
        return reply


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dns():
    """A DNS server on loopback: relay.example has an MX on 127.0.0.1,
    backup.example a dead one first (127.0.0.2) and that one second,
    amx.example only an address, nullmx.example a null MX (RFC 7505),
    servfail.example fails, everything else does not exist."""
    records = {
        "relay.example": [("MX", dnslib.MX("mx.relay.example", 10))],
        "mx.relay.example": [("A", dnslib.A("127.0.0.1"))],
        "amx.example": [("A", dnslib.A("127.0.0.1"))],
        "nullmx.example": [("MX", dnslib.MX(".", 0))],
        # The preferred host refuses connections; the backup takes it.
        "backup.example": [("MX", dnslib.MX("dead.backup.example", 10)),
                           ("MX", dnslib.MX("mx.relay.example", 20))],
        "dead.backup.example": [("A", dnslib.A("127.0.0.2"))],
    }
    port = free_udp_port()
    srv = dnsserver.DNSServer(
        _Zone(records, servfail=["servfail.example"]), port=port,
        address="127.0.0.1",
        logger=dnsserver.DNSLogger(prefix=False, logf=lambda s: None))
    srv.start_thread()
    yield "127.0.0.1:%d" % port
    srv.stop()


# ----------------------------------------------------------------------
# The server under test

def relay_server(server, extra=(), users=(SENDER,), domains=("example.org",),
                 start=True, **kw):
    """smtpauthd whose users can relay after AUTH over the smtp listener
    (auth-over-plaintext: the inbound side is not what is tested here)."""
    lines = ["auth-over-plaintext yes", "auth-failure-delay 0"]
    srv = server(extra=lines + list(extra), start=False, users=list(users),
                 domains=list(domains), **kw)
    srv.users_path.write_text("".join(
        "%s:%s\n" % (u, sha512crypt(PASSWORD)) for u in users))
    os.chmod(srv.users_path, 0o600)
    if start:
        start_server(srv)
    return srv


def start_server(srv):
    srv.start()
    # AUTH is answered 454 until the auth process listens.
    srv.wait_log(r"auth: ready socket=")
    return srv


def mx_extra(dns, sink, *more):
    return ["resolver %s" % dns, "relay-port %d" % sink.port] + list(more)


def submit(srv, rcpts, msgs, sender=SENDER):
    """Messages over one authenticated session; their queue ids."""
    if isinstance(msgs, bytes):
        msgs = [msgs]
    ids = []
    with smtplib.SMTP("127.0.0.1", srv.port, local_hostname="c.test",
                      timeout=T(20)) as s:
        s.login(sender, PASSWORD)
        for m in msgs:
            code, _ = s.mail(sender)
            assert code == 250
            for r in rcpts:
                code, text = s.rcpt(r)
                assert code == 250, text
            code, text = s.data(m)
            assert code == 250, text
            ids.append(re.search(rb"queued as ([0-9A-F]{16})",
                                 text).group(1).decode())
    return ids


def ctl(srv, cmd):
    return subprocess.run([str(SMTPAUTHD), "-f", str(srv.conf_path), cmd],
                          capture_output=True, text=True, timeout=T(20))


def split_received(content):
    """The message as relayed: our Received: field, then what was sent."""
    lines = content.split(b"\r\n")
    assert lines[0].startswith(b"Received: from "), content[:200]
    i = 1
    while lines[i][:1] in (b"\t", b" "):
        i += 1
    return b"\r\n".join(lines[:i]), b"\r\n".join(lines[i:])


MESSAGE = crlf("From: A <user@example.org>\n"
               "To: friend\n"
               "Subject: relay me\n"
               "\n"
               ".a line with a leading dot\n"
               "..two of them\n"
               ".\n"
               "  blanks at both ends  \n"
               "\ttab\n"
               "x" * 990 + "\n"
               "\n"
               "last line\n")


# ----------------------------------------------------------------------
# A smarthost: TLS verified, AUTH, PIPELINING

def smarthost(server, pki):
    """A second smtpauthd: STARTTLS with the test CA's certificate,
    remote.example is its own, relay@remote.example may authenticate."""
    users = ["friend@remote.example", "relay@remote.example"]
    return relay_server(
        server, users=users, domains=["remote.example"],
        hostname="smarthost.test",
        extra=["tls-cert %s/ec.pem" % pki, "tls-key %s/ec.key" % pki,
               "sender-login-match no"])


def test_smarthost_tls_auth_bytes_intact(server, pki):
    b = smarthost(server, pki)
    a = relay_server(server, start=False, extra=[
        "relay-host 127.0.0.1:%d" % b.port, "relay-tls required",
        "relay-ca-file %s/ca.pem" % pki,
        "relay-auth %s" % "relay-auth"])
    cred = a.dir / "relay-auth"
    cred.write_text("# smarthost login\nrelay@remote.example:%s\n"
                    % PASSWORD)
    os.chmod(cred, 0o600)      # root only: read before the drop
    start_server(a)
    (qid,) = submit(a, ["friend@remote.example"], MESSAGE)
    b.wait_messages("friend@remote.example", 1)
    # The next one while the connection is idle: it is reused.
    (qid2,) = submit(a, ["friend@remote.example"],
                     crlf("Subject: second\n\nsame connection\n"))
    raws = b.wait_messages("friend@remote.example", 2)
    raw = next(r for r in raws if b"relay me" in r)
    # The smarthost saw TLS and AUTH: ESMTPSA in its Received: field.
    assert re.search(rb"Received: from mx\.test \(\[127\.0\.0\.1\]\)\n"
                     rb"\tby smarthost\.test with ESMTPSA", raw), raw[:300]
    # Then our own Received:, then the message byte for byte.
    body = raw.split(b"\n", 2)[2]                  # Return-Path, To
    rest = body.split(b"\nReceived: from c.test", 1)[1]
    assert b"by mx.test with ESMTPA id %s" % qid.encode() in rest
    assert rest.split(b"\n", 2)[2] == as_stored(MESSAGE) or \
        as_stored(MESSAGE) in rest
    assert rest.endswith(as_stored(MESSAGE))
    log = a.log()
    assert re.search(r"relay-tls host=\[127\.0\.0\.1\] version=TLSv1\.[23] "
                     r"cipher=\S+ verified=yes", log), log
    assert "relay-auth host=[127.0.0.1] user=relay@remote.example " \
        "result=ok" in log
    assert "pipelining=yes" in log
    for q in (qid, qid2):
        assert re.search(r"relay id=%s to=<friend@remote\.example> "
                         r"host=\[127\.0\.0\.1\] tls=yes result=sent "
                         r"reply=\"%s[0-9A-F]+\""
                         % (q, logged("250 2.0.0 Ok: queued as ")), log), log
    # Both messages on one connection: set up once.
    assert log.count("result=ready") == 1, log
    assert PASSWORD not in log
    a.wait_queue_empty()


def test_smarthost_unverified_certificate_defers(server, pki):
    """relay-tls required without the test CA: the system store does not
    know it, the handshake fails, the mail waits (never sent in clear)."""
    b = smarthost(server, pki)
    a = relay_server(server, extra=[
        "relay-host 127.0.0.1:%d" % b.port, "relay-tls required",
        "retry-min 60"])
    (qid,) = submit(a, ["friend@remote.example"], MESSAGE)
    a.wait_log(r"relay id=%s to=<friend@remote\.example> "
               r"host=\[127\.0\.0\.1\] tls=no result=deferred "
               r"reply=\"%s[^\"]*certificate"
               % (qid, logged("4.7.5 TLS handshake failed: ")))
    assert b.messages("friend@remote.example") == []
    out = ctl(a, "queue").stdout
    assert qid in out and "TLS handshake failed" in out, out


def test_smarthost_implicit_tls(server, pki):
    """relay-tls implicit: TLS from the first byte (an smtps listener)."""
    b = smarthost(server, pki)
    sport = free_port()
    b.stop()
    b.extra.append("listen 127.0.0.1:%d smtps" % sport)
    b.write_config()
    start_server(b)
    # smtps is for submission: AUTH before MAIL.
    a = relay_server(server, start=False, extra=[
        "relay-host 127.0.0.1:%d" % sport, "relay-tls implicit",
        "relay-ca-file %s/ca.pem" % pki, "relay-auth relay-auth"])
    (a.dir / "relay-auth").write_text("relay@remote.example:%s\n"
                                      % PASSWORD)
    start_server(a)
    (qid,) = submit(a, ["friend@remote.example"], MESSAGE)
    (raw,) = b.wait_messages("friend@remote.example", 1)
    assert b"by smarthost.test with ESMTPSA" in raw
    assert raw.endswith(as_stored(MESSAGE))
    assert re.search(r"relay id=%s .* tls=yes result=sent" % qid, a.log())


def test_smarthost_wrong_password_defers(server, pki):
    b = smarthost(server, pki)
    a = relay_server(server, start=False, extra=[
        "relay-host 127.0.0.1:%d" % b.port, "relay-tls required",
        "relay-ca-file %s/ca.pem" % pki, "relay-auth relay-auth",
        "retry-min 300"])
    (a.dir / "relay-auth").write_text("relay@remote.example:wrong\n")
    start_server(a)
    (qid,) = submit(a, ["friend@remote.example"], MESSAGE)
    a.wait_log(r"relay id=%s to=<friend@remote\.example> "
               r"host=\[127\.0\.0\.1\] tls=no result=deferred "
               r"reply=\"%s"
               % (qid, logged("4.7.0 authentication failed: 535 5.7.8 ")))
    assert b.messages("friend@remote.example") == []
    assert "wrong" not in a.log()


# ----------------------------------------------------------------------
# MX hosts found through DNS

def test_mx_delivery_and_connection_reuse(server, dns):
    sink = Sink().start()
    try:
        a = relay_server(server, extra=mx_extra(dns, sink))
        ids = submit(a, ["bob@relay.example", "carol@relay.example"],
                     MESSAGE)
        sink.wait(1)
        ids += submit(a, ["bob@relay.example", "carol@relay.example"],
                      crlf("Subject: 2\n\ntwo\n"))
        got = sink.wait(2)
        sender, rcpts, content = got[0]
        assert sender == SENDER
        assert sorted(rcpts) == ["bob@relay.example", "carol@relay.example"]
        received, body = split_received(content)
        assert body == MESSAGE
        assert b"id %s" % ids[0].encode() in received
        log = a.log()
        assert log.count("relay-conn host=mx.relay.example[127.0.0.1] "
                         "port=%d result=ready" % sink.port) == 1, log
        for q in ids:
            for r in ("bob", "carol"):
                assert re.search(r"relay id=%s to=<%s@relay\.example> "
                                 r"host=mx\.relay\.example\[127\.0\.0\.1\] "
                                 r"tls=no result=sent reply=\"%s\""
                                 % (q, r, logged("250 2.0.0 Ok: kept")),
                                 log), log
        # No MX: the domain's own address (RFC 5321 5.1).
        submit(a, ["dave@amx.example"], crlf("Subject: implicit\n\nx\n"))
        sink.wait(3)
        assert sink.messages[2][1] == ["dave@amx.example"]
        a.wait_queue_empty()
    finally:
        sink.stop()


def test_mx_preference_and_fallback(server, dns):
    sink = Sink().start()
    try:
        a = relay_server(server, extra=mx_extra(dns, sink))
        (qid,) = submit(a, ["eve@backup.example"], MESSAGE)
        (m,) = sink.wait(1)
        assert m[1] == ["eve@backup.example"]
        # The preferred MX was tried first and failed (refused, or on a
        # loaded machine timed out), then the backup took the message.
        log = a.wait_log(r"relay id=%s to=<eve@backup\.example> "
                         r"host=mx\.relay\.example\[127\.0\.0\.1\] "
                         r"tls=no result=sent" % qid).string
        first = re.search(r"relay-conn host=dead\.backup\.example"
                          r"\[127\.0\.0\.2\] port=%d result=failed "
                          r"reason=\"4\.4\.\d\\x20" % sink.port, log)
        assert first, log
        assert log.index("relay id=%s to=<eve@backup.example> "
                         "host=mx.relay.example[127.0.0.1] tls=no "
                         "result=sent" % qid) > first.start()
    finally:
        sink.stop()


def test_mx_opportunistic_starttls(server, dns, pki):
    """Towards an MX host that offers STARTTLS, it is used (unverified:
    no CA is configured, and the MX name is not checked)."""
    mx = relay_server(server, users=["bob@relay.example"],
                      domains=["relay.example"], hostname="mx.relay.test",
                      extra=["tls-cert %s/ec.pem" % pki,
                             "tls-key %s/ec.key" % pki])

    class Port:
        port = mx.port
    a = relay_server(server, extra=mx_extra(dns, Port))
    (qid,) = submit(a, ["bob@relay.example"], MESSAGE)
    (raw,) = mx.wait_messages("bob@relay.example", 1)
    assert b"by mx.relay.test with ESMTPS" in raw
    assert raw.endswith(as_stored(MESSAGE))
    log = a.log()
    assert "relay-tls host=mx.relay.example[127.0.0.1] version=TLSv1.3" \
        in log
    assert re.search(r"relay id=%s to=<bob@relay\.example> "
                     r"host=mx\.relay\.example\[127\.0\.0\.1\] tls=yes "
                     r"result=sent" % qid, log)


def test_sink_down_deferred_listed_then_flushed(server, dns):
    sink = Sink()                      # not started: its port is closed
    a = relay_server(server, extra=mx_extra(dns, sink, "retry-min 300"))
    try:
        (qid,) = submit(a, ["bob@relay.example"], MESSAGE)
        a.wait_log(r"relay id=%s to=<bob@relay\.example> "
                   r"host=mx\.relay\.example\[127\.0\.0\.1\] tls=no "
                   r"result=deferred reply=\"%s\""
                   % (qid, logged("4.4.1 connect: Connection refused")))
        r = ctl(a, "queue")
        assert r.returncode == 0, r.stderr
        assert re.search(r"^%s\s+\S+\s+\d+\s+<%s>$" % (qid, SENDER),
                         r.stdout, re.M), r.stdout
        assert re.search(r"remote <bob@relay\.example>  attempts 1, next "
                         r"in \d+m\d+s\n\s+last error: mx\.relay\.example"
                         r"\[127\.0\.0\.1\]: 4\.4\.1 connect: Connection "
                         r"refused", r.stdout), r.stdout
        assert "-- 1 message, 1 recipient" in r.stdout
        # The state survives a restart: not tried again before its time.
        assert a.stop() == 0
        mark = len(a.log())
        start_server(a)
        sink.start()
        time.sleep(0.5)
        assert sink.count() == 0
        assert "relay id=" not in a.log()[mark:]
        assert "attempts 1, next in" in ctl(a, "queue").stdout
        r = ctl(a, "flush")
        assert r.returncode == 0, r.stderr
        (m,) = sink.wait(1)
        assert split_received(m[2])[1] == MESSAGE
        a.wait_queue_empty()
        assert ctl(a, "queue").stdout == "the queue is empty\n"
    finally:
        sink.stop()


def test_flush_without_server(server):
    a = relay_server(server, start=False)
    a.spool.mkdir()
    (a.spool / "run").mkdir()
    r = ctl(a, "flush")
    assert r.returncode == 1
    assert "is smtpauthd running?" in r.stderr


def bounce_of(srv, n=1):
    raws = srv.wait_messages(SENDER, n)
    return [email.message_from_bytes(r) for r in raws], raws


def test_550_bounces_to_local_sender(server, dns):
    sink = Sink(reject=["nobody@relay.example"]).start()
    try:
        a = relay_server(server, extra=mx_extra(dns, sink))
        (qid,) = submit(a, ["nobody@relay.example", "bob@relay.example"],
                        MESSAGE)
        (m,) = sink.wait(1)
        assert m[1] == ["bob@relay.example"]
        (b,), (raw,) = bounce_of(a)
        a.wait_queue_empty()
        assert raw.startswith(b"Return-Path: <>\nDelivered-To: "
                              b"user@example.org\nReceived: by mx.test "
                              b"(smtpauthd)\n")
        assert b.get_content_type() == "multipart/report"
        assert b.get_param("report-type") == "delivery-status"
        assert b["To"] == "<user@example.org>"
        assert b["Auto-Submitted"] == "auto-replied"
        human, status, headers = b.get_payload()
        assert human.get_content_type() == "text/plain"
        text = human.get_payload()
        reply = ("550 5.1.1 <nobody@relay.example>: Recipient address "
                 "rejected: no such user here")
        assert reply in text
        assert "host mx.relay.example[127.0.0.1] said:" in text
        assert status.get_content_type() == "message/delivery-status"
        fields = status.get_payload()
        assert fields[0]["Reporting-MTA"] == "dns; mx.test"
        assert fields[0]["Arrival-Date"]
        (rcpt,) = fields[1:]
        assert rcpt["Final-Recipient"] == "rfc822; nobody@relay.example"
        assert rcpt["Action"] == "failed"
        assert rcpt["Status"] == "5.1.1"
        assert rcpt["Remote-MTA"] == "dns; mx.relay.example"
        assert rcpt["Diagnostic-Code"] == "smtp; " + reply
        assert headers.get_content_type() == "text/rfc822-headers"
        quoted = headers.get_payload()
        assert "Subject: relay me" in quoted and "id %s" % qid in quoted
        assert ".a line with a leading dot" not in quoted   # headers only
        log = a.log()
        assert re.search(r"relay id=%s to=<nobody@relay\.example> .* "
                         r"result=bounced reply=\"%s"
                         % (qid, logged("550 5.1.1 ")), log)
        assert re.search(r"bounce id=[0-9A-F]{16} for=%s "
                         r"to=<user@example\.org> nrcpt=1" % qid, log)
    finally:
        sink.stop()


def test_null_mx_and_nxdomain_bounce_servfail_waits(server, dns):
    a = relay_server(server, extra=["resolver %s" % dns, "retry-min 300"])
    (qid,) = submit(a, ["x@nullmx.example", "y@nx.example",
                        "z@servfail.example"], MESSAGE)
    (b,), _ = bounce_of(a)
    fields = b.get_payload()[1].get_payload()
    by_rcpt = {f["Final-Recipient"]: f for f in fields[1:]}
    assert sorted(by_rcpt) == ["rfc822; x@nullmx.example",
                               "rfc822; y@nx.example"]
    assert by_rcpt["rfc822; x@nullmx.example"]["Status"] == "5.1.10"
    assert "null MX" in \
        by_rcpt["rfc822; x@nullmx.example"]["Diagnostic-Code"]
    assert by_rcpt["rfc822; y@nx.example"]["Status"] == "5.1.2"
    assert "Remote-MTA" not in by_rcpt["rfc822; y@nx.example"]
    # SERVFAIL is DNS trouble: the recipient waits.
    a.wait_log(r"relay id=%s to=<z@servfail\.example> host=- tls=no "
               r"result=deferred reply=\"%s"
               % (qid, logged("4.4.3 servfail.example: MX lookup failed")))
    # The queue writes its envelope once the other results are in.
    envf = a.spool / "queue" / (qid + ".env")
    wait_until(lambda: envf.exists() and "\nretry 1 " in envf.read_text(),
               T(10), what="the queue's envelope with the retry")
    env = envf.read_text()
    assert "remote z@servfail.example\nretry 1 " in env
    assert "nullmx" not in env and "nx.example" not in env


def test_queue_lifetime_expires_into_a_bounce(server, dns):
    sink = Sink()                      # down for good
    # Times are whole seconds: a first attempt that falls in the second
    # after the message's (a slow machine, AddressSanitizer) puts the
    # second at the end of a 2-second lifetime, where it bounces
    # instead of deferring.  With 3, two deferrals always come first.
    a = relay_server(server, extra=mx_extra(
        dns, sink, "retry-min 1", "retry-max 1", "queue-lifetime 3"))
    (qid,) = submit(a, ["bob@relay.example"], MESSAGE)
    (b,), _ = bounce_of(a, 1)
    (rcpt,) = b.get_payload()[1].get_payload()[1:]
    assert rcpt["Action"] == "failed"
    assert rcpt["Status"] == "4.4.1"
    assert rcpt["Diagnostic-Code"] == \
        "X-smtpauthd; 4.4.1 connect: Connection refused"
    log = a.log()
    assert len(re.findall(r"relay id=%s .* result=deferred" % qid, log)) >= 2
    assert re.search(r"relay id=%s .* result=bounced" % qid, log)
    a.wait_queue_empty()


# ----------------------------------------------------------------------
# Crashes and stops

def batch(n, tag):
    return [crlf("Subject: %s %d\n\nmessage %d of %d\n" % (tag, i, i, n))
            for i in range(n)]


def subjects(sink):
    with sink.lock:
        return [re.search(rb"\r\nSubject: (.*?)\r\n", m[2]).group(1)
                .decode() for m in sink.messages]


def test_kill9_mid_batch_loses_nothing(server):
    """200 messages relayed; the whole server is killed (-9) while they
    leave, then restarted: every one arrives at least once."""
    n = 200
    sink = Sink(delay=0.004).start()
    try:
        a = relay_server(server, extra=[
            "relay-host 127.0.0.1:%d" % sink.port, "relay-tls none"])
        a.allow_crash = True
        queue = a.queue_pid()
        os.kill(queue, signal.SIGSTOP)   # all of them queued first
        try:
            submit(a, ["bob@relay.example"], batch(n, "kill9"))
        finally:
            os.kill(queue, signal.SIGCONT)
        sink.wait(n // 4)
        a.kill_group()
        at_kill = sink.count()
        left = len(list((a.spool / "queue").glob("*.msg")))
        assert at_kill < n and left > 0, (at_kill, left)
        a.start()
        wait_until(lambda: len(set(subjects(sink))) >= n, T(30),
                   what="all %d messages at the sink" % n)
        # Nothing left: the queue's envelope of a message removed just
        # before the kill goes at the restart's clean-up (INTERNALS.md).
        wait_until(lambda: not a.queued(), T(10), what="an empty queue/")
        got = subjects(sink)
        assert set(got) == {"kill9 %d" % i for i in range(n)}
        dups = len(got) - len(set(got))
        print("\nkill -9 after %d of %d at the sink, %d left in the spool: "
              "%d delivered twice" % (at_kill, n, left, dups))
    finally:
        sink.stop()


def test_queue_kill9_with_a_backlog_repeats_only_what_was_in_flight(server):
    """Messages for a local and a remote recipient, a backlog in the
    queue, and the queue (only it) killed -9 three times while they leave.
    The write of a relay result goes before the deliveries waiting for a
    pool thread (INTERNALS.md, "Delivering a message"), so a kill repeats
    only the transactions that had their 250 and were not yet written: a
    handful, not the backlog.  None is lost, the Maildir gets each once."""
    n, kills = 1200, 3
    sink = Sink(delay=0.002).start()
    try:
        a = relay_server(server, extra=[
            "relay-host 127.0.0.1:%d" % sink.port, "relay-tls none"])
        a.allow_crash = True
        queue = a.queue_pid()
        os.kill(queue, signal.SIGSTOP)   # all of them queued first
        try:
            submit(a, [SENDER, "bob@relay.example"], batch(n, "backlog"))
        finally:
            os.kill(queue, signal.SIGCONT)
        for k in range(kills):
            sink.wait(min(n, len(set(subjects(sink))) + 150), timeout=60)
            mark = len(a.log())
            os.kill(a.queue_pid(), signal.SIGKILL)
            a.wait_log(r"started queue pid=(\d+)", timeout=15, after=mark)
        wait_until(lambda: len(set(subjects(sink))) >= n, T(60),
                   what="all %d messages at the sink" % n)
        a.wait_queue_empty(timeout=60)
        got = subjects(sink)
        assert set(got) == {"backlog %d" % i for i in range(n)}
        dups = len(got) - len(set(got))
        local = a.messages(SENDER)
        print("\n%d kills: %d of %d relayed twice, %d Maildir files"
              % (kills, dups, n, len(local)))
        assert len(local) == n
        # In flight at a kill: a transaction per relay connection (4 for
        # the smarthost) and the results not yet written.
        assert dups <= 8 * kills, dups
    finally:
        sink.stop()


def test_clean_stop_delivers_none_twice(server):
    n = 100
    sink = Sink(delay=0.01).start()
    try:
        a = relay_server(server, extra=[
            "relay-host 127.0.0.1:%d" % sink.port, "relay-tls none"])
        queue = a.queue_pid()
        os.kill(queue, signal.SIGSTOP)
        try:
            submit(a, ["bob@relay.example"], batch(n, "stop"))
        finally:
            os.kill(queue, signal.SIGCONT)
        sink.wait(n // 5)
        assert a.stop() == 0
        at_stop = sink.count()
        assert at_stop < n
        assert "queue: stopping:" in a.log()
        a.start()
        wait_until(lambda: sink.count() >= n, T(30),
                   what="all %d messages at the sink" % n)
        a.wait_queue_empty()
        time.sleep(0.3)
        got = subjects(sink)
        assert sorted(got) == sorted("stop %d" % i for i in range(n)), \
            "delivered twice: %s" % sorted(s for s in set(got)
                                           if got.count(s) > 1)
    finally:
        sink.stop()


# ----------------------------------------------------------------------
# Nothing relayed carries a bare CR or LF

BARE_RE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def test_spooled_bare_cr_lf_never_relayed(server):
    """A message in the spool with bare CR and LF (as BDAT accepted them
    before it applied DATA's rule) leaves with each of them as CRLF and
    its dots stuffed: the sink gets one message, its smuggled commands
    as text, and no bare CR or LF on the wire."""
    sink = Sink().start()
    try:
        a = relay_server(server, extra=[
            "relay-host 127.0.0.1:%d" % sink.port, "relay-tls none"])
        a.stop()
        qid = "0123456789ABCDEF"
        body = (b"Received: from c.test ([127.0.0.1])\r\n\tby mx.test; x\r\n"
                b"Subject: old\r\n\r\nbare\rCR\r.\rRSET\r\n"
                b"bare\nLF\n.\nQUIT\nlast\r")
        envelope = ("v 1\nid %s\ntime %d\nip 127.0.0.1\nhelo c.test\n"
                    "auth %s\nfrom %s\nbody 7BIT\nsmtputf8 0\n"
                    "remote bob@relay.example\n\n"
                    % (qid, int(time.time()), SENDER, SENDER)).encode()
        queue = a.spool / "queue"
        path = queue / ("%s.msg" % qid)
        path.write_bytes(envelope + body)
        st = queue.stat()
        os.chown(path, st.st_uid, st.st_gid)
        os.chmod(path, 0o600)
        start_server(a)
        [(sender, rcpts, content)] = sink.wait(1)
        assert (sender, rcpts) == (SENDER, ["bob@relay.example"])
        assert BARE_RE.search(content) is None, content
        assert content == (b"Received: from c.test ([127.0.0.1])\r\n"
                           b"\tby mx.test; x\r\n"
                           b"Subject: old\r\n\r\nbare\r\nCR\r\n.\r\nRSET\r\n"
                           b"bare\r\nLF\r\n.\r\nQUIT\r\nlast\r\n")
        a.wait_queue_empty()
        assert sink.count() == 1
    finally:
        sink.stop()
