"""Image I/O: LDR frames, HDR radiance maps (.hdr, .exr), exposure files and previews."""

from .atomic import atomic_path, atomic_write_bytes, atomic_write_text
from .exposures import read_exposure_stops, read_exposures, write_exposures
from .hdr import HDR_SUFFIXES, check_radiance, read_hdr, write_hdr
from .ldr import check_file, quantise, read_ldr, write_ldr
from .preview import tonemap_preview, write_preview
from .outputs import check_hdr_output, check_output_dir, check_output_file, write_hdr_with_preview

__all__ = [
    "HDR_SUFFIXES",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_file",
    "check_hdr_output",
    "check_output_dir",
    "check_output_file",
    "check_radiance",
    "quantise",
    "read_exposure_stops",
    "read_exposures",
    "read_hdr",
    "read_ldr",
    "tonemap_preview",
    "write_exposures",
    "write_hdr",
    "write_ldr",
    "write_hdr_with_preview",
    "write_preview",
]
