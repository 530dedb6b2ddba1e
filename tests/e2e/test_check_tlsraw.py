"""The raw ClientHello probes of the TLS audit (SSLv3, RC4, DES, 3DES,
export: what Debian's OpenSSL 3 cannot offer), against a fake SMTP server
of this file that answers them as told, and against the real Postfix of
test_check_real.py, which cannot accept any of them.

The fake server does STARTTLS (or implicit TLS) and peeks at the
ClientHello: one offering a weak suite or SSLv3 is the audit's raw probe
and gets the configured answer (a ServerHello, an alert, a close, or
something hostile); any other is OpenSSL's and gets a real TLS handshake
(Python's ssl, TLS 1.2 and 1.3), then a little SMTP.
"""
import json
import re
import socket
import ssl
import struct
import threading

import pytest

from clientlib import free_port, make_pki, run, server_tls_context
from e2elib import T

# The suites the raw probes offer (src/client/tlshello.c), by class.
EXPORT = {0x0003, 0x0006, 0x0008, 0x0011, 0x0014, 0x0062, 0x0063, 0x0064,
          0x0065}
RC4 = {0x0004, 0x0005, 0x0066, 0xc002, 0xc007, 0xc00c, 0xc011}
DES = {0x0009, 0x0012, 0x0015}
TDES = {0x000a, 0x0013, 0x0016, 0xc003, 0xc008, 0xc00d, 0xc012}
WEAK = EXPORT | RC4 | DES | TDES


def parse_client_hello(data):
    """(client_version, [suites]) of a whole ClientHello record, or
    None when data is not one (yet)."""
    if len(data) < 5 or data[0] != 22:
        return None
    rlen = struct.unpack(">H", data[3:5])[0]
    body = data[5:5 + rlen]
    if len(body) < rlen or body[0] != 1 or len(body) < 4 + 2 + 32 + 1:
        return None
    version = struct.unpack(">H", body[4:6])[0]
    off = 4 + 2 + 32
    off += 1 + body[off]
    n = struct.unpack(">H", body[off:off + 2])[0]
    suites = [struct.unpack(">H", body[off + 2 + i:off + 4 + i])[0]
              for i in range(0, n, 2)]
    return version, suites


def server_hello(version, suite, record_version=0x0301):
    body = (struct.pack(">H", version) + bytes(range(32)) + b"\x00" +
            struct.pack(">HB", suite, 0))
    hs = b"\x02" + struct.pack(">I", len(body))[1:] + body
    return struct.pack(">BHH", 22, record_version, len(hs)) + hs


def alert(desc):
    return struct.pack(">BHHBB", 21, 0x0303, 2, 2, desc)


def accept(*suites, version=0x0303):
    """Take the first of suites the client offers, at version (or the
    client's, if lower); an alert when none is offered, and to SSLv3."""
    def answer(cv, offered):
        if cv == 0x0300:
            return alert(70)
        for s in suites:
            if s in offered:
                return server_hello(min(version, cv), s)
        return alert(40)
    return answer


def sslv3(cv, offered):
    if cv == 0x0300:
        return server_hello(0x0300, 0x002f if 0x002f in offered
                            else offered[0])
    return alert(70)


ANSWERS = {
    "3des": accept(0x000a),
    "rc4": accept(0x0005),
    "export": accept(0x0003),
    "rc4-export-tls10": accept(0x0005, 0x0003, version=0x0301),
    "sslv3": sslv3,
    "alert": lambda cv, offered: alert(40),
    "close": lambda cv, offered: b"",
    # Hostile: a record header cut short, a length over 2^14, a suite
    # that was not offered, and no TLS at all.
    "truncated": lambda cv, offered: b"\x16\x03\x03\x00",
    "oversized": lambda cv, offered: b"\x16\x03\x03\xff\xff" + b"\x02" * 64,
    "notoffered": lambda cv, offered: server_hello(min(cv, 0x0303), 0xc02f),
    "garbage": lambda cv, offered: b"HTTP/1.1 400 Bad Request\r\n\r\n",
    "silent": None,
}


