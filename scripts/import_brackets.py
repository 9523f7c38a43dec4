"""Thin wrapper of `selfhdr-import` (selfhdr/cli/import_brackets.py): `python scripts/import_brackets.py --help`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from selfhdr.cli.import_brackets import main  # noqa: E402

if __name__ == "__main__":  # guard: worker processes re-import this file
    sys.exit(main())
