"""--visual on a recipe: the page and its endpoints answer during a smoke run (sync, and
async with a forked collector) and are gone when the run ends."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from pipezero.recipe import prepare, train

#: A CartPole run that lasts ``--max-minutes`` (the stop value is out of reach).
LASTING = [
    "--smoke",
    "--max-env-step",
    "1000000",
    "--set",
    "policy.stop_value=1000000.0",
    "--log-every",
    "0",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _until(fetch, ok, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = fetch()
            if ok(result):
                return result
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"no answer as expected within {timeout} s")


def _watch_run(tmp_path, *flags):
    """Train muzero_cartpole with --visual in a thread; fetch the endpoints while it runs.
    Returns the page, the last stats, a frame and the URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    argv = ["--exp-dir", str(tmp_path), *LASTING, "--visual", "--visual-port", str(port), *flags]
    done: dict = {}
    thread = threading.Thread(target=lambda: done.update(ctx=train("muzero_cartpole", argv)))
    thread.start()
    try:
        _, page = _until(lambda: _get(url), lambda r: r[0] == 200)
        _, png = _until(lambda: _get(url + "frame/0.png"), lambda r: r[0] == 200)
        stats = _until(
            lambda: json.loads(_get(url + "stats.json")[1]),
            lambda s: s["train_iter"] > 0 and s["env_steps_per_s"] is not None,
        )
    finally:
        thread.join(timeout=120)
    assert not thread.is_alive() and "ctx" in done
    return page, stats, png, url


def test_a_sync_run_serves_its_page_and_stops_with_the_run(tmp_path):
    page, stats, png, url = _watch_run(tmp_path, "--max-minutes", "0.25")
    assert b"<canvas" in page and b"muzero" not in page  # the page is generic; data is JSON
    assert png.startswith(b"\x89PNG")
    assert stats["title"] == "muzero_cartpole" and stats["info"]["mode"] == "sync"
    assert stats["env_step"] > 0 and stats["env_steps_per_s"] > 0
    assert stats["buffer_transitions"] > 0 and "total_loss" in stats["losses"]
    assert stats["eval_curve"] and stats["async"] is None
    assert "0" in stats["frames"]["versions"]
    with pytest.raises(urllib.error.URLError):  # gone with the run
        urllib.request.urlopen(url + "stats.json", timeout=2)


def test_an_async_run_shows_a_forked_collectors_frames_and_queues(tmp_path):
    _, stats, png, url = _watch_run(tmp_path, "--mode", "async", "--max-minutes", "0.3")
    assert png.startswith(b"\x89PNG")  # taken in the collector's process
    assert stats["info"]["mode"] == "async"
    assert "collector_to_learner" in stats["async"]["queue_depth"]
    assert "env_collect" in stats["async"]["staleness"]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)


@pytest.mark.parametrize(
    "recipe", ["alphazero_tictactoe", "unizero_cartpole", "stochastic_muzero_2048", "tppo_math"]
)
def test_every_recipe_family_takes_visual(recipe, tmp_path):
    run, task, _ = prepare(recipe, ["--exp-dir", str(tmp_path), "--smoke", "--visual"])
    assert task.chain[-1].name == "visual_monitor" and run.frame_tap is not None
    run, plain, _ = prepare(recipe, ["--exp-dir", str(tmp_path), "--smoke"])
    assert "visual_monitor" not in [mw.name for mw in plain.chain] and run.frame_tap is None


def test_a_bad_port_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        prepare("muzero_cartpole", ["--exp-dir", str(tmp_path), "--visual", "--visual-port", "-1"])
    assert exit_info.value.code == 2
    assert "--visual-port expects a port" in capsys.readouterr().err
