"""HTTP and WebSocket API (FastAPI): one router per area."""
