"""smtpauth load against a real smtpauthd: plain sessions deliver every
message, STARTTLS and implicit TLS with AUTH work (and resume TLS
sessions), the JSON report has the pinned shape, errors are counted by
reply code, refused connections are counted and not retried, --duration
and --idle stop by themselves.  Behaviour only, never speed."""
import json
import time

from clientlib import run
from e2elib import T, free_port
from test_auth import PASSWORD, auth_server
from test_tls import pki  # noqa: F401 - the session-wide test CA

USER = "user@example.org"
PINNED_STEPS = ("greeting", "handshake", "auth", "data")


def load(*args, password=None, timeout=60):
    p = run(["load", "--json"] + [str(a) for a in args],
            env={"SMTPAUTH_PASSWORD": password} if password else None,
            timeout=timeout)
    assert p.returncode in (0, 1), (p.returncode, p.out, p.err)
    p.json = json.loads(p.out)
    return p


def assert_shape(j):
    """The pinned part of the report (DESIGN.md, `load` options)."""
    assert isinstance(j["sessions_per_s"], (int, float))
    assert isinstance(j["messages_per_s"], (int, float))
    assert isinstance(j["errors"], dict)
    for code, n in j["errors"].items():
        assert isinstance(code, str) and isinstance(n, int)
    for step in PINNED_STEPS:
        lat = j["latency_ms"][step]
        for k in ("p50", "p90", "p99"):
            assert k in lat
            assert lat[k] is None or isinstance(lat[k], (int, float))
        if lat["n"]:
            assert 0 <= lat["p50"] <= lat["p90"] <= lat["p99"]


def test_plain_sessions_deliver_every_message(server):
    srv = server(extra=["max-sessions-per-ip 100"])
    p = load("--tls", "none", "--concurrency", 4, "--sessions", 10,
             "--messages", 3, "--size", 2000, "--from", "load@example.com",
             "--to", USER, "127.0.0.1:%d" % srv.port)
    assert p.returncode == 0, p.out
    j = p.json
    assert_shape(j)
    assert (j["sessions"], j["failed"], j["messages"]) == (10, 0, 30)
    assert j["errors"] == {}
    assert j["tls_handshakes"] == 0
    assert j["latency_ms"]["greeting"]["n"] == 10
    assert j["latency_ms"]["data"]["n"] == 30
    assert j["latency_ms"]["handshake"]["p50"] is None
    assert j["sessions_per_s"] > 0 and j["messages_per_s"] > 0
    msgs = srv.wait_messages(USER, 30)
    assert len(msgs) == 30
    for m in msgs:
        assert b"Subject: smtpauth load\n" in m
        assert b"Return-Path: <load@example.com>" in m
    srv.wait_queue_empty()


def test_starttls_auth_resume_and_implicit(server, pki):
    srv = auth_server(server, pki, extra=["max-sessions-per-ip 100"])
    p = load("--tls", "starttls", "--ca-file", pki / "ca.pem",
             "--user", USER, "--mech", "plain", "--to", "other@example.org",
             "--concurrency", 2, "--sessions", 8, "--resume",
             "127.0.0.1:%d" % srv.port, password=PASSWORD)
    assert p.returncode == 0, (p.out, p.err)
    j = p.json
    assert_shape(j)
    assert (j["sessions"], j["failed"], j["messages"]) == (8, 0, 8)
    assert j["tls"] == "starttls"
    assert j["tls_handshakes"] == 8
    # The first sessions have nothing to offer; later ones resume.
    assert 1 <= j["tls_resumed"] <= 7
    for step in PINNED_STEPS:
        assert j["latency_ms"][step]["n"] == 8, step
    assert PASSWORD not in p.out + p.err
    # LOGIN over implicit TLS, two messages a session.
    p = load("--tls", "implicit", "--ca-file", pki / "ca.pem",
             "--user", USER, "--mech", "login", "--to", "other@example.org",
             "--concurrency", 2, "--sessions", 3, "--messages", 2,
             "127.0.0.1:%d" % srv.smtps_port, password=PASSWORD)
    assert p.returncode == 0, (p.out, p.err)
    assert (p.json["sessions"], p.json["messages"]) == (3, 6)
    assert p.json["tls_resumed"] == 0
    assert len(srv.wait_messages("other@example.org", 14)) == 14
    log = srv.log()
    assert log.count('auth result=ok') >= 1
    assert PASSWORD not in log


