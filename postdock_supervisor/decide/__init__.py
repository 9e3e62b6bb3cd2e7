"""Pure decisions: (event or situation, snapshot, settings, now) -> Decision with a reason."""
