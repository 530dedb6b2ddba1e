"""The milter client: a milter double for the edge cases (modifications,
silence, death), and the real rspamd and OpenDKIM."""
import os
import re
import shutil
import signal
import smtplib
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import dkim
import pytest

from e2elib import BUILD, T, crlf, free_port, wait_until
from milterlib import Milter, hdr
from test_auth import PASSWORD, auth_server
from test_relay import Sink
from test_tls import ctx_for, pki  # noqa: F401 - the session-wide test CA

MSG = crlf("From: a@example.com\nTo: user@example.org\nSubject: hi\n"
           "\nbody line\n")


@pytest.fixture
def milter():
    made = []

    def make(**kw):
        m = Milter(**kw)
        made.append(m)
        return m
    yield make
    for m in made:
        m.stop()


def send(srv, msg=MSG, rcpts=("user@example.org",)):
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=T(20)) as s:
        return s.sendmail("a@example.com", list(rcpts), msg)


def test_headers_and_body_changes_reach_the_mailbox(server, milter):
    def on(cmd, data):
        if cmd == "E":
            return [("h", hdr("X-Added", "yes")),
                    ("i", hdr("X-Top", "first", 0)),
                    ("m", hdr("Subject", "changed\n\tfolded", 1)),
                    ("b", b"new body\r\nsecond line\r\n"),
                    ("a", b"")]
    m = milter(on=on)
    srv = server(extra=["milter %s" % m.spec])
    assert send(srv) == {}
    [raw] = srv.wait_messages("user@example.org", 1)
    assert raw.index(b"X-Top: first") < raw.index(b"Received:")
    assert b"Subject: changed\n\tfolded\n" in raw
    assert b"Subject: hi" not in raw
    assert b"X-Added: yes\n\nnew body\nsecond line\n" in raw
    cmds = m.cmds()
    for c in "OCHMRTLNBE":
        assert c in cmds, (c, cmds)
    assert m.macros["{client_addr}"] == "127.0.0.1"
    assert m.macros["{rcpt_addr}"] == "user@example.org"
    assert m.macros["j"] == srv.hostname
    assert len(m.macros["i"]) == 16


def test_reply_text_of_the_milter_reaches_the_client(server, milter):
    def on(cmd, data):
        if cmd == "R" and b"other" in data:
            return [("y", b"550 5.7.1 no thanks, says the milter\0")]
    m = milter(on=on)
    srv = server(extra=["milter %s" % m.spec])
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=T(20)) as s:
        s.ehlo()
        s.mail("a@example.com")
        code, text = s.rcpt("other@example.org")
        assert (code, text) == (550, b"5.7.1 no thanks, says the milter")
        assert s.rcpt("user@example.org")[0] == 250


def test_malformed_reply_text_is_the_default_action(server, milter):
    def on(cmd, data):
        if cmd == "M":
            return [("y", b"250 fine\r\nbogus\0")]
    m = milter(on=on)
    srv = server(extra=["milter %s" % m.spec])
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=T(20)) as s:
        s.ehlo()
        code, text = s.mail("a@example.com")
        assert code == 451, text
    srv.wait_log(r"milter=\S+ failed reason=bad-reply action=tempfail")


def test_silent_milter_gives_the_default_action_in_time(server, milter):
    m = milter(on=lambda cmd, data: "hang" if cmd == "M" else None)
    srv = server(extra=["milter %s command-timeout=1" % m.spec])
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=T(20)) as s:
        s.ehlo()
        t0 = time.monotonic()
        code, text = s.mail("a@example.com")
        took = time.monotonic() - t0
        assert code == 451 and b"4.3.5" in text, text
        assert 0.9 < took < T(3), took


def test_silent_milter_with_default_accept(server, milter):
    m = milter(on=lambda cmd, data: "hang" if cmd == "E" else None)
    srv = server(extra=["milter %s eom-timeout=1" % m.spec,
                        "milter-default-action accept"])
    assert send(srv) == {}
    [raw] = srv.wait_messages("user@example.org", 1)
    assert b"body line" in raw


def test_milter_dying_mid_message_loses_nothing_acknowledged(server, milter):
    m = milter(on=lambda cmd, data: "die" if cmd == "B" else None)
    srv = server(extra=["milter %s" % m.spec])
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=T(20)) as s:
        s.ehlo()
        s.mail("a@example.com")
        s.rcpt("user@example.org")
        code, text = s.data(MSG)
        assert code == 451 and b"4.3.5" in text, text
    time.sleep(0.3)
    assert not list((srv.spool / "queue").glob("*.msg"))
    assert not list((srv.mailbox_root).rglob("new/*"))


def test_no_milter_on_a_listener_that_says_none(server, milter):
    m = milter()
    srv = server(extra=["milter %s" % m.spec])
    srv.extra.append("milter none listen=127.0.0.1:%d" % srv.port)
    srv.write_config()
    srv.stop()
    srv.start()
    assert send(srv) == {}
    srv.wait_messages("user@example.org", 1)
    assert "M" not in m.cmds()


