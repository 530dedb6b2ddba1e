"""OpenSMTPD's smtpscript regress scripts, run against smtpauthd.

Read in place from ../shared/peer-suites/opensmtpd-smtpscript/test.* (ISC,
OpenSMTPD); skipped when absent.  One pytest case per `test-case` block.

The interpreter follows OpenSMTPD's regress/smtp smtpscript (parse.y and
smtpscript.c): every test-case gets a new connection; `writeln` sends the
string and CRLF (a newline inside a quoted string is dropped, as its lexer
does); `expect smtp` takes any reply, `ok` a single-line 2xx/3xx, `helo` a
2xx/3xx of any length, `tempfail` a single-line 4xx, `permfail` a
single-line 5xx; `expect disconnect` wants EOF with no data before it.
`starttls` turns the connection into TLS (verifying the server's
certificate against the test CA) and must find nothing read ahead.

The scripts assume OpenSMTPD's regress setup: the domain `localhost` is
local (here with the users the scripts name) and mail to `foo.bar` is
accepted (here: a second local domain).  Where smtpauthd deliberately
answers differently, OVERRIDES says what we expect instead and why.
"""
import re
import socket
import ssl
import string
import time

import pytest

from e2elib import HOSTNAME, PEER_SUITES, T
from test_tls import ctx_for, pki  # noqa: F401 - the session-wide test CA

SCRIPTS = PEER_SUITES / "opensmtpd-smtpscript"
FILES = sorted(SCRIPTS.glob("test.*")) if SCRIPTS.is_dir() else []

KEYWORDS = {"call", "connect", "disconnect", "expect", "fail", "helo",
            "no-autoconnect", "noop", "ok", "permfail", "port", "proc",
            "random", "repeat", "skip", "sleep", "smtp", "tempfail",
            "test-case", "write", "writeln", "name", "starttls", "include"}


# ----------------------------------------------------------------------
# Lexer and parser (the subset of smtpscript's grammar the files use)

def tokenize(text):
    toks = []
    i, n = 0, len(text)
    end_number = set(" \t\r\n),/}=")

    def in_string(c):
        # smtpscript's allowed_in_string(): alnum, or punctuation but these
        return c.isalnum() or (c in string.punctuation
                               and c not in "(){}<>!=#,")
    while i < n:
        c = text[i]
        if c in " \t":
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "\"'":
            q, i, buf = c, i + 1, []
            while True:
                if i >= n:
                    raise SyntaxError("unterminated string")
                c = text[i]
                if c == "\n":          # newlines inside strings are dropped
                    i += 1
                    continue
                if c == "\\" and i + 1 < n:
                    nx = text[i + 1]
                    if nx == q:
                        buf.append(q)
                        i += 2
                        continue
                    if nx == "\n":
                        i += 2
                        continue
                    buf.append("\\")
                    i += 1
                    continue
                if c == q:
                    i += 1
                    break
                buf.append(c)
                i += 1
            toks.append(("STRING", "".join(buf)))
        elif c == "-" or c.isdigit():
            j = i + 1
            while j < n and text[j].isdigit():
                j += 1
            word = text[i:j]
            if word != "-" and (j >= n or text[j] in end_number):
                toks.append(("NUMBER", int(word)))
                i = j
            elif c.isalnum():
                j = i
                while j < n and in_string(text[j]):
                    j += 1
                toks.append(("WORD", text[i:j]))
                i = j
            else:
                toks.append(("CHAR", c))
                i += 1
        elif c.isalnum() or c in ":_":
            j = i
            while j < n and in_string(text[j]):
                j += 1
            toks.append(("WORD", text[i:j]))
            i = j
        elif c == "\n":
            i += 1
        else:
            toks.append(("CHAR", c))
            i += 1
    return toks


