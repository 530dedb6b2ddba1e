"""Proxy listeners (issue 11): behind a balancer every check keyed on the
client's address (the ban, sessions per address, auth-exempt) uses the
address of the PROXY header; only proxy-from may send one; a balancer that
sends none is dropped after proxy-timeout.  Raw sockets send the PROXY v1
headers, as HAProxy does."""
import re

from e2elib import HOSTNAME, free_port, proxy_v1
from test_auth import PASSWORD, auth_server, plain
from test_tls import pki  # noqa: F401 - the session-wide test CA

BANNED = "421 4.7.0 %s too many failed authentications, try later" % HOSTNAME


def proxy_server(server, pki, extra=()):
    """auth_server plus a proxy listener (AUTH in clear there) that
    believes 127.0.0.1 only."""
    port = free_port()
    srv = auth_server(server, pki, extra=[
        "listen 127.0.0.1:%d smtp proxy" % port, "proxy-from 127.0.0.1/32",
        "auth-over-plaintext yes"] + list(extra))
    srv.proxy_port = port
    return srv


def proxied(srv, client, greet=True, **kw):
    """A session through the balancer for the client address given."""
    return srv.connect(port=srv.proxy_port, proxy=proxy_v1(client),
                       greet=greet, **kw)


def fail_auth(c, n=1):
    for _ in range(n):
        r = c.cmd("AUTH PLAIN " + plain("user@example.org", "guess"))
        assert r.code == 535, r


def ban(srv, client, failures):
    """Fail AUTH from client until the auth process bans it."""
    with proxied(srv, client) as c:
        c.ehlo()
        fail_auth(c, failures - 1)
        c.sendline("AUTH PLAIN " + plain("user@example.org", "guess"))
        assert [r.line for r in c.replies(2)] == [
            "535 5.7.8 Authentication credentials invalid", BANNED]
    srv.wait_log(r"auth: ban ip=%s " % re.escape(client))


def test_ban_follows_the_proxied_client(server, pki):
    srv = proxy_server(server, pki, extra=[
        "auth-max-failures 3", "auth-failure-delay 50"])
    ban(srv, "192.0.2.7", 3)
    # Its next connection through the balancer is turned away...
    with proxied(srv, "192.0.2.7") as c:
        assert c.greeting.line == BANNED, c.greeting
        assert c.read_until_closed() == b""
    srv.wait_log(r"session=\w+ refuse reason=banned ip=192\.0\.2\.7\n")
    # ...while another client of the same balancer logs in,
    with proxied(srv, "192.0.2.8") as c:
        assert c.greeting.code == 220, c.greeting
        c.ehlo()
        assert c.cmd("AUTH PLAIN " + plain("user@example.org", PASSWORD)) \
            .code == 235
    # and the balancer itself is not banned.
    with srv.connect() as c:
        assert c.greeting.code == 220, c.greeting


def test_right_password_refused_once_banned(server, pki):
    """A session opened before its address was banned does not log in:
    the auth process refuses to verify for a banned address."""
    srv = proxy_server(server, pki, extra=[
        "auth-max-failures 3", "auth-failure-delay 50"])
    early = proxied(srv, "192.0.2.9")
    early.ehlo()
    ban(srv, "192.0.2.9", 3)
    early.sendline("AUTH PLAIN " + plain("user@example.org", PASSWORD))
    r = early.reply()
    assert r.line == BANNED, r
    assert early.read_until_closed() == b""
    srv.wait_log(r"auth: auth result=fail ip=192\.0\.2\.9 port=\d+ tls=no "
                 r"mech=PLAIN user=\"user@example\.org\" reason=banned\n")
    assert "authenticated user=" not in srv.log()


def test_sessions_per_address_counted_per_client(server, pki):
    srv = proxy_server(server, pki, extra=["max-sessions-per-ip 2"])
    first = [proxied(srv, "192.0.2.20") for _ in range(2)]
    for c in first:
        assert c.greeting.code == 220, c.greeting
    third = proxied(srv, "192.0.2.20")
    assert third.greeting.line == ("421 4.7.0 %s Error: too many "
                                   "connections from your address"
                                   % HOSTNAME), third.greeting
    assert third.read_until_closed() == b""
    # Other clients of the balancer, and the balancer's own address (two
    # sessions of it are open), are not held to the client's count.
    others = [proxied(srv, "192.0.2.%d" % i) for i in (21, 22)]
    for c in others:
        assert c.greeting.code == 220, c.greeting
    with srv.connect() as c:
        assert c.greeting.code == 220, c.greeting
    for c in first + others:
        assert c.cmd("NOOP").code == 250
        c.close()


def test_header_only_from_proxy_from(server, pki):
    """127.0.0.2 is outside proxy-from: its claim to be an exempt address
    is never read."""
    srv = proxy_server(server, pki, extra=["auth-exempt 192.0.2.50"])
    c = proxied(srv, "192.0.2.50", greet=False, source="127.0.0.2")
    assert c.read_until_closed() == b""
    srv.wait_log(r"refuse reason=proxy-not-allowed ip=127\.0\.0\.2 "
                 r"listen=127\.0\.0\.1:%d\n" % srv.proxy_port)
    assert "connect ip=192.0.2.50" not in srv.log()
    # From the balancer the same header is taken, and the session's one
    # connect line names the client, and the balancer as via=.
    with proxied(srv, "192.0.2.50") as c:
        assert c.greeting.code == 220, c.greeting
    m = srv.wait_log(r"session=(\w+) connect ip=192\.0\.2\.50 port=40000 "
                     r"listen=127\.0\.0\.1:%d mode=smtp via=127\.0\.0\.1\n"
                     % srv.proxy_port)
    assert len(re.findall(r"session=%s connect " % m.group(1),
                          srv.log())) == 1, srv.log()


def test_no_header_dropped_after_proxy_timeout(server, pki):
    srv = proxy_server(server, pki, extra=[
        "proxy-timeout 1", "command-timeout 60"])
    silent = srv.connect(port=srv.proxy_port, greet=False)
    # Half a header is no header.
    partial = srv.connect(port=srv.proxy_port, greet=False)
    partial.send(b"PROXY TCP4 192.0.2.")
    for c in (silent, partial):
        # Closed without a reply, long before command-timeout.
        assert c.read_until_closed(timeout=10) == b""
    assert len(re.findall(r"reject reason=proxy-timeout ip=127\.0\.0\.1\n",
                          srv.log())) == 2
