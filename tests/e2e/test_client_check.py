"""smtpauth check against servers that misbehave on purpose.

Each misbehaviour must turn exactly its check ids to "fail" (exit 1); a
well-behaved server (TLS, AUTH only after TLS, 535 for a wrong password,
relay only when authenticated) gives exit 0 with every check pass or skip,
but for the source-address warning every run from 127.0.0.1 gets.
Transcripts and reports never show a credential.
"""
import json
import re

import pytest

from clientlib import (FakeServer, PASSWORD, QUEUE_ID, USER, free_port,
                       make_pki, run, secret_forms)
from e2elib import ipv6_available

PINNED = ["connect", "banner", "ehlo", "auth-hidden-plaintext",
          "auth-refused-plaintext", "starttls", "starttls-injection",
          "tls-version", "tls-cert", "auth-advertised", "auth-bad-password",
          "auth-good", "relay-denied-unauth", "local-accepted-unauth",
          "relay-allowed-auth", "send", "quit"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


class Attempts:
    """Every PLAIN/LOGIN credential a server was given, with its TLS
    state: the tester must never give the real password in clear."""

    def __init__(self, srv):
        self.seen = []
        self.on_later_cert = []     # passwords given over later_cert
        orig = srv.authenticate

        def record(server, session, envelope, mechanism, auth_data):
            self.seen.append((mechanism, auth_data.login.decode(),
                              auth_data.password.decode(),
                              session.ssl is not None))
            if srv.later_ctx is not None and srv.on_later_cert(server):
                self.on_later_cert.append(auth_data.password.decode())
            return orig(server, session, envelope, mechanism, auth_data)
        srv.controller.SMTP_kwargs["authenticator"] = record


def check(srv, pki, *extra, password=PASSWORD, user=USER, ca=True,
          source=True):
    """smtpauth check of srv; with source, from --source srv.host: the
    loopback address named as the one to judge from, the Internet's view
    (without it, verdicts a trusted address could change are warnings)."""
    args = ["check", "--json", "--to", USER]
    if source:
        args += ["--source", srv.host]
    if user:
        args += ["--user", user]
    if ca:
        args += ["--ca-file", pki["ca"]]
    p = run(args + list(extra) + [srv.target],
            env={"SMTPAUTH_PASSWORD": password} if password else None)
    p.json = json.loads(p.out)
    p.status = {c["id"]: c["status"] for c in p.json["checks"]}
    p.summary = {c["id"]: c["summary"] for c in p.json["checks"]}
    return p


def failed(p):
    return {k for k, v in p.status.items() if v == "fail"}


def assert_no_secrets(text, extra=()):
    for s in list(secret_forms()) + list(extra):
        assert s not in text, "secret %r in output" % s


def test_good_server_passes(pki):
    with FakeServer(pki["good"]) as srv:
        p = check(srv, pki)
    assert p.returncode == 0, (p.out, p.err)
    ids = [c["id"] for c in p.json["checks"]]
    # The pinned ids, in their order (more may be between them).
    assert [i for i in ids if i in PINNED] == PINNED
    assert len(ids) == len(set(ids))
    assert p.json["target"] == srv.target
    assert p.json["result"] == "pass"
    bad = {k: v for k, v in p.status.items() if v not in ("pass", "skip")}
    assert not bad, p.out
    assert "--source" in p.summary["source-address"]
    for k in ("connect", "source-address", "banner", "ehlo", "auth-hidden-plaintext",
              "auth-refused-plaintext", "starttls", "starttls-injection",
              "tls-version", "tls-cert", "auth-advertised",
              "auth-bad-password", "auth-good", "relay-denied-unauth",
              "local-accepted-unauth", "relay-allowed-auth", "quit"):
        assert p.status[k] == "pass", (k, p.summary[k])
    assert p.status["send"] == "skip"
    assert "538" in p.summary["auth-refused-plaintext"]
    assert "535" in p.summary["auth-bad-password"]
    assert "-STARTTLS" in p.summary["ehlo-tls"]
    assert "+AUTH" in p.summary["ehlo-tls"]
    # The best mechanism offered was used, and it proved itself.
    assert "SCRAM-SHA-256" in p.summary["auth-good"]


@pytest.mark.parametrize("name,kw,cert,fails", [
    ("auth in clear", dict(auth_in_clear=True), "good",
     {"auth-hidden-plaintext", "auth-refused-plaintext"}),
    ("any password", dict(any_password=True), "good",
     {"auth-bad-password"}),
    ("503 to AUTH", dict(auth_503=True), "good",
     {"auth-bad-password", "auth-good"}),
    ("open relay", dict(open_relay=True), "good",
     {"relay-denied-unauth"}),
    ("no STARTTLS", dict(starttls=False), None, {"starttls"}),
    ("expired certificate", {}, "expired", {"tls-cert"}),
    ("wrong host", {}, "wronghost", {"tls-cert"}),
    ("STARTTLS injection", dict(vulnerable=True), "good",
     {"starttls-injection"}),
])
def test_misbehaving_server(pki, name, kw, cert, fails):
    with FakeServer(pki[cert] if cert else None, **kw) as srv:
        p = check(srv, pki)
    assert failed(p) == fails, (name, p.out)
    assert p.returncode == 1
    assert p.json["result"] == "fail"


@pytest.mark.parametrize("name,kw,ids", [
    ("auth in clear", dict(auth_in_clear=True),
     {"auth-hidden-plaintext", "auth-refused-plaintext"}),
    ("open relay", dict(open_relay=True), {"relay-denied-unauth"}),
])
def test_from_loopback_cannot_tell(pki, name, kw, ids):
    # Without --source, from 127.0.0.1: the server may trust loopback
    # (Postfix's mynetworks, Dovecot's own address); what only a trusted
    # address gets is a warning, and source-address names each verdict.
    with FakeServer(pki["good"], **kw) as srv:
        p = check(srv, pki, source=False)
    assert not failed(p), (name, p.out)
    assert {k for k, v in p.status.items() if v == "warn"} == \
        ids | {"source-address"}, p.out
    for i in ids:
        assert i in p.summary["source-address"]
        assert "cannot tell" in p.summary[i] or "trusts" in p.summary[i]
    assert "OPEN RELAY" not in p.summary["relay-denied-unauth"][:10]


def test_from_loopback_good_server_passes(pki):
    with FakeServer(pki["good"]) as srv:
        p = check(srv, pki, source=False)
    assert p.returncode == 0, p.out
    assert p.status["source-address"] == "pass"
    assert "no verdict depended on it" in p.summary["source-address"]


def test_any_password_summary(pki):
    with FakeServer(pki["good"], any_password=True) as srv:
        p = check(srv, pki, "--mech", "plain")
    assert failed(p) == {"auth-bad-password"}
    assert "CRITICAL" in p.summary["auth-bad-password"]


def test_clear_auth_never_gets_the_password(pki):
    """Against a server that takes AUTH in clear: the probe in clear uses
    a made-up credential; the real one only goes under TLS; at most one
    wrong password per run."""
    with FakeServer(pki["good"], auth_in_clear=True) as srv:
        a = Attempts(srv)
        p = check(srv, pki, "--mech", "plain", "-v")
    assert failed(p) == {"auth-hidden-plaintext", "auth-refused-plaintext"}
    assert a.seen, "no AUTH reached the server"
    for mech, login, pw, tls in a.seen:
        assert tls or pw != PASSWORD, a.seen
    assert any(tls and pw == PASSWORD for _, _, pw, tls in a.seen)
    wrong = [s for s in a.seen if s[1] == USER and s[2] != PASSWORD]
    assert len(wrong) == 1, a.seen
    assert_no_secrets(p.out + p.err)


def test_no_bad_auth(pki):
    with FakeServer(pki["good"]) as srv:
        a = Attempts(srv)
        p = check(srv, pki, "--no-bad-auth", "--mech", "login")
    assert p.returncode == 0
    assert p.status["auth-bad-password"] == "skip"
    assert [s[2] for s in a.seen] == [PASSWORD]


@pytest.mark.parametrize("mech", [None, "plain", "login", "cram-md5",
                                  "scram-sha-256"])
def test_transcript_redacted(pki, mech):
    extra = ["-v"] + (["--mech", mech] if mech else [])
    with FakeServer(pki["good"]) as srv:
        p = check(srv, pki, *extra)
        sent = list(srv.handler.received_auth)
    assert p.returncode == 0, (p.out, p.err)
    assert p.status["auth-good"] == "pass", p.summary["auth-good"]
    text = p.out + p.err
    assert "C: AUTH " in p.err
    assert "<redacted>" in p.err
    assert_no_secrets(text, sent)


def test_password_file_and_prompt_free(pki, tmp_path):
    f = tmp_path / "pw"
    f.write_text(PASSWORD + "\n")
    with FakeServer(pki["good"]) as srv:
        p = check(srv, pki, "--password-file", f, password=None)
    assert p.returncode == 0, p.out
    assert p.status["auth-good"] == "pass"


def test_password_from_stdin(pki):
    with FakeServer(pki["good"]) as srv:
        p = run(["check", "--json", "--ca-file", pki["ca"], "--user", USER,
                 srv.target], input=PASSWORD + "\n")
    assert p.returncode == 0, p.out
    assert json.loads(p.out)["result"] == "pass"


def test_send(pki):
    with FakeServer(pki["good"]) as srv:
        p = check(srv, pki, "--send")
        msgs = srv.handler.messages
    assert p.returncode == 0
    assert p.status["send"] == "pass"
    assert QUEUE_ID in p.summary["send"]
    assert len(msgs) == 1 and msgs[0].rcpt_tos == [USER]
    # Relay probes never reach DATA: the one message is --send's.
    assert b"Subject: smtpauth check" in msgs[0].content


def test_implicit_tls(pki):
    with FakeServer(pki["good"], implicit=True) as srv:
        p = check(srv, pki, "--tls", "implicit")
    assert p.returncode == 0, p.out
    assert p.status["starttls"] == "pass"
    assert p.status["tls-cert"] == "pass"
    assert p.status["auth-good"] == "pass"
    for k in ("auth-hidden-plaintext", "auth-refused-plaintext",
              "starttls-injection"):
        assert p.status[k] == "skip"


def test_insecure_goes_on(pki):
    # --insecure trusts any issuer: a self-signed certificate for the
    # right name is a warning, and the run goes on.
    with FakeServer(pki["selfsigned"]) as srv:
        p = check(srv, pki, "--insecure")
    assert p.returncode == 0, p.out
    assert p.status["tls-cert"] == "warn"
    assert "issuer" in p.summary["tls-cert"]
    assert p.status["auth-good"] == "pass"


@pytest.mark.parametrize("cert,why", [("expired", "expired"),
                                      ("wronghost", "not for")])
def test_insecure_still_fails_expiry_and_name(pki, cert, why):
    with FakeServer(pki[cert]) as srv:
        p = check(srv, pki, "--insecure")
    assert p.returncode == 1, p.out
    assert failed(p) == {"tls-cert"}
    assert why in p.summary["tls-cert"]


def test_no_greeting_is_exit_2():
    # A server that accepts and never speaks: nothing could be tested.
    import socket
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(4)
        p = run(["check", "--json", "--timeout", "2",
                 "127.0.0.1:%d" % ls.getsockname()[1]])
    assert p.returncode == 2, p.out
    st = {c["id"]: c for c in json.loads(p.out)["checks"]}
    assert st["banner"]["status"] == "fail"
    assert "no greeting" in st["banner"]["summary"]


def test_unverified_certificate_keeps_the_password(pki):
    with FakeServer(pki["good"]) as srv:
        a = Attempts(srv)
        p = check(srv, pki, "--mech", "plain", ca=False)
    assert failed(p) == {"tls-cert"}
    assert p.status["auth-good"] == "skip"
    assert all(pw != PASSWORD for _, _, pw, _ in a.seen), a.seen


@pytest.mark.parametrize("implicit", [False, True],
                         ids=["starttls", "implicit"])
@pytest.mark.parametrize("later", ["wronghost", "selfsigned"])
def test_reconnect_verifies_its_own_certificate(pki, implicit, later):
    # The first connection verifies; the server hangs up on the wrong
    # password, and the connection the checklist opens for auth-good gets
    # a certificate that does not verify.  The password must not go there.
    with FakeServer(pki["good"], implicit=implicit,
                    later_cert=pki[later]) as srv:
        a = Attempts(srv)
        p = check(srv, pki, "--mech", "plain",
                  *(["--tls", "implicit"] if implicit else []))
        later_conns, hung_up = srv.later_conns, srv.handler.hung_up
    assert hung_up, "the wrong password never came"
    assert later_conns >= 1, "the checklist never reconnected"
    assert a.on_later_cert == [], a.seen
    assert all(pw != PASSWORD for _, _, pw, _ in a.seen), a.seen
    assert p.status["tls-cert"] == "fail", p.summary
    assert "later connection" in p.summary["tls-cert"]
    assert p.status["auth-good"] == "skip", p.summary
    assert "did not verify" in p.summary["auth-good"]
    assert p.returncode == 1


def test_tls_none_never_sends_the_password(pki):
    with FakeServer(pki["good"], auth_in_clear=True) as srv:
        a = Attempts(srv)
        p = check(srv, pki, "--tls", "none")
    assert "not used" in p.err
    assert p.status["auth-good"] == "skip"
    assert p.status["starttls"] == "skip"
    assert failed(p) == {"auth-hidden-plaintext", "auth-refused-plaintext"}
    assert all(pw != PASSWORD for _, _, pw, _ in a.seen), a.seen


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_ipv6(pki):
    with FakeServer(pki["good"], host="::1") as srv:
        p = check(srv, pki, "-6")
    assert p.returncode == 0, p.out
    assert p.json["target"] == srv.target
    assert "::1" in p.summary["connect"]
    assert p.status["tls-cert"] == "pass"       # the certificate's ::1
    assert p.status["auth-good"] == "pass"


def test_connection_refused():
    port = free_port()
    p = run(["check", "--json", "127.0.0.1:%d" % port])
    assert p.returncode == 2
    r = json.loads(p.out)
    st = {c["id"]: c["status"] for c in r["checks"]}
    assert st["connect"] == "fail"
    assert r["result"] == "fail"
    assert all(v == "skip" for k, v in st.items() if k != "connect")


def test_text_output(pki):
    with FakeServer(pki["good"]) as srv:
        p = run(["check", "--ca-file", pki["ca"], "--user", USER,
                 srv.target], env={"SMTPAUTH_PASSWORD": PASSWORD})
    assert p.returncode == 0
    lines = p.out.splitlines()
    assert lines[0] == "smtpauth check " + srv.target
    assert lines[-1].startswith("result: PASS")
    assert "\033[" not in p.out             # NO_COLOR, and not a tty
    assert any(l.split()[:2] == ["pass", "auth-good"] for l in lines)


class RawServer:
    """A few lines of socket: each connection gets `greeting` (bytes, may
    be empty: a server that says nothing), then `reply` to every line it
    reads; holds connections open until closed.  Notes when each
    connection came (accepted) and the most open at once (most: it sees
    a close late, so it may count one more than the client had), and for
    each connection (conns) when it came, when it ended and the first
    bytes the client sent (b"" if none: a session that waited for a
    greeting, not a probe that sent a PROXY header)."""

    def __init__(self, greeting, reply=b"", hold=30):
        import socket
        import threading
        self.greeting, self.reply, self.hold = greeting, reply, hold
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.target = "127.0.0.1:%d" % self.port
        self.lock = threading.Lock()
        self.now = self.most = 0
        self.accepted = []
        self.conns = []
        self.done = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        import threading
        while not self.done.is_set():
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        import time
        came, first = time.monotonic(), b""
        with self.lock:
            self.accepted.append(came)
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            c.settimeout(self.hold)
            if self.greeting:
                c.sendall(self.greeting)
            end = time.monotonic() + self.hold
            while time.monotonic() < end:
                got = c.recv(4096)
                if not got:
                    break       # the client gave up
                first = first or got
                if self.reply:
                    c.sendall(self.reply)
        except OSError:
            pass
        finally:
            with self.lock:
                self.now -= 1
                self.conns.append((came, time.monotonic(), first))
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.done.set()
        self.ls.close()


def checks(p, i=None):
    j = json.loads(p.out)
    t = j if i is None else j["targets"][i]
    return ({c["id"]: c["status"] for c in t["checks"]},
            {c["id"]: c["summary"] for c in t["checks"]})


@pytest.mark.parametrize("greeting,shown", [
    (b"hello\r\n", '"hello"'),
    (b"25O ok\r\n", '"25O ok"'),
    # No separator after the code; the octets escaped in the summary.
    (b"220\x01\xff bad\r\n", '"220\\x01\\xff bad"'),
])
def test_malformed_greeting_is_named(greeting, shown):
    # Something came, and it is not SMTP: said so, with the line escaped,
    # not "no greeting"; nothing could be tested (exit 2).
    with RawServer(greeting) as srv:
        p = run(["check", "--json", "--timeout", "5", srv.target])
    assert p.returncode == 2, p.out
    st, sm = checks(p)
    assert st["banner"] == "fail"
    assert "malformed reply" in sm["banner"], sm["banner"]
    assert "no greeting" not in sm["banner"]
    assert shown in sm["banner"], sm["banner"]


def test_malformed_reply_to_ehlo():
    with RawServer(b"220 fake ESMTP\r\n", reply=b"25O ok\r\n") as srv:
        p = run(["check", "--json", "--timeout", "5", srv.target])
    assert p.returncode == 1, p.out
    st, sm = checks(p)
    assert st["banner"] == "pass"
    assert st["ehlo"] == "fail"
    assert sm["ehlo"].startswith("EHLO: malformed reply"), sm["ehlo"]
    assert '"25O ok"' in sm["ehlo"]


def test_tls_record_for_a_greeting():
    # A TLS alert where the greeting should be: the port speaks TLS.
    with RawServer(b"\x15\x03\x03\x00\x02\x02\x46") as srv:
        p = run(["check", "--json", "--timeout", "5", "--tls", "none",
                 srv.target])
    assert p.returncode == 2, p.out
    st, sm = checks(p)
    assert "--tls implicit" in sm["banner"], sm["banner"]


def test_junit_escapes_hostile_replies(tmp_path):
    # Markup, control octets and invalid UTF-8 from the server: the JUnit
    # file stays well-formed XML and shows them escaped.
    import xml.etree.ElementTree as ET
    junit = tmp_path / "r.xml"
    greeting = b'421 <x> & "y" \x1b[31m \xc3\x28 \xe2\x82\xac\r\n'
    with RawServer(greeting) as srv:
        p = run(["check", "--json", "--junit", junit, "--timeout", "5",
                 srv.target])
    assert p.returncode == 1, p.out
    raw = junit.read_bytes()
    raw.decode("utf-8")     # valid UTF-8 throughout
    assert b"\x1b" not in raw
    root = ET.fromstring(raw)
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == srv.target
    banner = [c for c in suite.iter("testcase") if c.get("name") == "banner"]
    (f,) = banner[0].findall("failure")
    assert '<x> & "y"' in f.get("message"), f.get("message")
    assert "\\x1b" in f.text
    assert int(root.get("failures")) == 1
    assert int(root.get("tests")) == len(list(root.iter("testcase")))


def targets_file(tmp_path, text):
    f = tmp_path / "targets"
    f.write_text(text)
    return f


@pytest.mark.parametrize("text,msg", [
    ("host1\n\nhost2 bogus=1\n", ":3: unknown key \"bogus\""),
    ("# a comment\nhost1:25 ports=25\n", ":2: ports= with HOST:PORT"),
    ("host1 ports=25,,587\n", ":1: ports:"),
    ("host1 ports=25/relay\n", ":1: ports: 25/relay: mx, submission"),
    ("host1 role=mx role=mx\n", ":1: role= twice"),
    ("host1 to=nobody\n", ":1: to=: not an address"),
    ("host1 password-file=/x\n", ":1: password-file= without user="),
    ("host1 user\n", ":1: \"user\": not key=value"),
    ("host1:99999\n", ":1: host1:99999: bad port"),
    ("role=mx\n", ":1: a line starts with HOST"),
    ("# nothing\n   \n", "no targets"),
    ("host1 tls=maybe\n", ":1: tls=: starttls, implicit or none"),
    ("host1\nhost2 user=a\0b\n", ":2: NUL in the line"),
    ("host1 user=a\x1bb\n", ":1: control character"),
    ("h" * 5000 + "\n", ":1: line longer than 4096"),
], ids=lambda v: v[:40] if isinstance(v, str) else v)
def test_targets_file_is_parsed_strictly(tmp_path, text, msg):
    f = targets_file(tmp_path, text)
    p = run(["check", "--targets", f])
    assert p.returncode == 2
    assert msg in p.err, p.err
    assert str(f) in p.err


def test_targets_usage():
    p = run(["check", "--targets", "/nonexistent", "127.0.0.1:25"])
    assert p.returncode == 2 and "not both" in p.err
    p = run(["check"])
    assert p.returncode == 2 and "--targets" in p.err
    p = run(["check", "--ports", "25", "127.0.0.1:25"])
    assert p.returncode == 2 and "--ports with HOST:PORT" in p.err
    p = run(["check", "--parallel", "0", "127.0.0.1"])
    assert p.returncode == 2 and "--parallel" in p.err


def test_targets_run_in_parallel_within_the_bound(tmp_path):
    # Four targets on a server that never greets, two at a time: two
    # connections at once, and the third only once the first gave up on
    # its greeting (2 s); all four reported, nothing could be tested
    # (exit 2).  Comments and blank lines are skipped.
    with RawServer(b"") as srv:
        lines = "# four silent targets\n\n" + "".join(
            "%s tls=none   # number %d\n" % (srv.target, i) for i in range(4))
        f = targets_file(tmp_path, lines)
        p = run(["check", "--json", "--timeout", "2", "--parallel", "2",
                 "--targets", f])
        conns, most = list(srv.conns), srv.most
    assert p.returncode == 2, p.out
    j = json.loads(p.out)
    assert len(j["targets"]) == 4
    assert all(t["state"] == "untested" for t in j["targets"])
    assert j["result"] == "untested"
    assert j["summary"]["untested"] == 4
    # A target's session waits for the greeting; its PROXY probes (which
    # send a header first) follow, one at a time.  Two targets at once:
    # the sessions of the third and fourth start only after the first
    # two targets gave up (2 s each step).
    sessions = sorted(c for c in conns if c[2] == b"")
    assert len(sessions) == 4, conns
    assert all(c[2].startswith((b"PROXY ", b"\r\n\r\n\0\r\nQUIT\n"))
               for c in conns if c[2] != b""), conns
    at = [c[0] for c in sessions]
    # Slack for a late accept() on a loaded machine; without the bound
    # all four would come at once.
    # The first two at once: the second came while the first waited.
    assert sessions[1][0] < sessions[0][1], sessions
    assert at[2] - at[0] > 1.5 and at[3] - at[1] > 1.5, at
    # A target holds its session open while its probes run: at most two
    # connections a target, four at once; without the bound, eight.  The
    # server sees a close late (when both targets end at once and the next
    # two start, by two): counted from the connections' times, each end
    # taken 0.5 s early (every connection lasts the 2 s of a timeout).
    overlap = max(sum(1 for d in conns if d[0] <= c[0] < d[1] - 0.5)
                  for c in conns)
    assert overlap <= 4, (overlap, most, conns)
    assert most <= 6, (most, conns)


def test_targets_one_good_one_silent(pki, tmp_path):
    # A passing server and a silent one in one run: the silent one could
    # not be tested, so the run fails (exit 1), and both are reported.
    with FakeServer(pki["good"]) as good, RawServer(b"") as silent:
        f = targets_file(tmp_path, "%s user=%s to=%s\n%s tls=none\n" % (
            good.target, USER, USER, silent.target))
        p = run(["check", "--json", "--timeout", "3", "--source",
                 "127.0.0.1", "--ca-file", pki["ca"], "--targets", f],
                env={"SMTPAUTH_PASSWORD": PASSWORD})
    assert p.returncode == 1, p.out
    j = json.loads(p.out)
    states = [t["state"] for t in j["targets"]]
    assert states == ["pass", "untested"], p.out
    st, _ = checks(p, 0)
    assert st["auth-good"] == "pass"
    st, sm = checks(p, 1)
    assert "no greeting" in sm["banner"]


def test_whole_host_closed_default_ports_are_news():
    # 25, 465 and 587 on an address where nothing listens: each noted as
    # closed, not failed, and nothing could be tested (exit 2).
    import socket
    for port in (25, 465, 587):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.3", port)) == 0:
                pytest.skip("something listens on 127.0.0.3:%d" % port)
    p = run(["check", "--json", "--timeout", "5", "127.0.0.3"])
    assert p.returncode == 2, p.out
    j = json.loads(p.out)
    assert [t["target"] for t in j["targets"]] == [
        "127.0.0.3:25", "127.0.0.3:465", "127.0.0.3:587"]
    assert [t["role"] for t in j["targets"]] == ["mx", "submission",
                                                 "submission"]
    for t in j["targets"]:
        assert t["state"] == "closed"
        assert t["checks"][0]["status"] == "skip"
        assert "port closed" in t["checks"][0]["summary"]
    p = run(["check", "--timeout", "5", "127.0.0.3"])
    assert p.returncode == 2
    assert p.out.count("result: CLOSED") == 3
    assert "result: NOTHING TESTED" in p.out


def test_whole_host_text_says_what_was_not_tested():
    # A named port that never greets: its block ends NOT TESTED (not the
    # FAIL of a check that failed), and so does the run.
    with RawServer(b"") as srv:
        p = run(["check", "--timeout", "2", "--tls", "none", "--ports",
                 str(srv.port), "127.0.0.1"])
    assert p.returncode == 2, p.out
    assert "smtpauth check %s\n" % srv.target in p.out
    # Every other check of the stable list is skipped.
    assert re.search(r"\nresult: NOT TESTED \(1 pass, 0 warn, 1 fail, "
                     r"\d+ skip\)\n", p.out), p.out
    assert "summary: 1 target: 0 pass, 0 fail, 1 not tested, 0 closed" \
        in p.out
    assert p.out.endswith("result: NOTHING TESTED\n")
