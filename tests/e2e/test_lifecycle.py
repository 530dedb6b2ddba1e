"""The server as a set of processes: crashes, restarts, reload, stop, and
the configuration check."""
import os
import re
import signal
import subprocess
import time

import pytest

from e2elib import (FAKE_HASH, SMTPAUTHD, Closed, T, as_stored, crlf,
                    free_port, split_delivered, wait_until)
from test_auth import PASSWORD, USERS, TLSClient, hashed, plain
from test_tls import pki  # noqa: F401 - the session-wide test CA


def _deliver_raw(srv, rcpt, msg):
    """One message on a new connection; the queue id from the 250."""
    return srv.send_message("s@example.com", [rcpt], msg)


def test_kill9_after_250_loses_nothing(server):
    """INTERNALS.md: 250 is sent only once the message is committed; a
    crash of everything right after it loses nothing and the restarted
    server delivers the message exactly once."""
    srv = server()
    queue = srv.queue_pid()
    os.kill(queue, signal.SIGSTOP)
    try:
        msg = crlf("Subject: durable\n\nsurvives kill -9\n")
        qid = _deliver_raw(srv, "user@example.org", msg)
        # One file: the envelope, an empty line, the message.
        spooled = (srv.spool / "queue" / (qid + ".msg")).read_bytes()
        head, _, body = spooled.partition(b"\n\n")
        assert b"\nid %s\n" % qid.encode() in head
        assert b"\nlocal user@example.org" in head
        assert body.startswith(b"Received: ") and body.endswith(msg)
        assert not (srv.spool / "queue" / (qid + ".env")).exists()
        assert srv.messages("user@example.org") == []
    finally:
        srv.kill_group()        # SIGKILL to all, the stopped queue included
    assert srv.messages("user@example.org") == []
    assert (srv.spool / "queue" / (qid + ".msg")).is_file()

    mark = len(srv.log())
    srv.start()
    [raw] = srv.wait_messages("user@example.org", 1)
    d = split_delivered(raw)
    assert d["body"] == as_stored(msg)
    assert re.search(r"\tby mx\.test with ESMTP id %s\n" % qid,
                     raw.decode())
    srv.wait_queue_empty()
    # Give a duplicate delivery every chance to show up.
    time.sleep(0.5)
    assert len(srv.messages("user@example.org")) == 1
    assert len(re.findall(r"delivery id=%s to=<user@example.org> "
                          r"result=delivered" % qid, srv.log()[mark:])) == 1


def test_killed_worker_is_restarted(server):
    srv = server()
    srv.allow_crash = True      # "killed by signal 9" is what we do here
    workers = srv.worker_pids()
    assert sorted(workers) == [0, 1], srv.log()
    victim = workers[0]
    mark = len(srv.log())
    os.kill(victim, signal.SIGKILL)
    m = srv.wait_log(r"started worker=0 pid=(\d+)", timeout=15, after=mark)
    assert int(m.group(1)) != victim
    assert re.search(r"worker pid=%d killed by signal 9" % victim, srv.log())
    wait_until(lambda: not os.path.exists("/proc/%d/status" % victim) or
               "\nState:\tZ" in open("/proc/%d/status" % victim).read(),
               T(5), what="the old worker to be gone")
    # Service goes on, whichever worker the kernel hands a connection to.
    msg = crlf("Subject: after restart\n\nstill here\n")
    for _ in range(10):
        _deliver_raw(srv, "user@example.org", msg)
    msgs = srv.wait_messages("user@example.org", 10)
    assert len(msgs) == 10
    assert all(split_delivered(m)["body"] == as_stored(msg) for m in msgs)


