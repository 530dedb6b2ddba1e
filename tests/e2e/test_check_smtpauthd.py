"""smtpauth check against smtpauthd itself, on each listener mode: every
check passes (the loopback source is a warning by design), the message
sent with --send lands in the Maildir, and no secret reaches the output;
the TLS audit passes on smtpauthd's default TLS configuration."""
import json
import re
import subprocess

import pytest

from clientlib import run
from e2elib import T, free_port
from test_auth import PASSWORD, auth_server, plain
from test_tls import pki, tls_server  # noqa: F401 - the session-wide CA

USER = "user@example.org"


def check(srv, pki, port, *extra):
    args = ["check", "--json", "--ca-file", str(pki / "ca.pem"),
            "--user", USER, "--to", "other@example.org",
            "--relay-to", "friend@elsewhere.example"] + list(extra)
    p = run(args + ["127.0.0.1:%d" % port],
            env={"SMTPAUTH_PASSWORD": PASSWORD})
    p.json = json.loads(p.out)
    p.status = {c["id"]: c["status"] for c in p.json["checks"]}
    p.summary = {c["id"]: c["summary"] for c in p.json["checks"]}
    return p


@pytest.mark.parametrize("mode", ["smtp", "submission", "smtps"])
def test_check_passes_against_smtpauthd(server, pki, mode):
    srv = auth_server(server, pki, submission=True)
    port = {"smtp": srv.port, "submission": srv.sub_port,
            "smtps": srv.smtps_port}[mode]
    extra = ["--tls", "implicit"] if mode == "smtps" else []
    p = check(srv, pki, port, "--send", *extra)
    assert p.returncode == 0, (p.out, p.err)
    assert p.json["result"] == "pass"
    bad = {k: v for k, v in p.status.items()
           if v not in ("pass", "skip") and k != "source-address"}
    assert bad == {}, p.out
    for k in ("connect", "banner", "ehlo", "tls-version", "tls-cert",
              "auth-advertised", "auth-bad-password", "auth-good",
              "relay-denied-unauth", "relay-allowed-auth", "send", "quit"):
        assert p.status[k] == "pass", (k, p.out)
    if mode != "smtps":
        for k in ("auth-hidden-plaintext", "auth-refused-plaintext",
                  "starttls", "starttls-injection"):
            assert p.status[k] == "pass", (k, p.out)
    if mode == "smtp":
        assert p.status["local-accepted-unauth"] == "pass"
    (m,) = srv.wait_messages("other@example.org", 1)
    qid = re.search(rb"id ([0-9A-F]{16})", m).group(1).decode()
    assert qid in p.out
    # One wrong password per run, and never the real one in clear.
    assert len(re.findall("auth result=fail", srv.log())) == 1
    for secret in (PASSWORD, plain(USER, PASSWORD)):
        assert secret not in p.out + p.err


