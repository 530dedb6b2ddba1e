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
import re
import socket
import subprocess
import xml.etree.ElementTree as ET

import pytest

from clientlib import free_port, make_audit_pki, make_pki, run
from e2elib import T
from mailservers import (DOVE_USERS, POSTFIX_SUBMISSION, Dovecot,
                         DovecotSubmission, Postfix,
                         postfix_tls_audit_services)

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
    certs = make_pki(d)
    certs["audit"] = make_audit_pki(d)
    return certs


@pytest.fixture(scope="module")
def postfix(pki):
    dv = Dovecot().start()
    # Stock submission, but with a certificate a client must refuse.
    badcert = {name: POSTFIX_SUBMISSION + [
        "smtpd_tls_cert_file=%s" % pki[name][0],
        "smtpd_tls_key_file=%s" % pki[name][1]]
        for name in ("expired", "wronghost")}
    pf = Postfix(*pki["good"], dv.sock,
                 SERVICES | badcert | postfix_tls_audit_services(pki["audit"]))
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


def check(pki, target, *extra, user=USER, audit=False):
    # The TLS audit has tests of its own (below); the others skip it.
    args = ["check", "--json", "--ca-file", pki["ca"], "--to", LOCAL]
    if not audit:
        args.append("--no-tls-audit")
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
    # Its stock greeting names it: a warning (login_greeting changes it).
    assert set(not_passed(p)) == {"banner-disclosure"}, not_passed(p)
    assert "Dovecot, Debian in 'submission.test Dovecot (Debian) ready.'" \
        in p.summary["banner-disclosure"]
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
    # Debian's Postfix as shipped takes TLS 1.0 on submission too, which
    # the audit fails (test_tls_audit_stock_postfix): left out here.
    args = ["check", "--json", "--ca-file", pki["ca"], "--to", LOCAL,
            "--user", USER, "--no-tls-audit", "--ports", ports] + \
        list(extra) + ["127.0.0.1"]
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
             "--no-tls-audit", "--ports", ports, "--source", OUTSIDE,
             "127.0.0.1"],
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
# -- The TLS audit (tls-protocols, tls-ciphers, tls-dh, tls-key,
# tls-chain, tls-ocsp), each verdict next to what openssl s_client says
# of the same port.

AUDIT_IDS = ("tls-protocols", "tls-ciphers", "tls-dh", "tls-key",
             "tls-chain", "tls-ocsp")


def audit(pki, postfix, name, *extra, role="submission"):
    """The audit of a Postfix service judged as a submission port (a
    password would cross its TLS) unless role says otherwise."""
    p = check(pki, postfix.target(name), "--role", role, "-v", *extra,
              user=None, audit=True)
    n = re.search(r"the audit took (\d+) connections",
                  p.summary["tls-protocols"])
    # 40 for OpenSSL's handshakes, and the raw ClientHellos: SSLv3 and
    # the weak suites, refused by every Postfix here (2).
    assert n and 6 <= int(n.group(1)) <= 42, p.summary["tls-protocols"]
    # A probe is one handshake and QUIT: never AUTH, never mail.
    probes = p.err.split("tls audit: probe ")[1:]
    assert len(probes) == int(n.group(1))
    for t in probes:
        # A probe ends where the next connection (of another check) starts.
        t = t.split("*  connected to ")[0]
        sent = [ln for ln in t.splitlines() if ln.startswith("C: ")]
        assert set(sent) <= {"C: EHLO [127.0.0.1]", "C: STARTTLS",
                             "C: QUIT"}, sent
    return p


def s_client(target, *args, cafile=None):
    """openssl s_client through STARTTLS, as independent evidence: its
    output, and whether the handshake completed."""
    host, port = target.rsplit(":", 1)
    cmd = ["openssl", "s_client", "-starttls", "smtp", "-connect",
           "%s:%s" % (host, port), "-servername", "localhost"] + list(args)
    if cafile:
        cmd += ["-CAfile", str(cafile), "-verify_return_error"]
    p = subprocess.run(cmd, input=b"QUIT\r\n", capture_output=True,
                       timeout=T(30))
    out = p.stdout.decode("utf-8", "replace")
    # From the session: the version negotiated and the suite.
    return out, re.search(r"^ +Protocol +: (\S+)\n +Cipher +: "
                          r"(?!0000)(\S+)", out, re.M)


