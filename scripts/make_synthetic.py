"""Thin wrapper of `selfhdr-make-synthetic` (selfhdr/cli/make_synthetic.py): `python scripts/make_synthetic.py --help`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from selfhdr.cli.make_synthetic import main  # noqa: E402

if __name__ == "__main__":  # guard: worker processes re-import this file
    sys.exit(main())
