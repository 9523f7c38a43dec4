"""Training methods: supervised, SelfHDR stage 1 and 2, motion/exposure cues, fusion."""
