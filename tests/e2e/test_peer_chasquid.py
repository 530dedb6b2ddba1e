"""chasquid's SMTP dialogs (chamuyero scripts), run against smtpauthd.

The scripts are read in place from ../shared/peer-suites/chasquid-dialogs/
(Apache-2.0, chasquid); the test is skipped when they are absent.  They
expect chasquid's reply texts, so reply codes are compared (and enhanced
codes where both servers give one); where smtpauthd deliberately answers
differently, the OVERRIDES table below says what we expect instead and why.

chamuyero, as used by these files:
    c tcp_connect HOST:PORT   connect (to our listener, whatever the port)
    c tls_connect HOST:PORT   connect to our implicit-TLS listener (the
                              certificate checked against the test CA)
    c -> LINE                 send LINE + CRLF
    c ~> EXPR                 send a Python string expression (raw octets)
    c <- LINE                 expect this line
    c <~ REGEX                expect a line matching REGEX
    c <... REGEX              read lines until one matches
    c close                   close the connection
"""
import ast
import operator
import re
import socket
import subprocess
from pathlib import Path

import pytest

from e2elib import (HOSTNAME, PEER_SUITES, QUEUE_ID_RE, T, free_port,
                    split_delivered)
from test_tls import ctx_for, pki  # noqa: F401 - the session-wide test CA

DIALOGS = PEER_SUITES / "chasquid-dialogs"
FILES = sorted(DIALOGS.glob("*.cmy")) if DIALOGS.is_dir() else []

# Where smtpauthd answers differently on purpose: (file, the expectation as
# written) -> (code, enhanced code or None, closes, reason); closes is True
# (the connection closed after the reply) or the start of one more reply
# line that comes before the close.
HTTP_421 = ("421", "4.7.0", True,
            "DESIGN.md: HTTP verbs as a command get 421 4.7.0 and the "
            "connection is closed (ALPACA); chasquid answers 502 and goes on")
OVERRIDES = {
    ("auth_multi_dialog.cmy", "534"): (
        "504", "5.5.4", False,
        "DESIGN.md and RFC 4954: an unknown mechanism gets 504 5.5.4 "
        "(chasquid: 534)"),
    ("auth_not_tls.cmy", "503 5.7.10 You feel vulnerable"): (
        "538", "5.7.11", False,
        "DESIGN.md and RFC 4954: AUTH before TLS gets 538 5.7.11 "
        "Encryption required (chasquid: 503 5.7.10)"),
    ("auth_too_many_failures.cmy", "421 4.5.0 Too many errors, bye"): (
        "501", "5.5.2", "421 4.7.0",
        "DESIGN.md: the error that reaches max-errors gets its own reply, "
        "then 421 4.7.0 and the close, as Postfix does (chasquid answers "
        "it with 421 4.5.0 instead)"),
    ("wrong_proto.cmy", "502 5.7.0 You hear someone cursing shoplifters"):
        HTTP_421,
    ("bad_data.cmy", "554 5.6.0 Error parsing message"): (
        "250", "2.0.0", False,
        "smtpauthd does not parse the message header: a header line "
        "without a colon is the sender's business, not a protocol error "
        "(chasquid: 554 5.6.0 Error parsing message)"),
    ("bad_data_dot.cmy",
     "521 5.5.2 Error reading DATA: invalid line ending"): (
        "554", "5.6.0", False,
        "DESIGN.md: a bare LF in DATA is refused with 554 5.6.0 at the real "
        "end of data (chasquid: 521 5.5.2 and close)"),
    ("bad_data_dot_2.cmy",
     "521 5.5.2 Error reading DATA: invalid line ending"): (
        "554", "5.6.0", False,
        "DESIGN.md: a bare LF in DATA is refused with 554 5.6.0 at the real "
        "end of data (chasquid: 521 5.5.2 and close)"),
    ("bad_data_dot_on_message_too_big.cmy",
     "521 5.5.2 Error reading DATA: invalid line ending"): (
        "552", "5.3.4", False,
        "the message is both over SIZE and has a bare LF; smtpauthd reports "
        "the size (552 5.3.4, DESIGN.md) - chasquid reports the line ending "
        "(521 5.5.2)"),
    ("bad_mail_from.cmy", "500 5.5.2 Unknown command"): (
        "501", "5.5.4", False,
        "MAIL is a known verb: a malformed argument is 501 5.5.4 (RFC 5321 "
        "4.2.2: syntax error in parameters or arguments), not 500"),
    ("bad_mail_from.cmy", "500"): (
        "501", "5.1.7", False,
        "an empty reverse-path is bad sender syntax: 501 5.1.7, not 500"),
    ("bad_mail_from.cmy",
     "501 5.1.8 Malformed sender domain (IDNA conversion failed)"): (
        "501", "5.1.7", False,
        "no IDNA processing: xn--- is refused as bad sender syntax, 5.1.7"),
    ("bad_rcpt_to.cmy", "500 5.5.2 Unknown command"): (
        "501", "5.5.4", False,
        "RCPT is a known verb: a malformed argument is 501 5.5.4, not 500"),
    ("bad_rcpt_to.cmy", "500"): (
        "501", "5.1.3", False,
        "an empty forward-path is bad recipient syntax: 501 5.1.3, not 500"),
    ("bad_rcpt_to.cmy",
     "501 5.1.2 Malformed destination domain (IDNA conversion failed)"): (
        "501", "5.1.3", False,
        "no IDNA processing: xn--- is refused as bad recipient syntax, "
        "5.1.3"),
    ("bad_rcpt_to.cmy", "550 5.1.3 Destination address is invalid"): (
        "553", "5.6.7", False,
        "a non-ASCII address without SMTPUTF8 gets 553 5.6.7 (RFC 6531 "
        "3.5)"),
    ("line_too_long.cmy", "554"): (
        "500", "5.5.6", False,
        "DESIGN.md: a command line over 512 octets gets 500 5.5.6 Line too "
        "long (chasquid: 554)"),
}

