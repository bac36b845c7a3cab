"""The YOLO ONNX path, end to end through onnxruntime, on a model this test builds itself.

No YOLO weights ship in any registry package, so the model here is a tiny hand-made graph with
the Ultralytics export contract: input ``[B, 3, H, W]`` RGB 0..1, output ``[B, 4 + nc, N]``,
class names in the ``names`` metadata. Its two boxes are fixed; their class scores are the mean
red and the mean blue of the image, so the test sees colour order, scaling, letterboxing,
batching, class mapping and NMS all doing real work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from koopsuz.vision.detectors import ModelError, create_detector
from koopsuz.vision.detectors.yolo_onnx import YoloOnnxDetector

NAMES = "{0: 'person', 1: 'car', 2: 'dog'}"
# two fixed boxes (cx, cy, w, h in 64x64 input pixels); box 0 scores "person" = mean red,
# box 1 scores "car" = mean blue; "dog" (not a Koopsuz class) = mean green on box 0
BOXES = np.array([[32, 24, 16, 8], [32, 40, 16, 16]], np.float32).T  # (4, N=2)


def build_model(path: Path, *, names: str | None = NAMES, rank2: bool = False, size: int = 64) -> Path:
    nc, n = 3, 2
    w = np.zeros((3, nc * n), np.float32)  # RGB means -> scores laid out as (nc, N)
    w[0, 0 * n + 0] = 1.0  # red -> person on box 0
    w[2, 1 * n + 1] = 1.0  # blue -> car on box 1
    w[1, 2 * n + 0] = 1.0  # green -> dog on box 0
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean4"], axes=[2, 3], keepdims=0),  # (B, 3)
        helper.make_node("MatMul", ["mean4", "w"], ["flat"]),
        helper.make_node("Reshape", ["flat", "score_shape"], ["scores"]),  # (B, nc, N)
        helper.make_node("MatMul", ["mean4", "zero"], ["zflat"]),
        helper.make_node("Reshape", ["zflat", "box_shape"], ["zeros"]),  # (B, 4, N)
        helper.make_node("Add", ["zeros", "boxes"], ["xywh"]),
        helper.make_node("Concat", ["xywh", "scores"], ["out3"], axis=1),  # (B, 4 + nc, N)
    ]
    out_name, out_shape = "output0", ["batch", 4 + nc, n]
    if rank2:
        nodes.append(helper.make_node("Reshape", ["out3", "flat_shape"], [out_name]))
        out_shape = ["batch", (4 + nc) * n]
    else:
        nodes[-1].output[0] = out_name
    inits = [
        helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.ravel()),
        helper.make_tensor("zero", TensorProto.FLOAT, (3, 4 * n), np.zeros(4 * n * 3, np.float32)),
        helper.make_tensor("score_shape", TensorProto.INT64, (3,), [-1, nc, n]),
        helper.make_tensor("box_shape", TensorProto.INT64, (3,), [-1, 4, n]),
        helper.make_tensor("boxes", TensorProto.FLOAT, (1, 4, n), np.ascontiguousarray(BOXES).ravel()),
    ]
    if rank2:
        inits.append(helper.make_tensor("flat_shape", TensorProto.INT64, (2,), [-1, (4 + nc) * n]))
    graph = helper.make_graph(
        nodes,
        "tiny-yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    if names is not None:
        helper.set_model_props(model, {"names": names})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return build_model(tmp_path / "tiny.onnx")


def solid(bgr: tuple[int, int, int], w: int = 128, h: int = 64) -> np.ndarray:
    return np.full((h, w, 3), bgr, np.uint8)


def test_colour_order_class_mapping_and_letterbox(model: Path) -> None:
    det = create_detector("yolo_onnx", model, min_confidence=0.3, threads=1)
    assert det.input_size == (64, 64)
    red = det.detect(solid((0, 0, 255)))  # BGR red: person on box 0 only
    assert red.class_name == ["person"]
    # half the input is the image, half Ultralytics' grey 114 padding
    assert red.confidence[0] == pytest.approx(0.5 + 0.5 * 114 / 255, abs=0.01)
    # 128x64 image -> scale 0.5, padded 16 px above and below: box 0 (32, 24, 16x8) maps back
    np.testing.assert_allclose(red.xyxy[0], [48, 8, 80, 24], atol=1.0)
    blue = det.detect(solid((255, 0, 0)))
    assert blue.class_name == ["car"]
    np.testing.assert_allclose(blue.xyxy[0], [48, 32, 80, 64], atol=1.0)
    assert len(det.detect(solid((0, 255, 0)))) == 0  # green scores "dog": not a Koopsuz class
    assert len(det.detect(solid((0, 0, 40), 64, 64))) == 0  # red too faint (no padding): below min_confidence


def test_batch_gives_what_single_calls_give(model: Path) -> None:
    det = YoloOnnxDetector(model, min_confidence=0.3)
    images = [solid((0, 0, 255)), solid((255, 0, 0), 64, 64), solid((255, 0, 255), 200, 100)]
    batch = det.detect_batch(images)
    for img, got in zip(images, batch, strict=True):
        one = det.detect(img)
        assert got.class_name == one.class_name
        np.testing.assert_allclose(got.xyxy, one.xyxy, atol=1e-3)
    assert sorted(batch[2].class_name) == ["car", "person"]  # magenta: both boxes


def test_missing_and_broken_files_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelError, match=r"nope\.onnx"):
        create_detector("yolo_onnx", missing)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not a model")
    with pytest.raises(ModelError, match=r"garbage\.onnx"):
        create_detector("yolo_onnx", garbage)
    with pytest.raises(ModelError, match="needs a model file"):
        create_detector("yolo_onnx", None)
    with pytest.raises(ModelError, match="unknown detector"):
        create_detector("resnet", None)


def test_wrong_shapes_are_refused_at_load(tmp_path: Path) -> None:
    flat = build_model(tmp_path / "flat.onnx", rank2=True)
    with pytest.raises(ModelError, match=r"flat\.onnx.*expected \[B, 4 \+ classes, N\]"):
        YoloOnnxDetector(flat)
    lying = build_model(tmp_path / "lying.onnx", names="{0: 'person', 1: 'car'}")
    with pytest.raises(ModelError, match=r"lying\.onnx.*names 2 classes"):
        YoloOnnxDetector(lying)


def test_without_names_metadata_a_non_coco_model_gets_numbered_classes(tmp_path: Path) -> None:
    det = YoloOnnxDetector(build_model(tmp_path / "anon.onnx", names=None), min_confidence=0.3)
    assert det.names == ["0", "1", "2"]
    assert len(det.detect(solid((0, 0, 255)))) == 0  # nothing maps to a Koopsuz class by name
