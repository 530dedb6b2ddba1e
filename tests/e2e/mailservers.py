"""Real mail servers started privately by the tests: Dovecot (its auth
service alone, or its submission service), and Postfix with Dovecot SASL.
Each runs from a configuration written in a temporary directory, listens
on loopback on free high ports, and is stopped by the PID it was started
with (its process group: Dovecot's and Postfix's children included).
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

from e2elib import T, free_port, wait_until
from test_auth import sha512crypt

DOVE_USERS = {"alice@example.org": "dove secret",
              "bob@example.org": "bob's secret"}


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

    def __init__(self, users=DOVE_USERS, sock=None, inet=False,
                 penalty=False):
        # inet: a TCP listener on loopback too, for dovecot-auth inet:.
        # penalty: Dovecot's per-address auth penalty as it ships (each
        # failure delays the next answer: 2, 4, 8, then 15 s).
        self.inet_port = free_port() if inet else None
        self.dir = Path(tempfile.mkdtemp(prefix="smtpauth-dovecot-",
                                         dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.sock = Path(sock) if sock else self.dir / "auth-client"
        # The userdb side (auth-master protocol: USER lookups only), for
        # dovecot-userdb: are recipients of local-domains accounts?
        self.userdb_sock = self.dir / "auth-userdb"
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
  unix_listener auth-userdb {{
    path = {userdb}
    mode = 0666
  }}
{inet}
}}
{anvil}
""".format(d=self.dir, sock=self.sock, userdb=self.userdb_sock,
           anvil="" if penalty else (
            "# The per-address penalty would slow the guard's tests down.\n"
            "service anvil {\n  unix_listener anvil-auth-penalty {\n"
            "    mode = 0\n  }\n}"), inet=(
            "  inet_listener {\n    address = 127.0.0.1\n    port = %d\n  }"
            % self.inet_port) if inet else ""))
        self.proc = None

    def start(self):
        with open(self.dir / "stderr", "ab") as err:
            self.proc = subprocess.Popen(
                ["dovecot", "-F", "-c", str(self.conf)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, start_new_session=True)

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




# -- Dovecot's submission service

class DovecotSubmission:
    """Dovecot's own submission service (dovecot-submissiond): AUTH only
    after STARTTLS (disable_plaintext_auth, as Dovecot ships), mail
    relayed after AUTH to relay_port on loopback.  Dovecot treats a
    connection whose two ends have the same address as secured: from
    127.0.0.1 to 127.0.0.1 it offers AUTH in clear, so the tests that
    want the Internet's view connect from another loopback address."""

    def __init__(self, cert, key, relay_port, users=DOVE_USERS):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="smtpauth-dvsub-",
                                         dir="/tmp"))
        os.chmod(self.dir, 0o755)
        (self.dir / "passwd").write_text("".join(
            "%s:{SHA512-CRYPT}%s\n" % (u, sha512crypt(p))
            for u, p in users.items()))
        for d in ("run", "state", "home"):
            (self.dir / d).mkdir()
        os.chmod(self.dir / "home", 0o777)
        shutil.copy(cert, self.dir / "cert.pem")
        shutil.copy(key, self.dir / "key.pem")
        self.conf = self.dir / "dovecot.conf"
        self.conf.write_text("""\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = submission
listen = 127.0.0.1
hostname = submission.test
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
disable_plaintext_auth = yes
mail_location = maildir:{d}/home/Maildir
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = dovecot
default_login_user = dovenull
submission_relay_host = 127.0.0.1
submission_relay_port = {relay}
submission_relay_trusted = yes
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {d}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/home
}}
service submission-login {{
  inet_listener submission {{
    address = 127.0.0.1
    port = {port}
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
""".format(d=self.dir, port=self.port, relay=relay_port))
        self.proc = None

    def start(self):
        with open(self.dir / "stderr", "ab") as err:
            self.proc = subprocess.Popen(
                ["dovecot", "-F", "-c", str(self.conf)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, start_new_session=True)
        wait_port(self.proc, self.port, self.dir / "stderr", "Dovecot")
        return self

    @property
    def target(self):
        return "127.0.0.1:%d" % self.port

    def log(self):
        p = self.dir / "dovecot.log"
        return p.read_text() if p.exists() else ""

    def cleanup(self):
        stop_pid(self.proc)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_port(proc, port, errfile, what):
    def up():
        assert proc.poll() is None or proc.returncode == 0, \
            Path(errfile).read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), 1):
                return True
        except OSError:
            return False
    wait_until(up, T(20), what=what + " on port %d" % port)


