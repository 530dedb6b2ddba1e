"""Helpers for the end-to-end tests of the tester, smtpauth.

The tester is checked against independent servers that misbehave on
purpose: aiosmtpd (python3-aiosmtpd) with a custom handler, authenticator
and SMTP subclass, configured by a few knobs, and certificates made with
the openssl command at test time (a CA, a good certificate, an expired one,
one for the wrong host).

Nothing here knows the tester's internals beyond its pinned interface
(DESIGN.md: subcommands, options, check ids, JSON, exit codes).
"""
import base64
import hashlib
import hmac
import os
import socket
import ssl
import subprocess
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, MISSING

import e2elib
from e2elib import BUILD, CRASH_RE, T

SMTPAUTH = BUILD / "smtpauth"

USER = "user@example.org"
# Every character a shell or perl would trip over, all printable ASCII so
# that SCRAM (no SASLprep in smtpauth) can carry it too.
PASSWORD = 'p@ss "w0rd" $HOME \\0 1\'x'
LOCAL_DOMAINS = ("example.org",)
QUEUE_ID = "4F2A9C01DEADBEEF"


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def plain_b64(user=USER, password=PASSWORD):
    return b64(b"\0" + user.encode() + b"\0" + password.encode())


def secret_forms(user=USER, password=PASSWORD):
    """Strings that must never appear in a transcript or report."""
    return [password, plain_b64(user, password), b64(password),
            b64(b"\0" + user.encode())[:-4]]


def run(args, input=None, env=None, timeout=60, check=False):
    """Run smtpauth; returns the CompletedProcess (bytes in, text out)."""
    e = dict(os.environ)
    e.pop("SMTPAUTH_PASSWORD", None)
    e["NO_COLOR"] = "1"
    if env:
        e.update(env)
    if isinstance(input, str):
        input = input.encode()
    # A session of its own: no controlling terminal, so a password
    # prompt fails at once instead of waiting on whoever runs the tests.
    p = subprocess.run([str(SMTPAUTH)] + [str(a) for a in args],
                       input=input if input is not None else b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=e, timeout=T(timeout), start_new_session=True)
    p.out = p.stdout.decode("utf-8", "replace")
    p.err = p.stderr.decode("utf-8", "replace")
    assert not CRASH_RE.search(p.err), p.err
    if check:
        assert p.returncode == 0, (p.returncode, p.out, p.err)
    return p


# ----------------------------------------------------------------------
# Certificates

CA_CONF = """
[ ca ]
default_ca = testca
[ testca ]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[ anything ]
commonName = supplied
"""