def test_down_milter_tempfails_mail(server):
    srv = server(extra=["milter inet:127.0.0.1:1 connect-timeout=1"])
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=T(20)) as s:
        assert s.ehlo()[0] == 250
        code, text = s.mail("a@example.com")
        assert code == 451, text


def test_quarantine_is_a_header(server, milter):
    m = milter(on=lambda cmd, data: [("q", b"looks odd\0"), ("c", b"")]
               if cmd == "E" else None)
    srv = server(extra=["milter %s" % m.spec])
    assert send(srv) == {}
    [raw] = srv.wait_messages("user@example.org", 1)
    assert b"X-Quarantined: looks odd" in raw
    srv.wait_log(r"quarantine reason=\"looks odd\"")


# -- real milters, started privately: rspamd and OpenDKIM

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


class Daemon:
    """A program in the foreground in its own process group, its output
    in a log file, stopped by its PID (SIGTERM, then SIGKILL)."""

    def __init__(self, argv, log):
        self.log = log
        with open(log, "ab") as f:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=f, stderr=f,
                                         start_new_session=True)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(T(10))
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def wait_milter(port, daemon, timeout):
    """Until the milter on port answers an OPTNEG (its workers are up)."""
    def answers():
        assert daemon.proc.poll() is None, daemon.log.read_text()[-3000:]
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as c:
                c.settimeout(2)
                c.sendall(struct.pack("!IcIII", 13, b"O", 6, 0x33, 0x1fffff))
                return len(c.recv(64)) >= 17
        except OSError:
            return False
    wait_until(answers, timeout, interval=0.2, what="milter on %d" % port)


RSPAMD_CONF = """\
.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
}
logging {
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    level = "info";
}
worker "rspamd_proxy" {
    bind_socket = "127.0.0.1:%d";
    milter = yes;
    timeout = 30s;
    count = 1;
    upstream "local" {
        default = yes;
        self_scan = yes;
    }
}
"""


@pytest.fixture(scope="module")
def rspamd(tmp_path_factory):
    """One private rspamd for the module: its milter proxy (scanning
    itself, no normal worker, no redis) on a loopback port, every file in
    a temp dir, DNS to a closed loopback port; milter_headers adds its
    result headers to every message, local or not."""
    d = tmp_path_factory.mktemp("rspamd")
    for sub in ("local.d", "db", "run", "log"):
        (d / sub).mkdir()
    port = free_port()
    (d / "rspamd.conf").write_text(RSPAMD_CONF % port)
    (d / "local.d" / "options.inc").write_text(
        'dns { nameserver = ["127.0.0.1:%d"]; timeout = 0.2s; '
        'retransmits = 1; }\n' % free_port())
    (d / "local.d" / "milter_headers.conf").write_text(
        'use = ["x-spamd-result", "x-rspamd-server", "x-spam-status"];\n'
        "skip_local = false;\nskip_authenticated = false;\n")
    argv = ["rspamd", "-f", "-u", "root", "-g", "root",
            "-c", str(d / "rspamd.conf")]
    for var, sub in (("LOCAL_CONFDIR", ""), ("DBDIR", "db"),
                     ("RUNDIR", "run"), ("LOGDIR", "log")):
        argv += ["--var", "%s=%s" % (var, d / sub)]
    daemon = Daemon(argv, d / "stderr.log")
    try:
        wait_milter(port, daemon, T(60))
        yield "inet:127.0.0.1:%d" % port
    finally:
        daemon.stop()


def message(subject, body, sender="a@example.com",
            rcpt="user@example.org"):
    return crlf("From: %s\nTo: %s\nSubject: %s\n"
                "Date: Wed, 02 Dec 2026 16:00:00 +0000\n"
                "Message-ID: <%s@example.com>\n\n%s\n"
                % (sender, rcpt, subject, subject.replace(" ", "."), body))


def test_rspamd_rejects_gtube_with_its_own_reply(server, rspamd):
    srv = server(extra=["milter %s eom-timeout=30" % rspamd])
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=T(60)) as s:
        s.ehlo()
        s.mail("a@example.com")
        s.rcpt("user@example.org")
        code, text = s.data(message("gtube", GTUBE))
        assert (code, text) == (554, b"5.7.1 Gtube pattern")
        # The session goes on: a clean message on the same connection.
        assert s.sendmail("a@example.com", ["user@example.org"],
                          message("clean after gtube", "hello")) == {}
    [raw] = srv.wait_messages("user@example.org", 1)
    assert b"Subject: clean after gtube" in raw
    assert GTUBE.encode() not in raw
    srv.wait_log(r'milter=\S+ reject cmd=DATA reply="554 5\.7\.1 Gtube '
                 r'pattern"')


