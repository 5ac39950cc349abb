"""Run the policy in vectorised math environments and record trajectories.

Two ways to collect:

- ``"episodes"``: every environment plays one whole episode per collection (the batch is
  ``N`` finished episodes; needed by GRPO, whose groups must be complete);
- ``"steps"``: every environment takes ``rollout_steps`` steps and auto-resets when an episode
  ends; episodes cut by the end of a collection continue in the next one and are
  bootstrapped by the critic (the reference system's way).

Two ways to generate (``generation``):

- ``"episode"`` (default): one pass over the model continues every environment's context
  line after line until its episode ends (an answer line, end-of-sequence, ``max_steps``
  lines; in ``"steps"`` mode also the collection's budget), then the lines are fed to the
  environments one step at a time. The context is encoded once per episode instead of once
  per line;
- ``"line"``: one line per environment per pass, the environments stepped in between.

Both give an environment the same lines for the same sampled tokens (a line ends where it
would have ended, and the next continues from the same tokens), so the trajectories have the
same distribution; the random draws are spent in another order, so the same seed samples
other lines.

The policy's context is kept as token ids (the initial state's ids followed by the generated
ids), never re-tokenised, so training sees exactly the tokens that were sampled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipezero.envs.math_reasoning import EnvStep, MathStepEnv, Problem, VecMathEnv
from pipezero.model.lm.generate import Generation
from pipezero.policy.llm.policy import LLMPolicy

__all__ = ["COLLECT_MODES", "GENERATION_MODES", "Rollout", "RolloutWorker", "Trajectory"]

COLLECT_MODES = ("episodes", "steps")
GENERATION_MODES = ("episode", "line")


@dataclass
class Trajectory:
    """Consecutive steps of one environment within one episode.

    Attributes:
        problem: the problem solved.
        group_id: equal for the copies of one problem drawn together (GRPO groups).
        context: token ids of the state before the first step recorded here.
        states: ``[S]`` state text before each step.
        steps: ``[S]`` generated reasoning lines.
        action_ids: ``[S]`` token ids of each line (stop token included).
        logprobs: ``[S]`` sampling log-probabilities of those tokens.
        done: the last step ended the episode; otherwise the collection cut it (bootstrap).
        answer: the answer stated by the end (``None`` if none).
        correct: whether it matches the ground truth (``None`` while not done).
        reason: why the episode ended (``"answer"``, ``"eos"``, ``"max_steps"``) or ``None``.
    """

    problem: Problem
    group_id: int
    context: list[int]
    states: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    action_ids: list[list[int]] = field(default_factory=list)
    logprobs: list[list[float]] = field(default_factory=list)
    done: bool = False
    answer: str | None = None
    correct: bool | None = None
    reason: str | None = None

    @property
    def num_steps(self) -> int:
        return len(self.steps)

    @property
    def num_tokens(self) -> int:
        """Context plus generated tokens."""
        return len(self.context) + sum(len(a) for a in self.action_ids)


@dataclass
class Rollout:
    """One collection.

    Attributes:
        trajectories: every trajectory with at least one step.
        num_steps: environment steps (reasoning lines) taken.
    """

    trajectories: list[Trajectory]
    num_steps: int

    @property
    def finished(self) -> list[Trajectory]:
        """Trajectories whose episode ended in this collection."""
        return [t for t in self.trajectories if t.done]


class RolloutWorker:
    """Steps a :class:`VecMathEnv` with an :class:`LLMPolicy`.

    Args:
        policy: generates the lines.
        envs: the environments (``auto_reset`` must be false for ``"episodes"``, true for
            ``"steps"``).
        mode: ``"episodes"`` or ``"steps"``.
        rollout_steps: steps per environment per collection in ``"steps"`` mode.
        greedy: decode greedily (evaluation) instead of sampling.
        generation: ``"episode"`` or ``"line"`` (see the module docstring).
    """

    def __init__(
        self,
        policy: LLMPolicy,
        envs: VecMathEnv,
        mode: str = "episodes",
        rollout_steps: int = 0,
        greedy: bool = False,
        generation: str = "episode",
    ) -> None:
        if mode not in COLLECT_MODES:
            raise ValueError(f"collect mode must be one of {COLLECT_MODES}, got {mode!r}")
        if generation not in GENERATION_MODES:
            raise ValueError(f"generation must be one of {GENERATION_MODES}, got {generation!r}")
        if mode == "episodes" and envs.auto_reset:
            raise ValueError("'episodes' mode needs VecMathEnv(auto_reset=False)")
        if mode == "steps":
            if not envs.auto_reset:
                raise ValueError("'steps' mode needs VecMathEnv(auto_reset=True)")
            if (
                isinstance(rollout_steps, bool)
                or not isinstance(rollout_steps, int)
                or rollout_steps < 1
            ):
                raise ValueError(f"'steps' mode needs rollout_steps >= 1, got {rollout_steps!r}")
        self.policy = policy
        self.envs = envs
        self.mode = mode
        self.rollout_steps = rollout_steps
        self.greedy = greedy
        self.generation = generation
        self._open: list[Trajectory] | None = None  # steps mode: one open trajectory per env
        self._contexts: list[list[int]] = []

    def _start(self, i: int, state: str) -> Trajectory:
        problem = self.envs.envs[i].problem
        assert problem is not None
        self._contexts[i] = self.policy.initial_context(state)
        return Trajectory(problem, self.envs.group_ids[i], list(self._contexts[i]))

    def _begin(self) -> list[Trajectory]:
        states = self.envs.reset()
        self._contexts = [[] for _ in states]
        return [self._start(i, s) for i, s in enumerate(states)]

    def _text(self, gen: Generation) -> str:
        """The environment action of a generated line (end-of-sequence dropped)."""
        return self.policy.tokenizer.decode(gen.ids[:-1] if gen.eos else gen.ids)

    def _generate(self, index: list[int], budget: list[int] | None) -> list[list[Generation]]:
        """Lines for the environments ``index``: one each (``"line"``), or each one's until
        its episode ends, at most ``budget`` (``"episode"``; ``None``: no budget)."""
        contexts = [self._contexts[i] for i in index]
        if self.generation == "line":
            return [[gen] for gen in self.policy.generate(contexts, greedy=self.greedy)]
        envs = self.envs.envs
        limits = [envs[i].max_steps - envs[i].num_steps for i in index]
        if budget is not None:
            limits = [min(n, b) for n, b in zip(limits, budget, strict=True)]
        return self.policy.generate_episodes(
            contexts,
            limits,
            lambda _row, line: MathStepEnv.answers_in(self._text(line)),
            greedy=self.greedy,
        )

    def _apply(
        self, open_: list[Trajectory], index: list[int], gens: list[Generation]
    ) -> list[int]:
        """Step the environments ``index`` with one line each; returns those whose episode
        ended (their trajectory is done; with auto-reset ``open_`` holds a new one)."""
        actions: list[str | None] = [None] * self.envs.num_envs
        eos = [False] * self.envs.num_envs
        for i, gen in zip(index, gens, strict=True):
            text = self._text(gen)
            actions[i], eos[i] = text, gen.eos
            traj = open_[i]
            traj.states.append(self.envs.envs[i].state)
            traj.steps.append(text)
            traj.action_ids.append(list(gen.ids))
            traj.logprobs.append(list(gen.logprobs))
            self._contexts[i].extend(gen.ids)
        results = self.envs.step(actions, eos)
        ended: list[int] = []
        for i in index:
            res = results[i]
            assert isinstance(res, EnvStep)
            traj = open_[i]
            traj.answer = res.answer
            if res.done:
                traj.done, traj.correct, traj.reason = True, res.correct, res.reason
                ended.append(i)
                if self.envs.auto_reset:
                    open_[i] = self._start(i, res.state)
        return ended

    def _advance(
        self, open_: list[Trajectory], index: list[int], budget: list[int] | None
    ) -> tuple[list[tuple[int, Trajectory]], list[int]]:
        """Generate for the environments ``index`` and step them with the lines, each until
        its lines run out or its episode ends. Returns ``(environment, trajectory)`` of the
        episodes that ended and the steps each environment of ``index`` took."""
        runs = self._generate(index, budget)
        took = [0] * len(index)
        stopped = [False] * len(index)
        ended: list[tuple[int, Trajectory]] = []
        for k in range(max(len(run) for run in runs)):
            rows = [j for j, run in enumerate(runs) if not stopped[j] and k < len(run)]
            if not rows:
                break
            trajs = {index[j]: open_[index[j]] for j in rows}  # before an auto-reset
            done = set(self._apply(open_, [index[j] for j in rows], [runs[j][k] for j in rows]))
            for j in rows:
                took[j] += 1
                if index[j] in done:
                    stopped[j] = True
                    ended.append((index[j], trajs[index[j]]))
        return ended, took

    def collect(self) -> Rollout:
        """Run one collection (see the module docstring)."""
        if self.mode == "episodes":
            open_ = self._begin()
            active = [True] * len(open_)
            steps = 0
            while any(active):
                index = [i for i, a in enumerate(active) if a]
                ended, took = self._advance(open_, index, None)
                steps += sum(took)
                for i, _traj in ended:
                    active[i] = False
            return Rollout(open_, steps)
        if self._open is None:
            self._open = self._begin()
        out: list[Trajectory] = []
        taken = [0] * self.envs.num_envs
        while True:
            index = [i for i, t in enumerate(taken) if t < self.rollout_steps]
            if not index:
                break
            ended, took = self._advance(
                self._open, index, [self.rollout_steps - taken[i] for i in index]
            )
            out.extend(traj for _i, traj in ended)
            for i, n in zip(index, took, strict=True):
                taken[i] += n
        for i, traj in enumerate(self._open):
            if traj.num_steps:
                out.append(traj)  # cut by the end of the collection: bootstrapped
                cont = Trajectory(traj.problem, traj.group_id, list(self._contexts[i]))
                cont.answer = traj.answer
                self._open[i] = cont
        return Rollout(out, self.rollout_steps * self.envs.num_envs)
