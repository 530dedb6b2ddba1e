"""Password backends (issue 14, first part): AUTH PLAIN and LOGIN verified
by a private Dovecot (auth-client protocol on its unix socket) and by a
private slapd (search, then bind as the entry), both started here from a
configuration written in a temporary directory and stopped by PID.  The
guard, the failure delay and the log line work as with the users file."""
import base64
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from e2elib import HOSTNAME, T, free_port, wait_until
from mailservers import DOVE_USERS, Dovecot, stop_pid
from test_auth import (PASSWORD, TLSClient, auth_server, plain,
                       sha512crypt)
from test_proxy import BANNED, proxied, proxy_server
from test_tls import ctx_for, pki  # noqa: F401 - the session-wide test CA

OK = "235 2.7.0 Authentication successful"
BAD = "535 5.7.8 Authentication credentials invalid"
LDAP_USERS = {"carol": "ldap secret", "dave": "dave's secret"}


def login(srv, pki, user, password, mech="PLAIN"):
    """The reply to AUTH mech over STARTTLS, by smtplib."""
    with smtplib.SMTP("127.0.0.1", srv.port, local_hostname="c.test",
                      timeout=T(30)) as s:
        s.starttls(context=ctx_for(pki))
        s.ehlo()
        s.user, s.password = user, password
        try:
            code, text = s.auth(mech, getattr(s, "auth_" + mech.lower()),
                                initial_response_ok=(mech == "PLAIN"))
        except smtplib.SMTPAuthenticationError as e:
            code, text = e.smtp_code, e.smtp_error
        return "%d %s" % (code, text.decode())


def swaks(srv, pki, user, password, mech):
    return subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % srv.port, "--tls",
         "--tls-verify", "--tls-ca-path", str(pki / "ca.pem"),
         "--tls-sni", HOSTNAME, "-a", mech, "--auth-user", user,
         "--auth-password", password, "--quit-after", "AUTH",
         "--timeout", "20"], capture_output=True, text=True, timeout=T(60))


@pytest.fixture(scope="module")
def dovecot():
    d = Dovecot().start()
    yield d
    d.cleanup()


def dovecot_server(server, pki, dv_sock, extra=(), proxy=False):
    lines = ["auth-backend dovecot", "dovecot-auth unix:%s" % dv_sock]
    lines += list(extra)
    if proxy:
        return proxy_server(server, pki, extra=lines)
    return auth_server(server, pki, extra=lines)


def test_dovecot_plain_and_login(server, pki, dovecot):
    srv = dovecot_server(server, pki, dovecot.sock)
    srv.wait_log(r"dovecot-auth unix:\S+: connected")
    for user, pw in DOVE_USERS.items():
        assert login(srv, pki, user, pw, "PLAIN") == OK
        assert login(srv, pki, user, pw, "LOGIN") == OK
    for mech in ("PLAIN", "LOGIN"):
        r = swaks(srv, pki, "alice@example.org", "dove secret", mech)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "235 2.7.0" in r.stdout
    # LOGIN from the client is PLAIN to Dovecot; the mechanism logged is
    # the client's.
    assert re.search(r"auth: auth result=ok ip=127\.0\.0\.1 port=\d+ "
                     r"tls=yes mech=LOGIN user=\"bob@example\.org\"",
                     srv.log())
    assert "dove secret" not in srv.log()


def test_dovecot_over_tcp(server, pki):
    dv = Dovecot(inet=True).start()
    try:
        srv = auth_server(server, pki, extra=[
            "auth-backend dovecot",
            "dovecot-auth inet:127.0.0.1:%d" % dv.inet_port])
        srv.wait_log(r"dovecot-auth inet:127\.0\.0\.1:\d+: connected")
        assert login(srv, pki, "alice@example.org", "dove secret") == OK
        assert login(srv, pki, "alice@example.org", "guess", "LOGIN") == BAD
    finally:
        dv.cleanup()


def test_dovecot_wrong_password_and_unknown_user_alike(server, pki, dovecot):
    srv = dovecot_server(server, pki, dovecot.sock)
    srv.wait_log(r"dovecot-auth unix:\S+: connected")
    assert login(srv, pki, "alice@example.org", "guess") == BAD
    assert login(srv, pki, "nobody@example.org", "guess") == BAD
    assert login(srv, pki, "alice@example.org", "guess", "LOGIN") == BAD
    log = srv.log()
    assert len(re.findall(r"auth result=fail .* reason=rejected", log)) == 3
    # Several requests in flight on one connection, answered by id.
    clients = [TLSClient(srv, pki) for _ in range(6)]
    for i, c in enumerate(clients):
        user = "alice@example.org" if i % 2 else "bob@example.org"
        pw = DOVE_USERS[user] if i % 3 else "wrong"
        c.sock.sendall(("AUTH PLAIN %s\r\n" % plain(user, pw)).encode())
    for i, c in enumerate(clients):
        assert c.line() == (OK if i % 3 else BAD)
        c.close()


