"""Any Ultralytics-style YOLO ONNX file (v5u/v8/v11 export) through onnxruntime.

A ministry trains its own models; Ultralytics' ONNX export is the common currency. Contract:
input ``[B, 3, H, W]`` float32 RGB in 0..1 (letterboxed, grey 114 padding), output
``[B, 4 + nc, N]`` with rows ``cx, cy, w, h`` in input pixels followed by one score per class
(no objectness, no NMS in the graph). Class names come from the file's ``names`` metadata as
Ultralytics writes it (``{0: 'person', ...}``); without it the 80 COCO names are assumed.
Classes are matched to Koopsuz's by name, the rest dropped.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from koopsuz.vision.detections import CLASS_INDEX, Detections
from koopsuz.vision.detectors.base import ModelError, require_file

_COCO80_NAMES = (
    "person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant stop_sign "
    "parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe backpack umbrella handbag "
    "tie suitcase frisbee skis snowboard sports_ball kite baseball_bat baseball_glove skateboard surfboard "
    "tennis_racket bottle wine_glass cup fork knife spoon bowl banana apple sandwich orange broccoli carrot "
    "hot_dog pizza donut cake chair couch potted_plant bed dining_table toilet tv laptop mouse remote keyboard "
    "cell_phone microwave oven toaster sink refrigerator book clock vase scissors teddy_bear hair_drier "
    "toothbrush"
)
COCO80 = tuple(_COCO80_NAMES.split())


def session_options(threads: int | None) -> ort.SessionOptions:
    """Threads set once for the process's sessions: intra-op = cores, no inter-op parallelism."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or 0  # 0 = onnxruntime's default, one per core
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return opts


class YoloOnnxDetector:
    name = "yolo_onnx"

    def __init__(
        self,
        model_path: str | Path,
        *,
        min_confidence: float = 0.25,
        nms_iou: float = 0.45,
        threads: int | None = None,
    ) -> None:
        path = require_file(model_path, "YOLO ONNX model")
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types for corrupt files
            raise ModelError(f"cannot load YOLO ONNX model {path}: {str(exc).strip()[-200:]}") from exc
        self.model_path = path
        self.min_confidence = min_confidence
        self.nms_iou = nms_iou
        inp = self._session.get_inputs()
        outs = self._session.get_outputs()
        if len(inp) != 1 or len(inp[0].shape) != 4 or inp[0].shape[1] not in (3, "3"):
            raise ModelError(f"{path}: input {[i.shape for i in inp]}, expected one [B, 3, H, W] image input")
        if len(outs[0].shape) != 3:
            raise ModelError(f"{path}: output {outs[0].shape}, expected [B, 4 + classes, N]")
        self._input = inp[0].name
        h, w = (d if isinstance(d, int) else 640 for d in inp[0].shape[2:])
        self.input_size = (int(w), int(h))
        self._batch_dynamic = not isinstance(inp[0].shape[0], int)
        names = _names(self._session.get_modelmeta().custom_metadata_map)
        attrs = outs[0].shape[1]
        if isinstance(attrs, int) and names is not None and attrs != 4 + len(names):
            raise ModelError(f"{path}: output has {attrs} rows per box but metadata names {len(names)} classes")
        if names is None:
            names = list(COCO80) if not isinstance(attrs, int) or attrs == 84 else [str(i) for i in range(attrs - 4)]
        self.names = names
        self._to_class = np.array([CLASS_INDEX.get(n.replace(" ", "_"), -1) for n in names], np.int32)
        self._lock = threading.Lock()
        out = self._run(np.zeros((1, 3, self.input_size[1], self.input_size[0]), np.float32))
        if out.ndim != 3 or out.shape[1] != 4 + len(names):
            raise ModelError(f"{path}: output shape {out.shape}, expected [1, {4 + len(names)}, N]")

    def _run(self, blob: np.ndarray) -> np.ndarray:
        with self._lock:
            return np.asarray(self._session.run(None, {self._input: blob})[0])

    def detect(self, image: np.ndarray) -> Detections:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        if not images:
            return []
        boxed = [_letterbox(img, self.input_size) for img in images]
        blob = np.stack([b for b, _, _ in boxed])
        if self._batch_dynamic:
            raw = self._run(blob)
        else:
            raw = np.concatenate([self._run(blob[i : i + 1]) for i in range(len(images))])
        return [self._decode(raw[i], scale, pad) for i, (_, scale, pad) in enumerate(boxed)]

    def _decode(self, out: np.ndarray, scale: float, pad: tuple[float, float]) -> Detections:
        scores = out[4:].T  # (N, nc)
        label = scores.argmax(axis=1)
        conf = scores[np.arange(len(label)), label]
        cls = self._to_class[label]
        keep = (conf >= self.min_confidence) & (cls >= 0)
        if not keep.any():
            return Detections.empty()
        cx, cy, w, h = out[:4, keep]
        xyxy = np.stack([cx - w / 2 - pad[0], cy - h / 2 - pad[1], cx + w / 2 - pad[0], cy + h / 2 - pad[1]], axis=1)
        dets = Detections((xyxy / scale).astype(np.float32), conf[keep].astype(np.float32), cls[keep])
        return dets.nms(self.nms_iou)


def _names(meta: dict[str, Any]) -> list[str] | None:
    raw = meta.get("names")
    if not raw:
        return None
    try:
        parsed = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    if isinstance(parsed, dict):
        return [str(parsed[k]) for k in sorted(parsed)]
    if isinstance(parsed, list):
        return [str(n) for n in parsed]
    return None


def _letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize keeping the aspect, pad with grey 114 to ``size``: Ultralytics' own preprocessing."""
    h, w = image.shape[:2]
    tw, th = size
    scale = min(tw / w, th / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    px, py = (tw - nw) / 2, (th - nh) / 2
    canvas = np.full((th, tw, 3), 114, np.uint8)
    x0, y0 = round(px - 0.1), round(py - 0.1)
    canvas[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    blob = canvas[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255.0
    return blob, scale, (float(x0), float(y0))
