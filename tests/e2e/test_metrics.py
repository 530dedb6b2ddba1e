"""Metrics (issue 18): curl scrapes metrics-listen while smtpauth load
runs, and the counters match what the clients did: sessions, messages,
AUTH ok and fail by mechanism, bans, deliveries."""
import json
import os
import re
import signal
import subprocess
import threading

from e2elib import BUILD, T, free_port, wait_until
from test_relay import PASSWORD, relay_server

SMTPAUTH = BUILD / "smtpauth"


def scrape(port):
    r = subprocess.run(["curl", "-sS", "--max-time", "10",
                        "http://127.0.0.1:%d/metrics" % port],
                       capture_output=True, text=True, timeout=T(20))
    assert r.returncode == 0, r.stderr
    return r.stdout


def value(text, name, **labels):
    """The sample name{labels...} (a subset of its labels)."""
    total = None
    for m in re.finditer(r"^%s(?:\{([^}]*)\})? (\S+)$" % re.escape(name),
                         text, re.M):
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total = (total or 0) + float(m.group(2))
    assert total is not None, "%s %s not in\n%s" % (name, labels, text)
    return total


def load(srv, tmp, sessions, messages, password, mech="plain"):
    pw = tmp / ("pw-%s" % mech)
    pw.write_text(password + "\n")
    return subprocess.run(
        [str(SMTPAUTH), "load", "--tls", "none", "--insecure-plaintext-auth",
         "--user", "user@example.org", "--password-file", str(pw),
         "--mech", mech, "--to", "user@example.org",
         "--sessions", str(sessions), "--concurrency", "8",
         "--messages", str(messages), "--size", "2000", "--json",
         "127.0.0.1:%d" % srv.port],
        capture_output=True, text=True, timeout=T(120))


def test_scrape_during_load_matches_clients(server, tmp_path):
    mport = free_port()
    srv = relay_server(server, extra=["metrics-listen %d" % mport,
                                      "auth-max-failures 100"])
    srv.wait_log(r"metrics: ready listen=127\.0\.0\.1:%d" % mport)
    before = scrape(mport)
    assert "# TYPE smtpauthd_sessions_total counter" in before
    lab = {"listen": "127.0.0.1:%d" % srv.port, "mode": "smtp"}
    s0 = value(before, "smtpauthd_sessions_total", **lab)
    c0 = value(before, "smtpauthd_connections_total", **lab)
    scrapes = []
    stop = threading.Event()

    def scraper():
        while not stop.is_set():
            scrapes.append(scrape(mport))
            stop.wait(0.05)

    t = threading.Thread(target=scraper)
    t.start()
    try:
        ok = load(srv, tmp_path, 40, 2, PASSWORD)
        ok_login = load(srv, tmp_path, 10, 1, PASSWORD, mech="login")
        bad = load(srv, tmp_path, 3, 1, "wrong password")
    finally:
        stop.set()
        t.join()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok_login.returncode == 0, ok_login.stdout + ok_login.stderr
    assert len(scrapes) >= 2
    # Counters only grow, scrape after scrape.
    seen = [value(s, "smtpauthd_messages_accepted_total") for s in scrapes]
    assert seen == sorted(seen)
    want_sessions = s0 + 40 + 10 + 3

    def settled():
        return value(scrape(mport), "smtpauthd_sessions_total",
                     **lab) >= want_sessions

    wait_until(settled, T(10), what="every session counted")
    after = scrape(mport)
    assert value(after, "smtpauthd_sessions_total", **lab) == want_sessions
    assert value(after, "smtpauthd_sessions_total", tls="yes", **lab) == 0
    assert value(after, "smtpauthd_connections_total", **lab) == \
        c0 + 40 + 10 + 3
    assert value(after, "smtpauthd_sessions_open", **lab) == 0
    assert value(after, "smtpauthd_messages_accepted_total") == 80 + 10
    assert value(after, "smtpauthd_bytes_accepted_total") >= 90 * 2000
    assert value(after, "smtpauthd_auth_total", mech="PLAIN",
                 result="ok", backend="file") == 40
    assert value(after, "smtpauthd_auth_total", mech="LOGIN",
                 result="ok") == 10
    assert value(after, "smtpauthd_auth_total", mech="PLAIN",
                 result="fail") == 3
    assert value(after, "smtpauthd_auth_total", result="tempfail") == 0
    # Every message delivered locally, each with its latency.
    wait_until(lambda: value(scrape(mport), "smtpauthd_delivered_total")
               == 90, T(15), what="90 deliveries")
    after = scrape(mport)
    assert value(after, "smtpauthd_delivery_latency_seconds_count") == 90
    assert value(after, "smtpauthd_delivery_latency_seconds_bucket",
                 le="+Inf") == 90
    wait_until(lambda: value(scrape(mport), "smtpauthd_queue_messages")
               == 0, T(15), what="an empty queue")
    assert value(after, "smtpauthd_bounced_total") == 0
    assert value(after, "smtpauthd_bans_active") == 0


