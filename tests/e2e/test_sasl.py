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


def scram_exchange(c, user, password, tamper=None, ir=True,
                   mech="SCRAM-SHA-256", gs2="n,,", cbind=b"", prep=True,
                   first_seen=None):
    """AUTH mech on TLSClient c; returns the final reply line.  gs2 and
    cbind: the gs2 header and the channel binding data that c= carries;
    prep: SASLprep the password first (RFC 5802 2.2), as a client must;
    first_seen: a list that gets the server-first message."""
    cnonce = b64(os.urandom(18))
    bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"),
                          cnonce)
    first = gs2 + bare
    if ir:
        r = c.cmd("AUTH %s %s" % (mech, b64(first.encode())))
    else:
        r = c.cmd("AUTH " + mech)
        assert r.line == "334 ", r.line
        r = c.cmd(b64(first.encode()))
    if r.code != 334:
        return r.line
    sfirst = base64.b64decode(r.line[4:]).decode()
    if first_seen is not None:
        first_seen.append(sfirst)
    attrs = dict(a.split("=", 1) for a in sfirst.split(","))
    assert attrs["r"].startswith(cnonce)
    salt = base64.b64decode(attrs["s"])
    salted = hashlib.pbkdf2_hmac(
        "sha256", (saslprep(password) if prep else password).encode(),
        salt, int(attrs["i"]))
    ckey = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(ckey).digest()
    if tamper == "cbind":
        cbind = bytes([cbind[0] ^ 1]) + cbind[1:]
    without = "c=%s,r=%s" % (b64(gs2.encode() + cbind), attrs["r"])
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


def saslprep(s, stored=False):
    """RFC 4013 with Python's own RFC 3454 tables (Unicode 3.2), apart
    from libidn, which smtpauthd uses."""
    import stringprep
    import unicodedata
    s = "".join(" " if stringprep.in_table_c12(ch) else ch for ch in s
                if not stringprep.in_table_b1(ch))
    s = unicodedata.ucd_3_2_0.normalize("NFKC", s)
    banned = (stringprep.in_table_c12, stringprep.in_table_c21,
              stringprep.in_table_c22, stringprep.in_table_c3,
              stringprep.in_table_c4, stringprep.in_table_c5,
              stringprep.in_table_c6, stringprep.in_table_c7,
              stringprep.in_table_c8, stringprep.in_table_c9)
    if any(f(ch) for ch in s for f in banned):
        raise ValueError("SASLprep: prohibited")
    if stored and any(stringprep.in_table_a1(ch) for ch in s):
        raise ValueError("SASLprep: unassigned")
    ral = [stringprep.in_table_d1(ch) for ch in s]
    if any(ral) and (any(stringprep.in_table_d2(ch) for ch in s) or
                     not (ral[0] and ral[-1])):
        raise ValueError("SASLprep: bidi")
    return s


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


# -- SCRAM-SHA-256 and -PLUS run by smtpauthd itself (auth-backend file)

FS_USER = ("fscram@example.org", "fscram secret")
FS_DOVE = ("fdove@example.org", "fdove secret")
FS_CRYPT = ("fcrypt@example.org", "fcrypt secret")
FS_NBSP = ("fnbsp@example.org", "pass\u00a0word")     # SASLprep: "pass word"
FS_GUESS = ("fguess@example.org", "fguess secret")
FS_OTHER = ("other@example.org", "other secret")     # msmtp's recipient
UNKNOWN = "nobody@example.org"
SFIRST = re.compile(r"r=([!-+\--~]+),s=([A-Za-z0-9+/]+=*),i=(\d+)")