def test_restart_cleans_what_a_crash_left_in_queue(server):
    """INTERNALS.md, delivery step 5: a crash between the unlink of ID.msg
    and that of ID.env leaves the queue's envelope alone; the next start
    removes it.  A spool file whose envelope has no end is logged and kept
    (never guessed at), and does not stop the others."""
    srv = server()
    srv.stop()
    q = srv.spool / "queue"
    orphan = q / "00000000000000AA.env"
    orphan.write_text("v 1\nid 00000000000000AA\ntime 1\nip 192.0.2.1\n"
                      "helo h\nfrom \nbody 7BIT\nsmtputf8 0\n"
                      "local user@example.org\n")
    broken = q / "00000000000000BB.msg"
    broken.write_bytes(b"v 1\nid 00000000000000BB\n")
    mark = len(srv.log())
    srv.start()
    srv.wait_log(r"cleanup remove=queue/00000000000000AA\.env", after=mark)
    srv.wait_log(r"id=00000000000000BB cannot read it: no end of the "
                 r"envelope", after=mark)
    assert not orphan.exists() and broken.exists()
    _deliver_raw(srv, "user@example.org", crlf("Subject: q\n\nq\n"))
    srv.wait_messages("user@example.org", 1)
    broken.unlink()


def _spool_file(qid, subject, seal=True):
    """A spool file as a worker writes it (INTERNALS.md, "The seal")."""
    import hashlib
    rest = ("v 1\nid %s\ntime 1700000000\nip 192.0.2.1\nhelo h\n"
            "from s@example.com\nbody 7BIT\nsmtputf8 0\n"
            "local user@example.org\n\nSubject: %s\r\n\r\n%s\r\n" %
            (qid, subject, subject)).encode()
    if not seal:
        return rest
    head = b"seal %016x %s\n" % (len(rest),
                                   hashlib.sha256(rest).hexdigest().encode())
    assert len(head) == 87
    return head + rest


def test_a_torn_spool_file_is_set_aside_never_delivered(server):
    """What a power cut before a commit's syncfs may leave (spool-sync
    filesystem): an ID.msg whose data did not all reach the disk, or a
    recycled file still holding the old message.  Its seal does not match:
    never acknowledged, so the queue sets it aside as ID.torn and delivers
    the rest, sealed or (written by an older version) not."""
    srv = server()
    srv.stop()
    q = srv.spool / "queue"
    st = q.stat()
    files = {
        "00000000000000F1": _spool_file("00000000000000F1", "sealed"),
        # One octet of the body changed after the seal.
        "00000000000000F2": _spool_file("00000000000000F2",
                                        "torn").replace(b"torn\r\n\r\n",
                                                        b"tOrn\r\n\r\n"),
        # Cut short.
        "00000000000000F3": _spool_file("00000000000000F3", "short")[:-4],
        # A recycled file's old message, whole and sealed, of another id.
        "00000000000000F4": _spool_file("00000000000000F9", "recycled"),
        "00000000000000F5": _spool_file("00000000000000F5", "unsealed",
                                        seal=False),
    }
    for qid, data in files.items():
        (q / (qid + ".msg")).write_bytes(data)
        os.chown(q / (qid + ".msg"), st.st_uid, st.st_gid)
    mark = len(srv.log())
    srv.start()
    for qid in ("00000000000000F2", "00000000000000F3", "00000000000000F4"):
        srv.wait_log(r"id=%s torn: .*never acknowledged, set aside as "
                     r"queue/%s\.torn" % (qid, qid), after=mark)
        assert (q / (qid + ".torn")).exists()
        assert not (q / (qid + ".msg")).exists()
    msgs = srv.wait_messages("user@example.org", 2)
    subjects = sorted(re.search(rb"Subject: (\w+)", m).group(1).decode()
                      for m in msgs)
    assert subjects == ["sealed", "unsealed"], subjects
    wait_until(lambda: not [f for f in os.listdir(q) if f.endswith(".msg")],
               T(30), what="no message left in queue/")
    # Still only those two: the torn ones stay aside.
    assert len(srv.message_files("user@example.org")) == 2