def test_errors_counted_by_reply_code(server, pki):
    srv = auth_server(server, pki)
    t0 = time.monotonic()
    p = load("--tls", "starttls", "--ca-file", pki / "ca.pem",
             "--user", USER, "--to", "other@example.org",
             "--concurrency", 2, "--sessions", 2,
             "127.0.0.1:%d" % srv.port, password="not the password")
    assert p.returncode == 1
    j = p.json
    assert_shape(j)
    assert j["errors"] == {"535": 2}
    assert (j["sessions"], j["failed"], j["messages"]) == (0, 2, 0)
    assert j["latency_ms"]["auth"]["n"] == 0
    assert j["latency_ms"]["handshake"]["n"] == 2
    # Two sessions in parallel, each waits out the failure delay once.
    assert time.monotonic() - t0 < T(10)
    # A recipient the server does not know: 550 at RCPT, nothing sent.
    p = load("--tls", "none", "--from", "x@example.com",
             "--to", "nobody@example.org", "--concurrency", 1,
             "--sessions", 2, "127.0.0.1:%d" % srv.port)
    assert p.returncode == 1
    assert p.json["errors"] == {"550": 2}
    assert p.json["messages"] == 0


def test_refused_connections_are_counted_not_retried():
    port = free_port()
    t0 = time.monotonic()
    p = load("--tls", "none", "--from", "a@example.com", "--to",
             "b@example.org", "--concurrency", 3, "--sessions", 4,
             "127.0.0.1:%d" % port)
    assert p.returncode == 1
    assert p.json["errors"] == {"refused": 4}
    assert (p.json["sessions"], p.json["failed"]) == (0, 4)
    # Backed off between attempts (10, 20, 40 ms), but not for long.
    assert 0.05 < time.monotonic() - t0 < T(5)


def test_duration_stops_and_noop_probe(server):
    srv = server(extra=["max-sessions-per-ip 100"])
    t0 = time.monotonic()
    p = load("--tls", "none", "--from", "a@example.com", "--to", USER,
             "--concurrency", 2, "--duration", 1, "--probe-noop", 50,
             "127.0.0.1:%d" % srv.port)
    took = time.monotonic() - t0
    assert p.returncode == 0, p.out
    j = p.json
    assert j["sessions"] > 0 and j["failed"] == 0
    assert j["messages"] == j["sessions"]
    assert 0.9 <= j["elapsed_s"] < T(5)
    assert took < T(8)
    # The probe session answered NOOPs while the others ran.
    assert j["latency_ms"]["noop"]["n"] >= 5
    srv.wait_messages(USER, j["messages"])


def test_idle_sessions_held_then_quit(server, pki):
    srv = auth_server(server, pki, extra=["max-sessions-per-ip 100"])
    t0 = time.monotonic()
    p = load("--tls", "starttls", "--ca-file", pki / "ca.pem", "--idle",
             "--concurrency", 6, "--ramp", 2, "--duration", 1,
             "127.0.0.1:%d" % srv.port)
    assert p.returncode == 0, (p.out, p.err)
    assert "6 idle sessions open" in p.err
    j = p.json
    assert j["idle_held"] == 6
    assert (j["sessions"], j["failed"]) == (6, 0)
    assert j["tls_handshakes"] == 6
    assert j["latency_ms"]["session"]["p50"] >= 1000
    assert 1 <= time.monotonic() - t0 < T(8)


def test_usage():
    p = run(["load", "--help"])
    assert p.returncode == 0
    for opt in ("--concurrency", "--sessions", "--duration", "--messages",
                "--size", "--resume", "--idle", "--json", "--tls"):
        assert opt in p.out, opt
    assert "load" in run(["--help"]).out
    p = run(["load", "--tls", "none", "127.0.0.1:25"])
    assert p.returncode == 2 and "--to" in p.err
    p = run(["load", "--idle", "127.0.0.1:25"])
    assert p.returncode == 2 and "--duration" in p.err
    p = run(["load", "--user", USER, "--tls", "none", "--to", USER,
             "127.0.0.1:25"], env={"SMTPAUTH_PASSWORD": "x"})
    assert p.returncode == 2 and "without TLS" in p.err
