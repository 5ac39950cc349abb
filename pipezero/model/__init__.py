"""pipezero.model."""
