"""Running smtpauthd as a Debian service (issue 18): the systemd unit
(systemd-analyze verify and its security exposure), readiness, reload and
stop reported through sd_notify once the listeners are bound, the fail2ban
filter over the log of a real server, and the Debian packages (built,
lintian-clean, their maintainer script and packaged configuration run)."""
import base64
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

from e2elib import REPO, SMTPAUTHD, T, free_port, wait_until
from test_auth import PASSWORD, TLSClient, auth_server, plain
from test_tls import pki  # noqa: F401 - the session-wide test CA

UNIT_IN = REPO / "etc" / "systemd" / "smtpauthd.service.in"
FILTER = REPO / "etc" / "fail2ban" / "filter.d" / "smtpauthd.conf"
JAIL = REPO / "etc" / "fail2ban" / "jail.d" / "smtpauthd.conf"
EXPOSURE_MAX = 2.5


def need(program):
    path = shutil.which(program)
    if path is None:
        pytest.skip("%s is not installed (scripts/install-deps)" % program)
    return path


def render_unit(directory, sbindir, confdir):
    text = UNIT_IN.read_text().replace("@SBINDIR@", str(sbindir)) \
        .replace("@CONFDIR@", str(confdir))
    unit = Path(directory) / "smtpauthd.service"
    unit.write_text(text)
    return unit


# ----------------------------------------------------------------------
# The unit

def test_unit_verifies_and_its_exposure_is_at_most_2_5(tmp_path):
    need("systemd-analyze")
    unit = render_unit(tmp_path, SMTPAUTHD.parent, tmp_path)
    # --man=no: the man pages are not installed where man(1) looks.
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0 and r.stdout + r.stderr == "", r
    r = subprocess.run(["systemd-analyze", "security", "--offline=true",
                        str(unit)], capture_output=True, text=True,
                       timeout=T(60))
    m = re.search(r"Overall exposure level for smtpauthd\.service: "
                  r"(\d+\.\d)", r.stdout)
    assert m, r
    print("systemd-analyze security exposure:", m.group(1))
    assert float(m.group(1)) <= EXPOSURE_MAX, r.stdout
    # The threshold is compared with the exact (not rounded) figure.
    r = subprocess.run(["systemd-analyze", "security", "--offline=true",
                        "--threshold=%d" % (EXPOSURE_MAX * 10), str(unit)],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stdout
    text = unit.read_text()
    # What the parent needs, and nothing a mail server does not.
    caps = re.search(r"^CapabilityBoundingSet=(.*)$", text, re.M).group(1)
    assert set(caps.split()) == {
        "CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_DAC_READ_SEARCH",
        "CAP_SETUID", "CAP_SETGID", "CAP_KILL"}
    for line in ("Type=notify", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "PrivateTmp=yes",
                 "SystemCallFilter=@system-service",
                 "ExecReload=/bin/kill -HUP $MAINPID"):
        assert "\n" + line + "\n" in text, line
    assert "ExecStart=%s -d -f %s/smtpauthd.conf" % (SMTPAUTHD, tmp_path) \
        in text


def test_unit_capabilities_are_enough(server, tmp_path):
    """Root with only the unit's CapabilityBoundingSet and no new
    privileges, as systemd starts it, over a spool and Maildir root that
    belong to the server's user already (as the package makes them): the
    server starts, delivers, reloads and stops its children."""
    need("setpriv")
    if os.geteuid() != 0:
        pytest.skip("needs root")
    text = render_unit(tmp_path, SMTPAUTHD.parent, tmp_path).read_text()
    caps = re.search(r"^CapabilityBoundingSet=(.*)$", text, re.M).group(1)
    keep = ",".join("+" + c[len("CAP_"):].lower() for c in caps.split())
    srv = server(start=False)
    nobody = pwd.getpwnam("nobody")
    for d in (srv.spool, srv.spool / "queue", srv.spool / "run",
              srv.mailbox_root):
        d.mkdir(mode=0o700)
        os.chown(d, nobody.pw_uid, nobody.pw_gid)
    os.chmod(srv.users_path, 0o600)
    # The spool is really the server user's: without CAP_DAC_READ_SEARCH
    # the root parent cannot look into it.
    less = ",".join(c for c in keep.split(",") if c != "+dac_read_search")
    r = subprocess.run(["setpriv", "--bounding-set=-all," + less,
                        "--inh-caps=-all", "--no-new-privs", "--",
                        str(SMTPAUTHD), "-d", "-f", str(srv.conf_path)],
                       capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 1 and "Permission denied" in r.stderr, r
    start_notified(srv, prefix=[
        "setpriv", "--bounding-set=-all," + keep, "--inh-caps=-all",
        "--no-new-privs", "--"])
    wait_until(lambda: srv.proc.poll() is not None or
               "ready hostname=" in srv.log(), T(10), what="the start")
    assert srv.proc.poll() is None, srv.log()
    status = open("/proc/%d/status" % srv.proc.pid).read()
    bounding = int(re.search(r"^CapBnd:\s+(\w+)$", status, re.M).group(1), 16)
    assert bounding == sum(1 << CAP_NUMBERS[c] for c in caps.split()), status
    srv.send_message("a@example.com", ["user@example.org"],
                     b"Subject: t\r\n\r\nunder the unit's capabilities\r\n")
    wait_until(lambda: srv.message_files("user@example.org"), T(10),
               what="delivery")
    mark = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    srv.wait_log("reloaded users=", after=mark)
    assert greets(srv.port)
    os.kill(srv.proc.pid, signal.SIGTERM)
    # Only CAP_KILL lets the root parent signal children of another user.
    assert srv.proc.wait(T(30)) == 0, srv.log()
    assert "stopped" in srv.log()[mark:]


def submit(srv, pki, rcpts, subject):
    """One message from user@example.org, after STARTTLS and AUTH."""
    c = TLSClient(srv, pki)
    assert c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD)) \
        .startswith("235")
    assert c.cmd("MAIL FROM:<user@example.org>").startswith("250")
    for rcpt in rcpts:
        assert c.cmd("RCPT TO:<%s>" % rcpt).startswith("250")
    assert c.cmd("DATA").startswith("354")
    assert c.cmd("Subject: %s\r\n\r\nbody\r\n." % subject) \
        .startswith("250")
    c.close()


