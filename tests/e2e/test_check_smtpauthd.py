"""smtpauth check against smtpauthd itself, on each listener mode: every
check passes (the loopback source is a warning by design), the message
sent with --send lands in the Maildir, and no secret reaches the output."""
import json
import re

import pytest

from clientlib import run
from test_auth import PASSWORD, auth_server, plain
from test_tls import pki  # noqa: F401 - the session-wide test CA

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
