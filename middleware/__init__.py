"""pipezero.middleware: the composable pipeline steps.

Each factory captures its dependencies and returns a declared
:class:`~pipezero.framework.Middleware`; a recipe chains them with ``task.use(...)``.
"""

from .calc_update_count import calc_update_count
from .ckpt_saver import ckpt_saver
from .data_push import data_push
from .env_collect import env_collect
from .interval_eval import interval_eval
from .logger import tb_logger
from .offpolicy_learn import offpolicy_learn
from .progress import progress_bar
from .termination import termination

__all__ = [
    "calc_update_count",
    "ckpt_saver",
    "data_push",
    "env_collect",
    "interval_eval",
    "offpolicy_learn",
    "progress_bar",
    "tb_logger",
    "termination",
]
