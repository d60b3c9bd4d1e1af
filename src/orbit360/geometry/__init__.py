"""Projections and rotations, pure numpy, vectorised over (..., 3) direction arrays.

Frame everywhere: right-handed, +x right, +y up, +z forward. Each projection is a pair
of functions ``<proj>_to_dirs`` / ``dirs_to_<proj>``.
"""

from .equirect import dirs_to_equirect, dirs_to_lonlat, equirect_grid_dirs, equirect_to_dirs, lonlat_to_dirs
from .fisheye import FisheyeModel, dirs_to_fisheye, distort_theta, fisheye_to_dirs, project_fisheye, undistort_theta
from .sphere import fibonacci_dirs
from .rotation import (
    Rotation,
    axis_angle_to_matrix,
    kabsch,
    matrix_to_quaternion,
    matrix_to_ypr,
    quaternion_to_matrix,
    slerp,
    ypr_to_matrix,
)

__all__ = [
    "fibonacci_dirs",
    "Rotation",
    "FisheyeModel",
    "axis_angle_to_matrix",
    "dirs_to_equirect",
    "dirs_to_fisheye",
    "dirs_to_lonlat",
    "distort_theta",
    "equirect_grid_dirs",
    "equirect_to_dirs",
    "fisheye_to_dirs",
    "kabsch",
    "project_fisheye",
    "lonlat_to_dirs",
    "matrix_to_quaternion",
    "matrix_to_ypr",
    "quaternion_to_matrix",
    "slerp",
    "undistort_theta",
    "ypr_to_matrix",
]
