"""Helpers for the end-to-end tests of smtpauthd.

Black-box only: the tests start the built binary with a configuration in a
temporary directory, talk to it over TCP (raw sockets, smtplib, swaks, curl),
and look at what it leaves behind: Maildir files, the spool, its log (stderr).

Nothing here knows the server's internals beyond the pinned interfaces of
DESIGN.md and INTERNALS.md (reply texts, log lines, spool and Maildir layout).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SMTPAUTH_BUILD") or REPO / "build")
SMTPAUTHD = BUILD / "smtpauthd"
SANITIZED = os.environ.get("SMTPAUTH_SANITIZED") == "1"
# Everything is slower under AddressSanitizer: scale every timeout.
SLOW = 5.0 if SANITIZED else 1.0
# Material written by other projects; read in place, never copied here
# (next to the checkout, or where SMTPAUTH_PEER_SUITES says).
PEER_SUITES = Path(os.environ.get("SMTPAUTH_PEER_SUITES")
                   or REPO.parent / "shared" / "peer-suites")

HOSTNAME = "mx.test"
# A well-formed hash (smtpauthd -n checks that) of a password no test uses.
FAKE_HASH = ("$6$x$waLWIlV1n0gbwy0CFA/rFeTpnnPvNdDDdvRK0yN/xnM2QOlBRELGjY."
             "ovf5SpNkdxvtrB9qCtPSrO.9zy9DwC/")
DEFAULT_DOMAINS = ("example.org", "example.net")
DEFAULT_USERS = (
    "user@example.org",
    "other@example.org",
    "info@example.net",
)

QUEUE_ID_RE = re.compile(r"^250 2\.0\.0 Ok: queued as ([0-9A-F]{16})$")
# Lines a crashed or sanitizer-flagged process leaves in the log.
CRASH_RE = re.compile(
    r"killed by signal|AddressSanitizer|LeakSanitizer|"
    r"UndefinedBehaviorSanitizer|runtime error:")


def T(seconds):
    """A timeout, scaled for sanitizer builds."""
    return seconds * SLOW


_GIVEN_PORTS = set()


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port free now, never one this test run handed out before: the
    kernel may give the same ephemeral port to two bind(0) calls in a row
    once the first socket is closed, and a test that asks for two ports
    before starting a server must get two."""
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _GIVEN_PORTS:
            _GIVEN_PORTS.add(port)
            return port


def ipv6_available():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def wait_until(pred, timeout, interval=0.02, what="condition"):
    """Poll pred() until it returns a true value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


# ----------------------------------------------------------------------
# Messages

def crlf(text):
    """Text with any line ending turned into CRLF, as bytes."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    return text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def dot_stuff(data):
    """RFC 5321 4.5.2: a line starting with '.' gets one more."""
    out = []
    for line in data.split(b"\r\n"):
        out.append(b"." + line if line.startswith(b".") else line)
    return b"\r\n".join(out)


def log_escaped(text):
    """A value as smtpauthd(8) logs it: octets outside 0x21-0x7e, '"',
    '=' and '\\' as \\xHH (str in, str out)."""
    return "".join(chr(b) if 0x21 <= b <= 0x7e and b not in b'"=\\'
                   else "\\x%02x" % b for b in text.encode("utf-8"))


def log_unescaped(value):
    """The text a logged value stands for (bytes in, bytes out)."""
    return re.sub(rb"\\x([0-9a-f]{2})",
                  lambda m: bytes([int(m.group(1), 16)]), value)


def as_stored(data):
    """What the Maildir holds for a message sent as data (CRLF -> LF)."""
    return data.replace(b"\r\n", b"\n")


def split_delivered(raw):
    """A delivered Maildir file: our three prefix fields, then the message.

    Returns a dict with return_path, delivered_to, received (the whole
    field, continuation lines included, LF-separated) and body (the message
    as received, after the Received: field).
    """
    lines = raw.split(b"\n")
    assert lines[0].startswith(b"Return-Path: <"), raw[:200]
    assert lines[1].startswith(b"Delivered-To: "), raw[:200]
    assert lines[2].startswith(b"Received: "), raw[:200]
    i = 3
    while i < len(lines) and lines[i][:1] in (b"\t", b" "):
        i += 1
    return {
        "return_path": lines[0][len(b"Return-Path: <"):-1],
        "delivered_to": lines[1][len(b"Delivered-To: "):],
        "received": b"\n".join(lines[2:i]),
        "body": b"\n".join(lines[i:]),
    }


