"""A private Exim 4 (Debian's exim4-daemon-heavy binary, unpacked by
scripts/install-deps into EXIM_ROOT, never installed: Debian's Exim and
Postfix conflict), SASL through a private Dovecot's auth socket (Exim's
dovecot authenticator, the reason for -heavy: -light has none).

The configuration is written in a temporary directory and given with -C.
Such a configuration is not in Debian's TRUSTED_CONFIG_LIST
(/etc/exim4/trusted_configs), so Exim would give up a setuid root to the
real user; the tests start it as root (install-deps leaves the binary
without its setuid bit), so the daemon binds, writes its pid file and then
runs as exim_user, and so does each connection's process, as a system
Exim does.  Nothing is delivered: -odq and queue_only leave accepted mail
on the spool of the temporary directory, and every router is a
:blackhole: redirect.
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

from e2elib import T, free_port, wait_until

EXIM_ROOT = Path(os.environ.get("SMTPAUTH_EXIM_ROOT",
                                "/opt/smtpauth-tests/exim4"))
EXIM = EXIM_ROOT / "usr" / "sbin" / "exim4"
# The user Debian's binary is built for (EXIM_USER=ref:Debian-exim): it
# refuses to start, even for -bV, when the name does not resolve.
EXIM_USER = "Debian-exim"

# What each kind of port is for, as Debian's Exim runs 25, 465 and 587
# (daemon_smtp_ports = 25 : 465 : 587, tls_on_connect_ports = 465).
KINDS = ("mx", "submission", "smtps")


def exim_missing():
    """Why the tests cannot run Exim here, or None."""
    if not os.access(EXIM, os.X_OK):
        return "%s not found: run scripts/install-deps" % EXIM
    try:
        pwd.getpwnam(EXIM_USER)
    except KeyError:
        return "no user %s: run scripts/install-deps" % EXIM_USER
    if os.geteuid() != 0:
        return "a private Exim needs root (exim_user %s)" % EXIM_USER
    return None


CONFIG = """\
# A private Exim for smtpauth's tests: exim4 -C {d}/exim.conf -bdf -odq
# Modelled on Exim's configure.default, without what needs DNS.
keep_environment =
exim_path = {exim}
exim_user = {user}
exim_group = {user}
spool_directory = {d}/spool
log_file_path = {d}/log/%slog
pid_file_path = {d}/exim.pid
primary_hostname = mx.example.org
qualify_domain = example.org
local_interfaces = 127.0.0.1
daemon_smtp_ports = {ports}
tls_on_connect_ports = {smtps}
queue_only = true
# A port taken: exit at once (start() tries other ports), not retry for
# minutes.
daemon_startup_retries = 0
# No DNS here: neither the client's name nor its ident is looked up.
host_lookup =
rfc1413_hosts =

domainlist local_domains = example.org
domainlist relay_to_domains =
hostlist relay_from_hosts = {relay_from}
# The ports that want AUTH before any mail (587 and 465 on a real host).
SUBMISSION_PORTS = {submission}

tls_advertise_hosts = *
tls_certificate = {d}/cert.pem
tls_privatekey = {d}/key.pem

acl_smtp_rcpt = acl_check_rcpt
{extra}
begin acl

acl_check_rcpt:
  accept  hosts = :
  deny    domains = +local_domains
          local_parts = ^[.] : ^.*[@%!/|]
          message = Restricted characters in address
  deny    domains = !+local_domains
          local_parts = ^[./|] : ^.*[@%!] : ^.*/\\\\.\\\\./
          message = Restricted characters in address
{submission_acl}
  accept  hosts = +relay_from_hosts
          control = submission
  # The logins are addresses: without sender_retain submission mode
  # would make the sender $authenticated_id@$qualify_domain.
  accept  authenticated = *
          control = submission/sender_retain
  require message = relay not permitted
          domains = +local_domains : +relay_to_domains
  require verify = recipient
  accept

begin routers

local_users:
  driver = redirect
  domains = +local_domains
  local_parts = alice : bob
  data = :blackhole:

elsewhere:
  driver = redirect
  domains = ! +local_domains
  data = :blackhole:

begin transports

begin authenticators

dovecot_plain:
  driver = dovecot
  public_name = PLAIN
  server_socket = {sasl}
  server_set_id = $auth1
{advertise}
dovecot_login:
  driver = dovecot
  public_name = LOGIN
  server_socket = {sasl}
  server_set_id = $auth1
{advertise}
"""

# The submission ports refuse every recipient before AUTH.
SUBMISSION_ACL = """\
  deny    condition = ${if inlist{$received_port}{SUBMISSION_PORTS}}
          !authenticated = *
          message = Authentication required
