"""AUTH (issue 4): PLAIN and LOGIN over TLS with independent clients, every
AUTH row of the reply table, relay only when authenticated, sender bound to
the login, the ban guard across workers, and privilege separation."""
import base64
import os
import pwd
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest

from e2elib import HOSTNAME, T, free_port, log_unescaped, wait_until
from test_tls import ctx_for, pki  # noqa: F401 - the session-wide test CA

PASSWORD = "correct horse"
USERS = {
    "user@example.org": PASSWORD,
    "other@example.org": "other secret",
    "jms1@jms1.net": "not.my.real.password",
}
SEED_PLAIN = "AGptczFAam1zMS5uZXQAbm90Lm15LnJlYWwucGFzc3dvcmQ="
# The log line of a connection turned away because its address is banned.
REFUSED_BANNED = r"worker (\d): session=\w+ refuse reason=banned"


def sha512crypt(password):
    return subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                          input=password, capture_output=True, text=True,
                          check=True).stdout.strip()


HASHES = {}


def hashed(user):
    if user not in HASHES:
        HASHES[user] = sha512crypt(USERS[user])
    return HASHES[user]


def auth_server(server, pki, extra=(), submission=False, **kw):
    """smtp (STARTTLS) + smtps listeners, real hashes, a short delay."""
    sport = free_port()
    lines = ["listen 127.0.0.1:%d smtps" % sport,
             "tls-cert %s/ec.pem" % pki, "tls-key %s/ec.key" % pki]
    if not any(e.startswith("auth-failure-delay") for e in extra):
        lines.append("auth-failure-delay 200")
    subport = None
    if submission:
        subport = free_port()
        lines.append("listen 127.0.0.1:%d submission" % subport)
    srv = server(extra=lines + list(extra), start=False,
                 domains=kw.pop("domains", ["example.org", "jms1.net"]),
                 users=list(USERS), **kw)
    srv.users_path.write_text("".join(
        "%s:%s\n" % (u, hashed(u)) for u in USERS))
    os.chmod(srv.users_path, 0o600)
    srv.start()
    srv.smtps_port = sport
    srv.sub_port = subport
    return srv


class TLSClient:
    """A raw client after STARTTLS (or on smtps), for exact replies."""

    def __init__(self, srv, pki, implicit=False, port=None, source=None,
                 ctx=None):
        port = port or (srv.smtps_port if implicit else srv.port)
        ctx = ctx or ctx_for(pki)
        raw = socket.create_connection(("127.0.0.1", port), T(10),
                                       source_address=source and (source, 0))
        if implicit:
            self.sock = ctx.wrap_socket(raw, server_hostname=HOSTNAME)
            self.f = self.sock.makefile("rb")
            assert self.line().startswith("220 ")
        else:
            f = raw.makefile("rb")
            assert f.readline().startswith(b"220 ")
            raw.sendall(b"EHLO c.test\r\n")
            while True:
                line = f.readline()
                assert line, "closed during EHLO"
                if line[3:4] == b" ":
                    break
            raw.sendall(b"STARTTLS\r\n")
            assert f.readline().startswith(b"220 ")
            self.sock = ctx.wrap_socket(raw, server_hostname=HOSTNAME)
            self.f = self.sock.makefile("rb")
        self.caps = self.cmd("EHLO c.test")

    def line(self):
        return self.f.readline().decode("utf-8", "replace").rstrip("\r\n")

    def reply(self):
        lines = [self.line()]
        while lines[-1][3:4] == "-":
            lines.append(self.line())
        return lines

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        r = self.reply()
        return r if len(r) > 1 else r[0]

    def closed(self):
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True

    def close(self):
        self.sock.close()


