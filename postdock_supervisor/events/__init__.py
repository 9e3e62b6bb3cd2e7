"""supervisord events: the protocol (one module), typed events and the listener runner."""
