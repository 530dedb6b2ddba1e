"""smtpauth session driven through a pipe, and smtpauth send, against
aiosmtpd: STARTTLS, every AUTH mechanism, a message, and no secret ever
shown."""
import base64

import pytest

from clientlib import (FakeServer, PASSWORD, QUEUE_ID, USER, b64, make_pki,
                       run, secret_forms)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def assert_no_secrets(text, extra=()):
    for s in list(secret_forms()) + list(extra):
        assert s not in text, "secret %r in output" % s


def session(srv, pki, script, *extra, password=PASSWORD):
    return run(["session", "--ca-file", pki["ca"], "--user", USER] +
               list(extra) + [srv.target], input=script,
               env={"SMTPAUTH_PASSWORD": password} if password else None)


MESSAGE = ("MAIL FROM:<%s>\nRCPT TO:<other@example.com>\nDATA\n"
           "Subject: scripted\n\n..stuffed by the script\nbody\n.\n" % USER)


@pytest.mark.parametrize("mech", ["plain", "login", "cram-md5",
                                  "scram-sha-256"])
def test_session_script(pki, mech):
    with FakeServer(pki["good"]) as srv:
        p = session(srv, pki, "EHLO me.test\n/auth %s\n" % mech + MESSAGE +
                    "QUIT\n")
        msgs = srv.handler.messages
        sent = list(srv.handler.received_auth)
    assert p.returncode == 0, (p.out, p.err)
    out = p.out
    assert "*** TLS: TLSv1." in out
    assert "235 2.7.0" in out
    assert "*** authenticated as %s with %s" % (USER, mech.upper()) in out
    assert "did not prove" not in out
    assert "> AUTH %s" % mech.upper() in out
    assert "<redacted>" in out
    assert "250 2.0.0 Ok: queued as " + QUEUE_ID in out
    assert "221" in out
    assert len(msgs) == 1
    assert msgs[0].rcpt_tos == ["other@example.com"]   # relayed after AUTH
    assert b".stuffed by the script" in msgs[0].content
    assert_no_secrets(out + p.err, sent)


def test_session_starttls_by_hand(pki):
    """Begin in clear, look at the server, then /starttls."""
    script = ("EHLO me.test\nAUTH PLAIN %s\n/auth plain\n/starttls\n"
              "/auth plain\n" % b64("\0x\0y") + MESSAGE + "/quit\n")
    with FakeServer(pki["good"]) as srv:
        p = session(srv, pki, script, "--tls", "none")
        msgs = srv.handler.messages
    assert p.returncode == 0, (p.out, p.err)
    out = p.out
    # Typed in clear, the AUTH goes out as typed, and is refused.
    assert "538 5.7.11" in out
    # /auth refuses to send a password without TLS.
    assert "not sending a password without TLS" in out
    # /starttls: handshake, then EHLO again by itself.
    assert out.count("> EHLO me.test") == 2
    assert "*** authenticated as" in out
    assert len(msgs) == 1
    assert_no_secrets(out + p.err)


def test_session_334_decoded_and_typed_answers_redacted(pki):
    script = ("AUTH LOGIN\n%s\n%s\nRSET\nQUIT\n" %
              (b64(USER), b64(PASSWORD)))
    with FakeServer(pki["good"]) as srv:
        p = session(srv, pki, script)
    assert p.returncode == 0, (p.out, p.err)
    out = p.out
    # aiosmtpd's prompts, shown decoded after the challenge.
    assert "334 VXNlciBOYW1lAA==  [User Name\\x00]" in out
    assert "334 UGFzc3dvcmQA  [Password\\x00]" in out
    assert "235 2.7.0" in out
    # What was typed after a 334 is echoed redacted; RSET is not trapped.
    assert out.count("> <redacted>") == 2
    assert "> RSET\n250 OK" in out
    assert_no_secrets(out + p.err)


def test_session_ends_with_quit_at_eof(pki):
    with FakeServer(pki["good"]) as srv:
        p = session(srv, pki, "NO\rOP\nNOOP\n")
    assert p.returncode == 0
    # A CR inside a line is never sent (no smuggling a line end).
    assert "*** not sent: a CR inside the line" in p.out
    assert p.out.count("> NOOP\n250 OK") == 1
    assert p.out.rstrip().endswith("221 Bye")


def test_session_local_commands(pki):
    with FakeServer(pki["good"]) as srv:
        p = session(srv, pki, "/help\n/nonsense\n/auth\n/auth plain\n"
                    "//NOOP\n/quit\n", password=None)
    out = p.out
    assert "local commands" in out
    assert "unknown local command /nonsense" in out
    assert "/auth plain|login" in out
    # No password anywhere (no terminal, no file, no variable).
    assert "*** no password given and no terminal" in out
    assert "> /NOOP" in out
    assert p.returncode == 0