def plain(user, password, authzid=""):
    return base64.b64encode(("%s\0%s\0%s" % (authzid, user, password))
                            .encode()).decode()


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def test_smtplib_login_plain_and_login_then_relay(server, pki):
    # The smarthost is a closed port: the relayed copy waits in the queue.
    srv = auth_server(server, pki, extra=[
        "relay-host 127.0.0.1:%d" % free_port(), "retry-min 300"])
    for mech in ("PLAIN", "LOGIN"):
        with smtplib.SMTP("127.0.0.1", srv.port, local_hostname="c.test",
                          timeout=T(10)) as s:
            s.starttls(context=ctx_for(pki))
            s.ehlo()
            assert mech in s.esmtp_features["auth"]
            s.user, s.password = "user@example.org", PASSWORD
            code, _ = s.auth(mech, getattr(s, "auth_" + mech.lower()),
                             initial_response_ok=(mech == "PLAIN"))
            assert code == 235
            # Relay: a foreign recipient is accepted and queued.
            s.sendmail("user@example.org",
                       ["friend@elsewhere.example", "other@example.org"],
                       b"Subject: relay %s\r\n\r\nhi\r\n" % mech.encode())
    msgs = srv.wait_messages("other@example.org", 2)
    assert all(b"with ESMTPSA" in m for m in msgs)
    # The foreign recipient waits in the spool for the relay: the queue's
    # own envelope (ID.env) lists it alone once the local copy is out.
    q = srv.spool / "queue"
    wait_until(lambda: len(list(q.glob("*.env"))) == 2, T(10),
               what="two queue envelopes")
    for e in q.glob("*.env"):
        text = e.read_text()
        assert "remote friend@elsewhere.example" in text
        assert "local other@example.org" not in text
        # Who submitted it, from the envelope the worker wrote.
        assert "\nauth user@example.org\n" in text


def test_seed_example_string(server, pki):
    srv = auth_server(server, pki)
    c = TLSClient(srv, pki)
    assert c.cmd("AUTH PLAIN " + SEED_PLAIN) == \
        "235 2.7.0 Authentication successful"
    assert c.cmd("AUTH PLAIN " + SEED_PLAIN).startswith("503 5.5.1")
    c.close()


def test_smtps_submission_with_auth(server, pki):
    srv = auth_server(server, pki)
    with smtplib.SMTP_SSL("127.0.0.1", srv.smtps_port,
                          local_hostname="c.test", context=ctx_for(pki),
                          timeout=T(10)) as s:
        s.login("user@example.org", PASSWORD)
        s.sendmail("user@example.org", ["other@example.org"],
                   b"Subject: smtps\r\n\r\nover smtps\r\n")
    (m,) = srv.wait_messages("other@example.org", 1)
    assert b"over smtps" in m and b"with ESMTPSA" in m


def test_swaks_auth_plain_and_login(server, pki):
    srv = auth_server(server, pki)
    for mech in ("PLAIN", "LOGIN"):
        r = subprocess.run(
            ["swaks", "--server", "127.0.0.1:%d" % srv.port, "--tls",
             "--tls-verify", "--tls-ca-path", str(pki / "ca.pem"),
             "--tls-sni", HOSTNAME, "-a", mech,
             "--auth-user", "user@example.org", "--auth-password", PASSWORD,
             "--from", "user@example.org", "--to", "friend@elsewhere.example",
             "--timeout", "20"],
            capture_output=True, text=True, timeout=T(60))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "235 2.7.0" in r.stdout
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % srv.smtps_port, "--tlsc",
         "--tls-verify", "--tls-ca-path", str(pki / "ca.pem"),
         "--tls-sni", HOSTNAME, "-a", "PLAIN",
         "--auth-user", "user@example.org", "--auth-password", PASSWORD,
         "--from", "user@example.org", "--to", "other@example.org",
         "--timeout", "20"],
        capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stdout + r.stderr
    srv.wait_messages("other@example.org", 1)


