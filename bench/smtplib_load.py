#!/usr/bin/python3
"""A client nobody here wrote: Python's smtplib, in N processes.

Each session: connect, EHLO, STARTTLS (the certificate verified), EHLO,
AUTH PLAIN, MAIL, RCPT, DATA (SIZE octets), QUIT.  smtplib waits for every
reply (no PIPELINING).  Prints one JSON line: sessions, errors, wall time,
sessions/s, client CPU, and the latency of AUTH (from the AUTH command to
its 235, after the second EHLO: latency_ms.auth p50/p90/p99, as
`smtpauth load` reports it).  AUTH is always PLAIN (smtplib would pick
CRAM-MD5 when it is offered).

    smtplib_load.py HOST PORT SESSIONS PROCS CAFILE USER FROM TO SIZE
    (the password in SMTPAUTH_PASSWORD)
"""
import json
import multiprocessing
import os
import smtplib
import ssl
import sys
import time


def worker(args):
    host, port, n, cafile, user, pw, frm, to, msg = args
    ctx = ssl.create_default_context(cafile=cafile)
    ok, errs, auth = 0, {}, []
    for _ in range(n):
        try:
            with smtplib.SMTP(host, port, local_hostname="client.test",
                              timeout=30) as s:
                s.starttls(context=ctx)
                s.ehlo()
                s.user, s.password = user, pw
                t0 = time.perf_counter()
                s.auth("PLAIN", s.auth_plain)
                auth.append(time.perf_counter() - t0)
                s.sendmail(frm, [to], msg)
            ok += 1
        except (OSError, smtplib.SMTPException) as e:
            k = type(e).__name__
            errs[k] = errs.get(k, 0) + 1
    t = os.times()
    return ok, errs, t.user + t.system, auth


def pct(xs, p):
    """The p-th percentile (nearest rank) of xs, in milliseconds."""
    xs = sorted(xs)
    return round(1000 * xs[min(len(xs) - 1, int(len(xs) * p / 100))], 3)


def main():
    host, port, sessions, procs, cafile, user, frm, to, size = sys.argv[1:]
    port, sessions, procs, size = int(port), int(sessions), int(procs), \
        int(size)
    pw = os.environ["SMTPAUTH_PASSWORD"]
    head = ("From: <%s>\r\nTo: <%s>\r\nSubject: bench\r\n"
            "Message-ID: <bench@client.test>\r\n\r\n" % (frm, to))
    line = "x" * 62 + "\r\n"
    body = line * max(0, (size - len(head)) // len(line))
    msg = (head + body).encode()
    per = [sessions // procs + (1 if i < sessions % procs else 0)
           for i in range(procs)]
    jobs = [(host, port, n, cafile, user, pw, frm, to, msg)
            for n in per if n > 0]
    t0 = time.monotonic()
    with multiprocessing.Pool(len(jobs)) as pool:
        res = pool.map(worker, jobs)
    wall = time.monotonic() - t0
    ok = sum(r[0] for r in res)
    errs = {}
    for r in res:
        for k, v in r[1].items():
            errs[k] = errs.get(k, 0) + v
    auth = [x for r in res for x in r[3]]
    lat = {"auth": {"n": len(auth), "p50": pct(auth, 50),
                    "p90": pct(auth, 90), "p99": pct(auth, 99)}} \
        if auth else {}
    print(json.dumps({"client": "python-smtplib", "sessions": ok,
                      "messages": ok, "errors": errs,
                      "wall_s": round(wall, 3),
                      "sessions_per_s": round(ok / wall, 1),
                      "messages_per_s": round(ok / wall, 1),
                      "client_cpu_s": round(sum(r[2] for r in res), 3),
                      "procs": len(jobs), "size": len(msg),
                      "latency_ms": lat}))


if __name__ == "__main__":
    main()
