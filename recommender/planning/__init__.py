"""Which runs to do next: the planner (``plan``), its belief and costs, and the simulation that checks it."""
