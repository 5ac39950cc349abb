"""Frames of grid worlds without a graphics library: coloured cells with numbers.

Used for environments that have no pixels of their own (2048, the board games) and as the
fallback picture of ``[C, H, W]`` observations in ``pipezero render``.
"""

from __future__ import annotations

import numpy as np

# 3x5 bitmaps of the digits, one string of 15 bits (rows top to bottom) per digit.
_DIGITS = {
    "0": "111101101101111",
    "1": "010110010010111",
    "2": "111001111100111",
    "3": "111001111001111",
    "4": "101101111001001",
    "5": "111100111001111",
    "6": "111100111101111",
    "7": "111001001001001",
    "8": "111101111101111",
    "9": "111101111001111",
}
_GLYPHS = {
    d: np.array([int(b) for b in bits], dtype=bool).reshape(5, 3) for d, bits in _DIGITS.items()
}

#: Cell colours by value (RGB); values beyond the list reuse its last colour.
PALETTE = np.array(
    [
        (205, 193, 180), (238, 228, 218), (237, 224, 200), (242, 177, 121), (245, 149, 99),
        (246, 124, 95), (246, 94, 59), (237, 207, 114), (237, 204, 97), (237, 200, 80),
        (237, 197, 63), (237, 194, 46), (60, 58, 50), (90, 80, 160), (60, 120, 200),
        (40, 160, 120),
    ],
    dtype=np.uint8,
)  # fmt: skip


def _text(label: str, scale: int) -> np.ndarray:
    """``[5 * scale, (4 * len - 1) * scale]`` bool mask of ``label``'s digits."""
    glyphs = [_GLYPHS[c] for c in label]
    gap = np.zeros((5, 1), dtype=bool)
    parts = [p for g in glyphs for p in (g, gap)][:-1]
    return np.kron(np.hstack(parts), np.ones((scale, scale), dtype=bool))


def grid_frame(values: np.ndarray, labels: np.ndarray | None = None, cell: int = 40) -> np.ndarray:
    """An RGB picture of a grid.

    Args:
        values: ``[H, W]`` non-negative ints choosing each cell's colour from
            :data:`PALETTE`.
        labels: ``[H, W]`` non-negative ints written in the cells (0: none), or ``None``.
        cell: the side of a cell in pixels.

    Returns:
        ``[H * cell, W * cell, 3]`` uint8.
    """
    values = np.asarray(values, dtype=np.int64)
    if values.ndim != 2 or (values < 0).any():
        raise ValueError(f"grid_frame needs [H, W] values >= 0, got shape {values.shape}")
    colours = PALETTE[np.minimum(values, len(PALETTE) - 1)]
    frame = np.kron(colours, np.ones((cell, cell, 1), dtype=np.uint8))
    frame[::cell, :] = frame[:, ::cell] = 120  # grid lines
    if labels is None:
        return frame
    for (r, c), label in np.ndenumerate(np.asarray(labels, dtype=np.int64)):
        if label <= 0:
            continue
        text = str(int(label))
        scale = max(1, min(cell // (5 * 2), (cell - 4) // (4 * len(text))))
        mask = _text(text, scale)
        h, w = mask.shape
        top, left = r * cell + (cell - h) // 2, c * cell + (cell - w) // 2
        dark = values[r, c] < 3
        frame[top : top + h, left : left + w][mask] = (60, 60, 60) if dark else (250, 250, 250)
    return frame


def observation_frame(obs: np.ndarray, cell: int = 24) -> np.ndarray:
    """A picture of a ``[C, H, W]`` observation: each cell coloured by the index (plus one)
    of its first non-zero channel, 0 where all channels are zero."""
    obs = np.asarray(obs)
    if obs.ndim != 3:
        raise ValueError(
            f"an observation of shape {obs.shape} has no grid to draw; only [C, H, W] "
            f"observations can be drawn without the environment's own rgb_array render"
        )
    occupied = obs != 0
    values = np.where(occupied.any(axis=0), occupied.argmax(axis=0) + 1, 0)
    return grid_frame(values, cell=cell)