def syscall_set(group, seen=None):
    """The system calls of a systemd group (@name), nested ones included."""
    seen = set() if seen is None else seen
    if group in seen:
        return set()
    seen.add(group)
    r = subprocess.run(["systemd-analyze", "syscall-filter", group],
                       capture_output=True, text=True, check=True,
                       timeout=T(60))
    names = set()
    for line in r.stdout.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        names |= syscall_set(item, seen) if item.startswith("@") else {item}
    return names


def unit_syscalls(text):
    """What the unit's SystemCallFilter= lines allow, in their order."""
    allowed = None
    for value in re.findall(r"^SystemCallFilter=(.*)$", text, re.M):
        deny = value.startswith("~")
        names = set()
        for item in value.lstrip("~").split():
            names |= syscall_set(item) if item.startswith("@") else {item}
        if allowed is None:
            assert not deny, "the first filter line is an allow list"
            allowed = names
        elif deny:
            allowed -= names
        else:
            allowed |= names
    return allowed


def test_unit_syscall_filter_allows_what_the_server_calls(pki, tmp_path,
                                                         server, monkeypatch):
    """Every system call the server and its children make, traced through
    a start, TLS, a failed and a good AUTH, a local delivery, a relay
    attempt, a reload and a stop, is allowed by the unit's filter, but
    the two of @resources the auth process may make and ignores."""
    need("systemd-analyze")
    need("strace")
    # LeakSanitizer cannot run under ptrace (make check-asan).
    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") +
                       ":detect_leaks=0")
    allowed = unit_syscalls(
        render_unit(tmp_path, SMTPAUTHD.parent, tmp_path).read_text())
    assert "setresuid" in allowed and "reboot" not in allowed
    srv = auth_server(server, pki, extra=[
        "relay-host 127.0.0.1:%d" % free_port(), "retry-min 300"])
    srv.stop()
    start = len(srv.log())
    trace = tmp_path / "strace"
    start_notified(srv, tmp_path / "notify", prefix=[
        "strace", "-f", "-qq", "-o", str(trace), "--"])
    wait_until(lambda: srv.proc.poll() is not None or
               "ready hostname=" in srv.log()[start:], T(30),
               what="the start")
    assert srv.proc.poll() is None, srv.log()
    # The server is strace's child.
    parent = int(re.search(r"smtpauthd\[(\d+)\]: parent: ready hostname=",
                           srv.log()[start:]).group(1))
    c = TLSClient(srv, pki)
    assert c.cmd("AUTH PLAIN " + plain("user@example.org", "wrong")) \
        .startswith("535")
    c.close()
    submit(srv, pki, ["other@example.org", "far@example.com"], "traced")
    wait_until(lambda: srv.message_files("other@example.org"), T(20),
               what="the local delivery")
    srv.wait_log(r"relay id=\w+ to=<far@example\.com> .*result=deferred",
                 after=start, timeout=20)
    mark = len(srv.log())
    os.kill(parent, signal.SIGHUP)
    srv.wait_log("reloaded users=", after=mark, timeout=20)
    os.kill(parent, signal.SIGTERM)
    assert srv.proc.wait(T(60)) == 0, srv.log()
    used = set()
    for line in trace.read_text().splitlines():
        m = re.match(r"\d+\s+(\w+)\(", line)
        # syscall_0xfffffffffffffe00: strace's name for a restarted call
        # (-ERESTARTSYS) when a signal interrupts it, not a system call.
        if m and not m.group(1).startswith("syscall_0x"):
            used.add(m.group(1))
    print("traced system calls:", len(used), "outside the filter:",
          sorted(used - allowed))
    # The ones strace itself makes before the exec are not the server's.
    assert "execve" in used and "sendmsg" in used, sorted(used)
    assert sorted(used - allowed) == ["sched_setscheduler", "setpriority"] \
        or sorted(used - allowed) == ["setpriority"], sorted(used - allowed)


