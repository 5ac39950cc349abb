"""UniZero on Atari frames: the conv encoder, and the Atari recipe's smoke run end to end."""

from __future__ import annotations

import json

import pytest
import torch

from pipezero.checkpoint import load_checkpoint
from pipezero.model.unizero import UniZeroModel
from pipezero.recipe import train


def test_conv_model_cached_search_path_equals_the_full_pass():
    torch.manual_seed(0)
    model = UniZeroModel(
        (4, 32, 32),
        3,
        encoder="conv",
        latent_dim=16,
        num_heads=2,
        context_length=4,
        support_size=3,
        reward_support_size=2,
        head_hidden_dim=8,
        num_channels=4,
    ).eval()
    frames = torch.randint(0, 256, (2, 4, 32, 32)).float()
    actions = torch.tensor([[0, 2, 1], [1, 1, 0]])
    with torch.no_grad():
        out = model.initial_inference(frames)
        assert model.encode(frames).shape == (2, 16)
        latents, values = [model.unpack_state(out.latent)[1]], [out.value_logits]
        for k in range(3):
            out = model.recurrent_inference(out.latent, actions[:, k])
            latents.append(model.unpack_state(out.latent)[1])
            values.append(out.value_logits)
        seq = model.forward_sequence(torch.stack(latents, 1), actions)
    torch.testing.assert_close(torch.stack(values, 1), seq.value_logits, atol=2e-5, rtol=0)


def test_conv_encoder_rejects_vector_observations():
    with pytest.raises(ValueError, match="channels, height, width"):
        UniZeroModel(4, 2, encoder="conv")
    with pytest.raises(ValueError, match="encoder must be one of"):
        UniZeroModel(4, 2, encoder="transformer")


def test_atari_recipe_smoke_runs_every_part(tmp_path, capsys):
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    ctx = train("unizero_atari", ["--smoke", "--seed", "0", "--exp-dir", str(tmp_path)])
    assert ctx.env_step >= 320 and ctx.finish_reason.startswith("max_env_step")
    assert ctx.train_iter > 0 and ctx.reanalyzed_states > 0
    assert (tmp_path / "ckpt" / "final.pt").is_file()
    saved = json.loads((tmp_path / "config.json").read_text())  # the run's typed config
    assert saved["recipe"] == "unizero_atari"
    assert load_checkpoint(tmp_path / "ckpt" / "final.pt")["config"] == saved["config"]
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1][len("RESULT ") :])
    assert result["eval_history"] and result["env_id"] == "ALE/Pong-v5"
    assert result["buffer_memory"]["ratio_to_frame"] < 1.5  # each frame stored about once
