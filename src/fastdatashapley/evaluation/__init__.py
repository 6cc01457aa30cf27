"""Evaluation (layer 6): value-loss removal (:mod:`.removal`), agreement with exact values (:mod:`.accuracy`), the
field's yardsticks (LDS :mod:`.lds`, mislabel detection :mod:`.mislabel`, accuracy against budget :mod:`.budget`),
their uncertainty (:mod:`.stats`), and the tables (:mod:`.tables`) and figures (:mod:`.figures`).

Everything but :mod:`.removal` reads value arrays and utility-table slices with numpy, scipy, pandas and (inside the
plotting functions) matplotlib; nothing imports torch, so report rules run without it.
"""