def smtpauth_hash(password):
    p = subprocess.run([str(srv_tool()), "hash", "--method",
                        "scram-sha-256"], input=password + "\n",
                       capture_output=True, text=True, timeout=T(30))
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def file_scram_server(factory, pki, extra=(), proxy=False):
    """A users file of SCRAM keys (ours and doveadm's), a crypt hash and
    a password SASLprep maps; PLAIN LOGIN SCRAM-SHA-256(-PLUS) offered."""
    from test_auth import sha512crypt
    from e2elib import free_port
    sport = free_port()
    lines = ["listen 127.0.0.1:%d smtps" % sport,
             "tls-cert %s/ec.pem" % pki, "tls-key %s/ec.key" % pki,
             "auth-failure-delay 200"]
    if proxy:
        pport = free_port()
        lines += ["listen 127.0.0.1:%d smtp proxy" % pport,
                  "proxy-from 127.0.0.1/32", "auth-over-plaintext yes"]
    users = [FS_USER, FS_DOVE, FS_CRYPT, FS_NBSP, FS_GUESS, FS_OTHER]
    srv = factory(extra=lines + list(extra), start=False,
                  domains=["example.org"], users=[u for u, _ in users])
    srv.users_path.write_text(
        "%s:%s\n%s:%s\n%s:%s\n%s:%s\n%s:%s\n%s:%s\n" % (
            FS_USER[0], smtpauth_hash(FS_USER[1]),
            FS_DOVE[0], doveadm_pw("SCRAM-SHA-256", FS_DOVE[1]),
            FS_CRYPT[0], sha512crypt(FS_CRYPT[1]),
            FS_NBSP[0], smtpauth_hash(FS_NBSP[1]),
            FS_GUESS[0], smtpauth_hash(FS_GUESS[1]),
            FS_OTHER[0], sha512crypt(FS_OTHER[1])))
    os.chmod(srv.users_path, 0o600)
    srv.start()
    srv.smtps_port = sport
    if proxy:
        srv.proxy_port = pport
    srv.wait_log(r"users loaded=6 bad=0 scram=4")
    # Each worker hears the list when it connects to the auth process.
    srv.wait_log(r"worker 1: auth: connected")
    srv.wait_log(r"worker 0: auth: connected")
    return srv


@pytest.fixture(scope="module")
def fsrv(module_server_factory, pki):
    # Many failures from loopback, on purpose: never a ban here.
    return file_scram_server(module_server_factory, pki,
                             extra=["auth-exempt 127.0.0.1/32"])


def tls_ctx(pki, version=None, keylog=None):
    import ssl
    ctx = ctx_for(pki)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    if keylog is not None:
        ctx.keylog_filename = str(keylog)
    return ctx


def hkdf_expand_label(md, secret, label, context, length):
    info = (length.to_bytes(2, "big") +
            bytes([len(b"tls13 " + label)]) + b"tls13 " + label +
            bytes([len(context)]) + context)
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(secret, t + info + bytes([i]), md).digest()
        out += t
        i += 1
    return out[:length]


def tls_exporter(c, keylog):
    """RFC 9266 tls-exporter of TLSClient c's TLS 1.3 session, computed
    here (RFC 8446 7.5) from the exporter secret Python's ssl logged:
    Python 3.11 has no export_keying_material."""
    line = [ln for ln in keylog.read_text().splitlines()
            if ln.startswith("EXPORTER_SECRET ")]
    assert len(line) == 1, keylog.read_text()
    secret = bytes.fromhex(line[0].split()[2])
    md = "sha384" if c.sock.cipher()[0].endswith("SHA384") else "sha256"
    dlen = hashlib.new(md).digest_size
    derived = hkdf_expand_label(md, secret, b"EXPORTER-Channel-Binding",
                                hashlib.new(md, b"").digest(), dlen)
    return hkdf_expand_label(md, derived, b"exporter",
                             hashlib.new(md, b"").digest(), 32)


