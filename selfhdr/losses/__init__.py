"""Losses: μ-law L1, perceptual (VGG19), SSIM-based structure and weighted-SSIM losses."""
