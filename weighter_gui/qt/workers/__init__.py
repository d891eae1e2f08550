"""Threads: the job-id serving workers (analysis, spectrograms) and the one task wrapper
for all other long work."""