def test_tls_audit_good_config_passes(pki, postfix):
    p = audit(pki, postfix, "tlsgood")
    bad = {k: (p.status[k], p.summary[k]) for k in AUDIT_IDS
           if p.status[k] != "pass"}
    assert bad == {}, bad
    s = p.summary
    assert s["tls-protocols"].startswith("accepts TLSv1.3 TLSv1.2; "
                                         "refuses TLSv1.1 TLSv1.0")
    assert "weak" not in s["tls-ciphers"]
    assert "TLSv1.2:" in s["tls-ciphers"] and "+" not in \
        s["tls-ciphers"].split(";")[1], s["tls-ciphers"]
    assert "TLSv1.2: " in s["tls-ciphers"] and \
        "server order" in s["tls-ciphers"]
    assert s["tls-key"].startswith("EC prime256v1, 256 bits"), s["tls-key"]
    assert s["tls-chain"].startswith("complete: 2 certificates sent")
    assert "no OCSP response stapled" in s["tls-ocsp"]
    # s_client agrees: TLS 1.1 refused even at security level 0, TLS 1.2
    # taken, and the chain verifies with the CA alone.
    out, ok = s_client(postfix.target("tlsgood"), "-tls1_1", "-cipher",
                       "DEFAULT:@SECLEVEL=0")
    assert not ok, out
    out, ok = s_client(postfix.target("tlsgood"), "-tls1_2",
                       cafile=pki["ca"])
    assert ok and "Verify return code: 0 (ok)" in out, out


def test_tls_audit_stock_postfix(pki, postfix):
    # Debian's Postfix 3.7 as shipped: TLS 1.0 and 1.1 accepted, the
    # anonymous suites of opportunistic TLS, and a 1024-bit DH group for
    # some of them (OpenSSL's automatic choice for a 128-bit suite).
    p = audit(pki, postfix, "mx")
    s = p.summary
    assert p.status["tls-protocols"] == "fail"
    assert s["tls-protocols"].startswith(
        "accepts TLSv1.3 TLSv1.2 TLSv1.1 TLSv1.0"), s["tls-protocols"]
    assert p.status["tls-ciphers"] == "fail"
    assert s["tls-ciphers"].startswith("weak: anonymous at TLSv1.2 "
                                       "TLSv1.1 TLSv1.0"), s["tls-ciphers"]
    assert "client order" in s["tls-ciphers"]
    m = re.match(r"DHE with a (\d+)-bit group \((\S+)\)", s["tls-dh"])
    assert m and p.status["tls-dh"] == "fail", s["tls-dh"]
    out, ok = s_client(postfix.target("mx"), "-tls1_2", "-cipher",
                       m.group(2) + ":@SECLEVEL=0")
    assert ok and "Server Temp Key: DH, %s bits" % m.group(1) in out, out
    out, ok = s_client(postfix.target("mx"), "-tls1", "-cipher",
                       "DEFAULT:@SECLEVEL=0")
    assert ok and ok.group(1) == "TLSv1", out     # s_client's name
    assert p.status["tls-key"] == "pass" and p.status["tls-chain"] == "pass"
    # The same port judged as an MX: TLS there is opportunistic (a sender
    # that cannot use better sends in clear), so the old versions, the
    # anonymous suites and the small group are warnings, not failures.
    m = audit(pki, postfix, "mx", role="mx")
    for k in "tls-protocols", "tls-ciphers", "tls-dh":
        assert m.status[k] == "warn", (k, m.summary[k])
        assert "opportunistic TLS on an MX, so only a warning" in \
            m.summary[k], m.summary[k]


