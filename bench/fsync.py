#!/usr/bin/env python3
"""How many durable writes per second this disk takes: write 4 KiB to a
file in DIR and fsync it, in a loop, for SECONDS; then the same with a new
file each time (create, write, fsync, rename, fsync the directory: what a
durable spool does per file).  Prints one JSON line."""
import json
import os
import sys
import time


def loop(seconds, fn):
    n = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        fn(n)
        n += 1
    return n / (time.monotonic() - t0)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "."
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    block = b"x" * 4096
    path = os.path.join(d, "fsync-test")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

    def same_file(_n):
        os.write(fd, block)
        os.fsync(fd)

    same = loop(seconds, same_file)
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

    spool = loop(seconds, new_file)
    os.close(dfd)
    for name in os.listdir(sub):
        os.unlink(os.path.join(sub, name))
    os.rmdir(sub)
    print(json.dumps({"fsync_per_s": round(same, 1),
                      "durable_file_per_s": round(spool, 1)}))


if __name__ == "__main__":
    main()
