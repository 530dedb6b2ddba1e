#!/usr/bin/python3
"""Where a one-client session's time goes: each reply timed at the client.

N plain sessions one after another, each: connect (to the greeting), HELO,
MAIL, RCPT, DATA, the message (about 1 KiB, to its 250), QUIT.  Prints the
median and 90th percentile of each step in microseconds and the sum of
the medians.  A reply that is not 2xx/3xx stops it with an error.

    reply_times.py HOST PORT N FROM TO
"""
import socket
import statistics
import sys
import time


def reply(s, buf):
    """One whole reply (its last line has a space after the code)."""
    while True:
        while b"\r\n" not in buf[0]:
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit("connection closed")
            buf[0] += chunk
        line, buf[0] = buf[0].split(b"\r\n", 1)
        if len(line) < 4 or line[3:4] != b"-":
            if line[:1] not in (b"2", b"3"):
                raise SystemExit("refused: %r" % line)
            return line


def main():
    if len(sys.argv) != 6:
        raise SystemExit(__doc__)
    host, port, n, frm, to = sys.argv[1], int(sys.argv[2]), \
        int(sys.argv[3]), sys.argv[4], sys.argv[5]
    body = ("From: <%s>\r\nTo: <%s>\r\nSubject: reply times\r\n\r\n"
            % (frm, to)).encode() + (b"x" * 70 + b"\r\n") * 13 + b".\r\n"
    steps = [("helo", b"HELO client\r\n"),
             ("mail", b"MAIL FROM:<%s>\r\n" % frm.encode()),
             ("rcpt", b"RCPT TO:<%s>\r\n" % to.encode()),
             ("data", b"DATA\r\n"), ("message", body), ("quit", b"QUIT\r\n")]
    times = {k: [] for k in ["greeting"] + [k for k, _ in steps]}
    for _ in range(n):
        buf = [b""]
        t0 = time.perf_counter()
        s = socket.create_connection((host, port))
        reply(s, buf)
        times["greeting"].append(time.perf_counter() - t0)
        for k, cmd in steps:
            t = time.perf_counter()
            s.sendall(cmd)
            reply(s, buf)
            times[k].append(time.perf_counter() - t)
        s.close()
    total = 0.0
    for k, v in times.items():
        med = statistics.median(v) * 1e6
        total += med
        print("%-9s median %6.0f us  p90 %6.0f us"
              % (k, med, sorted(v)[int(len(v) * 0.9)] * 1e6))
    print("sum of medians %.0f us" % total)


if __name__ == "__main__":
    main()
