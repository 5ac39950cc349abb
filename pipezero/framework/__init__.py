"""pipezero.framework: the pipeline engine (Task, Context, middleware, events, channels).

It knows nothing about reinforcement learning and imports neither torch nor any other
pipezero subpackage.
"""

from .channel import Channel
from .context import ENGINE_FIELDS, Context, TrainContext, per_step, persistent
from .errors import ChainError, ChannelClosed, StopRequested
from .events import Event, EventBus, EventName
from .middleware import ANY, ROLES, Middleware, as_middleware, middleware
from .monitor import AsyncMonitor
from .partition import RolePlan, assign_roles, plan_roles
from .processes import ProcessBackend, ProcessChannel, RemoteTraceback
from .runners import Backend, RoleRunner, ThreadBackend
from .state_providers import StateProvider, StateProviders
from .step import run_step
from .task import Task
from .weights import WeightStore, WeightSubscriber

__all__ = [
    "ANY",
    "ENGINE_FIELDS",
    "ROLES",
    "AsyncMonitor",
    "Backend",
    "ChainError",
    "Channel",
    "ChannelClosed",
    "Context",
    "Event",
    "EventBus",
    "EventName",
    "Middleware",
    "ProcessBackend",
    "ProcessChannel",
    "RemoteTraceback",
    "RolePlan",
    "RoleRunner",
    "StateProvider",
    "StateProviders",
    "StopRequested",
    "Task",
    "ThreadBackend",
    "TrainContext",
    "WeightStore",
    "WeightSubscriber",
    "as_middleware",
    "assign_roles",
    "middleware",
    "per_step",
    "persistent",
    "plan_roles",
    "run_step",
]
