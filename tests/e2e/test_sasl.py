"""Multi-step SASL mechanisms (issue 14, second part): SCRAM-SHA-256 and
CRAM-MD5 pass through to a private Dovecot (its CONT lines become 334
challenges), advertised only because Dovecot offers them, with the guard,
the failure delay and the log line at the end of the exchange.  Clients:
msmtp (GNU SASL), Python smtplib, swaks, and a SCRAM client written here
with hashlib and hmac."""
import base64
import hashlib
import hmac
import os
import re
import smtplib
import subprocess

import pytest

from e2elib import HOSTNAME, T
from test_auth import TLSClient
from test_backends import BAD, OK, Dovecot, dovecot_server
from test_proxy import proxied
from test_tls import ctx_for, pki  # noqa: F401 - the session-wide test CA

SCRAM_USER = ("scram@example.org", "scram secret")
CRAM_USER = ("cram@example.org", "cram secret")
PLAIN_USER = ("plain@example.org", "plain secret")


def doveadm_pw(scheme, password):
    return subprocess.run(["doveadm", "pw", "-s", scheme, "-p", password],
                          capture_output=True, text=True, check=True,
                          timeout=T(30)).stdout.strip()


class SaslDovecot(Dovecot):
    """Dovecot offering PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256, its passwd-file
    holding what each mechanism needs: a SCRAM-SHA-256 key, a CRAM-MD5
    key, a PLAIN password (good for every mechanism)."""

    def __init__(self):
        super().__init__(users={})
        (self.dir / "passwd").write_text(
            "%s:%s\n%s:%s\n%s:{PLAIN}%s\n" % (
                SCRAM_USER[0], doveadm_pw("SCRAM-SHA-256", SCRAM_USER[1]),
                CRAM_USER[0], doveadm_pw("CRAM-MD5", CRAM_USER[1]),
                PLAIN_USER[0], PLAIN_USER[1]))
        conf = self.conf.read_text().replace(
            "auth_mechanisms = plain login",
            "auth_mechanisms = plain login cram-md5 scram-sha-256 anonymous")
        self.conf.write_text(conf)


@pytest.fixture(scope="module")
def sdove():
    d = SaslDovecot().start()
    yield d
    d.cleanup()


@pytest.fixture
def srv(server, pki, sdove):
    s = dovecot_server(server, pki, sdove.sock)
    s.wait_log(r"dovecot-auth unix:\S+: connected")
    # Each worker hears the list when it connects to the auth process.
    s.wait_log(r"worker 1: auth: connected")
    s.wait_log(r"worker 0: auth: connected")
    return s


class Client:
    """TLSClient with the last line of each reply and its code."""

    def __init__(self, srv, pki):
        self.c = TLSClient(srv, pki)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.c.close()

    def cmd(self, text):
        r = self.c.cmd(text)
        line = r if isinstance(r, str) else r[-1]
        return Reply(line)


class Reply:
    def __init__(self, line):
        self.line = line
        self.code = int(line[:3]) if line[:3].isdigit() else 0


def ehlo_auth(srv, pki, tls=True):
    with smtplib.SMTP("127.0.0.1", srv.port, local_hostname="c.test",
                      timeout=T(30)) as s:
        if tls:
            s.starttls(context=ctx_for(pki))
        s.ehlo()
        return s.esmtp_features.get("auth")


def test_mechanisms_are_dovecots(srv, pki):
    # Dovecot's list, less ANONYMOUS; plaintext ones only over TLS.
    assert ehlo_auth(srv, pki).split() == ["PLAIN", "LOGIN", "CRAM-MD5",
                                           "SCRAM-SHA-256"]
    assert ehlo_auth(srv, pki, tls=False).split() == ["CRAM-MD5",
                                                      "SCRAM-SHA-256"]
    with Client(srv, pki) as c:
        assert c.cmd("AUTH ANONYMOUS").line.startswith("504 ")


