"""The method registry: every explainer and baseline, with what the workflow needs to run it.

An entry says what kind of method it is (``explainer`` or ``baseline``), which scopes it values in, which
coalition design (utility table) it reads, its settings (a JSON-schema ``properties`` fragment with
defaults, which becomes ``baselines.<name>`` in the config schema) and its ``run`` entry point. The
workflow builds the config schema's enums, the wildcard patterns, the report order and the rule scripts'
dispatch from :data:`METHODS`, so a new baseline is one module that calls :func:`register`:

.. code-block:: python

    import numpy as np
    from fastdatashapley.methods import Method, register

    def run(ctx):                       # ctx: BaselineContext
        values = ...                    # [n] (global) or [n, T, m] (per_sample)
        return values, 0                # (values, retrained sub-models), or a games.ValuationResult

    register(Method("my_method", "baseline", run, settings={"k": {"type": "integer", "default": 5}}))

Name the module in the config's ``plugins`` list (a ``.py`` path or a module name) and add ``my_method``
to ``baselines.methods``. Each built-in method is one module here holding its adapter (how it calls the
estimators of :mod:`fastdatashapley.games` on the engine or a utility table); :func:`value` runs any method and
returns a :class:`~fastdatashapley.games.ValuationResult`. No module here imports torch at import time, so report
rules can read the registry without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..base.registry import Registry
from ..games.result import ValuationResult
from ..games.scorers import GLOBAL, PER_SAMPLE, SCOPES, Scorer  # noqa: F401  (GLOBAL: for plugins)

#: Kinds of method.
EXPLAINER, BASELINE = "explainer", "baseline"


@dataclass(frozen=True)
class Method:
    """One valuation method.

    ``run(ctx)`` returns a :class:`~fastdatashapley.games.ValuationResult` (or a plugin's ``(values, retrained)``):
    values ``[n]`` (global) or ``[n, T, m]`` (per sample) and the number of sub-models it retrained; for explainers
    ``ctx`` is an :class:`ExplainerContext` and ``run`` returns the fitted
    :class:`~fastdatashapley.explainers.Explainer`. ``design`` names the coalition design
    whose utility table the method reads (explainers: the table it trains on), with the ``trainer`` used
    for it unless the config says otherwise. ``settings`` is the JSON-schema ``properties`` of the
    method's config section. ``fixed``: explainer settings the method always uses, whatever the ``explainers``
    section says (the paper's FDS keeps the paper's loss and head).
    """

    name: str
    kind: str
    run: Callable[[Any], Any]
    scopes: tuple[str, ...] = SCOPES
    design: str | None = None
    trainer: str = "full"
    settings: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    fixed: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in (EXPLAINER, BASELINE):
            raise ValueError(f"method {self.name!r}: kind must be {EXPLAINER!r} or {BASELINE!r}, got {self.kind!r}")
        bad = sorted(set(self.scopes) - set(SCOPES))
        if bad or not self.scopes:
            raise ValueError(f"method {self.name!r}: scopes must be a non-empty subset of {SCOPES}, got {self.scopes}")
        if self.kind == EXPLAINER and (self.scopes != (PER_SAMPLE,) or self.design is None):
            raise ValueError(f"explainer {self.name!r} must value per sample and name the design it trains on")
        if self.trainer not in ("full", "approx"):
            raise ValueError(f"method {self.name!r}: trainer must be 'full' or 'approx', got {self.trainer!r}")


METHODS: Registry[Method] = Registry("method")


def register(method: Method) -> Method:
    """Add ``method`` to :data:`METHODS` (its name must be new)."""
    return METHODS.register(method)


def of_kind(kind: str) -> list[Method]:
    """Registered methods of ``kind``, in registration order."""
    return [m for m in METHODS if m.kind == kind]


@dataclass
class BaselineContext:
    """What a baseline's ``run`` gets: the split, the service model, its scope, settings and the seed.

    split holds ``x_train [n, C, H, W]``, ``y_train [n]``, ``x_test [T, C, H, W]``, ``y_test [T]`` and
    ``idx_test [T]``; ``table`` is the path of the method's design table (or None); ``n_classes`` is m.
    """

    split: dict[str, np.ndarray]
    service: Any
    scope: str
    settings: dict[str, Any]
    seed: int
    device: str = "auto"
    table: str | None = None
    _engine: Any = field(default=None, init=False, repr=False)

    @property
    def n(self) -> int:
        return len(self.split["y_train"])

    @property
    def n_classes(self) -> int:
        return int(self.service.spec.n_classes)

    def test_table(self) -> tuple[np.ndarray, np.ndarray]:
        """The method's design table over the test samples: masks ``[S, n]`` and the scope's utility of each row,
        ``[S]`` (test accuracy) or ``[S, T, m]`` (softmax), in the split's test order."""
        from ..engine.utility_table import UtilityTable

        table = UtilityTable.load(self.table)
        cols = np.flatnonzero(np.isin(table.probe_ids, self.split["idx_test"]))
        if not np.array_equal(table.probe_ids[cols], self.split["idx_test"]):
            raise ValueError(f"utility table {self.table} does not hold the split's test samples in order")
        return table.masks, self.scorer()(table.utilities[:, cols].astype(np.float64))

    def scorer(self) -> Scorer:
        """The utility of this scope from per-label outputs ``[k, T, m]``: test accuracy, or the outputs."""
        return Scorer(self.scope, self.split["y_test"])

    def engine(self):
        """The batched engine as a utility over this scope (created once; it counts its retrainings)."""
        if self._engine is None:
            from ..engine.engine_utility import EngineUtility
            from ..engine.retrainer import Retrainer

            s = self.split
            retrainer = Retrainer(self.service.spec, self.service.null_state, s["x_train"], s["y_train"],
                                  seed=self.seed, device=self.device)
            self._engine = EngineUtility(retrainer, s["x_test"], self.scorer())
        return self._engine


@dataclass
class ExplainerContext:
    """What an explainer's ``run`` gets: its utility table, the probes, the service model and D.

    probes holds ``x [P, C, H, W]`` and ``role [P]`` in the table's probe order; ``settings`` is an
    :class:`~fastdatashapley.explainers.ExplainerSettings`; ``groups`` a partition of range(n) or None.
    """

    method: str
    table: Any
    probes: dict[str, np.ndarray]
    service: Any
    x_train: np.ndarray
    y_train: np.ndarray
    settings: Any
    groups: list[np.ndarray] | None = None


def value(name: str, ctx: BaselineContext) -> ValuationResult:
    """Run baseline ``name`` on ``ctx``, timed: its :class:`~fastdatashapley.games.ValuationResult`, with
    ``info["seconds"]`` (wall time of the run)."""
    import time

    t0 = time.perf_counter()
    result = ValuationResult.of(METHODS.get(name).run(ctx))
    result.info.setdefault("seconds", time.perf_counter() - t0)
    return result


def fit(name: str, ctx: ExplainerContext, x_test: np.ndarray) -> tuple[Any, ValuationResult]:
    """Fit explainer ``name`` on ``ctx`` and value ``x_test [T, C, H, W]``: the fitted
    :class:`~fastdatashapley.explainers.Explainer` and its values ``[n, T, m]`` as a result, with the training
    seconds, epochs, best validation loss and the seconds per valued sample in ``info``."""
    import time

    t0 = time.perf_counter()
    explainer = METHODS.get(name).run(ctx)
    seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    values = explainer.values(x_test).transpose(1, 0, 2)  # [n, T, m]
    latency = (time.perf_counter() - t1) / len(x_test)
    info = {"seconds": seconds, "epochs": len(explainer.history), "best_val_loss": explainer.meta["best_val_loss"],
            "seconds_per_sample": latency}
    return explainer, ValuationResult(values, ctx.table.n_coalitions + 1, info=info)


#: The paper's methods, imported first and in this order (the report order); any other module in this package
#: is imported after them, alphabetically, so a new built-in method is one new module here.
BUILTINS = ("explainers", "loo", "tmc", "group_testing", "cs_shapley", "freeshap", "random_values", "banzhaf",
            "datamodel")


def _load_builtins() -> None:
    import importlib
    import pkgutil

    others = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in BUILTINS)
    for module in (*BUILTINS, *others):
        importlib.import_module(f"{__name__}.{module}")


_load_builtins()