def test_tls_audit_tls10_11_only(pki, postfix):
    p = audit(pki, postfix, "tlsold")
    s = p.summary
    assert p.status["tls-protocols"] == "fail"
    assert s["tls-protocols"].startswith("accepts TLSv1.1 TLSv1.0 "
                                         "(TLS 1.0 and older are broken); "
                                         "refuses TLSv1.3 TLSv1.2"), s
    assert p.status["tls-version"] == "fail"
    # Without anonymous suites what is left under TLS 1.0 is CBC with
    # SHA-1: the BEAST class, a warning next to the protocols' failure.
    assert p.status["tls-ciphers"] == "warn", s["tls-ciphers"]
    assert s["tls-ciphers"].startswith("weak: CBC-SHA1 (BEAST) at TLSv1.0")
    assert "anonymous" not in s["tls-ciphers"]
    # The certificate came on a TLS 1.1 probe.
    assert p.status["tls-key"] == "pass" and p.status["tls-chain"] == "pass"
    out, ok = s_client(postfix.target("tlsold"), "-tls1_2")
    assert not ok, out
    out, ok = s_client(postfix.target("tlsold"), "-tls1_1", "-cipher",
                       "DEFAULT:@SECLEVEL=0")
    assert ok and ok.group(1) == "TLSv1.1", out


def test_tls_audit_tls10_11_only_implicit(pki, postfix):
    # No handshake at TLS 1.2 or later: the checklist stops there, and
    # the audit still says what the port speaks.
    p = check(pki, postfix.target("tlsoldimplicit"), "--tls", "implicit",
              user=None, audit=True)
    assert p.returncode == 1, p.out
    assert p.status["starttls"] == "fail"
    assert "only speaks TLSv1.1" in p.summary["tls-version"]
    assert p.status["tls-protocols"] == "fail"
    assert p.summary["tls-protocols"].startswith("accepts TLSv1.1 TLSv1.0")
    assert p.status["tls-key"] == "pass" and p.status["tls-chain"] == "pass"
    assert p.status["auth-good"] == "skip"


def test_tls_audit_null_ciphers(pki, postfix):
    p = audit(pki, postfix, "tlsnull")
    s = p.summary["tls-ciphers"]
    assert p.status["tls-ciphers"] == "fail", s
    m = re.match(r"weak: NULL at TLSv1.2 \(([A-Z0-9-]+)", s)
    assert m, s
    # RC4, DES, 3DES and export suites: Debian's OpenSSL 3 has none of
    # them, so the audit asks with a raw ClientHello; this Postfix's
    # OpenSSL cannot take them either.
    assert "export, RC4, DES, 3DES refused (raw ClientHello)" in s, s
    assert "not probed" not in s, s
    out, ok = s_client(postfix.target("tlsnull"), "-tls1_2", "-cipher",
                       m.group(1) + ":@SECLEVEL=0")
    assert ok and ok.group(2) == m.group(1), out
    assert p.status["tls-protocols"] == "pass"


def test_tls_audit_dh_1024(pki, postfix):
    p = audit(pki, postfix, "tlsdh1024")
    s = p.summary
    assert p.status["tls-dh"] == "fail", s["tls-dh"]
    m = re.match(r"DHE with a 1024-bit group \((DHE-RSA-\S+)\): under "
                 r"2048 bits", s["tls-dh"])
    assert m, s["tls-dh"]
    assert s["tls-key"].startswith("RSA 2048 bits, signed "
                                   "ecdsa-with-SHA256"), s["tls-key"]
    assert p.status["tls-key"] == "pass"
    out, ok = s_client(postfix.target("tlsdh1024"), "-tls1_2", "-cipher",
                       m.group(1) + ":@SECLEVEL=0")
    assert ok and "Server Temp Key: DH, 1024 bits" in out, out