def _safe_eval(expr):
    """The string expressions of `~>` lines: literals, + and * only."""
    ops = {ast.Add: operator.add, ast.Mult: operator.mul}

    def ev(n):
        if isinstance(n, ast.Constant) and type(n.value) in (str, int):
            return n.value
        if isinstance(n, ast.BinOp) and type(n.op) in ops:
            v = ops[type(n.op)](ev(n.left), ev(n.right))
            if isinstance(v, str) and len(v) > 16 << 20:
                raise ValueError("expression too large")
            return v
        raise ValueError("unsupported expression: %s" % ast.dump(n))
    v = ev(ast.parse(expr.strip(), mode="eval").body)
    if not isinstance(v, str):
        raise ValueError("not a string: %r" % expr)
    return v


def parse_cmy(path):
    """[(line number, proc, op, params)] as chamuyero reads them."""
    out = []
    cont = ""
    for n, l in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if cont:
            l = cont + " " + l.lstrip()
        if l.endswith("\\"):
            cont = l[:-1]
            continue
        cont = ""
        if l.strip().startswith("#") or l.strip() == "":
            continue
        sp = l.split(None, 2)
        proc, op = sp[0], sp[1]
        params = sp[2] if len(sp) == 3 else ""
        out.append((n, proc, op, params))
    return out


def _code_of(expected):
    """The reply code and enhanced code an expectation names, if any."""
    m = re.match(r"(\d{3})(?:[ -](\d\.\d{1,3}\.\d{1,3})\b)?", expected)
    if not m:
        return None, None
    return m.group(1), m.group(2)


class Conn:
    def __init__(self, port, ctx=None):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=T(10))
        if ctx is not None:
            self.sock = ctx.wrap_socket(self.sock, server_hostname=HOSTNAME)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def readline(self):
        while b"\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise AssertionError("connection closed; pending %r"
                                     % self.buf)
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def closed(self):
        self.sock.settimeout(T(10))
        rest = self.buf
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    break
                rest += d
        except ConnectionResetError:
            pass
        return rest

    def close(self):
        self.sock.close()