SANDBOX_RUN = r"""
set -eu
# The unit's file system, in a private mount namespace: the configuration
# in a folder of its own (/srv here), the spool and the Maildir root as the
# package makes them, then everything read-only (ProtectSystem=strict: not
# /proc, /sys, /dev) but those two (ReadWritePaths=), an empty /tmp
# (PrivateTmp=) and no /root or /home (ProtectHome=).
mount --bind "$CONF" /srv
mount -t tmpfs -o mode=0755 tmpfs /var/spool
mount -t tmpfs -o mode=0755 tmpfs /var/mail
for d in /var/spool/smtpauthd /var/spool/smtpauthd/queue \
    /var/spool/smtpauthd/run /var/mail/vhosts; do
	mkdir -m 0700 "$d" && chown nobody:nogroup "$d"
done
awk '{ print $5 }' /proc/self/mountinfo | sort -r | while read -r mp; do
	case $mp in
	/proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/mnt|/mnt/*) ;;
	*) mount -o remount,bind,ro "$mp" ;;
	esac
done
for d in /var/spool/smtpauthd /var/mail/vhosts; do
	mount --bind "$d" "$d" && mount -o remount,bind,rw "$d"
done
mount -t tmpfs tmpfs /tmp
for d in /root /home; do
	[ -d $d ] && mount -t tmpfs -o ro,mode=0755 tmpfs $d
done
touch /etc/smtpauthd-probe 2>/dev/null && { echo "/etc is writable"; exit 1; }
exec setpriv --bounding-set=-all,$KEEP --inh-caps=-all --no-new-privs -- \
    "$SMTPAUTHD" -d -f /srv/smtpauthd.conf
"""


