"""The field's yardsticks: the linear datamodeling score (``lds``), mislabeled-data detection
(``mislabel``), their uncertainty (``stats``), accuracy against the retraining budget (``budget``) and figures
(``plots``).

Everything here reads value arrays and utility-table slices and needs only numpy, scipy, pandas and
(inside the plotting functions) matplotlib; nothing imports torch, so report rules run without it.
"""

from .budget import CURVE_COLUMNS, BudgetPoint, budget_verdicts, lds_curve
from .lds import LDS_STREAM, lds, lds_masks, lds_own_label, lds_summary
from .mislabel import (
    MISLABEL_STREAM,
    bootstrap_aurocs,
    detection,
    detection_curve,
    flip_labels,
    mislabel_summary,
    own_label_values,
    point_scores,
)
from .plots import plot_budget_curve, plot_detection_curves
from .stats import SEED_SUMMARIES, bootstrap_ci, seeds_summary, seeds_table, wilcoxon_p

__all__ = [
    "CURVE_COLUMNS",
    "LDS_STREAM",
    "SEED_SUMMARIES",
    "MISLABEL_STREAM",
    "bootstrap_aurocs",
    "BudgetPoint",
    "bootstrap_ci",
    "budget_verdicts",
    "detection",
    "detection_curve",
    "flip_labels",
    "lds",
    "lds_curve",
    "lds_masks",
    "lds_own_label",
    "lds_summary",
    "mislabel_summary",
    "own_label_values",
    "plot_budget_curve",
    "plot_detection_curves",
    "point_scores",
    "seeds_summary",
    "seeds_table",
    "wilcoxon_p",
]
