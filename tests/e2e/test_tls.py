"""STARTTLS and implicit TLS (issue 3), with independent clients: smtplib
and ssl, swaks, curl and openssl s_client, each verifying the server's
certificate against a throwaway CA made for the run."""
import os
import re
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from e2elib import (HOSTNAME, T, free_port, parse_replies, split_delivered,
                    wait_until)

BODY = b"Subject: tls test\r\n\r\nhail eris!\r\n"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A CA, an ECDSA and an RSA certificate for mx.test and 127.0.0.1, a
    second ECDSA certificate (for reload) and a key that matches nothing."""
    d = tmp_path_factory.mktemp("pki")
    os.chmod(d, 0o755)
    ext = d / "ext"
    ext.write_text("subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\n"
                   "extendedKeyUsage=serverAuth\n" % HOSTNAME)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "30", "-subj", "/CN=smtpauth test CA",
            cwd=d)
    for name, alg in (("ec", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                      ("rsa", ["rsa:2048"]),
                      ("ec2", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                      ("other", ["ec", "-pkeyopt",
                                 "ec_paramgen_curve:P-256"])):
        openssl("req", "-newkey", *alg, "-nodes", "-keyout", name + ".key",
                "-out", name + ".csr", "-subj", "/CN=" + HOSTNAME, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem",
                "-CAkey", "ca.key", "-CAcreateserial", "-out",
                name + ".pem", "-days", "30", "-extfile", "ext", cwd=d)
    for p in d.iterdir():
        os.chmod(p, 0o644)
    return d


def tls_server(server, pki, cert="ec", extra=(), **kw):
    """A server with an smtp listener (STARTTLS) and an smtps listener."""
    sport = free_port()
    lines = ["listen 127.0.0.1:%d smtps" % sport]
    certs = cert if isinstance(cert, (list, tuple)) else [cert]
    for c in certs:
        lines += ["tls-cert %s/%s.pem" % (pki, c),
                  "tls-key %s/%s.key" % (pki, c)]
    srv = server(extra=lines + list(extra), **kw)
    srv.smtps_port = sport
    return srv


def ctx_for(pki):
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    return ctx


def test_smtplib_starttls_delivers(server, pki):
    import smtplib
    srv = tls_server(server, pki)
    with smtplib.SMTP("127.0.0.1", srv.port, local_hostname="c.test",
                      timeout=T(10)) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        s.starttls(context=ctx_for(pki))
        s._host = HOSTNAME
        code, caps = s.ehlo()
        assert code == 250
        # Only before TLS: the capability is gone afterwards.
        assert not s.has_extn("starttls")
        s.sendmail("someone@example.com", ["user@example.org"], BODY)
    (raw,) = srv.wait_messages("user@example.org", 1)
    d = split_delivered(raw)
    assert b"with ESMTPS (TLSv1.3:" in d["received"]
    assert d["body"] == BODY.replace(b"\r\n", b"\n")


def test_smtplib_starttls_verifies_hostname(server, pki):
    """The certificate verifies for mx.test and fails for another name."""
    srv = tls_server(server, pki)
    for name, ok in ((HOSTNAME, True), ("wrong.test", False)):
        sock = socket.create_connection(("127.0.0.1", srv.port), T(10))
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"EHLO c.test\r\nSTARTTLS\r\n")
        lines = []
        while not lines or not lines[-1].startswith(b"220 "):
            lines.append(f.readline())
        ctx = ctx_for(pki)
        if ok:
            t = ctx.wrap_socket(sock, server_hostname=name)
            assert t.version() in ("TLSv1.2", "TLSv1.3")
            t.close()
        else:
            with pytest.raises(ssl.SSLCertVerificationError):
                ctx.wrap_socket(sock, server_hostname=name)
            sock.close()


def test_smtps_handshake_first_then_greeting(server, pki):
    srv = tls_server(server, pki)
    raw = socket.create_connection(("127.0.0.1", srv.smtps_port), T(10))
    t = ctx_for(pki).wrap_socket(raw, server_hostname=HOSTNAME)
    f = t.makefile("rb")
    assert f.readline().startswith(b"220 %s ESMTP" % HOSTNAME.encode())
    t.sendall(b"EHLO c.test\r\n")
    caps = []
    while True:
        line = f.readline()
        caps.append(line)
        if line[3:4] == b" ":
            break
    assert not any(b"STARTTLS" in c for c in caps)
    # smtps requires AUTH before MAIL (DESIGN.md).
    t.sendall(b"MAIL FROM:<a@example.com>\r\n")
    assert f.readline().startswith(b"530 5.7.0")
    t.sendall(b"STARTTLS\r\n")
    assert f.readline().startswith(b"503 5.5.1")
    t.close()


def test_swaks_tls_delivers(server, pki):
    srv = tls_server(server, pki)
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % srv.port, "--tls",
         "--tls-verify", "--tls-ca-path", str(pki / "ca.pem"),
         "--tls-sni", HOSTNAME, "--helo", "c.test",
         "--from", "someone@example.com", "--to", "user@example.org",
         "--body", "via swaks --tls", "--timeout", "20"],
        capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "TLS started" in r.stdout, r.stdout
    (raw,) = srv.wait_messages("user@example.org", 1)
    assert b"via swaks --tls" in raw


def test_swaks_tlsc_handshake(server, pki):
    """Implicit TLS with swaks: handshake, greeting, EHLO; MAIL wants AUTH."""
    srv = tls_server(server, pki)
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % srv.smtps_port, "--tlsc",
         "--tls-verify", "--tls-ca-path", str(pki / "ca.pem"),
         "--tls-sni", HOSTNAME, "--from", "someone@example.com",
         "--to", "user@example.org", "--quit-after", "FROM",
         "--timeout", "20"],
        capture_output=True, text=True, timeout=T(60))
    assert "TLS started" in r.stdout, r.stdout + r.stderr
    assert "530 5.7.0 Authentication required" in r.stdout, r.stdout


def test_curl_ssl_reqd_delivers(server, pki, tmp_path):
    srv = tls_server(server, pki)
    mail = tmp_path / "mail.txt"
    mail.write_bytes(b"From: a@example.com\r\nSubject: curl\r\n\r\nvia curl\r\n")
    r = subprocess.run(
        ["curl", "-sS", "--ssl-reqd", "--cacert", str(pki / "ca.pem"),
         "--resolve", "%s:%d:127.0.0.1" % (HOSTNAME, srv.port),
         "smtp://%s:%d/c.test" % (HOSTNAME, srv.port),
         "--mail-from", "a@example.com", "--mail-rcpt", "user@example.org",
         "--upload-file", str(mail)],
        capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stderr
    (raw,) = srv.wait_messages("user@example.org", 1)
    assert b"via curl" in raw


def test_curl_smtps_verifies(server, pki, tmp_path):
    """curl over implicit TLS verifies the certificate; the server then
    wants AUTH before MAIL (curl reports the 530)."""
    srv = tls_server(server, pki)
    mail = tmp_path / "mail.txt"
    mail.write_bytes(b"Subject: curl\r\n\r\nx\r\n")
    base = ["curl", "-sS", "--resolve",
            "%s:%d:127.0.0.1" % (HOSTNAME, srv.smtps_port),
            "smtps://%s:%d/c.test" % (HOSTNAME, srv.smtps_port),
            "--mail-from", "a@example.com", "--mail-rcpt",
            "user@example.org", "--upload-file", str(mail)]
    r = subprocess.run(base + ["--cacert", str(pki / "ca.pem")],
                       capture_output=True, text=True, timeout=T(60))
    assert "530" in r.stderr, r.stderr
    # Without the CA the verification fails (curl error 60).
    r = subprocess.run(base + ["--capath", "/nonexistent"],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 60, (r.returncode, r.stderr)


def test_openssl_s_client_starttls(server, pki):
    srv = tls_server(server, pki)
    r = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect",
         "127.0.0.1:%d" % srv.port, "-CAfile", str(pki / "ca.pem"),
         "-verify_hostname", HOSTNAME, "-verify_return_error", "-brief",
         "-ign_eof"],
        input="QUIT\n", capture_output=True, text=True, timeout=T(30))
    out = r.stdout + r.stderr
    assert "Verification: OK" in out, out
    assert "221 2.0.0" in out, out


def test_starttls_rules(server, pki):
    srv = tls_server(server, pki)
    with srv.connect() as c:
        c.ehlo()
        assert c.cmd("STARTTLS now").line.startswith("501 5.5.4")
        c.cmd("MAIL FROM:<a@example.com>")
        assert c.cmd("STARTTLS").line == "220 2.0.0 Ready to start TLS"
        t = ctx_for(pki).wrap_socket(c.sock, server_hostname=HOSTNAME)
        f = t.makefile("rb")
        # A clean slate: the envelope is gone and EHLO must come again.
        t.sendall(b"RCPT TO:<user@example.org>\r\n")
        assert f.readline().startswith(b"503 5.5.1")
        t.sendall(b"EHLO c.test\r\n")
        while f.readline()[3:4] != b" ":
            pass
        t.sendall(b"STARTTLS\r\n")
        assert f.readline().startswith(b"503 5.5.1")
        t.sendall(b"QUIT\r\n")
        assert f.readline().startswith(b"221 ")
        t.close()


def starttls_injection(srv, pki, injected):
    """Send STARTTLS and more in one write; count what comes back."""
    sock = socket.create_connection(("127.0.0.1", srv.port), T(10))
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(b"EHLO c.test\r\n")
    while f.readline()[3:4] != b" ":
        pass
    sock.sendall(b"STARTTLS\r\n" + injected)
    first = f.readline()
    assert first.startswith(b"220 2.0.0"), first
    # Exactly one reply before the handshake: nothing else is waiting.
    sock.settimeout(0.5 * T(1))
    try:
        extra = sock.recv(100, socket.MSG_PEEK)
    except socket.timeout:
        extra = b""
    assert extra == b"", extra
    sock.settimeout(T(10))
    t = ctx_for(pki).wrap_socket(sock, server_hostname=HOSTNAME)
    t.settimeout(1.0 * T(1))
    t.sendall(b"NOOP\r\n")
    got = b""
    try:
        while not got.endswith(b"\r\n"):
            got += t.recv(1000)
        time.sleep(0.3)
        t.setblocking(False)
        try:
            got += t.recv(1000)
        except (ssl.SSLWantReadError, BlockingIOError):
            pass
    finally:
        t.close()
    # The only reply after the handshake is the NOOP's.
    replies = parse_replies(got)
    assert [r.code for r in replies] == [250], got


@pytest.mark.parametrize("injected", [
    b"RSET\r\n", b"NOOP\r\n", b"MAIL FROM:<evil@example.com>\r\n",
    b"RSET\r\nNOOP\r\nQUIT\r\n"])
def test_starttls_injection(server, pki, injected):
    srv = tls_server(server, pki)
    starttls_injection(srv, pki, injected)


def test_failed_handshakes_close_that_session_only(server, pki):
    srv = tls_server(server, pki)
    # Garbage instead of a client hello, on both kinds of listener.
    s = socket.create_connection(("127.0.0.1", srv.smtps_port), T(10))
    s.sendall(b"EHLO plaintext.example\r\n" * 3)
    s.settimeout(T(10))
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    s.close()
    assert b"250" not in data
    # A client that closes in the middle of the handshake.
    s = socket.create_connection(("127.0.0.1", srv.smtps_port), T(10))
    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    s.close()
    srv.wait_log("tls-failed reason=")
    # The workers still serve TLS sessions.
    test_smtps_alive(srv, pki)


def test_smtps_alive(srv, pki):
    raw = socket.create_connection(("127.0.0.1", srv.smtps_port), T(10))
    t = ctx_for(pki).wrap_socket(raw, server_hostname=HOSTNAME)
    assert t.makefile("rb").readline().startswith(b"220 ")
    t.close()


test_smtps_alive.__test__ = False


def test_plaintext_to_smtps_does_not_hang_a_worker(server, pki):
    srv = tls_server(server, pki, workers=1,
                     extra=["command-timeout 2"])
    idle = socket.create_connection(("127.0.0.1", srv.smtps_port), T(10))
    idle.sendall(b"EHLO x\r\n")
    # Meanwhile the only worker serves others at once.
    t0 = time.monotonic()
    test_smtps_alive(srv, pki)
    with srv.connect() as c:
        assert c.cmd("NOOP").code == 250
    assert time.monotonic() - t0 < T(5)
    # And the silent one is dropped by the timeout.
    idle.settimeout(T(10))
    try:
        while idle.recv(100):
            pass
    except ConnectionResetError:
        pass
    idle.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls11_client_refused(server, pki):
    srv = tls_server(server, pki)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot make a TLS 1.1 client")
    raw = socket.create_connection(("127.0.0.1", srv.smtps_port), T(10))
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        ctx.wrap_socket(raw, server_hostname=HOSTNAME)
    raw.close()


def test_ecdsa_and_rsa_together(server, pki):
    srv = tls_server(server, pki, cert=["ec", "rsa"])
    for ciphers, want in (("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDSA"),
                          ("ECDHE-RSA-AES128-GCM-SHA256", "RSA")):
        ctx = ctx_for(pki)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ciphers)
        raw = socket.create_connection(("127.0.0.1", srv.smtps_port), T(10))
        t = ctx.wrap_socket(raw, server_hostname=HOSTNAME)
        assert want in t.cipher()[0], t.cipher()
        t.close()


def test_session_resumption_across_workers(server, pki):
    srv = tls_server(server, pki)
    ctx = ctx_for(pki)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    raw = socket.create_connection(("127.0.0.1", srv.smtps_port), T(10))
    t = ctx.wrap_socket(raw, server_hostname=HOSTNAME)
    t.makefile("rb").readline()
    sess = t.session
    t.close()
    resumed = 0
    # Connections land on either worker; tickets are shared by both.
    for _ in range(8):
        raw = socket.create_connection(("127.0.0.1", srv.smtps_port), T(10))
        t = ctx.wrap_socket(raw, server_hostname=HOSTNAME, session=sess)
        resumed += t.session_reused
        t.makefile("rb").readline()
        t.close()
    assert resumed == 8
    assert srv.log().count("resumed=yes") >= 8


def test_200_concurrent_tls_sessions_deliver(server, pki):
    import smtplib
    srv = tls_server(server, pki, extra=["max-sessions-per-ip 300"])
    errors = []
    ctx = ctx_for(pki)

    def one(i):
        try:
            with smtplib.SMTP("127.0.0.1", srv.port, local_hostname="c.test",
                              timeout=T(60)) as s:
                s.starttls(context=ctx)
                s.sendmail("a@example.com", ["user@example.org"],
                           b"Subject: %d\r\n\r\nmessage %d\r\n" % (i, i))
        except Exception as e:  # noqa: BLE001 - collected and reported
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    msgs = srv.wait_messages("user@example.org", 200, timeout=60)
    seen = sorted(int(m.rsplit(b"message ", 1)[1]) for m in msgs)
    assert seen == list(range(200))


class HandTLS:
    """A TLS client driven by hand over memory buffers."""

    def __init__(self, pki):
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx_for(pki).wrap_bio(self.incoming, self.outgoing,
                                         server_hostname=HOSTNAME)

    def do_handshake(self):
        self.obj.do_handshake()

    def read(self, n):
        return self.obj.read(n)


def client_hello(pki):
    """A hand-driven TLS client and its ClientHello, to send."""
    o = HandTLS(pki)
    try:
        o.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return o, o.outgoing.read()


def starttls_begun(srv):
    """A plain connection that said STARTTLS and read its 220."""
    raw = socket.create_connection(("127.0.0.1", srv.port), T(10))
    raw.settimeout(T(10))
    f = raw.makefile("rb")
    assert f.readline().startswith(b"220 ")
    raw.sendall(b"EHLO c.test\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    raw.sendall(b"STARTTLS\r\n")
    assert f.readline().startswith(b"220 ")
    return raw


def read_to_close(sock, within):
    """What arrives until EOF (or a reset), which must come within `within`
    seconds."""
    sock.settimeout(T(within))
    got = b""
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                break
            got += d
    except ConnectionResetError:
        pass
    return got


def test_stalled_handshakes_are_dropped_at_the_timeout(server, pki):
    """A client silent before or in the middle of a TLS handshake has no
    SMTP reply to read: it is disconnected at command-timeout (before,
    the 421 waited for the handshake and the session stayed for ever)."""
    srv = tls_server(server, pki, extra=["command-timeout 2"])
    silent = socket.create_connection(("127.0.0.1", srv.smtps_port), T(10))
    hello = socket.create_connection(("127.0.0.1", srv.smtps_port), T(10))
    hello.sendall(client_hello(pki)[1])
    starttls = starttls_begun(srv)
    starttls.sendall(client_hello(pki)[1])
    start = time.monotonic()
    assert read_to_close(silent, 6) == b""
    for c in (hello, starttls):
        got = read_to_close(c, 6)
        # The server's first flight and nothing after it.
        assert got[:1] == b"\x16", got[:20]
        assert b"421" not in got
    assert 1.5 <= time.monotonic() - start < T(6)
    for c in (silent, hello, starttls):
        c.close()
    wait_until(lambda: len(re.findall(r"disconnect reason=timeout",
                                      srv.log())) >= 3, T(5),
               what="three timeouts")
    test_smtps_alive(srv, pki)


@pytest.mark.parametrize("listener", ["smtps", "starttls"])
def test_reload_in_the_middle_of_a_handshake(server, pki, listener):
    """SIGHUP while a client is half-way through its handshake: the
    handshake ends, the client is told 421 4.3.2 over TLS, and the old
    worker stops at once (before, it waited for that session until the
    client gave up, and a reload made clients time out)."""
    srv = tls_server(server, pki)
    mark = len(srv.log())
    if listener == "smtps":
        raw = socket.create_connection(("127.0.0.1", srv.smtps_port), T(10))
        raw.settimeout(T(10))
    else:
        raw = starttls_begun(srv)
    worker = srv.wait_log(r"worker (\d+): session=\S+ connect .* "
                          r"listen=127.0.0.1:%d " % (srv.smtps_port if
                          listener == "smtps" else srv.port),
                          after=mark).group(1)
    o, ch = client_hello(pki)
    raw.sendall(ch)
    flight = raw.recv(65536)       # the server's first flight
    assert flight[:1] == b"\x16", flight[:20]
    mark = len(srv.log())
    os.kill(srv.proc.pid, 1)
    srv.wait_log(r"worker %s: stopping sessions=1" % worker, after=mark)
    o.incoming.write(flight)
    while True:
        try:
            o.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(o.outgoing.read())
            o.incoming.write(raw.recv(65536))
    raw.sendall(o.outgoing.read())
    text = b""
    while b"\r\n" not in text:
        try:
            d = o.read(4096)
            assert d, "TLS closed before the 421: %r" % text
            text += d
        except ssl.SSLWantReadError:
            d = raw.recv(65536)
            assert d, "closed before the 421"
            o.incoming.write(d)
    assert text.startswith(b"421 4.3.2 "), text
    srv.wait_log(r"worker %s: stopped sessions=0" % worker, timeout=5,
                 after=mark)
    raw.close()
    test_smtps_alive(srv, pki)


def test_reload_picks_up_a_new_certificate(server, pki):
    srv = tls_server(server, pki)

    def serial():
        raw = socket.create_connection(("127.0.0.1", srv.smtps_port), T(10))
        t = ctx_for(pki).wrap_socket(raw, server_hostname=HOSTNAME)
        der = t.getpeercert(binary_form=True)
        t.close()
        return der

    first = serial()
    srv.extra = [l.replace("/ec.", "/ec2.") for l in srv.extra]
    srv.write_config()
    os.kill(srv.proc.pid, 1)
    wait_until(lambda: serial() != first, T(10), what="new certificate")


def key_secrets(path):
    """What of a private key must not be in a process: its secret number
    (EC priv, RSA privateExponent and prime1) as bytes, both big-endian
    (DER, decoded buffers) and reversed (an OpenSSL BIGNUM on a
    little-endian machine), 32 octets of each, and the key's PEM lines."""
    text = subprocess.run(["openssl", "pkey", "-in", str(path), "-text",
                           "-noout"], capture_output=True, text=True,
                          check=True).stdout
    out = []
    for field in ("priv", "privateExponent", "prime1"):
        m = re.search(r"^%s:\n((?:    .*\n)+)" % field, text, re.M)
        if m:
            num = bytes.fromhex(re.sub(r"[\s:]", "", m.group(1)))
            num = num.lstrip(b"\0")
            out += [num[:32], num[::-1][:32]]
    assert out, text
    pem = [l for l in Path(path).read_text().splitlines()
           if l and not l.startswith("-----")]
    return out, [l.encode() for l in pem if len(l) >= 40]


