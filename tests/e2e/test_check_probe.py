"""The audit probes of smtpauth check (issue 15) against servers that
misbehave on purpose: aiosmtpd whose AUTH answers take longer for a known
user (a timing leak), guards that refuse at AUTH but let the right
password in, or that ban for good; aiosmtpd's own banner; and a raw
server in the manner of Exim that names its version, confirms users with
VRFY and takes a PROXY header from anyone."""
import json
import socketserver
import threading
import time

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from clientlib import FakeServer, PASSWORD, USER, make_pki, run

PROXY_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def check(target, *extra, pki=None, user=USER):
    args = ["check", "--json", "--to", USER]
    if user:
        args += ["--user", user]
    if pki:
        args += ["--ca-file", pki["ca"]]
    p = run(args + list(extra) + [target],
            env={"SMTPAUTH_PASSWORD": PASSWORD}, timeout=300)
    p.json = json.loads(p.out)
    p.status = {c["id"]: c["status"] for c in p.json["checks"]}
    p.summary = {c["id"]: c["summary"] for c in p.json["checks"]}
    return p


def with_authenticator(srv, fn):
    """Replace the fake server's authenticator by fn(user, password,
    peer_ip) -> AuthResult."""
    def auth(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        return fn(auth_data.login.decode(), auth_data.password.decode(),
                  session.peer[0])
    srv.controller.SMTP_kwargs["authenticator"] = auth


def test_timing_leak_fails(pki):
    # A server that only hashes for users it knows: 150 ms more for them.
    with FakeServer(pki["good"]) as srv:
        def leaky(user, pw, ip):
            if user == USER:
                time.sleep(0.15)
                return AuthResult(success=pw == PASSWORD, handled=False)
            return AuthResult(success=False, handled=False)
        with_authenticator(srv, leaky)
        p = check(srv.target, "--source", "127.0.0.1", "--probe-timing", "8",
                  pki=pki)
    assert p.returncode == 1, p.out
    assert p.status["auth-timing"] == "fail", p.summary
    s = p.summary["auth-timing"]
    assert s.startswith("AUTH refusals tell unknown users from known ones "
                        "by their timing"), s
    assert "p = 0.00" in s and "8 tries each" in s, s
    assert "16 wrong passwords of the failure budget spent" in s, s
    assert "--probe-timing 8 sends 16 wrong passwords" in p.err


def test_timing_needs_a_known_user():
    p = run(["check", "--probe-timing", "8", "127.0.0.1:1"])
    assert p.returncode == 2 and "needs --user" in p.err, p.err
    p = run(["check", "--probe-timing", "3", "--user", USER, "127.0.0.1:1"])
    assert p.returncode == 2 and "8 to 100" in p.err, p.err


def guard(limit, block_right):
    """An authenticator with a per-address guard: after limit failures,
    454 for the wrong passwords (and for the right one if block_right)."""
    fails = {}

    def fn(user, pw, ip):
        if fails.get(ip, 0) >= limit and (block_right or pw != PASSWORD):
            return AuthResult(success=False, handled=False,
                              message="454 4.7.0 Too many failures, later")
        if user == USER and pw == PASSWORD:
            return AuthResult(success=True, handled=False,
                              auth_data=LoginPassword(user.encode(), b""))
        fails[ip] = fails.get(ip, 0) + 1
        return AuthResult(success=False, handled=False)
    return fn


def test_guard_that_lets_the_right_password_in_fails(pki):
    with FakeServer(pki["good"]) as srv:
        with_authenticator(srv, guard(4, block_right=False))
        p = check(srv.target, "--source", "127.0.0.1", "--probe-guard",
                  "--probe-guard-source", "127.0.0.2", pki=pki)
    assert p.status["auth-guard"] == "fail", p.summary
    s = p.summary["auth-guard"]
    # auth-bad-password's went through SCRAM, which this guard does not
    # count: four of the probe's, the fifth refused.
    assert s.startswith("banned after 5 wrong passwords from 127.0.0.1 "
                        "(4 of them this probe's; AUTH answered 454 4.7.0"), s
    assert "at AUTH" in s, s
    assert "RIGHT PASSWORD IS STILL ACCEPTED" in s, s
    assert "127.0.0.2 still served" in s, s
    assert PASSWORD not in p.out + p.err


def test_guard_at_auth_passes_and_is_reported(pki):
    with FakeServer(pki["good"]) as srv:
        with_authenticator(srv, guard(6, block_right=True))
        p = check(srv.target, "--source", "127.0.0.1", "--probe-guard",
                  "--probe-guard-wait", "2", pki=pki)
    assert p.status["auth-guard"] == "pass", p.summary
    s = p.summary["auth-guard"]
    assert "banned after 7 wrong passwords" in s, s
    assert "(6 of them this probe's" in s, s
    assert "the right password refused too (454 4.7.0" in s, s
    assert "still in force after" in s, s
    assert s.endswith("127.0.0.1 is banned now"), s


def test_aiosmtpd_banner_names_python(pki):
    with FakeServer(pki["good"], ident=None) as srv:
        p = check(srv.target, "--source", "127.0.0.1", pki=pki)
    assert p.status["banner-disclosure"] == "warn", p.summary
    assert "the greeting names the software: Python, 1." in \
        p.summary["banner-disclosure"]
    assert p.returncode == 0


class RawHandler(socketserver.StreamRequestHandler):
    """An SMTP server in the manner of Exim: VRFY answers 250 for its
    users and 550 for the rest, and (proxy) a PROXY v1 or v2 header is
    read before the greeting from anyone."""

    def header(self):
        first = self.rfile.peek(12)[:12]
        if first.startswith(b"PROXY "):
            self.server.proxied.append(self.rfile.readline().decode())
        elif first == PROXY_V2_SIG:
            head = self.rfile.read(16)
            body = self.rfile.read(int.from_bytes(head[14:16], "big"))
            self.server.proxied.append(".".join(str(b) for b in body[:4]))

    def handle(self):
        srv = self.server
        if srv.proxy:
            self.header()
        out = self.wfile
        out.write(b"220 mx.test ESMTP Exim 4.96 Thu, 03 Dec 2026 "
                  b"07:00:00 +0000\r\n")
        for line in self.rfile:
            cmd = line.strip().decode("utf-8", "replace")
            verb = cmd.split(" ")[0].upper()
            if verb == "EHLO":
                out.write(b"250-mx.test Hello [127.0.0.1]\r\n250-SIZE "
                          b"52428800\r\n250 HELP\r\n")
            elif verb == "VRFY":
                arg = cmd[5:].strip("<> ")
                out.write(b"250 <%s>\r\n" % arg.encode() if arg == USER
                          else b"550 Unknown user\r\n")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                out.write(b"250 OK\r\n")
            elif verb == "QUIT":
                out.write(b"221 mx.test closing connection\r\n")
                return
            else:
                out.write(b"500 unrecognized command\r\n")


class RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, proxy):
        super().__init__(("127.0.0.1", 0), RawHandler)
        self.proxy = proxy
        self.proxied = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def target(self):
        return "127.0.0.1:%d" % self.server_address[1]

    def close(self):
        self.shutdown()
        self.server_close()


