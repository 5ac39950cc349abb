"""The ``pipezero`` command: play a trained agent (or a bot) in the terminal.

    pipezero play tictactoe runs/alphazero_tictactoe           # run directory: best.pt
    pipezero play connect4 runs/alphazero_connect4/ckpt/final.pt --second
    pipezero play gomoku runs/alphazero_gomoku --simulations 400
    pipezero play tictactoe minimax                            # no checkpoint: a bot

Type ``help`` for how to enter a move and ``quit`` (or Ctrl-D) to leave. An illegal or
unreadable move is explained and asked again; it never ends the game.
"""

from __future__ import annotations

import argparse
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
    parser = argparse.ArgumentParser(prog="pipezero", description="pipezero command line")
    commands = parser.add_subparsers(dest="command", required=True)
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


def main(
    argv: list[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    """Entry point of the ``pipezero`` console script."""
    args = build_parser().parse_args(argv)
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    try:
        return play(args, stdin, stdout)
    except KeyboardInterrupt:
        stdout.write("\nGame abandoned.\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