def test_start_empties_an_older_versions_incoming(server):
    """Versions up to 0.11.0 received into spool/incoming/ (INTERNALS.md,
    "Spool layout"): a spool they left, with recycled files, a removed
    message's file and a half-received one there, is emptied by the
    queue's clean-up at start, and nothing in it is delivered.  A
    half-received message of this version (queue/ID.part) is never
    delivered either, and is removed once it is old."""
    srv = server()
    srv.stop()
    inc = srv.spool / "incoming"
    inc.mkdir(mode=0o700)
    st = (srv.spool / "queue").stat()
    os.chown(inc, st.st_uid, st.st_gid)
    old = time.time() - 3 * 3600
    left = {"free.0": b"old", "free.17": b"old",
            "00000000000000CC.dead": b"v 1\nid 00000000000000CC\n\nx",
            "00000000000000DD.msg": b"v 1\nid 00000000000000DD\n"}
    for name, data in left.items():
        (inc / name).write_bytes(data)
        os.chown(inc / name, st.st_uid, st.st_gid)
        os.utime(inc / name, (old, old))
    part = srv.spool / "queue" / "00000000000000EE.part"
    part.write_bytes(b"v 1\nid 00000000000000EE\ntime 1\nip 192.0.2.1\n"
                     b"helo h\nfrom \nbody 7BIT\nsmtputf8 0\n"
                     b"local user@example.org\n\nSubject: half\r\n")
    os.chown(part, st.st_uid, st.st_gid)
    os.utime(part, (old, old))
    mark = len(srv.log())
    srv.start()
    srv.wait_log(r"cleanup remove=queue/00000000000000EE\.part", after=mark)
    wait_until(lambda: not list(inc.iterdir()), T(10),
               what="an empty incoming/ (has %s)" % sorted(os.listdir(inc)))
    assert not part.exists()
    _deliver_raw(srv, "user@example.org", crlf("Subject: q\n\nq\n"))
    [raw] = srv.wait_messages("user@example.org", 1)
    assert b"half" not in raw


def test_second_instance_on_the_same_address_is_refused(server):
    """Listeners use SO_REUSEPORT (a socket per worker), which would let a
    second smtpauthd started by mistake on the same address take part of
    the connections.  It must refuse to start instead, and the first goes
    on serving every connection."""
    a = server()
    b = server(start=False)
    b.port = a.port
    b.write_config()
    r = subprocess.run([str(SMTPAUTHD), "-d", "-f", str(b.conf_path)],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=T(10))
    assert r.returncode != 0
    assert re.search(r"listen 127\.0\.0\.1:%d: Address already in use "
                     r"\(is another smtpauthd running\?\)" % a.port,
                     r.stderr), r.stderr
    for _ in range(20):
        with a.connect() as c:
            assert c.greeting.code == 220


def test_killed_queue_is_restarted(server):
    srv = server()
    srv.allow_crash = True
    victim = srv.queue_pid()
    mark = len(srv.log())
    os.kill(victim, signal.SIGKILL)
    m = srv.wait_log(r"started queue pid=(\d+)", timeout=15, after=mark)
    assert int(m.group(1)) != victim
    _deliver_raw(srv, "user@example.org", crlf("Subject: q\n\nq\n"))
    srv.wait_messages("user@example.org", 1)


def test_sighup_reloads_users(server):
    srv = server()
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@example.com>").code == 250
        r = c.cmd("RCPT TO:<newcomer@example.org>")
        assert r.line == "550 5.1.1 Recipient unknown", r
    srv.add_user("newcomer@example.org")
    mark = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    srv.wait_log(r"reloaded users=4", after=mark)

    def accepted(strict):
        replies = []
        try:
            with srv.connect() as c:
                for line in ("EHLO reload.test", "MAIL FROM:<s@example.com>",
                             "RCPT TO:<newcomer@example.org>"):
                    replies.append(c.cmd(line))
                    if replies[-1].code != 250:
                        break
        except (Closed, OSError) as e:
            replies.append(e)
        ok = [getattr(r, "code", None) for r in replies] == [250, 250, 250]
        # A session the old generation took just before the reload may be
        # told "421 4.3.2 Service shutting down" and closed: try again.
        assert ok or not strict, replies
        return ok
    wait_until(lambda: accepted(False), T(10), interval=0.1,
               what="the new user to be accepted")
    # From now on, every session knows the user (the old generation has
    # stopped taking connections).
    for _ in range(5):
        assert accepted(True)
    msg = crlf("Subject: welcome\n\nhello newcomer\n")
    _deliver_raw(srv, "newcomer@example.org", msg)
    [raw] = srv.wait_messages("newcomer@example.org", 1)
    assert split_delivered(raw)["body"] == as_stored(msg)
    # A bad file on reload keeps the running configuration.
    srv.conf_path.write_text(srv.config_text() + "bogus-directive 1\n")
    mark = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    srv.wait_log(r"reload failed", after=mark)
    assert srv.running()
    _deliver_raw(srv, "newcomer@example.org", msg)
    srv.wait_messages("newcomer@example.org", 2)