def test_unit_file_system_sandbox_is_enough(pki, tmp_path, server):
    """Read-only but for the spool and the Maildir root, a private /tmp,
    and the unit's capabilities: the server starts, takes a message over
    TLS and AUTH, delivers it into the Maildir, reloads and stops."""
    need("unshare")
    need("setpriv")
    if os.geteuid() != 0:
        pytest.skip("needs root for a mount namespace")
    text = render_unit(tmp_path, SMTPAUTHD.parent, tmp_path).read_text()
    assert "\nReadWritePaths=-/var/spool/smtpauthd -/var/mail/vhosts\n" \
        in text
    caps = re.search(r"^CapabilityBoundingSet=(.*)$", text, re.M).group(1)
    srv = auth_server(server, pki)
    srv.stop()
    conf = tmp_path / "conf"
    conf.mkdir()
    os.chmod(tmp_path, 0o755)
    for name in ("ec.pem", "ec.key"):
        shutil.copy(Path(pki) / name, conf / name)
    shutil.copy(srv.users_path, conf / "users")
    # The checkout may be under /tmp or /root, which the sandbox hides.
    shutil.copy(SMTPAUTHD, conf / "smtpauthd")
    lines = []
    for line in srv.config_text().splitlines():
        key = line.split(" ", 1)[0]
        line = {"users": "users /srv/users",
                "spool": "spool /var/spool/smtpauthd",
                "mailbox-root": "mailbox-root /var/mail/vhosts",
                "tls-cert": "tls-cert /srv/ec.pem",
                "tls-key": "tls-key /srv/ec.key"}.get(key, line)
        lines.append(line)
    (conf / "smtpauthd.conf").write_text("\n".join(lines) + "\n")
    start = len(srv.log())
    env = dict(os.environ, CONF=str(conf), SMTPAUTHD="/srv/smtpauthd",
               KEEP=",".join("+" + c[len("CAP_"):].lower()
                             for c in caps.split()))
    env.pop("JOURNAL_STREAM", None)
    logf = open(srv.log_path, "ab")
    try:
        srv.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             SANDBOX_RUN], stdin=subprocess.DEVNULL, stdout=logf,
            stderr=logf, start_new_session=True, env=env)
    finally:
        logf.close()
    srv.pgid = srv.proc.pid
    wait_until(lambda: srv.proc.poll() is not None or
               "ready hostname=" in srv.log()[start:], T(20),
               what="the start")
    assert srv.proc.poll() is None, srv.log()[start:]
    submit(srv, pki, ["other@example.org"], "sandboxed")
    srv.wait_log(r"delivery id=\w+ to=<other@example\.org> "
                 r"result=delivered", after=start)
    mark = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    srv.wait_log("reloaded users=", after=mark)
    assert greets(srv.port)
    os.kill(srv.proc.pid, signal.SIGTERM)
    assert srv.proc.wait(T(30)) == 0, srv.log()[start:]
    assert not re.search(r"Read-only file system|Permission denied",
                         srv.log()[start:]), srv.log()[start:]


CAP_NUMBERS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1,
               "CAP_DAC_READ_SEARCH": 2, "CAP_KILL": 5, "CAP_SETGID": 6,
               "CAP_SETUID": 7, "CAP_NET_BIND_SERVICE": 10}


# ----------------------------------------------------------------------
# sd_notify

