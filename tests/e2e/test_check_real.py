"""smtpauth check against real servers nobody here wrote (issue 15): a
private Postfix 3.7 (Debian's binaries) with SASL through a private
Dovecot, in stock and bad configurations, and Dovecot's own submission
service.  Each gets the verdict an administrator should get.

One Postfix (one service, one port, per configuration) and one Dovecot of
each kind per module.  Postfix trusts 127.0.0.1/32 only (mynetworks), so
--source 127.0.0.2 is how the Internet sees it; Dovecot takes a connection
between two equal addresses for a secure one, so from 127.0.0.1 it offers
AUTH in clear, and from 127.0.0.2 it does what it does for everyone.
"""
import json
import os
import xml.etree.ElementTree as ET

import pytest

from clientlib import free_port, make_pki, run
from mailservers import (DOVE_USERS, POSTFIX_SUBMISSION, Dovecot,
                         DovecotSubmission, Postfix)

USER = "alice@example.org"
LOCAL = "bob@example.org"
OUTSIDE = "127.0.0.2"

SERVICES = {
    # Port 25 as Debian ships it: relay for mynetworks and after AUTH,
    # else defer_unauth_destination (454); no AUTH.
    "mx": [],
    # Debian's submission entry, enabled as its comments say.
    "submission": POSTFIX_SUBMISSION,
    # AUTH offered and taken in clear.
    "clearauth": ["smtpd_sasl_auth_enable=yes", "smtpd_tls_auth_only=no"],
    # Relays for anyone: the classic mistake, mynetworks = the world
    # (Postfix refuses to start an smtpd whose restrictions never reject).
    "openrelay": ["mynetworks=0.0.0.0/0"],
    # Implicit TLS (smtpd_tls_wrappermode), as on 465, but on a high port.
    "implicit": ["smtpd_tls_wrappermode=yes", "smtpd_sasl_auth_enable=yes"],
    # Debian's smtps entry, enabled as its comments say (465's role).
    "smtps": ["smtpd_tls_wrappermode=yes"] + POSTFIX_SUBMISSION[1:],
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    os.chmod(d, 0o755)
    return make_pki(d)


@pytest.fixture(scope="module")
def postfix(pki):
    dv = Dovecot().start()
    pf = Postfix(*pki["good"], dv.sock, SERVICES)
    try:
        yield pf.start()
    finally:
        pf.cleanup()
        dv.cleanup()


@pytest.fixture(scope="module")
def dovecot_submission(pki, postfix):
    ds = DovecotSubmission(*pki["good"], postfix.ports["mx"])
    try:
        yield ds.start()
    finally:
        ds.cleanup()


def check(pki, target, *extra, user=USER):
    args = ["check", "--json", "--ca-file", pki["ca"], "--to", LOCAL]
    if user:
        args += ["--user", user]
    p = run(args + list(extra) + [target],
            env={"SMTPAUTH_PASSWORD": DOVE_USERS[USER]})
    p.json = json.loads(p.out)
    p.status = {c["id"]: c["status"] for c in p.json["checks"]}
    p.summary = {c["id"]: c["summary"] for c in p.json["checks"]}
    return p


def not_passed(p):
    return {k: (v, p.summary[k]) for k, v in p.status.items()
            if v not in ("pass", "skip")}


def test_postfix_stock_submission_passes(pki, postfix):
    # Postfix refuses unauthenticated mail at RCPT with 554 5.7.1 (its
    # smtpd_client_restrictions): right for a submission port, for the
    # outside recipient and the local one alike, and nothing to warn of.
    p = check(pki, postfix.target("submission"))
    assert p.returncode == 0, p.out
    assert not not_passed(p), not_passed(p)
    assert p.summary["relay-denied-unauth"].startswith("refused: 554 5.7.1")
    assert "554 5.7.1" in p.summary["local-accepted-unauth"]
    assert "submission port" in p.summary["local-accepted-unauth"]
    assert "530 5.7.0" in p.summary["auth-refused-plaintext"]
    assert p.status["auth-good"] == "pass"
    assert p.status["relay-allowed-auth"] == "pass"
    # Nothing depended on checking from loopback.
    assert "no verdict depended on it" in p.summary["source-address"]


def test_postfix_submission_with_role_mx_fails(pki, postfix):
    # The same refusal on a port that must take mail from anyone.
    p = check(pki, postfix.target("submission"), "--role", "mx")
    assert p.returncode == 1
    assert p.status["local-accepted-unauth"] == "fail"


def test_postfix_mx_trusted_network_is_not_called_open_relay(pki, postfix):
    # From 127.0.0.1 (mynetworks) Postfix relays: trusted or open, the
    # tester cannot tell, and says so instead of OPEN RELAY.
    p = check(pki, postfix.target("mx"), "--role", "mx", user=None)
    assert p.returncode == 0, p.out
    assert p.status["relay-denied-unauth"] == "warn"
    assert not p.summary["relay-denied-unauth"].startswith("OPEN RELAY")
    assert "cannot tell" in p.summary["relay-denied-unauth"]
    assert p.status["source-address"] == "warn"
    assert "relay-denied-unauth" in p.summary["source-address"]
    assert p.status["auth-advertised"] == "pass"       # port 25: no AUTH
    assert p.status["local-accepted-unauth"] == "pass"


def test_postfix_mx_from_outside_refuses(pki, postfix):
    # From an address outside mynetworks: Debian's defer_unauth_destination
    # (454 4.7.1) is a refusal.
    p = check(pki, postfix.target("mx"), "--role", "mx", "--source",
              OUTSIDE, user=None)
    assert p.returncode == 0, p.out
    assert not not_passed(p), not_passed(p)
    assert "454 4.7.1" in p.summary["relay-denied-unauth"]
    assert OUTSIDE in p.summary["connect"] or \
        OUTSIDE in p.summary["source-address"]


def test_postfix_open_relay_from_outside(pki, postfix):
    p = check(pki, postfix.target("openrelay"), "--source", OUTSIDE,
              user=None)
    assert p.returncode == 1
    assert p.status["relay-denied-unauth"] == "fail", p.out
    assert "OPEN RELAY" in p.summary["relay-denied-unauth"]


def test_postfix_auth_in_clear(pki, postfix):
    p = check(pki, postfix.target("clearauth"), "--source", OUTSIDE)
    assert p.returncode == 1
    assert {k for k, v in p.status.items() if v == "fail"} == {
        "auth-hidden-plaintext", "auth-refused-plaintext"}, p.out
    # From loopback the same server is only a warning: the tester cannot
    # tell a server that trusts its own address from one that does not.
    p = check(pki, postfix.target("clearauth"))
    assert p.status["auth-hidden-plaintext"] == "warn", p.summary
    assert "auth-hidden-plaintext" in p.summary["source-address"]


def test_postfix_source_must_be_ours(pki, postfix):
    p = run(["check", "--source", "192.0.2.1", postfix.target("mx")])
    assert p.returncode == 2
    assert "bind" in p.out + p.err
    p = run(["check", "--source", "not-an-address", postfix.target("mx")])
    assert p.returncode == 2
    assert "--source" in p.err


def test_postfix_implicit_tls_port_found(pki, postfix):
    # Implicit TLS on a port other than 465: not 30 s of "no greeting",
    # but the mode to pass, and nothing tested (exit 2).
    p = check(pki, postfix.target("implicit"))
    assert p.returncode == 2, p.out
    assert "--tls implicit" in p.summary["banner"]
    p = check(pki, postfix.target("implicit"), "--tls", "implicit")
    assert p.returncode == 0, p.out
    assert p.status["auth-good"] == "pass"


def test_postfix_implicit_tls_on_an_mx_port_asked_after_the_timeout(
        pki, postfix):
    # An MX may hold its greeting on purpose (a greet pause): no TLS probe
    # before the greeting timeout there, but after it the mode to pass.
    import time
    t0 = time.monotonic()
    p = check(pki, postfix.target("implicit"), "--role", "mx", "--timeout",
              "5", user=None)
    took = time.monotonic() - t0
    assert p.returncode == 2, p.out
    assert p.summary["banner"].startswith("no greeting: timed out"), \
        p.summary["banner"]
    assert "--tls implicit" in p.summary["banner"]
    assert took >= 5, took


def test_postfix_plain_port_with_implicit_tls(pki, postfix):
    p = check(pki, postfix.target("submission"), "--tls", "implicit")
    assert p.returncode == 2, p.out
    assert "--tls starttls" in p.summary["starttls"]


def test_dovecot_submission_from_outside(pki, dovecot_submission):
    # Before TLS Dovecot advertises a bare AUTH (no mechanism) and refuses
    # AUTH with 523 5.7.10; it hangs up on a STARTTLS with a command after
    # it.  All right.
    p = check(pki, dovecot_submission.target, "--source", OUTSIDE)
    assert p.returncode == 0, (p.out, dovecot_submission.log())
    assert not not_passed(p), not_passed(p)
    assert "no mechanism" in p.summary["auth-hidden-plaintext"]
    assert "523 5.7.10" in p.summary["auth-refused-plaintext"]
    assert "hung up" in p.summary["starttls-injection"]
    assert p.status["auth-good"] == "pass"
    assert "530" in p.summary["relay-denied-unauth"]


def test_dovecot_submission_from_its_own_address(pki, dovecot_submission):
    # 127.0.0.1 to 127.0.0.1: Dovecot takes it for a secure connection
    # and offers AUTH PLAIN in clear.  Not a failure of the server, but
    # nothing to certify either: the source address says which verdicts.
    p = check(pki, dovecot_submission.target)
    assert p.status["auth-hidden-plaintext"] == "warn", p.summary
    assert p.status["auth-refused-plaintext"] == "warn", p.summary
    assert p.status["source-address"] == "warn"
    assert "auth-hidden-plaintext" in p.summary["source-address"]
    assert "fail" not in p.status.values(), not_passed(p)


def whole_host(pki, postfix, ports, *extra):
    """smtpauth check of the host 127.0.0.1 on the Postfix ports named
    (each with the kind its number would say on a real host)."""
    args = ["check", "--json", "--ca-file", pki["ca"], "--to", LOCAL,
            "--user", USER, "--ports", ports] + list(extra) + ["127.0.0.1"]
    p = run(args, env={"SMTPAUTH_PASSWORD": DOVE_USERS[USER]})
    p.json = json.loads(p.out)
    p.by = {t["target"]: t for t in p.json["targets"]}
    return p


def junit_checked(path, report):
    """The JUnit file parsed, checked for what GitLab, Jenkins and GitHub
    reporters read, and against the JSON report of the same run."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == \
        [t["target"] for t in report["targets"]]
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for suite, t in zip(suites, report["targets"]):
        cases = suite.findall("testcase")
        assert [c.get("name") for c in cases] == \
            [c["id"] for c in t["checks"]]
        assert {c.get("classname") for c in cases} == {t["target"]}
        fails = [c for c in cases if c.find("failure") is not None]
        skips = [c for c in cases if c.find("skipped") is not None]
        want = {c["id"]: c["status"] for c in t["checks"]}
        assert {c.get("name") for c in fails} == \
            {k for k, v in want.items() if v == "fail"}
        assert {c.get("name") for c in skips} == \
            {k for k, v in want.items() if v == "skip"}
        for c in cases:
            out = c.find("system-out").text
            assert out.startswith(want[c.get("name")] + ": "), out
            f = c.find("failure")
            if f is not None:
                assert f.get("message") and f.text == f.get("message")
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == len(fails)
        assert int(suite.get("skipped")) == len(skips)
        assert suite.get("errors") == "0"
        props = {p.get("name"): p.get("value")
                 for p in suite.find("properties")}
        assert props["state"] == t["state"]
        assert props["role"] == t["role"]
        # Each check's own time; together no more than the target's.
        times = [float(c.get("time")) for c in cases]
        assert all(x >= 0 for x in times)
        assert sum(times) <= float(suite.get("time")) + 0.001 * len(cases)
        if t["state"] in ("pass", "fail"):
            assert sum(times) > 0
        for k in totals:
            totals[k] += int(suite.get(k))
    for k, v in totals.items():
        assert int(root.get(k)) == v, k
    return root


def test_postfix_whole_host_junit_and_json(pki, postfix, tmp_path):
    # Postfix's three ports in one run, each judged by its role: port 25
    # takes local mail from anyone and relays only after AUTH, submission
    # and smtps want AUTH (smtps with implicit TLS).  From 127.0.0.2,
    # how the Internet sees it.
    pp = postfix.ports
    ports = "%d/mx,%d/submission,%d/smtps" % (pp["mx"], pp["submission"],
                                               pp["smtps"])
    junit = tmp_path / "report.xml"
    p = whole_host(pki, postfix, ports, "--source", OUTSIDE, "--junit",
                   str(junit))
    assert p.returncode == 0, p.out
    assert p.json["result"] == "pass"
    assert p.json["summary"] == {"targets": 3, "pass": 3, "fail": 0,
                                 "untested": 0, "closed": 0}
    mx = p.by["127.0.0.1:%d" % pp["mx"]]
    sub = p.by["127.0.0.1:%d" % pp["submission"]]
    smtps = p.by["127.0.0.1:%d" % pp["smtps"]]
    assert (mx["role"], sub["role"], smtps["role"]) == \
        ("mx", "submission", "submission")
    st = {t["target"]: {c["id"]: c["status"] for c in t["checks"]}
          for t in p.json["targets"]}
    sm = {t["target"]: {c["id"]: c["summary"] for c in t["checks"]}
          for t in p.json["targets"]}
    # 25: local mail without AUTH, relaying refused; no AUTH offered.
    assert st[mx["target"]]["local-accepted-unauth"] == "pass"
    assert "454 4.7.1" in sm[mx["target"]]["relay-denied-unauth"]
    # 587: STARTTLS, unauthenticated mail refused, AUTH works.
    assert st[sub["target"]]["starttls"] == "pass"
    assert "right for a submission port" in \
        sm[sub["target"]]["local-accepted-unauth"]
    assert st[sub["target"]]["auth-good"] == "pass"
    # 465: implicit TLS, the same.
    assert sm[smtps["target"]]["starttls"].startswith("implicit TLS")
    assert st[smtps["target"]]["auth-good"] == "pass"
    assert st[smtps["target"]]["relay-allowed-auth"] == "pass"
    root = junit_checked(junit, p.json)
    assert root.get("failures") == "0"
    # The text report: every port, then one summary.
    t = run(["check", "--ca-file", pki["ca"], "--to", LOCAL, "--user", USER,
             "--ports", ports, "--source", OUTSIDE, "127.0.0.1"],
            env={"SMTPAUTH_PASSWORD": DOVE_USERS[USER]})
    assert t.returncode == 0, t.out
    for port in pp["mx"], pp["submission"], pp["smtps"]:
        assert "smtpauth check 127.0.0.1:%d\n" % port in t.out
    assert "summary: 3 targets: 3 pass, 0 fail, 0 not tested, 0 closed" \
        in t.out
    assert t.out.rstrip().endswith("result: PASS")


def test_postfix_whole_host_named_closed_port_fails(pki, postfix, tmp_path):
    # A port named in --ports that nobody listens on is a failure of the
    # run; the others are still checked and reported.  A wrong role
    # fails too, and JUnit says which check on which port.
    pp = postfix.ports
    closed = free_port()
    ports = "%d/submission,%d,%d/submission" % (pp["mx"], closed,
                                                pp["submission"])
    junit = tmp_path / "report.xml"
    p = whole_host(pki, postfix, ports, "--source", OUTSIDE, "--junit",
                   str(junit))
    assert p.returncode == 1, p.out
    gone = p.by["127.0.0.1:%d" % closed]
    assert gone["state"] == "untested"
    assert gone["checks"][0]["status"] == "fail"
    assert "refused" in gone["checks"][0]["summary"]
    mx = p.by["127.0.0.1:%d" % pp["mx"]]
    assert mx["state"] == "fail"
    fails = {c["id"] for c in mx["checks"] if c["status"] == "fail"}
    assert "auth-advertised" in fails
    assert p.by["127.0.0.1:%d" % pp["submission"]]["state"] == "pass"
    root = junit_checked(junit, p.json)
    failed = {(c.get("classname"), c.get("name"))
              for c in root.iter("testcase") if c.find("failure") is not None}
    assert ("127.0.0.1:%d" % closed, "connect") in failed
    assert ("127.0.0.1:%d" % pp["mx"], "auth-advertised") in failed
