"""Turn a folder of camera brackets (no HDR ground truth needed) into a dataset to train on.

Input layouts (both may be mixed; hidden files and folders are ignored):
  INPUT/<scene>/*.jpg   one sub-folder per bracket; the folder name is the scene name.
  INPUT/*.jpg           a flat folder: frames are grouped into brackets by EXIF. They are
                        sorted by (capture time = DateTimeOriginal + SubSecTimeOriginal, EXIF
                        image number, file name); a new bracket starts when the gap from the
                        end of the previous frame (its capture time + exposure time) exceeds
                        --gap-seconds, when an exposure already in the current bracket comes
                        again, or when the camera model or image size changes. The scene is
                        named after its first frame. Frames without a capture time need
                        --frames-per-bracket N: every N files in file-name order form one
                        bracket (N always wins over capture times).

Frames: JPEG, PNG, 8/16-bit TIFF (EXIF orientation applied), and camera RAW (.dng .cr2 .cr3
.nef .arw .raf .orf .rw2 .pef .srw; needs the raw extra: pip install -e '.[raw]'). RAW is
demosaicked linear and encoded with the training data's gamma 2.2. RAW+JPEG of the same shot:
only the RAW is used (the JPEG if rawpy is missing).

Exposures: EXIF time × ISO / f-number² relative to the shortest frame, or --exposures: EV
stops of the frames in file-name order, for every bracket with that many frames. Frames whose
brightness contradicts their exposures are refused (--allow-mismatch skips that check).

Brackets of more than 3 frames (5, 7, 9, ...): the shortest, the longest, and the frame whose
EV is closest to the midpoint of the two (ties: the darker) are kept.

Output (Kalantari layout): OUT/Training/<scene>/ and, with --test-fraction, OUT/Test/<scene>/
holding 1_short.tif 2_mid.tif 3_long.tif (16-bit), exposure.txt (EV stops), bracket.json
(sources, EXIF, choices, checks) and bracket_preview.png. Test scenes are every k-th scene in
name order. Each scene appears atomically; rerunning skips finished scenes. A bracket that
cannot be imported (fewer than 3 frames, mixed sizes or orientations, missing or repeated
exposures, brightness contradicting them, unreadable files) is listed with the reason and the
others are still imported.

Example: selfhdr-import --input photos/ --out data/own --test-fraction 0.1
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from selfhdr.cli import parser
from selfhdr.data.brackets import DEFAULT_GAP_SECONDS, format_summary, import_brackets
from selfhdr.errors import SelfHDRError


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (exposed for documentation and tests)."""
    p = parser(__name__, __doc__)
    p.add_argument("--input", required=True, metavar="DIR", help="folder of brackets (see above)")
    p.add_argument("--out", required=True, metavar="ROOT", help="dataset root to create or complete")
    p.add_argument("--test-fraction", type=float, default=0.0, metavar="F",
                   help="share of scenes held out in ROOT/Test (default 0: all train; SelfHDR "
                        "needs no labels, and held-out scenes have none either, so they are for "
                        "looking at predictions, not for metrics). With F > 0 and at least two "
                        "scenes, at least one is held out")
    p.add_argument("--frames", type=int, default=3, help="frames per output scene (only 3 is supported)")
    p.add_argument("--exposures", type=float, nargs="+", metavar="EV",
                   help="EV stops of a bracket's frames in file-name order (e.g. 0 2 4 or -2 0 2), "
                        "used instead of EXIF for every bracket with that many frames")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="import brackets whose brightness contradicts their exposures")
    p.add_argument("--gap-seconds", type=float, default=DEFAULT_GAP_SECONDS, metavar="S",
                   help=f"flat folder: a longer pause between frames starts a new bracket "
                        f"(default {DEFAULT_GAP_SECONDS:g})")
    p.add_argument("--frames-per-bracket", type=int, metavar="N",
                   help="flat folder: group every N files in file-name order (for frames without "
                        "EXIF capture time)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="brackets decoded in parallel")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Run the importer; 0 if any scene was written or skipped, 2 otherwise."""
    a = build_parser().parse_args(argv)
    try:
        summary = import_brackets(
            a.input, a.out, frames=a.frames, exposures=a.exposures, allow_mismatch=a.allow_mismatch,
            gap_seconds=a.gap_seconds, frames_per_bracket=a.frames_per_bracket,
            test_fraction=a.test_fraction, workers=a.workers, progress=True)
    except SelfHDRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    if not summary.written and not summary.skipped:
        print("error: no bracket could be imported (reasons above)", file=sys.stderr)
        return 2
    print(f"next: selfhdr-train --config configs/own_photos.yaml --set data.root={a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
