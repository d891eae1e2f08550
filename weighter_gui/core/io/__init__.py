"""Files on disk, no torch: atomic writes, audio, manifests, the shipped resources."""