class Parser:
    def __init__(self, text, fname):
        self.toks = tokenize(text)
        self.i = 0
        self.fname = fname
        self.procs = {}
        self.cases = []

    def peek(self, k=0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else (None, None)

    def take(self, kind=None, value=None):
        t = self.peek()
        if (kind and t[0] != kind) or (value is not None and t[1] != value):
            raise SyntaxError("%s: expected %s %s, got %r"
                              % (self.fname, kind, value, t))
        self.i += 1
        return t[1]

    def word(self, value=None):
        return self.take("WORD", value)

    def parse(self):
        while self.peek()[0] is not None:
            w = self.word()
            if w == "proc":
                name = self.take("STRING") if self.peek()[0] == "STRING" \
                    else self.word()
                while self.peek() == ("CHAR", "%"):
                    self.take()
                    self.word()
                self.procs[name] = self.block()
            elif w == "test-case":
                opts = {"name": None, "noconnect": False,
                        "expect_fail": False, "skip": False}
                if self.peek() == ("WORD", "name"):
                    self.word()
                    opts["name"] = self.take("STRING")
                if self.peek() == ("WORD", "no-autoconnect"):
                    self.word()
                    opts["noconnect"] = True
                if self.peek() == ("WORD", "expect"):
                    self.word()
                    self.word("fail")
                    opts["expect_fail"] = True
                if self.peek() == ("WORD", "skip"):
                    self.word()
                    opts["skip"] = True
                opts["body"] = self.block()
                self.cases.append(opts)
            else:
                raise SyntaxError("%s: unexpected %r" % (self.fname, w))
        return self

    def block(self):
        self.take("CHAR", "{")
        ops = []
        while self.peek() != ("CHAR", "}"):
            ops.append(self.statement())
        self.take("CHAR", "}")
        return ("block", ops)

    def statement(self):
        if self.peek() == ("CHAR", "{"):
            return self.block()
        w = self.word()
        if w == "repeat":
            return ("repeat", self.take("NUMBER"), self.statement())
        if w == "random":
            return ("random", self.block())
        if w == "call":
            return ("call", self.take("WORD") if self.peek()[0] == "WORD"
                    else self.take("STRING"))
        if w == "noop":
            return ("noop",)
        if w == "sleep":
            n = self.take("NUMBER")
            mult = {"s": 1000, "m": 60000, "h": 3600000}.get(self.peek()[1])
            if mult and self.peek()[0] in ("WORD", "CHAR"):
                self.take()
            return ("sleep", n * (mult or 1))
        if w == "fail":
            return ("fail", self.take("STRING"))
        if w == "connect":
            host = self.take()
            port = None
            if self.peek() == ("WORD", "port"):
                self.word()
                port = self.take()
            return ("connect", host, port)
        if w == "disconnect":
            return ("disconnect",)
        if w == "starttls":
            return ("starttls",)
        if w in ("write", "writeln"):
            s = self.take("STRING")
            return ("write", s + ("\r\n" if w == "writeln" else ""))
        if w == "expect":
            w2 = self.word()
            if w2 == "disconnect":
                return ("expect_disconnect",)
            if w2 != "smtp":
                raise SyntaxError("%s: expect %s" % (self.fname, w2))
            kind = self.peek()[1]
            if kind in ("ok", "helo", "tempfail", "permfail"):
                self.word()
                return ("expect_smtp", kind)
            return ("expect_smtp", "any")
        raise SyntaxError("%s: unknown statement %r" % (self.fname, w))


# ----------------------------------------------------------------------
# Interpreter

class ScriptFailure(AssertionError):
    pass


class Runner:
    def __init__(self, port, procs, override=None, ctx=None):
        self.port = port
        self.ctx = ctx
        self.procs = procs
        self.sock = None
        self.buf = b""
        self.override = override or {}
        self.expects = 0        # expectations run so far
        self.trace = []

    def connect(self):
        if self.sock:
            self.sock.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port),
                                             timeout=T(10))
        self.buf = b""

    def readline(self):
        while b"\n" not in self.buf:
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                raise ScriptFailure("no reply within %ss; trace: %s"
                                    % (T(10), self.trace[-6:]))
            if not d:
                raise ScriptFailure("connection closed; trace: %s"
                                    % self.trace[-6:])
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        line = line.rstrip(b"\r").decode("utf-8", "replace")
        self.trace.append("<<< " + line)
        return line

    def run(self, op):
        kind = op[0]
        if kind == "block":
            for o in op[1]:
                self.run(o)
        elif kind == "repeat":
            for _ in range(op[1]):
                self.run(op[2])
        elif kind == "random":
            raise ScriptFailure("random blocks are not used by the scripts")
        elif kind == "call":
            self.run(self.procs[op[1]])
        elif kind == "noop":
            pass
        elif kind == "sleep":
            time.sleep(op[1] / 1000.0)
        elif kind == "fail":
            raise ScriptFailure(op[1])
        elif kind == "connect":
            self.connect()
        elif kind == "disconnect":
            self.sock.close()
            self.sock = None
        elif kind == "write":
            self.trace.append(">>> " + op[1].rstrip("\r\n"))
            self.sock.sendall(op[1].encode("utf-8"))
        elif kind == "starttls":
            self.starttls()
        elif kind == "expect_disconnect":
            self.expect_disconnect()
        elif kind == "expect_smtp":
            self.expects += 1
            want = self.override.get("expect", {}).get(self.expects, op[1])
            self.expect_smtp(want)
        else:
            raise ScriptFailure("unsupported op %r" % (op,))

    def starttls(self):
        # Bytes read ahead of the handshake were sent in clear: a server
        # that sends them is open to STARTTLS injection.
        if self.buf:
            raise ScriptFailure("data before the TLS handshake: %r"
                                % self.buf)
        try:
            self.sock = self.ctx.wrap_socket(self.sock,
                                             server_hostname=HOSTNAME)
        except (ssl.SSLError, OSError) as e:
            raise ScriptFailure("TLS handshake: %s" % e)
        self.trace.append("--- TLS %s" % self.sock.version())

    def expect_smtp(self, want):
        multiline = want in ("any", "helo")
        while True:
            line = self.readline()
            if not re.match(r"^[2-5]\d\d( |-|$)", line):
                raise ScriptFailure("bad reply line %r" % line)
            if len(line) > 3 and line[3] == "-":
                if not multiline:
                    raise ScriptFailure("single line response expected, "
                                        "got %r" % line)
                continue
            break
        cls = {"2": "ok", "3": "ok", "4": "tempfail", "5": "permfail"}[line[0]]
        if want not in ("any", "helo") and cls != want:
            raise ScriptFailure("expected %s, got %r; trace: %s"
                                % (want, line, self.trace[-6:]))
        if want == "helo" and cls != "ok":
            raise ScriptFailure("expected helo (2xx/3xx), got %r" % line)

    def expect_disconnect(self):
        if self.override.get("reply_421_before_disconnect"):
            # See OVERRIDES: the last command is answered, then 421.
            line = self.readline()
            if line.startswith("5"):
                line = self.readline()
            if not line.startswith("421 "):
                raise ScriptFailure("expected a 421 before the close, got %r"
                                    % line)
        if self.buf:
            raise ScriptFailure("%d bytes of input left: %r"
                                % (len(self.buf), self.buf))
        self.sock.settimeout(T(10))
        try:
            d = self.sock.recv(65536)
        except ConnectionResetError:
            d = b""
        except socket.timeout:
            raise ScriptFailure("no disconnect; trace: %s" % self.trace[-6:])
        if d:
            raise ScriptFailure("data read: %r; trace: %s"
                                % (d, self.trace[-6:]))
        self.sock.close()
        self.sock = None

    def close(self):
        if self.sock:
            self.sock.close()


