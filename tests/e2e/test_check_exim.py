"""smtpauth check against a private Exim 4.96 (Debian's exim4-daemon-heavy
binary, unpacked by scripts/install-deps) with SASL through a private
Dovecot (Exim's dovecot authenticator), in the configurations an
administrator writes, each with the verdict the administrator should get.

One Exim per configuration per module: "good" runs Debian's three roles
(port 25, submission, and implicit TLS as on 465) on three free ports of
one daemon, as daemon_smtp_ports = 25 : 465 : 587 does; the others one
port each.  relay_from_hosts is 127.0.0.1 (Exim's default "localhost"),
so --source 127.0.0.2 is how the Internet sees it.
"""
import re

import pytest

from clientlib import make_audit_pki, make_pki
from eximserver import Exim, exim_missing
from test_check_real import (AUDIT_IDS, LOCAL, OUTSIDE, USER, audit, check,
                             junit_checked, not_passed, s_client,
                             whole_host)
from mailservers import Dovecot

pytestmark = pytest.mark.skipif(exim_missing() is not None,
                                reason=str(exim_missing()))

# Exim's stock smtp_banner: "$smtp_active_hostname ESMTP Exim
# $version_number $tod_full".
BANNER = re.compile(r"^220 mx\.example\.org ESMTP Exim 4\.\d+ ")

# GnuTLS's priority string (Exim's tls_require_ciphers with GnuTLS): TLS
# 1.2 and 1.3 only, the server's order.
TLS_GOOD = ("tls_require_ciphers = "
            "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1:%SERVER_PRECEDENCE\n")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    d.chmod(0o755)
    certs = make_pki(d)
    certs["audit"] = make_audit_pki(d)
    return certs


@pytest.fixture(scope="module")
def exim(pki):
    """name -> a started Exim: good (ports mx, submission, smtps),
    clearauth (AUTH offered before TLS), openrelay (relay_from_hosts the
    world), tlsgood (TLS 1.2+, the server's order, the whole chain)."""
    dv = Dovecot().start()
    a = pki["audit"]
    configs = {
        "good": (pki["good"], [("mx", "mx"), ("submission", "submission"),
                               ("smtps", "smtps")], {}),
        # The advertise condition forgotten: Exim offers an authenticator
        # to everyone unless server_advertise_condition says otherwise.
        "clearauth": (pki["good"], [("submission", "submission")],
                      {"auth_in_clear": True}),
        # The classic mistake: relay_from_hosts = the world.
        "openrelay": (pki["good"], [("mx", "mx")],
                      {"relay_from": "0.0.0.0/0"}),
        "tlsgood": ((a["chain-inter"], a["leaf-inter.key"]),
                    [("submission", "submission")],
                    {"main_extra": TLS_GOOD}),
    }
    started = {}
    try:
        for name, (cert, ports, kw) in configs.items():
            started[name] = Exim(*cert, dv.sock, ports, **kw).start()
        yield started
        for name, ex in started.items():
            assert ex.panics() == "", (name, ex.log())
    finally:
        for ex in started.values():
            ex.cleanup()
        dv.cleanup()


def test_exim_submission_done_right(pki, exim):
    # AUTH only after STARTTLS, through Dovecot; every recipient refused
    # before AUTH (550 at RCPT); relaying after AUTH.  From outside all
    # passes but the stock banner, which names Exim and its version.
    ex = exim["good"]
    p = check(pki, ex.target("submission"), "--source", OUTSIDE)
    assert p.returncode == 0, (p.out, ex.log())
    assert set(not_passed(p)) == {"banner-disclosure"}, not_passed(p)
    s = p.summary
    assert BANNER.match(s["banner"]), s["banner"]
    assert "names the software: Exim, 4.96 in 'mx.example.org ESMTP " \
        "Exim 4.96 " in s["banner-disclosure"], s["banner-disclosure"]
    assert s["auth-hidden-plaintext"] == "AUTH not offered without TLS"
    # An AUTH for a mechanism not advertised: Exim's 503.
    assert "503 AUTH command used when not advertised" in \
        s["auth-refused-plaintext"]
    assert "-STARTTLS +AUTH PLAIN LOGIN" in s["ehlo-tls"], s["ehlo-tls"]
    assert "the command sent in clear after STARTTLS was discarded" in \
        s["starttls-injection"]
    assert "535 Incorrect authentication data" in s["auth-bad-password"]
    assert p.status["auth-good"] == "pass"
    assert "235 Authentication succeeded" in s["auth-good"]
    assert s["relay-denied-unauth"] == "refused: 550 Authentication required"
    assert "550 Authentication required" in s["local-accepted-unauth"]
    assert "right for a submission port" in s["local-accepted-unauth"]
    assert p.status["relay-allowed-auth"] == "pass"
    assert "550 Authentication required" in s["rcpt-enumeration"]
    assert "judged as an outside address" in s["source-address"]
    # The passwords went to the Dovecot, through Exim's authenticator.
    assert "dovecot_plain authenticator failed for ([127.0.0.2]) " \
        "[127.0.0.2]: 535" in ex.log()


