"""Jet data: the hls4ml file layout, its reader, the in-memory jet set, and its on-disk cache."""
