"""Thin wrapper of `selfhdr-evaluate-baselines` (selfhdr/cli/evaluate_baselines.py): `python scripts/evaluate_baselines.py --help`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from selfhdr.cli.evaluate_baselines import main  # noqa: E402

if __name__ == "__main__":  # guard: worker processes re-import this file
    sys.exit(main())
