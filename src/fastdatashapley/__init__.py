"""fastdatashapley: per-prediction training data valuation (Fast-DataShapley).

The package is layered; a module imports only from its own layer and the layers below it (tests/test_layers.py):

0. ``base``: registry, io, checks, devices, chunked prediction
1. ``data``: datasets and the seeded split
2. ``games``: coalitions, designs, utilities, stopping rules, the permutation walk, the estimators
3. ``engine``: the service model, the batched retraining engine, the utility table
4. ``explainers``: the FDS networks, loss, training, file format and payout
5. ``methods``: the method registry, one module per method
6. ``evaluation``: removal, LDS, mislabel detection, statistics, tables and figures
7. ``workflow``: config schema and checks, provenance, logging
8. ``cli``: the ``fastdatashapley`` command
"""

__version__ = "0.1.0"

#: The layers, lowest first (the top-level ``cli`` module is the last).
LAYERS = ("base", "data", "games", "engine", "explainers", "methods", "evaluation", "workflow", "cli")