def test_tls_audit_missing_intermediate(pki, postfix):
    p = audit(pki, postfix, "tlsnointer")
    s = p.summary["tls-chain"]
    assert p.status["tls-chain"] == "fail", s
    assert s.startswith("intermediate missing: the issuer of the "
                        "certificate (/CN=smtpauth test intermediate)"), s
    assert "1 certificate sent" in s
    assert p.status["tls-cert"] == "fail"
    assert p.status["tls-key"] == "pass"
    out, ok = s_client(postfix.target("tlsnointer"), "-tls1_2",
                       cafile=pki["ca"])
    assert not ok and "unable to get local issuer certificate" in out, out
    # The same leaf with its intermediate ("tlsgood") verifies.
    out, ok = s_client(postfix.target("tlsgood"), "-tls1_2",
                       cafile=pki["ca"])
    assert ok, out


def test_tls_audit_weak_key_and_sha1(pki, postfix):
    p = audit(pki, postfix, "tlsweakkey")
    s = p.summary["tls-key"]
    assert p.status["tls-key"] == "fail", s
    assert s.startswith("RSA 1024 bits (under 2048); the certificate is "
                        "signed with ecdsa-with-SHA1 (broken hash)"), s
    out, ok = s_client(postfix.target("tlsweakkey"), "-tls1_2", "-cipher",
                       "DEFAULT:@SECLEVEL=0")
    assert ok and "Server public key is 1024 bit" in out, out
    assert "ecdsa-with-SHA1" in subprocess.run(
        ["openssl", "x509", "-noout", "-text", "-in",
         str(pki["audit"]["rsa1024"])], capture_output=True,
        text=True).stdout


def test_tls_audit_implicit_tls(pki, postfix):
    p = check(pki, postfix.target("implicit"), "--tls", "implicit",
              user=None, audit=True)
    assert p.status["tls-protocols"] == "fail", p.summary
    assert p.summary["tls-protocols"].startswith("accepts TLSv1.3 TLSv1.2")
    assert p.status["tls-key"] == "pass" and p.status["tls-chain"] == "pass"


def test_tls_audit_skipped(pki, postfix):
    p = check(pki, postfix.target("tlsgood"), "--role", "mx", user=None)
    for k in AUDIT_IDS:
        assert p.status[k] == "skip" and p.summary[k] == "--no-tls-audit"
    p = check(pki, postfix.target("tlsgood"), "--role", "mx", "--tls",
              "none", user=None, audit=True)
    for k in AUDIT_IDS:
        assert p.status[k] == "skip" and p.summary[k] == "--tls none"


def raw_probes(p):
    """The first line of each raw ClientHello probe (-v)."""
    return [t.split("\n")[0] for t in p.err.split("tls audit: probe ")[1:]
            if "raw ClientHello" in t.split("\n")[0]]


@pytest.mark.parametrize("name,role", [("mx", "submission"), ("mx", "mx"),
                                       ("tlsold", "submission"),
                                       ("tlsgood", "submission")])
def test_tls_audit_raw_probes_refused(pki, postfix, name, role):
    # SSLv3, RC4, DES, 3DES and export are asked with ClientHellos of the
    # audit's own (Debian's OpenSSL 3 cannot offer them); Debian's
    # OpenSSL 3 in Postfix cannot take them: each is refused, in two
    # connections, and nothing is left "not probed".
    p = audit(pki, postfix, name, role=role)
    c, pr = p.summary["tls-ciphers"], p.summary["tls-protocols"]
    assert "; export, RC4, DES, 3DES refused (raw ClientHello)" in c, c
    assert "not probed" not in c and "not known" not in c, c
    assert re.search(r"refuses [^;]*SSLv3; SSLv3 asked by a raw "
                     r"ClientHello", pr), pr
    assert "not probed" not in pr and "not known" not in pr, pr
    raws = raw_probes(p)
    assert [r.split(", ")[1] for r in raws] == [
        "raw ClientHello SSLv3", "raw ClientHello TLSv1.2"], raws
    assert p.err.count("tls audit: alert ") + p.err.count(
        "tls audit: the server closed the connection: refused") == 2
    # The audit's other verdicts are those of the tests above.
    assert p.status["tls-protocols"] == {"tlsgood": "pass"}.get(
        name, "warn" if role == "mx" else "fail"), pr


@pytest.mark.parametrize("cert,why", [("expired", ("expired",)),
                                      ("wronghost", ("mismatch", "not for"))])
