"""The guard store over TLS (guard-store rediss://, issue 16): a private
Redis listening with TLS only (port 0, certificates of a CA made here) and
smtpauthd nodes that share their bans through it.  A node that cannot
make the TLS connection (an unknown CA, a wrong name, no client
certificate where Redis asks for one) says so once and guards alone; a
store that sends hostile replies is dropped, never followed."""
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from e2elib import BUILD, T, Server, free_port, wait_until
from test_auth import PASSWORD, USERS, hashed, plain
from test_cluster import REDIS_PASSWORD, Redis
from test_proxy import BANNED, proxied
from test_tls import openssl

MAX_FAILURES = 4

pytestmark = pytest.mark.skipif(
    not shutil.which("redis-server"),
    reason="redis-server is installed by scripts/install-deps")


@pytest.fixture(scope="module")
def tlsdir():
    """A test CA, Redis's certificate (127.0.0.1 and localhost), a client
    certificate of the same CA, and another CA nobody should trust.  In a
    folder of its own under /tmp: the nodes' auth processes run as nobody
    and read these files."""
    d = Path(tempfile.mkdtemp(prefix="smtpauth-redistls-", dir="/tmp"))
    os.chmod(d, 0o755)
    (d / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "extendedKeyUsage=serverAuth\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    ec = ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", *ec, "-nodes", "-keyout",
                ca + ".key", "-out", ca + ".pem", "-days", "30", "-subj",
                "/CN=smtpauth %s" % ca, cwd=d)
    for name, ext in (("redis", "server.ext"), ("client", "client.ext")):
        openssl("req", "-newkey", *ec, "-nodes", "-keyout", name + ".key",
                "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem",
                "-CAkey", "ca.key", "-CAcreateserial", "-out",
                name + ".pem", "-days", "30", "-extfile", ext, cwd=d)
    for p in d.iterdir():
        os.chmod(p, 0o644)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def redis(tlsdir):
    r = Redis(tls=tlsdir)
    r.start()
    yield r
    r.stop()
    shutil.rmtree(r.dir, ignore_errors=True)


@pytest.fixture
def nodes():
    """Started nodes, stopped and checked at the end of the test."""
    started = []
    yield started
    problems = []
    for n in started:
        problems += n.cleanup()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def node(nodes, url, *tls):
    """A node with a proxy listener (AUTH in clear there: the tests pick
    their client address in the PROXY header), guarding through url."""
    port = free_port()
    srv = Server(users=list(USERS), workers=1, extra=[
        "listen 127.0.0.1:%d smtp proxy" % port, "proxy-from 127.0.0.1/32",
        "auth-over-plaintext yes", "auth-max-failures %d" % MAX_FAILURES,
        "auth-failure-delay 20", "auth-window 600", "auth-ban 900",
        "guard-store %s" % url] + list(tls))
    srv.users_path.write_text("".join(
        "%s:%s\n" % (u, hashed(u)) for u in USERS))
    os.chmod(srv.users_path, 0o600)
    srv.proxy_port = port
    nodes.append(srv)
    srv.start()
    return srv


def auth(srv, source, password):
    """One session from source: the greeting if refused, else AUTH's reply."""
    with proxied(srv, source) as c:
        if c.greeting.code != 220:
            return c.greeting
        c.ehlo()
        return c.cmd("AUTH PLAIN " + plain("user@example.org", password))


def guess(srv, source, n):
    for i in range(n):
        r = auth(srv, source, "guess %d" % i)
        assert r.code == 535, (i, r)


def down_lines(srv):
    return re.findall(r"auth: guard-store down: (.*)", srv.log())


def refused_handshakes(redis):
    """TLS connections Redis refused so far (its log, loglevel verbose)."""
    return len(re.findall(r"Error accepting a client connection",
                          (redis.dir / "redis.log").read_text()))


