"""The ban table (issue 11): it keeps banning when full, and a worker
cannot write it."""
import os
import re
import socket

from e2elib import HOSTNAME, T, wait_until
from test_auth import TLSClient, auth_server, plain
from test_tls import pki  # noqa: F401 - the session-wide test CA

TABLE = "memfd:smtpauthd-bans"


def greeting_from(srv, source):
    s = socket.create_connection(("127.0.0.1", srv.port), T(10),
                                 source_address=(source, 0))
    try:
        return s.makefile("rb").readline()
    finally:
        s.close()


def test_full_ban_table_still_bans(server, pki):
    """Twice as many guessing addresses as the table holds: each one is
    banned, the newest bans all hold, and each eviction is logged."""
    srv = auth_server(server, pki, extra=[
        "ban-table-size 4", "auth-max-failures 1", "auth-ban 600",
        "auth-failure-delay 10"], workers=1)
    sources = ["127.0.0.%d" % i for i in range(2, 10)]
    for src in sources:
        c = TLSClient(srv, pki, implicit=True, source=src)
        assert c.cmd("AUTH PLAIN " + plain("user@example.org", "guess")) \
            .startswith("535")
        c.close()
        srv.wait_log(r"auth: ban ip=%s " % re.escape(src))
        assert greeting_from(srv, src).startswith(
            b"421 4.7.0 %s too many failed authentications"
            % HOSTNAME.encode())
    for src in sources[-4:]:
        assert greeting_from(srv, src).startswith(b"421 4.7.0 ")
    evicted = re.findall(r"auth: ban table full: evicted ip=(\S+) until=",
                         srv.log())
    assert sorted(evicted) == sorted(sources[:4]), srv.log()
    assert "cannot ban" not in srv.log()


def table_mappings(pid):
    with open("/proc/%d/maps" % pid) as f:
        return [line.split()[1] for line in f if TABLE in line]


def table_fds(pid):
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if "smtpauthd-bans" in target:
            out.append(fd)
    return out


def test_workers_map_the_ban_table_read_only(server, pki):
    """Workers and the queue hold one read-only shared view of the ban
    table and no descriptor to it; the auth process holds the writable
    one."""
    srv = server(workers=2)
    pids = list(srv.worker_pids().values()) + [srv.queue_pid()]
    assert len(pids) == 3
    for pid in pids:
        # Its first step after the fork (it may not have got that far).
        wait_until(lambda: table_mappings(pid) == ["r--s"], T(10),
                   what="pid %d to map the ban table read-only only" % pid)
        assert table_fds(pid) == [], pid
    if os.geteuid() == 0:
        # Not dumpable: only root may look into the auth process.
        (auth,) = re.findall(r"started auth pid=(\d+)", srv.log())
        assert "rw-s" in table_mappings(int(auth))
        assert table_fds(int(auth)) == []
