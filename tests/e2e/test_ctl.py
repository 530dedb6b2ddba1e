"""smtpauthctl (issue 18): every command against a running server, its
effect checked from outside: a held message is not delivered until it is
released, a deleted one never is, a requeued one is tried at once, an
unbanned address is served at once; who may use the socket; --json."""
import json
import os
import re
import socket
import subprocess
import time

from e2elib import BUILD, T, wait_until
from test_auth import TLSClient, auth_server, plain
from test_relay import (MESSAGE, Sink, dns, mx_extra, relay_server,  # noqa
                        submit)
from test_tls import pki  # noqa: F401 - the session-wide test CA

SMTPAUTHCTL = BUILD / "smtpauthctl"


def ctl(srv, *args, user=None):
    cmd = [str(SMTPAUTHCTL), "-f", str(srv.conf_path)] + list(args)
    if user is not None:
        cmd = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user,
               "--clear-groups"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=T(20))


def ctl_json(srv, *args):
    r = ctl(srv, "--json", *args)
    return r.returncode, json.loads(r.stdout)


def test_status_lists_processes_listeners_and_version(server):
    srv = server(workers=2)
    r = ctl(srv, "status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("smtpauthd ")
    pids = {int(p) for p in re.findall(r"pid (\d+)", r.stdout)}
    assert set(srv.group_pids()) == pids, r.stdout
    assert "127.0.0.1:%d" % srv.port in r.stdout
    code, st = ctl_json(srv, "status")
    assert code == 0
    kinds = sorted(p["process"] for p in st["processes"])
    assert kinds == ["auth", "parent", "queue", "worker", "worker"]
    assert st["listeners"][0]["listen"] == "127.0.0.1:%d" % srv.port
    with srv.connect() as c:
        c.ehlo()
        wait_until(lambda: ctl_json(srv, "status")[1]["sessions"] == 1,
                   T(5), what="one session open")
    srv.wait_log(r"queue: ctl uid=%d pid=\d+ cmd=status" % os.geteuid())


def test_hold_release_delete_requeue(server, dns):
    sink = Sink()                      # down: the message is deferred
    a = relay_server(server, extra=mx_extra(dns, sink, "retry-min 300"))
    try:
        q1, q2, q3 = submit(a, ["bob@relay.example"], [MESSAGE] * 3)
        for q in (q1, q2, q3):
            a.wait_log(r"relay id=%s .*result=deferred" % q)
        for q in (q1, q2):
            r = ctl(a, "hold", q)
            assert r.returncode == 0 and r.stdout == "%s: held\n" % q, r
        code, lst = ctl_json(a, "queue")
        held = {m["id"]: m["held"] for m in lst["messages"]}
        assert held == {q1: True, q2: True, q3: False}
        assert "(held)" in ctl(a, "queue").stdout
        sink.start()
        # flush: everything is due, but a held message stays.
        assert ctl(a, "flush").returncode == 0
        sink.wait(1)
        time.sleep(1)
        assert sink.count() == 1
        assert not re.search(r"relay id=(%s|%s) .*result=sent" % (q1, q2),
                             a.log())
        # show: envelope and text.
        r = ctl(a, "show", q1)
        assert r.returncode == 0 and "bob@relay.example" in r.stdout
        assert "(held)" in r.stdout
        code, shown = ctl_json(a, "show", q1)
        assert shown["id"] == q1 and shown["held"] is True
        assert "Subject" in shown["message"] or shown["message"]
        # requeue of a held message is refused; release lets it go now.
        r = ctl(a, "requeue", q1)
        assert r.returncode == 1 and "held" in r.stderr
        r = ctl(a, "release", q1)
        assert r.returncode == 0, r.stderr
        sink.wait(2)
        a.wait_log(r"relay id=%s .*result=sent" % q1)
        # delete: gone for good, even after a restart and a flush.
        r = ctl(a, "delete", q2)
        assert r.returncode == 0 and r.stdout == "%s: deleted\n" % q2, r
        assert ctl(a, "show", q2).returncode == 1
        assert not (a.spool / "queue" / (q2 + ".msg")).exists()
        assert not (a.spool / "queue" / (q2 + ".hold")).exists()
        assert ctl(a, "flush").returncode == 0
        time.sleep(1)
        assert sink.count() == 2
        code, lst = ctl_json(a, "queue")
        assert lst["count"] == 0
        # unknown ids and bad ones
        r = ctl(a, "hold", q2)
        assert r.returncode == 1 and "no such message" in r.stderr
        r = ctl(a, "hold", "../../etc/passwd")
        assert r.returncode == 1 and "not a queue id" in r.stderr
        code, err = ctl_json(a, "release", q2)
        assert code == 1 and err["ok"] is False
        for verb in ("hold", "release", "delete"):
            a.wait_log(r"queue: ctl uid=\d+ pid=\d+ cmd=%s " % verb)
    finally:
        sink.stop()


def test_requeue_tries_now_and_hold_survives_restart(server, dns):
    sink = Sink()
    a = relay_server(server, extra=mx_extra(dns, sink, "retry-min 3000"))
    try:
        q1, q2 = submit(a, ["bob@relay.example"], [MESSAGE] * 2)
        for q in (q1, q2):
            a.wait_log(r"relay id=%s .*result=deferred" % q)
        assert ctl(a, "hold", q2).returncode == 0
        assert a.stop() == 0
        a.start()
        sink.start()
        r = ctl(a, "requeue", q1)
        assert r.returncode == 0, r.stderr
        sink.wait(1)
        a.wait_log(r"relay id=%s .*result=sent" % q1)
        # held across the restart: the scan and a flush leave it.
        assert ctl(a, "flush").returncode == 0
        time.sleep(1)
        assert sink.count() == 1
        assert ctl_json(a, "show", q2)[1]["held"] is True
        assert ctl(a, "release", q2).returncode == 0
        sink.wait(2)
    finally:
        sink.stop()


def test_bans_and_unban_serves_at_once(server, pki):
    srv = auth_server(server, pki, extra=[
        "auth-max-failures 1", "auth-ban 600", "auth-failure-delay 10"],
        workers=1)
    src = "127.0.0.7"
    c = TLSClient(srv, pki, implicit=True, source=src)
    assert c.cmd("AUTH PLAIN " + plain("user@example.org", "guess")) \
        .startswith("535")
    c.close()
    srv.wait_log(r"auth: ban ip=127\.0\.0\.7 ")

    def greeting():
        s = socket.create_connection(("127.0.0.1", srv.port), T(10),
                                     source_address=(src, 0))
        try:
            return s.makefile("rb").readline()
        finally:
            s.close()

    assert greeting().startswith(b"421 4.7.0")
    r = ctl(srv, "bans")
    assert r.returncode == 0
    assert re.search(r"^127\.0\.0\.7\s+until \S+Z\s+reason auth-failures$",
                     r.stdout, re.M), r.stdout
    code, bans = ctl_json(srv, "bans")
    assert [b["ban"] for b in bans["bans"]] == [src]
    assert bans["bans"][0]["until"] > time.time() + 500
    r = ctl(srv, "unban", src)
    assert r.returncode == 0, r.stderr
    assert greeting().startswith(b"220 ")
    srv.wait_log(r"auth: unban ip=127\.0\.0\.7 by=smtpauthctl")
    srv.wait_log(r"queue: ctl uid=\d+ pid=\d+ cmd=unban arg=127\.0\.0\.7 "
                 r"lifted=1")
    assert ctl_json(srv, "bans")[1]["count"] == 0
    r = ctl(srv, "unban", src)
    assert r.returncode == 1 and "no ban covers" in r.stderr
    r = ctl(srv, "unban", "not-an-address")
    assert r.returncode == 1


def test_only_root_the_user_or_the_group(server):
    if os.geteuid() != 0:
        import pytest
        pytest.skip("needs root to act as other users")
    sock = "/tmp/smtpauth-ctl-%d/ctl.sock" % os.getpid()
    subprocess.run(["groupadd", "-f", "smtpauthctl-test"], check=True)
    srv = server(extra=["control-socket %s" % sock,
                        "control-group smtpauthctl-test"])
    try:
        st = os.stat(sock)
        assert st.st_mode & 0o777 == 0o660
        # Another user, not in the group: the socket's mode refuses.
        r = ctl(srv, "status", user=12345)
        assert r.returncode == 1 and "Permission denied" in r.stderr, r
        # In the group (as a supplementary group): served.
        gid = int(subprocess.run(["getent", "group", "smtpauthctl-test"],
                                 capture_output=True, text=True,
                                 check=True).stdout.split(":")[2])
        r = subprocess.run(
            ["setpriv", "--reuid=12345", "--regid=12345",
             "--groups=%d" % gid, str(SMTPAUTHCTL), "-f", str(srv.conf_path),
             "status"], capture_output=True, text=True, timeout=T(20))
        assert r.returncode == 0, r.stderr
        srv.wait_log(r"queue: ctl uid=12345 pid=\d+ cmd=status")
    finally:
        srv.stop()


def test_smtpauthd_queue_and_flush_keep_working(server):
    srv = server()
    r = subprocess.run([str(BUILD / "smtpauthd"), "-f", str(srv.conf_path),
                        "queue"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "the queue is empty\n"
    # The queue process binds its socket once it runs.
    wait_until(lambda: (srv.spool / "run" / "queue.sock").exists(), T(10),
               what="the queue's socket")
    r = subprocess.run([str(BUILD / "smtpauthd"), "-f", str(srv.conf_path),
                        "flush"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_usage_and_no_server(server):
    srv = server(start=False)
    r = ctl(srv, "status")
    assert r.returncode == 1 and "is smtpauthd running?" in r.stderr
    r = ctl(srv, "frobnicate")
    assert r.returncode == 2 and "usage: smtpauthctl" in r.stderr
    r = ctl(srv, "hold")
    assert r.returncode == 2
