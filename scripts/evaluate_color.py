"""Thin wrapper of `selfhdr-evaluate-color` (selfhdr/cli/evaluate_color.py): `python scripts/evaluate_color.py --help`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from selfhdr.cli.evaluate_color import main  # noqa: E402

if __name__ == "__main__":  # guard: worker processes re-import this file
    sys.exit(main())
