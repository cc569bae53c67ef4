"""MediaPipe backend: full-range face detector for boxes and scores, 478-point face mesh for landmarks.

The models ship inside the pinned mediapipe wheel, so this runs offline. Stills: each detected box is
cropped (with margin) and meshed on its own, which finds small faces the mesh's built-in short-range
detector misses. Video: the mesh runs in tracking mode over the whole frame (faster and steadier), and
detector boxes supply scores and re-seed faces the tracker has not picked up.

MediaPipe's C++ side prints a few set-up lines (TFLite delegate, absl, feedback manager) to stderr when its
graphs start. It reads none of glog's or TensorFlow's log-level variables, and the only other way to hide them,
pointing file descriptor 2 elsewhere, would hide every thread's stderr in the process (a traceback included),
so they are left to print.
"""

from __future__ import annotations

import numpy as np

from ..records import Detection
from .detector import box_iou, landmark_box, register

_MESH_INPUT = 256  # side of the square crop a still face is meshed at


class MediaPipeDetector:
    name = "mediapipe"

    def __init__(self, video: bool = False, max_faces: int = 4, min_score: float = 0.5):
        import mediapipe as mp

        self.video, self.max_faces, self.min_score = video, max_faces, min_score
        self._make_graphs(mp)  # its C++ side prints a few set-up lines to stderr; it has no setting to stop them

    def _make_graphs(self, mp) -> None:
        video, max_faces, min_score = self.video, self.max_faces, self.min_score
        self._fd = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_score)
        self._mesh_args = dict(max_num_faces=max_faces if video else 1, refine_landmarks=True,
                               min_detection_confidence=min_score, min_tracking_confidence=0.5)
        self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=not video, **self._mesh_args)

    # -- boxes -----------------------------------------------------------------------------------------
    def _boxes(self, image: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
        h, w = image.shape[:2]
        res = self._fd.process(image)
        out = []
        for det in res.detections or []:
            bb = det.location_data.relative_bounding_box
            box = (bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h)
            out.append((box, float(det.score[0])))
        return out

    # -- landmarks -------------------------------------------------------------------------------------
    @staticmethod
    def _points(face_landmarks, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """(K×2 landmarks, K depths) in the pixels of the image the mesh ran on. The mesh's z is relative to
        the head's centre and scaled like x (by the image width), so `z * width` is in pixels too."""
        xyz = np.array([(p.x, p.y, p.z) for p in face_landmarks.landmark], dtype=np.float32)
        return xyz[:, :2] * np.float32([width, height]), xyz[:, 2] * np.float32(width)

    def _mesh_in_box(self, image: np.ndarray,
                     box: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray] | None:
        import cv2

        x0, y0, x1, y1 = box
        side = 2.0 * max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.1 * (y1 - y0)
        scale = _MESH_INPUT / side
        m = np.array([[scale, 0, _MESH_INPUT / 2 - scale * cx], [0, scale, _MESH_INPUT / 2 - scale * cy]])
        crop = cv2.warpAffine(image, m, (_MESH_INPUT, _MESH_INPUT), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        res = self._mesh.process(crop)
        if not res.multi_face_landmarks:
            return None
        pts, depth = self._points(res.multi_face_landmarks[0], _MESH_INPUT, _MESH_INPUT)
        return ((pts - m[:, 2]) / scale).astype(np.float32), (depth / scale).astype(np.float32)

    def detect(self, image: np.ndarray) -> list[Detection]:
        image = np.ascontiguousarray(image)
        boxes = self._boxes(image)
        if not self.video:
            found = []
            for box, score in sorted(boxes, key=lambda b: -b[1])[: self.max_faces]:
                mesh = self._mesh_in_box(image, box)
                if mesh is not None:
                    found.append(Detection(landmark_box(mesh[0]), score, *mesh))
            return found
        h, w = image.shape[:2]
        res = self._mesh.process(image)
        found = []
        for fl in res.multi_face_landmarks or []:
            pts, depth = self._points(fl, w, h)
            lbox = landmark_box(pts)
            score = max((s for b, s in boxes if box_iou(b, lbox) > 0.3), default=0.0)
            found.append(Detection(lbox, score, pts, depth))
        # Faces the detector sees but the tracker has not picked up yet (small faces): mesh them one by one.
        for box, score in boxes:
            if len(found) >= self.max_faces:
                break
            if all(box_iou(box, d.box) < 0.3 for d in found):
                mesh = self._mesh_in_box_still(image, box)
                if mesh is not None:
                    found.append(Detection(landmark_box(mesh[0]), score, *mesh))
        return found

    def _mesh_in_box_still(self, image: np.ndarray, box) -> tuple[np.ndarray, np.ndarray] | None:
        import mediapipe as mp

        if not hasattr(self, "_still_mesh"):
            args = dict(self._mesh_args, max_num_faces=1)
            self._still_mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, **args)
        tracker, self._mesh = self._mesh, self._still_mesh
        try:
            return self._mesh_in_box(image, box)
        finally:
            self._mesh = tracker

    def mesh_in_box(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
        """K×2 landmarks (image pixels) of the one face in `box` (x0, y0, x1, y1), meshed on its own as a still,
        whatever this detector's mode; None when the mesh finds no face there. For a face whose place is already
        known (convert's eyes step reads the lids of a swapped face it has just drawn)."""
        mesh = self._mesh_in_box_still(np.ascontiguousarray(image), box) if self.video else \
            self._mesh_in_box(np.ascontiguousarray(image), box)
        return None if mesh is None else mesh[0]

    def reset(self) -> None:
        if self.video:
            import mediapipe as mp

            self._mesh.close()
            self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, **self._mesh_args)

    def close(self) -> None:
        self._fd.close()
        self._mesh.close()
        if hasattr(self, "_still_mesh"):
            self._still_mesh.close()


@register("mediapipe")
def _make(video: bool = False, max_faces: int = 4, min_score: float = 0.5) -> MediaPipeDetector:
    return MediaPipeDetector(video=video, max_faces=max_faces, min_score=min_score)