def msmtp(srv, pki, tmp_path, mech, user, password):
    rc = tmp_path / ("msmtprc-" + mech)
    rc.write_text(
        "account test\nhost 127.0.0.1\nport %d\ntls on\ntls_starttls on\n"
        "tls_trust_file %s\ntls_host_override %s\nauth %s\n"
        "user %s\npassword %s\nfrom %s\n"
        "account default : test\n" % (srv.port, pki / "ca.pem", HOSTNAME,
                                      mech, user, password, user))
    os.chmod(rc, 0o600)
    return subprocess.run(["msmtp", "-C", str(rc), "other@example.org"],
                          input=("Subject: %s\r\n\r\nvia msmtp %s\r\n" % (
                              mech, mech)).encode(),
                          capture_output=True, timeout=T(60))


def test_msmtp_scram_and_cram(srv, pki, tmp_path):
    r = msmtp(srv, pki, tmp_path, "scram-sha-256", *SCRAM_USER)
    assert r.returncode == 0, r.stderr
    r = msmtp(srv, pki, tmp_path, "cram-md5", *CRAM_USER)
    assert r.returncode == 0, r.stderr
    msgs = srv.wait_messages("other@example.org", 2)
    assert any(b"via msmtp scram-sha-256" in m for m in msgs)
    assert any(b"via msmtp cram-md5" in m for m in msgs)
    srv.wait_log(r"auth: auth result=ok ip=127\.0\.0\.1 port=\d+ tls=yes "
                 r"mech=SCRAM-SHA-256 user=\"scram@example\.org\"")
    srv.wait_log(r"auth: auth result=ok ip=127\.0\.0\.1 port=\d+ tls=yes "
                 r"mech=CRAM-MD5 user=\"cram@example\.org\"")
    # A wrong password through each: refused, and msmtp says so.
    r = msmtp(srv, pki, tmp_path, "scram-sha-256", SCRAM_USER[0], "nope")
    assert r.returncode != 0 and b"535" in r.stderr, r.stderr
    r = msmtp(srv, pki, tmp_path, "cram-md5", CRAM_USER[0], "nope")
    assert r.returncode != 0 and b"535" in r.stderr, r.stderr


def smtplib_cram(srv, pki, user, password, tls=True):
    with smtplib.SMTP("127.0.0.1", srv.port, local_hostname="c.test",
                      timeout=T(30)) as s:
        if tls:
            s.starttls(context=ctx_for(pki))
        s.ehlo()
        s.user, s.password = user, password
        try:
            code, text = s.auth("CRAM-MD5", s.auth_cram_md5)
        except smtplib.SMTPAuthenticationError as e:
            code, text = e.smtp_code, e.smtp_error
        return "%d %s" % (code, text.decode())


def test_smtplib_cram_md5(srv, pki):
    assert smtplib_cram(srv, pki, *CRAM_USER) == OK
    # Dovecot derives CRAM-MD5 from a PLAIN entry too.
    assert smtplib_cram(srv, pki, *PLAIN_USER) == OK
    # Not plaintext: offered and usable without TLS.
    assert smtplib_cram(srv, pki, *CRAM_USER, tls=False) == OK
    assert smtplib_cram(srv, pki, CRAM_USER[0], "wrong") == BAD
    assert smtplib_cram(srv, pki, "nobody@example.org", "wrong") == BAD
    srv.wait_log(r"auth result=fail ip=127\.0\.0\.1 port=\d+ tls=yes "
                 r"mech=CRAM-MD5 user=\"cram@example\.org\" reason=rejected")


def test_swaks_cram_md5(srv, pki):
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % srv.port, "--tls",
         "--tls-verify", "--tls-ca-path", str(pki / "ca.pem"),
         "--tls-sni", HOSTNAME, "-a", "CRAM-MD5", "--auth-user",
         CRAM_USER[0], "--auth-password", CRAM_USER[1], "--quit-after",
         "AUTH", "--timeout", "20"], capture_output=True, text=True,
        timeout=T(60))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0" in r.stdout


# -- SCRAM-SHA-256 by hand (RFC 5802, RFC 7677), an independent client

def b64(b):
    return base64.b64encode(b).decode()


