"""VisualServer's endpoints over a RunBoard and a FrameTap, and the RunBoard's figures."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from pipezero.visual import FrameTap, RunBoard, VisualServer
from pipezero.visual.frames import PILLOW_MISSING


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


@pytest.fixture
def served():
    tap = FrameTap(max_envs=2)
    board = RunBoard("toy", {"mode": "sync"}, total_env_steps=100)
    server = VisualServer(board, tap)
    url = server.start()
    yield url, server, board, tap
    server.stop()


def test_page_stats_and_frames(served):
    url, server, board, tap = served
    assert url.startswith("http://127.0.0.1:") and server.port > 0
    status, kind, page = _get(url)
    assert status == 200 and kind.startswith("text/html")
    assert b"stats.json" in page and b"http" not in page.split(b"<script>")[1]  # no CDN
    board.record_step(10, 2, {"total_loss": 1.5, "value_loss": 0.5, "buffer_transitions": 10})
    board.record_eval(10, 7.0)
    assert not tap.wanted()
    status, kind, body = _get(url + "stats.json")
    stats = json.loads(body)
    assert status == 200 and kind == "application/json"
    assert tap.wanted()  # a client asked: the collector will take pictures
    assert stats["env_step"] == 10 and stats["train_iter"] == 2
    assert stats["buffer_transitions"] == 10
    assert stats["losses"] == {"total_loss": 1.5, "value_loss": 0.5}
    assert stats["loss_key"] == "total_loss" and stats["eval_curve"] == [[10, 7.0]]
    assert stats["async"] is None and stats["frames"]["versions"] == {}
    assert _get(url + "frame/0.png")[0] == 404  # no picture yet
    tap.put(0, np.zeros((10, 10, 3), dtype=np.uint8))
    tap.note(1, "cannot draw")
    status, kind, png = _get(url + "frame/0.png")
    assert status == 200 and kind == "image/png" and png.startswith(b"\x89PNG")
    frames = json.loads(_get(url + "stats.json")[2])["frames"]
    assert list(frames["versions"]) == ["0"] and frames["notes"] == {"1": "cannot draw"}
    assert _get(url + "nothing")[0] == 404


def test_stop_frees_the_port(served):
    url, server, _, _ = served
    server.stop()
    assert not server.running
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)
    server.stop()  # idempotent


def test_without_pillow_the_page_says_how_to_get_frames(served):
    url, server, _, _ = served
    server.pillow = False
    assert _get(url + "frame/0.png")[0] == 503
    assert json.loads(_get(url + "stats.json")[2])["frames"]["notes"] == {"all": PILLOW_MISSING}


def test_board_rates_and_async_groups():
    stats = {"queue_depth/collector_to_learner": 2.0, "staleness/env_collect": 3.0}
    stats["steps/collector"] = 0.0
    board = RunBoard("toy", async_stats=lambda: dict(stats))
    board.record_step(0, 0, None)
    board._next_sample = 0.0  # take the next sample at once
    board._samples[-1] = (board._samples[-1][0] - 2.0, 0, 0)  # two seconds ago
    board.record_step(100, 10, None)
    board.snapshot()
    stats["steps/collector"] = 10.0
    time.sleep(0.1)
    snap = board.snapshot()
    assert snap["env_steps_per_s"] == pytest.approx(50.0, rel=0.05)
    figures = snap["async"]
    assert figures["queue_depth"] == {"collector_to_learner": 2.0}
    assert figures["staleness"] == {"env_collect": 3.0}
    assert figures["steps"] == {"collector": 10.0}
    assert 10.0 / 0.2 < figures["steps_per_s"]["collector"] <= 10.0 / 0.1
    assert snap["buffer_transitions"] is None and snap["losses"] == {}
    json.dumps(snap, allow_nan=False)


def test_a_taken_port_is_a_clear_error(served):
    _, server, board, tap = served
    with pytest.raises(OSError, match="--visual-port"):
        VisualServer(board, tap, port=server.port).start()
