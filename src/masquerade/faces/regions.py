"""Named regions of MediaPipe's 478-point face mesh, as landmark index arrays.

One place for the mesh topology the rest of the code needs: the hull for masks, the eyes and mouth for
loss weighting, and the stable points used for alignment. "Left"/"right" are the subject's own sides.
"""

import numpy as np

NUM_LANDMARKS = 478

# The face outline in drawing order (forehead top, clockwise in the image), for hull masks.
FACE_OVAL = np.array([
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
])
LEFT_EYE = np.array([249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466])
RIGHT_EYE = np.array([7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246])
LEFT_BROW = np.array([276, 282, 283, 285, 293, 295, 296, 300, 334, 336])
RIGHT_BROW = np.array([46, 52, 53, 55, 63, 65, 66, 70, 105, 107])
LIPS = np.array([
    0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181,
    185, 191, 267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415,
])
NOSE = np.array([1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344, 440])

# The head's axes for pose: its right and left sides (outer eye corner, cheek edge; the subject's right is
# image-left in a frontal face), the top of the forehead and the chin.
HEAD_RIGHT, HEAD_LEFT = np.array([33, 234]), np.array([263, 454])
FOREHEAD, CHIN = 10, 152
EYES = np.concatenate([LEFT_EYE, RIGHT_EYE])
MOUTH = LIPS
