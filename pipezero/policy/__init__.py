"""pipezero.policy."""
