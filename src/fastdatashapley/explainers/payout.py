"""Payment split among data providers (paper section 2.1): c_i = phi_i / sum_j phi_j * c.

Shapley values can be negative, so a policy is needed:

* ``keep`` (the paper's formula): negative values stay, so a harmful point owes a negative share and the
  others receive more than c in total. It needs sum_j phi_j > 0.
* ``clip``: negative values become 0 before normalising, so every share is >= 0 and the shares sum to c.
  It needs at least one positive value.

When the denominator is not positive (keep: the values sum to <= 0, e.g. for a label the full model rates
lower than the null model; clip: no positive value) the split is undefined and :func:`split_payment`
raises a ValueError giving the total and the policy. There is deliberately no equal-split fallback: it
would pay providers whose data did not help this prediction. The amount is at most :data:`MAX_AMOUNT`, and a
split whose shares overflow float64 (values that sum to almost 0 under ``keep``) is a ValueError too.
"""

from __future__ import annotations

import numpy as np

POLICIES = ("keep", "clip")
#: Largest amount split (1e15: any currency's amounts, and shares stay exact to a cent in float64).
MAX_AMOUNT = 1e15


def split_payment(values: np.ndarray, amount: float, negative: str = "keep") -> np.ndarray:
    """Shares ``[n]`` of ``amount`` for values ``[n]`` under the ``negative`` policy (module docstring)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise ValueError(f"values must be a finite vector [n], got shape {list(values.shape)}")
    if negative not in POLICIES:
        raise ValueError(f"negative policy {negative!r} is unknown; choose one of {', '.join(POLICIES)}")
    if not (np.isfinite(amount) and 0 <= amount <= MAX_AMOUNT):
        raise ValueError(f"amount must be finite and >= 0 and at most {MAX_AMOUNT:g}, got {amount}")
    weights = np.clip(values, 0, None) if negative == "clip" else values
    total = weights.sum()
    if total <= 0:
        hint = "; policy 'clip' pays the positive values only" if negative == "keep" and (values > 0).any() else ""
        raise ValueError(
            f"cannot split a payment: the values sum to {total:.4g} under policy {negative!r} (needs a positive total{hint})"
        )
    with np.errstate(over="ignore"):  # an overflow is reported below
        shares = weights / total * amount
    if not np.isfinite(shares).all():
        raise ValueError(f"cannot split a payment of {amount:g}: the values sum to {total:.4g} under policy "
                         f"{negative!r}, and the shares overflow")
    return shares


def provider_totals(values: np.ndarray, of_point: np.ndarray, n_providers: int) -> np.ndarray:
    """Each provider's value: ``values [..., n]`` summed over the points of each provider, ``[..., n_providers]``;
    ``of_point [n]`` gives each point's provider in ``0..n_providers-1``."""
    values, of_point = np.asarray(values, np.float64), np.asarray(of_point, np.int64)
    if of_point.shape != values.shape[-1:]:
        raise ValueError(f"of_point must have shape [{values.shape[-1]}], got {list(of_point.shape)}")
    if len(of_point) and (of_point.min() < 0 or of_point.max() >= n_providers):
        raise ValueError(f"of_point holds providers outside 0..{n_providers - 1}")
    onehot = np.zeros((len(of_point), n_providers))
    onehot[np.arange(len(of_point)), of_point] = 1.0
    return values @ onehot
