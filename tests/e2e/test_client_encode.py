"""smtpauth encode, decode, hash and the command line: the seed's vector,
the bytes a shell or perl would mangle, and the password reader."""
import base64
import warnings

import pytest

from clientlib import run

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # noqa: E402  (deprecated, still in 3.11: a checker only)


def plain(authzid, user, password):
    return base64.b64encode(authzid.encode() + b"\0" + user.encode() + b"\0"
                            + password.encode()).decode()


def test_seed_vector():
    p = run(["encode", "jms1@jms1.net", "not.my.real.password"], check=True)
    assert p.out == "AGptczFAam1zMS5uZXQAbm90Lm15LnJlYWwucGFzc3dvcmQ=\n"


@pytest.mark.parametrize("user,password", [
    ("jms1", "1digit"),                 # perl's \01d... octal pitfall
    ("123", "456"),
    ("user@example.org", "p@ss@word"),  # perl's @array interpolation
    ("o'brien", 'say "hi"'),
    ("back\\slash", "\\0 1 $HOME `id` $(id)"),
    ("user", "-starts-with-a-dash"),
    ("us\u00e9r", "p\u00e4ss\u20ac"),   # UTF-8
])
def test_encode_any_bytes(user, password):
    p = run(["encode", user, password], check=True)
    assert p.out.strip() == plain("", user, password)
    # And back again.
    d = run(["decode", p.out.strip()], check=True)
    assert "RFC 4616: ok" in d.out


def test_decode_roundtrip_fields():
    p = run(["decode", plain("", "user@example.org", 'p@ss "w"')],
            check=True)
    lines = p.out.splitlines()
    assert lines[0].split(None, 1) == ["authzid:", "(empty)"]
    assert lines[1].split(None, 1) == ["user:", "user@example.org"]
    assert lines[2].split(None, 1) == ["password:", 'p@ss "w"']
    assert lines[3] == "RFC 4616: ok"


def test_authzid():
    p = run(["encode", "--authzid", "u@x", "u@x", "pw"], check=True)
    assert p.out.strip() == plain("u@x", "u@x", "pw")
    d = run(["decode", p.out.strip()], check=True)
    assert "authzid:  u@x" in d.out
    # A different authzid is encoded (a probe may want it) but flagged.
    p = run(["encode", "--authzid", "admin", "u@x", "pw"])
    assert p.returncode == 0
    assert p.out.strip() == plain("admin", "u@x", "pw")
    assert "RFC 4616" in p.err
    d = run(["decode", p.out.strip()])
    assert d.returncode == 1
    assert "authorization identity differs" in d.out


def test_login():
    p = run(["encode", "--mech", "login", "user@example.org", "p@ss"],
            check=True)
    assert p.out.splitlines() == [
        base64.b64encode(b"user@example.org").decode(),
        base64.b64encode(b"p@ss").decode()]
    d = run(["decode", "--mech", "login",
             base64.b64encode(b"p@ss").decode()], check=True)
    assert d.out.split(None, 1) == ["text:", "p@ss\n"]


def test_password_from_stdin_and_env():
    want = plain("", "user", "from stdin 1@x")
    p = run(["encode", "user"], input="from stdin 1@x\n", check=True)
    assert p.out.strip() == want
    p = run(["encode", "user"], input="from stdin 1@x\r\n", check=True)
    assert p.out.strip() == want
    p = run(["encode", "user"], env={"SMTPAUTH_PASSWORD": "from stdin 1@x"},
            check=True)
    assert p.out.strip() == want


def test_password_file(tmp_path):
    f = tmp_path / "pw"
    f.write_bytes(b"0file@pass\nsecond line\n")
    p = run(["encode", "--password-file", f, "user"], check=True)
    assert p.out.strip() == plain("", "user", "0file@pass")


def test_empty_password_refused():
    p = run(["encode", "user"], input="\n")
    assert p.returncode == 2
    assert "empty" in p.err


def test_decode_flags_problems():
    # The seed's first mistake: no leading NUL.
    raw = base64.b64encode(b"jms1\0secret").decode()
    p = run(["decode", raw])
    assert p.returncode == 1
    assert "must start with a NUL" in p.out
    assert "password: secret" in p.out
    # Not base64 at all, or with a line break.
    p = run(["decode", "not base64!"])
    assert p.returncode == 1 and "not valid base64" in p.out
    p = run(["decode", plain("", "u", "p") + "\n"])
    assert p.returncode == 1
    # No NUL: not PLAIN.
    p = run(["decode", base64.b64encode(b"hello").decode()])
    assert p.returncode == 1 and "no NUL" in p.out
    # A field over 255 octets, and one with a CR in it.
    p = run(["decode", plain("", "u", "x" * 256)])
    assert p.returncode == 1 and "255" in p.out
    p = run(["decode", plain("", "u", "a\rb")])
    assert p.returncode == 1 and "CR or LF" in p.out
    assert "a\\x0db" in p.out


