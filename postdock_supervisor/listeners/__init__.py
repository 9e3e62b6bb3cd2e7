"""Event listeners: parse -> observe -> pure decide -> act; each acknowledges every event."""
