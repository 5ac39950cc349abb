"""pipezero.distributed."""
