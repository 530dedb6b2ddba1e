"""Moving a spool (issue 16): "smtpauthd export DIR" takes a stopped node's
queue, "smtpauthd import DIR" gives it to a running node, and "smtpauthd
drain" makes a running node stop taking sessions.  The mail is relayed to
an aiosmtpd sink (independent of smtpauthd) that is down while the mail is
moved: every message must reach it exactly once, also when the import is
killed at random points and run again."""
import os
import random
import re
import signal
import base64
import socket
import subprocess
import time

import pytest

from e2elib import SMTPAUTHD, Client, T, wait_until
from test_relay import (PASSWORD, SENDER, Sink, batch, ctl, relay_server,
                        start_server, subjects, submit)


def relay_to(sink, *more):
    return ["relay-host 127.0.0.1:%d" % sink.port, "relay-tls none",
            "retry-min 300"] + list(more)


def move(srv, cmd, directory):
    return subprocess.run([str(SMTPAUTHD), "-f", str(srv.conf_path), cmd,
                           str(directory)], capture_output=True, text=True,
                          timeout=T(60))


def deferred_node(server, sink, n, tag):
    """A node whose n messages for the sink (down) are all deferred, then
    killed with -9."""
    a = relay_server(server, extra=relay_to(sink))
    a.allow_crash = True
    submit(a, ["bob@relay.example"], batch(n, tag))
    wait_until(lambda: len(re.findall(r"result=deferred", a.log())) >= n,
               T(20), what="%d deferred attempts" % n)
    a.kill_group()
    assert len(list((a.spool / "queue").glob("*.msg"))) == n
    return a


def exactly_once(sink, n, tag):
    want = {"%s %d" % (tag, i) for i in range(n)}
    wait_until(lambda: set(subjects(sink)) >= want, T(30),
               what="all %d messages at the sink" % n)
    time.sleep(0.5)         # a second copy would come now
    got = subjects(sink)
    assert sorted(got) == sorted(want), "twice: %s" % sorted(
        s for s in set(got) if got.count(s) > 1)


def test_export_import_delivers_each_once(server, tmp_path):
    n = 20
    sink = Sink()
    try:
        a = deferred_node(server, sink, n, "moved")
        b = relay_server(server, extra=relay_to(sink))
        out = tmp_path / "export"
        r = move(a, "export", out)
        assert r.returncode == 0, r.stderr
        assert "export: %d messages to %s; the spool's queue is empty" % (
            n, out) in r.stdout
        assert not list((a.spool / "queue").glob("*.msg"))
        assert not (a.spool / "run" / "exporting").exists()
        files = sorted(out.glob("*.msg"))
        assert len(files) == n and (out / "COMPLETE").is_file()
        # The queue's delivery state travels at the head of each file.
        head = files[0].read_bytes().split(b"\n\n", 1)[0]
        assert re.search(rb"\nretry 1 \d+\n", head), head
        r = move(b, "import", out)
        assert r.returncode == 0, r.stderr
        assert "import: %d messages from %s" % (n, out) in r.stdout
        assert not list(out.glob("*.msg")) and not list(out.glob("*.importing"))
        assert len(list((b.spool / "queue").glob("*.msg"))) == n
        # Node 1 comes back with an empty queue: nothing of it is sent.
        start_server(a)
        sink.start()
        assert ctl(b, "flush").returncode == 0
        assert ctl(a, "flush").returncode == 0
        exactly_once(sink, n, "moved")
        b.wait_queue_empty()
    finally:
        sink.stop()


def test_export_takes_a_message_committed_in_place(server, tmp_path):
    """A stopped node's spool after a power cut may hold a message whose
    in-place commit reached the disk and whose rename to ID.msg did not:
    a sealed ID.part of its own id (INTERNALS.md, "The in-place commit").
    Export takes it as the queue's start would, and it is sent once."""
    n = 3
    sink = Sink()
    try:
        a = deferred_node(server, sink, n, "in place")
        queue = a.spool / "queue"
        msg = sorted(queue.glob("*.msg"))[0]
        qid = msg.name[:-4]
        msg.rename(queue / (qid + ".part"))
        out = tmp_path / "export"
        r = move(a, "export", out)
        assert r.returncode == 0, r.stderr
        assert "export: %d messages to %s; the spool's queue is empty" % (
            n, out) in r.stdout, r.stdout
        assert (out / (qid + ".msg")).is_file()
        assert not list(queue.glob("*.part")) and not list(queue.glob("*.msg"))
        b = relay_server(server, extra=relay_to(sink))
        r = move(b, "import", out)
        assert r.returncode == 0, r.stderr
        sink.start()
        assert ctl(b, "flush").returncode == 0
        exactly_once(sink, n, "in place")
        b.wait_queue_empty()
    finally:
        sink.stop()