def test_curl_user_ssl_reqd(server, pki, tmp_path):
    srv = auth_server(server, pki)
    mail = tmp_path / "m.txt"
    mail.write_bytes(b"Subject: curl auth\r\n\r\nvia curl --user\r\n")
    r = subprocess.run(
        ["curl", "-sS", "--ssl-reqd", "--cacert", str(pki / "ca.pem"),
         "--resolve", "%s:%d:127.0.0.1" % (HOSTNAME, srv.port),
         "smtp://%s:%d/c.test" % (HOSTNAME, srv.port),
         "--user", "user@example.org:%s" % PASSWORD,
         "--mail-from", "user@example.org",
         "--mail-rcpt", "other@example.org", "--upload-file", str(mail)],
        capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stderr
    (m,) = srv.wait_messages("other@example.org", 1)
    assert b"via curl --user" in m


def test_msmtp(server, pki, tmp_path):
    srv = auth_server(server, pki)
    rc = tmp_path / "msmtprc"
    rc.write_text(
        "account test\nhost 127.0.0.1\nport %d\ntls on\ntls_starttls on\n"
        "tls_trust_file %s\ntls_host_override %s\nauth plain\n"
        "user user@example.org\npassword %s\nfrom user@example.org\n"
        "account default : test\n" % (srv.port, pki / "ca.pem", HOSTNAME,
                                      PASSWORD))
    os.chmod(rc, 0o600)
    r = subprocess.run(["msmtp", "-C", str(rc), "other@example.org"],
                       input=b"Subject: msmtp\r\n\r\nvia msmtp\r\n",
                       capture_output=True, timeout=T(60))
    assert r.returncode == 0, r.stderr
    (m,) = srv.wait_messages("other@example.org", 1)
    assert b"via msmtp" in m


def test_unauthenticated_relay_refused_local_accepted(server, pki):
    srv = auth_server(server, pki)
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        assert c.cmd("RCPT TO:<friend@elsewhere.example>").line == \
            "550 5.7.1 Relay access denied"
        assert c.cmd("RCPT TO:<user@example.org>").code == 250


def test_submission_requires_auth(server, pki):
    srv = auth_server(server, pki, submission=True)
    c = TLSClient(srv, pki, port=srv.sub_port)
    assert c.cmd("MAIL FROM:<user@example.org>") == \
        "530 5.7.0 Authentication required"
    assert c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD)) == \
        "235 2.7.0 Authentication successful"
    assert c.cmd("MAIL FROM:<user@example.org>").startswith("250")
    c.close()


def test_reply_table(server, pki):
    srv = auth_server(server, pki)
    # In clear: not offered, and refused without looking at the password.
    with srv.connect() as c:
        caps = c.ehlo()
        assert not any("AUTH" in l for l in caps.lines)
        assert c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD)) \
            .line == ("538 5.7.11 Encryption required for requested "
                      "authentication mechanism")
    c = TLSClient(srv, pki)
    assert "250-AUTH PLAIN LOGIN" in c.caps
    assert c.cmd("AUTH CRAM-MD5") == \
        "504 5.5.4 Unrecognized authentication type"
    assert c.cmd("AUTH PLAIN") == "334 "
    assert c.cmd("*") == "501 5.7.0 Authentication cancelled"
    assert c.cmd("AUTH PLAIN not*base64") == \
        "501 5.5.2 Cannot decode response"
    assert c.cmd("AUTH LOGIN") == "334 VXNlcm5hbWU6"
    assert c.cmd(b64("user@example.org")) == "334 UGFzc3dvcmQ6"
    assert c.cmd("%%%") == "501 5.5.2 Cannot decode response"
    # The session goes on; MAIL then AUTH inside the transaction: 503.
    assert c.cmd("MAIL FROM:<x@example.com>").startswith("250")
    assert c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD)) \
        .startswith("503 5.5.1")
    assert c.cmd("RSET").startswith("250")
    assert c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD)) == \
        "235 2.7.0 Authentication successful"
    assert c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD)) \
        .startswith("503 5.5.1")
    c.close()


def test_unknown_user_and_wrong_password_alike(server, pki):
    srv = auth_server(server, pki, extra=["auth-max-failures 50"])
    times = {}
    for user, pw in (("user@example.org", "wrong"),
                     ("nobody@example.org", "wrong")):
        c = TLSClient(srv, pki)
        t0 = time.monotonic()
        r = c.cmd("AUTH PLAIN " + plain(user, pw))
        times[user] = time.monotonic() - t0
        assert r == "535 5.7.8 Authentication credentials invalid"
        c.close()
    # Both wait out the 200 ms delay (counted from the request).
    assert all(t >= 0.19 for t in times.values()), times
    log = srv.log()
    assert "reason=unknown-user" in log and "reason=bad-password" in log


