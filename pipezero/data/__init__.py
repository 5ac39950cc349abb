"""pipezero.data."""
