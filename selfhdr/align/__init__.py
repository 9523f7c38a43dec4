"""Alignment: optical flow between exposures and the colour component Y_color."""
