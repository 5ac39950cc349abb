"""pipezero.envs."""
