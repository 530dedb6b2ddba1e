"""DKIM signing (issue 17): mail that authenticated users submit is signed
by the queue as it relays it, and what reaches an MX host (an aiosmtpd sink
found through the test's own DNS server) is verified by two independent
verifiers: Python's dkim (dkimpy, its DNS lookup answered from the test's
own TXT records) and OpenDKIM (`opendkim -t` with TestPublicKeys, a
private configuration).

- keys made by `smtpauthd dkim-keygen`, RSA-2048 and Ed25519 (RFC 8463);
  the TXT record it prints is the one the verifiers are given;
- dot-stuffed lines, 8-bit bodies, long folded headers, several To
  fields, trailing empty lines, white space at line ends, an empty body;
- From is over-signed: a From added above the signed one breaks it;
- no signature when the From domain has no key; mail the queue makes
  itself (a bounce: no AUTH) is signed only with dkim-sign-all yes;
- `smtpauthd -n` refuses a key that does not load or an RSA key of 1024
  bits.
"""
import json
import os
import re
import smtplib
import stat
import subprocess

import pytest

from e2elib import BUILD, SMTPAUTHD, T, crlf
from test_relay import (PASSWORD, SENDER, Sink, relay_server, start_server,
                        sha512crypt, submit)  # noqa: F401

dkim = pytest.importorskip("dkim")
dnslib = pytest.importorskip("dnslib")
dnsserver = pytest.importorskip("dnslib.server")

from test_relay import _Zone, free_udp_port  # noqa: E402


@pytest.fixture(scope="module")
def dns():
    """relay.example's MX is 127.0.0.1 (the sink on relay-port)."""
    records = {
        "relay.example": [("MX", dnslib.MX("mx.relay.example", 10))],
        "mx.relay.example": [("A", dnslib.A("127.0.0.1"))],
    }
    port = free_udp_port()
    srv = dnsserver.DNSServer(
        _Zone(records), port=port, address="127.0.0.1",
        logger=dnsserver.DNSLogger(prefix=False, logf=lambda s: None))
    srv.start_thread()
    yield "127.0.0.1:%d" % port
    srv.stop()


