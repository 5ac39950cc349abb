"""Step-level math reasoning environment, datasets and a generator of arithmetic problems."""

from pipezero.envs.math_reasoning.datasets import (
    FORMATS,
    STEP_TAG,
    DatasetError,
    load_jsonl,
    parse_record,
    split_problems,
    split_steps,
)
from pipezero.envs.math_reasoning.env import (
    EnvStep,
    MathStepEnv,
    ProblemSampler,
    PromptFormat,
    VecMathEnv,
)
from pipezero.envs.math_reasoning.generator import ArithmeticConfig, ArithmeticProblemGenerator
from pipezero.envs.math_reasoning.problems import (
    Problem,
    answers_match,
    boxed_answers,
    extract_answer,
    normalize_answer,
)

__all__ = [
    "FORMATS",
    "STEP_TAG",
    "ArithmeticConfig",
    "ArithmeticProblemGenerator",
    "DatasetError",
    "EnvStep",
    "MathStepEnv",
    "Problem",
    "ProblemSampler",
    "PromptFormat",
    "VecMathEnv",
    "answers_match",
    "boxed_answers",
    "extract_answer",
    "load_jsonl",
    "normalize_answer",
    "parse_record",
    "split_problems",
    "split_steps",
]
