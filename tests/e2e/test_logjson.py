"""log-format json (issue 18): every line of a session's log is one valid
JSON object, with the same fields as the key=value line of log-format
text."""
import json
import re
import smtplib

from e2elib import T, log_unescaped
from test_relay import PASSWORD, relay_server

TEXT_RE = re.compile(r"^\S+ smtpauthd\[(\d+)\]: (?:(\w+(?: \d+)?): )?(.*)$")


def fields(line):
    """The key=value fields of a text line, values unquoted."""
    return {k: (v[1:-1] if v.startswith('"') else v) for k, v in
            re.findall(r'([A-Za-z0-9_-]+)=("[^"]*"|\S+)', line)}


def run_session(srv, password):
    with smtplib.SMTP("127.0.0.1", srv.port, local_hostname="c.test",
                      timeout=T(20)) as s:
        try:
            s.login("user@example.org", password)
        except smtplib.SMTPAuthenticationError:
            return
        s.sendmail("user@example.org", ["user@example.org"],
                   b"Subject: x\r\n\r\nbody \"quoted\" a=b\r\n")


def test_json_lines_carry_the_text_fields(server):
    text = relay_server(server)
    js = relay_server(server, extra=["log-format json"], start=False)
    plain_wait = js.wait_log

    def wait_log(pattern, **kw):
        # The text log's "process: event" is a JSON object here.
        m = re.match(r"^(\w+): (\w+)(.*)$", pattern)
        if m:
            pattern = (r'"process":"%s","process_pid":\d+,"event":"%s"%s'
                       % (m.group(1), m.group(2), m.group(3).strip()))
        return plain_wait(pattern, **kw)

    js.wait_log = wait_log
    js.start()
    plain_wait(r'"process":"auth","process_pid":\d+,"event":"ready"')
    for srv in (text, js):
        run_session(srv, PASSWORD)
        run_session(srv, "wrong\" user=evil")
        srv.wait_log(r"result.{0,3}delivered")
        srv.wait_log(r"fail")
    jlines = js.log().splitlines()
    assert jlines
    objs = [json.loads(line) for line in jlines]   # every line is JSON
    for o in objs:
        assert {"time", "level", "process", "process_pid", "event"} <= set(o)
    # The same events with the same fields, line by line.
    tlines = [TEXT_RE.match(x) for x in text.log().splitlines()]
    assert all(tlines), text.log()
    for want in ("connect", "auth", "queued", "delivery", "disconnect"):
        t = [m for m in tlines if re.search(r"(^| )%s( |$)" % want,
                                            m.group(3))]
        j = [o for o in objs if re.search(r"(^| )%s( |$)" % want,
                                          o["event"])]
        assert t and j, want
        tk = set(fields(t[0].group(3)))
        jk = set(j[0]) - {"time", "level", "process", "process_pid", "event"}
        assert tk == jk, (want, tk, jk)
    fail = [o for o in objs if o["event"] == "auth"
            and o.get("result") == "fail"]
    assert fail and all(o["user"] == "user@example.org" for o in fail)
    assert fail[0]["process"] == "auth" and fail[0]["ip"] == "127.0.0.1"
    # A client's text stays one value, escaped as in the text log.
    ok = [o for o in objs if o["event"] == "auth" and o["result"] == "ok"]
    assert log_unescaped(ok[0]["user"].encode()) == b"user@example.org"