def test_file_scram_offered(fsrv, pki, server):
    import ssl
    with Client(fsrv, pki) as c:
        auth = [ln for ln in c.c.caps if ln[4:].startswith("AUTH ")]
        assert c.c.sock.version() == "TLSv1.3"
    assert auth[0][9:].split() == ["PLAIN", "LOGIN", "SCRAM-SHA-256",
                                   "SCRAM-SHA-256-PLUS"]
    # tls-exporter is TLS 1.3's only (RFC 9266): no -PLUS on TLS 1.2.
    c = TLSClient(fsrv, pki, ctx=tls_ctx(pki, ssl.TLSVersion.TLSv1_2))
    try:
        assert c.sock.version() == "TLSv1.2"
        auth = [ln for ln in c.caps if ln[4:].startswith("AUTH ")]
        assert auth[0][9:].split() == ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
        assert c.cmd("AUTH SCRAM-SHA-256-PLUS").startswith("504 5.5.4")
        # A client that could bind, told it cannot here: no downgrade.
        assert scram_exchange(Reply2(c), *FS_USER, gs2="y,,") == OK
    finally:
        c.close()
    # Not in clear text: a proof there can be guessed at offline.
    assert ehlo_auth(fsrv, pki, tls=False) is None
    # A users file without SCRAM keys: PLAIN and LOGIN alone.
    from test_auth import auth_server
    plain_only = auth_server(server, pki)
    assert ehlo_auth(plain_only, pki).split() == ["PLAIN", "LOGIN"]
    with Client(plain_only, pki) as c:
        assert c.cmd("AUTH SCRAM-SHA-256").line.startswith("504 5.5.4")


class Reply2:
    """A bare TLSClient as Client: replies with their code."""

    def __init__(self, c):
        self.c = c

    def cmd(self, text):
        r = self.c.cmd(text)
        return Reply(r if isinstance(r, str) else r[-1])


def test_file_scram_login_and_failures(fsrv, pki):
    for ir in (True, False):
        for user in (FS_USER, FS_DOVE):
            with Client(fsrv, pki) as c:
                assert scram_exchange(c, *user, ir=ir) == OK
                # Logged in: MAIL goes on.
                assert c.cmd("MAIL FROM:<%s>" % user[0]).code == 250
    fsrv.wait_log(r"auth: auth result=ok ip=127\.0\.0\.1 port=\d+ tls=yes "
                  r"mech=SCRAM-SHA-256 user=\"fscram@example\.org\"")
    with Client(fsrv, pki) as c:
        assert scram_exchange(c, FS_USER[0], "fscram secreT") == BAD
        assert scram_exchange(c, *FS_USER, tamper="proof") == BAD
        # The session goes on after a failure.
        assert scram_exchange(c, *FS_USER) == OK
    fsrv.wait_log(r"auth result=fail ip=127\.0\.0\.1 port=\d+ tls=yes "
                  r"mech=SCRAM-SHA-256 user=\"fscram@example\.org\" "
                  r"reason=bad-password")
    # Unknown, and a crypt hash that cannot answer SCRAM: 535 alike, at
    # the end, after a server-first of the same shape as a real one.
    seen = {}
    for user in (FS_USER[0], UNKNOWN, FS_CRYPT[0], UNKNOWN, "x" + UNKNOWN):
        firsts = []
        with Client(fsrv, pki) as c:
            r = scram_exchange(c, user, "whatever", first_seen=firsts)
        assert r == BAD
        m = SFIRST.fullmatch(firsts[0])
        assert m, firsts[0]
        assert len(base64.b64decode(m.group(2))) == 16
        assert m.group(3) == "4096"
        seen.setdefault(user, set()).add(m.group(2))
    # A name's salt stays the same, as a real user's does; names differ.
    assert len(seen[UNKNOWN]) == 1
    assert seen[UNKNOWN] != seen["x" + UNKNOWN] != seen[FS_CRYPT[0]]
    fsrv.wait_log(r"auth result=fail .* mech=SCRAM-SHA-256 "
                  r"user=\"nobody@example\.org\" reason=unknown-user")
    fsrv.wait_log(r"auth result=fail .* mech=SCRAM-SHA-256 "
                  r"user=\"fcrypt@example\.org\" reason=no-scram-keys")
    # The crypt user logs in with PLAIN as before.
    from test_backends import login
    assert login(fsrv, pki, *FS_CRYPT) == OK