def test_sasl_field_rules(server, pki):
    srv = auth_server(server, pki, extra=["auth-max-failures 100"])
    cases = [
        (b"\0user@example.org\r\n\0x", "501 5.5.2"),
        (b"\0user@exa\nmple.org\0x", "501 5.5.2"),
        (b"\0user@example.org\0pass\0word", "501 5.5.2"),
        (b"\0" + b"a" * 255 + b"\0" + b"p" * 255, "535 5.7.8"),
        (b"\0" + b"a" * 256 + b"\0pw", "501 5.5.2"),
        (b"\0user\0" + b"p" * 256, "501 5.5.2"),
        (b"someone@example.org\0user@example.org\0" + PASSWORD.encode(),
         "535 5.7.8"),
        (b"user@example.org\0user@example.org\0" + PASSWORD.encode(),
         "235 2.7.0"),
    ]
    for raw, want in cases:
        c = TLSClient(srv, pki)
        r = c.cmd("AUTH PLAIN " + b64(raw))
        assert r.startswith(want), (raw[:40], r)
        c.close()


def test_sasl_line_too_long(server, pki):
    srv = auth_server(server, pki)
    c = TLSClient(srv, pki)
    # 12,288 octets with CRLF is the limit (RFC 4954 4) ...
    ok = "AUTH PLAIN " + "A" * (12288 - 2 - len("AUTH PLAIN "))
    assert c.cmd(ok).startswith("501 5.5.2")
    # ... one more is too long, and the session goes on.
    assert c.cmd(ok + "A") == \
        "500 5.5.6 Authentication exchange line is too long"
    assert c.cmd("AUTH PLAIN") == "334 "
    assert c.cmd("A" * 12289) == \
        "500 5.5.6 Authentication exchange line is too long"
    assert c.cmd("NOOP").startswith("250")
    c.close()


def test_third_failure_closes_the_session(server, pki):
    srv = auth_server(server, pki, extra=["auth-max-failures 50"])
    c = TLSClient(srv, pki)
    for i in range(2):
        assert c.cmd("AUTH PLAIN " + plain("user@example.org", "bad%d" % i)) \
            .startswith("535 5.7.8")
    assert c.cmd("NOOP").startswith("250")
    assert c.cmd("AUTH PLAIN " + plain("user@example.org", "bad3")) \
        .startswith("535 5.7.8")
    assert c.line().startswith("421 4.7.0")
    assert c.closed()


def logged_in(srv, pki):
    """A STARTTLS session authenticated as user@example.org."""
    c = TLSClient(srv, pki)
    assert c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD)) \
        .startswith("235")
    return c


def test_sender_login_match(server, pki):
    srv = auth_server(server, pki)
    c = logged_in(srv, pki)
    assert c.cmd("MAIL FROM:<other@example.org>") == \
        "553 5.7.1 Sender address not owned by user"
    assert c.cmd("MAIL FROM:<USER@Example.ORG> AUTH=<>").startswith("250")
    c.close()
    c = logged_in(auth_server(server, pki, extra=["sender-login-match no"]),
                  pki)
    assert c.cmd("MAIL FROM:<other@example.org>").startswith("250")
    c.close()


def test_null_sender_not_owned_by_user(server, pki):
    """An authenticated user cannot send as <> (anonymous, and never
    bounced) unless sender-login-match is off; a client that did not
    authenticate still may (bounces from other servers)."""
    srv = auth_server(server, pki)
    c = logged_in(srv, pki)
    assert c.cmd("MAIL FROM:<>") == \
        "553 5.7.1 Sender address not owned by user"
    assert c.cmd("MAIL FROM:<> SIZE=10") == \
        "553 5.7.1 Sender address not owned by user"
    # Refused: no transaction began.
    assert c.cmd("RCPT TO:<other@example.org>").startswith("503")
    c.close()
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<>").code == 250
        assert c.cmd("RCPT TO:<other@example.org>").code == 250
    c = logged_in(auth_server(server, pki, extra=["sender-login-match no"]),
                  pki)
    assert c.cmd("MAIL FROM:<>").startswith("250")
    c.close()


