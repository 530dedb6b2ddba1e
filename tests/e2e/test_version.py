"""Both programs answer --version with the version of src/common/version.h,
and their usage texts say so."""
import re
import subprocess

import pytest

from e2elib import BUILD, REPO

VERSION = re.search(r'#define SMTPAUTH_VERSION\s+"([^"]+)"',
                    (REPO / "src/common/version.h").read_text()).group(1)


@pytest.mark.parametrize("prog", ["smtpauthd", "smtpauth"])
def test_version(prog):
    p = subprocess.run([str(BUILD / prog), "--version"], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "%s %s\n" % (prog, VERSION)
    assert p.stderr == ""


@pytest.mark.parametrize("prog,args", [("smtpauthd", []),
                                       ("smtpauth", ["--help"])])
def test_usage_names_version(prog, args):
    p = subprocess.run([str(BUILD / prog)] + args, capture_output=True,
                       text=True, timeout=10)
    assert "--version" in p.stdout + p.stderr
