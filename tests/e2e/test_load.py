"""Many sessions at once: every one is served and every message arrives."""
import threading

from e2elib import QUEUE_ID_RE, T, Client, as_stored, crlf, split_delivered

SESSIONS = 200


def test_200_concurrent_sessions(server):
    rcpts = ["user@example.org", "other@example.org", "info@example.net"]
    srv = server(extra=["max-sessions-per-ip 1000"])
    barrier = threading.Barrier(SESSIONS, timeout=T(60))
    results = [None] * SESSIONS

    def one(i):
        try:
            with Client(srv.port, timeout=60) as c:
                assert c.greeting.code == 220, c.greeting
                # All sessions are open at the same time from here on.
                barrier.wait()
                c.ehlo("load%d.test" % i)
                assert c.cmd("MAIL FROM:<load%d@example.com>" % i).code == 250
                assert c.cmd("RCPT TO:<%s>" % rcpts[i % 3]).code == 250
                assert c.cmd("DATA").code == 354
                c.send(crlf("Subject: load %d\n\nmessage number %d\n"
                            % (i, i)) + b".\r\n")
                r = c.reply()
                m = QUEUE_ID_RE.match(r.line)
                assert m, r
                assert c.cmd("QUIT").code == 221
                results[i] = m.group(1)
        except BaseException as e:  # reported below
            results[i] = e
            barrier.abort()

    threads = [threading.Thread(target=one, args=(i,))
               for i in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(T(120))
    errors = [(i, r) for i, r in enumerate(results) if not isinstance(r, str)]
    assert not errors, errors[:5]
    assert len(set(results)) == SESSIONS    # queue ids are unique

    seen = set()
    for k, rcpt in enumerate(rcpts):
        want = len(range(k, SESSIONS, 3))
        msgs = srv.wait_messages(rcpt, want, timeout=60)
        assert len(msgs) == want
        for raw in msgs:
            d = split_delivered(raw)
            i = int(d["return_path"][len(b"load"):-len(b"@example.com")])
            assert i % 3 == k
            assert d["body"] == as_stored(crlf(
                "Subject: load %d\n\nmessage number %d\n" % (i, i)))
            assert d["received"].startswith(
                b"Received: from load%d.test ([127.0.0.1])" % i)
            seen.add(i)
    assert seen == set(range(SESSIONS))
    srv.wait_queue_empty()
