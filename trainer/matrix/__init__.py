"""A grid of cells: the job graph and its cost estimate, one job on files (locked, resumable), the
engines that run jobs here or on Ray, results and summaries, the console, and ``run.run_matrix``.
"""