FORGERS = [
    "x result=fail ip=10.6.6.6 y",
    'q" ip=10.6.6.6 user="z',
    "back\\slash ip=10.6.6.6\\",
    "tab\tip=10.6.6.6\t",
    "caf\u00e9 ip=10.6.6.6 \u2028",
    "x\x1b[2K ip=10.6.6.6",
]


def test_log_values_cannot_forge_fields(server, pki):
    """Whatever the user name, each auth line has one ip= field, the real
    client's, a fail2ban-style greedy regex finds that one, and the
    logged user name decodes to the one sent."""
    srv = auth_server(server, pki, extra=["auth-max-failures 50",
                                          "auth-failure-delay 0"])
    for name in FORGERS + ["user@example.org"]:
        c = TLSClient(srv, pki)
        r = c.cmd("AUTH PLAIN " + plain(name, "not the password"))
        assert r.startswith("535"), (name, r)
        c.close()
    srv.wait_log(r"auth result=fail .*user=\"user@example\.org\"")
    lines = [l for l in srv.log_bytes().split(b"\n")
             if b" auth result=" in l]
    assert len(lines) == len(FORGERS) + 1, lines
    seen = []
    for line in lines:
        assert re.findall(rb"(?:^| )ip=(\S*)", line) == [b"127.0.0.1"], line
        assert re.search(rb"auth result=fail.*ip=(\S+)", line).group(1) \
            == b"127.0.0.1", line
        assert all(0x21 <= b < 0x7f or b == 0x20 for b in line), line
        m = re.search(rb' user="([^"]*)"( |$)', line)
        assert m, line
        assert b" " not in m.group(1) and b"=" not in m.group(1), line
        seen.append(log_unescaped(m.group(1)).decode("utf-8"))
    assert seen == FORGERS + ["user@example.org"]
    # The session's own lines quote commands the same way.
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.com>").code == 250
        assert c.cmd("RCPT TO:<a ip=10.6.6.6>").code == 501
        assert c.cmd('FOO " ip=10.6.6.6 result=fail').code == 500
    srv.wait_log(r"reject cmd=UNKNOWN")
    assert re.search(rb"[^\x21-\x7e]ip=10\.6\.6\.6", srv.log_bytes()) is None


def test_auth_over_plaintext_yes(server, pki):
    srv = auth_server(server, pki, extra=["auth-over-plaintext yes"])
    with srv.connect() as c:
        caps = c.ehlo()
        assert "250-AUTH PLAIN LOGIN" in caps.lines
        assert c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD)) \
            .code == 235


def test_ban_across_workers_and_expiry(server, pki):
    srv = auth_server(server, pki, extra=[
        "auth-max-failures 4", "auth-window 60", "auth-ban 3",
        "auth-failure-delay 50"], workers=2)
    fails = 0
    while fails < 4:
        c = TLSClient(srv, pki)
        for _ in range(2):
            if fails == 4:
                break
            r = c.cmd("AUTH PLAIN " + plain("user@example.org", "guess"))
            assert r.startswith("535"), r
            fails += 1
        c.close()
    srv.wait_log(r"auth: ban ip=127\.0\.0\.1")
    # Every new connection, whichever worker takes it, gets 421.  The
    # kernel picks the worker by a hash of the client's port: connect until
    # both have refused one (six tries left it to chance, 1 in 32).
    for _ in range(40):
        s = socket.create_connection(("127.0.0.1", srv.port), T(10))
        data = s.makefile("rb").readline()
        assert data.startswith(b"421 4.7.0 %s too many failed "
                               b"authentications" % HOSTNAME.encode()), data
        s.close()
        if len(set(re.findall(REFUSED_BANNED, srv.log()))) == 2:
            break
    assert len(set(re.findall(REFUSED_BANNED, srv.log()))) == 2
    # The ban ends by itself.
    srv.wait_log(r"auth: unban ip=127\.0\.0\.1", timeout=10)
    c = TLSClient(srv, pki)
    assert c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD)) \
        .startswith("235")
    c.close()


