"""The explainers (layer 4): a network phi_theta(x) -> values ``[n, m]`` trained on a utility table.

:mod:`.loss` (the FDS loss, normalisation, GFDS+ penalty and split), :mod:`.nets` (the networks),
:mod:`.model` (:class:`Explainer`: shapes, input checks, inference on the CPU or a GPU), :mod:`.file_format`
(the self-contained file), :mod:`.training` (:func:`fit_explainer`, :class:`ExplainerSettings`) and
:mod:`.payout` (splitting a payment by the values).
"""

from .model import Explainer
from .payout import split_payment
from .training import ExplainerSettings, fit_explainer

__all__ = ["Explainer", "ExplainerSettings", "fit_explainer", "split_payment"]