def test_exim_submission_from_loopback(pki, exim):
    # 127.0.0.1 is in relay_from_hosts, but the submission ports' ACL
    # wants AUTH first from everyone: nothing depends on the address.
    p = check(pki, exim["good"].target("submission"))
    assert p.returncode == 0, p.out
    assert set(not_passed(p)) == {"banner-disclosure"}, not_passed(p)
    assert "no verdict depended on it" in p.summary["source-address"]


def test_exim_submission_with_role_mx_fails(pki, exim):
    p = check(pki, exim["good"].target("submission"), "--role", "mx",
              "--source", OUTSIDE)
    assert p.returncode == 1
    assert {k for k, v in p.status.items() if v == "fail"} == \
        {"local-accepted-unauth"}, not_passed(p)


def test_exim_smtps_port(pki, exim):
    # tls_on_connect_ports on a port whose number does not say so: the
    # mode to pass, then all passes with it.
    ex = exim["good"]
    p = check(pki, ex.target("smtps"), "--source", OUTSIDE)
    assert p.returncode == 2, p.out
    assert "--tls implicit" in p.summary["banner"]
    p = check(pki, ex.target("smtps"), "--tls", "implicit", "--source",
              OUTSIDE)
    assert p.returncode == 0, p.out
    assert set(not_passed(p)) == {"banner-disclosure"}, not_passed(p)
    assert p.summary["starttls"].startswith("implicit TLS")
    assert p.status["auth-good"] == "pass"
    assert p.status["relay-allowed-auth"] == "pass"
    assert "550 Authentication required" in p.summary["relay-denied-unauth"]


def test_exim_mx_from_outside(pki, exim):
    # Port 25: local mail taken from anyone, relaying refused with 550,
    # VRFY and EXPN refused alike for everyone (no acl_smtp_vrfy).
    p = check(pki, exim["good"].target("mx"), "--role", "mx", "--source",
              OUTSIDE, user=None)
    assert p.returncode == 0, p.out
    assert set(not_passed(p)) == {"banner-disclosure"}, not_passed(p)
    s = p.summary
    assert s["relay-denied-unauth"] == "refused: 550 relay not permitted"
    assert "RCPT TO:<%s> accepted without AUTH: 250 Accepted" % LOCAL in \
        s["local-accepted-unauth"]
    assert "252 Administrative prohibition" in s["vrfy"]
    assert "550 Administrative prohibition" in s["expn"]
    assert p.status["rcpt-enumeration"] == "skip"
    assert "500 unrecognized command" in s["proxy-spoofing"]


def test_exim_mx_relay_from_hosts_is_not_called_open_relay(pki, exim):
    # From 127.0.0.1 (relay_from_hosts) Exim relays: trusted or open, the
    # tester cannot tell, and says so.
    p = check(pki, exim["good"].target("mx"), "--role", "mx", user=None)
    assert p.returncode == 0, p.out
    assert p.status["relay-denied-unauth"] == "warn"
    assert not p.summary["relay-denied-unauth"].startswith("OPEN RELAY")
    assert "cannot tell" in p.summary["relay-denied-unauth"]
    assert p.status["source-address"] == "warn"
    assert "relay-denied-unauth" in p.summary["source-address"]
    assert p.status["local-accepted-unauth"] == "pass"


def test_exim_auth_in_clear(pki, exim):
    # No server_advertise_condition: AUTH PLAIN LOGIN before STARTTLS, and
    # Exim hands a credential sent in clear to Dovecot (535).
    target = exim["clearauth"].target("submission")
    p = check(pki, target, "--source", OUTSIDE)
    assert p.returncode == 1, p.out
    assert {k for k, v in p.status.items() if v == "fail"} == {
        "auth-hidden-plaintext", "auth-refused-plaintext"}, p.out
    assert p.summary["auth-hidden-plaintext"].startswith(
        "AUTH PLAIN LOGIN offered without TLS")
    assert "535 Incorrect authentication data" in \
        p.summary["auth-refused-plaintext"]
    # From loopback: warnings, the address named.
    p = check(pki, target)
    assert p.returncode == 0, p.out
    assert p.status["auth-hidden-plaintext"] == "warn", p.summary
    assert p.status["auth-refused-plaintext"] == "warn", p.summary
    assert "auth-hidden-plaintext" in p.summary["source-address"]


def test_exim_open_relay_from_outside(pki, exim):
    p = check(pki, exim["openrelay"].target("mx"), "--source", OUTSIDE,
              user=None)
    assert p.returncode == 1, p.out
    assert {k for k, v in p.status.items() if v == "fail"} == \
        {"relay-denied-unauth"}, not_passed(p)
    assert p.summary["relay-denied-unauth"].startswith(
        "OPEN RELAY: RCPT TO:<smtpauth-relay-test@example.com> accepted "
        "without AUTH from 127.0.0.2 (250 Accepted)"), p.summary


