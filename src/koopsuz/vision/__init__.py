"""Frame in, detections out. Knows nothing of cameras, databases or HTTP."""