def test_dovecot_sees_the_real_client_address(server, pki, dovecot):
    """After PROXY, Dovecot is told the client's address (rip=), not the
    127.0.0.1 of smtpauthd, and `secured` when the session is TLS."""
    srv = dovecot_server(server, pki, dovecot.sock, proxy=True)
    srv.wait_log(r"dovecot-auth unix:\S+: connected")
    with proxied(srv, "192.0.2.44") as c:
        c.ehlo()
        assert c.cmd("AUTH PLAIN " + plain("alice@example.org",
                                           "wrong")).code == 535
    wait_until(lambda: "passwd-file(alice@example.org,192.0.2.44)"
               in dovecot.log(), T(10), what="Dovecot's log line")
    assert re.search(r"client in: AUTH\t\d+\tPLAIN\tservice=smtp\t.*"
                     r"rip=192\.0\.2\.44", dovecot.log())
    assert login(srv, pki, "bob@example.org", DOVE_USERS["bob@example.org"]) \
        == OK
    assert re.search(r"client in: AUTH\t\d+\tPLAIN\tservice=smtp\t.*"
                     r"rip=127\.0\.0\.1\t.*secured", dovecot.log())


def test_dovecot_gets_the_listener_end_for_every_mechanism(server, pki,
                                                          dovecot):
    """PLAIN and LOGIN (verified as one VERIFY message) carry the
    listener's address and port like the SASL mechanisms do: Dovecot's
    auth_debug log shows lip= and lport= of smtpauthd's listener, with
    rip=, rport= of the real client (after PROXY) and secured."""
    srv = dovecot_server(server, pki, dovecot.sock, proxy=True)
    srv.wait_log(r"dovecot-auth unix:\S+: connected")
    with proxied(srv, "192.0.2.45") as c:
        c.ehlo()
        assert c.cmd("AUTH PLAIN " + plain("alice@example.org",
                                           "wrong lip")).code == 535
    pat = (r"client in: AUTH\t\d+\tPLAIN\tservice=smtp\tnologin\t"
           r"rip=192\.0\.2\.45\trport=\d+\tlip=127\.0\.0\.1\t"
           r"lport=%d\t" % srv.proxy_port)
    wait_until(lambda: re.search(pat, dovecot.log()), T(10),
               what="lip= and lport= in Dovecot's log")
    # No cache: the LOGIN must reach Dovecot too.
    plain_srv = dovecot_server(server, pki, dovecot.sock,
                               extra=["auth-cache-ttl 0"])
    plain_srv.wait_log(r"dovecot-auth unix:\S+: connected")
    before = len(dovecot.log())
    for mech in ("PLAIN", "LOGIN"):
        assert login(plain_srv, pki, "bob@example.org",
                     DOVE_USERS["bob@example.org"], mech) == OK
    pat = (r"client in: AUTH\t\d+\tPLAIN\tservice=smtp\tnologin\t"
           r"rip=127\.0\.0\.1\trport=(\d+)\tlip=127\.0\.0\.1\t"
           r"lport=%d\tsecured\t" % plain_srv.port)
    wait_until(lambda: len(re.findall(pat, dovecot.log()[before:])) == 2,
               T(10), what="two AUTH lines with lip=, lport=, secured")
    # Both clients' own ports, not the listener's.
    assert all(int(p) != plain_srv.port
               for p in re.findall(pat, dovecot.log()[before:]))


def test_dovecot_guard_bans_after_max_failures(server, pki, dovecot):
    srv = dovecot_server(server, pki, dovecot.sock, proxy=True,
                         extra=["auth-max-failures 3"])
    srv.wait_log(r"dovecot-auth unix:\S+: connected")
    with proxied(srv, "192.0.2.50") as c:
        c.ehlo()
        for _ in range(2):
            assert c.cmd("AUTH PLAIN " + plain("alice@example.org",
                                               "guess")).code == 535
        c.sendline("AUTH PLAIN " + plain("alice@example.org", "guess"))
        assert [r.line for r in c.replies(2)] == [BAD, BANNED]
    srv.wait_log(r"auth: ban ip=192\.0\.2\.50 ")
    # Banned: the right password gets no verdict either.
    with proxied(srv, "192.0.2.50", greet=False) as c:
        assert c.read_until_closed().startswith(b"421 ")


def test_dovecot_down_gives_454_and_recovers(server, pki):
    dv = Dovecot().start()
    try:
        srv = dovecot_server(server, pki, dv.sock,
                             extra=["auth-cache-ttl 0"])
        srv.wait_log(r"dovecot-auth unix:\S+: connected")
        assert login(srv, pki, "alice@example.org", "dove secret") == OK
        dv.stop()
        srv.wait_log(r"dovecot-auth unix:\S+: lost: closed by Dovecot")
        r = login(srv, pki, "alice@example.org", "dove secret")
        assert r.startswith("454 4.7.0"), r
        assert re.search(r"auth result=tempfail .* reason=backend-down",
                         srv.log())
        dv.start()
        srv.wait_log(r"dovecot-auth unix:\S+: connected again", timeout=20)
        assert login(srv, pki, "alice@example.org", "dove secret") == OK
    finally:
        dv.cleanup()


