"""Engine: the generic trainer, evaluation, checkpoints and logging."""