def received_id(raw):
    m = re.search(rb"\n\tby \S+ with \S+ id ([0-9A-F]{16})", raw)
    return m.group(1).decode() if m else None


# ----------------------------------------------------------------------
# A raw SMTP client

class Reply:
    """One SMTP reply: code and its lines (each as received, no CRLF)."""

    def __init__(self, lines):
        self.lines = lines
        self.code = int(lines[-1][:3])
        m = re.match(r"\d{3}[ -](\d\.\d{1,3}\.\d{1,3})\b", lines[0])
        self.enhanced = m.group(1) if m else None

    @property
    def line(self):
        """The last (for a one-line reply: the only) line."""
        return self.lines[-1]

    @property
    def texts(self):
        return [l[4:] for l in self.lines]

    def __repr__(self):
        return "Reply(%r)" % self.lines

    def __eq__(self, other):
        return isinstance(other, Reply) and self.lines == other.lines


class Closed(Exception):
    """The server closed the connection."""


class Client:
    """SMTP over a plain socket, with nothing done behind the test's back."""

    def __init__(self, port, host="127.0.0.1", timeout=10, greet=True,
                 source=None, proxy=None):
        """source: the local address to connect from; proxy: bytes sent
        first, as a balancer sends its PROXY header (see proxy_v1)."""
        self.sock = socket.create_connection(
            (host, port), timeout=T(timeout),
            source_address=(source, 0) if source else None)
        self.buf = b""
        if proxy:
            self.sock.sendall(proxy)
        self.greeting = self.reply() if greet else None

    def settimeout(self, seconds):
        self.sock.settimeout(seconds)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def sendline(self, line):
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\r\n")

    def _fill(self):
        try:
            d = self.sock.recv(65536)
        except ConnectionResetError:
            d = b""
        if not d:
            raise Closed("connection closed; unparsed: %r" % self.buf)
        self.buf += d

    def read_line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        lines = []
        while True:
            line = self.read_line()
            assert re.match(r"^[2-5]\d\d[ -]|^[2-5]\d\d$", line), \
                "not an SMTP reply line: %r" % line
            lines.append(line)
            if len(line) < 4 or line[3] == " ":
                return Reply(lines)
            assert line[3] == "-", line

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def cmd(self, line):
        self.sendline(line)
        return self.reply()

    def ehlo(self, name="client.test"):
        r = self.cmd("EHLO " + name)
        assert r.code == 250, r
        return r

    def read_until_closed(self, timeout=10):
        """Everything up to EOF; fails if the server keeps it open."""
        self.sock.settimeout(T(timeout))
        data = self.buf
        self.buf = b""
        while True:
            try:
                d = self.sock.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise AssertionError("connection still open after %ss; got %r"
                                     % (T(timeout), data))
            if not d:
                break
            data += d
        return data

    def read_idle(self, idle=0.3):
        """What arrives until EOF or until nothing came for `idle` s."""
        data = self.buf
        self.buf = b""
        self.sock.settimeout(T(idle))
        while True:
            try:
                d = self.sock.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not d:
                break
            data += d
        return data

    def is_closed(self, timeout=10):
        """True when the server closes without sending anything more."""
        rest = self.read_until_closed(timeout)
        assert rest == b"", "unexpected data before close: %r" % rest
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def proxy_v1(client, port=40000, server="127.0.0.1", server_port=25):
    """The HAProxy PROXY v1 header of a connection from client:port."""
    fam = "TCP6" if ":" in client else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n"
            % (fam, client, server, port, server_port)).encode()


def parse_replies(data):
    """Split raw reply bytes into Reply objects."""
    out, cur = [], []
    for line in data.decode("utf-8", "replace").split("\r\n"):
        if line == "":
            continue
        cur.append(line)
        if len(line) < 4 or line[3] != "-":
            out.append(Reply(cur))
            cur = []
    assert not cur, "incomplete reply: %r" % cur
    return out


def normalize_ids(lines):
    return [re.sub(r"queued as [0-9A-F]{16}", "queued as ID", l)
            for l in lines]


# ----------------------------------------------------------------------
# The server under test