def test_dovecot_socket_not_there_at_start(server, pki):
    """The server starts without Dovecot, says so once, answers 454, and
    logs in as soon as Dovecot listens."""
    d = Path(tempfile.mkdtemp(prefix="smtpauth-dvsock-", dir="/tmp"))
    os.chmod(d, 0o755)
    sock = d / "auth"
    dv = Dovecot(sock=sock)
    try:
        srv = dovecot_server(server, pki, sock, extra=["auth-cache-ttl 0"])
        srv.wait_log(r"dovecot-auth unix:\S+: .*logins get 454")
        for _ in range(3):
            r = login(srv, pki, "alice@example.org", "dove secret")
            assert r.startswith("454 4.7.0"), r
        time.sleep(T(1))
        assert len(re.findall(r"logins get 454", srv.log())) == 1
        dv.start()
        srv.wait_log(r"dovecot-auth unix:\S+: connected again", timeout=20)
        assert login(srv, pki, "alice@example.org", "dove secret") == OK
    finally:
        dv.cleanup()
        shutil.rmtree(d, ignore_errors=True)


class ScriptedDovecot(threading.Thread):
    """A unix socket server speaking Dovecot's side as scripted: for the
    2.4 handshake order (nothing before the client's VERSION) and for a
    hostile server, which a real Dovecot cannot be made to be."""

    def __init__(self, path, handler):
        super().__init__(daemon=True)
        self.path = str(path)
        self.handler = handler
        self.seen = []
        self.ls = socket.socket(socket.AF_UNIX)
        self.ls.bind(self.path)
        os.chmod(self.path, 0o666)
        self.ls.listen(8)
        self.ls.settimeout(T(30))
        self.start()

    def run(self):
        try:
            while True:
                c, _ = self.ls.accept()
                threading.Thread(target=self.serve, args=(c,),
                                 daemon=True).start()
        except OSError:
            pass

    def serve(self, c):
        f = c.makefile("rb")
        try:
            self.handler(self, c, f)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.ls.close()


def open_dir():
    """A directory the auth process can enter once it runs as nobody (the
    pytest tmp_path is root's only)."""
    d = Path(tempfile.mkdtemp(prefix="smtpauth-fakedv-", dir="/tmp"))
    os.chmod(d, 0o755)
    return d


def dovecot24(fake, c, f):
    """Dovecot 2.4: says nothing until the client's VERSION came."""
    first = f.readline()
    fake.seen.append(first)
    if not first.startswith(b"VERSION\t1\t"):
        return
    c.sendall(b"VERSION\t1\t3\nMECH\tPLAIN\tplaintext\nSPID\t1\n"
              b"CUID\t1\nCOOKIE\t00\nDONE\n")
    for line in f:
        fake.seen.append(line)
        fields = line.rstrip(b"\n").split(b"\t")
        if fields[0] != b"AUTH":
            continue
        resp = [x for x in fields if x.startswith(b"resp=")][0][5:]
        ok = base64.b64decode(resp) == b"\0alice@example.org\0dove secret"
        c.sendall(b"%s\t%s\tuser=alice@example.org\n"
                  % (b"OK" if ok else b"FAIL", fields[1]))


def hostile(fake, c, f):
    """A server whose handshake line never ends."""
    f.readline()
    c.sendall(b"VERSION\t1\t2\nMECH\tPLAIN\t" + b"x" * 40000)
    time.sleep(T(5))