def test_postfix_bad_certificate_fails_and_no_password_is_sent(
        pki, postfix, cert, why):
    # Stock submission with an expired certificate, or one for another
    # name: tls-cert fails, and --insecure (which relaxes only the trust
    # in the issuer) still fails it, and the password is not sent.
    for extra in ((), ("--insecure",)):
        p = check(pki, postfix.target(cert), *extra)
        assert p.returncode == 1, (extra, p.out)
        assert p.status["tls-cert"] == "fail", p.summary["tls-cert"]
        assert any(w in p.summary["tls-cert"] for w in why), \
            p.summary["tls-cert"]
        assert p.status["auth-good"] == "skip", p.summary["auth-good"]
    # openssl s_client, as independent evidence, refuses it too.
    out = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect",
         postfix.target(cert), "-CAfile", str(pki["ca"]),
         "-verify_hostname", "localhost", "-verify_return_error"],
        input=b"QUIT\r\n", capture_output=True, timeout=T(30))
    assert out.returncode != 0
# -- The audit probes (issue 15) against a Postfix that knows its users

# Debian's main.cf: the banner names the software; the recipients of the
# relay domain are listed, so that VRFY and RCPT can tell users apart.
PROBE_MAIN = """\
smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
relay_recipient_maps = inline:{{alice@example.org=ok}, {bob@example.org=ok}}
"""

PROBE_SERVICES = {
    # Port 25 as Debian ships it: VRFY on (252 for a user, 550 for none).
    "mx": [],
    "novrfy": ["disable_vrfy_command=yes"],
    # Debian's submission entry: 554 at RCPT for anyone before AUTH.
    "submission": POSTFIX_SUBMISSION,
    # A submission port that forgot smtpd_client_restrictions: RCPT
    # before AUTH tells bob from a made-up user.
    "leaky": ["smtpd_sasl_auth_enable=yes", "smtpd_tls_auth_only=yes"],
    # Behind a balancer, but reachable by anyone.
    "proxy": ["smtpd_upstream_proxy_protocol=haproxy",
              "smtpd_upstream_proxy_timeout=2s"],
}


def postfix_greets(pf, names):
    """Does this Postfix answer on each port?  A free port can be taken by
    another process (other tests on the machine) before Postfix binds it:
    Postfix's master then exits, and whatever took the port answers."""
    for name in names:
        try:
            with socket.create_connection(("127.0.0.1", pf.ports[name]),
                                          5) as c:
                c.settimeout(5)
                if not c.recv(100).startswith(b"220 mx.example.org"):
                    return False
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def postfix_probe(pki):
    dv = Dovecot().start()
    for attempt in range(3):
        pf = Postfix(*pki["good"], dv.sock, PROBE_SERVICES,
                     main_extra=PROBE_MAIN).start()
        if postfix_greets(pf, [n for n in PROBE_SERVICES if n != "proxy"]):
            break
        pf.cleanup()
    else:
        dv.cleanup()
        pytest.fail("Postfix did not answer on its ports")
    try:
        yield pf
    finally:
        pf.cleanup()
        dv.cleanup()


def test_postfix_stock_vrfy_and_banner_warn(pki, postfix_probe):
    p = check(pki, postfix_probe.target("mx"), "--role", "mx", "--source",
              OUTSIDE, user=None)
    assert p.returncode == 0, p.out
    assert p.status["vrfy"] == "warn", p.summary["vrfy"]
    assert "VRFY tells users apart: <bob@example.org> 252 2.0.0" in \
        p.summary["vrfy"]
    assert "550 5.1.1" in p.summary["vrfy"]
    # Postfix has no EXPN: 500 for both.
    assert p.status["expn"] == "pass", p.summary["expn"]
    assert "500 5.5.2" in p.summary["expn"]
    assert p.status["banner-disclosure"] == "warn"
    assert "Postfix, Debian, GNU in 'mx.example.org ESMTP Postfix " \
        "(Debian/GNU)'" in p.summary["banner-disclosure"]
    # Port 25 must tell recipients apart: not judged.
    assert p.status["rcpt-enumeration"] == "skip"
    assert p.status["proxy-spoofing"] == "pass"
    assert "v1 taken as a command (500 5.5.2" in p.summary["proxy-spoofing"]