def _openssl(args, cwd):
    subprocess.run(["openssl"] + args, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_pki(d):
    """A CA and four server certificates in d: good (localhost and
    127.0.0.1, a year), expired (2020), wronghost (other.example), all
    signed by the CA, and selfsigned (localhost, not signed by the CA).
    Returns a dict of paths."""
    d = Path(d)
    (d / "ca.cnf").write_text(CA_CONF)
    (d / "index.txt").write_text("")
    (d / "serial").write_text("01\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl(["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.pem",
             "-subj", "/CN=smtpauth test CA", "-days", "30"], d)
    certs = {"ca": d / "ca.pem"}
    for name, san, dates in (
            ("good", "DNS:localhost,IP:127.0.0.1,IP:::1", ["-days", "365"]),
            ("expired", "DNS:localhost,IP:127.0.0.1",
             ["-startdate", "20200101000000Z", "-enddate",
              "20200201000000Z"]),
            ("wronghost", "DNS:other.example", ["-days", "365"])):
        _openssl(["req", "-new"] + ec + ["-keyout", name + ".key", "-out",
                 name + ".csr", "-subj", "/CN=" + san.split(",")[0][4:],
                 "-addext", "subjectAltName=" + san], d)
        _openssl(["ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem",
                  "-keyfile", "ca.key", "-in", name + ".csr", "-out",
                  name + ".pem", "-notext"] + dates, d)
        certs[name] = (d / (name + ".pem"), d / (name + ".key"))
    # Right names, but signed by nobody the tester trusts.
    _openssl(["req", "-x509"] + ec + ["-keyout", "selfsigned.key", "-out",
             "selfsigned.pem", "-subj", "/CN=localhost", "-addext",
             "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "30"], d)
    certs["selfsigned"] = (d / "selfsigned.pem", d / "selfsigned.key")
    return certs


OAKLEY2 = ("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
           "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
           "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
           "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF")


def make_audit_pki(d):
    """For the TLS audit, next to make_pki's CA in d (call that first): an
    intermediate CA and a leaf it signed (leaf-inter.pem alone, and
    chain-inter.pem with the intermediate after it), an RSA-2048
    certificate, an RSA-1024 one signed with SHA-1, and 1024-bit DH
    parameters.  All for localhost and
    127.0.0.1, signed under the CA.  Returns a dict of paths."""
    d = Path(d)
    (d / "inter.ext").write_text(
        "basicConstraints=critical,CA:TRUE\n"
        "keyUsage=critical,keyCertSign,cRLSign\n")
    (d / "leaf.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "extendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

    def issue(name, key, ca, ext, subj, md="-sha256"):
        _openssl(["req", "-new"] + key + ["-keyout", name + ".key", "-out",
                 name + ".csr", "-subj", subj], d)
        _openssl(["x509", "-req", md, "-in", name + ".csr", "-CA",
                  ca + ".pem", "-CAkey", ca + ".key", "-CAcreateserial",
                  "-out", name + ".pem", "-days", "30", "-extfile", ext], d)
    issue("inter", ec, "ca", "inter.ext", "/CN=smtpauth test intermediate")
    issue("leaf-inter", ec, "inter", "leaf.ext", "/CN=localhost")
    (d / "chain-inter.pem").write_text((d / "leaf-inter.pem").read_text() +
                                       (d / "inter.pem").read_text())
    issue("rsa2048", ["-newkey", "rsa:2048", "-nodes"], "ca", "leaf.ext",
          "/CN=localhost")
    issue("rsa1024", ["-newkey", "rsa:1024", "-nodes"], "ca", "leaf.ext",
          "/CN=localhost", md="-sha1")
    # RFC 2409's second Oakley group: a known 1024-bit safe prime, in the
    # PKCS #3 form Postfix reads (dhparam -dsaparam writes X9.42, which
    # Postfix refuses; generating a safe prime takes seconds to minutes).
    (d / "dh1024.cnf").write_text(
        "asn1=SEQUENCE:dh\n[dh]\np=INTEGER:0x" + OAKLEY2 +
        "\ng=INTEGER:2\n")
    _openssl(["asn1parse", "-genconf", "dh1024.cnf", "-out", "dh1024.der"],
             d)
    _openssl(["dhparam", "-inform", "DER", "-in", "dh1024.der", "-out",
              "dh1024.pem"], d)
    return {n: d / (n + ".pem") for n in (
        "inter", "leaf-inter", "chain-inter", "rsa2048", "rsa1024",
        "dh1024")} | {n + ".key": d / (n + ".key") for n in (
            "leaf-inter", "rsa2048", "rsa1024")}


def server_tls_context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


# ----------------------------------------------------------------------
# Servers

class Handler:
    """Relay policy and delivery: local domains for anyone, the rest only
    after AUTH (unless open_relay); DATA answers with a queue id."""

    def __init__(self, open_relay=False, users=None):
        self.open_relay = open_relay
        self.any_password = False
        self.users = users or {USER: PASSWORD}
        self.messages = []
        self.received_auth = []     # what clients sent in AUTH exchanges

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        domain = address.rpartition("@")[2].lower()
        if (domain not in LOCAL_DOMAINS and not session.authenticated
                and not self.open_relay):
            return "550 5.7.1 Relay access denied"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 2.0.0 Ok: queued as " + QUEUE_ID

    # CRAM-MD5 (RFC 2195) and SCRAM-SHA-256 (RFC 5802, 7677), written here
    # from the RFCs, independently of smtpauth's implementation.

    async def auth_CRAM__MD5(self, server, args):
        challenge = "<%s.%d@test>" % (os.urandom(6).hex(), os.getpid())
        resp = await server.challenge_auth(challenge)
        if resp is MISSING:
            return AuthResult(success=False, handled=True)
        self.received_auth.append(b64(resp))
        user, _, digest = resp.decode().rpartition(" ")
        pw = self.users.get(user)
        if pw is None:
            return AuthResult(success=False, handled=False)
        want = hmac.new(pw.encode(), challenge.encode(), "md5").hexdigest()
        return AuthResult(success=self.any_password or
                          hmac.compare_digest(want, digest),
                          handled=False,
                          auth_data=LoginPassword(user.encode(), b""))

    async def auth_SCRAM__SHA__256(self, server, args):
        if len(args) > 1:
            cfirst = base64.b64decode(args[1])
        else:
            cfirst = await server.challenge_auth("")
            if cfirst is MISSING:
                return AuthResult(success=False, handled=True)
        self.received_auth.append(b64(cfirst))
        gs2, _, bare = cfirst.partition(b",,")
        attrs = dict(a.split(b"=", 1) for a in bare.split(b","))
        user = attrs[b"n"].replace(b"=2C", b",").replace(b"=3D", b"=")
        user = user.decode()
        snonce = attrs[b"r"] + base64.b64encode(os.urandom(12))
        salt, it = os.urandom(16), 4096
        sfirst = b"r=%s,s=%s,i=%d" % (snonce, base64.b64encode(salt), it)
        cfinal = await server.challenge_auth(sfirst)
        if cfinal is MISSING:
            return AuthResult(success=False, handled=True)
        self.received_auth.append(b64(cfinal))
        without, _, proof = cfinal.rpartition(b",p=")
        fattrs = dict(a.split(b"=", 1) for a in without.split(b","))
        pw = self.users.get(user, "\0no such user")
        salted = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt, it)
        ckey = hmac.new(salted, b"Client Key", "sha256").digest()
        stored = hashlib.sha256(ckey).digest()
        authmsg = bare + b"," + sfirst + b"," + without
        csig = hmac.new(stored, authmsg, "sha256").digest()
        want = bytes(a ^ b for a, b in zip(ckey, csig))
        if self.any_password:
            # It cannot prove a password it does not check: no "v=".
            return AuthResult(success=True, handled=False,
                              auth_data=LoginPassword(user.encode(), b""))
        if (fattrs.get(b"r") != snonce or fattrs.get(b"c") != b"biws"
                or not hmac.compare_digest(want, base64.b64decode(proof))):
            return AuthResult(success=False, handled=False)
        skey = hmac.new(salted, b"Server Key", "sha256").digest()
        ssig = hmac.new(skey, authmsg, "sha256").digest()
        final = await server.challenge_auth(b"v=" + base64.b64encode(ssig))
        if final is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=True, handled=False,
                          auth_data=LoginPassword(user.encode(), b""))


class InjectableSMTP(SMTP):
    """aiosmtpd discards what came in clear after STARTTLS (RFC 3207 4.2);
    this one keeps it, so a command pipelined after STARTTLS is executed
    inside TLS: the STARTTLS command injection of CVE-2011-0411."""

    def connection_made(self, transport):
        kept = b""
        if self.transport is not None and self._original_transport is not None:
            kept = bytes(self._reader._buffer)
        super().connection_made(transport)
        if kept:
            self._reader._buffer.extend(kept)


class AUTH503(SMTP):
    """Answers 503 to every AUTH."""

    async def smtp_AUTH(self, arg):
        await self.push("503 5.5.1 Error: authentication not enabled")


class HangUpOnBadAuth(SMTP):
    """Under TLS, hangs up instead of answering 535 to a failed AUTH, and
    tells the handler so (handler.hung_up): the FakeServer then serves its
    later certificate to every new TLS connection, as someone in the
    middle could."""

    async def push(self, status):
        if (status.startswith("535") and self.transport is not None
                and self.transport.get_extra_info("ssl_object")
                is not None):
            self.event_handler.hung_up = True
            self.transport.close()
            return
        await super().push(status)


class TestController(Controller):
    def __init__(self, handler, smtp_class, **kw):
        self.smtp_class = smtp_class
        super().__init__(handler, **kw)

    def factory(self):
        return self.smtp_class(self.handler, **self.SMTP_kwargs)


def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return e2elib.free_port(family, host)


class FakeServer:
    """An aiosmtpd server on 127.0.0.1 (or host) with knobs:

    starttls      offer STARTTLS (with cert)
    cert          (certfile, keyfile)
    implicit      implicit TLS on the port instead of STARTTLS
    auth_in_clear offer and take AUTH without TLS
    any_password  every password is right
    auth_503      503 to every AUTH
    open_relay    relay for anyone
    vulnerable    commands sent in clear after STARTTLS are executed
                  inside TLS
    later_cert    (certfile, keyfile): hang up on a failed AUTH under TLS
                  instead of answering, and from then on every TLS handshake gets this
                  certificate (later_conns counts them)
    ident         the greeting's words after the host name: "ESMTP", as
                  a server that names no software; None for aiosmtpd's
                  own ("Python SMTP 1.4.3", which banner-disclosure warns
                  of)
    """

    def __init__(self, cert, starttls=True, implicit=False,
                 auth_in_clear=False, any_password=False, auth_503=False,
                 open_relay=False, vulnerable=False, users=None,
                 host="127.0.0.1", later_cert=None, ident="ESMTP"):
        self.handler = Handler(open_relay=open_relay, users=users)
        self.host = host
        self.port = free_port(host)
        self.any_password = any_password
        ctx = server_tls_context(*cert) if cert else None
        self.handler.any_password = any_password
        self.handler.hung_up = False
        self.later_ctx = None
        self.later_conns = 0
        if later_cert:
            self.later_ctx = server_tls_context(*later_cert)
            ctx.sni_callback = self._pick_cert
        if later_cert:
            cls = HangUpOnBadAuth
        elif auth_503:
            cls = AUTH503
        elif vulnerable:
            cls = InjectableSMTP
        else:
            cls = SMTP
        kw = dict(hostname=host, port=self.port,
                  server_hostname="mx.test", authenticator=self.authenticate,
                  auth_require_tls=not (auth_in_clear or implicit),
                  ready_timeout=T(10))
        if ident is not None:
            kw["ident"] = ident
        if implicit:
            kw["ssl_context"] = ctx
        elif starttls:
            kw["tls_context"] = ctx
        self.controller = TestController(self.handler, cls, **kw)

    def _pick_cert(self, sslobj, server_name, ctx):
        # OpenSSL asks with or without SNI (an address literal sends none).
        if self.handler.hung_up:
            sslobj.context = self.later_ctx
            self.later_conns += 1

    def on_later_cert(self, server):
        """Is this connection (an SMTP instance) on the later certificate?"""
        obj = server.transport.get_extra_info("ssl_object")
        return obj is not None and obj.context is self.later_ctx

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        pw = auth_data.password.decode("utf-8", "replace")
        ok = self.any_password or self.handler.users.get(user) == pw
        return AuthResult(success=ok, handled=False)

    @property
    def target(self):
        if ":" in self.host:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()