class NotifySocket:
    """The service manager's end: a datagram socket that learns who sent
    each message (SO_PASSCRED), as systemd does for NotifyAccess=main."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def recv(self, timeout=10):
        """(pid, {key: value}) of the next message."""
        self.sock.settimeout(T(timeout))
        size = struct.calcsize("3i")
        data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(size))
        pid = None
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", value[:size])[0]
        fields = dict(line.split("=", 1)
                      for line in data.decode().split("\n") if line)
        return pid, fields

    def close(self):
        self.sock.close()


def start_notified(srv, notify_path=None, prefix=(), journal=False):
    """Start srv as systemd would, with NOTIFY_SOCKET, under prefix (a
    command that execs the rest), with JOURNAL_STREAM naming its log file
    if journal; returns at once."""
    env = dict(os.environ)
    env.pop("JOURNAL_STREAM", None)
    if notify_path is not None:
        env["NOTIFY_SOCKET"] = str(notify_path)
    logf = open(srv.log_path, "ab")
    if journal:
        st = os.fstat(logf.fileno())
        env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    try:
        srv.proc = subprocess.Popen(
            list(prefix) + [str(SMTPAUTHD), "-d", "-f", str(srv.conf_path)],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
            cwd=str(srv.dir), start_new_session=True, env=env)
    finally:
        logf.close()
    srv.pgid = srv.proc.pid


def greets(port):
    with socket.create_connection(("127.0.0.1", port), T(5)) as s:
        return s.makefile("rb").readline().startswith(b"220 ")


def test_sd_notify_ready_after_bind_reload_and_stop(server, tmp_path):
    srv = server(start=False)
    ns = NotifySocket(tmp_path / "notify")
    try:
        start_notified(srv, ns.path)
        pid, msg = ns.recv()
        # Sent by the parent, once the listeners are bound: a client is
        # served at that moment, with no retry.
        assert pid == srv.proc.pid, (pid, msg)
        assert msg.get("READY") == "1", msg
        assert greets(srv.port)
        assert "ready hostname=" in srv.log()

        mark = len(srv.log())
        os.kill(srv.proc.pid, signal.SIGHUP)
        pid, msg = ns.recv()
        assert pid == srv.proc.pid and msg.get("RELOADING") == "1", msg
        # systemd 253 and later match it with the reload it asked for.
        assert int(msg["MONOTONIC_USEC"]) > 0, msg
        pid, msg = ns.recv()
        assert pid == srv.proc.pid and msg.get("READY") == "1", msg
        # READY=1 ends the reload: the new generation is configured.
        assert "reloaded users=" in srv.log()[mark:]
        assert greets(srv.port)

        # A reload that fails keeps serving, and still ends with READY=1.
        srv.conf_path.write_text(srv.config_text() + "no-such-directive 1\n")
        os.kill(srv.proc.pid, signal.SIGHUP)
        assert ns.recv()[1].get("RELOADING") == "1"
        assert ns.recv()[1].get("READY") == "1"
        assert "reload failed" in srv.log()[mark:]
        assert greets(srv.port)

        os.kill(srv.proc.pid, signal.SIGTERM)
        pid, msg = ns.recv()
        assert pid == srv.proc.pid and msg.get("STOPPING") == "1", msg
        assert srv.proc.wait(T(30)) == 0
    finally:
        ns.close()


def test_sd_notify_without_a_listener_is_harmless(server, tmp_path):
    """A NOTIFY_SOCKET nobody reads: each notification fails and is
    logged, and the server serves and reloads as usual."""
    srv = server(start=False)
    start_notified(srv, tmp_path / "nobody-listens")
    wait_until(lambda: srv.proc.poll() is not None or
               re.search(r"ready hostname=", srv.log()), T(10),
               what="the server to start")
    assert srv.proc.poll() is None, srv.log()
    wait_until(lambda: greets(srv.port), T(10), what="a greeting")
    assert re.search(r"sd_notify READY=1.*: No such file or directory",
                     srv.log()), srv.log()
    os.kill(srv.proc.pid, signal.SIGHUP)
    srv.wait_log("reloaded users=")
    assert greets(srv.port)


# ----------------------------------------------------------------------
# fail2ban

# User names made to look like other fields (log_escape keeps them inside
# user="..."): the filter must find the connection's address, never these.
FORGED_USERS = [
    "x ip=6.6.6.6",
    "ip=1.2.3.4",
    'q" ip=6.6.6.6 user="z',
    "a result=fail ip=6.6.6.6 port=1 tls=yes mech=PLAIN user=\"b\"",
    "tab\tip=6.6.6.6",
    "smtpauthd[1]: auth: auth result=fail ip=6.6.6.6 port=1",
    "esc\x1b[2K\x7f ip=6.6.6.6",
    "caf\u00e9 ip=6.6.6.6",
]


def fail2ban_dir(tmp_path):
    """Our filter next to Debian's common.conf, which it includes."""
    d = tmp_path / "fail2ban"
    (d / "filter.d").mkdir(parents=True)
    shutil.copy("/etc/fail2ban/filter.d/common.conf", d / "filter.d")
    shutil.copy(FILTER, d / "filter.d" / "smtpauthd.conf")
    return d


def fail2ban_ips(log, filt):
    r = subprocess.run(["fail2ban-regex", "-o", "ip", str(log), str(filt)],
                       capture_output=True, text=True, timeout=T(120))
    assert r.returncode == 0, r
    return r.stdout.split()


