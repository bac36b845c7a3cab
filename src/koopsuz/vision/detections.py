"""A small, composable set of detections (boxes, confidences, classes) as numpy arrays.

Shaped after Roboflow supervision's ``Detections``: parallel arrays that can be indexed, filtered,
shifted and concatenated, so a detector, the region planner and the tracker exchange one type.

Boxes are ``xyxy`` in **pixels of the image they were found in** (float32). Pixels, not 0..1,
because crops are cut from the frame in pixels and mapped back by a shift and a scale, the
tracker reports speeds in pixels per second, and IoU is the same in either. Events convert to
0..1 at the edge (``normalized``), like motion boxes.

``class_id`` indexes ``CLASSES``: every detector maps its own label space (TF COCO 90 ids, a YOLO
model's names) to these, and drops everything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

CLASSES: tuple[str, ...] = ("person", "bicycle", "car", "motorcycle", "bus", "truck")
CLASS_INDEX = {name: i for i, name in enumerate(CLASSES)}
# Classes a detector confuses with one another; the tracker lets a track keep matching inside a
# group (an SSD calls the same van a car on one frame and a truck on the next).
CLASS_GROUP = np.array([0, 1, 2, 1, 2, 2], np.int32)  # person | two-wheeler | four-wheeler


@dataclass(frozen=True, slots=True)
class Detections:
    xyxy: np.ndarray  # (N, 4) float32, pixels
    confidence: np.ndarray  # (N,) float32
    class_id: np.ndarray  # (N,) int32 into CLASSES

    def __post_init__(self) -> None:
        if self.xyxy.shape != (len(self.confidence), 4) or len(self.class_id) != len(self.confidence):
            raise ValueError(
                f"inconsistent detections: xyxy {self.xyxy.shape}, confidence {self.confidence.shape}, "
                f"class_id {self.class_id.shape}"
            )

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    @classmethod
    def from_arrays(
        cls, xyxy: Sequence[Sequence[float]] | np.ndarray, confidence: Iterable[float], class_id: Iterable[int]
    ) -> Detections:
        boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
        return cls(boxes, np.asarray(list(confidence), np.float32), np.asarray(list(class_id), np.int32))

    @classmethod
    def merge(cls, parts: Iterable[Detections]) -> Detections:
        items = [p for p in parts if len(p)]
        if not items:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in items]),
            np.concatenate([p.confidence for p in items]),
            np.concatenate([p.class_id for p in items]),
        )

    def __len__(self) -> int:
        return len(self.confidence)

    def __getitem__(self, index: int | slice | np.ndarray | list[int]) -> Detections:
        if isinstance(index, int):
            index = [index]
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index])

    @property
    def class_name(self) -> list[str]:
        return [CLASSES[i] for i in self.class_id]

    @property
    def area(self) -> np.ndarray:
        return (self.xyxy[:, 2] - self.xyxy[:, 0]) * (self.xyxy[:, 3] - self.xyxy[:, 1])

    @property
    def foot(self) -> np.ndarray:
        """Bottom-centre points (N, 2): where an object touches the ground, what zones and lines test."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)

    def with_classes(self, names: Iterable[str]) -> Detections:
        keep = np.isin(self.class_id, [CLASS_INDEX[n] for n in names])
        return self[keep]

    def above(self, confidence: float) -> Detections:
        return self[self.confidence >= confidence]

    def scaled(self, sx: float, sy: float) -> Detections:
        return Detections(self.xyxy * np.array([sx, sy, sx, sy], np.float32), self.confidence, self.class_id)

    def shifted(self, dx: float, dy: float) -> Detections:
        return Detections(self.xyxy + np.array([dx, dy, dx, dy], np.float32), self.confidence, self.class_id)

    def clipped(self, width: int, height: int) -> Detections:
        box = self.xyxy.copy()
        box[:, [0, 2]] = box[:, [0, 2]].clip(0, width)
        box[:, [1, 3]] = box[:, [1, 3]].clip(0, height)
        return Detections(box, self.confidence, self.class_id)

    def normalized(self, width: int, height: int) -> np.ndarray:
        """Boxes as (N, 4) ``x, y, w, h`` in 0..1, the convention of motion boxes and events."""
        x0, y0, x1, y1 = self.xyxy.T
        return np.stack([x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height], axis=1)

    def nms(self, iou: float = 0.5, class_agnostic: bool = False) -> Detections:
        """Non-maximum suppression, per class group unless ``class_agnostic``.

        Needed where detections of overlapping crops meet: one person seen in two crops must stay
        one box. Grouping (not exact classes) also merges a "car" and a "truck" on the same van.
        """
        if len(self) < 2:
            return self
        boxes = [[float(x0), float(y0), float(x1 - x0), float(y1 - y0)] for x0, y0, x1, y1 in self.xyxy]
        scores = self.confidence.astype(float).tolist()
        if class_agnostic:
            keep = cv2.dnn.NMSBoxes(boxes, scores, 0.0, iou)
        else:
            keep = cv2.dnn.NMSBoxesBatched(boxes, scores, CLASS_GROUP[self.class_id].tolist(), 0.0, iou)
        idx = np.sort(np.asarray(keep, np.int64).reshape(-1))
        return self[idx]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of two xyxy arrays."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)