"""

# AUTH offered only under TLS, as the example authenticators of Exim's
# configure.default and Debian's exim4-config have it.
ADVERTISE_TLS = "  server_advertise_condition = ${if def:tls_in_cipher}\n"


class Exim:
    """A private Exim: ports is a list of (name, kind), kind one of KINDS;
    each gets a free port on 127.0.0.1 (ports[name]).  relay_from is
    relay_from_hosts (127.0.0.1, Exim's default "localhost", so that
    127.0.0.2 is an outside address); auth_in_clear drops the
    advertise condition (AUTH offered before STARTTLS); main_extra goes
    at the end of the main section."""

    def __init__(self, cert, key, sasl_path, ports, relay_from="127.0.0.1",
                 auth_in_clear=False, main_extra=""):
        why = exim_missing()
        assert why is None, why
        self.dir = Path(tempfile.mkdtemp(prefix="smtpauth-exim-",
                                         dir="/tmp"))
        os.chmod(self.dir, 0o755)
        for sub in ("spool", "log"):
            (self.dir / sub).mkdir()
            shutil.chown(self.dir / sub, EXIM_USER, EXIM_USER)
        # The daemon reads them after it gave up root.
        shutil.copy(cert, self.dir / "cert.pem")
        shutil.copy(key, self.dir / "key.pem")
        os.chmod(self.dir / "key.pem", 0o600)
        shutil.chown(self.dir / "key.pem", EXIM_USER, EXIM_USER)
        self.kinds = dict(ports)
        for kind in self.kinds.values():
            assert kind in KINDS, kind
        self.port_list = list(ports)
        self.opts = {"sasl": sasl_path, "relay_from": relay_from,
                     "advertise": "" if auth_in_clear else ADVERTISE_TLS,
                     "extra": main_extra}
        self.conf = self.dir / "exim.conf"
        self.ports = {}
        self.proc = None
        self.pid = None

    def write_config(self):
        """The configuration, with free ports of the moment."""
        self.ports = {name: free_port() for name, _ in self.port_list}

        def of(*kinds):
            return " : ".join(str(self.ports[n]) for n, k in self.port_list
                              if k in kinds)
        submission = of("submission", "smtps")
        self.conf.write_text(CONFIG.format(
            d=self.dir, exim=EXIM, user=EXIM_USER,
            ports=of(*KINDS), smtps=of("smtps"),
            # An empty list would be "no port"; 0 is none too.
            submission=submission or "0",
            submission_acl=SUBMISSION_ACL if submission else "",
            **self.opts))

    def start(self):
        # A free port can be taken by another process before Exim binds
        # it: Exim then exits (daemon_startup_retries = 0), and the next
        # try has other ports.
        for attempt in range(3):
            self.write_config()
            if self._start():
                break
            for name in ("mainlog", "paniclog"):
                (self.dir / "log" / name).unlink(missing_ok=True)
        else:
            raise AssertionError("Exim could not bind its ports:\n"
                                 + self.stderr())
        for name, port in self.ports.items():
            wait_until(lambda: self.greets(port), T(20),
                       what="Exim %s on port %d" % (name, port))
        return self

    def _start(self):
        # -bdf: the daemon in the foreground, so that the process started
        # is the daemon of the pid file.
        pidfile = self.dir / "exim.pid"
        pidfile.unlink(missing_ok=True)
        with open(self.dir / "stderr", "ab") as err:
            self.proc = subprocess.Popen(
                [str(EXIM), "-C", str(self.conf), "-bdf", "-odq"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, cwd=str(self.dir), start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                return "exited"
            return pidfile.exists() and pidfile.read_text().strip()
        if wait_until(ready, T(20), what="Exim's pid file") == "exited":
            self.proc = None
            assert "Address already in use" in self.stderr(), self.stderr()
            return False
        self.pid = int(pidfile.read_text().split()[0])
        assert self.pid == self.proc.pid, (self.pid, self.proc.pid)
        return True

    def stderr(self):
        p = self.dir / "stderr"
        return (p.read_text() if p.exists() else "") + self.log()

    def greets(self, port):
        """Exim's greeting on port: not another process that took the
        free port first (a plain port; TLS on connect: any connection)."""
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as c:
                if port in [self.ports[n] for n, k in self.kinds.items()
                            if k == "smtps"]:
                    return True
                c.settimeout(T(5))
                return c.recv(100).startswith(b"220 mx.example.org")
        except OSError:
            return False

    def target(self, name):
        return "127.0.0.1:%d" % self.ports[name]

    def log(self):
        out = ""
        for name in ("mainlog", "rejectlog", "paniclog"):
            p = self.dir / "log" / name
            if p.exists():
                out += "== %s\n%s" % (name, p.read_text())
        return out

    def panics(self):
        p = self.dir / "log" / "paniclog"
        return p.read_text() if p.exists() else ""

    def cleanup(self):
        if self.proc is not None:
            # By the daemon's PID (its pid file's), then the group of the
            # session it was started in: the processes of connections
            # still open.
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.kill(self.proc.pid, sig)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(T(10))
                    break
                except subprocess.TimeoutExpired:
                    continue
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
