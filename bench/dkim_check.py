#!/usr/bin/python3
"""Did the sink really receive signed mail?  Reads the messages that
smtp-sink appended (-D) to DUMP between byte offsets START and END (one
run's mail), counts them and their DKIM-Signature fields (with each
signature's a=, d= and s=), and verifies up to SAMPLE of them, spread over
the run, with Python's dkim (dkimpy), the public keys taken from the TXT
records in the files given (as `smtpauthd dkim-keygen` prints them:
`SEL._domainkey.DOMAIN. IN TXT "v=DKIM1; ..."`), no DNS.

    dkim_check.py DUMP START END SAMPLE TXTFILE...

Prints one JSON line.
"""
import json
import re
import sys

import dkim


def records(files):
    out = {}
    for path in files:
        with open(path) as f:
            text = f.read()
        m = re.match(r"\s*(\S+)\s+IN\s+TXT\s+(.*)", text, re.S)
        if m:
            name = m.group(1).rstrip(".").lower() + "."
            out[name.encode()] = "".join(
                re.findall(r'"([^"]*)"', m.group(2))).encode()
    return out


def main():
    dump, start, end, sample = sys.argv[1], int(sys.argv[2]), \
        int(sys.argv[3]), int(sys.argv[4])
    zone = records(sys.argv[5:])
    with open(dump, "rb") as f:
        f.seek(start)
        data = f.read(max(0, end - start))
    # Each transaction starts with smtp-sink's X-Client-Addr line.
    msgs = [m for m in re.split(rb"(?m)^(?=X-Client-Addr: )", data)
            if m.startswith(b"X-Client-Addr: ")]
    signed, algs, verified, tried, bad = 0, {}, 0, 0, []
    step = max(1, len(msgs) // max(1, sample)) if sample else 0
    for i, m in enumerate(msgs):
        head = m.split(b"\n\n", 1)[0]
        sigs = re.findall(rb"(?mi)^DKIM-Signature:(.*(?:\n[ \t].*)*)", head)
        if sigs:
            signed += 1
        for sg in sigs:
            tags = dict((k.strip().decode(), v.strip().decode())
                        for k, _, v in (t.partition(b"=") for t in
                                        re.sub(rb"\s+", b"", sg).split(b";"))
                        if k.strip())
            key = "%s d=%s s=%s" % (tags.get("a"), tags.get("d"),
                                    tags.get("s"))
            algs[key] = algs.get(key, 0) + 1
        if sample and i % step == 0 and tried < sample:
            tried += 1
            # smtp-sink's own lines first (not part of the message).
            body = re.sub(rb"\A(?:X-[A-Za-z-]+: [^\n]*\n)+", b"", m)
            body = body.replace(b"\n", b"\r\n")
            try:
                ok = dkim.verify(body, dnsfunc=lambda n, timeout=5:
                                 zone.get(n.lower() if n.endswith(b".")
                                          else n.lower() + b"."))
            except Exception as e:  # dkimpy raises on malformed input
                ok = False
                bad.append(repr(e)[:120])
            verified += bool(ok)
    print(json.dumps({"messages": len(msgs), "signed": signed,
                      "signatures": algs, "sampled": tried,
                      "verified": verified, "errors": bad[:3]}))


if __name__ == "__main__":
    main()