# Deliberate differences: (file, test-case id) -> how the run is adjusted,
# and why.  Test-case ids are the `name` or "LINE" of the test-case block.
OVERRIDES = {
    ("test.smtp2", "7"): {
        "reply_421_before_disconnect": True,
        "why": "RFC 5321 3.8 and DESIGN.md: on too many errors the server "
               "answers the last command (5xx), then says 421 4.7.0 and "
               "closes; OpenSMTPD closes without a word, and smtpscript "
               "counts any data before EOF as a failure.  (max-errors 5, as "
               "OpenSMTPD.)",
    },
    ("test.smtp2", "33"): {
        # 2 + 100 * 4 + 1: the MAIL after the hundredth message.
        "expect": {403: "ok"},
        "why": "smtpauthd has no limit of messages per session (DESIGN.md "
               "has none); OpenSMTPD says 4xx to the 101st MAIL.",
    },
    ("test.mailfrom", "mailfrom.at-sign"): {
        "expect": {3: "permfail"},
        "why": "<@> is not a valid reverse-path (RFC 5321 4.1.2: the null "
               "path is <>); smtpauthd refuses it as bad syntax, OpenSMTPD "
               "reads it as <>.",
    },
    ("test.mailfrom", "mailfrom.src-route"): {
        "expect": {3: "permfail"},
        "why": "'whatever:' is not a source route (RFC 5321 A-d-l is "
               "'@domain,...:'); smtpauthd refuses the path as bad syntax.",
    },
    ("test.rcptto", "rcptto.src-route"): {
        "expect": {4: "permfail"},
        "why": "'whatever:' is not a source route (RFC 5321 A-d-l is "
               "'@domain,...:'), and domain 'a' is not local: refused.",
    },
}


