"""LLM reasoning RL: the agent (LM + LoRA + critic), rollouts, rewards, and the APPO / GRPO /
TPPO trainers. See ``docs/llm_rl.md``."""

from pipezero.policy.llm.algorithms import APPOTrainer, GRPOTrainer, TPPOTrainer
from pipezero.policy.llm.context import LLMContext
from pipezero.policy.llm.critic import ValueHead
from pipezero.policy.llm.evaluation import evaluate_accuracy
from pipezero.policy.llm.policy import LLMPolicy
from pipezero.policy.llm.prm import OracleArithmeticPRM, ProcessRewardModel, StepTagPRM
from pipezero.policy.llm.rewards import RewardConfig, StepRewards, score_rollout
from pipezero.policy.llm.rollout import Rollout, RolloutWorker, Trajectory
from pipezero.policy.llm.sft import SFTTrainer
from pipezero.policy.llm.trainer import OnPolicyConfig, OnPolicyTrainer

__all__ = [
    "APPOTrainer",
    "GRPOTrainer",
    "LLMContext",
    "LLMPolicy",
    "OnPolicyConfig",
    "OnPolicyTrainer",
    "OracleArithmeticPRM",
    "ProcessRewardModel",
    "RewardConfig",
    "Rollout",
    "RolloutWorker",
    "SFTTrainer",
    "StepRewards",
    "StepTagPRM",
    "TPPOTrainer",
    "Trajectory",
    "ValueHead",
    "evaluate_accuracy",
    "score_rollout",
]