def test_bans_shared_over_tls(redis, tlsdir, nodes):
    a = node(nodes, redis.url(), "guard-store-ca-file %s" % (tlsdir / "ca.pem"))
    b = node(nodes, redis.url(), "guard-store-ca-file %s" % (tlsdir / "ca.pem"),
             "guard-store-tls-name localhost")
    for n in (a, b):
        n.wait_log(r"auth: guard-store up")
    src = "127.0.0.31"
    assert auth(b, src, PASSWORD).code == 235
    guess(a, src, MAX_FAILURES)
    banned_at = time.monotonic()

    # B learns it over its TLS subscription and refuses at accept.
    def refused():
        return auth(b, src, PASSWORD).line == BANNED
    wait_until(refused, T(5), interval=0.05, what="node B to refuse")
    assert time.monotonic() - banned_at < T(1.0)
    b.wait_log(r"auth: ban ip=127\.0\.0\.31 source=guard-store")
    assert auth(b, "127.0.0.32", PASSWORD).code == 235
    # The keys are in Redis (asked over TLS: it has no other port).
    until = redis.cli("GET", "smtpauthd:ban:127.0.0.31")
    assert until and int(until) > time.time() + 800, until
    assert redis.cli("GET", "smtpauthd:fail:acct:user@example.org") == \
        str(MAX_FAILURES)
    # smtpauthctl unban on B lifts it on A, through Redis.
    r = subprocess.run([str(BUILD / "smtpauthctl"), "-f", str(b.conf_path),
                        "unban", src], capture_output=True, text=True,
                       timeout=T(20))
    assert r.returncode == 0, (r.stdout, r.stderr)
    a.wait_log(r"auth: unban ip=127\.0\.0\.31 by=guard-store")
    assert redis.cli("EXISTS", "smtpauthd:ban:127.0.0.31") == "0"
    assert auth(a, src, PASSWORD).code == 235
    for n in (a, b):
        assert not down_lines(n), n.log()


# Redis sends our CA after its certificate (OpenSSL builds the chain from
# its tls-ca-cert-file): an unknown CA shows as a self-signed one.
UNKNOWN_CA = ("TLS: server certificate not accepted: (self-signed "
              "certificate in certificate chain|unable to get local issuer "
              "certificate)")


@pytest.mark.parametrize("conf,why", [
    (["guard-store-ca-file other-ca.pem"], UNKNOWN_CA),
    (["guard-store-ca-file ca.pem", "guard-store-tls-name redis.test"],
     "TLS: server certificate not accepted: hostname mismatch"),
    (["guard-store-ca-file ca.pem", "guard-store-tls-name 127.0.0.2"],
     "TLS: server certificate not accepted: IP address mismatch"),
    # The system store does not know the test CA.
    ([], UNKNOWN_CA),
])
def test_tls_failure_is_logged_once_and_guarded_locally(redis, tlsdir, nodes,
                                                         conf, why):
    lines = [re.sub(r"(ca-file )(\S+)", lambda m: m.group(1) +
                    str(tlsdir / m.group(2)), c) for c in conf]
    n = node(nodes, redis.url(), *lines)
    n.wait_log(r"auth: guard-store down: ")
    # Retried after 1 and 2 s (two connections each), and still the one
    # line.
    before = refused_handshakes(redis)
    time.sleep(T(4))
    assert refused_handshakes(redis) - before >= 4
    lines = down_lines(n)
    assert len(lines) == 1, n.log()
    assert re.fullmatch(why + "; guarding locally, retrying", lines[0]), \
        lines
    assert "guard-store up" not in n.log()
    # Answers as before, and the local guard bans on its own count.
    assert auth(n, "127.0.0.41", PASSWORD).code == 235
    src = "127.0.0.42"
    guess(n, src, MAX_FAILURES)
    n.wait_log(r"auth: ban ip=127\.0\.0\.42 failures=%d" % MAX_FAILURES)
    assert auth(n, src, PASSWORD).line == BANNED
    assert redis.cli("EXISTS", "smtpauthd:ban:127.0.0.42") == "0"