def _collect():
    out = []
    for f in FILES:
        text = f.read_text(encoding="utf-8")
        p = Parser(text, f.name).parse()
        # Test-case ids: the name, else the line the block starts on.
        lines = [n for n, l in enumerate(text.split("\n"), 1)
                 if re.match(r"\s*test-case\b", l)]
        for case, line in zip(p.cases, lines):
            cid = case["name"] or str(line)
            out.append(pytest.param(f.name, cid, case, p.procs,
                                    id="%s:%s" % (f.name, cid)))
    return out


CASES = _collect()


@pytest.fixture(scope="module")
def smtpscript_server(module_server_factory, pki):
    users = ["gilles@localhost", "test@localhost", "root@localhost",
             "test@foo.bar"]
    return module_server_factory(
        users=users, domains=["localhost", "foo.bar"],
        extra=["tls-cert %s/ec.pem" % pki, "tls-key %s/ec.key" % pki,
               "max-errors 5",          # "disconnects on the 5th"
               "max-recipients 1000"])  # "1000 RCPT per message"


@pytest.mark.skipif(not FILES, reason="%s not present" % SCRIPTS)
@pytest.mark.parametrize("fname,cid,case,procs", CASES)
def test_smtpscript(smtpscript_server, pki, fname, cid, case, procs):
    if case["skip"]:
        pytest.skip("marked skip in the script")
    ov = OVERRIDES.get((fname, cid), {})
    r = Runner(smtpscript_server.port, procs, ov, ctx=ctx_for(pki))
    try:
        if not case["noconnect"]:
            r.connect()
        failed = None
        try:
            r.run(case["body"])
        except ScriptFailure as e:
            failed = e
    finally:
        r.close()
    if case["expect_fail"]:
        assert failed is not None, "the script expects this case to fail"
    elif failed is not None:
        raise failed
    # The server still serves.
    with socket.create_connection(("127.0.0.1", smtpscript_server.port),
                                  timeout=T(10)) as s:
        assert s.recv(100).startswith(b"220 ")


def test_override_table_matches_cases():
    if not FILES:
        pytest.skip("%s not present" % SCRIPTS)
    ids = {(p.values[0], p.values[1]) for p in CASES}
    for key in OVERRIDES:
        assert key in ids, key