class Server:
    """One smtpauthd in its own temporary directory."""

    def __init__(self, extra=(), users=DEFAULT_USERS, domains=DEFAULT_DOMAINS,
                 ipv6=False, workers=2, hostname=HOSTNAME, relative=False):
        # relative: the config names its files relative to its own folder
        # and the server is started from another one, with -f relative.
        self.relative = relative
        self.dir = Path(tempfile.mkdtemp(prefix="smtpauth-e2e-", dir="/tmp"))
        # Started as root, the children run as nobody and must get through.
        os.chmod(self.dir, 0o755)
        self.conf_path = self.dir / "smtpauthd.conf"
        self.users_path = self.dir / "users"
        self.mailbox_root = self.dir / "mail"
        self.spool = self.dir / "spool"
        self.log_path = self.dir / "smtpauthd.log"
        self.port = free_port()
        self.port6 = free_port(socket.AF_INET6, "::1") if ipv6 else None
        self.hostname = hostname
        self.domains = list(domains)
        self.workers = workers
        self.extra = list(extra)
        self.proc = None
        self.pgid = None
        self.allow_crash = False  # set by tests that kill children on purpose
        self.preexec = None  # run in the child before exec (e.g. rlimits)
        self.wrapper = []    # argv before the server's (e.g. strace -f)
        self.clients = []
        self.write_users(users)
        self.write_config()

    # -- files

    def write_users(self, users):
        self.users = list(users)
        self.users_path.write_text(
            "".join("%s:%s\n" % (u, FAKE_HASH) for u in self.users))

    def add_user(self, addr):
        self.write_users(self.users + [addr])

    def config_path(self, path):
        """path as the config names it."""
        return os.path.relpath(path, self.dir) if self.relative else path

    def config_text(self):
        p = self.config_path
        lines = ["# written by tests/e2e",
                 "listen 127.0.0.1:%d smtp" % self.port]
        if self.port6:
            lines.append("listen [::1]:%d smtp" % self.port6)
        lines += [
            "hostname %s" % self.hostname,
            "local-domains %s" % " ".join(self.domains),
            "users %s" % p(self.users_path),
            "mailbox-root %s" % p(self.mailbox_root),
            "spool %s" % p(self.spool),
        ]
        if self.workers is not None:
            lines.append("workers %d" % self.workers)
        if os.geteuid() == 0:
            lines.append("user nobody")
        lines += self.extra
        return "\n".join(lines) + "\n"

    def write_config(self):
        self.conf_path.write_text(self.config_text())

    # -- process

    def start(self, timeout=10):
        logf = open(self.log_path, "ab")
        offset = logf.tell()
        cwd = self.dir.parent if self.relative else self.dir
        conf = self.config_path(self.conf_path)
        if self.relative:
            conf = os.path.join(self.dir.name, conf)
        try:
            self.proc = subprocess.Popen(
                self.wrapper + [str(SMTPAUTHD), "-d", "-f", str(conf)],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                cwd=str(cwd), start_new_session=True,
                preexec_fn=self.preexec)
        finally:
            logf.close()
        self.pgid = self.proc.pid
        deadline = time.monotonic() + T(timeout)
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("smtpauthd exited with %s:\n%s"
                                     % (self.proc.returncode, self.log()))
            try:
                with Client(self.port, timeout=2) as c:
                    assert c.greeting.code == 220, c.greeting
                    c.cmd("QUIT")
                # Workers answer before the queue has started: wait for all.
                self.wait_log(r"parent: ready ", timeout=timeout,
                              after=offset)
                return self
            except (OSError, Closed):
                if time.monotonic() >= deadline:
                    raise AssertionError("smtpauthd does not answer on %d:\n%s"
                                         % (self.port, self.log()))
                time.sleep(0.05)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def group_pids(self, include_zombies=False):
        """Live processes in the server's process group."""
        pids = []
        if self.pgid is None:
            return pids
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            state, pgrp = fields[0], int(fields[2])
            if pgrp == self.pgid and (include_zombies or state != "Z"):
                pids.append(int(d))
        return pids

    def kill_group(self):
        if self.pgid is None:
            return
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc is not None:
            try:
                self.proc.wait(T(10))
            except subprocess.TimeoutExpired:
                pass
        wait_until(lambda: not self.group_pids(), T(10),
                   what="the killed process group to die")

    def stop(self, timeout=10):
        """SIGTERM the parent, then SIGKILL the group; return the status."""
        for c in self.clients:
            c.close()
        self.clients = []
        rc = None
        if self.running():
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                rc = self.proc.wait(T(timeout))
            except subprocess.TimeoutExpired:
                rc = None
        elif self.proc is not None:
            rc = self.proc.returncode
        self.kill_group()
        return rc

    def cleanup(self):
        problems = []
        try:
            self.stop()
        finally:
            log = self.log() if self.log_path.exists() else ""
            if not self.allow_crash and CRASH_RE.search(log):
                problems.append("crash or sanitizer report in the log:\n"
                                + "\n".join(l for l in log.splitlines()
                                            if CRASH_RE.search(l)))
            if os.environ.get("SMTPAUTH_E2E_KEEP"):
                print("kept", self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
        return problems

    # -- log

    def log(self):
        return self.log_path.read_bytes().decode("utf-8", "replace")

    def log_bytes(self):
        return self.log_path.read_bytes()

    def wait_log(self, pattern, timeout=10, after=0):
        """The first match of pattern in the log at or after offset `after`."""
        rx = re.compile(pattern)

        def find():
            return rx.search(self.log(), after)
        return wait_until(find, T(timeout), what="log line /%s/" % pattern)

    def queue_pid(self):
        pids = re.findall(r"started queue pid=(\d+)", self.log())
        assert pids, self.log()
        return int(pids[-1])

    def worker_pids(self):
        pids = {}
        for i, p in re.findall(r"started worker=(\d+) pid=(\d+)", self.log()):
            pids[int(i)] = int(p)
        return pids

    # -- clients

    def connect(self, greet=True, timeout=10, host="127.0.0.1", port=None,
                source=None, proxy=None):
        c = Client(port or self.port, host=host, timeout=timeout, greet=greet,
                   source=source, proxy=proxy)
        self.clients.append(c)
        return c

    def send_message(self, mail_from, rcpts, data, helo="client.test",
                     mail_params=""):
        """One transaction on a new connection; returns the queue id."""
        with self.connect() as c:
            c.ehlo(helo)
            r = c.cmd("MAIL FROM:<%s>%s" % (mail_from, mail_params))
            assert r.code == 250, r
            for rc in rcpts:
                r = c.cmd("RCPT TO:<%s>" % rc)
                assert r.code == 250, r
            r = c.cmd("DATA")
            assert r.code == 354, r
            c.send(dot_stuff(data) + b".\r\n")
            r = c.reply()
            m = QUEUE_ID_RE.match(r.line)
            assert m, r
            assert c.cmd("QUIT").code == 221
            return m.group(1)

    # -- Maildir

    def maildir(self, addr):
        local, domain = addr.rsplit("@", 1)
        return self.mailbox_root / domain / local

    def message_files(self, addr):
        new = self.maildir(addr) / "new"
        try:
            names = sorted(os.listdir(new))
        except FileNotFoundError:
            return []
        return [new / n for n in names]

    def messages(self, addr):
        return [p.read_bytes() for p in self.message_files(addr)]

    def wait_messages(self, addr, n, timeout=10):
        """Wait for at least n messages in addr's Maildir; return them all."""
        wait_until(lambda: len(self.message_files(addr)) >= n, T(timeout),
                   what="%d message(s) for %s (have %d)"
                   % (n, addr, len(self.message_files(addr))))
        return self.messages(addr)

    def wait_queue_id(self, addr, qid, timeout=10):
        """The delivered message of addr with queue id qid."""
        def find():
            for m in self.messages(addr):
                if received_id(m) == qid:
                    return m
            return None
        return wait_until(find, T(timeout),
                          what="message %s for %s" % (qid, addr))

    def queued(self, parts=False):
        """What spool/queue holds but recycled files (free.K), removed
        ones waiting to become one (ID.dead) and, unless parts, messages
        being received or left half-received by a crash (ID.part: never
        delivered, removed by the queue's clean-up)."""
        qdir = self.spool / "queue"
        return sorted(n for n in os.listdir(qdir)
                      if not n.startswith("free.") and
                      not n.endswith(".dead") and
                      (parts or not n.endswith(".part")))

    def wait_queue_empty(self, timeout=10):
        wait_until(lambda: not self.queued(), T(timeout),
                   what="an empty spool/queue (has %s)" % self.queued())