def test_decode_from_stdin():
    p = run(["decode"], input=plain("", "u@x", "pw") + "\n", check=True)
    assert "user:     u@x" in p.out


@pytest.mark.parametrize("method,prefix", [
    (None, "$y$"), ("yescrypt", "$y$"), ("sha512crypt", "$6$"),
    ("bcrypt", "$2b$12$")])
def test_hash(method, prefix):
    args = ["hash"] + (["--method", method] if method else [])
    p = run(args, input="S3cret@ 1\n", check=True)
    h = p.out.strip()
    assert h.startswith(prefix)
    assert crypt.crypt("S3cret@ 1", h) == h
    assert crypt.crypt("S3cret@ 2", h) != h
    # A new salt every time.
    assert run(args, input="S3cret@ 1\n", check=True).out.strip() != h


def test_hash_bad_method():
    p = run(["hash", "--method", "md5"], input="x\n")
    assert p.returncode == 2


@pytest.mark.parametrize("cmd", ["encode", "decode", "hash", "check",
                                 "session", "send"])
def test_help(cmd):
    p = run([cmd, "--help"], check=True)
    assert p.out.startswith("usage: smtpauth " + cmd)


def test_usage_errors():
    assert run([]).returncode == 2
    p = run(["--help"], check=True)
    assert "check" in p.out and "session" in p.out and "load" in p.out
    assert run(["nonsense"]).returncode == 2
    assert run(["check"]).returncode == 2
    assert run(["check", "--tls", "maybe", "host"]).returncode == 2
    assert run(["check", "--timeout", "0", "host"]).returncode == 2
    assert run(["check", "--mech", "gssapi", "host"]).returncode == 2
    assert run(["check", "--to", "not-an-address", "host"]).returncode == 2
    assert run(["check", "host:0"]).returncode == 2
    assert run(["send", "--from", "a@b", "host"]).returncode == 2
    assert run(["encode"]).returncode == 2
    assert run(["encode", "a", "b", "c"]).returncode == 2


def _pty_run(args, answers, timeout=20, stdout=None):
    """Run smtpauth on a pseudo-terminal (its controlling terminal, so
    /dev/tty is it); answer each prompt; return all it wrote there and the
    exit status.  stdout: a file descriptor to put its stdout on instead,
    as in `echo "u:$(smtpauth hash)"`."""
    import os
    import pty
    import select
    import time

    from clientlib import SMTPAUTH
    from e2elib import T

    env = {k: v for k, v in os.environ.items() if k != "SMTPAUTH_PASSWORD"}
    pid, fd = pty.fork()
    if pid == 0:
        if stdout is not None:
            os.dup2(stdout, 1)
        os.execve(str(SMTPAUTH), [str(SMTPAUTH)] + args, env)
    out = b""
    deadline = time.monotonic() + T(timeout)
    pending = list(answers)
    while time.monotonic() < deadline:
        if pending and out.endswith(pending[0][0]):
            os.write(fd, pending.pop(0)[1])
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            continue
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        out += d
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return out, os.waitstatus_to_exitcode(status)


def test_prompt_without_echo():
    out, rc = _pty_run(["encode", "user"], [(b"Password: ", b"s3cret@1x\n")])
    assert rc == 0, out
    assert b"s3cret@1x" not in out          # not echoed
    assert plain("", "user", "s3cret@1x").encode() in out


def test_hash_prompt_asks_twice():
    out, rc = _pty_run(["hash"], [(b"Password: ", b"pw1@x\n"),
                                  (b"Again: ", b"pw1@x\n")])
    assert rc == 0, out
    assert b"pw1@x" not in out
    h = out.split(b"\n")[-2].strip().decode()
    assert crypt.crypt("pw1@x", h) == h
    out, rc = _pty_run(["hash"], [(b"Password: ", b"pw1@x\n"),
                                  (b"Again: ", b"pw2@x\n")])
    assert rc == 2
    assert b"do not match" in out


@pytest.mark.parametrize("again", [b"pw2@x\n", b"\n"],
                         ids=["different", "empty"])
def test_hash_mismatch_prints_no_hash(again):
    # stdout is a pipe, the prompts on the terminal: a command
    # substitution must get no half-made line, and a failure status.
    import os

    r, w = os.pipe()
    try:
        out, rc = _pty_run(["hash"], [(b"Password: ", b"pw1@x\n"),
                                      (b"Again: ", again)], stdout=w)
        os.close(w)
        w = None
        with os.fdopen(r, "rb") as f:
            r = None
            printed = f.read()
    finally:
        for fd in (r, w):
            if fd is not None:
                os.close(fd)
    assert rc != 0, out
    assert printed == b""
    assert b"do not match" in out
