"""``python -m selfhdr``: list the commands; ``python -m selfhdr NAME ARGS`` runs one."""

from __future__ import annotations

import sys
from typing import List, Optional

from .cli import COMMANDS, command


def main(argv: Optional[List[str]] = None) -> int:
    """List the console commands, or run the one named first in ``argv``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        width = max(len(n) for n in COMMANDS) + len("selfhdr-")
        print("selfhdr commands (installed by pip; also `python -m selfhdr NAME ...` "
              "or `python scripts/<module>.py`):\n")
        for name, (_, summary) in COMMANDS.items():
            print(f"  {'selfhdr-' + name:<{width}}  {summary}")
        print("\n`selfhdr-NAME --help` explains each one.")
        return 0
    name = args[0].removeprefix("selfhdr-")
    if name not in COMMANDS:
        print(f"error: unknown command {args[0]!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    sys.argv[0] = f"selfhdr-{name}"  # argparse names the command in usage and errors
    return command(name)(args[1:])


if __name__ == "__main__":
    sys.exit(main())