def scram_exchange(c, user, password, tamper=None, ir=True):
    """AUTH SCRAM-SHA-256 on TLSClient c; returns the final reply line."""
    cnonce = b64(os.urandom(18))
    bare = "n=%s,r=%s" % (user, cnonce)
    first = "n,," + bare
    if ir:
        r = c.cmd("AUTH SCRAM-SHA-256 " + b64(first.encode()))
    else:
        r = c.cmd("AUTH SCRAM-SHA-256")
        assert r.line == "334 ", r.line
        r = c.cmd(b64(first.encode()))
    assert r.code == 334, r.line
    sfirst = base64.b64decode(r.line[4:]).decode()
    attrs = dict(a.split("=", 1) for a in sfirst.split(","))
    assert attrs["r"].startswith(cnonce)
    salt = base64.b64decode(attrs["s"])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt,
                                 int(attrs["i"]))
    ckey = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(ckey).digest()
    without = "c=%s,r=%s" % (b64(b"n,,"), attrs["r"])
    authmsg = ",".join((bare, sfirst, without)).encode()
    sig = hmac.new(stored, authmsg, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    if tamper == "proof":
        proof = bytes([proof[0] ^ 1]) + proof[1:]
    r = c.cmd(b64(("%s,p=%s" % (without, b64(proof))).encode()))
    if r.code != 334:
        return r.line
    final = base64.b64decode(r.line[4:]).decode()
    skey = hmac.new(salted, b"Server Key", "sha256").digest()
    want = b64(hmac.new(skey, authmsg, "sha256").digest())
    assert final == "v=" + want, final
    return c.cmd("").line


def test_scram_by_hand(srv, pki):
    for ir in (True, False):
        with Client(srv, pki) as c:
            assert scram_exchange(c, *SCRAM_USER, ir=ir) == OK
    with Client(srv, pki) as c:
        assert scram_exchange(c, *SCRAM_USER, tamper="proof") == BAD
    # A cancelled exchange: 501, and the session goes on.
    with Client(srv, pki) as c:
        assert c.cmd("AUTH SCRAM-SHA-256").line == "334 "
        assert c.cmd("*").line.startswith("501 ")
        assert scram_exchange(c, *SCRAM_USER) == OK


def test_dovecot_sees_local_address(srv, pki, sdove):
    # The request carries the address the client connected to (lip=,
    # lport=) with the client's, for Dovecot's own policy and logs.
    assert smtplib_cram(srv, pki, *CRAM_USER) == OK
    pat = (r"client in: AUTH\t\d+\tCRAM-MD5\tservice=smtp\tnologin\t"
           r"rip=127\.0\.0\.1\trport=\d+\tlip=127\.0\.0\.1\tlport=%d\t"
           r"secured" % srv.port)
    assert re.search(pat, sdove.log()), sdove.log()[-2000:]


def test_guard_bans_through_scram(server, pki, sdove):
    # Failures at the end of SCRAM exchanges count like any others; SCRAM
    # is not plaintext, so the proxied clear-text session may use it.
    s = dovecot_server(server, pki, sdove.sock, proxy=True,
                       extra=["auth-max-failures 3"])
    s.wait_log(r"dovecot-auth unix:\S+: connected")
    s.wait_log(r"worker 1: auth: connected")
    s.wait_log(r"worker 0: auth: connected")
    with proxied(s, "192.0.2.51") as c:
        c.ehlo()
        for _ in range(2):
            assert scram_exchange(c, SCRAM_USER[0], "guess") == BAD
        c.sendline("AUTH SCRAM-SHA-256")
        assert c.replies(1)[0].line == "334 "
    s.wait_log(r"auth result=fail ip=192\.0\.2\.51 port=\d+ tls=no "
               r"mech=SCRAM-SHA-256 user=\"scram@example\.org\" "
               r"reason=rejected")
    with proxied(s, "192.0.2.51") as c:
        c.ehlo()
        assert scram_exchange(c, SCRAM_USER[0], "guess") == BAD
    s.wait_log(r"auth: ban ip=192\.0\.2\.51 ")
    with proxied(s, "192.0.2.51", greet=False) as c:
        assert c.read_until_closed().startswith(b"421 ")


# -- SCRAM-SHA-256 keys in the users file (PLAIN and LOGIN verify them)

def scram_users_server(server, pki, tmp_path):
    from e2elib import free_port
    mine = subprocess.run(
        [str(srv_tool()), "hash", "--method", "scram-sha-256"],
        input="mine secret\n", capture_output=True, text=True,
        timeout=T(30))
    assert mine.returncode == 0, mine.stderr
    assert re.fullmatch(r"\{SCRAM-SHA-256\}4096,[A-Za-z0-9+/=]+,"
                        r"[A-Za-z0-9+/]{43}=,[A-Za-z0-9+/]{43}=\n",
                        mine.stdout), mine.stdout
    sport = free_port()
    srv = server(extra=["listen 127.0.0.1:%d smtps" % sport,
                        "tls-cert %s/ec.pem" % pki,
                        "tls-key %s/ec.key" % pki,
                        "auth-failure-delay 200"],
                 start=False, domains=["example.org"],
                 users=["dove@example.org", "mine@example.org"])
    # A line of a Dovecot passwd-file as doveadm writes it, and ours.
    srv.users_path.write_text(
        "dove@example.org:%s\nmine@example.org:%s" % (
            doveadm_pw("SCRAM-SHA-256", "dove secret"), mine.stdout))
    os.chmod(srv.users_path, 0o600)
    srv.start()
    return srv


def srv_tool():
    from pathlib import Path
    return Path(os.environ.get("SMTPAUTH_BUILD", "build")) / "smtpauth"


def test_users_file_scram_keys_verify_plain_and_login(server, pki,
                                                      tmp_path):
    from test_backends import login, swaks
    srv = scram_users_server(server, pki, tmp_path)
    srv.wait_log(r"users loaded=2 bad=0")
    assert login(srv, pki, "dove@example.org", "dove secret") == OK
    assert login(srv, pki, "mine@example.org", "mine secret", "LOGIN") == OK
    r = swaks(srv, pki, "mine@example.org", "mine secret", "PLAIN")
    assert r.returncode == 0 and "235 2.7.0" in r.stdout, r.stdout
    assert login(srv, pki, "dove@example.org", "dove secreT") == BAD
    assert login(srv, pki, "nobody@example.org", "dove secret") == BAD
    srv.wait_log(r"auth result=fail .* user=\"dove@example\.org\" "
                 r"reason=bad-password")
    srv.wait_log(r"auth result=fail .* user=\"nobody@example\.org\" "
                 r"reason=unknown-user")


def test_cache_follows_a_backend_password_change(server, pki, tmp_path):
    # The cache is keyed on user and password: a new password in Dovecot
    # works at once, the old one at most auth-cache-ttl longer.
    from test_auth import sha512crypt
    from test_backends import login
    import time
    d = Dovecot(users={"eve@example.org": "old secret"}).start()
    try:
        s = dovecot_server(server, pki, d.sock, extra=["auth-cache-ttl 3"])
        s.wait_log(r"dovecot-auth unix:\S+: connected")
        first = time.monotonic()
        assert login(s, pki, "eve@example.org", "old secret") == OK
        pw = d.dir / "passwd"
        pw.write_text("eve@example.org:{SHA512-CRYPT}%s\n"
                      % sha512crypt("new secret"))
        # Dovecot reads the file again when its mtime (in seconds) moves,
        # looking at most once a second.
        later = time.time() + 5
        os.utime(pw, (later, later))
        time.sleep(1.2)
        r = login(s, pki, "eve@example.org", "new secret")
        assert r == OK, d.log()[-3000:]
        assert login(s, pki, "eve@example.org", "old secret") == OK
        s.wait_log(r"auth result=ok .* user=\"eve@example\.org\" "
                   r"cache=hit")
        time.sleep(max(0, 4.5 - (time.monotonic() - first)))
        assert login(s, pki, "eve@example.org", "old secret") == BAD
        assert login(s, pki, "eve@example.org", "new secret") == OK
    finally:
        d.cleanup()
