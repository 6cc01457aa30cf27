"""The explainers, each trained on its own coalition design's utility table.

FDS: kernel design with the full trainer (with the explainers section's loss, head and output scale);
fds_paper: the same table with the paper's loss, head and scale, whatever the section says. AFDS: kernel design with the approximate (K-epoch) trainer.
GFDS: per-group games (group design). GFDS+: groups as players (group-coalition design). fast_banzhaf: the
amortised Data Banzhaf value, trained on uniform subsets (banzhaf design) with the Banzhaf regression loss and
the free head; a different value from the Shapley rows.
"""

from __future__ import annotations

from . import EXPLAINER, METHODS, PER_SAMPLE, ExplainerContext, Method, register

#: Explainers whose players are the groups (GFDS+): trained with the group split or penalty.
GROUP_PLAYERS = ("gfds+",)
#: Explainers of Banzhaf values (the others give Shapley values).
BANZHAF_VALUES = ("fast_banzhaf",)


def run(ctx: ExplainerContext):
    """Fit the explainer ``ctx.method`` on ``ctx.table``; returns the :class:`~fastdatashapley.explainers.Explainer`."""
    from ..explainers.training import fit_explainer

    return fit_explainer(ctx.table, ctx.probes["x"], ctx.probes["role"], ctx.service, ctx.x_train, ctx.y_train,
                         method=ctx.method, groups=ctx.groups, group_players=ctx.method in GROUP_PLAYERS,
                         value="banzhaf" if ctx.method in BANZHAF_VALUES else "shapley", settings=ctx.settings)


#: The paper's FDS, whatever the explainers section says: the sampled loss, the free n x m head, unscaled outputs.
PAPER = {"loss": "sampled", "head": "free", "per_point": False}
#: fast_banzhaf keeps the free head whatever the section says: on uniform subsets it fits each point's own value
#: (LDS 0.534 at n = 1000, against 0.317 with the two-tower head; docs/scale.md).
BANZHAF_HEAD = {"head": "free"}

def section_settings(method: str, section: dict) -> dict:
    """The settings explainer ``method`` trains with, from the config's ``explainers`` section: the section less
    its per-method keys, with the method's own ``lr`` (``lr_by_method``) and ``trainer``, and its fixed settings
    last. Only what this method depends on, so editing another method's trainer or lr does not rerun it."""
    keep = {k: v for k, v in section.items() if k not in ("methods", "trainer", "lr_by_method")}
    lr = section.get("lr_by_method", {}).get(method, section["lr"])
    return {**keep, "lr": lr, "trainer": section["trainer"][method], **METHODS.get(method).fixed}


for _name, _design, _trainer, _text, _fixed in (
    ("fds", "kernel", "full", "Fast-DataShapley", {}),
    ("fds_paper", "kernel", "full", "Fast-DataShapley exactly as the paper trains it", PAPER),
    ("afds", "kernel", "approx", "FDS on approximate (K-epoch) utilities", {}),
    ("gfds", "gfds", "approx", "FDS over per-group games", {}),
    ("gfds+", "gfds_plus", "approx", "FDS with groups as players", {}),
    ("fast_banzhaf", "banzhaf", "full", "amortised Data Banzhaf (not a Shapley value)", BANZHAF_HEAD),
):
    register(Method(_name, EXPLAINER, run, scopes=(PER_SAMPLE,), design=_design, trainer=_trainer, description=_text,
                    fixed=_fixed))
