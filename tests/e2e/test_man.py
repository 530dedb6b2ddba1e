"""The man pages, as man(1) shows them: scripts/lint-man must pass the
pages in doc/ and catch what renders wrong under groff or mandoc."""
import subprocess

import pytest

from e2elib import REPO

LINT = REPO / "scripts" / "lint-man"
PAGES = sorted(str(p) for p in (REPO / "doc").glob("*.[1-8]"))

HEAD = """.Dd December 2, 2026
.Dt TRAP 1
.Os
.Sh NAME
.Nm trap
.Nd a page with one trap
.Sh SYNOPSIS
.Nm
.Op Fl Fl idle
.Sh DESCRIPTION
Text.
"""

# Each renders wrong; the second item is what lint-man must say.
TRAPS = [
    ("title-with-macro-words",
     """.Sh STANDARDS
.Rs
.%A J. Levine
.%R RFC 7505
.%T A Null MX No Service Resource Record
.Re
""", "groff renders section STANDARDS empty"),
    ("nested-quotes",
     """Codes
.Pq Ql 535 , Ql 421 , Ql 550 ...
are counted.
""", "a quotation inside a quotation"),
    ("words-after-fl",
     """It went well
.Pq with Fl Fl idle : was held .
""", "'was' after a delimiter in .Fl is a flag too"),
]


def lint(*pages):
    return subprocess.run([str(LINT)] + list(pages), capture_output=True,
                          text=True, timeout=60)


def test_the_pages_are_clean():
    assert len(PAGES) == 4, PAGES
    p = lint(*PAGES)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("name,body,said", TRAPS, ids=[t[0] for t in TRAPS])
def test_lint_catches(tmp_path, name, body, said):
    page = tmp_path / "trap.1"
    page.write_text(HEAD + body)
    p = lint(str(page))
    assert p.returncode == 1, p.stdout + p.stderr
    assert said in p.stdout, p.stdout
