"""selfhdr: self-supervised HDR imaging from multi-exposure images of dynamic scenes."""

__version__ = "0.1.0"