def run_dialog(path, port, tls_port=None, ctx=None):
    """Run one script; returns the queue ids the server gave.  tcp_connect
    goes to port, tls_connect to tls_port (implicit TLS, with ctx)."""
    conn = None
    qids = []
    name = path.name

    def expect(n, op, expected, got):
        want_code, want_enh = _code_of(expected)
        closes = False
        if (name, expected) in OVERRIDES:
            want_code, want_enh, closes, _why = OVERRIDES[(name, expected)]
        where = "%s:%d: %s %s" % (name, n, op, expected)
        assert want_code is not None, "%s: no reply code to compare" % where
        assert got[:3] == want_code, "%s\n  got: %r" % (where, got)
        if want_enh is not None:
            m = re.match(r"\d{3}[ -](\d\.\d{1,3}\.\d{1,3})\b", got)
            assert m and m.group(1) == want_enh, \
                "%s\n  got: %r (enhanced code)" % (where, got)
        if isinstance(closes, str):
            then = conn.readline()
            assert then.startswith(closes), \
                "%s\n  then: %r, not %s" % (where, then, closes)
        if closes:
            rest = conn.closed()
            assert rest == b"", "%s: expected close, got %r" % (where, rest)

    try:
        for n, proc, op, params in parse_cmy(path):
            if op == "tcp_connect":
                if conn:
                    conn.close()
                conn = Conn(port)
            elif op == "tls_connect":
                if conn:
                    conn.close()
                conn = Conn(tls_port, ctx)
            elif op == "close":
                conn.close()
                conn = None
            elif op == "->":
                conn.send(params.encode("utf-8") + b"\r\n")
            elif op == "~>":
                conn.send(_safe_eval(params).encode("utf-8"))
            elif op == "<-":
                got = conn.readline()
                m = QUEUE_ID_RE.match(got)
                if m:
                    qids.append(m.group(1))
                expect(n, op, params, got)
            elif op == "<~":
                got = conn.readline()
                m = QUEUE_ID_RE.match(got)
                if m:
                    qids.append(m.group(1))
                expect(n, op, params, got)
            elif op == "<...":
                # chasquid's EHLO reply ends with "250 HELP", ours with
                # another extension: wait for the last line of the reply.
                while True:
                    got = conn.readline()
                    if re.match(params, got) or (len(got) >= 4 and
                                                 got[3] == " "):
                        break
                expect(n, op, params, got)
            elif op in ("sleep", "wait"):
                pass
            else:
                raise AssertionError("%s:%d: unknown op %r" % (name, n, op))
    finally:
        if conn:
            conn.close()
    return qids


# The account of chasquid's auth dialogs (their AUTH PLAIN lines).
USER, PASSWORD = "user@testserver", "secretpassword"


@pytest.fixture(scope="module")
def chasquid_server(module_server_factory, pki):
    # chasquid's reference config: hostname testserver, 1 MiB messages; its
    # submission-over-TLS port is our smtps listener; it closes a session
    # at its third protocol error (auth_too_many_failures.cmy), so does
    # this server here (max-errors; the default is 10).
    tls_port = free_port()
    srv = module_server_factory(
        users=[USER], domains=["testserver"], start=False,
        extra=["max-message-size 1M", "max-errors 3",
               "listen 127.0.0.1:%d smtps" % tls_port,
               "tls-cert %s/ec.pem" % pki, "tls-key %s/ec.key" % pki])
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                            input=PASSWORD, capture_output=True, text=True,
                            check=True).stdout.strip()
    srv.users_path.write_text("%s:%s\n" % (USER, hashed))
    srv.start()
    srv.tls_port = tls_port
    return srv


@pytest.mark.skipif(not FILES, reason="%s not present" % DIALOGS)
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_chasquid_dialog(chasquid_server, pki, path):
    qids = run_dialog(path, chasquid_server.port, chasquid_server.tls_port,
                      ctx_for(pki))
    verify = Path(str(path) + ".verify")
    if verify.exists():
        assert len(qids) == 1, qids
        raw = chasquid_server.wait_queue_id("user@testserver", qids[0])
        assert split_delivered(raw)["body"] == verify.read_bytes()
    # Whatever the dialog did, the server still serves.
    with socket.create_connection(("127.0.0.1", chasquid_server.port),
                                  timeout=T(10)) as s:
        assert s.recv(100).startswith(b"220 ")


def test_override_table_matches_files():
    """Every override names an expectation that is in its file."""
    if not FILES:
        pytest.skip("%s not present" % DIALOGS)
    for (name, expected), _ in OVERRIDES.items():
        ops = [(op, params) for _, _, op, params in parse_cmy(DIALOGS / name)]
        assert ("<-", expected) in ops or ("<~", expected) in ops, \
            (name, expected)
