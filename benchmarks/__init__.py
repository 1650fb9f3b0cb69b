"""Benchmarks: figures printed side by side with a plain baseline, measured on this machine."""
