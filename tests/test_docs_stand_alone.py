"""The project's docs and docstrings stand on their own: none points a reader to a
document that is not in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = re.compile(r"DESIGN\.md|[Ss]eeds? 00[0-4]")


def test_no_doc_or_docstring_cites_a_document_outside_the_repository() -> None:
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    for folder in ("switch", "simulators", "loadtests"):
        files += (ROOT / folder).rglob("*.py")
    citing = [str(f.relative_to(ROOT)) for f in files if OUTSIDE.search(f.read_text())]
    assert citing == []