def test_targets_file_smtpauthd_and_postfix(server, pki, tmp_path):
    # Two servers nobody configured alike in one run: smtpauthd's
    # submission port and a private Postfix's (Dovecot SASL), each with
    # its own user, password file and local recipient; one summary, one
    # exit status, and every target in JSON and JUnit.
    import xml.etree.ElementTree as ET
    from mailservers import (DOVE_USERS, POSTFIX_SUBMISSION, Dovecot,
                             Postfix)
    srv = auth_server(server, pki, submission=True)
    dv = Dovecot().start()
    pf = Postfix(str(pki / "ec.pem"), str(pki / "ec.key"), dv.sock,
                 {"submission": POSTFIX_SUBMISSION})
    try:
        pf.start()
        pw1, pw2 = tmp_path / "pw-smtpauthd", tmp_path / "pw-postfix"
        pw1.write_text(PASSWORD + "\n")
        pw2.write_text(DOVE_USERS["alice@example.org"] + "\n")
        targets = tmp_path / "targets"
        targets.write_text(
            "# smtpauthd and Postfix, one run\n"
            "127.0.0.1:%d user=%s password-file=%s to=other@example.org\n"
            "127.0.0.1 ports=%d/submission user=alice@example.org "
            "password-file=%s to=bob@example.org   # Postfix\n"
            % (srv.sub_port, USER, pw1, pf.ports["submission"], pw2))
        junit = tmp_path / "report.xml"
        # Debian's Postfix takes TLS 1.0 (the audit's failure, tested
        # in test_check_real): the audit is left out of this run.
        p = run(["check", "--json", "--ca-file", str(pki / "ca.pem"),
                 "--relay-to", "friend@elsewhere.example", "--junit", junit,
                 "--no-tls-audit", "--targets", targets])
        log = pf.log()
    finally:
        pf.cleanup()
        dv.cleanup()
    assert p.returncode == 0, (p.out, p.err, log)
    j = json.loads(p.out)
    assert [t["target"] for t in j["targets"]] == [
        "127.0.0.1:%d" % srv.sub_port,
        "127.0.0.1:%d" % pf.ports["submission"]]
    assert j["summary"]["pass"] == 2 and j["result"] == "pass"
    for t in j["targets"]:
        st = {c["id"]: c["status"] for c in t["checks"]}
        assert st["auth-good"] == "pass", t
        assert st["relay-allowed-auth"] == "pass", t
    # smtpauthd saw one wrong password and the right one for its user.
    assert len(re.findall("auth result=fail", srv.log())) == 1
    root = ET.parse(junit).getroot()
    assert [s.get("name") for s in root.findall("testsuite")] == \
        [t["target"] for t in j["targets"]]
    assert root.get("failures") == "0"
    assert int(root.get("tests")) == sum(len(t["checks"])
                                         for t in j["targets"])
    for secret in (PASSWORD, DOVE_USERS["alice@example.org"],
                   plain(USER, PASSWORD)):
        assert secret not in p.out + p.err
        assert secret not in junit.read_text()


def test_implicit_tls_on_a_submission_port_is_named(server, pki):
    # smtpauthd speaking implicit TLS on a port meant for submission with
    # STARTTLS: the tester says which mode to pass, well within the greeting
    # timeout, and nothing was tested (exit 2).  Then the other way round.
    import time
    srv = auth_server(server, pki, submission=True)
    t0 = time.monotonic()
    p = run(["check", "--json", "--ca-file", str(pki / "ca.pem"),
             "--ports", "%d/submission" % srv.smtps_port, "127.0.0.1"])
    took = time.monotonic() - t0
    assert p.returncode == 2, p.out
    (t,) = json.loads(p.out)["targets"]
    sm = {c["id"]: c["summary"] for c in t["checks"]}
    assert t["state"] == "untested" and t["role"] == "submission"
    assert "--tls implicit" in sm["banner"], sm
    assert took < 20, took      # the greeting timeout is 30 s
    p = run(["check", "--json", "--tls", "implicit", "--ca-file",
             str(pki / "ca.pem"), "127.0.0.1:%d" % srv.sub_port])
    assert p.returncode == 2, p.out
    sm = {c["id"]: c["summary"] for c in json.loads(p.out)["checks"]}
    assert "--tls starttls" in sm["starttls"], sm
AUDIT_IDS = ("tls-protocols", "tls-ciphers", "tls-dh", "tls-key",
             "tls-chain", "tls-ocsp")


def s_client_ok(port, *args):
    """Does openssl s_client complete a handshake through STARTTLS?"""
    p = subprocess.run(["openssl", "s_client", "-starttls", "smtp",
                        "-connect", "127.0.0.1:%d" % port] + list(args),
                       input=b"QUIT\r\n", capture_output=True,
                       timeout=T(30))
    return re.search(rb"^ +Cipher +: (?!0000)\S+", p.stdout, re.M) is not None


@pytest.mark.parametrize("cert", ["ec", "rsa", ("ec", "rsa")],
                         ids=["ec", "rsa", "both"])
