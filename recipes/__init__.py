"""The recipes: one module per algorithm x environment, each a ``CONFIG`` and a
``build(run) -> Task`` listing its chain (see :mod:`pipezero.recipe`). Installed as
``pipezero.recipes``; run one with ``pipezero train NAME`` or ``python recipes/NAME.py``."""
