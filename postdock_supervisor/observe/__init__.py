"""Read-only probes that build frozen snapshots; no decisions here."""
