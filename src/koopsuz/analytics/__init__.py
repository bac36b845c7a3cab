"""Per-camera pipeline: frames -> stages (motion, detectors, tracker, rules) -> events."""
