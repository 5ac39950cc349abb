"""EfficientZero on CartPole-v0 (200-step episodes): 8 collector environments, 25 simulations.

    pipezero train efficientzero_cartpole --seed 0    # or: python recipes/efficientzero_cartpole.py
    pipezero train efficientzero_cartpole --set policy.ssl_loss_weight=1.0 --mode async
    pipezero train efficientzero_cartpole --resume latest
    torchrun --nproc_per_node=2 recipes/efficientzero_cartpole.py --ddp    # 2 learner processes
    pipezero train efficientzero_cartpole --ray-actors 2                   # 2 Ray self-play actors

MuZero's CartPole recipe (its settings and chain, :func:`muzero_cartpole.build`) with the
EfficientZero model and policy: the self-supervised consistency loss and the value prefix. The
run stops when the mean evaluation return reaches ``policy.stop_value`` (195) or after
``max_env_step`` environment steps (``benchmarks/learning.py`` reads its ``RESULT`` line).
"""

from __future__ import annotations

from functools import partial

from pipezero.recipes.muzero_cartpole import CARTPOLE
from pipezero.recipes.muzero_cartpole import build as build_cartpole

from pipezero.model import EfficientZeroMLP
from pipezero.policy import EfficientZeroPolicy, efficientzero_config
from pipezero.recipe import main

SCALE_OUT = True
# new_data_priority: measured faster than "max" here
CONFIG = efficientzero_config({**CARTPOLE, "policy.new_data_priority": "value_error"})
build = partial(build_cartpole, policy_class=EfficientZeroPolicy, model_class=EfficientZeroMLP)

if __name__ == "__main__":
    main(__file__)
