"""The libFuzzer harness for whole sessions (tests/fuzz/fuzz_session.c)
builds against the current sources, and leaves nothing behind: its spool
lives under $TMPDIR while it runs and is removed when it exits (issue 12:
it used to leave its spool in /tmp, 355 MB after 10 minutes)."""
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from e2elib import BUILD, REPO, SANITIZED, T

PKGS = ["openssl", "libevent", "libevent_pthreads", "libcrypt", "libcares",
        "libidn"]


def pkg_config(*args):
    return subprocess.run(["pkg-config"] + list(args) + PKGS, check=True,
                          capture_output=True, text=True).stdout.split()


def test_session_harness_cleans_up_its_spool():
    top = Path(tempfile.mkdtemp(prefix="smtpauth-fuzz-", dir="/tmp"))
    try:
        exe = top / "fuzz_session"
        # The harness only: the libraries as built for the other tests.
        subprocess.run(
            ["clang", "-D_GNU_SOURCE", "-I" + str(REPO / "src"), "-std=c11",
             "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-O1",
             "-g", "-fsanitize=fuzzer" +
             # make check-asan's libraries need the sanitizers' runtimes.
             (",address,undefined" if SANITIZED else "")] +
            pkg_config("--cflags") +
            ["-o", str(exe), str(REPO / "tests/fuzz/fuzz_session.c"),
             str(BUILD / "libserver.a"), str(BUILD / "libcommon.a")] +
            pkg_config("--libs") + ["-lpthread"],
            check=True, timeout=T(120))
        # A copy of the corpus: libFuzzer adds what it finds to it.
        corpus = top / "corpus"
        shutil.copytree(REPO / "tests/fuzz/corpus/fuzz_session", corpus)
        tmp = top / "tmp"
        tmp.mkdir()
        before = set(glob.glob("/tmp/fuzz_session.*"))
        # More runs than CLEAN_EVERY: the queue is emptied on the way.
        r = subprocess.run([str(exe), "-runs=1000", "-seed=1", str(corpus)],
                           env=dict(os.environ, TMPDIR=str(tmp)),
                           capture_output=True, text=True, timeout=T(120))
        assert r.returncode == 0, r.stderr[-3000:]
        assert "Done 1000 runs" in r.stderr, r.stderr[-3000:]
        assert list(tmp.iterdir()) == []
        assert set(glob.glob("/tmp/fuzz_session.*")) <= before
    finally:
        shutil.rmtree(top, ignore_errors=True)
