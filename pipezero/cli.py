"""The ``pipezero`` command: list, train, evaluate, render and play the recipes.

    pipezero list                                   # the recipes, one line each
    pipezero train muzero_cartpole --seed 1 --set policy.num_simulations=50
    pipezero train muzero_cartpole --resume latest  # the newest run of the recipe
    pipezero eval runs/muzero_cartpole/RUN --episodes 32 [--ckpt best|final|PATH]
    pipezero eval runs/muzero_cartpole/RUN --save-trajectories eval.npz  # + game segments
    pipezero eval RUN --set policy.eval_num_simulations=100             # a bigger search
    pipezero render runs/muzero_cartpole/RUN --out cartpole.gif
    pipezero play tictactoe runs/alphazero_tictactoe/RUN       # run directory: best.pt
    pipezero play connect4 runs/alphazero_connect4/ckpt/final.pt --second
    pipezero play gomoku runs/alphazero_gomoku --simulations 400
    pipezero play tictactoe minimax                            # no checkpoint: a bot

``pipezero train NAME --help`` lists the flags every recipe takes (those of ``python
recipes/NAME.py``). In ``play``, type ``help`` for how to enter a move and ``quit`` (or
Ctrl-D) to leave. An illegal or unreadable move is explained and asked again; it never ends
the game.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TextIO

from pipezero.envs.board import GAMES, OPPONENTS, BoardGame, make_game, make_opponent

QUIT = ("q", "quit", "exit")
HELP = ("h", "help", "?")


def board_text(game: BoardGame) -> str:
    """The board with coordinates: TicTacToe shows the numbers of the empty cells, Connect4
    the column numbers, Gomoku column letters and row numbers."""
    marks = [".", "X", "O"]
    if game.name == "tictactoe":
        cells = [marks[v] if v else str(i + 1) for i, v in enumerate(game.board.tolist())]
        rows = [" " + " | ".join(cells[r * 3 : r * 3 + 3]) for r in range(3)]
        return "\n---+---+---\n".join(rows)
    board = game.board.reshape(game.rows, game.cols).tolist()
    if game.name == "connect4":
        lines = [" ".join(marks[v] for v in row) for row in board]
        lines.append(" ".join(str(c + 1) for c in range(game.cols)))
        return "\n".join(lines)
    header = "   " + " ".join(chr(ord("a") + c) for c in range(game.cols))
    lines = [f"{r + 1:>2} " + " ".join(marks[v] for v in row) for r, row in enumerate(board)]
    return "\n".join([header, *lines])


def ask_move(game: BoardGame, stdin: TextIO, out: TextIO) -> int | None:
    """Prompt until the person types a legal move; ``None`` when they quit (or input ends)."""
    mark = "X" if game.to_play == 1 else "O"
    while True:
        out.write(f"Your move ({mark}), 'help' or 'quit': ")
        out.flush()
        line = stdin.readline()
        if not line:  # end of input
            out.write("\n")
            return None
        text = line.strip()
        if text.lower() in QUIT:
            return None
        if text.lower() in HELP or not text:
            out.write(f"How to move: {game.input_hint()}\n")
            continue
        try:
            return game.parse_action(text)
        except ValueError as err:
            out.write(f"Illegal move: {err}. Try again.\n")


def load_opponent(name_or_path: str, game_name: str, simulations: int | None, seed: int):
    """A bot by name (``random``, ``rule_bot``, ``minimax``) or a trained agent from a
    checkpoint / run directory; returns ``(player, game)``."""
    if name_or_path in OPPONENTS:
        return make_opponent(name_or_path, seed=seed), make_game(game_name)
    from pipezero.policy.board_checkpoint import load_board_player

    player, game, _ = load_board_player(name_or_path, game_name, simulations)
    return player, game


def play(args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    """One game between the person and the agent; returns the exit code."""
    try:
        agent, game = load_opponent(args.checkpoint, args.game, args.simulations, args.seed)
    except (FileNotFoundError, ValueError) as err:
        out.write(f"pipezero play: {err}\n")
        return 2
    game.reset()
    human = 2 if args.second else 1
    out.write(
        f"{args.game}: you are {'X (first)' if human == 1 else 'O (second)'}; {game.input_hint()}\n"
    )
    while not game.done:
        out.write("\n" + board_text(game) + "\n")
        if game.to_play == human:
            action = ask_move(game, stdin, out)
            if action is None:
                out.write("Game abandoned.\n")
                return 0
        else:
            action = int(agent.act(game))
            out.write(f"Agent plays {game.action_to_str(action)}\n")
        game.step(action)
    out.write("\n" + board_text(game) + "\n")
    if game.winner == 0:
        out.write("Draw.\n")
    elif game.winner == human:
        out.write("You win!\n")
    else:
        out.write("The agent wins.\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipezero",
        description="pipezero: train, evaluate, render and play MCTS agents",
        epilog="pipezero train NAME --help: the flags of every recipe",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the recipes with their one-line descriptions")
    t = commands.add_parser("train", help="train a recipe: pipezero train NAME [flags]")
    t.add_argument("recipe", help="a recipe name (pipezero list) or a recipe .py file")
    t.add_argument("flags", nargs=argparse.REMAINDER, help="the recipe's flags")
    e = commands.add_parser("eval", help="evaluate a trained run, print JSON")
    _run_args(e)
    e.add_argument("--episodes", type=int, default=None, help="episodes (default: the run's)")
    e.add_argument(
        "--save-trajectories",
        metavar="FILE.npz",
        default=None,
        help="also write the evaluation episodes as game segments (replay-buffer input)",
    )
    r = commands.add_parser("render", help="write evaluation episodes as a GIF")
    _run_args(r)
    r.add_argument("--episodes", type=int, default=1, help="episodes to record")
    r.add_argument("--out", required=True, help="the .gif file to write")
    r.add_argument("--fps", type=int, default=30, help="frames per second")
    p = commands.add_parser("play", help="play a trained agent or a bot in the terminal")
    p.add_argument("game", choices=sorted(GAMES))
    p.add_argument(
        "checkpoint",
        help=f"a run directory or .pt checkpoint, or a bot: {', '.join(sorted(OPPONENTS))}",
    )
    p.add_argument("--second", action="store_true", help="let the agent move first")
    p.add_argument("--simulations", type=int, default=None, help="agent's search budget")
    p.add_argument("--seed", type=int, default=0, help="seed of a bot opponent")
    return parser


def _run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="the run directory (holds config.json and ckpt/)")
    parser.add_argument("--ckpt", default="best", help="best, final or a checkpoint path")
    parser.add_argument(
        "--seed", type=int, default=None, help="environment seed (default: fresh episodes)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the run's saved config for this evaluation, repeatable: "
        "--set policy.eval_num_simulations=100",
    )


def list_recipes(out: TextIO) -> int:
    from pipezero.recipe import describe, recipe_names

    names = recipe_names()
    width = max(len(n) for n in names)
    for name in names:
        out.write(f"{name:<{width}}  {describe(name)}\n")
    return 0


def evaluate(args: argparse.Namespace, out: TextIO) -> int:
    from pipezero.evaluate import eval_run

    result = eval_run(
        args.run_dir,
        ckpt=args.ckpt,
        episodes=args.episodes,
        seed=args.seed,
        device=args.device,
        save_trajectories=args.save_trajectories,
        overrides=args.set,
    )
    out.write(json.dumps(result, default=str) + "\n")
    return 0


def render(args: argparse.Namespace, out: TextIO) -> int:
    from pipezero.render import render_run

    result = render_run(
        args.run_dir,
        args.out,
        ckpt=args.ckpt,
        episodes=args.episodes,
        seed=args.seed,
        device=args.device,
        fps=args.fps,
        overrides=args.set,
    )
    out.write(json.dumps(result, default=str) + "\n")
    return 0


def main(
    argv: list[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    """Entry point of the ``pipezero`` console script; returns the exit code (2: a usage
    error, shown as one line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    parser = build_parser()
    if argv[:1] == ["train"] and len(argv) > 1 and not argv[1].startswith("-"):
        from pipezero.recipe import train

        try:
            train(argv[1], argv[2:], prog=f"pipezero train {argv[1]}")
        except ValueError as err:  # an unknown recipe
            parser.error(str(err))
        return 0
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return list_recipes(stdout)
        if args.command == "train":  # a flag before the recipe name
            parser.error("pipezero train needs a recipe name first (pipezero list shows them)")
        if args.command in ("eval", "render"):
            from pipezero.recipe import UsageError

            try:
                return evaluate(args, stdout) if args.command == "eval" else render(args, stdout)
            except UsageError as err:
                sys.stderr.write(f"pipezero {args.command}: {err}\n")
                return 2
        return play(args, stdin, stdout)
    except KeyboardInterrupt:
        stdout.write("\nGame abandoned.\n" if args.command == "play" else "\nInterrupted.\n")
        return 130
    except BrokenPipeError:  # the output went to a pipe closed early (`pipezero list | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
