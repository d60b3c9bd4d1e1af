"""The 360 viewer: a static WebGL page (``static/``) and the local server for it.

``ViewerServer(video).serve_until_interrupted()`` is what ``orbit360 view`` runs. The page
is hand-written WebGL with no downloads, so it works offline.
"""

from __future__ import annotations

from ._server import LOOPBACK, MIME_TYPES, STATIC_DIR, ViewerServer, servable_video

__all__ = ["ViewerServer", "STATIC_DIR", "MIME_TYPES", "LOOPBACK", "servable_video"]
