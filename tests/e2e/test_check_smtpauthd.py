"""smtpauth check against smtpauthd itself, on each listener mode: every
check passes (the loopback source is a warning by design), the message
sent with --send lands in the Maildir, and no secret reaches the output;
the TLS audit passes on smtpauthd's default TLS configuration."""
import json
import re
import subprocess

import pytest

from clientlib import run
from e2elib import T
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