def test_reload_with_relative_paths(server, pki):
    """Relative paths in the config start from the file's folder at start
    and at every reload (the server runs from another folder, -f relative);
    a reload that cannot work keeps the running generation serving."""
    sport = free_port()
    srv = server(relative=True, start=False, users=list(USERS), extra=[
        "listen 127.0.0.1:%d smtps" % sport, "tls-cert tls/ec.pem",
        "tls-key tls/ec.key", "auth-failure-delay 10"])
    srv.smtps_port = sport
    (srv.dir / "tls").mkdir()
    for name in ("ec.pem", "ec.key"):
        (srv.dir / "tls" / name).write_bytes((pki / name).read_bytes())

    def write_users(users):
        # One password for all: the hash of PASSWORD.
        srv.users_path.write_text("".join(
            "%s:%s\n" % (u, hashed("user@example.org")) for u in users))
    write_users(USERS)
    srv.start()
    assert "\nusers users\nmailbox-root mail\nspool spool\n" in \
        srv.conf_path.read_text()

    def logs_in(user):
        try:
            c = TLSClient(srv, pki, implicit=True)
        except (OSError, AssertionError):
            return False
        try:
            return c.cmd("AUTH PLAIN " + plain(user, PASSWORD)) \
                .startswith("235")
        except OSError:
            return False
        finally:
            c.close()
    assert logs_in("user@example.org")

    # The reload reads the same relative names and takes effect.
    write_users(list(USERS) + ["newcomer@example.org"])
    mark = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    srv.wait_log(r"reloaded users=4", after=mark)
    wait_until(lambda: logs_in("newcomer@example.org"), T(10),
               interval=0.1, what="the new user over TLS after the reload")
    time.sleep(0.5 * T(1))
    assert srv.running()
    assert not re.search(r"exited with status [1-9]", srv.log()[mark:]), \
        srv.log()[mark:]

    # Reloads that cannot work are refused: the running one serves on.
    text = srv.config_text()
    for bad in (text.replace("tls/ec.key", "tls/missing.key"),
                text.replace("spool spool", "spool users/spool")):
        assert bad != text
        srv.conf_path.write_text(bad)
        mark = len(srv.log())
        os.kill(srv.proc.pid, signal.SIGHUP)
        srv.wait_log(r"reload failed, keeping the running configuration",
                     after=mark)
        assert logs_in("newcomer@example.org")
        assert "started worker" not in srv.log()[mark:]
    assert srv.running()


def test_sigterm_stops_cleanly(server):
    srv = server()
    idle = srv.connect()
    idle.ehlo()
    pids = srv.group_pids()
    assert len(pids) >= 4, pids     # parent, 2 workers, queue
    os.kill(srv.proc.pid, signal.SIGTERM)
    # An idle session is told, then closed.
    idle.settimeout(T(10))
    r = idle.reply()
    assert r.code == 421, r
    assert idle.read_until_closed() == b""
    rc = srv.proc.wait(T(15))
    assert rc == 0, srv.log()
    assert srv.group_pids(include_zombies=True) == []
    assert "parent: stopped" in srv.log()


def _check(conf_path):
    return subprocess.run([str(SMTPAUTHD), "-n", "-f", str(conf_path)],
                          capture_output=True, text=True, timeout=T(10))


