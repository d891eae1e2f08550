"""The Weighter network, its losses, checkpoints, the GE2E front-end and the device helper."""