def test_exempt_address_never_banned(server, pki):
    srv = auth_server(server, pki, extra=[
        "auth-max-failures 2", "auth-failure-delay 10",
        "auth-exempt 127.0.0.0/8"])
    for _ in range(3):
        c = TLSClient(srv, pki)
        for _ in range(2):
            assert c.cmd("AUTH PLAIN " + plain("user@example.org", "x")) \
                .startswith("535")
        c.close()
    assert "ban ip=" not in srv.log()
    c = TLSClient(srv, pki)
    assert c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD)) \
        .startswith("235")
    c.close()


def test_noop_answered_while_another_session_waits(server, pki):
    srv = auth_server(server, pki, extra=["auth-failure-delay 2000",
                                          "auth-max-failures 50"], workers=1)
    slow = TLSClient(srv, pki)
    slow.sock.sendall(("AUTH PLAIN %s\r\n" % plain("user@example.org", "no"))
                      .encode())
    time.sleep(0.1)
    fast = TLSClient(srv, pki)
    t0 = time.monotonic()
    assert fast.cmd("NOOP").startswith("250")
    assert time.monotonic() - t0 < 0.5 * T(1)
    fast.close()
    assert slow.line().startswith("535")
    slow.close()


def test_auth_process_down_gives_454(server, pki):
    srv = auth_server(server, pki)
    srv.allow_crash = True
    pid = int(re.search(r"started auth pid=(\d+)", srv.log()).group(1))
    c = TLSClient(srv, pki)
    # The parent is stopped so that it cannot restart the auth process
    # within the workers' 3 s grace: the answer must be 454.
    os.kill(srv.proc.pid, signal.SIGSTOP)
    try:
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not os.path.exists("/proc/%d/status" % pid) or
                   "\nState:\tZ" in open("/proc/%d/status" % pid).read(),
                   T(5), what="the auth process to be gone")
        r = c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD))
        assert r == "454 4.7.0 Temporary authentication failure", r
    finally:
        os.kill(srv.proc.pid, signal.SIGCONT)
    c.close()
    wait_until(lambda: len(re.findall(r"started auth pid=", srv.log())) >= 2,
               T(10), what="auth restarted")

    def good():
        c = TLSClient(srv, pki)
        try:
            return c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD)) \
                .startswith("235")
        finally:
            c.close()
    wait_until(good, T(10), what="235 after the restart")


def test_passwords_never_logged(server, pki):
    srv = auth_server(server, pki, extra=["auth-max-failures 50"])
    c = TLSClient(srv, pki)
    c.cmd("AUTH PLAIN " + plain("user@example.org", "Wr0ngSecret"))
    c.cmd("AUTH LOGIN")
    c.cmd(b64("user@example.org"))
    c.cmd(b64("An0therSecret"))
    c.close()
    c = TLSClient(srv, pki)
    c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD))
    c.close()
    srv.wait_log("result=ok")
    log = srv.log()
    for secret in ("Wr0ngSecret", "An0therSecret", PASSWORD,
                   plain("user@example.org", PASSWORD),
                   b64("An0therSecret")):
        assert secret not in log
    assert re.search(r'auth result=fail ip=127\.0\.0\.1 port=\d+ tls=yes '
                     r'mech=LOGIN user="user@example\.org" '
                     r'reason=bad-password', log), log


def test_username_with_control_bytes_is_escaped(server, pki):
    srv = auth_server(server, pki, extra=["auth-max-failures 50"])
    c = TLSClient(srv, pki)
    r = c.cmd("AUTH LOGIN " + b64("evil\x1b[31m@example.org"))
    assert r == "334 UGFzc3dvcmQ6"
    assert c.cmd(b64("pw")).startswith("535")
    c.close()
    srv.wait_log("result=fail")
    assert "\x1b" not in srv.log()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to nobody")
