"""Programs that turn file activity into supervisor events (capture mode)."""