def test_tls_audit_passes_on_the_default_config(server, pki, cert):
    # smtpauthd's TLS defaults: TLS 1.2 and 1.3, AEAD suites with ECDHE
    # only, in the server's order.  Every TLS audit check passes.
    srv = tls_server(server, pki, cert=cert)
    args = ["check", "--json", "--ca-file", str(pki / "ca.pem"), "--role",
            "mx", "127.0.0.1:%d" % srv.port]
    p = run(args)
    st = {c["id"]: (c["status"], c["summary"]) for c in
          json.loads(p.out)["checks"]}
    assert {k: v for k, v in st.items() if k in AUDIT_IDS and
            v[0] != "pass"} == {}, p.out
    s = {k: v[1] for k, v in st.items()}
    assert s["tls-protocols"].startswith("accepts TLSv1.3 TLSv1.2; refuses "
                                         "TLSv1.1 TLSv1.0")
    n = int(re.search(r"took (\d+) connections", s["tls-protocols"])[1])
    assert n <= 40
    assert "weak" not in s["tls-ciphers"]
    # What OpenSSL 3 cannot offer, asked with raw ClientHellos: refused.
    assert "refuses TLSv1.1 TLSv1.0 SSLv3; SSLv3 asked by a raw " \
        "ClientHello" in s["tls-protocols"], s["tls-protocols"]
    assert "; export, RC4, DES, 3DES refused (raw ClientHello)" in \
        s["tls-ciphers"], s["tls-ciphers"]
    assert re.search(r"TLSv1.3: 3 suites, server order, first TLS_AES_256",
                     s["tls-ciphers"]), s["tls-ciphers"]
    assert re.search(r"TLSv1.2: \d suites, server order, first ECDHE-",
                     s["tls-ciphers"]), s["tls-ciphers"]
    assert s["tls-dh"].startswith("no DHE suite accepted")
    first = cert if isinstance(cert, str) else cert[0]
    assert s["tls-key"].startswith({"ec": "EC prime256v1, 256 bits",
                                    "rsa": "RSA 2048 bits"}[first])
    assert s["tls-chain"].startswith("complete: 1 certificate sent")
    # s_client agrees: no TLS 1.1 even at security level 0, no DHE, no
    # anonymous suite; TLS 1.2 with ECDHE is taken.
    low = "DEFAULT:@SECLEVEL=0"
    assert not s_client_ok(srv.port, "-tls1_1", "-cipher", low)
    assert not s_client_ok(srv.port, "-tls1_2", "-cipher", "kDHE:" + low)
    assert not s_client_ok(srv.port, "-tls1_2", "-cipher", "aNULL:" + low)
    assert s_client_ok(srv.port, "-tls1_2", "-cipher", "kECDHE")
    # The probes never authenticate: the one AUTH in the log is the
    # checklist's made-up user (auth-bad-password), and no mail came.
    assert len(re.findall("auth result=", srv.log())) == 1, srv.log()
    assert "auth result=fail" in srv.log()
    assert " queued id=" not in srv.log()
# -- The audit probes (issue 15)

def test_audit_probes_pass_against_smtpauthd(server, pki):
    # VRFY gets 252 "cannot VRFY" for anyone, EXPN 502: nothing told
    # apart; the greeting names no software; a PROXY header on a listener
    # without proxy is answered as a command.
    srv = auth_server(server, pki, submission=True)
    p = check(srv, pki, srv.port)
    for k in ("vrfy", "expn", "banner-disclosure", "proxy-spoofing",
              "rcpt-enumeration"):
        assert p.status[k] == "pass", (k, p.out)
    assert p.summary["vrfy"].startswith("the same answer"), p.out
    assert "252 2.5.0" in p.summary["vrfy"]
    assert "502 5.5.1" in p.summary["expn"]
    assert "v1 taken as a command (500" in p.summary["proxy-spoofing"]
    # Port 25 style on a high port: RCPT tells users apart, as it must.
    assert "right for a port for incoming mail" in \
        p.summary["rcpt-enumeration"]
    assert p.status["auth-timing"] == "skip"
    assert p.status["auth-guard"] == "skip"
    # On the submission listener MAIL needs AUTH: no RCPT is looked at.
    p = check(srv, pki, srv.sub_port, "--role", "submission")
    assert p.status["rcpt-enumeration"] == "pass", p.out
    assert "530" in p.summary["rcpt-enumeration"]