def test_bans_counted_and_metrics_default_off(server, tmp_path):
    mport = free_port()
    srv = relay_server(server, extra=["metrics-listen %d" % mport,
                                      "auth-max-failures 2"])
    bad = load(srv, tmp_path, 2, 0, "wrong password")
    assert bad.returncode != 0
    srv.wait_log(r"auth: ban ip=127\.0\.0\.1 ")
    text = scrape(mport)
    assert value(text, "smtpauthd_bans_added_total") == 1
    assert value(text, "smtpauthd_bans_active") == 1
    assert value(text, "smtpauthd_auth_total", result="fail") == 2
    # Only /metrics, only GET.
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        "http://127.0.0.1:%d/" % mport], capture_output=True,
                       text=True, timeout=T(20))
    assert r.stdout == "404"
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        "-X", "POST", "-d", "x",
                        "http://127.0.0.1:%d/metrics" % mport],
                       capture_output=True, text=True, timeout=T(20))
    assert r.stdout in ("405", "413", "501"), r.stdout  # refused
    # Without metrics-listen nothing listens and no metrics process runs.
    other = server()
    assert "metrics" not in other.log()


def test_bad_directives_are_reported_by_n(server):
    for line, said in (
            ("metrics-listen localhost:99", "metrics-listen: expected PORT"),
            ("metrics-listen 127.0.0.1:99999", "metrics-listen: expected"),
            ("log-format yaml", "log-format: expected text or json"),
            ("control-group no-such-group-here", None)):
        srv = server(extra=[line], start=False)
        r = subprocess.run([str(BUILD / "smtpauthd"), "-n", "-f",
                            str(srv.conf_path)], capture_output=True,
                           text=True, timeout=T(20))
        if said is None:
            # Known only at start: the parent refuses to start.
            r = subprocess.run([str(BUILD / "smtpauthd"), "-d", "-f",
                                str(srv.conf_path)], capture_output=True,
                               text=True, timeout=T(20))
            assert r.returncode == 1
            assert "control-group: no such group no-such-group-here" \
                in r.stderr, r.stderr
            continue
        assert r.returncode == 1 and said in r.stderr, (line, r.stderr)
        assert re.search(r"smtpauthd\.conf:\d+: ", r.stderr), r.stderr


def test_reload_keeps_counters_and_control(server, tmp_path):
    """A reload starts a new metrics process on the same socket; the
    counters and smtpauthctl go on."""
    mport = free_port()
    srv = relay_server(server, extra=["metrics-listen %d" % mport])
    srv.wait_log(r"metrics: ready ")
    assert load(srv, tmp_path, 5, 1, PASSWORD).returncode == 0
    wait_until(lambda: value(scrape(mport),
                             "smtpauthd_messages_accepted_total") == 5,
               T(10), what="5 messages counted")
    mark = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    srv.wait_log(r"parent: reloaded ", after=mark)
    srv.wait_log(r"metrics: ready ", after=mark)
    assert value(scrape(mport), "smtpauthd_messages_accepted_total") == 5
    r = subprocess.run([str(BUILD / "smtpauthctl"), "-f", str(srv.conf_path),
                        "--json", "status"], capture_output=True, text=True,
                       timeout=T(20))
    assert r.returncode == 0, r.stderr
    kinds = [p["process"] for p in json.loads(r.stdout)["processes"]]
    assert kinds.count("metrics") >= 1 and "queue" in kinds


def test_sessions_of_a_killed_worker_are_not_open(server):
    mport = free_port()
    srv = relay_server(server, extra=["metrics-listen %d" % mport],
                       workers=1)
    srv.allow_crash = True
    lab = {"listen": "127.0.0.1:%d" % srv.port, "mode": "smtp"}
    c = srv.connect()
    c.ehlo()
    wait_until(lambda: value(scrape(mport), "smtpauthd_sessions_open",
                             **lab) == 1, T(10), what="one session open")
    (pid,) = srv.worker_pids().values()
    os.kill(pid, signal.SIGKILL)
    srv.wait_log(r"worker pid=%d killed by signal 9" % pid)
    wait_until(lambda: value(scrape(mport), "smtpauthd_sessions_open",
                             **lab) == 0, T(10), what="no session open")
    c.close()


def test_backend_and_store_health(server):
    """The password backend's and the guard store's health: the users file
    is always up; a guard store nobody listens on is down (and logins
    still work, guarded locally)."""
    mport = free_port()
    srv = server(extra=["metrics-listen %d" % mport])
    text = scrape(mport)
    assert value(text, "smtpauthd_backend_up", backend="file") == 1
    assert "smtpauthd_guard_store_up" not in text
    srv.stop()
    dead = free_port()
    mport = free_port()
    srv = server(extra=["metrics-listen %d" % mport,
                        "guard-store redis://127.0.0.1:%d/0" % dead])
    srv.wait_log(r"guard-store down")
    text = scrape(mport)
    assert value(text, "smtpauthd_guard_store_up") == 0
    assert value(text, "smtpauthd_backend_up", backend="file") == 1