class RawTLSServer:
    """An SMTP server on a free loopback port, one thread a connection,
    every socket operation under a timeout."""

    def __init__(self, cert, answer, implicit=False):
        self.ctx = server_tls_context(*cert)
        self.answer = answer
        self.implicit = implicit
        self.hellos = []        # (version, suites) of the raw probes
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", free_port()))
        self.ls.listen(16)
        self.ls.settimeout(0.2)
        self.port = self.ls.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    @property
    def target(self):
        return "127.0.0.1:%d" % self.port

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(T(10))
        self.ls.close()

    def loop(self):
        while not self.stop.is_set():
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(T(10))
            threading.Thread(target=self.session, args=(c,),
                             daemon=True).start()

    def session(self, c):
        try:
            with c:
                if self.implicit or self.smtp(c, tls=False):
                    self.tls(c)
        except (OSError, ssl.SSLError, ValueError):
            pass

    def smtp(self, c, tls):
        """The SMTP dialog: True when the client asked for STARTTLS."""
        c.sendall(b"220 mx.test ESMTP\r\n")
        buf = b""
        while True:
            while b"\r\n" not in buf:
                if len(buf) > 4096:
                    return False
                data = c.recv(4096)
                if not data:
                    return False
                buf += data
            line, buf = buf.split(b"\r\n", 1)
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                c.sendall(b"250-mx.test\r\n" +
                          (b"" if tls else b"250-STARTTLS\r\n") +
                          b"250 8BITMIME\r\n")
            elif verb == b"STAR" and not tls:
                c.sendall(b"220 2.0.0 go ahead\r\n")
                return True
            elif verb == b"QUIT":
                c.sendall(b"221 2.0.0 bye\r\n")
                return False
            elif verb in (b"RSET", b"NOOP"):
                c.sendall(b"250 2.0.0 ok\r\n")
            else:
                c.sendall(b"502 5.5.1 not here\r\n")

    def tls(self, c):
        # Peek: the ClientHello stays in the socket for ssl to read.
        hello = None
        for _ in range(100):
            data = c.recv(16384, socket.MSG_PEEK)
            if not data:
                return
            hello = parse_client_hello(data)
            if hello is not None or len(data) > 8192:
                break
        if hello is not None and (hello[0] == 0x0300 or
                                  WEAK & set(hello[1])):
            self.hellos.append(hello)
            self.raw(c, hello)
            return
        s = self.ctx.wrap_socket(c, server_side=True)
        with s:
            if self.implicit:
                self.smtp(s, tls=True)
            else:
                # After STARTTLS the client speaks first.
                self.smtp_after_starttls(s)

    def smtp_after_starttls(self, s):
        buf = b""
        while True:
            while b"\r\n" not in buf:
                data = s.recv(4096)
                if not data or len(buf) > 4096:
                    return
                buf += data
            line, buf = buf.split(b"\r\n", 1)
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                s.sendall(b"250-mx.test\r\n250 8BITMIME\r\n")
            elif verb == b"QUIT":
                s.sendall(b"221 2.0.0 bye\r\n")
                return
            elif verb in (b"RSET", b"NOOP"):
                s.sendall(b"250 2.0.0 ok\r\n")
            else:
                s.sendall(b"502 5.5.1 not here\r\n")

    def raw(self, c, hello):
        # Consume the ClientHello, answer, close.
        c.recv(16384)
        if self.answer is None:
            # Silent until the client gives up.
            try:
                while c.recv(4096):
                    pass
            except OSError:
                pass
            return
        out = self.answer(*hello)
        if out:
            c.sendall(out)
        # Then the close: a cut answer is cut for good.


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def check(pki, srv, *extra, role="submission"):
    p = run(["check", "--json", "--ca-file", pki["ca"], "--role", role,
             "-v", "--timeout", "3"] + list(extra) + [srv.target],
            timeout=120)
    p.json = json.loads(p.out)
    p.status = {c["id"]: c["status"] for c in p.json["checks"]}
    p.summary = {c["id"]: c["summary"] for c in p.json["checks"]}
    # Every probe, raw ones included, is counted and shown.
    n = re.search(r"the audit took (\d+) connections",
                  p.summary["tls-protocols"])
    assert n and int(n.group(1)) <= 42, p.summary["tls-protocols"]
    probes = p.err.split("tls audit: probe ")[1:]
    assert len(probes) == int(n.group(1))
    for t in probes:
        t = t.split("*  connected to ")[0]
        sent = [ln for ln in t.splitlines() if ln.startswith("C: ")]
        assert set(sent) <= {"C: EHLO [127.0.0.1]", "C: STARTTLS",
                             "C: QUIT"}, sent
    return p


