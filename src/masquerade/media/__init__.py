"""Media I/O: decode frames (and find audio) in videos, images and image folders; encode video and images.

Frames are RGB uint8 at every boundary. Synthetic pixels are written only through `masquerade.provenance`,
which calls the writers here.
"""

from .reader import (IMAGE_SUFFIXES, VIDEO_SUFFIXES, ColorTags, VideoFormat, folder_images, is_media, probe,
                     read_frames, read_image, video_format)
from .writer import VideoWriter, write_image, write_video

__all__ = [
    "IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "ColorTags", "VideoFormat", "VideoWriter", "folder_images", "is_media",
    "probe", "read_frames", "read_image", "video_format", "write_image", "write_video",
]