def test_client_certificate(tlsdir, nodes):
    """Redis with tls-auth-clients yes: a node with guard-store-cert and
    guard-store-key gets in; one without is refused by Redis, says so once
    and answers from its local guard."""
    r = Redis(tls=tlsdir, client_certs=True)
    r.start()
    try:
        ca = "guard-store-ca-file %s" % (tlsdir / "ca.pem")
        good = node(nodes, r.url(), ca,
                    "guard-store-cert %s" % (tlsdir / "client.pem"),
                    "guard-store-key %s" % (tlsdir / "client.key"))
        bare = node(nodes, r.url(), ca)
        good.wait_log(r"auth: guard-store up")
        bare.wait_log(r"auth: guard-store down: TLS: (tlsv13 alert "
                      r"certificate required|server closed the connection "
                      r"after the handshake, before any reply)")
        guess(good, "127.0.0.51", 1)
        wait_until(lambda: r.cli("GET", "smtpauthd:fail:ip:127.0.0.51")
                   == "1", T(5), what="the failure in Redis")
        assert auth(bare, "127.0.0.52", PASSWORD).code == 235
        assert auth(bare, "127.0.0.52", "wrong").code == 535
        assert r.cli("EXISTS", "smtpauthd:fail:ip:127.0.0.52") == "0"
        assert len(down_lines(bare)) == 1, bare.log()
        assert not down_lines(good), good.log()
    finally:
        r.stop()
        shutil.rmtree(r.dir, ignore_errors=True)


class HostileRedis:
    """A TLS server that answers a guard store's first command with what
    a broken or hostile Redis might send, on every connection."""

    def __init__(self, tlsdir, payload):
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(str(tlsdir / "redis.pem"),
                                 str(tlsdir / "redis.key"))
        self.payload = payload
        self.completed = 0	# connections that took it all
        self.handshakes = 0
        self.sni = []		# the names clients sent

        def sni(sock, name, ctx):
            self.sni.append(name)
        self.ctx.sni_callback = sni
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(conn,),
                             daemon=True).start()

    def one(self, conn):
        try:
            conn.settimeout(T(10))
            with self.ctx.wrap_socket(conn, server_side=True) as t:
                self.handshakes += 1
                t.recv(4096)
                for chunk in self.payload():
                    t.sendall(chunk)
                self.completed += 1
                while t.recv(4096):	# until the node closes
                    pass
        except OSError:
            pass

    def close(self):
        self.stopping = True
        self.sock.close()

    def url(self):
        return "rediss://:%s@127.0.0.1:%d" % (REDIS_PASSWORD, self.port)


def endless_bulk():
    yield b"$100000000\r\n"
    for _ in range(8 * 1024):		# 128 MiB if nobody stops us
        yield b"x" * 16384


def huge_array():
    yield b"*2147483647\r\n"


def many_elements():
    half = b"*10000\r\n" + b":1\r\n" * 10000
    yield b"*2\r\n" + half + half


def long_string():
    yield b"$100000\r\n" + b"x" * 100000 + b"\r\n"


def unasked():
    yield b"+OK\r\n" * 8


def silent():
    """The handshake, then nothing: the node does not wait for ever."""
    return iter(())


@pytest.mark.parametrize("payload,why", [
    (endless_bulk, "a reply over the size limit"),
    (huge_array, "bad reply: over a limit"),
    (many_elements, "bad reply: over a limit"),
    (long_string, "bad reply: over a limit"),
    (unasked, "a reply to no command"),
    (silent, "not ready in time"),
])
def test_hostile_store_is_dropped(tlsdir, nodes, payload, why):
    h = HostileRedis(tlsdir, payload)
    try:
        n = node(nodes, h.url(), "guard-store-ca-file %s"
                 % (tlsdir / "ca.pem"))
        n.wait_log(r"auth: guard-store down: %s" % re.escape(why))
        # The endless reply is cut off, not read to its end.
        if payload is endless_bulk:
            assert h.completed == 0
        t = time.monotonic()
        assert auth(n, "127.0.0.61", PASSWORD).code == 235
        assert auth(n, "127.0.0.61", "wrong").code == 535
        assert time.monotonic() - t < T(5)
        assert "guard-store up" not in n.log()
    finally:
        h.close()


@pytest.mark.parametrize("name", ["localhost", None])
def test_sni_is_the_name_never_the_address(tlsdir, nodes, name):
    h = HostileRedis(tlsdir, silent)
    try:
        conf = ["guard-store-ca-file %s" % (tlsdir / "ca.pem")]
        if name is not None:
            conf.append("guard-store-tls-name %s" % name)
        node(nodes, h.url(), *conf)
        wait_until(lambda: h.handshakes >= 2, T(5), what="two handshakes")
        if name is None:
            assert all(n is None for n in h.sni), h.sni
        else:
            assert len(h.sni) >= 2 and set(h.sni) == {name}, h.sni
    finally:
        h.close()
