"""Thin wrapper of `selfhdr-fusion-data` (selfhdr/cli/fusion_data.py): `python scripts/fusion_data.py --help`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from selfhdr.cli.fusion_data import main  # noqa: E402

if __name__ == "__main__":  # guard: worker processes re-import this file
    sys.exit(main())
