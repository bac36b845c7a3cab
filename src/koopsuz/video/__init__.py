"""Video adapters: stream sources with reconnect and health, live view, snapshots on disk."""