def raw_probes(p):
    return [t.split("\n")[0] for t in p.err.split("tls audit: probe ")[1:]
            if "raw ClientHello" in t.split("\n")[0]]


@pytest.mark.parametrize("mode,name,cls", [
    ("3des", "DES-CBC3-SHA", "3DES"),
    ("rc4", "RC4-SHA", "RC4"),
    ("export", "EXP-RC4-MD5", "export"),
])
def test_weak_suite_accepted_fails(pki, mode, name, cls):
    with RawTLSServer(pki["good"], ANSWERS[mode]) as srv:
        p = check(pki, srv)
    s = p.summary["tls-ciphers"]
    assert p.status["tls-ciphers"] == "fail", s
    assert s.startswith("weak: %s at TLSv1.2 (%s)" % (cls, name)), s
    # The other classes were offered again without it, and refused.
    others = [c for c in ("export", "RC4", "DES", "3DES") if c != cls]
    assert "; %s refused (raw ClientHello)" % ", ".join(others) in s, s
    assert "not probed" not in s and "not known" not in s, s
    # SSLv3: one raw probe, refused (alert 40 or 70).
    assert "refuses TLSv1.1 TLSv1.0 SSLv3" in p.summary["tls-protocols"]
    assert p.status["tls-protocols"] == "pass", p.summary["tls-protocols"]
    # One SSLv3 probe and two weak ones, shown with -v.
    assert len(raw_probes(p)) == 3, raw_probes(p)
    code = {"3des": 0x000a, "rc4": 0x0005, "export": 0x0003}[mode]
    assert "ServerHello TLSv1.2, 0x%04x" % code in p.err
    assert "*  tls-ciphers raw: %s" % name in p.err
    # The checklist went on around the audit.
    assert p.status["tls-version"] == "pass"
    assert p.status["quit"] == "pass"


def test_weak_suites_fail_on_an_mx_too(pki):
    # Consistent with the suites OpenSSL can offer: only anonymous ones
    # and CBC-SHA1 under TLS 1.0 are lenient on an MX; broken ciphers
    # fail there as well.
    with RawTLSServer(pki["good"], ANSWERS["3des"]) as srv:
        p = check(pki, srv, role="mx")
    assert p.status["tls-ciphers"] == "fail", p.summary["tls-ciphers"]
    assert "opportunistic" not in p.summary["tls-ciphers"]


def test_two_classes_at_tls10(pki):
    with RawTLSServer(pki["good"], ANSWERS["rc4-export-tls10"]) as srv:
        p = check(pki, srv)
    s = p.summary["tls-ciphers"]
    assert p.status["tls-ciphers"] == "fail", s
    assert s.startswith("weak: export at TLSv1.0 (EXP-RC4-MD5), RC4 at "
                        "TLSv1.0 (RC4-SHA)"), s
    assert "; DES, 3DES refused (raw ClientHello)" in s, s
    # SSLv3 hello, then RC4 taken, export taken, DES and 3DES refused.
    assert len(raw_probes(p)) == 4, raw_probes(p)
    assert len(srv.hellos) == 4
    offered = [set(h[1]) for h in srv.hellos[1:]]
    assert offered[0] >= WEAK
    assert not offered[1] & RC4 and offered[1] & EXPORT
    assert not offered[2] & (RC4 | EXPORT) and offered[2] >= DES | TDES


