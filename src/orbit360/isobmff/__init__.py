"""ISO base media file format (MP4/MOV): bounded box reader and writer, sample tables."""

from ._reader import (
    CONTAINER_TYPES,
    MAX_BOXES_IN_A_ROW,
    BoxHeader,
    find_box,
    iter_boxes,
    read_box_header,
    read_box_header_unchecked,
    read_payload,
)
from ._edit import AUDIO_SAMPLE_ENTRIES, BoxNode, parse_boxes, rewrite_moov
from ._sample_table import Edit, Movie, Track, iter_sample_bytes, read_movie, read_movie_from, read_tracks
from ._moov import BackgroundMovieWriter, MdatSource, build_moov, mdat_header, write_movie
from ._writer import box, container, full_box

__all__ = [
    "BoxHeader",
    "CONTAINER_TYPES",
    "MAX_BOXES_IN_A_ROW",
    "find_box",
    "iter_boxes",
    "read_box_header",
    "read_box_header_unchecked",
    "read_payload",
    "box",
    "full_box",
    "container",
    "Track",
    "Movie",
    "Edit",
    "read_tracks",
    "read_movie",
    "read_movie_from",
    "iter_sample_bytes",
    "build_moov",
    "write_movie",
    "MdatSource",
    "mdat_header",
    "BackgroundMovieWriter",
    "BoxNode",
    "parse_boxes",
    "rewrite_moov",
    "AUDIO_SAMPLE_ENTRIES",
]
