"""FrameSlots: pictures and notes in shared memory, versioned, read without waiting."""

from __future__ import annotations

import numpy as np
import pytest

from pipezero.visual.slots import FrameSlots


def test_slots_hold_the_latest_picture_or_note_with_a_growing_version():
    slots = FrameSlots(2, max_side=8)
    assert slots.read(0) is None
    picture = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    slots.write_frame(0, picture)
    version, got = slots.read(0)
    assert np.array_equal(got, picture)
    slots.write_note(0, "cannot draw")
    later, note = slots.read(0)
    assert note == "cannot draw" and later > version
    assert slots.read(1) is None


def test_a_picture_larger_than_a_slot_is_refused():
    slots = FrameSlots(1, max_side=8)
    with pytest.raises(ValueError, match="at most 8 pixels"):
        slots.write_frame(0, np.zeros((9, 4, 3), dtype=np.uint8))