def test_exim_send_reports_exims_queue_id(pki, exim):
    # Exim answers the end of DATA with "250 OK id=ID": the id reported
    # is the one its log and exim -M know, without "id=".
    ex = exim["good"]
    p = check(pki, ex.target("submission"), "--source", OUTSIDE, "--send")
    assert p.returncode == 0, p.out
    m = re.match(r"sent to <bob@example\.org>, queue id "
                 r"([0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}) "
                 r"\(250 OK id=\1\)$", p.summary["send"])
    assert m, p.summary["send"]
    assert re.search(r"^\S+ \S+ %s <= %s .*A=dovecot_plain:%s"
                     % (m.group(1), re.escape(USER), re.escape(USER)),
                     ex.log(), re.M), ex.log()
    # Queued (-odq), never delivered.
    assert (ex.dir / "spool" / "input" / (m.group(1) + "-H")).exists()


def test_exim_whole_host(pki, exim, tmp_path):
    # The three ports of one Exim in one run, each judged by its role.
    ex = exim["good"]
    pp = ex.ports
    junit = tmp_path / "report.xml"
    p = whole_host(pki, ex, "%d/mx,%d/submission,%d/smtps" % (
        pp["mx"], pp["submission"], pp["smtps"]), "--source", OUTSIDE,
        "--junit", str(junit))
    assert p.returncode == 0, p.out
    assert p.json["summary"] == {"targets": 3, "pass": 3, "fail": 0,
                                 "untested": 0, "closed": 0}
    mx, sub, smtps = (p.by["127.0.0.1:%d" % pp[n]]
                      for n in ("mx", "submission", "smtps"))
    assert (mx["role"], sub["role"], smtps["role"]) == \
        ("mx", "submission", "submission")
    st = {t["target"]: {c["id"]: c["status"] for c in t["checks"]}
          for t in p.json["targets"]}
    assert st[mx["target"]]["local-accepted-unauth"] == "pass"
    assert st[sub["target"]]["auth-good"] == "pass"
    assert st[smtps["target"]]["auth-good"] == "pass"
    assert junit_checked(junit, p.json).get("failures") == "0"


def test_tls_audit_stock_exim(pki, exim):
    # Debian's Exim with GnuTLS's NORMAL priorities (Exim's default
    # tls_require_ciphers): TLS 1.0 and 1.1 taken, the client's order.
    ex = exim["good"]
    p = audit(pki, ex, "submission")
    s = p.summary
    assert p.status["tls-protocols"] == "fail"
    assert s["tls-protocols"].startswith(
        "accepts TLSv1.3 TLSv1.2 TLSv1.1 TLSv1.0"), s["tls-protocols"]
    assert p.status["tls-ciphers"] == "warn", s["tls-ciphers"]
    assert s["tls-ciphers"].startswith("weak: CBC-SHA1 (BEAST) at TLSv1.0")
    assert "TLSv1.2: 7 suites, client order" in s["tls-ciphers"]
    assert p.status["tls-dh"] == "pass"          # an EC key: no DHE
    assert p.status["tls-key"] == "pass" and p.status["tls-chain"] == "pass"
    # openssl s_client agrees: TLS 1.0 taken, and the suite the client
    # prefers chosen, whichever order it gives.
    out, ok = s_client(ex.target("submission"), "-tls1", "-cipher",
                       "DEFAULT:@SECLEVEL=0")
    assert ok and ok.group(1) == "TLSv1", out
    two = ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384")
    for first, second in (two, two[::-1]):
        out, ok = s_client(ex.target("submission"), "-tls1_2", "-cipher",
                           "%s:%s" % (first, second))
        assert ok and ok.group(2) == first, out


def test_tls_audit_exim_done_right(pki, exim):
    # TLS 1.2 and 1.3 only, the server's order, the intermediate sent.
    ex = exim["tlsgood"]
    p = audit(pki, ex, "submission")
    bad = {k: (p.status[k], p.summary[k]) for k in AUDIT_IDS
           if p.status[k] != "pass"}
    assert bad == {}, bad
    s = p.summary
    assert s["tls-protocols"].startswith("accepts TLSv1.3 TLSv1.2; "
                                         "refuses TLSv1.1 TLSv1.0")
    assert "TLSv1.2: 7 suites, server order" in s["tls-ciphers"]
    assert s["tls-chain"].startswith("complete: 2 certificates sent")
    out, ok = s_client(ex.target("submission"), "-tls1_1", "-cipher",
                       "DEFAULT:@SECLEVEL=0")
    assert not ok, out
    out, ok = s_client(ex.target("submission"), "-tls1_2",
                       cafile=pki["ca"])
    assert ok and "Verify return code: 0 (ok)" in out, out


def test_exim_without_guard(pki, exim):
    # Stock Exim bans nobody (and this Dovecot has no penalty): five wrong
    # passwords, every one answered 535.
    p = check(pki, exim["good"].target("submission"), "--source", OUTSIDE,
              "--probe-guard", "--failure-budget", "5")
    assert p.status["auth-guard"] == "fail", p.summary
    assert p.summary["auth-guard"].startswith(
        "no guard: 5 wrong passwords from 127.0.0.2, every one answered "
        "535"), p.summary["auth-guard"]
