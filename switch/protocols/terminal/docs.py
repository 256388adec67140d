"""Keep docs/protocol.md's generated sections (error table, answer table, worked
examples) in step.

python -m switch.protocols.terminal.docs docs/protocol.md   # rewrite them in place
"""

from __future__ import annotations

import sys
from pathlib import Path

from switch.protocols.terminal.answers import answer_table
from switch.protocols.terminal.errors import ERRORS
from switch.protocols.terminal.examples import render


def error_table() -> str:
    rows = ["| code | closes | meaning |", "|---|---|---|"]
    rows += [
        f"| `{code.value}` | {'yes' if spec.closes else 'no'} | {spec.meaning} |"
        for code, spec in ERRORS.items()
    ]
    return "\n".join(rows) + "\n"


def fill(text: str) -> str:
    sections = (("errors", error_table()), ("answers", answer_table()), ("examples", render()))
    for name, body in sections:
        begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        text = head + begin + body + end + tail
    return text


def main() -> None:
    path = Path(sys.argv[1])
    path.write_text(fill(path.read_text()))


if __name__ == "__main__":
    main()
