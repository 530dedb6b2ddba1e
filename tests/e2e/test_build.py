"""The README's two commands, `make demo` and `make check`, as the first
command on a fresh machine, in a checkout anywhere.

A fresh machine is played by a pkg-config that knows no package until the
Makefile's install step (INSTALL_DEPS, here a script that only leaves a
mark) has run: a Makefile that asks pkg-config before installing gets no
libraries and cannot link.  Each test builds a clean copy of the tree in a
directory of mode 0700, as a clone under /root is: when run as root, the
demo's unprivileged children cannot enter it.
"""
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from e2elib import REPO, T

FAKE_PKG_CONFIG = """#!/bin/sh
# No package is known until install-deps has run.
[ -e "%(mark)s" ] || exit 1
exec %(real)s "$@"
"""

FAKE_INSTALL_DEPS = """#!/bin/sh
touch "%(mark)s"
"""


@pytest.fixture
def fresh_checkout():
    """(checkout, env, install_deps) for a clean copy on a fresh machine."""
    real = shutil.which("pkg-config")
    if real is None:
        pytest.skip("no pkg-config")
    top = Path(tempfile.mkdtemp(prefix="smtpauth-build-", dir="/tmp"))
    os.chmod(top, 0o700)
    tree = top / "checkout"
    tree.mkdir()
    subprocess.run(
        "tar -C '%s' --exclude=./build --exclude=./.git -cf - . | "
        "tar -C '%s' -xf -" % (REPO, tree), shell=True, check=True)
    mark = top / "deps-installed"
    fake = top / "bin"
    fake.mkdir()
    (fake / "pkg-config").write_text(
        FAKE_PKG_CONFIG % {"mark": mark, "real": real})
    deps = top / "install-deps"
    deps.write_text(FAKE_INSTALL_DEPS % {"mark": mark})
    for p in (fake / "pkg-config", deps):
        p.chmod(0o755)
    env = dict(os.environ, PATH="%s:%s" % (fake, os.environ["PATH"]))
    for v in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "BUILD", "CFLAGS"):
        env.pop(v, None)
    yield tree, env, deps
    demo = tree / "build" / "demo"
    if demo.is_symlink():
        shutil.rmtree(os.readlink(demo), ignore_errors=True)
    shutil.rmtree(top, ignore_errors=True)


def _make(tree, env, deps, *targets, timeout):
    try:
        p = subprocess.run(
            ["make", "-j2", "--no-print-directory", "INSTALL_DEPS=%s" % deps]
            + list(targets), cwd=str(tree), env=env, capture_output=True,
            text=True, timeout=T(timeout), start_new_session=True)
    except subprocess.TimeoutExpired as e:
        pytest.fail("make %s did not finish in %ss:\n%s" % (
            " ".join(targets), T(timeout), e.stdout))
    return p


def test_make_demo_is_a_first_command(fresh_checkout):
    tree, env, deps = fresh_checkout
    p = _make(tree, env, deps, "demo", timeout=240)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-6000:]
    # The demo delivered its messages and showed the last one.
    assert "== the last message" in out, out[-6000:]
    assert "Delivered-To: bob@example.org" in out, out[-6000:]
    assert out.count("result=delivered") >= 2, out[-6000:]
    assert (tree / "build" / "smtpauthd").is_file()


def test_make_check_is_a_first_command(fresh_checkout):
    tree, env, deps = fresh_checkout
    # Everything but the end-to-end suite, which this test is part of.
    p = _make(tree, env, deps, "check", "PYTEST=true", timeout=240)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-6000:]
    assert "== build/tests/test_config" in out, out[-6000:]
    assert (tree / "build" / "smtpauth").is_file()