def test_config_check_good(server):
    srv = server(start=False, extra=[
        "max-message-size 50M", "max-recipients 50", "max-errors 5",
        "command-timeout 60", "data-timeout 60", "max-sessions 10",
        "max-sessions-per-ip 5", "auth-max-failures 3", "auth-window 60",
        "auth-ban 60", "auth-failure-delay 0", "auth-over-plaintext no",
        "sender-login-match yes", "auth-exempt 10.0.0.0/8 2001:db8::/32 "
        "192.0.2.1", "relay-host [2001:db8::25]:587",
        "listen 127.0.0.1:1 submission   # trailing comment",
        "# a comment line", ""])
    p = _check(srv.conf_path)
    assert p.returncode == 0, p.stderr
    # The check neither starts a server nor creates the spool.
    assert not srv.spool.exists()


# (directives added to a good file, the line they land on is reported)
BAD_LINES = [
    ("frobnicate yes", "unknown directive"),
    ("workers", "missing argument"),
    ("workers 0", None),
    ("workers 257", None),
    ("workers two", None),
    ("workers -1", None),
    ("workers 2 3", None),
    ("max-message-size 0", None),
    ("max-message-size 10X", None),
    ("max-recipients 0", None),
    ("command-timeout 0", None),
    ("auth-over-plaintext maybe", None),
    ("listen 127.0.0.1 smtp", None),
    ("listen 127.0.0.1:0 smtp", None),
    ("listen 127.0.0.1:70000 smtp", None),
    ("listen 127.0.0.1:2525 pop3", None),
    ("listen ::1:2525 smtp", None),
    ("listen 127.0.0.1:2525 smtp proxyy", None),
    # Whoever may send the header could claim any address.
    ("listen 127.0.0.1:2525 smtp proxy",
     "listen 127.0.0.1:2525 smtp proxy needs proxy-from"),
    ("proxy-from 127.0.0.1/33", None),
    ("listen localhost:2525 smtp", None),
    ("hostname bad_host!name", None),
    ("local-domains -bad-", None),
    ("auth-exempt 10.0.0.0/33", None),
    ("relay-host [::1", None),
    ("spool /tmp/other-spool", "already given"),
    ("hostname a.test", "already given"),
    ("Workers 2", "unknown directive"),
    ("workers 2\x01", "control character"),
]


@pytest.mark.parametrize("line,why", BAD_LINES,
                         ids=[repr(b[0]) for b in BAD_LINES])
def test_config_check_bad_line(server, line, why):
    srv = server(start=False, workers=None)
    good = srv.config_text()
    text = good + line + "\n"
    srv.conf_path.write_text(text)
    lineno = text.count("\n")
    p = _check(srv.conf_path)
    assert p.returncode == 1, (line, p.stderr)
    prefix = "%s:%d: " % (srv.conf_path, lineno)
    assert p.stderr.startswith(prefix), (line, p.stderr)
    # By default the reason names the directive.
    assert (why or line.split()[0] + ":") in p.stderr, p.stderr


def test_config_check_bad_line_in_the_middle(server):
    srv = server(start=False, workers=None)
    lines = srv.config_text().splitlines()
    lines.insert(3, "workers 0")
    srv.conf_path.write_text("\n".join(lines) + "\n")
    p = _check(srv.conf_path)
    assert p.returncode == 1
    assert p.stderr.startswith("%s:4: " % srv.conf_path), p.stderr


def test_config_check_unknown_user(server):
    srv = server(start=False, workers=None)
    lines = [l for l in srv.config_text().splitlines()
             if not l.startswith("user ")]
    lines.append("user smtpauth-no-such-user")
    srv.conf_path.write_text("\n".join(lines) + "\n")
    p = _check(srv.conf_path)
    assert p.returncode == 1, p.stderr
    assert ("%s:%d: no such user smtpauth-no-such-user"
            % (srv.conf_path, len(lines))) in p.stderr, p.stderr
    assert "configuration OK" not in p.stderr


# Users lines (after a good first one) whose hash crypt(3) cannot use: the
# first three the server's own load finds, the last two only -n's crypt.
BAD_HASHES = [
    ("", "empty hash"),
    ("*", "hash not usable by crypt(3)"),
    ("!" + FAKE_HASH, "hash not usable by crypt(3)"),
    (FAKE_HASH[:-6], "hash not usable by crypt(3)"),
    ("$y$j9T$abc$def", "hash not usable by crypt(3)"),
]


