"""Installable package for selfhdr (``pip install -e .``; tests: ``pip install -e '.[test]'``)."""

import re
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).resolve().parent
version = {}
exec((here / "selfhdr" / "__init__.py").read_text().split("\n\n")[-1], version)  # __version__ line
# The console commands, one per module of selfhdr/cli (the single list lives in selfhdr/cli/__init__.py;
# it is read here as text so that building the package does not import torch).
commands = re.findall(r'^    "([a-z-]+)": \("([a-z_]+)",', (here / "selfhdr" / "cli" / "__init__.py").read_text(), re.M)

setup(
    name="selfhdr",
    version=version["__version__"],
    description="Self-supervised HDR imaging from multi-exposure images of dynamic scenes (SelfHDR and more)",
    long_description=(here / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    # selfhdr._weights is the repository's pretrained/ folder: the shipped weights and their model
    # card travel in a wheel (selfhdr/archs/shipped.py finds them there or in the checkout).
    packages=find_packages(include=["selfhdr", "selfhdr.*"]) + ["selfhdr._weights"],
    package_dir={"selfhdr._weights": "pretrained"},
    package_data={
        # HDR-VDP-2 spectra and pyramid filter taps (selfhdr/metrics/hdrvdp/data/README.txt), Octave driver
        "selfhdr.metrics.hdrvdp": ["data/*.csv", "data/*.txt", "hdrvdp_octave_driver.m"],
        "selfhdr._weights": ["selfhdr-*.safetensors", "SHIPPED.md"],
    },
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "numpy>=1.24",
        "opencv-python-headless>=4.8",
        "imageio>=2.31",
        "pyyaml>=6.0",
        "tensorboard>=2.14",
        "scikit-image>=0.21",
        # pchip resampling of HDR-VDP-2 spectra (already required by scikit-image)
        "scipy>=1.10",
        "tqdm>=4.65",
        # OpenCV's wheels ship without OpenEXR support; the ASWF bindings read and write .exr.
        "OpenEXR>=3.2",
        # Zero-copy, pickle-free checkpoint format.
        "safetensors>=0.4",
        # Learning-curve plots in every run's results.md (selfhdr/engine/plots.py, Agg backend).
        "matplotlib>=3.7",
    ],
    entry_points={"console_scripts": [f"selfhdr-{name} = selfhdr.cli.{module}:main" for name, module in commands]},
    extras_require={
        "test": ["pytest>=7.4", "hypothesis>=6.80"],
        # Camera RAW frames for the bracket importer (LibRaw's demosaic; we would not write our own).
        "raw": ["rawpy>=0.19"],
        "dev": ["pytest>=7.4", "hypothesis>=6.80", "ruff>=0.4"],
    },
)
