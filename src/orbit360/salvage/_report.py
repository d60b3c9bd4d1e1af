"""What a salvage recovered: per-track rows, a text table and a JSON-ready dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np

from ..isobmff import Track

__all__ = ["TrackRow", "SalvageReport", "track_row"]


class TrackRow(TypedDict):
    """One recovered track, as the table and ``--report`` JSON show it."""

    track_id: int
    handler: str
    codec: str
    samples: int
    key_frames: int
    seconds: float
    bytes: int


def track_row(t: Track) -> TrackRow:
    return TrackRow(
        track_id=t.track_id,
        handler=t.handler.decode("latin-1"),
        codec=t.codec.decode("latin-1"),
        samples=t.sample_count,
        key_frames=int(len(t.sync_samples)),
        seconds=round(t.duration_seconds, 3),
        bytes=int(t.sizes.sum(dtype=np.int64)),
    )


@dataclass
class SalvageReport:
    """The outcome of salvaging (or previewing the salvage of) one recording.

    ``recording_end`` is the file offset just past the last complete sample; bytes of
    the mdat payload that no recovered sample covers are ``unassigned_bytes``.
    """

    input: str
    output: str | None
    method: str
    """"gopro-sos" (no reference needed), "reference" or "healthy" (nothing to do)."""
    tracks: list[TrackRow]
    payload_bytes: int
    recording_end: int
    unassigned_bytes: int
    stop_reason: str
    damage: list[str] = field(default_factory=list)
    reference: str | None = None
    output_bytes: int | None = None

    @property
    def samples(self) -> int:
        return sum(r["samples"] for r in self.tracks)

    @property
    def seconds(self) -> float:
        return max((r["seconds"] for r in self.tracks if r["handler"] == "vide"), default=0.0)

    def to_dict(self) -> dict:
        return {
            "input": self.input,
            "output": self.output,
            "method": self.method,
            "reference": self.reference,
            "tracks": list(self.tracks),
            "payload_bytes": self.payload_bytes,
            "recording_end": self.recording_end,
            "unassigned_bytes": self.unassigned_bytes,
            "stop_reason": self.stop_reason,
            "damage": list(self.damage),
            "output_bytes": self.output_bytes,
        }

    def summary(self) -> str:
        """One line: what was (or would be) recovered, for ``inspect`` and logs."""
        if not self.tracks:
            return f"{self.method}: {self.stop_reason}"
        parts = ", ".join(f"{r['codec']} {r['samples']} samples ({r['seconds']:.1f} s)" for r in self.tracks)
        return f"{self.method}: {parts}; the recording ends at byte {self.recording_end:,} ({self.stop_reason})"

    def format_table(self) -> str:
        """A plain-text table of the recovered tracks and where the recording ends."""
        head = f"{'track':>5}  {'handler':<7} {'codec':<5} {'samples':>8} {'keys':>6} {'seconds':>9} {'bytes':>12}"
        lines = [head, "-" * len(head)]
        for r in self.tracks:
            lines.append(
                f"{r['track_id']:>5}  {r['handler']:<7} {r['codec']:<5} {r['samples']:>8} "
                f"{r['key_frames']:>6} {r['seconds']:>9.3f} {r['bytes']:>12,}"
            )
        lines.append(
            f"recording ends at byte {self.recording_end:,} ({self.stop_reason}); "
            f"{self.unassigned_bytes:,} of {self.payload_bytes:,} payload bytes not assigned"
        )
        lines.extend(f"damage: {d}" for d in self.damage)
        return "\n".join(lines)