# -- Postfix

# The services a test instance runs: name -> the -o overrides of its
# master.cf line.  "mx" is port 25 as Debian ships it; "submission" is
# Debian's commented-out submission entry, enabled as its comments say.
POSTFIX_SUBMISSION = ["smtpd_tls_security_level=encrypt",
                      "smtpd_sasl_auth_enable=yes",
                      "smtpd_tls_auth_only=yes",
                      "smtpd_client_restrictions=permit_sasl_authenticated,"
                      "reject"]


def postfix_tls_audit_services(a):
    """The TLS audit's configurations (issue 15) as services of one
    Postfix: name -> -o overrides; a: clientlib.make_audit_pki's paths.
    "tlsgood" is what an administrator should run: TLS 1.2 and 1.3 only,
    no anonymous suites, the server's order, the whole chain."""
    def cert(c, k):
        return ["smtpd_tls_cert_file=%s" % a[c], "smtpd_tls_key_file=%s"
                % a[k]]
    modern = ["smtpd_tls_protocols=>=TLSv1.2",
              "smtpd_tls_mandatory_protocols=>=TLSv1.2"]
    no_anon = ["smtpd_tls_exclude_ciphers=aNULL",
               "smtpd_tls_mandatory_exclude_ciphers=aNULL"]
    return {
        "tlsgood": modern + no_anon + cert("chain-inter", "leaf-inter.key")
        + ["smtpd_tls_ciphers=high", "tls_preempt_cipherlist=yes"],
        # TLS 1.0 and 1.1 only (Debian's Postfix can still speak them).
        "tlsold": ["smtpd_tls_protocols=>=TLSv1,<=TLSv1.1",
                   "smtpd_tls_mandatory_protocols=>=TLSv1,<=TLSv1.1"]
        + no_anon,
        # The same on an implicit TLS port.
        "tlsoldimplicit": ["smtpd_tls_wrappermode=yes",
                           "smtpd_tls_protocols=>=TLSv1,<=TLSv1.1",
                           "smtpd_tls_mandatory_protocols=>=TLSv1,<=TLSv1.1"]
        + no_anon,
        # Postfix's "null" grade: suites without encryption below TLS 1.3.
        "tlsnull": modern + ["smtpd_tls_ciphers=null"],
        # DHE-RSA with a 1024-bit group of the administrator's.
        "tlsdh1024": modern + no_anon + cert("rsa2048", "rsa2048.key")
        + ["smtpd_tls_dh1024_param_file=%s" % a["dh1024"]],
        # The leaf alone: its intermediate is not sent.
        "tlsnointer": modern + no_anon + cert("leaf-inter",
                                              "leaf-inter.key"),
        # RSA-1024, signed with SHA-1.
        "tlsweakkey": modern + no_anon + cert("rsa1024", "rsa1024.key"),
    }