def test_postfix_vrfy_disabled_passes(pki, postfix_probe):
    p = check(pki, postfix_probe.target("novrfy"), "--role", "mx",
              "--source", OUTSIDE, user=None)
    assert p.status["vrfy"] == "pass", p.summary["vrfy"]
    assert "502 5.5.1 VRFY command is disabled" in p.summary["vrfy"]


def test_postfix_submission_rcpt_enumeration(pki, postfix_probe):
    # Stock submission: 554 5.7.1 for the user and the made-up one alike.
    p = check(pki, postfix_probe.target("submission"), "--role",
              "submission", "--source", OUTSIDE)
    assert p.status["rcpt-enumeration"] == "pass", p.summary
    assert "554 5.7.1" in p.summary["rcpt-enumeration"]
    # Without smtpd_client_restrictions: bob 250, the made-up one 550.
    p = check(pki, postfix_probe.target("leaky"), "--role", "submission",
              "--source", OUTSIDE)
    assert p.status["rcpt-enumeration"] == "warn", p.summary
    s = p.summary["rcpt-enumeration"]
    assert s.startswith("RCPT before AUTH tells users apart: "
                        "<bob@example.org> 250"), s
    assert "550 5.1.1" in s and "user enumeration" in s, s


def test_postfix_proxy_protocol_from_anyone_fails(pki, postfix_probe):
    # smtpd_upstream_proxy_protocol on a port anyone reaches: no greeting
    # without a header, and a forged 192.0.2.1 taken with one.
    p = check(pki, postfix_probe.target("proxy"), "--source", OUTSIDE)
    assert p.returncode == 1, p.out
    assert p.status["banner"] == "fail", p.summary["banner"]
    assert p.status["proxy-spoofing"] == "fail", p.summary
    assert p.summary["proxy-spoofing"].startswith(
        "a PROXY v1 and v2 header from 127.0.0.2"), p.summary
    assert "192.0.2.1" in postfix_probe.log()


def test_postfix_without_guard(pki, postfix_probe):
    # Postfix bans nobody (Dovecot's penalty is off here): every wrong
    # password answered 535.  Nine of the budget: auth-bad-password's and
    # eight for the guard, under smtpd_soft_error_limit.
    p = check(pki, postfix_probe.target("submission"), "--source", OUTSIDE,
              "--probe-guard", "--failure-budget", "9")
    assert p.status["auth-guard"] == "fail", p.summary
    s = p.summary["auth-guard"]
    assert s.startswith("no guard: 9 wrong passwords from 127.0.0.2, "
                        "every one answered 535"), s
    assert "--failure-budget" in s
    assert "WILL BAN THIS ADDRESS" in p.err


@pytest.fixture(scope="module")
def postfix_penalty(pki):
    dv = Dovecot(penalty=True).start()
    pf = Postfix(*pki["good"], dv.sock, {"submission": POSTFIX_SUBMISSION})
    try:
        yield pf.start()
    finally:
        pf.cleanup()
        dv.cleanup()


def test_dovecot_auth_penalty_is_a_throttle(pki, postfix_penalty):
    # Dovecot's penalty answers each failure from an address later (2, 4,
    # 8, then 15 s), always with 535; Postfix waits 10 s for Dovecot, then
    # answers 454.  A slow 454 is a timeout behind a throttle: a warning,
    # not a ban.  About 45 s of penalties.
    p = check(pki, postfix_penalty.target("submission"), "--source",
              OUTSIDE, "--probe-guard", "--failure-budget", "8")
    assert p.status["auth-guard"] == "warn", p.summary
    s = p.summary["auth-guard"]
    assert "wrong passwords from 127.0.0.2, never banned: the answers " \
        "slowed down from " in s, s
    assert "454 4.7.0" in s and "not a ban" in s, s
