"""FreeShap (Wang et al. 2024): TMC over kernel ridge regression on the service model's empirical NTK."""

from __future__ import annotations

from ..games import FreeShapSettings, Truncation, ValuationResult, freeshap_values, freeshap_values_global
from ..games.limits import MAX_PERMUTATIONS
from ..games.scorers import GLOBAL
from . import BASELINE, BaselineContext, Method, register

SETTINGS = {
    "n_permutations": {"type": "integer", "minimum": 1, "maximum": MAX_PERMUTATIONS, "default": 500},
    "ridge": {"type": "number", "exclusiveMinimum": 0, "default": 1.0e-6},
    "tolerance": {"type": "number", "minimum": 0, "default": 0.01},
}


def run(ctx: BaselineContext) -> ValuationResult:
    """FreeShap values ``[n]`` or ``[n, T, m]`` from the eNTK of the trained service model; nothing is retrained."""
    import torch

    from ..games.ntk import ntk_kernels

    s, cfg = ctx.split, ctx.settings
    settings = FreeShapSettings(ridge=cfg["ridge"], truncation=Truncation(cfg["tolerance"]), progress=True)
    net = ctx.service.spec.build()
    net.load_state_dict(ctx.service.state)
    k_train, k_test = ntk_kernels(net, torch.from_numpy(s["x_train"]), torch.from_numpy(s["x_test"]),
                                  device=ctx.device)
    kw = dict(seed=ctx.seed, settings=settings)
    if ctx.scope == GLOBAL:
        values = freeshap_values_global(k_train, k_test, s["y_train"], s["y_test"], ctx.n_classes,
                                        cfg["n_permutations"], **kw)
    else:
        values = freeshap_values(k_train, k_test, s["y_train"], ctx.n_classes, cfg["n_permutations"], **kw)
    return ValuationResult(values, 0, counts={"permutations": cfg["n_permutations"]})


register(Method("freeshap", BASELINE, run, settings=SETTINGS, description="FreeShap (NTK kernel ridge)"))
