"""HDR-VDP 2.2.2 (Mantiuk et al., SIGGRAPH 2011), a numpy port pinned by the MATLAB code's outputs.

``hdr_vdp2(test, reference, color_encoding, pixels_per_degree, **options)`` mirrors
``hdrvdp(test, reference, color_encoding, pixels_per_degree, options)``; see ``metric.py``.
``device='cpu'``/``'cuda'`` runs the same computation in torch float64 (``torch_metric.py``).
"""

from .metric import COLOR_ENCODINGS, HDRVDP2Result, hdr_vdp2
from .options import DEFAULTS, NO_EFFECT

__all__ = ["COLOR_ENCODINGS", "DEFAULTS", "HDRVDP2Result", "NO_EFFECT", "hdr_vdp2"]