def test_file_scram_malformed_and_refused(fsrv, pki):
    cases = [
        # (client-first, reply): grammar broken 501, refused 535.
        ("x,,n=%s,r=abc" % FS_USER[0], "501 5.5.2"),
        ("n,,n=%s" % FS_USER[0], "501 5.5.2"),
        ("n,,n=fs=cram,r=abc", "501 5.5.2"),
        ("n,,n=%s,r=a b" % FS_USER[0], "501 5.5.2"),
        ("n,a=other@example.org,n=%s,r=abc" % FS_USER[0], "535 5.7.8"),
        ("n,,m=ext,n=%s,r=abc" % FS_USER[0], "535 5.7.8"),
        ("p=tls-exporter,,n=%s,r=abc" % FS_USER[0], "535 5.7.8"),
    ]
    for first, want in cases:
        # A session each: the third 535 of one closes it (RFC 4954 9).
        with Client(fsrv, pki) as c:
            r = c.cmd("AUTH SCRAM-SHA-256 " + b64(first.encode()))
            assert r.line.startswith(want), (first, r.line)
    with Client(fsrv, pki) as c:
        # A client-final without a proof, and bad base64 on the wire.
        r = c.cmd("AUTH SCRAM-SHA-256 " + b64(
            ("n,,n=%s,r=abc" % FS_USER[0]).encode()))
        assert r.code == 334
        nonce = base64.b64decode(r.line[4:]).decode().split(",")[0][2:]
        r = c.cmd(b64(("c=biws,r=%s" % nonce).encode()))
        assert r.line.startswith("501 5.5.2"), r.line
        assert c.cmd("AUTH SCRAM-SHA-256 !!!").line.startswith("501 5.5.2")
        # Still usable.
        assert scram_exchange(c, *FS_USER) == OK
    fsrv.wait_log(r"auth result=malformed .* mech=SCRAM-SHA-256 "
                  r"user=\"\" reason=malformed")
    fsrv.wait_log(r"auth result=fail .* mech=SCRAM-SHA-256 "
                  r"user=\"fscram@example\.org\" reason=authzid")
    fsrv.wait_log(r"reason=mandatory-extension")
    fsrv.wait_log(r"reason=channel-binding-not-plus")


def test_file_scram_plus_tls_exporter(fsrv, pki, tmp_path):
    def session(n):
        keylog = tmp_path / ("keylog%d" % n)
        c = TLSClient(fsrv, pki, ctx=tls_ctx(pki, keylog=keylog))
        assert c.sock.version() == "TLSv1.3"
        return c, tls_exporter(c, keylog)

    plus = dict(mech="SCRAM-SHA-256-PLUS", gs2="p=tls-exporter,,")
    c, cb = session(1)
    try:
        assert scram_exchange(Reply2(c), *FS_USER, cbind=cb, **plus) == OK
    finally:
        c.close()
    fsrv.wait_log(r"auth result=ok .* tls=yes mech=SCRAM-SHA-256-PLUS "
                  r"user=\"fscram@example\.org\"")
    old = session(2)
    old[0].close()
    cases = [
        # Another session's binding (a man in the middle's), a flipped
        # bit, none at all: refused.
        (dict(plus, cbind=old[1]), BAD),
        (dict(plus, cbind="this", tamper="cbind"), BAD),
        (dict(plus, cbind=b""), BAD),
        # 'y' where -PLUS was offered: a downgrade (RFC 5802 6).
        (dict(gs2="y,,"), BAD),
        # 'n' (a client without channel binding) works.
        (dict(gs2="n,,"), OK),
    ]
    for n, (kw, want) in enumerate(cases):
        c, cb = session(10 + n)
        if kw.get("cbind") == "this":
            kw["cbind"] = cb
        try:
            assert scram_exchange(Reply2(c), *FS_USER, **kw) == want, kw
        finally:
            c.close()
    fsrv.wait_log(r"mech=SCRAM-SHA-256-PLUS user=\"fscram@example\.org\" "
                  r"reason=channel-binding")
    fsrv.wait_log(r"mech=SCRAM-SHA-256 user=\"fscram@example\.org\" "
                  r"reason=downgrade")


