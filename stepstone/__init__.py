"""The ``stepstone`` command: one CLI above the recommender and the trainer.

``recommender`` and ``trainer`` do not import each other (an import-linter contract says so); this
package is where they meet: it mounts both command sets, serves the API, and reads a training
matrix's results into the run store (``stepstone runs import-results``).
"""