def test_workers_cannot_read_users(server, pki):
    srv = auth_server(server, pki)
    st = os.stat(srv.users_path)
    assert st.st_mode & 0o777 == 0o600 and st.st_uid == 0
    nobody = pwd.getpwnam("nobody")
    for pid in srv.worker_pids().values():
        status = open("/proc/%d/status" % pid).read()
        uid = re.search(r"Uid:\s+(\d+)", status).group(1)
        assert int(uid) == nobody.pw_uid
    # What the workers' user can do with the file: nothing.
    r = subprocess.run(["setpriv", "--reuid", str(nobody.pw_uid),
                        "--regid", str(nobody.pw_gid), "--clear-groups",
                        "cat", str(srv.users_path)],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Permission denied" in r.stderr
    # The auth process is not dumpable: the workers' user cannot read it.
    pid = int(re.findall(r"started auth pid=(\d+)", srv.log())[-1])
    r = subprocess.run(["setpriv", "--reuid", str(nobody.pw_uid),
                        "--regid", str(nobody.pw_gid), "--clear-groups",
                        "cat", "/proc/%d/environ" % pid],
                       capture_output=True, text=True)
    assert r.returncode != 0


def test_many_parallel_auths_all_answered(server, pki):
    srv = auth_server(server, pki, extra=["max-sessions-per-ip 100"])
    results = []

    def one():
        c = TLSClient(srv, pki)
        results.append(c.cmd("AUTH PLAIN " + plain("user@example.org",
                                                   PASSWORD)))
        c.close()

    threads = [threading.Thread(target=one) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["235 2.7.0 Authentication successful"] * 30


def test_curl_smtps_with_user_delivers(server, pki, tmp_path):
    srv = auth_server(server, pki)
    mail = tmp_path / "m.txt"
    mail.write_bytes(b"Subject: curl smtps\r\n\r\nvia curl smtps://\r\n")
    r = subprocess.run(
        ["curl", "-sS", "--cacert", str(pki / "ca.pem"),
         "--resolve", "%s:%d:127.0.0.1" % (HOSTNAME, srv.smtps_port),
         "smtps://%s:%d/c.test" % (HOSTNAME, srv.smtps_port),
         "--user", "user@example.org:%s" % PASSWORD,
         "--mail-from", "user@example.org",
         "--mail-rcpt", "other@example.org", "--upload-file", str(mail)],
        capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stderr
    (m,) = srv.wait_messages("other@example.org", 1)
    assert b"via curl smtps://" in m


def test_account_attacked_from_many_addresses_owner_still_logs_in(
        server, pki):
    """Failures against one account from many addresses slow that
    account's failed answers, but never lock its owner out."""
    srv = auth_server(server, pki, extra=["auth-max-failures 3",
                                          "auth-failure-delay 50"])
    delays = []
    for i in range(2, 10):
        # Two failures from each address: under its own ban limit.
        src = "127.0.0.%d" % i
        raw = socket.create_connection(("127.0.0.1", srv.smtps_port), T(10),
                                       source_address=(src, 0))
        t = ctx_for(pki).wrap_socket(raw, server_hostname=HOSTNAME)
        f = t.makefile("rb")
        f.readline()
        t.sendall(b"EHLO c.test\r\n")
        while f.readline()[3:4] != b" ":
            pass
        for _ in range(2):
            t0 = time.monotonic()
            t.sendall(("AUTH PLAIN %s\r\n" % plain("user@example.org",
                                                   "guess")).encode())
            assert f.readline().startswith(b"535")
            delays.append(time.monotonic() - t0)
        t.close()
    assert "ban ip=" not in srv.log()
    # The attacked account's failures are answered ever more slowly ...
    assert delays[-1] > delays[0] + 0.5, delays
    # ... and its owner, with the right password, gets in at once.
    c = TLSClient(srv, pki)
    t0 = time.monotonic()
    assert c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD)) == \
        "235 2.7.0 Authentication successful"
    assert time.monotonic() - t0 < 2 * T(1)
    c.close()