@pytest.fixture
def raw_server(request):
    srv = RawServer(proxy=request.param)
    yield srv
    srv.close()


@pytest.mark.parametrize("raw_server", [False], indirect=True)
def test_exim_like_vrfy_and_version(raw_server):
    p = check(raw_server.target, "--tls", "none", "--role", "mx",
              user=None)
    assert p.status["vrfy"] == "warn", p.summary
    assert p.summary["vrfy"].startswith(
        "VRFY tells users apart: <%s> 250" % USER), p.summary
    assert p.status["expn"] == "pass"
    s = p.summary["banner-disclosure"]
    assert p.status["banner-disclosure"] == "warn"
    # The name and the version, not the date or the address literal.
    assert "Exim, 4.96 in 'mx.test ESMTP Exim 4.96 Thu" in s, s
    assert "127.0.0.1" not in s.split(" in ")[0], s
    assert p.status["proxy-spoofing"] == "pass"


@pytest.mark.parametrize("raw_server", [True], indirect=True)
def test_proxy_header_from_anyone_fails(raw_server):
    # It greets no one who sends no header: a short --timeout.
    p = check(raw_server.target, "--tls", "none", "--timeout", "3",
              user=None)
    assert p.returncode == 1, p.out
    assert p.status["proxy-spoofing"] == "fail", p.summary
    s = p.summary["proxy-spoofing"]
    assert s.startswith("a PROXY v1 and v2 header from 127.0.0.1 claiming "
                        "to be 192.0.2.1 was taken"), s
    assert "proxy-from" in s and "--source" in s, s
    assert any("192.0.2.1" in h for h in raw_server.proxied)
    assert "192.0.2.1" in raw_server.proxied