def memory_of(pid):
    """The readable memory of a live process (as root), one bytes per
    mapping."""
    regions = []
    with open("/proc/%d/maps" % pid) as maps, \
            open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            name = f[5] if len(f) > 5 else ""
            # Kernel pages, and the reserved shadow of a sanitizer build.
            if f[1][0] != "r" or name.startswith("[v") or \
                    hi - lo > 1 << 30:
                continue
            try:
                mem.seek(lo)
                regions.append(mem.read(hi - lo))
            except OSError:
                pass
    return regions


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="reads the children's memory as root")
def test_private_key_only_in_workers(server, pki):
    """The TLS private keys are in the workers (they do the handshakes)
    and nowhere in the auth process or the queue, though all are forked
    from the parent that read them."""
    srv = tls_server(server, pki, cert=["ec", "rsa"])
    raw = socket.create_connection(("127.0.0.1", srv.smtps_port), T(10))
    ctx_for(pki).wrap_socket(raw, server_hostname=HOSTNAME).close()
    auth = int(re.findall(r"started auth pid=(\d+)", srv.log())[-1])
    queue = srv.queue_pid()
    for key in ("ec", "rsa"):
        numbers, pem = key_secrets(pki / (key + ".key"))
        for pid in srv.worker_pids().values():
            mem = memory_of(pid)
            # The search works: a worker holds the key it signs with.
            assert any(n in r for n in numbers for r in mem), (key, pid)
        for name, pid in (("auth", auth), ("queue", queue)):
            mem = memory_of(pid)
            for needle in numbers + pem:
                assert not any(needle in r for r in mem), \
                    "%s key in the %s process: %r" % (key, name, needle)


def test_check_mode_reports_a_bad_key(server, pki, tmp_path):
    srv = tls_server(server, pki, start=False)
    text = srv.config_text().replace("/ec.key", "/other.key")
    conf = tmp_path / "bad.conf"
    conf.write_text(text)
    r = subprocess.run([str(srv_binary()), "-n", "-f", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "does not match" in r.stderr, r.stderr


def srv_binary():
    from e2elib import SMTPAUTHD
    return SMTPAUTHD