def test_rspamd_adds_its_headers_to_a_clean_message(server, rspamd):
    srv = server(extra=["milter %s eom-timeout=30" % rspamd])
    assert send(srv, message("clean one", "hello there")) == {}
    [raw] = srv.wait_messages("user@example.org", 1)
    head, body = raw.split(b"\n\n", 1)
    assert body == b"hello there\n"
    assert re.search(rb"^X-Spam-Status: No, score=-?\d", head, re.M), head
    assert re.search(rb"^X-Rspamd-Server: \S", head, re.M), head
    # A folded header of rspamd's, with its symbols (CRLF in the file
    # is LF in the Maildir).
    m = re.search(rb"^X-Spamd-Result: default: False \[[^\n]*\n"
                  rb"((?:\t[^\n]*\n)+)", head + b"\n", re.M)
    assert m and b"MIME_GOOD" in m.group(1), head
    assert head.index(b"Received:") < head.index(b"X-Spamd-Result:")


# OpenDKIM signs mail it sees as from an internal host or an authenticated
# client: InternalHosts is an address no test uses, so only the
# {auth_authen} macro smtpauthd sends makes it sign.
OPENDKIM_CONF = """\
Socket inet:%(port)d@127.0.0.1
Mode s
Domain example.org
Selector sel
KeyFile %(dir)s/sel.private
Canonicalization relaxed/relaxed
Background no
Syslog no
PidFile %(dir)s/opendkim.pid
InternalHosts 192.0.2.1
UserID root
"""


def safe_base():
    """A folder no other user may write to, nor any folder above it:
    the build directory, unless the checkout is under /tmp (a fresh clone
    in mktemp -d), then /run (we are root there)."""
    for base in (BUILD.resolve(), Path("/run")):
        if os.access(base, os.W_OK) and not any(
                os.stat(a).st_mode & 0o002 for a in [base, *base.parents]):
            return base
    raise AssertionError("no folder for OpenDKIM's configuration that "
                         "only we may write")


@pytest.fixture
def opendkim():
    # OpenDKIM refuses a config file on a path others may write: /tmp is
    # one, so the build directory only when it is not under /tmp.
    d = Path(tempfile.mkdtemp(prefix="e2e-opendkim-", dir=str(safe_base())))
    daemon = None
    try:
        subprocess.run(["opendkim-genkey", "-D", str(d), "-d", "example.org",
                        "-s", "sel"], check=True, timeout=T(60))
        port = free_port()
        (d / "opendkim.conf").write_text(OPENDKIM_CONF
                                         % {"port": port, "dir": d})
        daemon = Daemon(["opendkim", "-f", "-x", str(d / "opendkim.conf")],
                        d / "stderr.log")
        wait_milter(port, daemon, T(30))
        # The public key of the TXT record the zone would publish.
        txt = "".join(re.findall(r'"([^"]*)"', (d / "sel.txt").read_text()))
        yield "inet:127.0.0.1:%d" % port, txt.encode()
    finally:
        if daemon is not None:
            daemon.stop()
        shutil.rmtree(d)


def test_opendkim_signs_mail_of_an_authenticated_user(server, pki, opendkim):
    spec, txt = opendkim
    sink = Sink().start()
    try:
        srv = auth_server(server, pki, extra=[
            "milter %s" % spec, "relay-host 127.0.0.1:%d" % sink.port,
            "relay-tls none"])
        msg = message("signed by opendkim", "a line\n\n..a dot line\nend",
                      sender="user@example.org", rcpt="bob@relay.example")
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=T(20)) as s:
            s.starttls(context=ctx_for(pki))
            s.login("user@example.org", PASSWORD)
            assert s.sendmail("user@example.org",
                              ["other@example.org", "bob@relay.example"],
                              msg) == {}
        # Not authenticated, same client address: no signature.
        assert send(srv, message("not signed", "hi",
                                 rcpt="other@example.org"),
                    rcpts=("other@example.org",)) == {}
        raws = srv.wait_messages("other@example.org", 2)
        [(_, rcpts, relayed)] = sink.wait(1)
    finally:
        sink.stop()
    assert rcpts == ["bob@relay.example"]
    [signed] = [r for r in raws if b"Subject: signed by opendkim" in r]
    [plain] = [r for r in raws if b"Subject: not signed" in r]
    assert b"DKIM-Signature:" not in plain
    assert signed.count(b"DKIM-Signature:") == 1
    sig = re.search(rb"^DKIM-Signature:.*?(?=^\S)", signed,
                    re.M | re.S).group(0)
    assert b"d=example.org" in sig and b"s=sel" in sig, sig

    def dns(name, timeout=5):
        return txt if name == b"sel._domainkey.example.org." else None
    # The relayed copy as the next hop got it, and the stored one (the
    # Maildir has LF: CRLF again for the verifier): both verify, body and
    # signed headers.
    assert relayed.count(b"DKIM-Signature:") == 1
    assert dkim.verify(relayed, dnsfunc=dns), relayed
    wire = signed.replace(b"\n", b"\r\n")
    assert dkim.verify(wire, dnsfunc=dns), wire
    # A changed body breaks the signature (the check is real).
    assert not dkim.verify(relayed.replace(b"a line", b"b line"),
                           dnsfunc=dns)
