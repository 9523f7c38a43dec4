"""Thin wrapper of `selfhdr-export-weights` (selfhdr/cli/export_weights.py): `python scripts/export_weights.py --help`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from selfhdr.cli.export_weights import main  # noqa: E402

if __name__ == "__main__":  # guard: worker processes re-import this file
    sys.exit(main())
