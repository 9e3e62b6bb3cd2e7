"""Side effects, one small function each."""
