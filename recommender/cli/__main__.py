"""``python -m recommender.cli``: the same as ``stepstone``."""

from recommender.cli import main

main()
