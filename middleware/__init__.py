"""pipezero.middleware: the composable pipeline steps."""
