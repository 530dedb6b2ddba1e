#!/usr/bin/python3
"""Dovecot's own verify time: AUTH PLAIN requests straight to Dovecot's
auth-client socket (the protocol Postfix and smtpauthd speak), one at a
time on one connection, each timed from the request to Dovecot's OK.
No SMTP, no TLS: what is left is Dovecot's lookup and hash (or its cache)
and one loopback round trip.

    dovecot_auth.py unix:PATH|inet:HOST:PORT N USER [--secured]
    (the password in SMTPAUTH_PASSWORD)

Prints one JSON line: requests, failures, latency_ms p50/p90/p99 of the
successful ones.
"""
import base64
import json
import os
import socket
import sys
import time


def connect(spec):
    kind, _, addr = spec.partition(":")
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX)
        s.connect(addr)
    elif kind == "inet":
        host, _, port = addr.rpartition(":")
        s = socket.create_connection((host, int(port)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    else:
        raise SystemExit("dovecot_auth.py: unix:PATH or inet:HOST:PORT")
    s.settimeout(30)
    return s


class Lines:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def get(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit("dovecot_auth.py: Dovecot closed")
            self.buf += chunk
            if len(self.buf) > 1 << 20:
                raise SystemExit("dovecot_auth.py: line too long")
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace").split("\t")


def pct(xs, p):
    xs = sorted(xs)
    return round(1000 * xs[min(len(xs) - 1, int(len(xs) * p / 100))], 3)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 3:
        raise SystemExit(__doc__)
    spec, n, user = args[0], int(args[1]), args[2]
    pw = os.environ["SMTPAUTH_PASSWORD"]
    extra = "\tsecured" if "--secured" in sys.argv else ""
    s = connect(spec)
    rd = Lines(s)
    s.sendall(b"VERSION\t1\t2\nCPID\t%d\n" % os.getpid())
    while rd.get()[0] != "DONE":
        pass
    resp = base64.b64encode(b"\0%s\0%s" % (user.encode(), pw.encode()))
    lat, fails = [], 0
    for i in range(1, n + 1):
        req = ("AUTH\t%d\tPLAIN\tservice=smtp\trip=127.0.0.1\t"
               "lip=127.0.0.1%s\tresp=%s\n" % (i, extra, resp.decode()))
        t0 = time.perf_counter()
        s.sendall(req.encode())
        while True:
            f = rd.get()
            if len(f) > 1 and f[1] == str(i) and f[0] in ("OK", "FAIL",
                                                          "CONT"):
                break
        dt = time.perf_counter() - t0
        if f[0] == "OK":
            lat.append(dt)
        else:
            fails += 1
    s.close()
    print(json.dumps({"client": "dovecot-auth-client", "requests": n,
                      "failures": fails,
                      "latency_ms": {"auth": {
                          "n": len(lat), "p50": pct(lat, 50) if lat else None,
                          "p90": pct(lat, 90) if lat else None,
                          "p99": pct(lat, 99) if lat else None}}}))


if __name__ == "__main__":
    main()