@pytest.mark.parametrize("hash,why", BAD_HASHES,
                         ids=["empty", "star", "bang", "truncated",
                              "mangled"])
def test_config_check_unusable_hash(server, hash, why):
    srv = server(start=False, workers=None)
    srv.users_path.write_text("user@example.org:%s\nbad@example.org:%s\n"
                              % (FAKE_HASH, hash))
    p = _check(srv.conf_path)
    assert p.returncode == 1, p.stderr
    assert ("%s:2: bad@example.org: %s" % (srv.users_path, why)
            in p.stderr), p.stderr
    assert "configuration OK" not in p.stderr


def test_unusable_hashes_counted_by_the_server(server):
    srv = server(start=False)
    srv.users_path.write_text("user@example.org:%s\nempty@example.org:\n"
                              "locked@example.org:*\n" % FAKE_HASH)
    srv.start()
    srv.wait_log(r"users loaded=3 bad=2")
    assert ("%s:3: locked@example.org: hash not usable" % srv.users_path
            in srv.log())
    # The account is still there for mail; only its logins are refused.
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@example.com>").code == 250
        assert c.cmd("RCPT TO:<locked@example.org>").code == 250


# Whole-file rules are reported as "FILE: reason", without a line.
def _drop(prefix):
    def edit(lines):
        return [l for l in lines if not l.startswith(prefix)]
    return edit


BAD_FILES = [
    ("no listen", _drop("listen ")),
    ("no spool", _drop("spool ")),
    ("local-domains without mailbox-root", _drop("mailbox-root ")),
    ("local-domains without users", _drop("users ")),
    ("tls-cert without tls-key", lambda l: l + ["tls-cert /nonexistent.pem"]),
    ("tls-key without tls-cert", lambda l: l + ["tls-key /nonexistent.key"]),
    ("smtps without tls-cert", lambda l: l + ["listen 127.0.0.1:4650 smtps"]),
]


@pytest.mark.parametrize("name,edit", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_config_check_bad_file(server, name, edit):
    srv = server(start=False)
    srv.conf_path.write_text(
        "\n".join(edit(srv.config_text().splitlines())) + "\n")
    p = _check(srv.conf_path)
    assert p.returncode == 1, (name, p.stderr)
    assert p.stderr.startswith("%s: " % srv.conf_path), (name, p.stderr)


def test_config_check_missing_file(tmp_path):
    p = _check(tmp_path / "nonexistent.conf")
    assert p.returncode == 1
    assert str(tmp_path / "nonexistent.conf") in p.stderr


def test_bad_config_does_not_start(server):
    srv = server(start=False, extra=["workers 0"])
    p = subprocess.run([str(SMTPAUTHD), "-d", "-f", str(srv.conf_path)],
                       capture_output=True, text=True, timeout=T(10),
                       start_new_session=True)
    assert p.returncode == 1
    assert p.stderr.startswith("%s:" % srv.conf_path), p.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_children_that_cannot_start_make_the_server_exit(server):
    # Started as root with "user nobody", the parent can make the spool in
    # a directory that the children, once unprivileged, cannot enter:
    # every child fails at start.  The server must say so and exit 1, not
    # restart them forever.
    srv = server(start=False)
    os.chmod(srv.dir, 0o700)
    p = subprocess.Popen([str(SMTPAUTHD), "-d", "-f", str(srv.conf_path)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    srv.pgid = p.pid
    try:
        _, err = p.communicate(timeout=T(30))
    except subprocess.TimeoutExpired:
        srv.kill_group()
        pytest.fail("smtpauthd still restarting its children after %ss"
                    % T(30))
    assert p.returncode == 1, err
    assert "Permission denied" in err, err
    assert re.search(r"parent: (worker=\d+|queue|auth) failed to start "
                     r"\d+ times in a row .*giving up", err), err
    # Nothing is left running.
    wait_until(lambda: not srv.group_pids(), T(10),
               what="the children to be gone")
