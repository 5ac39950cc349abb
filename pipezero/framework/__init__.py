"""pipezero.framework."""