def test_guard_probe_bans(server, pki):
    # auth-max-failures 3: auth-bad-password's wrong password and two of
    # the guard's, the third answered 421 and closed; the right password
    # is refused at connect once banned; another address is served; the
    # ban lifts after auth-ban.
    srv = auth_server(server, pki, extra=[
        "auth-max-failures 3", "auth-ban 4", "auth-failure-delay 50"])
    p = check(srv, pki, srv.port, "--source", "127.0.0.2", "--probe-guard",
              "--probe-guard-source", "127.0.0.3", "--probe-guard-wait",
              "30")
    assert p.status["auth-guard"] == "pass", p.out
    s = p.summary["auth-guard"]
    assert s.startswith("banned after 3 wrong passwords from 127.0.0.2 "
                        "(2 of them this probe's"), s
    assert "421 4.7.0" in s and "then at connect" in s, s
    assert "the right password cannot even be tried" in s, s
    assert "127.0.0.3 still served" in s, s
    assert "lifted after about" in s, s
    assert "WILL BAN THIS ADDRESS" in p.err
    srv.wait_log(r"auth: ban ip=127\.0\.0\.2 ")
    assert "ban ip=127.0.0.3" not in srv.log()
    for secret in (PASSWORD, plain(USER, PASSWORD)):
        assert secret not in p.out + p.err


def test_guard_probe_counts_against_the_budget(server, pki):
    srv = auth_server(server, pki, extra=["auth-failure-delay 50"])
    p = run(["check", "--probe-guard", "--failure-budget", "1",
             "127.0.0.1:%d" % srv.port])
    assert p.returncode == 2
    assert "--failure-budget 1" in p.err and "need 2" in p.err, p.err
    p = run(["check", "--probe-timing", "20", "--failure-budget", "30",
             "--user", USER, "127.0.0.1:%d" % srv.port],
            env={"SMTPAUTH_PASSWORD": PASSWORD})
    assert p.returncode == 2
    assert "need 41" in p.err, p.err
    assert "auth result=" not in srv.log()


def test_timing_probe_smtpauthd_equalised(server, pki):
    # An unknown user is hashed against a dummy of the same cost, and the
    # failure delay is the same for both: not told apart.  Exempt from the
    # guard, so that 16 wrong passwords ban nobody.
    srv = auth_server(server, pki, extra=[
        "auth-failure-delay 100", "auth-exempt 127.0.0.0/8"])
    p = check(srv, pki, srv.port, "--probe-timing", "8",
              "--failure-budget", "17")
    assert p.status["auth-timing"] == "pass", p.out
    s = p.summary["auth-timing"]
    assert "not told apart by timing" in s and "8 tries each" in s, s
    assert "16 wrong passwords of the failure budget spent" in s, s
    assert len(re.findall("auth result=fail", srv.log())) == 17


def proxy_listener(server, pki, trusted):
    port = free_port()
    srv = auth_server(server, pki, extra=[
        "listen 127.0.0.1:%d submission proxy" % port,
        "proxy-from %s" % trusted, "proxy-timeout 2"])
    srv.proxy_port = port
    return srv


def test_proxy_spoofing_untrusted_refused(server, pki):
    # From 127.0.0.2, outside proxy-from: closed before anything is read.
    srv = proxy_listener(server, pki, "127.0.0.1/32")
    p = check(srv, pki, srv.proxy_port, "--source", "127.0.0.2")
    assert p.status["proxy-spoofing"] == "pass", p.out
    assert "v1 no greeting" in p.summary["proxy-spoofing"], p.out
    assert p.returncode == 2            # no greeting: nothing else tested
    srv.wait_log(r"refuse reason=proxy-not-allowed ip=127\.0\.0\.2 ")


def test_proxy_spoofing_trusted_tester_fails(server, pki):
    # proxy-from names the tester's address: its forged 192.0.2.1 is
    # taken.  The port greets no one without a header, and says so.
    srv = proxy_listener(server, pki, "127.0.0.1/32")
    p = check(srv, pki, srv.proxy_port)
    assert p.returncode == 1, p.out
    assert p.status["proxy-spoofing"] == "fail", p.out
    s = p.summary["proxy-spoofing"]
    assert s.startswith("a PROXY v1 and v2 header from 127.0.0.1"), s
    assert "proxy-from" in s and "--source" in s, s
    srv.wait_log(r"connect ip=192\.0\.2\.1 port=12345 ")
