"""Upper bounds of the budget keys of a run: the schema's ``maximum`` of every coalition and permutation count.

They are far above what any shipped config asks for (at most 20,480 coalitions and 1000 permutations) and low
enough that no design, no dry run's plan and no Monte Carlo baseline's draws grow without bound: a design of
``MAX_COALITIONS`` rows over 1000 points is 2 GiB of masks.
"""

#: Rows of one coalition design (a utility table): ``coalitions.<design>``, ``evaluation.lds.subsets``, each of
#: ``budget_curve.budgets`` and ``baselines.group_testing.n_samples``.
MAX_COALITIONS = 2**21
#: Permutations (and CS-Shapley's contexts) of a Monte Carlo baseline; FreeShap draws all of them at once
#: (``[P, n]`` int64: 800 MB at n = 1000).
MAX_PERMUTATIONS = 100_000