def keygen(tmp_path, domain, selector, ed25519):
    """A key from smtpauthd dkim-keygen: (key file, TXT name, TXT text)."""
    path = tmp_path / ("%s.%s.key" % (selector, domain))
    args = [str(SMTPAUTHD), "dkim-keygen"] + (["--ed25519"] if ed25519
                                              else []) + \
        ["-o", str(path), domain, selector]
    r = subprocess.run(args, capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    m = re.fullmatch(r'(\S+)\. IN TXT((?: "[^"]*")+)\n', r.stdout)
    assert m, r.stdout
    name = m.group(1)
    assert name == "%s._domainkey.%s" % (selector, domain)
    text = "".join(re.findall(r'"([^"]*)"', m.group(2)))
    assert all(len(s) <= 255 for s in re.findall(r'"([^"]*)"', m.group(2)))
    assert text.startswith("v=DKIM1; k=%s; p=" % ("ed25519" if ed25519
                                                  else "rsa"))
    # A second run never overwrites the key in use.
    r = subprocess.run(args, capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 1 and "File exists" in r.stderr
    return path, name, text


class Verifiers:
    """dkimpy and OpenDKIM, both given the test's TXT records only."""

    def __init__(self, tmp_path, records):
        self.records = dict(records)
        self.dir = tmp_path
        keys = tmp_path / "testkeys"
        keys.write_text("".join("%s %s\n" % kv for kv in
                                self.records.items()))
        self.conf = tmp_path / "opendkim.conf"
        self.conf.write_text("Mode v\nSyslog no\nTestPublicKeys %s\n" % keys)

    def dnsfunc(self, name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        return self.records.get(name.rstrip("."), "").encode()

    def dkimpy(self, content):
        return dkim.verify(content, dnsfunc=self.dnsfunc)

    def opendkim(self, content):
        """opendkim -t: did the signature verify?"""
        f = self.dir / "msg.eml"
        f.write_bytes(content)
        r = subprocess.run(["opendkim", "-x", str(self.conf), "-vv", "-t",
                            str(f)], capture_output=True, text=True,
                           timeout=T(30))
        out = r.stdout + r.stderr
        assert "verification" in out, out
        return re.search(r"verification \([^)]*\) succeeded", out) is not None


def send(srv, msg, sender=SENDER, rcpt="bob@relay.example", opts=()):
    with smtplib.SMTP("127.0.0.1", srv.port, local_hostname="c.test",
                      timeout=T(20)) as s:
        s.ehlo()
        s.login(SENDER, PASSWORD)
        code, text = s.mail(sender, list(opts))
        assert code == 250, text
        code, text = s.rcpt(rcpt)
        assert code == 250, text
        code, text = s.data(msg)
        assert code == 250, text


LONG_SUBJECT = " ".join("word%d" % i for i in range(80))
REFS = " ".join("<%d.ref@example.org>" % i for i in range(30))

MESSAGES = [
    # Dot-stuffed lines, blanks at both ends, a tab, a long line.
    crlf("From: A <user@example.org>\n"
         "To: bob@relay.example\n"
         "Subject: dots\n"
         "Date: Wed, 2 Dec 2026 10:00:00 +0000\n"
         "Message-ID: <1@example.org>\n"
         "\n"
         ".a line with a leading dot\n"
         "..two of them\n"
         ".\n"
         "  blanks at both ends  \t\n"
         "\ttab  inside \t here\n"
         + "x" * 990 + "\n"),
    # Long folded headers, runs of blanks, two To fields.
    crlf("From:   \"Ann, the sender\" <USER@Example.ORG>  (comment)\n"
         "To: bob@relay.example,\n"
         "\tcarol@relay.example,   dave@relay.example\n"
         "To: second@relay.example\n"
         "Subject:   " + LONG_SUBJECT[:300] + "\n"
         "  " + LONG_SUBJECT[300:] + "\n"
         "References: " + REFS[:200] + "\n\t" + REFS[200:] + "\n"
         "In-Reply-To: <0.ref@example.org>\n"
         "X-Not-Signed: anything\n"
         "\n"
         "body\n"),
    # Trailing empty lines and lines of blanks only at the end.
    crlf("From: user@example.org\n"
         "Subject: trailing\n"
         "\n"
         "text\n"
         "\n"
         "   \n"
         "\n"
         "\t\n"
         "\n"),
    # No body at all, and a header section with nothing after it.
    crlf("From: user@example.org\nSubject: empty\n\n"),
    crlf("From: user@example.org\nSubject: headers only\n"),
    # No final line end.
    crlf("From: user@example.org\nSubject: no final CRLF\n\nlast") [:-2],
]

EIGHTBIT = (b"From: user@example.org\r\n"
            b"Subject: =?utf-8?q?8bit?=\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n"
            b"\r\n" +
            ("Gr\u00fc\u00dfe, \u00e7a va \u2014 \u65e5\u672c\r\n"
             "  trailing\u00a0  \r\n").encode("utf-8") +
            bytes(range(0x80, 0x100)) + b"\r\n")


def signature_of(content):
    """The DKIM-Signature field as received, unfolded."""
    m = re.match(rb"DKIM-Signature: (.*?)\r\n(?![ \t])", content, re.S)
    assert m, content[:300]
    return re.sub(rb"\r\n[ \t]", b" ", m.group(1)).decode()


def tags(sig):
    return {k.strip(): re.sub(r"\s", "", v) for k, v in
            (t.split("=", 1) for t in sig.split(";") if "=" in t)}


@pytest.mark.parametrize("ed25519", [False, True], ids=["rsa", "ed25519"])
def test_relayed_mail_verifies(server, dns, tmp_path, ed25519):
    key, name, txt = keygen(tmp_path, "example.org", "s1", ed25519)
    ver = Verifiers(tmp_path, {name: txt})
    sink = Sink().start()
    try:
        srv = relay_server(server, extra=[
            "resolver %s" % dns, "relay-port %d" % sink.port,
            "dkim-sign example.org s1 %s" % key])
        for m in MESSAGES:
            send(srv, m)
        send(srv, EIGHTBIT, opts=["BODY=8BITMIME"])
        got = sink.wait(len(MESSAGES) + 1)
    finally:
        sink.stop()
    for _, _, content in got:
        sig = tags(signature_of(content))
        assert sig["a"] == ("ed25519-sha256" if ed25519 else "rsa-sha256")
        assert sig["c"] == "relaxed/relaxed"
        assert sig["d"] == "example.org" and sig["s"] == "s1"
        h = sig["h"].lower().split(":")
        # From over-signed: listed once more than it is present.
        assert h.count("from") == 2, sig["h"]
        assert "received" not in h and "x-not-signed" not in h
        assert ver.dkimpy(content), content[:600]
        assert ver.opendkim(content) is True, content[:600]
    two_to = [c for _, _, c in got if b"second@relay.example" in c][0]
    assert tags(signature_of(two_to))["h"].lower().split(":").count("to") \
        == 2
    # The body and its header fields arrive as they were sent.
    eight = [c for _, _, c in got if b"8bit" in c][0]
    assert eight.endswith(EIGHTBIT.split(b"\r\n\r\n", 1)[1])
    # A From put above the signed one, or a changed body, fails (on the
    # one message whose body says "two of them", whichever came first).
    first = [c for _, _, c in got if b"two of them" in c][0]
    sigfield, rest = first.split(b"\r\nReceived: ", 1)
    forged = (sigfield + b"\r\nFrom: boss@example.org\r\nReceived: " +
              rest)
    assert not ver.dkimpy(forged)
    assert ver.opendkim(forged) is False
    assert not ver.dkimpy(first.replace(b"two of them", b"two of then"))
    srv.wait_log(r"relay id=\S+ to=<bob@relay\.example> .*result=sent")


def test_a_spool_file_longer_than_its_seal(server, dns, tmp_path):
    """A spool file may go on after the message its seal covers (a recycled
    file written over and not cut, INTERNALS.md "The seal"): the relay, the
    DKIM signature over what it sends, and `smtpauthctl show` all stop
    where the seal says."""
    key, name, txt = keygen(tmp_path, "example.org", "s1", True)
    ver = Verifiers(tmp_path, {name: txt})
    sink = Sink()                      # down: the message waits
    ctl = [str(BUILD / "smtpauthctl")]
    try:
        srv = relay_server(server, extra=[
            "resolver %s" % dns, "relay-port %d" % sink.port,
            "retry-min 300", "dkim-sign example.org s1 %s" % key])
        ctl += ["-f", str(srv.conf_path)]
        msg = MESSAGES[0]
        q, = submit(srv, ["bob@relay.example"], [msg])
        srv.wait_log(r"relay id=%s .*result=deferred" % q)
        path = srv.spool / "queue" / (q + ".msg")
        tail = (b"X-Tail: an old message\r\n\r\n.\r\n"
                b"MAIL FROM:<tail@evil.example>\r\n")
        with open(path, "ab") as f:
            f.write(tail)
        r = subprocess.run(ctl + ["--json", "show", q], capture_output=True,
                           timeout=T(20))
        assert r.returncode == 0, r.stderr
        shown = json.loads(r.stdout)
        assert shown["truncated"] is False
        assert shown["message"].encode().endswith(
            msg.split(b"\r\n\r\n", 1)[1]), shown["message"][-200:]
        sink.start()
        assert subprocess.run(ctl + ["flush"], timeout=T(20)).returncode \
            == 0
        got = sink.wait(1)
    finally:
        sink.stop()
    content = got[0][2]
    assert b"X-Tail" not in content and b"evil" not in content
    assert content.endswith(msg.split(b"\r\n\r\n", 1)[1])
    assert ver.dkimpy(content), content[:600]
    assert ver.opendkim(content) is True, content[:600]
    srv.wait_log(r"relay id=%s to=<bob@relay\.example> .*result=sent" % q)


def test_no_key_for_the_from_domain(server, dns, tmp_path):
    key, name, txt = keygen(tmp_path, "example.org", "s1", True)
    sink = Sink().start()
    try:
        srv = relay_server(server, extra=[
            "resolver %s" % dns, "relay-port %d" % sink.port,
            "sender-login-match no", "dkim-sign example.org s1 %s" % key])
        send(srv, crlf("From: someone@other.example\nSubject: x\n\nbody\n"))
        # A subdomain is another domain: no key either.
        send(srv, crlf("From: a@sub.example.org\nSubject: y\n\nbody\n"))
        # Two addresses in From, or no From: not signable.
        send(srv, crlf("From: user@example.org, b@example.org\n"
                       "Subject: z\n\nbody\n"))
        send(srv, crlf("Subject: no from\n\nbody\n"))
        got = sink.wait(4)
    finally:
        sink.stop()
    for _, _, content in got:
        assert b"DKIM-Signature" not in content, content[:400]
    srv.wait_log(r"dkim: not signed: no key for the From domain")
    srv.wait_log(r"dkim: not signed: no single address in From")
    srv.wait_log(r"dkim: not signed: no From field")


@pytest.mark.parametrize("sign_all", [False, True], ids=["auth", "all"])
def test_unauthenticated_mail_signed_only_when_configured(server, dns,
                                                          tmp_path,
                                                          sign_all):
    """The bounce the queue writes (no AUTH) to a remote sender: signed
    with the key of its From domain (our host name) only with
    dkim-sign-all yes."""
    key, name, txt = keygen(tmp_path, "mx.example.org", "b", False)
    ver = Verifiers(tmp_path, {name: txt})
    sink = Sink(reject=["nobody@relay.example"]).start()
    try:
        srv = relay_server(server, hostname="mx.example.org", extra=[
            "resolver %s" % dns, "relay-port %d" % sink.port,
            "sender-login-match no",
            "dkim-sign mx.example.org b %s" % key,
            "dkim-sign-all %s" % ("yes" if sign_all else "no")])
        send(srv, crlf("From: user@example.org\nSubject: x\n\nbody\n"),
             sender="back@relay.example", rcpt="nobody@relay.example")
        got = sink.wait(1)
    finally:
        sink.stop()
    bounce = got[0]
    assert bounce[0] in ("", "<>") and bounce[1] == ["back@relay.example"]
    content = bounce[2]
    assert b"MAILER-DAEMON@mx.example.org" in content
    if sign_all:
        assert ver.dkimpy(content)
        assert ver.opendkim(content) is True
    else:
        assert b"DKIM-Signature" not in content


def test_check_refuses_bad_keys(server, tmp_path):
    weak = tmp_path / "weak.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "rsa", "-pkeyopt",
                    "rsa_keygen_bits:1024", "-out", str(weak)], check=True,
                   capture_output=True, timeout=T(30))
    ec = tmp_path / "ec.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", str(ec)], check=True,
                   capture_output=True, timeout=T(30))
    good, _, _ = keygen(tmp_path, "example.org", "s1", True)
    cases = [
        ("dkim-sign example.org s1 %s" % weak, r"1024 bits"),
        ("dkim-sign example.org s1 %s" % ec, r"neither an RSA nor"),
        ("dkim-sign example.org s1 %s/missing" % tmp_path,
         r"No such file"),
        ("dkim-sign example.org s1 %s\ndkim-sign EXAMPLE.org s2 %s"
         % (good, good), r"already has a key"),
        ("dkim-sign exa_mple.org s1 %s" % good, r"bad domain"),
    ]
    for line, why in cases:
        srv = server(extra=line.split("\n"), start=False)
        r = subprocess.run([str(SMTPAUTHD), "-n", "-f", str(srv.conf_path)],
                           capture_output=True, text=True, timeout=T(30))
        assert r.returncode == 1, (line, r.stderr)
        assert re.search(why, r.stderr), (line, r.stderr)
        assert re.search(r"smtpauthd\.conf:\d+: ", r.stderr), r.stderr
    srv = server(extra=["dkim-sign example.org s1 %s" % good], start=False)
    r = subprocess.run([str(SMTPAUTHD), "-n", "-f", str(srv.conf_path)],
                       capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 0, r.stderr
    # A start with a key that does not load fails at once, with the reason.
    srv = server(extra=["dkim-sign example.org s1 %s" % weak], start=False)
    r = subprocess.run([str(SMTPAUTHD), "-d", "-f", str(srv.conf_path)],
                       capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 1 and "1024 bits" in r.stderr


def test_keygen_usage():
    r = subprocess.run([str(SMTPAUTHD), "dkim-keygen", "example.org"],
                       capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 2 and "usage: smtpauthd dkim-keygen" in r.stderr
    r = subprocess.run([str(SMTPAUTHD), "dkim-keygen", "bad_domain", "s"],
                       capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 2
