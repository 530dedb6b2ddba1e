"""Several nodes, one guard (issue 16): three smtpauthd nodes behind a real
HAProxy (TCP mode, send-proxy-v2, round-robin) share their guard through a
real Redis (guard-store) and their TLS ticket keys through one file
(tls-ticket-keys).  Redis and HAProxy are private instances (their config
written here, loopback high ports, started and stopped by PID) shared by
the tests of this module; every test guesses from its own loopback source
address, which HAProxy hands on in its PROXY v2 header."""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from e2elib import (BUILD, HOSTNAME, SMTPAUTHD, T, Client, Closed, Server,
                    free_port, wait_until)
from test_auth import PASSWORD, USERS, hashed, plain
from test_proxy import BANNED, ban, proxied, proxy_server
from test_tls import ctx_for, pki  # noqa: F401 - the session-wide test CA

REDIS_PASSWORD = "not-the-mail-password"
REDIS_DB = 3
MAX_FAILURES = 6
NODES = 3
SEND_LIMIT = 3			# messages an account sends in 600 s
SEND_LIMIT_RCPTS = 5		# recipients

pytestmark = pytest.mark.skipif(
    not (shutil.which("redis-server") and shutil.which("haproxy")),
    reason="redis-server and haproxy are installed by scripts/install-deps")


class Redis:
    """A private redis-server: its own directory, port and password.  With
    tls (a folder holding ca.pem, redis.pem and redis.key) it listens with
    TLS only (port 0), and with client_certs it asks every client for a
    certificate of that CA (tls-auth-clients yes); redis-cli then shows a
    client certificate too (client.pem, client.key)."""

    def __init__(self, tls=None, client_certs=False):
        self.dir = Path(tempfile.mkdtemp(prefix="smtpauth-redis-", dir="/tmp"))
        self.port = free_port()
        self.proc = None
        self.tls = tls
        self.client_certs = client_certs
        if tls is None:
            ports = "port %d\n" % self.port
        else:
            ports = ("port 0\ntls-port %d\ntls-cert-file %s\n"
                     "tls-key-file %s\ntls-ca-cert-file %s\n"
                     "tls-auth-clients %s\nloglevel verbose\n"
                     % (self.port, tls / "redis.pem", tls / "redis.key",
                        tls / "ca.pem", "yes" if client_certs else "no"))
        (self.dir / "redis.conf").write_text(
            "bind 127.0.0.1\n%sdaemonize no\nprotected-mode yes\n"
            "requirepass %s\ndir %s\nappendonly yes\nappendfsync always\n"
            "save \"\"\nlogfile %s\n"
            % (ports, REDIS_PASSWORD, self.dir, self.dir / "redis.log"))

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", str(self.dir / "redis.conf")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(lambda: self.ping(), T(10), what="redis to answer")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(T(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cli(self, *args):
        tls = []
        if self.tls is not None:
            tls = ["--tls", "--cacert", str(self.tls / "ca.pem")]
            if self.client_certs:
                tls += ["--cert", str(self.tls / "client.pem"),
                        "--key", str(self.tls / "client.key")]
        r = subprocess.run(
            ["redis-cli", "-p", str(self.port), "-n", str(REDIS_DB),
             "--no-auth-warning", "-a", REDIS_PASSWORD] + tls + list(args),
            capture_output=True, text=True, timeout=T(10))
        return r.stdout.strip() if r.returncode == 0 else None

    def ping(self):
        try:
            return self.cli("PING") == "PONG"
        except subprocess.TimeoutExpired:
            return False

    def url(self):
        return "redis%s://:%s@127.0.0.1:%d/%d" % (
            "s" if self.tls is not None else "", REDIS_PASSWORD, self.port,
            REDIS_DB)


