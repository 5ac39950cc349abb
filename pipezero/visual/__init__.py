"""The visual mode (``--visual``): a local web page showing a run live.

:class:`FrameTap` takes pictures of the collector environments while someone watches,
:class:`RunBoard` keeps the run's figures, :class:`VisualServer` serves the page and its
endpoints on 127.0.0.1. The ``visual_monitor`` middleware (``pipezero.middleware.visual``)
feeds the board from the run; the shared recipe runner adds it for every recipe.
"""

from pipezero.visual.board import RunBoard
from pipezero.visual.frames import PILLOW_MISSING, AdapterTap, FrameTap, to_rgb
from pipezero.visual.server import VisualServer, encode_png

__all__ = [
    "PILLOW_MISSING",
    "AdapterTap",
    "FrameTap",
    "RunBoard",
    "VisualServer",
    "encode_png",
    "to_rgb",
]
