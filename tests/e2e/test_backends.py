"""Password backends (issue 14, first part): AUTH PLAIN and LOGIN verified
by a private Dovecot (auth-client protocol on its unix socket) and by a
private slapd (search, then bind as the entry), both started here from a
configuration written in a temporary directory and stopped by PID.  The
guard, the failure delay and the log line work as with the users file."""
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from e2elib import HOSTNAME, T, free_port, wait_until
from test_auth import TLSClient, auth_server, plain, sha512crypt
from test_proxy import BANNED, proxied, proxy_server
from test_tls import ctx_for, pki  # noqa: F401 - the session-wide test CA

OK = "235 2.7.0 Authentication successful"
BAD = "535 5.7.8 Authentication credentials invalid"
DOVE_USERS = {"alice@example.org": "dove secret",
              "bob@example.org": "bob's secret"}
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


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def stop_pid(proc):
    """Stop a server started in a session of its own, and the processes it
    started (Dovecot's auth process outlives its master for a while)."""
    if proc is None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(T(10))
            wait_until(lambda: not group_alive(proc.pid), T(10),
                       what="the server's processes to end")
            return
        except (subprocess.TimeoutExpired, AssertionError):
            continue


# -- Dovecot

class Dovecot:
    """A private Dovecot: only its auth service, its socket in dir."""

    def __init__(self, users=DOVE_USERS, sock=None):
        self.dir = Path(tempfile.mkdtemp(prefix="smtpauth-dovecot-",
                                         dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.sock = Path(sock) if sock else self.dir / "auth-client"
        self.log_path = self.dir / "dovecot.log"
        self.conf = self.dir / "dovecot.conf"
        (self.dir / "passwd").write_text("".join(
            "%s:{SHA512-CRYPT}%s\n" % (u, sha512crypt(p))
            for u, p in users.items()))
        for d in ("run", "state"):
            (self.dir / d).mkdir()
        self.conf.write_text("""\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols =
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
auth_debug = yes
auth_failure_delay = 0
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {d}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/home
}}
service auth {{
  unix_listener auth-client {{
    path = {sock}
    mode = 0666
  }}
}}
# The per-address penalty would slow the guard's tests down.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
""".format(d=self.dir, sock=self.sock))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["dovecot", "-F", "-c", str(self.conf)], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "stderr", "ab"),
            start_new_session=True)

        def up():
            assert self.proc.poll() is None, (self.dir / "stderr").read_text()
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(self.sock))
                return True
            except OSError:
                return False
        wait_until(up, T(20), what="Dovecot's auth socket")
        return self

    def stop(self):
        stop_pid(self.proc)
        self.proc = None

    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


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


def srv_bin():
    from e2elib import SMTPAUTHD
    return SMTPAUTHD