def test_fail2ban_filter_finds_exactly_the_clients(server, pki, tmp_path):
    need("fail2ban-regex")
    srv = auth_server(server, pki, extra=["auth-max-failures 100",
                                          "auth-failure-delay 0"])
    expected = []
    # Each forged name from its own loopback address, some twice.
    for i, name in enumerate(FORGED_USERS):
        ip = "127.0.0.%d" % (10 + i)
        for _ in range(1 + i % 2):
            c = TLSClient(srv, pki, source=ip)
            r = c.cmd("AUTH PLAIN " + plain(name, "not the password"))
            assert r.startswith("535"), (name, r)
            c.close()
            expected.append(ip)
    # AUTH LOGIN with an unknown user, from another address.
    c = TLSClient(srv, pki, source="127.0.0.30")
    assert c.cmd("AUTH LOGIN").startswith("334")
    assert c.cmd(plain_b64("ip=6.6.6.6")).startswith("334")
    assert c.cmd(plain_b64("wrong")).startswith("535")
    c.close()
    expected.append("127.0.0.30")
    # Not failures: a good login, and a command forging an auth line.
    c = TLSClient(srv, pki, source="127.0.0.40")
    assert c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD)) \
        .startswith("235")
    c.close()
    with srv.connect(source="127.0.0.41") as c:
        c.ehlo()
        assert c.cmd("FOO auth: auth result=fail ip=6.6.6.6 port=1 "
                     "tls=yes mech=PLAIN user=\"x\"").code == 500
    srv.wait_log(r"reject cmd=UNKNOWN")
    srv.wait_log(r"auth result=ok ip=127\.0\.0\.40 ")
    wait_until(lambda: len(re.findall(r"auth result=fail", srv.log()))
               == len(expected), T(10), what="every failure logged")

    d = fail2ban_dir(tmp_path)
    filt = d / "filter.d" / "smtpauthd.conf"
    log = tmp_path / "smtpauthd.log"
    log.write_bytes(srv.log_bytes())
    assert sorted(fail2ban_ips(log, filt)) == sorted(expected)
    # The same lines as syslog writes them (smtpauthd without -d).
    syslog = tmp_path / "mail.log"
    syslog.write_text("".join(
        re.sub(r"^\S+ smtpauthd\[", "Dec  2 15:40:01 mx smtpauthd[", line)
        + "\n" for line in srv.log().splitlines()))
    assert sorted(fail2ban_ips(syslog, filt)) == sorted(expected)


def test_journal_lines_and_fail2ban_over_them(server, tmp_path):
    """With stderr the journal's stream (JOURNAL_STREAM, as systemd sets
    it), a line is "<priority>process: event", without the stamp and name
    the journal adds itself; the jail's systemd backend hands the filter
    "HOST smtpauthd[PID]: MESSAGE", and the filter finds the clients."""
    need("fail2ban-regex")
    srv = server(start=False, extra=["auth-over-plaintext yes",
                                     "auth-failure-delay 0",
                                     "auth-max-failures 100"])
    start_notified(srv, journal=True)
    wait_until(lambda: srv.proc.poll() is not None or
               "ready hostname=" in srv.log(), T(10), what="the start")
    assert srv.proc.poll() is None, srv.log()
    expected = []
    for i, name in enumerate(FORGED_USERS[:3]):
        ip = "127.0.0.%d" % (50 + i)
        with srv.connect(source=ip) as c:
            c.ehlo()
            assert c.cmd("AUTH PLAIN " + plain(name, "wrong")).code == 535
        expected.append(ip)
    wait_until(lambda: srv.log().count("auth result=fail") == len(expected),
               T(10), what="the failures logged")
    lines = srv.log().splitlines()
    assert re.search(r"^<6>parent: ready hostname=", srv.log(), re.M), lines
    for line in lines:
        assert re.match(r"<[0-7]>(parent|worker \d+|auth|queue): \S", line), \
            line
    # What fail2ban's systemd backend makes of each entry (MESSAGE is the
    # line without its "<N>"), after the journal's own date.
    pid = srv.proc.pid
    entries = tmp_path / "journal.log"
    entries.write_text("".join(
        "2026-12-02 15:40:01 mx smtpauthd[%d]: %s\n" % (pid, line[3:])
        for line in lines))
    filt = fail2ban_dir(tmp_path) / "filter.d" / "smtpauthd.conf"
    assert sorted(fail2ban_ips(entries, filt)) == expected