class HAProxy:
    """A private haproxy in TCP mode: round-robin, PROXY v2 to each node."""

    def __init__(self, backends):
        self.dir = Path(tempfile.mkdtemp(prefix="smtpauth-haproxy-",
                                         dir="/tmp"))
        self.port = free_port()
        servers = "".join(
            "    server n%d 127.0.0.1:%d send-proxy-v2\n" % (i + 1, p)
            for i, p in enumerate(backends))
        (self.dir / "haproxy.cfg").write_text(
            "global\n    maxconn 1000\n"
            "defaults\n    mode tcp\n    timeout connect 5s\n"
            "    timeout client 60s\n    timeout server 60s\n"
            "frontend submission\n    bind 127.0.0.1:%d\n"
            "    default_backend nodes\n"
            "backend nodes\n    balance roundrobin\n%s"
            % (self.port, servers))
        self.proc = subprocess.Popen(
            ["haproxy", "-db", "-f", str(self.dir / "haproxy.cfg")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "haproxy.log", "wb"),
            start_new_session=True)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return True
            except OSError:
                return False
        wait_until(up, T(10), what="haproxy to listen")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(T(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def node(pki, redis_url, ticket_keys, proxy_port):
    sport = free_port()
    srv = Server(users=list(USERS), domains=["example.org", "jms1.net"],
                 workers=1, extra=[
                     "listen 127.0.0.1:%d smtps" % sport,
                     "listen 127.0.0.1:%d smtp proxy" % proxy_port,
                     "proxy-from 127.0.0.1/32",
                     "auth-over-plaintext yes",
                     "tls-cert %s/ec.pem" % pki, "tls-key %s/ec.key" % pki,
                     "tls-ticket-keys %s" % ticket_keys,
                     "auth-max-failures %d" % MAX_FAILURES,
                     "auth-failure-delay 20",
                     "auth-window 600", "auth-ban 900",
                     "send-limit %d/600" % SEND_LIMIT,
                     "send-limit-recipients %d/600" % SEND_LIMIT_RCPTS,
                     "guard-store %s" % redis_url])
    srv.users_path.write_text("".join(
        "%s:%s\n" % (u, hashed(u)) for u in USERS))
    os.chmod(srv.users_path, 0o600)
    srv.smtps_port = sport
    srv.proxy_port = proxy_port
    return srv


class Cluster:
    def __init__(self, pki):
        self.dir = Path(tempfile.mkdtemp(prefix="smtpauth-cluster-",
                                         dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.keys = self.dir / "ticket.keys"
        self.keys.write_bytes(os.urandom(80))
        os.chmod(self.keys, 0o644)	# the nodes' children run as nobody
        self.redis = Redis()
        self.redis.start()
        ports = [free_port() for _ in range(NODES)]
        self.nodes = [node(pki, self.redis.url(), self.keys, p)
                      for p in ports]
        for n in self.nodes:
            n.start()
        for n in self.nodes:
            n.wait_log(r"auth: guard-store up")
        self.haproxy = HAProxy(ports)

    def connect(self, source):
        """A client session through HAProxy, from a loopback source."""
        return Client(self.haproxy.port, source=source, timeout=T(10))

    def cleanup(self):
        problems = []
        self.haproxy.stop()
        for n in self.nodes:
            problems += n.cleanup()
        self.redis.stop()
        for d in (self.dir, self.redis.dir, self.haproxy.dir):
            shutil.rmtree(d, ignore_errors=True)
        return problems


@pytest.fixture(scope="module")
def cluster(pki):  # noqa: F811
    c = Cluster(pki)
    yield c
    problems = c.cleanup()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def one_auth(cl, source, password):
    """One session through HAProxy: EHLO, AUTH PLAIN; the AUTH reply."""
    with cl.connect(source) as c:
        if c.greeting.code != 220:
            return c.greeting
        c.ehlo()
        r = c.cmd("AUTH PLAIN " + plain("user@example.org", password))
        try:
            c.cmd("QUIT")
        except (Closed, OSError):
            pass
        return r


def refused_everywhere(cl, source):
    """NODES sessions in a row (one per node): each turned away banned."""
    for _ in range(NODES):
        with cl.connect(source) as c:
            assert c.greeting.line == BANNED, c.greeting


def guess_round_robin(cl, source):
    """MAX_FAILURES wrong passwords, one session each: spread round-robin,
    no node sees more than MAX_FAILURES / NODES of them."""
    for i in range(MAX_FAILURES):
        r = one_auth(cl, source, "guess %d" % i)
        assert r.code == 535, (i, r)
    ip = re.escape(source)
    for n in cl.nodes:
        n.wait_log(r"auth: ban ip=%s source=guard-store" % ip, timeout=5)


def test_guesser_spread_over_nodes_is_banned_on_all(cluster):
    src = "127.0.0.11"
    # Before: a correct login through the balancer works on every node.
    for _ in range(NODES):
        assert one_auth(cluster, src, PASSWORD).code == 235
    guess_round_robin(cluster, src)
    # No node reached auth-max-failures on its own count...
    for n in cluster.nodes:
        assert not re.search(r"auth: ban ip=127\.0\.0\.11 failures=",
                             n.log()), n.log()
    # ...yet all three refuse it at accept, and another client is served.
    refused_everywhere(cluster, src)
    assert one_auth(cluster, "127.0.0.12", PASSWORD).code == 235
    until = cluster.redis.cli("GET", "smtpauthd:ban:127.0.0.11")
    assert until and int(until) > time.time() + 800, until


def test_unban_on_one_node_lifts_it_everywhere(cluster):
    """smtpauthctl unban on one node lifts the ban in Redis and, over its
    channel, on the other nodes: the address is served everywhere at once
    (a restart does not bring it back from the state file either)."""
    src = "127.0.0.15"
    guess_round_robin(cluster, src)
    refused_everywhere(cluster, src)
    n0 = cluster.nodes[0]
    r = subprocess.run([str(BUILD / "smtpauthctl"), "-f", str(n0.conf_path),
                        "unban", src], capture_output=True, text=True,
                       timeout=T(20))
    assert r.returncode == 0, (r.stdout, r.stderr)
    n0.wait_log(r"auth: unban ip=127\.0\.0\.15 by=smtpauthctl")
    for n in cluster.nodes[1:]:
        n.wait_log(r"auth: unban ip=127\.0\.0\.15 by=guard-store")
    assert cluster.redis.cli("GET", "smtpauthd:ban:127.0.0.15") in ("", None)
    for _ in range(NODES):
        assert one_auth(cluster, src, PASSWORD).code == 235


def test_account_slowdown_counts_every_node(cluster):
    # Six failures of one account from six addresses, round-robin: two on
    # each node.  A node raises its count of the account to the store's
    # whenever it records a failure of it (the answer never waits for the
    # store), so the seventh, on the node of the fourth, is slowed for
    # four failures (250 ms each, on top of the 20 ms auth-failure-delay)
    # where its own count alone would give two.
    def fail(src):
        with cluster.connect(src) as c:
            c.ehlo()
            t = time.monotonic()
            r = c.cmd("AUTH PLAIN " + plain("other@example.org", "nope"))
            assert r.code == 535, r
            return time.monotonic() - t
    for i in range(6):
        fail("127.0.0.%d" % (41 + i))
    assert cluster.redis.cli("GET", "smtpauthd:fail:acct:other@example.org") \
        == "6"
    assert fail("127.0.0.47") >= 0.95
    # The right password is answered at once all the same.
    with cluster.connect("127.0.0.48") as c:
        c.ehlo()
        t = time.monotonic()
        r = c.cmd("AUTH PLAIN " + plain("other@example.org",
                                        USERS["other@example.org"]))
        assert r.code == 235, r
        assert time.monotonic() - t < 1.0


def test_ban_survives_node_and_redis_restart(cluster):
    src = "127.0.0.21"
    guess_round_robin(cluster, src)
    # A node restarted without its state file learns the ban from Redis;
    n2 = cluster.nodes[1]
    n2.stop()
    (n2.spool / "run" / "bans").unlink()
    mark = len(n2.log())
    n2.start()
    n2.wait_log(r"guard-store bans loaded=[1-9]", after=mark)
    # one restarted with Redis down restores it from its own state file.
    cluster.redis.stop()
    n3 = cluster.nodes[2]
    n3.stop()
    mark3 = len(n3.log())
    n3.start()
    n3.wait_log(r"bans restored=[1-9]", after=mark3)
    refused_everywhere(cluster, src)
    # Redis restarted (from its append-only file): the ban is still there,
    # and the nodes reconnect on their own.
    marks = [len(n.log()) for n in cluster.nodes]
    cluster.redis.start()
    for n, m in zip(cluster.nodes, marks):
        n.wait_log(r"auth: guard-store up", after=m, timeout=40)
    assert cluster.redis.cli("EXISTS", "smtpauthd:ban:127.0.0.21") == "1"
    refused_everywhere(cluster, src)


def login(srv, source, user):
    """A session straight to one node's proxy listener, logged in."""
    c = proxied(srv, source)
    c.ehlo()
    r = c.cmd("AUTH PLAIN " + plain(user, USERS[user]))
    assert r.code == 235, r
    return c


def send(c, rcpts, sender="jms1@jms1.net"):
    """One message of a logged-in session; the first refusal, or None."""
    r = c.cmd("MAIL FROM:<%s>" % sender)
    if r.code != 250:
        return r
    for rcpt in rcpts:
        r = c.cmd("RCPT TO:<%s>" % rcpt)
        if r.code != 250:
            c.cmd("RSET")
            return r
    assert c.cmd("DATA").code == 354
    r = c.cmd("Subject: limit\r\n\r\nhello\r\n.")
    assert r.code == 250, r
    return None


def test_send_limit_trips_on_the_second_node(cluster):
    n1, n2, n3 = cluster.nodes
    acct = "jms1@jms1.net"
    with login(n1, "127.0.0.71", acct) as c:
        for _ in range(SEND_LIMIT):
            assert send(c, ["user@example.org"]) is None
    assert cluster.redis.cli("GET", "smtpauthd:limit:msg:" + acct) == \
        str(SEND_LIMIT)
    # Node 2 has sent nothing for this account, yet refuses at MAIL.
    with login(n2, "127.0.0.72", acct) as c:
        r = send(c, ["user@example.org"])
        assert r.code == 451 and r.line.startswith(
            "451 4.7.1 Sending limit of this account reached"), r
        # The session goes on: a refusal is temporary and not counted.
        assert c.cmd("NOOP").code == 250
    n2.wait_log(r'auth: send-limit account="jms1@jms1\.net" limit=messages '
                r'max=3 window=600 counter=store retry=\d+')
    n2.wait_log(r"refuse reason=send-limit limit=messages "
                r'user="jms1@jms1\.net"')
    assert cluster.redis.cli("GET", "smtpauthd:limit:msg:" + acct) == \
        str(SEND_LIMIT)
    # Another account on the same node is not affected.
    with login(n2, "127.0.0.73", "other@example.org") as c:
        assert send(c, ["user@example.org"],
                    sender="other@example.org") is None


def test_recipient_limit_counts_every_node(cluster):
    n1, n2, n3 = cluster.nodes
    acct = "user@example.org"
    rcpts = ["other@example.org", "jms1@jms1.net"]
    with login(n1, "127.0.0.74", acct) as c:
        assert send(c, rcpts, sender=acct) is None
    with login(n2, "127.0.0.75", acct) as c:
        assert send(c, rcpts, sender=acct) is None
    # Four of five used: node 3 takes one more and refuses the sixth RCPT.
    with login(n3, "127.0.0.76", acct) as c:
        r = send(c, rcpts, sender=acct)
        assert r is not None and r.line.startswith("451 4.7.1 "), r
    n3.wait_log(r'send-limit account="user@example\.org" limit=recipients')
    assert cluster.redis.cli("GET", "smtpauthd:limit:rcpt:" + acct) == \
        str(SEND_LIMIT_RCPTS)


def test_send_limit_redis_down_counts_locally(cluster):
    # The store holds one message of other@example.org (the first test):
    # with it node 3 would let two more through.  With Redis stopped node
    # 3 counts alone, from zero: three, then the fourth is refused, and
    # every answer still comes (no 4.3.0).
    n3 = cluster.nodes[2]
    marks = [len(n.log()) for n in cluster.nodes]
    cluster.redis.stop()
    try:
        n3.wait_log(r"auth: guard-store down: ", after=marks[2])
        with login(n3, "127.0.0.77", "other@example.org") as c:
            for _ in range(SEND_LIMIT):
                assert send(c, ["user@example.org"],
                            sender="other@example.org") is None
            r = send(c, ["user@example.org"], sender="other@example.org")
            assert r is not None and r.line.startswith("451 4.7.1 "), r
        n3.wait_log(r'send-limit account="other@example\.org" '
                    r"limit=messages max=3 window=600 counter=local",
                    after=marks[2])
    finally:
        marks = [len(n.log()) for n in cluster.nodes]
        cluster.redis.start()
    for n, m in zip(cluster.nodes, marks):
        n.wait_log(r"auth: guard-store up again", after=m, timeout=40)


def test_send_limit_without_store_is_per_node(server, pki):  # noqa: F811
    # Without guard-store every node counts alone: each lets the account
    # send its limit, and refuses the next.
    nodes = [proxy_server(server, pki, extra=["send-limit 2/600"])
             for _ in range(2)]
    for i, srv in enumerate(nodes):
        with login(srv, "127.0.0.%d" % (81 + i), "jms1@jms1.net") as c:
            assert send(c, ["user@example.org"]) is None
            assert send(c, ["user@example.org"]) is None
            r = send(c, ["user@example.org"])
            assert r is not None and r.line.startswith("451 4.7.1 "), r
        srv.wait_log(r'send-limit account="jms1@jms1\.net" limit=messages '
                     r"max=2 window=600 counter=local")


def tls_session(port, ctx, session=None):
    raw = socket.create_connection(("127.0.0.1", port), T(10))
    t = ctx.wrap_socket(raw, server_hostname=HOSTNAME, session=session)
    # TLS 1.3 tickets come after the handshake: read the greeting first.
    line = t.makefile("rb").readline()
    assert line.startswith(b"220 "), line
    sess, reused = t.session, t.session_reused
    t.close()
    return sess, reused


def test_ticket_from_node1_resumes_on_node2(cluster, pki):  # noqa: F811
    n1, n2, n3 = cluster.nodes
    ctx = ctx_for(pki)
    sess, reused = tls_session(n1.smtps_port, ctx)
    assert not reused
    _, reused = tls_session(n2.smtps_port, ctx, session=sess)
    assert reused
    n2.wait_log(r"resumed=yes")
    # TLS 1.2 tickets too, on the third node.
    ctx12 = ctx_for(pki)
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    sess12, _ = tls_session(n1.smtps_port, ctx12)
    _, reused = tls_session(n3.smtps_port, ctx12, session=sess12)
    assert reused


def test_ticket_not_resumed_without_the_shared_keys(cluster, server,
                                                    pki):  # noqa: F811
    # A node of its own keys does not take node 1's ticket (full handshake).
    other = proxy_server(server, pki)
    ctx = ctx_for(pki)
    sess, _ = tls_session(cluster.nodes[0].smtps_port, ctx)
    _, reused = tls_session(other.smtps_port, ctx, session=sess)
    assert not reused


def test_redis_down_nodes_answer_and_guard_locally(cluster):
    marks = [len(n.log()) for n in cluster.nodes]
    before = list(marks)
    cluster.redis.stop()
    try:
        for n, m in zip(cluster.nodes, marks):
            n.wait_log(r"auth: guard-store down: ", after=m)
        # Every node keeps answering, right and wrong, and a guesser whose
        # sessions (3 failures each, then closed) come back to one node
        # every NODES sessions is banned there, on that node's own count.
        for rnd in range(MAX_FAILURES // 3):
            with cluster.connect("127.0.0.33") as c:
                c.ehlo()
                for i in range(2):
                    r = c.cmd("AUTH PLAIN " + plain("user@example.org", "g"))
                    assert r.code == 535, r
                c.sendline("AUTH PLAIN " + plain("user@example.org", "g"))
                last = [r.line for r in c.replies(2)]
                assert last[0].startswith("535 "), last
                assert last[1].startswith("421 "), last
            assert one_auth(cluster, "127.0.0.31", PASSWORD).code == 235
            assert one_auth(cluster, "127.0.0.32", "guess").code == 535
        assert last[1] == BANNED, last
        banned_on = [n for n in cluster.nodes if re.search(
            r"auth: ban ip=127\.0\.0\.33 failures=%d" % MAX_FAILURES,
            n.log())]
        assert len(banned_on) == 1
    finally:
        marks = [len(n.log()) for n in cluster.nodes]
        cluster.redis.start()
    for n, m in zip(cluster.nodes, marks):
        n.wait_log(r"auth: guard-store up again", after=m, timeout=40)
    # "down" was logged once per node for the whole outage (its retries
    # only at debug level).
    for n, m in zip(cluster.nodes, before):
        assert n.log()[m:].count("guard-store down") == 1, n.log()[m:]
    # Converged: the local ban was pushed, every node now refuses it.
    for n in cluster.nodes:
        if n is not banned_on[0]:
            n.wait_log(r"auth: ban ip=127\.0\.0\.33 source=guard-store")
    refused_everywhere(cluster, "127.0.0.33")
    assert cluster.redis.cli("EXISTS", "smtpauthd:ban:127.0.0.33") == "1"


def test_store_refusing_scripts_is_said_once(cluster):
    # Scripting taken away by an ACL: every failure is refused by the
    # store, each node says so once, and goes on answering and counting.
    marks = [len(n.log()) for n in cluster.nodes]
    assert cluster.redis.cli("ACL", "SETUSER", "default",
                             "-@scripting") == "OK"
    try:
        for i in range(2 * NODES):
            assert one_auth(cluster, "127.0.0.%d" % (51 + i),
                            "guess").code == 535
        for n, m in zip(cluster.nodes, marks):
            n.wait_log(r"guard-store: a failure was not counted: NOPERM",
                       after=m)
    finally:
        assert cluster.redis.cli("ACL", "SETUSER", "default",
                                 "+@scripting") == "OK"
    for n, m in zip(cluster.nodes, marks):
        assert n.log()[m:].count("a failure was not counted") == 1
    assert one_auth(cluster, "127.0.0.60", PASSWORD).code == 235


def test_local_guard_ban_survives_restart(server, pki):  # noqa: F811
    srv = proxy_server(server, pki, extra=[
        "auth-max-failures 3", "auth-failure-delay 20"])
    ban(srv, "192.0.2.44", 3)
    wait_until(lambda: (srv.spool / "run" / "bans").is_file() and
               b"192.0.2.44 " in (srv.spool / "run" / "bans").read_bytes(),
               T(5), what="the state file")
    assert srv.stop() == 0
    srv.start()
    srv.wait_log(r"bans restored=1 bad=0")
    with proxied(srv, "192.0.2.44") as c:
        assert c.greeting.line == BANNED, c.greeting
    with proxied(srv, "192.0.2.45") as c:
        assert c.greeting.code == 220, c.greeting


@pytest.mark.parametrize("size,ok", [(80, True), (160, True), (48, True),
                                     (79, False), (400, False)])
def test_check_mode_reads_the_ticket_keys(server, pki, size,
                                          ok):  # noqa: F811
    srv = server(start=False, extra=[
        "tls-cert %s/ec.pem" % pki, "tls-key %s/ec.key" % pki])
    keys = srv.dir / "ticket.keys"
    keys.write_bytes(os.urandom(size))
    srv.extra.append("tls-ticket-keys %s" % keys)
    srv.write_config()
    p = subprocess.run([str(SMTPAUTHD), "-n", "-f", str(srv.conf_path)],
                       capture_output=True, text=True, timeout=T(20))
    if ok:
        assert p.returncode == 0, p.stderr
    else:
        assert p.returncode != 0
        assert "expected 1 to 4 keys of 80 (or 48) bytes each" in p.stderr



def test_reload_rereads_the_ticket_keys(server, pki):  # noqa: F811
    # The administrator's rotation: a new key first (the old one still
    # opens tickets), later the old one dropped (its tickets are refused).
    sport = free_port()
    srv = server(start=False, extra=[
        "listen 127.0.0.1:%d smtps" % sport,
        "tls-cert %s/ec.pem" % pki, "tls-key %s/ec.key" % pki])
    keys = srv.dir / "ticket.keys"
    old, new = os.urandom(80), os.urandom(80)
    keys.write_bytes(old)
    srv.extra.append("tls-ticket-keys %s" % keys)
    srv.write_config()
    srv.start()
    ctx = ctx_for(pki)
    sess, _ = tls_session(sport, ctx)

    def reload(data):
        keys.write_bytes(data)
        mark = len(srv.log())
        os.kill(srv.proc.pid, signal.SIGHUP)
        srv.wait_log(r"reloaded users=", after=mark)
    reload(new + old)
    assert wait_until(lambda: tls_session(sport, ctx, session=sess)[1],
                      T(5), what="the old key to open its ticket")
    reload(new)
    assert not tls_session(sport, ctx, session=sess)[1]
    # A file of the wrong size is refused and the keys in use stay.
    mark = len(srv.log())
    keys.write_bytes(new[:79])
    os.kill(srv.proc.pid, signal.SIGHUP)
    srv.wait_log(r"reload failed, keeping the running configuration: "
                 r".*expected 1 to 4 keys", after=mark)
    sess2, _ = tls_session(sport, ctx)
    assert tls_session(sport, ctx, session=sess2)[1]
