"""A small, slow, pure-Python reference search, written from the papers with node objects.

It shares no code with the C++ core: nodes are objects with dicts of children, every formula
is spelled out as in MuZero (appendix B), EfficientZero, Gumbel MuZero and Sampled MuZero.
Only the conventions the core documents are shared: values are seen by the player to move,
the root counts its own evaluation as a visit, priors are stored as float32, ties within
1e-12 are broken by the SplitMix64 stream of each tree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
TIE = 1e-12


class SplitMix64:
    """The tie-breaking generator of tree ``tree`` for a given seed."""

    def __init__(self, seed: int, tree: int) -> None:
        self.state = (seed + (tree + 1) * GOLDEN) & MASK64

    def next(self) -> int:
        self.state = (self.state + GOLDEN) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


def as_f32(x: float) -> float:
    return float(np.float32(x))


def masked_softmax(logits: list[float], legal: list[bool]) -> dict[int, float]:
    """Prior of every legal action (float32-rounded, as the core stores them)."""
    top = max(x for x, ok in zip(logits, legal, strict=True) if ok)
    weights = {
        a: math.exp(x - top) for a, (x, ok) in enumerate(zip(logits, legal, strict=True)) if ok
    }
    total = sum(weights.values())
    return {a: as_f32(w / total) for a, w in weights.items()}


@dataclass
class Node:
    to_play: int
    depth: int
    prior: dict[int, float]  # legal actions only; empty for a terminal state
    raw_value: float
    reward: float = 0.0
    value_prefix: float = 0.0
    fixed: bool = False
    state: Any = None  # whatever the evaluator needs to expand this node's children
    children: dict[int, Node] = field(default_factory=dict)
    visits: int = 0
    value_sum: float = 0.0

    def value(self) -> float:
        return self.value_sum / self.visits


# evaluate(parent, action) -> (prior of the legal actions, value, reward or value prefix,
#                              to_play or None to alternate, state for the child's children)
Evaluator = Callable[[Node, int], tuple[dict[int, float], float, float, int | None, Any]]


def sign(parent: Node, child: Node) -> float:
    """-1 when two different players move at parent and child (zero-sum), else +1."""
    return (
        -1.0
        if parent.to_play > 0 and child.to_play > 0 and parent.to_play != child.to_play
        else 1.0
    )


def halving_schedule(m: int, n: int) -> list[int]:
    """Visits the Gumbel root action must already have at each of the n simulations."""
    if m <= 1:
        return list(range(n))
    rounds = math.ceil(math.log2(m))
    schedule: list[int] = []
    alive, done = m, 0
    while len(schedule) < n:
        each = max(1, n // (rounds * alive))
        for visit in range(done, done + each):
            schedule += [visit] * alive
        done += each
        alive = max(2, alive // 2)
    return schedule[:n]


class ReferenceTree:
    """One search tree; ``run`` performs every simulation."""

    def __init__(self, root: Node, evaluate: Evaluator, cfg: dict[str, Any], tree: int) -> None:
        self.root, self.evaluate, self.cfg = root, evaluate, cfg
        self.rng = SplitMix64(cfg["seed"], tree)
        self.q_min, self.q_max = math.inf, -math.inf
        self.gumbel: list[float] = cfg.get("gumbel_row") or [0.0] * cfg["num_actions"]
        self.reuse: tuple[int, float, float] | None = cfg.get("reuse")
        root.visits, root.value_sum = 1, root.raw_value
        m = min(len(root.prior), cfg["max_num_considered_actions"])
        self.schedule = halving_schedule(m, cfg["num_simulations"])

    # -- search ----------------------------------------------------------------------------

    def run(self) -> None:
        for sim in range(self.cfg["num_simulations"]):
            path = [self.root]
            node = self.root
            while node.prior and not node.fixed:
                action = self.select(node, sim)
                if action in node.children:
                    node = node.children[action]
                    path.append(node)
                    continue
                node.children[action] = child = self.new_child(node, action)
                path.append(child)
                break
            self.backup(path)

    def new_child(self, parent: Node, action: int) -> Node:
        if parent is self.root and self.reuse is not None and self.reuse[0] == action:
            _, value, reward = self.reuse
            return Node(other_player(parent.to_play), 1, {}, value, reward, fixed=True)
        prior, value, out_reward, to_play, state = self.evaluate(parent, action)
        if to_play is None:
            to_play = other_player(parent.to_play)
        child = Node(to_play, parent.depth + 1, prior, value, state=state)
        if self.cfg["value_prefix"]:
            child.value_prefix = out_reward
            child.reward = out_reward - (0.0 if self.resets(parent) else parent.value_prefix)
        else:
            child.reward = out_reward
        return child

    def resets(self, node: Node) -> bool:
        horizon = self.cfg["lstm_horizon_len"]
        return node.depth == 0 or (horizon > 0 and node.depth % horizon == 0)

    def backup(self, path: list[Node]) -> None:
        leaf = path[-1]
        g = leaf.raw_value
        leaf.visits += 1
        leaf.value_sum += g
        for parent, child in zip(reversed(path[:-1]), reversed(path[1:]), strict=True):
            s = sign(parent, child)
            q = child.reward + self.cfg["discount"] * s * child.value()
            self.q_min, self.q_max = min(self.q_min, q), max(self.q_max, q)
            g = child.reward + self.cfg["discount"] * s * g
            parent.visits += 1
            parent.value_sum += g

    def q(self, parent: Node, child: Node) -> float:
        return child.reward + self.cfg["discount"] * sign(parent, child) * child.value()

    # -- selection -------------------------------------------------------------------------

    def pick(self, scores: dict[int, float]) -> int:
        best = max(scores.values())
        ties = [a for a in sorted(scores) if scores[a] >= best - TIE]
        return ties[0] if len(ties) == 1 else ties[self.rng.next() % len(ties)]

    def select(self, node: Node, sim: int) -> int:
        if self.cfg["selection"] == "gumbel":
            return self.gumbel_root(sim) if node is self.root else self.gumbel_interior(node)
        return self.puct(node)

    def puct(self, node: Node) -> int:
        c = self.cfg
        n_parent = node.visits
        explore = (
            math.log((n_parent + c["pb_c_base"] + 1) / c["pb_c_base"]) + c["pb_c_init"]
        ) * math.sqrt(n_parent)
        scores = {}
        for a, p in node.prior.items():
            child = node.children.get(a)
            q_norm, n_child = 0.0, 0
            if child is not None:
                q_norm, n_child = self.normalize(self.q(node, child)), child.visits
            scores[a] = q_norm + explore * p / (1 + n_child)
        return self.pick(scores)

    def normalize(self, q: float) -> float:
        if self.q_max < self.q_min:
            return 0.0
        span = max(self.q_max - self.q_min, self.cfg["value_delta_max"])
        return min(1.0, max(0.0, (q - self.q_min) / span))

    def sigma(self, node: Node) -> dict[int, float]:
        """sigma(completed Q) over the legal actions of node (Gumbel MuZero, eq. 10-11)."""
        visited = {a: ch for a, ch in node.children.items() if a in node.prior}
        total = sum(ch.visits for ch in visited.values())
        most = max((ch.visits for ch in visited.values()), default=0)
        v_mix = node.raw_value
        if total > 0:
            probs = {a: max(node.prior[a], 1e-30) for a in visited}
            mean_q = sum(probs[a] * self.q(node, ch) for a, ch in visited.items()) / sum(
                probs.values()
            )
            v_mix = (node.raw_value + total * mean_q) / (1 + total)
        completed = {a: self.q(node, visited[a]) if a in visited else v_mix for a in node.prior}
        lo, hi = min(completed.values()), max(completed.values())
        scale = (self.cfg["maxvisit_init"] + most) * self.cfg["value_scale"] / max(hi - lo, 1e-8)
        return {a: (q - lo) * scale for a, q in completed.items()}

    def gumbel_root(self, sim: int) -> int:
        sigma = self.sigma(self.root)
        want = self.schedule[sim]
        scores = {
            a: self.gumbel[a] + math.log(p) + sigma[a]
            for a, p in self.root.prior.items()
            if (self.root.children[a].visits if a in self.root.children else 0) == want
        }
        if not scores:
            scores = {
                a: self.gumbel[a] + math.log(p) + sigma[a] for a, p in self.root.prior.items()
            }
        return self.pick(scores)

    def gumbel_interior(self, node: Node) -> int:
        improved = self.improved_policy(node)
        total = sum(ch.visits for ch in node.children.values())
        return self.pick(
            {
                a: pi - (node.children[a].visits if a in node.children else 0) / (1 + total)
                for a, pi in improved.items()
            }
        )

    def improved_policy(self, node: Node) -> dict[int, float]:
        sigma = self.sigma(node)
        z = {a: math.log(p) + sigma[a] for a, p in node.prior.items()}
        top = max(z.values())
        e = {a: math.exp(v - top) for a, v in z.items()}
        total = sum(e.values())
        return {a: v / total for a, v in e.items()}

    def gumbel_action(self) -> int:
        visits = {
            a: (self.root.children[a].visits if a in self.root.children else 0)
            for a in self.root.prior
        }
        most = max(visits.values())
        sigma = self.sigma(self.root)
        best, best_score = -1, -math.inf
        for a in sorted(self.root.prior):
            score = self.gumbel[a] + math.log(self.root.prior[a]) + sigma[a]
            if visits[a] == most and (best < 0 or score > best_score):
                best, best_score = a, score
        return best

    # -- results ---------------------------------------------------------------------------

    def visit_counts(self) -> list[int]:
        return [
            self.root.children[a].visits if a in self.root.children else 0
            for a in range(self.cfg["num_actions"])
        ]


def other_player(player: int) -> int:
    return -1 if player < 0 else 3 - player
