#!/usr/bin/env python3
"""How many durable writes per second the disk under DIR takes, one
thread, for SECONDS each, and how many cache flushes the device completes
for each (from /sys/dev/block/MAJ:MIN/stat; None where the kernel has no
flush counter).  Prints one JSON line.

  fsync        append 4 KiB to one file and fsync it
  durable_file create a file, write 4 KiB, fsync, rename, fsync the
               directory (what a durable spool does with a new file)
  spool_commit smtpauthd's commit with `spool-sync filesystem` and a
               recycled file: rename free -> part, write 2 KiB over its
               start, rename part -> msg, syncfs; then the removal's two
               renames (msg -> dead -> free), which the next syncfs
               covers, as the queue's recycling does
  overwrite    write 2 KiB over the start of a file whose blocks are
               allocated and written, fdatasync: a commit that changes
               no metadata (no journal commit on ext4), the cost of an
               in-place spool
"""
import ctypes
import json
import os
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)


def syncfs(fd):
    if libc.syncfs(fd) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def flushes(path):
    st = os.stat(path)
    try:
        with open("/sys/dev/block/%d:%d/stat" % (os.major(st.st_dev),
                                                  os.minor(st.st_dev))) as f:
            v = f.read().split()
    except OSError:
        return None
    return int(v[15]) if len(v) >= 17 else None


def loop(d, seconds, fn):
    n = 0
    f0 = flushes(d)
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        fn(n)
        n += 1
    rate = n / (time.monotonic() - t0)
    f1 = flushes(d)
    per = round((f1 - f0) / n, 2) if f0 is not None and f1 is not None \
        else None
    return round(rate, 1), per


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "."
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    out = {}
    block = b"x" * 4096
    msg = b"m" * 2048
    path = os.path.join(d, "fsync-test")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

    def same_file(_n):
        os.write(fd, block)
        os.fsync(fd)

    out["fsync_per_s"], out["fsync_flushes"] = loop(d, seconds, same_file)
    os.close(fd)
    os.unlink(path)

    sub = os.path.join(d, "fsync-dir")
    os.makedirs(sub, exist_ok=True)
    dfd = os.open(sub, os.O_RDONLY | os.O_DIRECTORY)

    def new_file(n):
        tmp = os.path.join(sub, "t%d" % n)
        f = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(f, block)
        os.fsync(f)
        os.close(f)
        os.rename(tmp, os.path.join(sub, "f%d" % n))
        os.fsync(dfd)

    out["durable_file_per_s"], out["durable_file_flushes"] = \
        loop(d, seconds, new_file)
    for name in os.listdir(sub):
        os.unlink(os.path.join(sub, name))

    # 256 recycled files of 2 KiB, used in turn, as the spool keeps them
    free = [os.path.join(sub, "free.%d" % k) for k in range(256)]
    for p in free:
        with open(p, "wb") as f:
            f.write(msg)
            os.fsync(f.fileno())
    syncfs(dfd)

    def spool_commit(n):
        k = free[n % len(free)]
        part = os.path.join(sub, "%016X.part" % n)
        done = os.path.join(sub, "%016X.msg" % n)
        os.rename(k, part)
        f = os.open(part, os.O_WRONLY)
        os.pwrite(f, msg, 0)
        os.ftruncate(f, len(msg))
        os.close(f)
        os.rename(part, done)
        syncfs(dfd)
        dead = os.path.join(sub, "%016X.dead" % n)
        os.rename(done, dead)
        os.rename(dead, k)

    out["spool_commit_per_s"], out["spool_commit_flushes"] = \
        loop(d, seconds, spool_commit)
    for name in os.listdir(sub):
        os.unlink(os.path.join(sub, name))

    slot = os.path.join(sub, "slot")
    fd = os.open(slot, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, b"\0" * 65536)
    os.fsync(fd)
    syncfs(dfd)

    def overwrite(_n):
        os.pwrite(fd, msg, 0)
        os.fdatasync(fd)

    out["overwrite_per_s"], out["overwrite_flushes"] = \
        loop(d, seconds, overwrite)
    os.close(fd)
    os.unlink(slot)
    os.close(dfd)
    os.rmdir(sub)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
