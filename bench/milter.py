#!/usr/bin/python3
"""What a milter costs smtpauthd a message: the same plain 1 KiB load run
against one smtpauthd without a milter and with an accept-everything
milter (OpenDKIM in verify mode: an unsigned message passes, nothing is
added), alternating, in one run.

    sudo bench/milter.py [--msgs N] [--reps R] [--build DIR]

Prints one JSON line a run and a summary: messages/s, smtpauthd's CPU a
message (every process of its group, from /proc) and OpenDKIM's.  Every
file is in a temp dir; both daemons are started on loopback ports and
stopped by their PIDs.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TCK = os.sysconf("SC_CLK_TCK")
FAKE_HASH = ("$6$x$waLWIlV1n0gbwy0CFA/rFeTpnnPvNdDDdvRK0yN/xnM2QOlBRELGjY."
             "ovf5SpNkdxvtrB9qCtPSrO.9zy9DwC/")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_of(pids):
    """User + system seconds of pids and their reaped children."""
    total = 0.0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fl = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fl[11:15]) / TCK
    return total


def group(pgid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.getpgid(int(p)) == pgid:
                out.append(int(p))
        except OSError:
            pass
    return out


def wait_port(port, proc, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("%s exited with %s" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("%s does not listen on %d" % (what, port))


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start(argv, log):
    with open(log, "ab") as f:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f,
                                stderr=f, start_new_session=True)


def load(build, port, msgs):
    out = subprocess.run(
        [str(build / "smtpauth"), "load", "--tls", "none",
         "--sessions", str(msgs), "--concurrency", "20",
         "--from", "a@example.com", "--to", "user@example.org",
         "--size", "1024", "--json", "127.0.0.1:%d" % port],
        capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit("load failed: %s%s" % (out.stdout, out.stderr))
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--msgs", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--build", default=str(REPO / "build"))
    a = ap.parse_args()
    build = Path(a.build).resolve()
    d = Path(tempfile.mkdtemp(prefix="bench-milter-", dir=str(build)))
    os.chmod(d, 0o755)
    procs = []
    try:
        mport = free_port()
        (d / "opendkim.conf").write_text(
            "Socket inet:%d@127.0.0.1\nMode v\nBackground no\nSyslog no\n"
            "PidFile %s/opendkim.pid\nUserID root\n" % (mport, d))
        dkim = start(["opendkim", "-f", "-x", str(d / "opendkim.conf")],
                     d / "opendkim.log")
        procs.append(dkim)
        wait_port(mport, dkim, "opendkim")
        ports = {}
        srvs = {}
        for name, extra in (("none", ""),
                            ("milter", "milter inet:127.0.0.1:%d\n"
                             % mport)):
            sd = d / name
            (sd / "mail").mkdir(parents=True)
            os.chmod(sd, 0o755)
            # The recipient's mailbox; no one logs in (the hash is
            # well-formed, of a password nobody has).
            (sd / "users").write_text("user@example.org:%s\n" % FAKE_HASH)
            ports[name] = free_port()
            (sd / "smtpauthd.conf").write_text(
                "listen 127.0.0.1:%d smtp\nhostname mx.test\n"
                "local-domains example.org\nusers %s/users\n"
                "mailbox-root %s/mail\nspool %s/spool\nworkers 1\n"
                "user nobody\n%s" % (ports[name], sd, sd, sd, extra))
            srvs[name] = start([str(build / "smtpauthd"), "-d", "-f",
                                str(sd / "smtpauthd.conf")],
                               sd / "smtpauthd.log")
            procs.append(srvs[name])
            wait_port(ports[name], srvs[name], "smtpauthd " + name)
        time.sleep(1)
        rows = {"none": [], "milter": []}
        for rep in range(a.reps):
            for name in ("none", "milter"):
                pg = group(srvs[name].pid)
                c0, m0 = cpu_of(pg), cpu_of([dkim.pid])
                r = load(build, ports[name], a.msgs)
                time.sleep(0.5)     # the queue's deliveries
                c1, m1 = cpu_of(group(srvs[name].pid)), cpu_of([dkim.pid])
                row = {"milter": name, "rep": rep,
                       "msgs_per_s": r.get("messages_per_s"),
                       "errors": r.get("errors"),
                       "smtpauthd_cpu_ms_per_msg":
                           round((c1 - c0) * 1000 / a.msgs, 3),
                       "opendkim_cpu_ms_per_msg":
                           round((m1 - m0) * 1000 / a.msgs, 3)}
                print(json.dumps(row), flush=True)
                rows[name].append(row)
        for name in ("none", "milter"):
            rs = rows[name]
            print("%-6s median: %s msg/s, smtpauthd %.3f ms CPU/msg, "
                  "opendkim %.3f ms CPU/msg" % (
                      name,
                      statistics.median(x["msgs_per_s"] for x in rs),
                      statistics.median(x["smtpauthd_cpu_ms_per_msg"]
                                        for x in rs),
                      statistics.median(x["opendkim_cpu_ms_per_msg"]
                                        for x in rs)))
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
