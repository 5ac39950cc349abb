"""The step-level math reasoning MDP.

State: an (optional) few-shot prompt, the problem, and the reasoning lines written so far.
Action: one reasoning line. The episode ends when a line states the answer
("The answer is 42"), when the policy emits end-of-sequence, or after ``max_steps`` lines.
:class:`VecMathEnv` steps ``N`` such environments and, with ``auto_reset``, starts a new
problem in an environment as soon as its episode ends.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipezero.envs.math_reasoning.generator import ArithmeticProblemGenerator
from pipezero.envs.math_reasoning.problems import Problem, answers_match, extract_answer

__all__ = ["EnvStep", "MathStepEnv", "ProblemSampler", "PromptFormat", "VecMathEnv"]


@dataclass(frozen=True)
class PromptFormat:
    """How a state is written.

    Attributes:
        few_shot: solved examples shown before the problem (worked steps + answer line).
        question_prefix: written before each question.
        answer_template: the final line of a solution, ``{}`` replaced by the answer.
    """

    few_shot: tuple[Problem, ...] = ()
    question_prefix: str = "Q: "
    answer_template: str = "The answer is {}"

    def __post_init__(self) -> None:
        if "{}" not in self.answer_template:
            raise ValueError(
                f"answer_template must contain '{{}}' for the answer, got {self.answer_template!r}"
            )

    def solution_lines(self, problem: Problem) -> list[str]:
        """The worked steps of ``problem`` followed by its answer line, unless its last step
        states the final answer already (MATH's ``... \\boxed{42}``): the episode ends there."""
        last = extract_answer(problem.steps[-1]) if problem.steps else None
        if answers_match(last, problem.final_answer):
            return list(problem.steps)
        return [*problem.steps, self.answer_template.format(problem.final_answer)]

    def render_solution(self, problem: Problem) -> str:
        """Every solution line, each ending in a newline."""
        return "".join(line + "\n" for line in self.solution_lines(problem))

    def render_state(self, problem: Problem) -> str:
        """The initial state: few-shot examples, then the question line."""
        shots = "".join(
            f"{self.question_prefix}{p.question}\n{self.render_solution(p)}\n"
            for p in self.few_shot
        )
        return f"{shots}{self.question_prefix}{problem.question}\n"


class ProblemSampler:
    """A seeded stream of problems, each repeated ``group_size`` times in a row.

    Args:
        source: a list of problems (shuffled each epoch when ``shuffle``, else in order) or an
            :class:`ArithmeticProblemGenerator` (an endless stream).
        seed: fixes the order (or the generated problems).
        group_size: consecutive copies of each problem (``K`` samples per prompt for GRPO).
        shuffle: shuffle a list source every epoch.
        exclude: questions never to hand out (e.g. the held-out split).
    """

    def __init__(
        self,
        source: Sequence[Problem] | ArithmeticProblemGenerator,
        seed: int,
        group_size: int = 1,
        shuffle: bool = True,
        exclude: Collection[str] = (),
    ) -> None:
        if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
            raise ValueError(f"group_size must be an int >= 1, got {group_size!r}")
        if not isinstance(source, ArithmeticProblemGenerator):
            source = [p for p in source if p.question not in set(exclude)]
            if not source:
                raise ValueError("ProblemSampler: the source holds no problem (after exclude)")
        self.source = source
        self.group_size = group_size
        self.shuffle = shuffle
        self.exclude = frozenset(exclude)
        self.rng = np.random.default_rng(seed)
        self._order: list[int] = []
        self._current: Problem | None = None
        self._left = 0  # copies of the current problem still to hand out
        self.group_id = -1
        self.drawn = 0

    def _draw(self) -> Problem:
        if isinstance(self.source, ArithmeticProblemGenerator):
            while True:
                problem = self.source.sample(self.rng, uid=f"train:{self.drawn}")
                if problem.question not in self.exclude:
                    break
        else:
            if not self._order:
                n = len(self.source)
                self._order = list(self.rng.permutation(n)) if self.shuffle else list(range(n))
            problem = self.source[int(self._order.pop(0))]
        self.drawn += 1
        return problem

    def next(self) -> tuple[Problem, int]:
        """The next problem and its group id (equal for the copies of one draw)."""
        if self._left == 0:
            self._current = self._draw()
            self._left = self.group_size
            self.group_id += 1
        self._left -= 1
        assert self._current is not None
        return self._current, self.group_id

    def state_dict(self) -> dict[str, Any]:
        """Position in the stream (random generator state included), for resuming."""
        return {
            "rng": self.rng.bit_generator.state,
            "order": list(self._order),
            "current": self._current,
            "left": self._left,
            "group_id": self.group_id,
            "drawn": self.drawn,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a position saved by :meth:`state_dict`."""
        self.rng.bit_generator.state = state["rng"]
        self._order = list(state["order"])
        self._current = state["current"]
        self._left = state["left"]
        self.group_id = state["group_id"]
        self.drawn = state["drawn"]


@dataclass(frozen=True)
class EnvStep:
    """What one environment did in a step.

    Attributes:
        state: the state to act from next (the first state of a new problem when ``done``
            and the environment auto-resets).
        final_state: the state this step reached (equal to ``state`` unless reset).
        done: the episode ended with this step.
        reason: why it ended: ``"answer"``, ``"eos"`` or ``"max_steps"`` (``None`` if not done).
        answer: the answer stated so far (the last one), or ``None``.
        correct: when ``done``, whether ``answer`` matches the ground truth, else ``None``.
        num_steps: reasoning lines written in the episode, this one included.
    """

    state: str
    final_state: str
    done: bool
    reason: str | None
    answer: str | None
    correct: bool | None
    num_steps: int


class MathStepEnv:
    """One problem at a time; actions are reasoning lines (text).

    Args:
        prompt: how states are written.
        max_steps: lines per episode at most (the episode is cut, ``reason="max_steps"``).
    """

    def __init__(self, prompt: PromptFormat | None = None, max_steps: int = 10) -> None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
        self.prompt = prompt if prompt is not None else PromptFormat()
        self.max_steps = max_steps
        self.problem: Problem | None = None
        self.state = ""
        self.num_steps = 0
        self.answer: str | None = None
        self.done = True

    def reset(self, problem: Problem) -> str:
        """Start ``problem``; returns the initial state."""
        self.problem = problem
        self.state = self.prompt.render_state(problem)
        self.num_steps = 0
        self.answer = None
        self.done = False
        return self.state

    @staticmethod
    def answers_in(step_text: str) -> bool:
        """Whether :meth:`step` with this line ends the episode by stating an answer (a
        policy generating several lines in one pass stops there)."""
        return extract_answer(step_text) is not None

    def step(self, step_text: str, eos: bool = False) -> EnvStep:
        """Append one reasoning line (as generated, usually ending in a newline).

        Args:
            step_text: the generated line.
            eos: the policy ended its output with end-of-sequence after this line.

        Raises:
            RuntimeError: the episode is over (call :meth:`reset`).
        """
        if self.done or self.problem is None:
            raise RuntimeError("MathStepEnv.step called on a finished episode; call reset(problem)")
        self.state += step_text
        self.num_steps += 1
        stated = extract_answer(step_text)  # not None exactly when answers_in(step_text)
        if stated is not None:
            self.answer = stated
        reason = None
        if stated is not None:
            reason = "answer"
        elif eos:
            reason = "eos"
        elif self.num_steps >= self.max_steps:
            reason = "max_steps"
        self.done = reason is not None
        correct = answers_match(self.answer, self.problem.final_answer) if self.done else None
        return EnvStep(
            self.state, self.state, self.done, reason, self.answer, correct, self.num_steps
        )


class VecMathEnv:
    """``N`` :class:`MathStepEnv` fed by one :class:`ProblemSampler`.

    Args:
        num_envs: ``N``.
        sampler: hands out the problems (and their group ids).
        prompt, max_steps: as for :class:`MathStepEnv`.
        auto_reset: start the next problem in an environment in the step its episode ends;
            otherwise a finished environment waits for :meth:`reset`.
    """

    def __init__(
        self,
        num_envs: int,
        sampler: ProblemSampler,
        prompt: PromptFormat | None = None,
        max_steps: int = 10,
        auto_reset: bool = True,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        self.envs = [MathStepEnv(prompt, max_steps) for _ in range(num_envs)]
        self.sampler = sampler
        self.auto_reset = auto_reset
        self.group_ids = [-1] * num_envs

    @property
    def num_envs(self) -> int:
        return len(self.envs)

    @property
    def problems(self) -> list[Problem | None]:
        """The problem each environment works on."""
        return [env.problem for env in self.envs]

    def _reset_one(self, i: int) -> str:
        problem, self.group_ids[i] = self.sampler.next()
        return self.envs[i].reset(problem)

    def reset(self) -> list[str]:
        """Give every environment a new problem; returns the ``N`` initial states."""
        return [self._reset_one(i) for i in range(self.num_envs)]

    def step(
        self, actions: Sequence[str | None], eos: Sequence[bool] | None = None
    ) -> list[EnvStep | None]:
        """Step the environments whose action is not ``None`` (the others are left as they are).

        Returns:
            ``N`` entries: an :class:`EnvStep` per stepped environment, ``None`` elsewhere.
        """
        if len(actions) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {len(actions)}")
        flags = list(eos) if eos is not None else [False] * self.num_envs
        out: list[EnvStep | None] = []
        for i, (env, action) in enumerate(zip(self.envs, actions, strict=True)):
            if action is None:
                out.append(None)
                continue
            result = env.step(action, bool(flags[i]))
            if result.done and self.auto_reset:
                result = EnvStep(
                    self._reset_one(i),
                    result.final_state,
                    True,
                    result.reason,
                    result.answer,
                    result.correct,
                    result.num_steps,
                )
            out.append(result)
        return out
