"""LiveSlots: a per-user cap on open live streams; a refused hold changes nothing."""

from __future__ import annotations

import pytest

from agentic_app.domain.errors import LimitExceededError
from agentic_app.services.live_slots import LIMIT_NAME, LiveSlots


def test_hold_caps_per_user_and_frees_on_exit():
    """Two holds of a cap-2 user pass, the third names the limit; other users are apart;
    leaving a block (also by an exception) frees its slot."""
    slots = LiveSlots(2)
    with slots.hold(1), slots.hold(1):
        assert slots.open_count(1) == 2
        with pytest.raises(LimitExceededError) as exc, slots.hold(1):
            pass
        assert exc.value.limit == LIMIT_NAME and slots.open_count(1) == 2
        with slots.hold(2):
            assert slots.open_count(2) == 1
    assert slots.open_count(1) == 0
    with pytest.raises(RuntimeError), slots.hold(1):
        raise RuntimeError("stream failed")
    assert slots.open_count(1) == 0