def test_import_killed_at_random_points_then_rerun(server, tmp_path):
    n = 300
    sink = Sink()
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    try:
        a = deferred_node(server, sink, n, "crash")
        b = relay_server(server, extra=relay_to(sink))
        out = tmp_path / "export"
        r = move(a, "export", out)
        assert r.returncode == 0, r.stderr
        kills, mid = 0, 0
        while True:
            p = subprocess.Popen([str(SMTPAUTHD), "-f", str(b.conf_path),
                                  "import", str(out)],
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            # Later kills come later, so that an import gets through
            # even on a slow machine.
            time.sleep(rng.uniform(0.0, 0.03 + 0.005 * kills))
            if p.poll() is None:
                p.kill()
                kills += 1
            out_, err = p.communicate(timeout=T(60))
            if p.returncode == 0:
                break
            assert p.returncode == -signal.SIGKILL, err
            left = len(list(out.glob("*.msg")))
            if 0 < left < n:
                mid += 1
            assert kills < 1000, "the import never finished"
        print("\nseed %d: import killed %d times, %d in the middle"
              % (seed, kills, mid))
        assert mid >= 1, "no kill landed in the middle (seed %d)" % seed
        assert not list(out.glob("*.msg")) and not list(out.glob("*.importing"))
        staged = list((b.spool / "import").iterdir())
        assert not staged, staged
        assert len(list((b.spool / "queue").glob("*.msg"))) == n
        sink.start()
        assert ctl(b, "flush").returncode == 0
        exactly_once(sink, n, "crash")
        b.wait_queue_empty(timeout=30)
    finally:
        sink.stop()


def test_export_refuses_a_running_node_and_interrupted_blocks_start(
        server, tmp_path):
    sink = Sink()
    a = relay_server(server, extra=relay_to(sink))
    r = move(a, "export", tmp_path / "x")
    assert r.returncode == 1
    assert "a node runs on" in r.stderr
    assert a.stop() == 0
    # An export that did not finish (its mark is there): no start.
    (a.spool / "run" / "exporting").write_text("%s\n" % (tmp_path / "x"))
    p = subprocess.run([str(SMTPAUTHD), "-d", "-f", str(a.conf_path)],
                       capture_output=True, text=True, timeout=T(20))
    assert p.returncode != 0
    assert "an export of this spool was interrupted" in p.stderr
    r = move(a, "export", tmp_path / "x")
    assert r.returncode == 0, r.stderr
    start_server(a)
    # An unfinished export directory is not imported.
    (tmp_path / "y").mkdir()
    r = move(a, "import", tmp_path / "y")
    assert r.returncode == 1 and "not a finished export" in r.stderr


def test_import_renames_an_id_the_node_holds(server, tmp_path):
    sink = Sink()
    try:
        a = deferred_node(server, sink, 1, "same")
        out = tmp_path / "export"
        assert move(a, "export", out).returncode == 0
        (f,) = out.glob("*.msg")
        qid = f.name[:16]
        b = relay_server(server, extra=relay_to(sink))
        # b holds a message of that id already (a copy of a's, as if the
        # random ids of two nodes had met).
        b.stop()
        text = f.read_bytes().replace(b"Subject: same 0",
                                      b"Subject: same 1")
        (b.spool / "queue" / f.name).write_bytes(text)
        os.chown(b.spool / "queue" / f.name,
                 *(lambda s: (s.st_uid, s.st_gid))(
                     os.stat(b.spool / "queue")))
        start_server(b)
        r = move(b, "import", out)
        assert r.returncode == 0, r.stderr
        m = re.search(r"import: %s is ([0-9A-F]{16}) here" % qid, r.stdout)
        assert m, r.stdout
        new = b.spool / "queue" / (m.group(1) + ".msg")
        assert b"\nid %s\n" % m.group(1).encode() in new.read_bytes()
        sink.start()
        assert ctl(b, "flush").returncode == 0
        exactly_once(sink, 2, "same")
    finally:
        sink.stop()


def test_drain_refuses_new_sessions_finishes_open_ones(server):
    sink = Sink().start()
    try:
        a = relay_server(server, extra=[
            "relay-host 127.0.0.1:%d" % sink.port, "relay-tls none"])
        c = Client(a.port, timeout=T(20))
        c.ehlo()
        assert c.cmd("AUTH PLAIN " + base64.b64encode(
            ("\0%s\0%s" % (SENDER, PASSWORD)).encode()).decode()).code == 235
        assert c.cmd("MAIL FROM:<%s>" % SENDER).code == 250
        assert c.cmd("RCPT TO:<bob@relay.example>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: drained\r\n\r\nfirst half\r\n")
        # A second session between RCPT and DATA: its transaction too.
        c2 = Client(a.port, timeout=T(20))
        c2.ehlo()
        assert c2.cmd("AUTH PLAIN " + base64.b64encode(
            ("\0%s\0%s" % (SENDER, PASSWORD)).encode()).decode()).code == 235
        assert c2.cmd("MAIL FROM:<%s>" % SENDER).code == 250
        assert c2.cmd("RCPT TO:<bob@relay.example>").code == 250
        mark = len(a.log())
        r = ctl(a, "drain")
        assert r.returncode == 0, r.stderr
        a.wait_log(r"parent: draining: listeners closed", after=mark)

        def refused():
            try:
                socket.create_connection(("127.0.0.1", a.port), 1).close()
                return False
            except ConnectionRefusedError:
                return True
        wait_until(refused, T(10), what="new connections refused")
        # The message under way is finished and taken, then the session
        # is closed with a 421.
        c.send(b"second half\r\n.\r\n")
        r = c.reply()
        assert r.code == 250 and "queued as" in r.line, r
        r = c.reply()
        assert r.line.startswith("421 4.3.2 "), r
        assert c.is_closed()
        assert c2.cmd("DATA").code == 354
        c2.send(b"Subject: drained too\r\n\r\nbody\r\n.\r\n")
        r = c2.reply()
        assert r.code == 250 and "queued as" in r.line, r
        r = c2.reply()
        assert r.line.startswith("421 4.3.2 "), r
        assert c2.is_closed()
        a.wait_log(r"parent: drained: no session open", after=mark)
        sink.wait(2)
        assert sorted(subjects(sink)) == ["drained", "drained too"]
        a.wait_queue_empty()
        # The node still runs (its queue); it stops as usual.
        assert a.running()
        assert a.stop() == 0
    finally:
        sink.stop()