def plain_b64(text):
    return base64.b64encode(text.encode()).decode()


def test_fail2ban_jail_loads(tmp_path):
    """Debian's fail2ban accepts the jail, turned on, with our filter."""
    need("fail2ban-client")
    d = tmp_path / "etc"
    shutil.copytree("/etc/fail2ban", d, symlinks=True)
    shutil.copy(FILTER, d / "filter.d" / "smtpauthd.conf")
    shutil.copy(JAIL, d / "jail.d" / "smtpauthd.conf")
    # Only our jail: the machine's own (sshd) may not apply here.
    for f in (d / "jail.d").iterdir():
        if f.name != "smtpauthd.conf":
            f.unlink()
    (d / "jail.d" / "smtpauthd.local").write_text(
        "[smtpauthd]\nenabled = true\n")
    r = subprocess.run(["fail2ban-client", "-c", str(d), "-d"],
                       capture_output=True, text=True, timeout=T(120))
    assert r.returncode == 0, r
    assert "'add', 'smtpauthd', 'systemd'" in r.stdout, r.stdout
    assert "_SYSTEMD_UNIT=smtpauthd.service" in r.stdout, r.stdout
    assert re.search(r"'set', 'smtpauthd', 'addfailregex', '.*result=fail",
                     r.stdout), r.stdout
    assert "'set', 'smtpauthd', 'maxretry', 10" in r.stdout, r.stdout


# ----------------------------------------------------------------------
# The Debian packages

@pytest.fixture(scope="module")
def debs():
    need("dpkg-buildpackage")
    need("lintian")
    out = Path(tempfile.mkdtemp(prefix="smtpauth-deb-", dir="/tmp"))
    env = dict(os.environ)
    for v in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "BUILD", "CFLAGS"):
        env.pop(v, None)
    # The unit tests run in make check already.
    env["DEB_BUILD_OPTIONS"] = "nocheck"
    r = subprocess.run(["make", "-C", str(REPO), "deb", "BUILD=%s" % out],
                       capture_output=True, text=True, env=env,
                       timeout=T(600))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    yield out / "deb"
    shutil.rmtree(out, ignore_errors=True)


def test_deb_packages_are_lintian_clean(debs):
    changes = list(debs.glob("*.changes"))
    assert len(changes) == 1, list(debs.iterdir())
    for name in ("smtpauthd", "smtpauth"):
        assert list(debs.glob("%s_*.deb" % name)), list(debs.iterdir())
    r = subprocess.run(["lintian", "--fail-on", "error,warning",
                        str(changes[0])], capture_output=True, text=True,
                       timeout=T(300))
    tags = [l for l in r.stdout.splitlines() if re.match(r"[EW]: ", l)]
    assert r.returncode == 0 and tags == [], r.stdout + r.stderr


def deb_contents(deb):
    r = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True,
                       text=True, check=True)
    return {line.split()[-1].lstrip("."): line.split()[0]
            for line in r.stdout.splitlines()}