def test_dovecot_24_handshake_order(server, pki):
    tmp_path = open_dir()
    fake = ScriptedDovecot(tmp_path / "auth", dovecot24)
    try:
        srv = dovecot_server(server, pki, tmp_path / "auth")
        srv.wait_log(r"dovecot-auth unix:\S+: connected")
        assert login(srv, pki, "alice@example.org", "dove secret") == OK
        assert login(srv, pki, "alice@example.org", "guess") == BAD
        assert fake.seen[0] == b"VERSION\t1\t2\n"
        assert fake.seen[1].startswith(b"CPID\t")
    finally:
        fake.close()
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_dovecot_hostile_line_is_bounded(server, pki):
    tmp_path = open_dir()
    fake = ScriptedDovecot(tmp_path / "auth", hostile)
    try:
        srv = dovecot_server(server, pki, tmp_path / "auth")
        srv.wait_log(r"dovecot-auth unix:\S+: a line too long: logins "
                     r"get 454")
        r = login(srv, pki, "alice@example.org", "dove secret")
        assert r.startswith("454 4.7.0"), r
    finally:
        fake.close()
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_check_config_dovecot(server, tmp_path):
    conf = tmp_path / "c.conf"
    base = ["listen 127.0.0.1:%d smtp" % free_port(), "spool %s" % tmp_path]
    for bad, msg in (
            (["auth-backend dovecot"], "auth-backend dovecot requires "
             "dovecot-auth"),
            (["auth-backend dovecot", "dovecot-auth tcp:x"],
             "dovecot-auth: expected unix:PATH or inet:HOST:PORT"),
            (["auth-backend dovecot", "dovecot-auth inet:127.0.0.1:0"],
             "dovecot-auth: expected"),
            (["auth-backend imap"], "auth-backend: expected file, dovecot "
             "or ldap")):
        conf.write_text("\n".join(base + bad) + "\n")
        r = subprocess.run([str(srv_bin()), "-n", "-f", str(conf)],
                           capture_output=True, text=True, timeout=T(30))
        assert r.returncode == 1 and msg in r.stderr, r.stderr
    conf.write_text("\n".join(base + [
        "auth-backend dovecot", "dovecot-auth unix:%s/none" % tmp_path])
        + "\n")
    r = subprocess.run([str(srv_bin()), "-n", "-f", str(conf)],
                       capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 0, r.stderr
    assert "is not a socket yet" in r.stderr
    # The userdb of recipients: no users file needed with it.
    conf.write_text("\n".join(base + [
        "auth-backend dovecot", "dovecot-auth unix:%s/none" % tmp_path,
        "dovecot-userdb unix:%s/userdb" % tmp_path,
        "local-domains example.org", "mailbox-root %s/mail" % tmp_path])
        + "\n")
    r = subprocess.run([str(srv_bin()), "-n", "-f", str(conf)],
                       capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 0, r.stderr
    assert ("dovecot-userdb: %s/userdb is not a socket yet: recipients of "
            "local-domains get 451" % tmp_path) in r.stderr
    for bad, msg in (
            (["dovecot-userdb unix:/x"],
             "dovecot-userdb requires auth-backend dovecot"),
            (["local-domains example.org", "mailbox-root /m"],
             "local-domains requires users (or an account store")):
        conf.write_text("\n".join(base + bad) + "\n")
        r = subprocess.run([str(srv_bin()), "-n", "-f", str(conf)],
                           capture_output=True, text=True, timeout=T(30))
        assert r.returncode == 1 and msg in r.stderr, r.stderr


def srv_bin():
    from e2elib import SMTPAUTHD
    return SMTPAUTHD


# -- LDAP

LDAP_BASE = "dc=example,dc=org"
READER_DN = "cn=reader,%s" % LDAP_BASE
READER_PW = "reader pw"
LDAP_FILTER = "(&(objectClass=inetOrgPerson)(uid=%u))"


def slappasswd(pw):
    return subprocess.run(["slappasswd", "-s", pw], capture_output=True,
                          text=True, check=True).stdout.strip()


class Slapd:
    """A private slapd: an mdb database in dir loaded with slapadd, on
    loopback ports of its own (ldap:// with StartTLS, and ldaps://)."""

    def __init__(self, pki, users=LDAP_USERS):
        self.dir = Path(tempfile.mkdtemp(prefix="smtpauth-slapd-",
                                         dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.tls_port = free_port()
        (self.dir / "db").mkdir()
        self.conf = self.dir / "slapd.conf"
        self.conf.write_text("""\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {d}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile {pki}/ca.pem
TLSCertificateFile {pki}/ec.pem
TLSCertificateKeyFile {pki}/ec.key
database mdb
suffix "{base}"
rootdn "cn=admin,{base}"
directory {d}/db
access to attrs=userPassword by anonymous auth by * none
access to dn.subtree="ou=people,{base}" by users read by * none
access to * by * read
""".format(d=self.dir, pki=pki, base=LDAP_BASE))
        entries = [
            "dn: %s\nobjectClass: dcObject\nobjectClass: organization\n"
            "o: Example\ndc: example\n" % LDAP_BASE,
            "dn: ou=people,%s\nobjectClass: organizationalUnit\n"
            "ou: people\n" % LDAP_BASE,
            "dn: %s\nobjectClass: organizationalRole\n"
            "objectClass: simpleSecurityObject\ncn: reader\n"
            "userPassword: %s\n" % (READER_DN, slappasswd(READER_PW))]
        for uid, pw in users.items():
            entries.append(
                "dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\n"
                "uid: %s\ncn: %s\nsn: %s\nmail: %s@example.org\n"
                "userPassword: %s\n" % (uid, LDAP_BASE, uid, uid, uid, uid,
                                        slappasswd(pw)))
        (self.dir / "data.ldif").write_text("\n".join(entries))
        subprocess.run(["slapadd", "-f", str(self.conf), "-l",
                        str(self.dir / "data.ldif")], check=True,
                       capture_output=True, timeout=T(60))
        self.proc = None

    @property
    def uri(self):
        return "ldap://127.0.0.1:%d" % self.port

    @property
    def ldaps_uri(self):
        return "ldaps://127.0.0.1:%d" % self.tls_port

    def start(self):
        with open(self.dir / "slapd.log", "ab") as err:
            self.proc = subprocess.Popen(
                ["slapd", "-d", "stats", "-f", str(self.conf), "-h",
                 "%s/ %s/" % (self.uri, self.ldaps_uri)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, start_new_session=True)

        def up():
            assert self.proc.poll() is None, \
                (self.dir / "slapd.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         1).close()
                return True
            except OSError:
                return False
        wait_until(up, T(20), what="slapd's port")
        return self

    def stop(self):
        stop_pid(self.proc)
        self.proc = None

    def log(self):
        """slapd's stats log: its connections, searches and binds."""
        p = self.dir / "slapd.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def slapd(pki):
    s = Slapd(pki).start()
    yield s
    s.cleanup()


def ldap_server(server, pki, uri, extra=(), proxy=False, bind=True):
    """smtpauthd with auth-backend ldap; the bind password file is 0600
    root: the auth process reads it before it drops privileges."""
    lines = ["auth-backend ldap", "ldap-uri %s" % uri,
             "ldap-base %s" % LDAP_BASE, "ldap-filter %s" % LDAP_FILTER]
    pwfile = Path(tempfile.mkdtemp(prefix="smtpauth-ldappw-")) / "pw"
    pwfile.write_text(READER_PW + "\n")
    os.chmod(pwfile, 0o600)
    if bind:
        lines += ["ldap-bind-dn %s" % READER_DN,
                  "ldap-bind-password-file %s" % pwfile]
    lines += list(extra)
    if proxy:
        return proxy_server(server, pki, extra=lines)
    return auth_server(server, pki, extra=lines)


def test_ldap_plain_and_login(server, pki, slapd):
    srv = ldap_server(server, pki, slapd.uri)
    for user, pw in LDAP_USERS.items():
        assert login(srv, pki, user, pw, "PLAIN") == OK
        assert login(srv, pki, user, pw, "LOGIN") == OK
    r = swaks(srv, pki, "carol", "ldap secret", "PLAIN")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0" in r.stdout
    assert "ldap secret" not in srv.log() and READER_PW not in srv.log()


def test_ldap_wrong_password_unknown_user_empty_password(server, pki,
                                                         slapd):
    srv = ldap_server(server, pki, slapd.uri, extra=["auth-cache-ttl 0"])
    assert login(srv, pki, "carol", "guess") == BAD
    assert login(srv, pki, "nobody", "guess") == BAD
    assert login(srv, pki, "carol", "guess", "LOGIN") == BAD
    c = TLSClient(srv, pki)
    # An empty password would be an unauthenticated bind, which succeeds;
    # the worker refuses it before it asks (the backend would too).
    assert not c.cmd("AUTH PLAIN " + plain("carol", "")).startswith("235")
    c.close()
    log = srv.log()
    assert re.search(r'user="carol" reason=bad-password', log)
    assert re.search(r'user="nobody" reason=unknown-user', log)


def test_ldap_injection_matches_nothing(server, pki, slapd):
    """Filter metacharacters in the user name are escaped (RFC 4515): with
    carol's right password, none of them logs in as carol."""
    srv = ldap_server(server, pki, slapd.uri, extra=["auth-cache-ttl 0",
                                                     "auth-max-failures 50"])
    names = ["*", "c*", "car*l", "carol)(uid=*", "*)(objectClass=*",
             "\\", "carol\\", "ca\\72ol", "a*"]
    for name in names:
        assert login(srv, pki, name, "ldap secret") == BAD, name
    log = srv.log()
    assert len(re.findall(r"auth result=fail .* reason=unknown-user",
                          log)) == len(names), log
    assert login(srv, pki, "carol", "ldap secret") == OK


def test_ldap_anonymous_search(server, pki, slapd, tmp_path):
    """Without ldap-bind-dn the search is anonymous; this directory lets
    only bound users read the people, so the entry is not found: 535."""
    srv = ldap_server(server, pki, slapd.uri, bind=False)
    assert login(srv, pki, "carol", "ldap secret") == BAD
    assert re.search(r'user="carol" reason=unknown-user', srv.log())


def readable_copy(path):
    """A copy the auth process can read once it runs as nobody."""
    d = Path(tempfile.mkdtemp(prefix="smtpauth-ca-", dir="/tmp"))
    os.chmod(d, 0o755)
    shutil.copy(path, d / path.name)
    os.chmod(d / path.name, 0o644)
    return d / path.name


def test_ldap_starttls_and_ldaps(server, pki, slapd):
    ca = readable_copy(pki / "ca.pem")
    for uri, extra in ((slapd.uri, ["ldap-starttls yes"]),
                       (slapd.ldaps_uri, [])):
        srv = ldap_server(server, pki, uri,
                          extra=extra + ["ldap-ca-file %s" % ca])
        assert login(srv, pki, "carol", "ldap secret") == OK, uri
        assert login(srv, pki, "carol", "guess") == BAD, uri
    shutil.rmtree(ca.parent)


def test_ldap_tls_unverified_is_down(server, pki, slapd, tmp_path):
    """A certificate the CA file does not vouch for: no login (454)."""
    other = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    str(tmp_path / "k"), "-out", str(other), "-subj",
                    "/CN=other", "-days", "1"], check=True,
                   capture_output=True)
    os.chmod(tmp_path, 0o755)
    os.chmod(other, 0o644)
    srv = ldap_server(server, pki, slapd.ldaps_uri,
                      extra=["ldap-ca-file %s" % other])
    r = login(srv, pki, "carol", "ldap secret")
    assert r.startswith("454 4.7.0"), r
    srv.wait_log(r"ldap ldaps://\S+: .*logins get 454")


def test_ldap_guard_bans_after_max_failures(server, pki, slapd):
    srv = ldap_server(server, pki, slapd.uri, proxy=True,
                      extra=["auth-max-failures 3"])
    with proxied(srv, "192.0.2.60") as c:
        c.ehlo()
        for _ in range(2):
            assert c.cmd("AUTH PLAIN " + plain("carol", "guess")).code == 535
        c.sendline("AUTH PLAIN " + plain("carol", "guess"))
        assert [r.line for r in c.replies(2)] == [BAD, BANNED]
    srv.wait_log(r"auth: ban ip=192\.0\.2\.60 ")


def test_ldap_down_gives_454_and_recovers(server, pki):
    sl = Slapd(pki).start()
    try:
        srv = ldap_server(server, pki, sl.uri, extra=["auth-cache-ttl 0"])
        assert login(srv, pki, "carol", "ldap secret") == OK
        sl.stop()
        r = login(srv, pki, "carol", "ldap secret")
        assert r.startswith("454 4.7.0"), r
        srv.wait_log(r"ldap ldap://\S+: .*logins get 454")
        assert re.search(r"auth result=tempfail .* reason=backend-down",
                         srv.log())
        sl.start()
        wait_until(lambda: login(srv, pki, "carol", "ldap secret") == OK,
                   T(20), interval=0.5, what="a login once slapd is back")
        srv.wait_log(r"ldap ldap://\S+: answering again")
    finally:
        sl.cleanup()


def test_check_config_ldap(tmp_path):
    conf = tmp_path / "c.conf"
    base = ["listen 127.0.0.1:%d smtp" % free_port(), "spool %s" % tmp_path]
    ldap = ["auth-backend ldap", "ldap-uri ldap://127.0.0.1:1",
            "ldap-base dc=example, dc=org"]
    for bad, msg in (
            (["auth-backend ldap"], "auth-backend ldap requires ldap-uri"),
            (ldap + ["ldap-filter (uid=x)"], "ldap-filter must contain %u"),
            (ldap + ["ldap-filter (uid=%u)", "ldap-bind-dn cn=x"],
             "ldap-bind-dn and ldap-bind-password-file go together"),
            (ldap + ["ldap-filter (uid=%u)", "ldap-bind-dn cn=x",
                     "ldap-bind-password-file %s/none" % tmp_path],
             "ldap-bind-password-file: %s/none" % tmp_path),
            (["auth-backend ldap", "ldap-uri http://x", "ldap-base o=x",
              "ldap-filter (uid=%u)"], "ldap-uri: expected ldap://"),
            (["auth-backend ldap", "ldap-uri ldaps://x", "ldap-base o=x",
              "ldap-filter (uid=%u)", "ldap-starttls yes"],
             "ldap-starttls needs an ldap:// ldap-uri")):
        conf.write_text("\n".join(base + bad) + "\n")
        r = subprocess.run([str(srv_bin()), "-n", "-f", str(conf)],
                           capture_output=True, text=True, timeout=T(30))
        assert r.returncode == 1 and msg in r.stderr, (bad, r.stderr)
    conf.write_text("\n".join(base + ldap + ["ldap-filter (uid=%u)"]) + "\n")
    r = subprocess.run([str(srv_bin()), "-n", "-f", str(conf)],
                       capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 0, r.stderr


# -- Recipients of local-domains checked against the account store

RCPT_UNKNOWN = "550 5.1.1 Recipient unknown"
RCPT_TEMPFAIL = "451 4.3.0 Temporary lookup failure"


def rcpts(srv, addrs, sender="someone@sender.test"):
    """The replies to RCPT TO for each address, in one transaction over
    the smtp listener without AUTH, by smtplib."""
    out = []
    with smtplib.SMTP("127.0.0.1", srv.port, local_hostname="c.test",
                      timeout=T(30)) as s:
        s.ehlo()
        code, _ = s.mail(sender)
        assert code == 250
        for a in addrs:
            code, text = s.rcpt(a)
            out.append("%d %s" % (code, text.decode()))
    return out


def userdb_server(server, pki, dv, extra=()):
    return dovecot_server(server, pki, dv.sock, extra=[
        "dovecot-userdb unix:%s" % dv.userdb_sock] + list(extra))


def test_dovecot_userdb_checks_recipients(server, pki, dovecot):
    """An account of Dovecot's userdb gets 250, an unknown address 550
    5.1.1; the users file still vouches for its own; lookups in flight
    from many sessions at once; and no lookup counts as a failed login."""
    srv = userdb_server(server, pki, dovecot,
                        extra=["auth-max-failures 2"])
    srv.wait_log(r"dovecot-userdb unix:\S+: recipients of local-domains")
    assert rcpts(srv, ["alice@example.org", "nobody@example.org",
                       "BOB@Example.ORG", "user@example.org",
                       "x@elsewhere.test"]) == [
        "250 2.1.5 Ok", RCPT_UNKNOWN, "250 2.1.5 Ok", "250 2.1.5 Ok",
        "550 5.7.1 Relay access denied"]
    assert re.search(r"USER\t\d+\tnobody@example\.org\tservice=smtp",
                     dovecot.log()) or "nobody@example.org" in dovecot.log()
    # Several sessions, their lookups in flight together on one socket.
    results = {}

    def one(i):
        results[i] = rcpts(srv, ["alice@example.org" if i % 2 else
                                 "ghost%d@example.org" % i])
    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(T(60))
    assert results == {i: ["250 2.1.5 Ok" if i % 2 else RCPT_UNKNOWN]
                       for i in range(8)}
    # Eleven unknown recipients from 127.0.0.1 and auth-max-failures 2:
    # not banned, a login still works, no auth line was logged for them.
    assert login(srv, pki, "alice@example.org", "dove secret") == OK
    assert "auth result=fail" not in srv.log()
    assert "ban ip=" not in srv.log()
    assert re.search(r"reject cmd=RCPT to=\"nobody@example\.org\" "
                     r"reply=\"550 5\.1\.1", srv.log())


def test_dovecot_userdb_down_gives_451_cache_serves_and_recovers(server,
                                                                 pki):
    """Dovecot stopped: an address never looked up gets 451 4.3.0 (never
    5xx); within recipient-cache-ttl the answers already given still
    stand (with recipient-cache-ttl 0 they do not); when Dovecot is back,
    lookups work again."""
    dv = Dovecot().start()
    try:
        cached = userdb_server(server, pki, dv,
                               extra=["recipient-cache-ttl 600"])
        fresh = userdb_server(server, pki, dv,
                              extra=["recipient-cache-ttl 0"])
        for srv in (cached, fresh):
            assert rcpts(srv, ["alice@example.org", "nobody@example.org"]) \
                == ["250 2.1.5 Ok", RCPT_UNKNOWN]
        dv.stop()
        assert rcpts(cached, ["alice@example.org", "nobody@example.org",
                              "bob@example.org"]) == [
            "250 2.1.5 Ok", RCPT_UNKNOWN, RCPT_TEMPFAIL]
        assert rcpts(fresh, ["alice@example.org", "nobody@example.org"]) \
            == [RCPT_TEMPFAIL, RCPT_TEMPFAIL]
        fresh.wait_log(r"dovecot-userdb unix:\S+: .*recipients of "
                       r"local-domains get 451 until it answers")
        assert re.search(r"refuse reason=recipient-lookup result=tempfail "
                         r"to=\"alice@example\.org\"", fresh.log())
        dv.start()
        wait_until(lambda: rcpts(fresh, ["bob@example.org"]) ==
                   ["250 2.1.5 Ok"], T(30), interval=0.5,
                   what="a lookup once Dovecot is back")
        assert rcpts(fresh, ["nobody@example.org"]) == [RCPT_UNKNOWN]
        fresh.wait_log(r"dovecot-userdb unix:\S+: answering again")
    finally:
        dv.cleanup()


def test_dovecot_userdb_without_a_users_file(server, pki, dovecot):
    """Dovecot holds the accounts and the recipients: no users file at all,
    and the auth process runs all the same."""
    srv = server(extra=[
        "listen 127.0.0.1:%d smtps" % free_port(),
        "tls-cert %s/ec.pem" % pki, "tls-key %s/ec.key" % pki,
        "auth-backend dovecot", "dovecot-auth unix:%s" % dovecot.sock,
        "dovecot-userdb unix:%s" % dovecot.userdb_sock], start=False)
    text = srv.config_text()
    srv.config_text = lambda: "".join(
        ln + "\n" for ln in text.splitlines() if not ln.startswith("users "))
    srv.write_config()
    srv.users_path.unlink()
    srv.start()
    assert "users " not in srv.conf_path.read_text()
    assert rcpts(srv, ["alice@example.org", "user@example.org"]) == [
        "250 2.1.5 Ok", RCPT_UNKNOWN]
    assert login(srv, pki, "alice@example.org", "dove secret") == OK


def silent_userdb(fake, c, f):
    """A userdb that greets, reads the lookups and never answers them."""
    c.sendall(b"VERSION\t1\t1\nSPID\t1\n")
    for line in f:
        fake.seen.append(line)


def test_dovecot_userdb_too_slow_gives_451(server, pki, dovecot):
    d = open_dir()
    fake = ScriptedDovecot(d / "userdb", silent_userdb)
    try:
        srv = dovecot_server(server, pki, dovecot.sock, extra=[
            "dovecot-userdb unix:%s" % (d / "userdb"), "backend-timeout 2"])
        t0 = time.monotonic()
        assert rcpts(srv, ["alice@example.org"]) == [RCPT_TEMPFAIL]
        assert time.monotonic() - t0 >= 1.5
        assert fake.seen[0] == b"VERSION\t1\t0\n"
        assert fake.seen[1] == b"USER\t1\talice@example.org\tservice=smtp\n"
        srv.wait_log(r"dovecot-userdb unix:\S+: no answer in time")
    finally:
        fake.close()
        shutil.rmtree(d, ignore_errors=True)


MAIL_FILTER = "(&(objectClass=inetOrgPerson)(mail=%u))"


def test_ldap_checks_recipients_without_binding(server, pki, slapd):
    """The entry is searched as the reader (ldap-recipient-filter), never
    bound as: the directory has no bind of carol's DN; injection in the
    local part matches nothing."""
    srv = ldap_server(server, pki, slapd.uri, extra=[
        "ldap-recipient-filter %s" % MAIL_FILTER])
    before = len(slapd.log())
    assert rcpts(srv, ["carol@example.org", "dave@example.org",
                       "nobody@example.org"]) == [
        "250 2.1.5 Ok", "250 2.1.5 Ok", RCPT_UNKNOWN]
    seen = slapd.log()[before:]
    assert re.search(r'SRCH .*filter="\(&\(objectClass=inetOrgPerson\)'
                     r'\(mail=carol@example\.org\)\)"', seen), seen
    assert re.search(r'BIND dn="%s"' % re.escape(READER_DN), seen)
    assert "uid=carol" not in seen and "uid=dave" not in seen
    for evil in ("*@example.org", "carol*@example.org",
                 "\"*)(mail=*\"@example.org",
                 "\"carol)(|(mail=*\"@example.org",
                 "\"\\\\2a\"@example.org", "c\\x2aarol@example.org"):
        r = rcpts(srv, [evil])
        assert r == [RCPT_UNKNOWN] or r[0].startswith("501 "), (evil, r)
    # What reached the directory was escaped (RFC 4515), a literal "*".
    seen = slapd.log()[before:]
    assert re.search(r'filter="\(&\(objectClass=inetOrgPerson\)'
                     r'\(mail=\\2A@example\.org\)\)"', seen, re.I), seen
    assert not re.search(r'filter="[^"]*\(mail=\*', seen)
    # %n: the local part alone, against uid.
    byuid = ldap_server(server, pki, slapd.uri, extra=[
        "ldap-recipient-filter (&(objectClass=inetOrgPerson)(uid=%n))"])
    assert rcpts(byuid, ["carol@example.org", "dave@jms1.net",
                         "*@example.org", "nobody@example.org"]) == [
        "250 2.1.5 Ok", "250 2.1.5 Ok", RCPT_UNKNOWN, RCPT_UNKNOWN]
    assert "auth result=" not in srv.log() + byuid.log()


def test_ldap_recipient_down_gives_451_and_recovers(server, pki):
    sl = Slapd(pki).start()
    try:
        srv = ldap_server(server, pki, sl.uri, extra=[
            "ldap-recipient-filter %s" % MAIL_FILTER,
            "recipient-cache-ttl 0", "backend-timeout 3"])
        assert rcpts(srv, ["carol@example.org"]) == ["250 2.1.5 Ok"]
        sl.stop()
        assert rcpts(srv, ["carol@example.org", "nobody@example.org"]) == [
            RCPT_TEMPFAIL, RCPT_TEMPFAIL]
        sl.start()
        wait_until(lambda: rcpts(srv, ["carol@example.org"]) ==
                   ["250 2.1.5 Ok"], T(30), interval=0.5,
                   what="a lookup once slapd is back")
        assert rcpts(srv, ["nobody@example.org"]) == [RCPT_UNKNOWN]
    finally:
        sl.cleanup()


# -- A reload keeps the failure ledger, the bans and the login cache

def reload(srv):
    """SIGHUP, and wait until the new auth process serves."""
    mark = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    srv.wait_log(r"reloaded users=", after=mark, timeout=T(30))
    srv.wait_log(r"auth: ready socket=", after=mark, timeout=T(30))
    return mark


def test_reload_keeps_the_failure_ledger(server, pki):
    """Two failures, a reload, one more: banned after auth-max-failures
    in total, as if there had been no reload (the ledger is the same one,
    the new auth process's)."""
    srv = proxy_server(server, pki, extra=["auth-max-failures 3"])
    with proxied(srv, "192.0.2.70") as c:
        c.ehlo()
        for _ in range(2):
            assert c.cmd("AUTH PLAIN " + plain("user@example.org",
                                               "guess")).code == 535
    mark = reload(srv)
    with proxied(srv, "192.0.2.70") as c:
        c.ehlo()
        c.sendline("AUTH PLAIN " + plain("user@example.org", "guess"))
        assert [r.line for r in c.replies(2)] == [BAD, BANNED]
    srv.wait_log(r"auth: ban ip=192\.0\.2\.70 ", after=mark)
    # The ban stands across a second reload too.
    reload(srv)
    with proxied(srv, "192.0.2.70", greet=False) as c:
        assert c.read_until_closed().startswith(b"421 ")


def test_reload_keeps_the_login_cache_but_not_a_changed_password(server,
                                                                 pki):
    srv = auth_server(server, pki, extra=["auth-cache-ttl 300"])
    for _ in range(2):
        assert login(srv, pki, "user@example.org", PASSWORD) == OK
        assert login(srv, pki, "other@example.org", "other secret") == OK
    assert len(re.findall(r"cache=hit", srv.log())) == 2
    # other@ gets a new password; user@'s line stays as it was.
    lines = srv.users_path.read_text().splitlines()
    lines = [("other@example.org:%s" % sha512crypt("new secret"))
             if ln.startswith("other@example.org:") else ln for ln in lines]
    srv.users_path.write_text("\n".join(lines) + "\n")
    mark = reload(srv)
    assert login(srv, pki, "user@example.org", PASSWORD) == OK
    assert re.search(r"auth result=ok .* user=\"user@example\.org\" "
                     r"cache=hit", srv.log()[mark:]), srv.log()[mark:]
    # The old password of other@ is no longer anyone's: no stale success.
    assert login(srv, pki, "other@example.org", "other secret") == BAD
    assert login(srv, pki, "other@example.org", "new secret") == OK
    after = srv.log()[mark:]
    assert not re.search(r"user=\"other@example\.org\" cache=hit", after)
    assert re.search(r"auth result=fail .* user=\"other@example\.org\"",
                     after)