def test_session_refuses_bad_certificate(pki):
    with FakeServer(pki["expired"]) as srv:
        p = session(srv, pki, "/auth plain\n")
    assert p.returncode == 1
    assert "certificate verify failed" in p.out
    assert "235" not in p.out


# ----------------------------------------------------------------------
# send

BODY = "First line\n.a line with a leading dot\n..two dots\n\nlast"


@pytest.mark.parametrize("mech", [None, "plain", "login", "cram-md5",
                                  "scram-sha-256"])
def test_send(pki, mech):
    args = ["send", "--ca-file", pki["ca"], "--user", USER, "--from", USER,
            "--to", "a@example.com", "--to", "b@example.org",
            "--subject", "Gr\u00fc\u00dfe", "-v"]
    if mech:
        args += ["--mech", mech]
    with FakeServer(pki["good"]) as srv:
        p = run(args + [srv.target], input=BODY,
                env={"SMTPAUTH_PASSWORD": PASSWORD})
        msgs = srv.handler.messages
        sent = list(srv.handler.received_auth)
    assert p.returncode == 0, (p.out, p.err)
    assert p.out == QUEUE_ID + "\n"
    assert len(msgs) == 1
    m = msgs[0]
    assert m.mail_from == USER
    assert m.rcpt_tos == ["a@example.com", "b@example.org"]
    head, _, body = m.content.partition(b"\r\n\r\n")
    names = [l.split(b":")[0] for l in head.split(b"\r\n")
             if not l.startswith(b" ")]
    for h in (b"Date", b"Message-ID", b"From", b"To", b"Subject"):
        assert h in names
    assert b"Subject: =?UTF-8?B?" + base64.b64encode(
        "Gr\u00fc\u00dfe".encode()) + b"?=" in head
    # Dot-stuffed on the wire, so the server got the lines back intact.
    assert body == BODY.replace("\n", "\r\n").encode() + b"\r\n"
    assert "C: AUTH " in p.err and "<redacted>" in p.err
    assert_no_secrets(p.out + p.err, sent)


def test_send_body_file_password_stdin(pki, tmp_path):
    f = tmp_path / "body"
    f.write_text("from a file\n")
    with FakeServer(pki["good"]) as srv:
        p = run(["send", "--ca-file", pki["ca"], "--user", USER,
                 "--from", USER, "--to", USER, "--body-file", f,
                 srv.target], input=PASSWORD + "\n")
        msgs = srv.handler.messages
    assert p.returncode == 0, p.err
    assert msgs[0].content.endswith(b"\r\n\r\nfrom a file\r\n")


def test_send_without_auth_locally(pki):
    with FakeServer(pki["good"]) as srv:
        p = run(["send", "--ca-file", pki["ca"], "--from", "x@example.net",
                 "--to", USER, srv.target], input="hi\n")
        assert p.returncode == 0, p.err
        # Without AUTH a relay is refused, and that is exit 1.
        p = run(["send", "--ca-file", pki["ca"], "--from", "x@example.net",
                 "--to", "a@example.com", srv.target], input="hi\n")
        assert p.returncode == 1
        assert "550 5.7.1" in p.err
        assert len(srv.handler.messages) == 1


def test_send_refuses_password_in_clear(pki):
    with FakeServer(pki["good"], auth_in_clear=True) as srv:
        p = run(["send", "--tls", "none", "--user", USER, "--from", USER,
                 "--to", USER, srv.target], input="hi\n",
                env={"SMTPAUTH_PASSWORD": PASSWORD})
        assert p.returncode == 2
        assert "refusing to send a password without TLS" in p.err
        assert not srv.handler.messages


def test_send_bad_certificate(pki):
    with FakeServer(pki["wronghost"]) as srv:
        p = run(["send", "--ca-file", pki["ca"], "--user", USER,
                 "--from", USER, "--to", USER, srv.target], input="hi\n",
                env={"SMTPAUTH_PASSWORD": PASSWORD})
        assert p.returncode == 1
        assert "certificate verify failed" in p.err
        assert not srv.handler.messages
        # --insecure goes on.
        p = run(["send", "--ca-file", pki["ca"], "--insecure", "--user", USER,
                 "--from", USER, "--to", USER, srv.target], input="hi\n",
                env={"SMTPAUTH_PASSWORD": PASSWORD})
        assert p.returncode == 0, p.err


def test_send_wrong_password(pki):
    with FakeServer(pki["good"]) as srv:
        p = run(["send", "--ca-file", pki["ca"], "--user", USER,
                 "--mech", "plain", "--from", USER, "--to", USER,
                 srv.target], input="hi\n",
                env={"SMTPAUTH_PASSWORD": "wrong"})
    assert p.returncode == 1
    assert "535 5.7.8" in p.err