def test_deb_contents_and_conffiles(debs, tmp_path):
    deb = next(debs.glob("smtpauthd_*.deb"))
    files = deb_contents(deb)
    for path in ("/usr/sbin/smtpauthd", "/usr/sbin/smtpauthctl",
                 "/usr/share/man/man8/smtpauthctl.8.gz",
                 "/etc/smtpauthd/smtpauthd.conf",
                 "/lib/systemd/system/smtpauthd.service",
                 "/etc/fail2ban/filter.d/smtpauthd.conf",
                 "/etc/fail2ban/jail.d/smtpauthd.conf",
                 "/usr/share/man/man8/smtpauthd.8.gz",
                 "/usr/share/man/man5/smtpauthd.conf.5.gz"):
        assert path in files, (path, sorted(files))
    tester = deb_contents(next(debs.glob("smtpauth_*.deb")))
    assert "/usr/bin/smtpauth" in tester
    assert "/usr/share/man/man1/smtpauth.1.gz" in tester
    ctl = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(ctl)], check=True)
    assert sorted((ctl / "conffiles").read_text().split()) == sorted([
        "/etc/fail2ban/filter.d/smtpauthd.conf",
        "/etc/fail2ban/jail.d/smtpauthd.conf",
        "/etc/smtpauthd/smtpauthd.conf"])
    # The unit is enabled and started by debhelper's part of postinst.
    postinst = (ctl / "postinst").read_text()
    assert "deb-systemd-helper enable 'smtpauthd.service'" in postinst
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    unit = (root / "lib/systemd/system/smtpauthd.service").read_text()
    assert "ExecStart=/usr/sbin/smtpauthd -d -f " \
        "/etc/smtpauthd/smtpauthd.conf\n" in unit
    assert "ExecCondition=/usr/sbin/smtpauthd -n -f " \
        "/etc/smtpauthd/smtpauthd.conf\n" in unit
    conf = (root / "etc/smtpauthd/smtpauthd.conf").read_text()
    assert re.search(r"^user _smtpauthd$", conf, re.M)


POSTINST_RUN = r"""
set -eu
# A private mount namespace over a copy of /etc and empty /var/spool and
# /var/mail: the machine's own user database and files are left alone, and
# the package's files are where it puts them.
cp -a /etc "$T/etc"
mount --bind "$T/etc" /etc
mkdir -p "$T/spool" "$T/mail" /etc/smtpauthd
cp "$ROOT/etc/smtpauthd/smtpauthd.conf" /etc/smtpauthd/
mount --bind "$T/spool" /var/spool
mount --bind "$T/mail" /var/mail
sh "$POSTINST" configure
sh "$POSTINST" configure	# again, as an upgrade does: no change
getent passwd _smtpauthd
stat -c '%n %U:%G %a' /var/spool/smtpauthd /var/spool/smtpauthd/queue \
    /var/spool/smtpauthd/run /var/mail/vhosts /etc/smtpauthd/users
# Without its certificate the packaged configuration does not load (the
# unit's ExecCondition): no server starts.
if "$ROOT/usr/sbin/smtpauthd" -n -f /etc/smtpauthd/smtpauthd.conf; then
	echo "started without a certificate"; exit 1
fi
cp "$PKI/ec.pem" /etc/smtpauthd/mail.example.org.pem
cp "$PKI/ec.key" /etc/smtpauthd/mail.example.org.key
"$ROOT/usr/sbin/smtpauthd" -n -f /etc/smtpauthd/smtpauthd.conf
"""


def test_deb_postinst_and_packaged_configuration(debs, pki, tmp_path):
    """The package's own postinst, run in a private mount namespace over
    copies of the user database, makes the user, the spool and the users
    file; the packaged configuration then passes smtpauthd -n once a
    certificate is there, and not before."""
    need("unshare")
    if os.geteuid() != 0:
        pytest.skip("needs root for a mount namespace")
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(next(debs.glob("smtpauthd_*.deb"))),
                    str(root)], check=True)
    env = dict(os.environ, T=str(tmp_path), ROOT=str(root), PKI=str(pki),
               POSTINST=str(REPO / "debian" / "smtpauthd.postinst"))
    r = subprocess.run(["unshare", "--mount", "--propagation", "private",
                        "sh", "-c", POSTINST_RUN], capture_output=True,
                       text=True, env=env, timeout=T(120))
    assert r.returncode == 0, r
    out = r.stdout
    assert re.search(r"^_smtpauthd:x:\d+:\d+:smtpauthd server[^:]*:/nonexistent:"
                     r"/usr/sbin/nologin$", out, re.M), out
    for d in ("/var/spool/smtpauthd", "/var/spool/smtpauthd/queue",
              "/var/spool/smtpauthd/run", "/var/mail/vhosts"):
        assert "%s _smtpauthd:_smtpauthd 700\n" % d in out, out
    assert "/etc/smtpauthd/users root:root 600\n" in out, out
    assert "configuration OK" in r.stderr, r.stderr
    # The machine's own database was not touched.
    assert "_smtpauthd" not in Path("/etc/passwd").read_text()