class Postfix:
    """A private Postfix (the Debian package's binaries, a config_directory
    of its own), SASL through a private Dovecot's auth socket, nothing ever
    delivered (every transport is discard).  services: name -> list of -o
    overrides; each gets a free port (ports[name]).  mynetworks is
    127.0.0.1/32 only, so that 127.0.0.2 is an outside address."""

    def __init__(self, cert, key, sasl_path, services, main_extra=""):
        self.dir = Path(tempfile.mkdtemp(prefix="smtpauth-postfix-",
                                         dir="/tmp"))
        os.chmod(self.dir, 0o755)
        etc, spool, data = (self.dir / n for n in ("etc", "spool", "data"))
        for d in (etc, spool, data):
            d.mkdir()
        shutil.chown(data, "postfix", "postfix")
        shutil.copy(cert, etc / "cert.pem")
        shutil.copy(key, etc / "key.pem")
        os.chmod(etc / "key.pem", 0o600)
        self.ports = {name: free_port() for name in services}
        (etc / "main.cf").write_text("""\
# a private test instance: postfix -c {etc} start
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
myhostname = mx.example.org
mydomain = example.org
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains = example.org
relay_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated,
    defer_unauth_destination
default_transport = discard
relay_transport = discard
smtpd_tls_cert_file = {etc}/cert.pem
smtpd_tls_key_file = {etc}/key.pem
smtpd_tls_security_level = may
smtpd_sasl_type = dovecot
smtpd_sasl_path = {sasl}
smtpd_sasl_auth_enable = no
smtpd_banner = $myhostname ESMTP
biff = no
smtputf8_enable = no
# No DNS here: the client's name is not looked up.
smtpd_peername_lookup = no
{extra}
""".format(d=self.dir, etc=etc, spool=spool, data=data, sasl=sasl_path,
           extra=main_extra))
        lines = ["# service type private unpriv chroot wakeup maxproc "
                 "command"]
        for name, opts in services.items():
            lines.append("127.0.0.1:%d inet n - n - - smtpd"
                         % self.ports[name])
            lines += ["  -o syslog_name=postfix/%s" % name]
            lines += ["  -o %s" % o for o in opts]
        for svc in ("pickup unix n - n 60 1 pickup",
                    "cleanup unix n - n - 0 cleanup",
                    "qmgr unix n - n 300 1 qmgr",
                    "tlsmgr unix - - n 1000? 1 tlsmgr",
                    "rewrite unix - - n - - trivial-rewrite",
                    "bounce unix - - n - 0 bounce",
                    "defer unix - - n - 0 bounce",
                    "trace unix - - n - 0 bounce",
                    "verify unix - - n - 1 verify",
                    "flush unix n - n 1000? 0 flush",
                    "proxymap unix - - n - - proxymap",
                    "error unix - - n - - error",
                    "retry unix - - n - - error",
                    "discard unix - - n - - discard",
                    "anvil unix - - n - 1 anvil",
                    "scache unix - - n - 1 scache",
                    "postlog unix-dgram n - n - 1 postlogd"):
            lines.append(svc)
        (etc / "master.cf").write_text("\n".join(lines) + "\n")
        self.etc = etc
        self.pid = None

    def start(self):
        p = subprocess.run(["postfix", "-c", str(self.etc), "start"],
                           capture_output=True, text=True, timeout=T(60))
        assert p.returncode == 0, (p.stdout, p.stderr, self.log())
        pidfile = self.dir / "spool" / "pid" / "master.pid"
        wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(),
                   T(20), what="Postfix's master.pid")
        self.pid = int(pidfile.read_text().split()[0])
        for name, port in self.ports.items():
            wait_until(lambda: _listening(port), T(20),
                       what="Postfix %s on port %d" % (name, port))
        return self

    def target(self, name):
        return "127.0.0.1:%d" % self.ports[name]

    def log(self):
        p = self.dir / "maillog"
        return p.read_text() if p.exists() else ""

    def cleanup(self):
        if self.pid is not None:
            # By its master's PID: SIGTERM stops the master and its
            # children (master(8)).
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                wait_until(lambda: not _pid_alive(self.pid), T(20),
                           what="Postfix's master to end")
            except AssertionError:
                os.kill(self.pid, signal.SIGKILL)
            self.pid = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), 1):
            return True
    except OSError:
        return False


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
