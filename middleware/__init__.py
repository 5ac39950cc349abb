"""pipezero.middleware: the composable pipeline steps.

Each factory captures its dependencies and returns a declared
:class:`~pipezero.framework.Middleware`; a recipe chains them with ``task.use(...)``.
"""

from .battle_eval import battle_eval
from .buffer_reanalyze import ReanalyzeContext, buffer_reanalyze
from .calc_update_count import calc_update_count
from .ckpt_saver import ckpt_saver
from .data_push import data_push
from .ddp_sync import ddp_sync
from .env_collect import env_collect
from .interval_eval import interval_eval
from .logger import tb_logger
from .mlflow_logger import mlflow_logger
from .offpolicy_learn import offpolicy_learn
from .progress import progress_bar
from .ray_collect import ray_collect
from .selfplay_collect import selfplay_collect
from .termination import termination
from .time_limit import time_limit

__all__ = [
    "ReanalyzeContext",
    "battle_eval",
    "buffer_reanalyze",
    "calc_update_count",
    "ckpt_saver",
    "data_push",
    "ddp_sync",
    "env_collect",
    "interval_eval",
    "mlflow_logger",
    "offpolicy_learn",
    "progress_bar",
    "ray_collect",
    "selfplay_collect",
    "tb_logger",
    "termination",
    "time_limit",
]