def test_sslv3_accepted_fails(pki):
    with RawTLSServer(pki["good"], ANSWERS["sslv3"]) as srv:
        p = check(pki, srv)
        m = check(pki, srv, role="mx")
    s = p.summary["tls-protocols"]
    assert p.status["tls-protocols"] == "fail", s
    assert s.startswith("accepts TLSv1.3 TLSv1.2 SSLv3 (TLS 1.0 and older "
                        "are broken)"), s
    assert "SSLv3 found by a raw ClientHello (the server chose " \
        "AES128-SHA)" in s, s
    assert srv.hellos[0][0] == 0x0300
    # CBC with SHA-1 under SSLv3: the BEAST class, as under TLS 1.0.
    assert "CBC-SHA1 (BEAST) at SSLv3 (AES128-SHA)" in \
        p.summary["tls-ciphers"]
    assert "export, RC4, DES, 3DES refused" in p.summary["tls-ciphers"]
    # On an MX old versions are a warning (mx_lenient), SSLv3 included.
    assert m.status["tls-protocols"] == "warn", m.summary["tls-protocols"]
    assert "opportunistic TLS on an MX" in m.summary["tls-protocols"]


@pytest.mark.parametrize("mode", ["alert", "close"])
def test_refusal(pki, mode):
    with RawTLSServer(pki["good"], ANSWERS[mode]) as srv:
        p = check(pki, srv)
    assert p.status["tls-ciphers"] == "pass", p.summary["tls-ciphers"]
    assert "; export, RC4, DES, 3DES refused (raw ClientHello)" in \
        p.summary["tls-ciphers"]
    assert p.status["tls-protocols"] == "pass"
    assert "refuses TLSv1.1 TLSv1.0 SSLv3" in p.summary["tls-protocols"]
    assert len(raw_probes(p)) == 2
    assert ("alert 40 (handshake_failure): refused" if mode == "alert"
            else "the server closed the connection: refused") in p.err


@pytest.mark.parametrize("mode,why", [
    ("truncated", "the connection closed after 4 octets, in the middle "
     "of a record"),
    ("oversized", "protocol violation: a record of 65535 octets (over "
     "16384)"),
    ("notoffered", "protocol violation: suite 0xc02f, not offered"),
    ("garbage", "protocol violation: not a TLS record: first octet 0x48"),
    ("silent", "no answer within 3000 ms (0 octets)"),
])
def test_hostile_answers(pki, mode, why):
    with RawTLSServer(pki["good"], ANSWERS[mode]) as srv:
        p = check(pki, srv)
    c, pr = p.summary["tls-ciphers"], p.summary["tls-protocols"]
    # Neither taken for an acceptance nor for a refusal: said, a warning.
    assert p.status["tls-ciphers"] == "warn", c
    assert "; export, RC4, DES, 3DES not known: %s" % why in c, c
    assert "weak:" not in c and "refused" not in c, c
    assert p.status["tls-protocols"] == "warn", pr
    assert "; SSLv3 not known: %s" % why in pr, pr
    assert "SSLv3 (TLS" not in pr and "refuses TLSv1.1 TLSv1.0;" in pr, pr
    # The run went on: the checks after the audit have verdicts.
    assert p.status["quit"] == "pass"
    assert p.status["banner-disclosure"] != "skip"
    assert p.returncode in (0, 1)


def test_implicit_tls(pki):
    with RawTLSServer(pki["good"], ANSWERS["3des"], implicit=True) as srv:
        p = check(pki, srv, "--tls", "implicit")
    s = p.summary["tls-ciphers"]
    assert p.status["tls-ciphers"] == "fail", s
    assert s.startswith("weak: 3DES at TLSv1.2 (DES-CBC3-SHA)"), s
    # Straight into the ClientHello: no SMTP line before it.
    assert len(raw_probes(p)) == 3
