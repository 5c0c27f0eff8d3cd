"""Anonymous campaign figures: hourly counters, HyperLogLog sketches, k-anonymous reports."""