def test_file_scram_plus_openssl_s_client(fsrv, pki):
    # The binding as OpenSSL's s_client exports it (-keymatexport), the
    # exchange through it: a second, independent TLS stack's value.
    import threading
    p = subprocess.Popen(
        ["stdbuf", "-o0", "openssl", "s_client", "-connect", "127.0.0.1:%d" % fsrv.port,
         "-starttls", "smtp", "-tls1_3", "-CAfile", str(pki / "ca.pem"),
         "-servername", HOSTNAME, "-keymatexport",
         "EXPORTER-Channel-Binding", "-keymatexportlen", "32", "-crlf",
         "-nocommands", "-ign_eof"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL)
    # Never a hang: the test fails when s_client is killed.
    watchdog = threading.Timer(T(60), p.kill)
    watchdog.start()
    try:
        class SClient:
            def cmd(self, text):
                p.stdin.write(text.encode() + b"\n")
                p.stdin.flush()
                while True:
                    raw = p.stdout.readline()
                    assert raw, "s_client ended"
                    line = raw.decode().rstrip("\r\n")
                    if re.match(r"\d{3} ", line):
                        return Reply(line)
        cb = None
        while cb is None:
            raw = p.stdout.readline()
            assert raw, "no keying material"
            line = raw.decode().strip()
            if line.startswith("Keying material: "):
                cb = bytes.fromhex(line.split(": ", 1)[1])
        assert len(cb) == 32
        sc = SClient()
        assert sc.cmd("EHLO c.test").code == 250
        assert scram_exchange(sc, *FS_GUESS, cbind=cb,
                              mech="SCRAM-SHA-256-PLUS",
                              gs2="p=tls-exporter,,") == OK
    finally:
        watchdog.cancel()
        p.stdin.close()
        p.kill()
        p.wait()


def test_file_scram_msmtp(fsrv, pki, tmp_path):
    r = msmtp(fsrv, pki, tmp_path, "scram-sha-256", *FS_DOVE)
    assert r.returncode == 0, r.stderr
    assert any(b"via msmtp scram-sha-256" in m
               for m in fsrv.wait_messages("other@example.org", 1))
    fsrv.wait_log(r"auth result=ok .* mech=SCRAM-SHA-256 "
                  r"user=\"fdove@example\.org\"")
    r = msmtp(fsrv, pki, tmp_path, "scram-sha-256", FS_DOVE[0], "nope")
    assert r.returncode != 0 and b"535" in r.stderr, r.stderr
    r = msmtp(fsrv, pki, tmp_path, "scram-sha-256", UNKNOWN, "nope")
    assert r.returncode != 0 and b"535" in r.stderr, r.stderr


def utf8_login(srv, pki, user, password, mech="PLAIN"):
    """PLAIN or LOGIN with a UTF-8 password (smtplib sends ASCII only)."""
    with Client(srv, pki) as c:
        if mech == "PLAIN":
            return c.cmd("AUTH PLAIN " + b64(
                ("\0%s\0%s" % (user, password)).encode())).line
        assert c.cmd("AUTH LOGIN").code == 334
        assert c.cmd(b64(user.encode())).code == 334
        return c.cmd(b64(password.encode())).line


def test_file_scram_saslprep(fsrv, pki):
    login = utf8_login
    # U+00A0 is a space to SASLprep: the keys are of "pass word".
    assert saslprep(FS_NBSP[1]) == "pass word"
    for pw in (FS_NBSP[1], "pass word"):
        with Client(fsrv, pki) as c:
            assert scram_exchange(c, FS_NBSP[0], pw) == OK
        # PLAIN and LOGIN against SCRAM keys prepare the password too.
        assert login(fsrv, pki, FS_NBSP[0], pw) == OK
        assert login(fsrv, pki, FS_NBSP[0], pw, "LOGIN") == OK
    # A client that skips SASLprep hashes other octets: refused.
    with Client(fsrv, pki) as c:
        assert scram_exchange(c, FS_NBSP[0], FS_NBSP[1], prep=False) == BAD
    # A prohibited character (private use): never a match, never a key.
    assert login(fsrv, pki, FS_NBSP[0], "pass\ue000word") == BAD
    p = subprocess.run([str(srv_tool()), "hash", "--method",
                        "scram-sha-256"], input="pass\ue000word\n",
                       capture_output=True, text=True, timeout=T(30))
    assert p.returncode == 2 and "SASLprep" in p.stderr, p.stderr
    assert p.stdout == ""
    # The tester's own SCRAM client prepares too.
    from clientlib import run
    r = run(["session", "--ca-file", str(pki / "ca.pem"), "--user",
             FS_NBSP[0], "127.0.0.1:%d" % fsrv.port],
            input="/auth scram-sha-256\n/quit\n",
            env={"SMTPAUTH_PASSWORD": FS_NBSP[1]})
    assert "235 2.7.0" in r.out + r.err, r.out + r.err


def test_file_scram_smtpauth_check(fsrv, pki):
    from clientlib import run
    import json
    p = run(["check", "--json", "--ca-file", str(pki / "ca.pem"),
             "--user", FS_USER[0], "--to", "other@example.org",
             "127.0.0.1:%d" % fsrv.port],
            env={"SMTPAUTH_PASSWORD": FS_USER[1]})
    assert p.returncode == 0, (p.out, p.err)
    status = {c["id"]: (c["status"], c["summary"])
              for c in json.loads(p.out)["checks"]}
    assert status["auth-good"][0] == "pass", status["auth-good"]
    assert "SCRAM-SHA-256" in json.dumps(status["auth-good"])
    assert status["auth-hidden-plaintext"][0] == "pass"
    assert status["auth-bad-password"][0] == "pass"


def test_file_scram_guard_bans(module_server_factory, pki):
    # SCRAM failures count as PLAIN ones: the failure delay, the ledger
    # per address, the ban and its 421, the same log line.
    import time
    s = file_scram_server(module_server_factory, pki, proxy=True,
                          extra=["auth-max-failures 3"])
    with proxied(s, "192.0.2.61") as c:
        c.ehlo()
        t0 = time.monotonic()
        assert scram_exchange(c, FS_GUESS[0], "guess") == BAD
        assert time.monotonic() - t0 >= 0.2
        assert scram_exchange(c, UNKNOWN, "guess") == BAD
    s.wait_log(r"auth result=fail ip=192\.0\.2\.61 port=\d+ tls=no "
               r"mech=SCRAM-SHA-256 user=\"fguess@example\.org\" "
               r"reason=bad-password")
    with proxied(s, "192.0.2.61") as c:
        c.ehlo()
        c.sendline("AUTH PLAIN " + b64(b"\0fguess@example.org\0guess"))
        assert [r.line for r in c.replies(2)] == [
            "535 5.7.8 Authentication credentials invalid",
            "421 4.7.0 %s too many failed authentications, try later"
            % HOSTNAME]
    s.wait_log(r"auth: ban ip=192\.0\.2\.61 ")
    with proxied(s, "192.0.2.61", greet=False) as c:
        assert c.read_until_closed().startswith(b"421 ")
