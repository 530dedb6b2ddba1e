"""A full spool (issue 12): 452 4.3.1 (insufficient system storage, RFC
3463) instead of 451 4.3.0, at MAIL already when SIZE= does not fit next
to spool-min-free or the spool is nearly full, and at the end of the data
when the file system fills up during it.

The spool is a tmpfs of a few MB mounted for the test (the suite runs as
root, in CI too); the Maildir root stays on /tmp, so delivery still works.
"""
import os
import subprocess
import time
from contextlib import contextmanager

import pytest

from e2elib import T

MB = 1024 * 1024


@contextmanager
def small_spool(server, size_mb, extra):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the suite runs as root)")
    srv = server(extra=extra, start=False)
    srv.spool.mkdir(mode=0o755)
    subprocess.run(["mount", "-t", "tmpfs", "-o",
                    "size=%dm,mode=0755" % size_mb, "tmpfs", str(srv.spool)],
                   check=True)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
        subprocess.run(["umount", "-l", str(srv.spool)], check=True)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path, leave):
    """A file that leaves about `leave` bytes free in path's file system."""
    filler = path / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free_bytes(path) - leave))
    assert free_bytes(path) <= leave + 64 * 1024
    time.sleep(1.1)         # the server reads the free space once a second
    return filler


def transaction(c, mail):
    r = c.cmd(mail)
    if r.code != 250:
        return r
    assert c.cmd("RCPT TO:<user@example.org>").code == 250
    return None


def test_size_over_the_free_space_is_refused_at_mail(server):
    with small_spool(server, 4, ["spool-min-free 1048576"]) as srv:
        with srv.connect() as c:
            c.ehlo()
            # 3.5 MB and the 1 MB reserve do not fit in 4 MB.
            r = c.cmd("MAIL FROM:<a@example.com> SIZE=3500000")
            assert r.line == "452 4.3.1 Insufficient system storage", r
            # What fits is taken, and delivered.
            assert c.cmd("MAIL FROM:<a@example.com> SIZE=1000").code == 250
            assert c.cmd("RCPT TO:<user@example.org>").code == 250
            assert c.cmd("DATA").code == 354
            c.send(b"Subject: fits\r\n\r\nsmall\r\n.\r\n")
            assert c.reply().code == 250
        srv.wait_messages("user@example.org", 1)
        srv.wait_log(r'reject cmd=MAIL arg="[^"]*SIZE\\x3d3500000" '
                     r'reply="452 4.3.1 ')


def test_nearly_full_spool_refuses_new_mail(server):
    with small_spool(server, 4, ["spool-min-free 1048576"]) as srv:
        filler = fill(srv.spool, 512 * 1024)
        with srv.connect() as c:
            c.ehlo()
            r = c.cmd("MAIL FROM:<a@example.com>")
            assert r.line == "452 4.3.1 Insufficient system storage", r
            # Room again: mail again (after the cached second).
            filler.unlink()
            time.sleep(1.1)
            assert c.cmd("MAIL FROM:<a@example.com>").code == 250


def test_disk_full_during_data_is_452(server):
    with small_spool(server, 4, ["spool-min-free 0"]) as srv:
        filler = fill(srv.spool, 256 * 1024)
        body = b"Subject: too big for the disk\r\n\r\n" + \
            b"".join(b"%06d " % i + b"b" * 91 + b"\r\n" for i in range(10000))
        with srv.connect() as c:
            c.ehlo()
            assert c.cmd("MAIL FROM:<a@example.com>").code == 250
            assert c.cmd("RCPT TO:<user@example.org>").code == 250
            assert c.cmd("DATA").code == 354
            c.send(body + b".\r\n")
            c.settimeout(T(20))
            r = c.reply()
            assert r.line == "452 4.3.1 Insufficient system storage", r
            # The session goes on, and with room a message gets through.
            filler.unlink()
            time.sleep(1.1)
            assert c.cmd("MAIL FROM:<a@example.com>").code == 250
            assert c.cmd("RCPT TO:<user@example.org>").code == 250
            assert c.cmd("DATA").code == 354
            c.send(b"Subject: after\r\n\r\nroom again\r\n.\r\n")
            assert c.reply().code == 250
        msgs = srv.wait_messages("user@example.org", 1)
        assert b"room again" in msgs[0]
