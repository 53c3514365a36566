"""Training generators: the training run (train), its mask and photo data (maskdata, photodata), checkpoints (checkpoint) and curves (plot)."""
