"""StitchPlan: everything a dual-fisheye → equirect stitch needs, computed once per
(rig, output size) and reused for every frame.

Principle of operation (after FFmpeg's v360):

1. For each output pixel, the unit direction in the rig frame (equirect geometry).
2. Per lens: rotate into the lens frame, project through the fisheye model to a source
   pixel in the recorded frame, and note whether the lens sees it (inside its FOV).
3. Blend weight of the front lens from the angular distances to both optical axes: 1 where
   only the front lens sees the pixel, 0 where only the back lens does, a ramp across the
   overlap band.
4. A *dominant* map sends every output pixel to the lens with the larger weight; one
   ``cv2.remap`` of that map produces the whole picture ("copy where one lens alone
   covers a pixel"): with float maps for one-channel YUV planes, fixed-point ones for
   RGB (``PlaneMaps``: each is the faster kind for its channel count in OpenCV 5).
5. The pixels whose weight is strictly between 0 and 1 are grouped into a few rectangles
   (the overlap band); per frame only those are remapped from both lenses and blended.

Photometric compensation (exposure, colour gain, vignetting) is a per-pixel linear-light
gain of each lens under the rig's response curve (``RigProfile.response``, gamma plus
offset, sRGB by default: ``_response``), applied to the recorded frame before any remap
(``SourceGain``: the gain depends only on where a pixel lies in its lens' image circle, so
one pass over the frame serves the dominant map and both band layers). A linear gain g is
a multiplication of u = lin ** (1/gamma) by g ** (1/gamma): per frame, a table from code
value to u (uint16), one fixed-point multiply by the plan's per-pixel gain, and a table
back to code values (``GainSteps``; for a curve other than sRGB the steps work on the
code value g'(v + o) - o, which keeps 8-bit precision for log-like curves). Gains above 1
are folded under white by a shared highlight roll-off (``_response.rolloff``, headroom up
to ``_MAX_ROOM``) instead of clipping, and with ``RigProfile.keep_white`` recorded white
stays white in a lens the compensation darkens (``white_stretch``). sRGB without either is
within one code value of the exact maths (``apply_gain`` keeps the exact table, 4096
log-spaced gains from 1/16 to 16).

Video is stitched as decoded, in yuv420p planes (``StitchPlan.yuv420()``, ``stitch._yuv``):
the same dominant map and bands on the luma plane, those of the half-size rig on the chroma
planes, and the compensation as per-plane gains; ``apply`` (RGB) serves stills, previews,
calibration checks and the camera formats that are not read as planes.

Blending over the band: ``blend="multiband"`` (default) blends each frequency band over a
width matching its wavelength (``blend.laplacian_blend_u8``: one int16 pyramid of the
difference of the two layers) across a sharp seam: the geometric one (both lenses
equally far off-axis; its weight pyramids are built with the plan), or the per-frame seam
of least difference that ``blend.SeamTracker`` finds (``seam="tracked"``, or passed as
``apply(frame, seam=...)``: an offset from the geometric seam per seam-ring column). A
pixel is on the front side of such a seam where its front weight exceeds 0.5 by more than
the offset over the band's half width, so an offset of 0 is the geometric seam exactly:
a frame blends the geometric seam's rectangles with their prebuilt pyramids, then, over
them, the row blocks (``track_bands``) its seam departs in, with pyramids made for that
seam (kept while it holds still). The YUV planes take the same seam (the chroma plan
shares the seam ring). ``blend="feather"`` is a linear ramp across the band. Band rectangles are
padded so the pyramids see context; only their inner part is written. Where a lens sees
nothing, its band map already points at the other lens' pixel (lent at build time), so
the coarse levels of the pyramid never pull in black from outside an image circle.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

import cv2
import numpy as np
from numpy.typing import NDArray

from ..geometry import equirect_grid_dirs, project_fisheye
from ..profile import LensProfile, RigProfile

if TYPE_CHECKING:
    from ._yuv import YuvStitch
from ._parallel import run_chunks, run_parallel
from .frameplan import Observed
from .gains import _ROW_CHUNK, _STRIP, GainSteps, LensSplit, SourceGain
from .blend import blend_difference, mask_pyramid, ring_coords

__all__ = ["StitchPlan", "following_plan", "BandRect", "PlaneMaps", "ENCODED_GAMMA", "BLENDS"]

ENCODED_GAMMA = 2.2
"""Power-law approximation of the transfer (kept for callers; compensation uses sRGB)."""

BLENDS = ("multiband", "feather")

T = TypeVar("T")
_LAZY_LOCK = threading.Lock()  # guards what a plan builds on first use (StitchPlan._once)


# geometric-seam band rectangles, in units of the pyramid padding 2**levels: pixels within
# _SEAM_REACH of the seam (measured: a wider reach changes no pixel by more than one code
# value), padded by _SEAM_PAD_Y above and below only, in blocks of _SEAM_BLOCK rows
_SEAM_REACH = 2.0
_SEAM_PAD_X = 0.0
_SEAM_PAD_Y = 0.5
_SEAM_BLOCK = 4.0
_SEAM_RING_MAX = 512  # seam-ring columns at most (0.7 degrees each)


@dataclass(frozen=True)
class BandRect:
    """One rectangle of the overlap band, with what is needed to blend it.

    The rectangle [x0, x1) × [y0, y1) holds band pixels; it is computed over the padded
    rectangle [px0, px1) × [py0, py1) (context for the pyramids) and only the inner part
    is written. Arrays cover the padded rectangle: ``maps[i]`` the fixed-point remap maps
    of lens i (pointing at the other lens' pixel where lens i sees nothing), ``weight``
    the front lens' feather weight, ``seam_mask`` 1 where the front lens wins at the
    geometric seam, ``valid[i]`` where lens i sees the pixel, ``full[i]``
    whether lens i sees the whole padded rectangle. ``seam_weights`` is the geometric
    seam's weight pyramid (``blend.mask_pyramid``, multiband) and ``feather`` the
    weights (front, back) of the feather blend over the inner part. ``other_maps`` map
    the lens the dominant map does not take (lent as ``maps``) and ``front_mask`` (uint8,
    255) is where the dominant map takes the front lens: with the dominant picture, one
    remap gives both layers. ``plane_weights`` is ``seam_weights`` for one-channel
    layers (a YUV plane); ``front_sign`` (int16) is +1 where the dominant map takes the
    front lens and -1 elsewhere, ``back_mask`` the complement of ``front_mask``;
    ``other_xy`` is ``other_maps`` as float maps (``PlaneMaps``). (Each pixel's seam-ring
    coordinates, which only a per-frame seam needs, come from ``StitchPlan._ring``.)
    """

    x0: int
    y0: int
    x1: int
    y1: int
    maps: tuple[tuple[NDArray[np.int16], NDArray[np.uint16]], ...]
    weight: NDArray[np.float32]
    px0: int = 0
    py0: int = 0
    px1: int = 0
    py1: int = 0
    seam_mask: NDArray[np.float32] | None = None
    valid: tuple[NDArray[np.bool_], ...] = ()
    full: tuple[bool, ...] = (False, False)
    seam_weights: list[NDArray[np.int16]] = field(default_factory=list, repr=False)
    feather: tuple[NDArray[np.float32], NDArray[np.float32]] | None = field(default=None, repr=False)
    other_maps: tuple[NDArray[np.int16], NDArray[np.uint16]] | None = field(default=None, repr=False)
    front_mask: NDArray[np.uint8] | None = field(default=None, repr=False)
    plane_weights: list[NDArray[np.int16]] = field(default_factory=list, repr=False)
    front_sign: NDArray[np.int16] | None = field(default=None, repr=False)
    back_mask: NDArray[np.uint8] | None = field(default=None, repr=False)
    other_xy: tuple[NDArray[np.float32], NDArray[np.float32]] | None = field(default=None, repr=False)

    @property
    def inner(self) -> tuple[slice, slice]:
        """The written part, as (rows, columns) of the padded arrays."""
        return slice(self.y0 - self.py0, self.y1 - self.py0), slice(self.x0 - self.px0, self.x1 - self.px0)


@dataclass(frozen=True)
class PlaneMaps:
    """A plan's remap maps as float32 (x, y) pairs, for stitching one-channel planes.

    OpenCV 5's ``remap`` of one uint8 channel runs about 30% faster with float maps than
    with fixed-point ones (measured at 2880 and 5760 wide; with three channels it is the
    other way round, so ``StitchPlan.apply`` uses fixed-point maps, made from these). The
    float maps are the plan's own (exact positions; the fixed-point ones round to 1/32
    pixel). ``others`` follows the band list ``_stitch`` uses without a per-frame seam,
    ``band_others`` those a per-frame seam blends (``StitchPlan.per_frame_bands``).
    """

    dominant: tuple[NDArray[np.float32], NDArray[np.float32]] = field(repr=False)
    others: tuple[tuple[NDArray[np.float32], NDArray[np.float32]] | None, ...] = field(repr=False)
    band_others: tuple[tuple[NDArray[np.float32], NDArray[np.float32]] | None, ...] = field(default=(), repr=False)

    @classmethod
    def of(cls, plan: "StitchPlan") -> "PlaneMaps":
        return cls(plan.dominant_xy, tuple(b.other_xy for b in plan.seam_bands or plan.bands), tuple(b.other_xy for b in plan.per_frame_bands))


@dataclass
class StitchPlan:
    """Precomputed maps and weights for stitching one rig to one equirect size.

    Build with ``StitchPlan.build(rig, width)``; then ``plan.apply(frame)`` per frame.
    ``frame`` is the recorded side-by-side frame (h, w, 3) uint8 RGB. ``apply`` may run
    in several threads at once (each keeps its own scratch buffers); a plan with temporal
    state (a tracked seam, followed exposure) then takes frames ``observe``d in order.
    """

    rig: RigProfile
    size: tuple[int, int]
    dominant_xy: tuple[NDArray[np.float32], NDArray[np.float32]] = field(repr=False)
    """Where each output pixel is read (x, y in the recorded frame) by the dominant map."""
    compensating: bool
    """Whether the plan undoes photometry (``compensate`` and some lens has any)."""
    bands: list[BandRect]
    weight: NDArray[np.float32] = field(repr=False)
    blend_width_deg: float = 0.0
    blend: str = "multiband"
    levels: int = 0
    compensate: bool = True
    seam_half_rad: float = 0.0
    seam_width: int = 0
    seam: str = "geometric"
    seam_bands: list[BandRect] = field(default_factory=list, repr=False)
    follow: bool = False
    """Whether ``apply`` follows the lenses' per-frame exposure (``_follow``)."""
    track_bands: list[BandRect] = field(default_factory=list, repr=False)
    """A tracked seam's band rectangles: where a per-frame seam may change the picture,
    in row blocks; a frame blends those its seam departs from the geometric one in, over
    ``seam_bands``. Empty unless built with ``seam="tracked"`` (a per-frame seam then
    blends the whole band, ``bands``)."""
    _tracker: object | None = field(default=None, repr=False)
    _follower: object | None = field(default=None, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)

    # ---- building ------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        rig: RigProfile,
        width: int,
        *,
        blend_width_deg: float | None = None,
        compensate: bool = True,
        blend: str = "multiband",
        seam_width: int | None = None,
        seam: str = "geometric",
        follow: bool = False,
        fps: float = 30.0,
    ) -> "StitchPlan":
        """Plan the stitch of ``rig`` to an equirect ``width`` × ``width // 2``.

        :param blend_width_deg: full width of the band across the seam, in degrees of
            difference between the two lenses' off-axis angles; default 80% of the
            overlap the narrower lens allows.
        :param compensate: apply the lenses' exposure, colour and vignetting models.
        :param blend: "multiband" (Laplacian pyramid across a sharp seam) or "feather".
        :param seam_width: columns of the seam ring a per-frame seam is given in
            (``SeamTracker``); default width // 2, at most 512.
        :param seam: "geometric" (fixed: both lenses equally far off-axis; ``apply`` is
            stateless) or "tracked" (multiband only: ``apply`` runs a ``SeamTracker``, so
            the plan then holds state and frames must come in order; ``reset()``
            at a cut). Its memory is a fixed number of frames at ``fps``
            (``SeamTracker.memory_frames``).
        :param follow: follow each lens' exposure frame by frame (``_follow``: measured
            at the seam, estimated over the last half second of frames at ``fps``, about
            the geometric mean) on top of the fixed compensation; the plan then holds
            state: frames must be ``observe``d (or ``apply``d) in order, ``reset()``
            at a cut or between unrelated stills; ``memory_frames`` says how many frames
            before a start to observe for the same result as from frame 0. Needs the
            lenses side by side in the frame and ``compensate``.
        """
        if width < 16 or width % 2:
            raise ValueError(f"output width must be even and >= 16, got {width}")
        if len(rig.lenses) != 2:
            raise ValueError("a dual-fisheye rig has exactly two lenses")
        if blend not in BLENDS:
            raise ValueError(f"blend must be one of {', '.join(BLENDS)}, got {blend!r}")
        if seam not in ("geometric", "tracked") or (seam == "tracked" and blend != "multiband"):
            raise ValueError(f"seam must be 'geometric', or 'tracked' with the multiband blend, got {seam!r} with {blend!r}")
        w, h = int(width), int(width) // 2
        overlap = min(l.fov_deg for l in rig.lenses) - 180.0
        if blend_width_deg is None:
            blend_width_deg = max(0.5, 0.8 * overlap) if overlap > 0 else 0.5
        half = np.radians(blend_width_deg) / 2.0
        # the seam ring: half the output's columns, at most _SEAM_RING_MAX (the tracked
        # seam's dynamic program runs once per column and frame)
        seam_width = int(seam_width or max(64, min(w // 2, _SEAM_RING_MAX)))
        # multiband: coarsest band about as wide as the blend band at the equator, where
        # the off-axis angle difference changes twice as fast as longitude
        band_px = blend_width_deg / 2.0 / 360.0 * w
        levels = int(np.clip(math.floor(math.log2(max(band_px, 2.0) / 2.0)), 1, 6)) if blend == "multiband" else 0
        pad = 2**levels if levels else 0

        weight = np.empty((h, w), np.float32)
        front_side = np.empty((h, w), bool)
        # lens 0's maps become the dominant map once the bands have read them (each full-size
        # array costs its page faults: at 5.7K the plan build was mostly those)
        lens_maps = [(np.empty((h, w), np.float32), np.empty((h, w), np.float32)) for _ in rig.lenses]
        mapx, mapy = lens_maps[0]
        lens_valid = [np.empty((h, w), bool) for _ in rig.lenses]

        step = _geometry_step(w)
        grids = [_LensGrid.project(lens, (w, h), step) for lens in rig.lenses]

        def rows(y0: int) -> None:
            y1 = min(h, y0 + _ROW_CHUNK)
            thetas, valids = [], []
            for i, lens in enumerate(rig.lenses):
                # the lens' maps written straight into place; its angles only for these rows
                theta = grids[i].rows(y0, y1, lens_maps[i])
                valid = theta <= np.float32(lens.max_theta)
                lens_valid[i][y0:y1] = valid
                thetas.append(theta)
                valids.append(valid)
            # front weight: ramp across the seam where both lenses are equally far off-axis
            wf = np.clip(0.5 + (thetas[1] - thetas[0]) / (2.0 * half), 0.0, 1.0)
            wf = np.where(~valids[0], 0.0, np.where(~valids[1], 1.0, wf))
            weight[y0:y1] = wf
            front_side[y0:y1] = np.where(~valids[0], False, np.where(~valids[1], True, thetas[0] <= thetas[1]))

        # row chunks are independent and numpy's ufuncs release the GIL: one chunk per
        # core at a time (a 5.7K plan: 4.4 s on one core of this machine)
        run_chunks(rows, range(0, h, _ROW_CHUNK))
        block = max(32, 4 * pad)  # padding costs less on taller rectangles
        ctx = _PlanArrays(lens_maps, lens_valid, weight, front_side)
        mixed = (weight > 0.0) & (weight < 1.0)
        bands = [_band_rect(r, ctx, pad, pad, levels, pyramids=False) for r in _band_rects(mixed, block=block)]
        seam_bands: list[BandRect] = []
        track_bands: list[BandRect] = []
        if blend == "multiband":
            # the geometric seam's blend differs from the dominant copy only near the seam
            zone = _near(front_side, int(_SEAM_REACH * pad))
            sb = max(32, int(_SEAM_BLOCK * pad))
            seam_bands = [_band_rect(r, ctx, int(_SEAM_PAD_X * pad), int(_SEAM_PAD_Y * pad), levels, pyramids=True) for r in _merge_rects(_band_rects(zone, block=sb))]
            if seam == "tracked":
                # a per-frame seam lies where the front weight is 0.1..0.9 (``SeamTracker``'s
                # open rows: elevations within 0.4 of the band's half width); its blend
                # differs from the dominant copy within the same reach of it
                reach = int(_SEAM_REACH * pad)
                open_zone = ((weight >= 0.1) & (weight <= 0.9)).view(np.uint8)
                k = 2 * reach + 1
                near = cv2.dilate(open_zone, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))).view(bool) | zone
                # in row blocks (not merged): a frame blends only the blocks its seam
                # departs in, over the geometric seam's bands
                track_bands = [_band_rect(r, ctx, int(_SEAM_PAD_X * pad), int(_SEAM_PAD_Y * pad), levels, pyramids=False) for r in _band_rects(near, block=sb)]
        # the dominant map: lens 0's, with lens 1's where lens 1 has the larger weight
        back = weight < 0.5
        for k, m in enumerate((mapx, mapy)):
            np.copyto(m, lens_maps[1][k], where=back)
        dominant = (mapx, mapy)
        lens_maps.clear()  # lens 1's maps: no longer needed
        del ctx, back
        follow = bool(follow and compensate)
        compensating = bool(compensate and (follow or any(_has_photometry(l) for l in rig.lenses)))
        plan = cls(
            rig, (w, h), dominant, compensating, bands, weight, float(blend_width_deg),
            blend, levels, bool(compensate), float(half), seam_width, seam, seam_bands, follow, track_bands,
        )
        if follow:
            from ._follow import ExposureFollower

            LensSplit.of(rig)  # (refused here, not at the first frame)
            plan._follower = ExposureFollower(rig, GainSteps.of(rig, plan.follow_spread), fps=fps)
        if seam == "tracked":
            from .blend import SeamTracker

            plan._tracker = SeamTracker(plan, width=seam_width, fps=fps)
        return plan

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state.pop("_local", None)  # per-thread scratch: not picklable, rebuilt on use
        state.pop("_derived", None)  # made on first use (_once): rebuilt on use
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def _once(self, key: object, make: Callable[[], T]) -> T:
        """What ``make`` builds, built on first use (once, whichever thread asks first) and
        kept with the plan (not pickled: a worker rebuilds it)."""
        derived = self.__dict__.setdefault("_derived", {})
        if key not in derived:
            with _LAZY_LOCK:
                if key not in derived:
                    derived[key] = make()
        return derived[key]  # type: ignore[no-any-return]

    @property
    def source_gain(self) -> SourceGain | None:
        """The compensation of RGB frames (built on first use: the YUV path has its own),
        or None when the plan compensates nothing."""
        if not self.compensating:
            return None
        return self._once("source_gain", lambda: SourceGain.build(self.rig, self.follow_spread))

    @property
    def follow_spread(self) -> float:
        """The per-frame factors' range (1: not following): the compensation's headroom
        is sized for it."""
        if not self.follow:
            return 1.0
        from ._follow import MAX_STOPS

        return float(2.0**MAX_STOPS)

    @property
    def dominant_maps(self) -> tuple[NDArray[np.int16], NDArray[np.uint16]]:
        """``dominant_xy`` as fixed-point maps (``cv2.convertMaps``), what ``apply`` remaps
        RGB frames with; made on first use."""
        return self._once("dominant_fixed", lambda: cv2.convertMaps(*self.dominant_xy, cv2.CV_16SC2))

    @property
    def per_frame_bands(self) -> list[BandRect]:
        """The band rectangles a per-frame seam blends: ``track_bands`` when the plan was
        built for a tracked seam, else the whole band."""
        return self.track_bands or self.bands

    def _ring(self, band: BandRect) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        """Each pixel of ``band``'s padded rectangle as (seam-ring column, elevation), for a
        per-frame seam; made on first use and kept."""
        w, h = self.size
        return self._once(
            ("ring", band.px0, band.py0, band.px1, band.py1),
            lambda: ring_coords(
                equirect_grid_dirs((w, h), rows=(band.py0, band.py1), cols=(band.px0, band.px1)), self.seam_width, self.seam_half_rad
            ),
        )

    @property
    def memory_frames(self) -> int:
        """Frames before a frame whose content its stitch depends on (0: stateless). A
        stitch that starts at frame k matches one from frame 0 once it has ``observe``d
        frames k - memory_frames .. k - 1 after ``reset``: what the plan's temporal
        parts (followed exposure, tracked seam) remember together, each by its
        ``memory_frames`` (a part without one keeps no history of frames)."""
        # the tracked seam is found on the frame compensated with the followed exposure,
        # which itself remembers: the seam of frame n depends on the factors of the
        # tracker's frames, each on the follower's frames before it (the memories add)
        parts = (p for p in (self._follower, self._tracker) if p is not None)
        return sum(int(getattr(p, "memory_frames", 0)) for p in parts)

    @property
    def stateful(self) -> bool:
        """Whether a frame's stitch depends on the frames before it (``observe``)."""
        return self._follower is not None or self._tracker is not None

    def observe(self, frame: NDArray[np.uint8]) -> "Observed":
        """Advance the temporal state (followed exposure, tracked seam) on one recorded
        RGB frame, in order, and return the frame with what its stitch takes from that
        state: ``apply(observed)`` then stitches it without touching the state, so frames
        observed in order may be stitched in any order, in several threads. Observing
        without stitching is the pre-roll before a stitch that starts inside a clip
        (``memory_frames``). ``YuvStitch.observe`` is the same for yuv420p frames.

        The tracked seam is found on the frame compensated with its own factors (what the
        blend will show); that compensated frame travels with it, so ``apply`` does not
        compensate it again."""
        fw, fh = self.rig.frame_size
        if frame.shape[0] != fh or frame.shape[1] != fw:
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, plan expects {fw}x{fh}")
        factors = None if self._follower is None else self._follower.update_rgb(frame)  # type: ignore[attr-defined]
        if self._tracker is None:
            return Observed(frame, factors)
        comp = self.compensated(frame, factors)  # (a new array: the observed frame keeps it)
        seam = np.asarray(self._tracker.update_rgb(comp), np.float32)  # type: ignore[attr-defined]
        return Observed(frame, factors, seam, comp)

    def reset(self) -> None:
        """Forget the tracked seam's and the followed exposure's history (at a scene cut);
        no-op for a geometric seam without following."""
        if self._tracker is not None:
            self._tracker.reset()  # type: ignore[attr-defined]
        if self._follower is not None:
            self._follower.reset()  # type: ignore[attr-defined]

    # ---- applying ------------------------------------------------------------------------
    def apply(
        self,
        frame: "NDArray[np.uint8] | Observed",
        out: NDArray[np.uint8] | None = None,
        *,
        index: int | None = None,
        seam: NDArray[np.floating] | None = None,
    ) -> NDArray[np.uint8]:
        """Stitch one recorded frame to equirect (h, w, 3) uint8 RGB.

        :param frame: the recorded frame (a stateful plan then ``observe``s it first), or
            what ``observe`` returned for it (the state is then not touched).
        :param out: where to write the picture ((h, w, 3) uint8, C-contiguous); allocated
            when None.
        :param index: the frame's number in the recording (``FramePlan``; the same plan
            serves every frame, so it is not used).
        :param seam: optional per-frame seam from ``SeamTracker.update`` (offset from the
            geometric seam in radians per seam-ring column, towards the front lens' axis);
            default the plan's own (geometric, or tracked when built with
            ``seam="tracked"``). Multiband only.
        """
        if not isinstance(frame, Observed):
            frame = self.observe(frame) if self.stateful else Observed(frame)
        fw, fh = self.rig.frame_size
        if frame.frame.shape[0] != fh or frame.frame.shape[1] != fw:
            raise ValueError(f"frame is {frame.frame.shape[1]}x{frame.frame.shape[0]}, plan expects {fw}x{fh}")
        seam_eps = frame.seam if seam is None else np.asarray(seam, np.float32)
        if seam_eps is not None and seam_eps.shape != (self.seam_width,):
            raise ValueError(f"seam must have {self.seam_width} columns, got shape {seam_eps.shape}")
        src = frame.compensated if frame.compensated is not None else self._compensated(frame.frame, frame.factors)
        return self._stitch(src, out, seam_eps)

    def _stitch(
        self,
        src: NDArray[np.uint8],
        out: NDArray[np.uint8] | None,
        seam_eps: NDArray[np.float32] | None,
        border: float | tuple[float, ...] = 0.0,
        maps: "PlaneMaps | None" = None,
    ) -> NDArray[np.uint8]:
        """The compensated frame (or one plane of it) stitched into ``out``: the dominant
        remap, then the bands; ``border`` is the value where no lens sees. ``maps``: the
        plan's maps as ``PlaneMaps`` (one-channel planes)."""
        m1, m2 = self.dominant_maps if maps is None else maps.dominant
        out = cv2.remap(src, m1, m2, cv2.INTER_LINEAR, dst=out, borderMode=cv2.BORDER_CONSTANT, borderValue=border)
        if seam_eps is not None and not seam_eps.any():
            seam_eps = None  # the geometric seam: its own bands and weights, exactly
        geo_bands = self.seam_bands or self.bands
        geo_others = [b.other_maps for b in geo_bands] if maps is None else list(maps.others)
        # (band, its other lens' maps, the seam it is blended with)
        jobs: list[tuple[BandRect, object, NDArray[np.float32] | None]] = []
        if seam_eps is None:
            jobs = [(b, o, None) for b, o in zip(geo_bands, geo_others)]
        else:
            per_frame = self.per_frame_bands
            per_others = [b.other_maps for b in per_frame] if maps is None else list(maps.band_others)
            moved = [i for i, b in enumerate(per_frame) if self._seam_departs(b, seam_eps)] if self.track_bands else []
            if self.track_bands and self.seam_bands and 2 * len(moved) <= len(per_frame):
                # where the seam is the geometric one, its bands; then the rectangles where
                # it departs, blended with the same dominant picture, written over them
                jobs = [(b, o, None) for b, o in zip(geo_bands, geo_others)] + [(per_frame[i], per_others[i], seam_eps) for i in moved]
            else:
                jobs = [(b, o, seam_eps) for b, o in zip(per_frame, per_others)]
        bands = [j[0] for j in jobs]
        # every band reads the dominant picture around it before any band is written; the
        # bands are blended on OpenCV's threads (their many small calls run mostly serial)
        blended: list[NDArray[np.uint8] | None] = [None] * len(bands)

        def blend(part: list[int]) -> None:
            for i in part:
                b, other, seam = jobs[i]
                blended[i] = self._blend(src, b, seam, dominant=out[b.py0 : b.py1, b.px0 : b.px1], border=border, other_maps=other)  # type: ignore[arg-type]

        run_parallel([lambda p=p: blend(p) for p in _share(bands, cv2.getNumThreads()) if p])
        for b, px in zip(bands, blended):
            out[b.y0 : b.y1, b.x0 : b.x1] = px
        return out

    @property
    def stitches_yuv420(self) -> bool:
        """Whether ``yuv420`` serves this plan: a width that is a multiple of 4 (the chroma
        planes are half of it, stitched with the same seam)."""
        return self.size[0] % 4 == 0

    def yuv420(self, *, matrix: str = "bt601", full_range: bool = False) -> "YuvStitch":
        """This plan for yuv420p frames (``stitch._yuv.YuvStitch``): planes stitched with no
        colour conversion; ``matrix`` and ``full_range`` describe the recorded frames.
        Built on first use and kept with the plan."""
        from ._yuv import YuvStitch

        return self._once(("yuv420", matrix, bool(full_range)), lambda: YuvStitch(self, matrix=matrix, full_range=full_range))

    def compensated(self, frame: NDArray[np.uint8], factors: tuple[float, float] | None = None) -> NDArray[np.uint8]:
        """The recorded frame with the lenses' photometry undone (a new array; ``frame``
        itself when the plan compensates nothing). ``factors``: per-frame linear gains
        (lens 0, lens 1) on top, e.g. ``frame_factors`` (a following plan only)."""
        if self.source_gain is None:
            return frame
        return self.source_gain.apply(np.ascontiguousarray(frame), np.empty_like(frame), factors=factors)

    def frame_factors(self, frame: NDArray[np.uint8]) -> tuple[float, float] | None:
        """This RGB frame's per-frame factors (lens 0, lens 1) as measured on it alone,
        with no history (a following plan; None otherwise)."""
        if self._follower is None:
            return None
        from ._follow import factors

        m = self._follower.measure.measure_rgb(frame)  # type: ignore[attr-defined]
        return factors(m or 0.0)

    def _compensated(self, frame: NDArray[np.uint8], factors: tuple[float, float] | None = None) -> NDArray[np.uint8]:
        """``compensated`` into this thread's scratch frame (valid until its next call)."""
        if self.source_gain is None:
            return frame
        buf = getattr(self._local, "frame", None)
        if buf is None or buf.shape != frame.shape:
            buf = self._local.frame = np.empty(frame.shape, np.uint8)
            self._local.strip = np.empty((min(frame.shape[0], _STRIP),) + frame.shape[1:], np.uint16)
        return self.source_gain.apply(np.ascontiguousarray(frame), buf, self._local.strip, factors)

    def blend_band(self, frame: NDArray[np.uint8], band: BandRect, *, seam: NDArray[np.float32] | None = None) -> NDArray[np.uint8]:
        """Blend both lenses over one band rectangle of a recorded frame; returns its inner
        part, uint8. (``apply`` compensates the frame once for all bands.)"""
        return self._blend(self.compensated(frame), band, None if seam is None else np.asarray(seam, np.float32))

    def _blend(
        self,
        src: NDArray[np.uint8],
        band: BandRect,
        seam: NDArray[np.float32] | None,
        *,
        dominant: NDArray[np.uint8] | None = None,
        border: float | tuple[float, ...] = 0.0,
        other_maps: tuple[NDArray, NDArray] | None = None,
    ) -> NDArray[np.uint8]:
        """Both lenses of the compensated frame ``src`` blended over ``band``: its inner
        part. ``dominant``: the dominant remap over the padded rectangle (then one remap,
        of the other lens, gives both layers, by ``other_maps``, default the band's)."""
        inner = band.inner
        other_maps = band.other_maps if other_maps is None else other_maps
        if dominant is not None and other_maps is not None and band.front_mask is not None:
            other = cv2.remap(src, *other_maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border)
            fm = band.front_mask
            d = np.empty(other.shape, np.int16)  # front minus back
            if src.ndim == 2 and band.front_sign is not None:
                # one plane: dominant minus other, negated where the dominant is the back
                # lens (half the time of two masked subtractions)
                cv2.subtract(dominant, other, dst=d, dtype=cv2.CV_16S)
                cv2.multiply(d, band.front_sign, dst=d)
            else:
                cv2.subtract(dominant, other, dst=d, mask=fm, dtype=cv2.CV_16S)
                cv2.subtract(other, dominant, dst=d, mask=cv2.bitwise_not(fm) if band.back_mask is None else band.back_mask, dtype=cv2.CV_16S)
            back = dominant[inner].copy()  # (a copy even when contiguous: never a view of the picture other bands read)
            cv2.copyTo(other[inner], fm[inner], back)
        else:
            (a1, a2), (b1, b2) = band.maps
            a = cv2.remap(src, a1, a2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            full_back = cv2.remap(src, b1, b2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            d = cv2.subtract(a, full_back, dtype=cv2.CV_16S)
            back = full_back[inner]
        if self.blend == "feather":
            assert band.feather is not None
            front = cv2.add(back, d[inner], dtype=cv2.CV_8U)
            return cv2.blendLinear(front, back, band.feather[0], band.feather[1])
        weights = band.seam_weights if src.ndim == 3 else band.plane_weights
        if seam is not None and band.valid:
            weights = self._seam_weights(band, seam, src.shape[2] if src.ndim == 3 else 1)
        return blend_difference(d, back, weights, inner=inner)

    def _seam_departs(self, band: BandRect, seam: NDArray[np.float32]) -> bool:
        """Whether a per-frame seam is off the geometric one at any ring column of ``band``."""
        ring_col, _ = self._ring(band)
        cols = self._once(("ring_cols", band.px0, band.py0, band.px1, band.py1), lambda: np.unique(ring_col))
        return bool(seam[cols].any())

    def _seam_weights(self, band: BandRect, seam: NDArray[np.float32], channels: int) -> list[NDArray[np.int16]]:
        """The weight pyramid of a per-frame seam over ``band`` (front lens on the front
        side of the seam's offset from the geometric seam at the pixel's ring column,
        ``SeamTracker``). Kept per thread
        and band while the seam over the band's ring columns stays the same (a steady
        seam, or the U and V planes of one frame): most bands of most frames cost nothing."""
        ring_col, _ = self._ring(band)
        key = (band.px0, band.py0, band.px1, band.py1, channels)
        cols = self._once(("ring_cols",) + key[:4], lambda: np.unique(ring_col))
        cache = getattr(self._local, "seam_weights", None)
        if cache is None:
            cache = self._local.seam_weights = {}
        here = seam[cols]
        kept = cache.get(key)
        if kept is not None and np.array_equal(kept[0], here):
            return kept[1]  # type: ignore[no-any-return]
        # the front weight is 0.5 + (theta_back - theta_front) / (2 half): its excess over
        # 0.5, times half, is how far the pixel lies on the front lens' side of the
        # geometric seam (as the seam's offset; 0 or 1 where one lens alone sees it)
        threshold = np.take(seam, ring_col)
        threshold *= np.float32(1.0 / self.seam_half_rad)
        threshold += np.float32(0.5)
        mask = (band.weight >= threshold).astype(np.float32)
        weights = mask_pyramid(mask, self.levels, channels=channels)
        cache[key] = (here.copy(), weights)
        return weights


def following_plan(rig: RigProfile, width: int, *, fps: float = 30.0, seam: str = "tracked") -> StitchPlan:
    """The plan a recording is stitched with: the fixed compensation plus per-frame exposure
    following (each lens of a real camera exposes on its own, frame by frame), or the fixed
    compensation alone where following cannot split the lenses (not side by side); the
    seam tracked (``SeamTracker``: around what the lenses see differently, parallax) unless
    ``seam="geometric"``. Both remember a fixed number of frames (``memory_frames``)."""
    try:
        return StitchPlan.build(rig, width, follow=True, fps=fps, seam=seam)
    except ValueError:
        if not (width >= 16 and width % 2 == 0):
            raise  # the width's error, not following's
        return StitchPlan.build(rig, width, fps=fps, seam=seam)


@dataclass
class _PlanArrays:
    lens_maps: list[tuple[NDArray[np.float32], NDArray[np.float32]]]
    lens_valid: list[NDArray[np.bool_]]
    weight: NDArray[np.float32]
    front_side: NDArray[np.bool_]


def _share(bands: list[BandRect], n: int) -> list[list[int]]:
    """Indices of ``bands`` in ``n`` groups of about equal padded area (largest first)."""
    groups: list[list[int]] = [[] for _ in range(max(1, n))]
    load = [0] * len(groups)
    for i in sorted(range(len(bands)), key=lambda i: -(bands[i].px1 - bands[i].px0) * (bands[i].py1 - bands[i].py0)):
        k = load.index(min(load))
        groups[k].append(i)
        load[k] += (bands[i].px1 - bands[i].px0) * (bands[i].py1 - bands[i].py0)
    return groups


_GEOMETRY_PAD = 2  # coarse samples beyond each edge (continued over the poles and the wrap)


def _geometry_step(width: int) -> int:
    """Output pixels between exactly projected samples of the lens maps. The maps are
    smooth and bilinear interpolation errs by about step² times their curvature, which
    falls as 1 / width: with step² <= width / 256 the error stays at most what it is at
    step 4 on a 4096-wide output (under 0.01 px: tests/test_stitch_speed.py; fixed-point
    maps resolve 1/32 px). Outputs under 1024 wide are projected at every pixel."""
    return int(min(4, max(1, math.isqrt(width // 256))))


@dataclass(frozen=True)
class _LensGrid:
    """One lens' fields projected exactly on a grid ``step`` output pixels apart: frame x
    and y of each sample (remap convention) and its off-axis angle (radians), as one
    (rows, cols, 3) float32 image. ``rows`` interpolates them bilinearly to output rows.

    The grid reaches ``_GEOMETRY_PAD`` samples past every edge, over the poles and across
    the longitude wrap (the formulas continue there), so interpolation never extrapolates.
    Only the rows asked for are interpolated: no full-size angle array is ever made (at
    5.7K each full-size float field is 66 MB of fresh memory, and first-touching memory
    was most of the plan build's cost).
    """

    fields: NDArray[np.float32]
    step: int
    pad: int
    size: tuple[int, int]

    @classmethod
    def project(cls, lens: LensProfile, size: tuple[int, int], step: int) -> "_LensGrid":
        w, h = size
        pad = _GEOMETRY_PAD if step > 1 else 0
        wc, hc = -(-w // step) + 2 * pad, -(-h // step) + 2 * pad
        dirs = equirect_grid_dirs((w, h), rows=(-pad, hc - pad), cols=(-pad, wc - pad), step=step)
        xy, theta = project_fisheye(lens.rotation().inverse(dirs), lens.model())
        fields = np.empty((hc, wc, 3), np.float32)
        fields[..., 0] = xy[..., 0] - 0.5
        fields[..., 1] = xy[..., 1] - 0.5
        fields[..., 2] = theta
        return cls(fields, step, pad, (w, h))

    def rows(
        self, y0: int, y1: int, maps: tuple[NDArray[np.float32], NDArray[np.float32]] | None = None
    ) -> NDArray[np.float32]:
        """The off-axis angles of output rows [y0, y1), (y1 - y0, w); their frame positions
        go into rows [y0, y1) of ``maps`` when given."""
        w, _ = self.size
        s, p = self.step, self.pad
        if s == 1:
            part = self.fields[y0:y1]
        else:
            # cv2.resize samples output pixel X at (X + 0.5) / s - 0.5 of its input: sample
            # j is the centre of output pixels [j * s, (j + 1) * s). Resizing a block of
            # samples from row c0 on gives the same values as the whole grid would, shifted
            # by c0 * s rows, wherever the block holds both samples around a row: one
            # sample of margin either side of the rows wanted.
            hc = self.fields.shape[0]
            c0 = max(0, math.floor((y0 + p * s + 0.5) / s - 0.5) - 1)
            c1 = min(hc, math.floor((y1 - 1 + p * s + 0.5) / s - 0.5) + 3)
            block = self.fields[c0:c1]
            big = cv2.resize(block, (block.shape[1] * s, block.shape[0] * s), interpolation=cv2.INTER_LINEAR)
            r0 = y0 - (c0 - p) * s
            part = big[r0 : r0 + (y1 - y0), p * s : p * s + w]
        if maps is not None:
            maps[0][y0:y1] = part[..., 0]
            maps[1][y0:y1] = part[..., 1]
        return np.ascontiguousarray(part[..., 2])


def _has_photometry(lens: LensProfile) -> bool:
    return lens.exposure != 1.0 or any(g != 1.0 for g in lens.color_gain) or any(v != 0.0 for v in lens.vignetting)


def _near(side: NDArray[np.bool_], reach: int) -> NDArray[np.bool_]:
    """Pixels within ``reach`` pixels (Chebyshev) of a change of ``side``."""
    s = side.view(np.uint8)  # (bool is one byte, 0 or 1: no copy)
    # a pixel that differs from one of its 4 neighbours: the morphological gradient over
    # the cross is 1 exactly there (edge replicated: the border is no change)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    edge = cv2.morphologyEx(s, cv2.MORPH_GRADIENT, cross, borderType=cv2.BORDER_REPLICATE)
    k = 2 * reach + 1
    return cv2.dilate(edge, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)), dst=edge).view(bool)


def _band_rects(mixed: NDArray[np.bool_], block: int = 32, gap: int = 16) -> list[tuple[int, int, int, int]]:
    """Rectangles (x0, y0, x1, y1) covering every pixel where ``mixed`` is set.

    Rows are grouped in blocks; in each block the columns holding band pixels are split
    into runs (separated by more than ``gap`` band-free columns), one rectangle per run.
    """
    h, w = mixed.shape
    rects: list[tuple[int, int, int, int]] = []
    for y0 in range(0, h, block):
        y1 = min(h, y0 + block)
        cols = np.flatnonzero(mixed[y0:y1].any(axis=0))
        if cols.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(cols) > gap)
        starts = np.concatenate([[cols[0]], cols[breaks + 1]])
        ends = np.concatenate([cols[breaks], [cols[-1]]]) + 1
        rects.extend((int(a), y0, int(b), y1) for a, b in zip(starts, ends))
    return rects


def _merge_rects(rects: list[tuple[int, int, int, int]], slack: float = 1.25) -> list[tuple[int, int, int, int]]:
    """Fewer, taller rectangles covering ``rects`` (each row block's runs, from
    ``_band_rects``): a rectangle grows down into the next block's run under it while
    its bounding box stays within ``slack`` times the area it covers and overlaps no
    other rectangle. The seam is nearly vertical over most of the equirect, so a few tall
    rectangles replace dozens of short ones (per rectangle and frame, a dozen OpenCV
    calls whose fixed cost dominates at small sizes)."""
    merged: list[list[int]] = []  # x0, y0, x1, y1, covered area
    for x0, y0, x1, y1 in rects:
        area = (x1 - x0) * (y1 - y0)
        best = None
        for m in merged:
            if m[3] != y0 or m[2] <= x0 or x1 <= m[0]:
                continue  # not directly above, or no column in common
            u = (min(m[0], x0), m[1], max(m[2], x1), y1)
            if (u[2] - u[0]) * (u[3] - u[1]) > slack * (m[4] + area):
                continue
            if any(o is not m and o[0] < u[2] and u[0] < o[2] and o[1] < u[3] and u[1] < o[3] for o in merged):
                continue
            best = (m, u)
            break
        if best is None:
            merged.append([x0, y0, x1, y1, area])
        else:
            m, u = best
            m[:4] = u
            m[4] += area
    return [(m[0], m[1], m[2], m[3]) for m in merged]


def _band_rect(r: tuple[int, int, int, int], ctx: _PlanArrays, pad_x: int, pad_y: int, levels: int, *, pyramids: bool) -> BandRect:
    x0, y0, x1, y1 = r
    h, w = ctx.weight.shape
    px0, py0, px1, py1 = max(0, x0 - pad_x), max(0, y0 - pad_y), min(w, x1 + pad_x), min(h, y1 + pad_y)
    sl = (slice(py0, py1), slice(px0, px1))
    valid = tuple(np.ascontiguousarray(v[sl]) for v in ctx.lens_valid)
    # where a lens sees nothing, lend it the other lens' pixel (the pyramid's coarse levels
    # then never pull in black from outside an image circle)
    (ax, ay), (bx, by) = ((mx[sl], my[sl]) for mx, my in ctx.lens_maps)
    lent = (
        (np.where(valid[0], ax, bx), np.where(valid[0], ay, by)),
        (np.where(valid[1], bx, ax), np.where(valid[1], by, ay)),
    )
    maps = tuple(cv2.convertMaps(mx.astype(np.float32), my.astype(np.float32), cv2.CV_16SC2) for mx, my in lent)
    weight = np.ascontiguousarray(ctx.weight[sl])
    front = weight >= 0.5  # as the dominant map chooses
    other = (np.where(front, lent[1][0], lent[0][0]), np.where(front, lent[1][1], lent[0][1]))
    other_xy = (other[0].astype(np.float32), other[1].astype(np.float32))
    other_maps = cv2.convertMaps(other_xy[0], other_xy[1], cv2.CV_16SC2)
    rect = BandRect(
        x0, y0, x1, y1, maps, weight,  # type: ignore[arg-type]
        px0, py0, px1, py1, None, valid,
        tuple(bool(v.all()) for v in valid),
    )
    rect = replace(
        rect, other_maps=other_maps, other_xy=other_xy, front_mask=np.where(front, 255, 0).astype(np.uint8),
        front_sign=np.where(front, 1, -1).astype(np.int16), back_mask=np.where(front, 0, 255).astype(np.uint8),
    )
    if levels:
        seam_mask = ctx.front_side[sl].astype(np.float32)
        if not pyramids:
            return replace(rect, seam_mask=seam_mask)
        plane = mask_pyramid(seam_mask, levels, channels=1)
        return replace(rect, seam_mask=seam_mask, seam_weights=[cv2.merge([g] * 3) for g in plane], plane_weights=plane)
    wf = np.ascontiguousarray(weight[rect.inner])
    return replace(rect, feather=(wf, np.ascontiguousarray(1.0 - wf)))
