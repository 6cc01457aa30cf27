"""The batched engine proper: train chunks of coalitions as stacked networks and read their utilities.

The rules (common random numbers, frozen models, padding weights) are in the package docstring
(:mod:`fastdatashapley.engine.training`). Here: the public entry points :func:`train_submodels` and
:func:`train_models`, the run over chunks (:func:`_run`) and one chunk's training, step by step
(:func:`_train_chunk`: minibatch plan, one step, epoch end).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...base.devices import resolve_device
from .budget import _auto_chunk, _probe_block
from .checks import _check_data, _check_images, _check_init
from .order import coalition_keys, epoch_orders
from .reference import predict_proba
from .generic import _Generic
from .paths import AUTO, stack_network
from .spec import ADAM_BETAS, ADAM_EPS, TrainerSpec, TrainingDivergedError
from .stacked import _Stacked

States = list[dict[str, torch.Tensor]]


@dataclass(frozen=True)
class RunOptions:
    """How a run is carried out: data-order ``seed``, coalitions per chunk (None: from the memory budget),
    device (``"auto"``: CUDA if available), a progress bar, whether to keep the trained weights, and the engine
    path (``"auto"``: fused when it supports the model, else generic; :mod:`.paths`)."""

    seed: int
    chunk_size: int | None = None
    device: str | torch.device = "auto"
    progress: bool = False
    keep_states: bool = False
    engine_path: str = AUTO


@dataclass
class _Job:
    """What every chunk of a run shares: prepared training inputs ``xt`` and labels ``yt`` on ``dev``,
    probes ``[P, C, H, W]`` (or None) read ``block`` at a time, and the initial weights."""

    spec: TrainerSpec
    stacked: _Stacked | _Generic
    init: dict[str, torch.Tensor]
    xt: torch.Tensor
    yt: torch.Tensor
    probes: torch.Tensor | None
    block: int
    dev: torch.device


@dataclass
class _Plan:
    """Minibatch plan of a chunk sorted by size (descending): ``steps`` (T) per epoch; at step t the first
    ``active[t]`` models step, on minibatches at most ``width[t]`` wide; row weights ``[K, T, B]`` are
    1/|batch| of each model's step t and 0 on padding rows."""

    steps: int
    active: np.ndarray
    width: np.ndarray
    weights: torch.Tensor


@dataclass
class _Models:
    """The K models of a chunk: all parameters of model k in row k of ``flat [K, D]`` (named views by
    ``shapes``), Adam moments ``m1``, ``m2`` (None for SGD), step counts ``[K, 1]`` and loss sums ``[K]``.

    ``grad`` and ``scratch`` ``[K, D]`` are reused every step (flat gradients, Adam's update), and ``xb``
    holds the gathered minibatch inputs (1-D, K * B samples), so a step allocates no large tensor of its own.
    """

    shapes: dict[str, torch.Size]
    flat: torch.Tensor
    m1: torch.Tensor | None
    m2: torch.Tensor | None
    n_steps: torch.Tensor
    loss_sum: torch.Tensor
    grad: torch.Tensor
    scratch: torch.Tensor | None
    xb: torch.Tensor


# ---------------------------------------------------------------------------------------------------
# public API


def train_submodels(
    spec: TrainerSpec,
    init: dict[str, torch.Tensor],
    x: np.ndarray,
    y: np.ndarray,
    masks: np.ndarray,
    probes: np.ndarray,
    *,
    seed: int,
    chunk_size: int | None = None,
    device: str = "auto",
    progress: bool = False,
    engine_path: str = AUTO,
) -> np.ndarray:
    """Utilities ``[k, P, m]`` float32: softmax of each coalition's sub-model on every probe, for every label.

    x: float32 ``[n, C, H, W]``; y: int64 ``[n]``; masks: bool ``[k, n]``; probes: float32 ``[P, C, H, W]``.
    ``chunk_size`` coalitions are trained together (default: from a memory budget). ``engine_path``: ``"auto"``
    (the fused path when it supports ``spec.arch``, else the generic torch.func path), ``"fused"`` or ``"generic"``.
    Raises :class:`TrainingDivergedError` naming the coalition indices whose training produced NaN/Inf.
    """
    probes = _check_images("probes", probes, spec)
    out, _ = _run(spec, init, x, y, masks, probes, RunOptions(seed, chunk_size, device, progress,
                                                              engine_path=engine_path))
    return out


def train_models(
    spec: TrainerSpec,
    init: dict[str, torch.Tensor],
    x: np.ndarray,
    y: np.ndarray,
    masks: np.ndarray,
    *,
    seed: int,
    chunk_size: int | None = None,
    device: str = "auto",
    progress: bool = False,
    engine_path: str = AUTO,
) -> States:
    """Trained weights (CPU state dicts) of each coalition in ``masks [k, n]``, batched as in
    :func:`train_submodels`."""
    opts = RunOptions(seed, chunk_size, device, progress, keep_states=True, engine_path=engine_path)
    _, states = _run(spec, init, x, y, masks, None, opts)
    return states


# ---------------------------------------------------------------------------------------------------
# the run over chunks


def _run(
    spec: TrainerSpec, init: dict[str, torch.Tensor], x: Any, y: Any, masks: Any, probes: np.ndarray | None,
    opts: RunOptions,
) -> tuple[np.ndarray | None, States]:
    """Utilities ``[k, P, m]`` (None without probes) and, with ``opts.keep_states``, the weights of every coalition.

    Coalitions run longest first (then stable by index), so the active models are always a prefix of their chunk.
    """
    from tqdm.auto import tqdm

    x, y, masks = _check_data(spec, x, y, masks)
    init = _check_init(spec, init)
    job, chunk_size = _make_job(spec, init, x, y, probes, opts)
    sizes = masks.sum(1)
    trained = np.flatnonzero(sizes > 0) if spec.epochs > 0 else np.array([], np.int64)
    out, states = _untrained_results(spec, init, len(masks), trained, probes, opts.keep_states)
    order = trained[np.argsort(-sizes[trained], kind="stable")]
    keys = coalition_keys(opts.seed, masks)
    with tqdm(total=len(masks), disable=not opts.progress, unit="coalition", desc="retraining") as bar:
        bar.update(len(masks) - len(order))
        for start in range(0, len(order), chunk_size):
            idx = order[start : start + chunk_size]
            p, utils = _train_chunk(job, masks[idx], keys[idx], idx)
            if out is not None:
                out[idx] = utils
            if opts.keep_states:
                for c, j in enumerate(idx):
                    states[j] = {k: v[c].detach().to("cpu").clone() for k, v in p.items()}
            bar.update(len(idx))
    return out, states


def _make_job(
    spec: TrainerSpec, init: dict[str, torch.Tensor], x: np.ndarray, y: np.ndarray, probes: np.ndarray | None,
    opts: RunOptions,
) -> tuple[_Job, int]:
    """The shared inputs of every chunk on the resolved device, and the chunk size (checked, or from the budget)."""
    dev = resolve_device(opts.device)
    net = spec.build()
    stacked = stack_network(spec, net, opts.engine_path)
    act = type(stacked).act_floats(net, spec.in_shape)
    chunk_size = opts.chunk_size
    if chunk_size is None:
        chunk_size = _auto_chunk(spec, act, sum(v.numel() for v in init.values()), dev)
    elif int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    chunk_size = int(chunk_size)
    xt = stacked.prepare(torch.from_numpy(x).to(dev), training=True)
    pt = torch.from_numpy(probes).to(dev) if probes is not None else None
    job = _Job(spec, stacked, init, xt, torch.from_numpy(y).to(dev), pt, _probe_block(act, chunk_size, dev), dev)
    return job, chunk_size


def _untrained_results(
    spec: TrainerSpec, init: dict[str, torch.Tensor], k_total: int, trained: np.ndarray, probes: np.ndarray | None,
    keep_states: bool,
) -> tuple[np.ndarray | None, States]:
    """Outputs ``[k, P, m]`` (None without probes) and states, filled with the null model for every coalition not
    in ``trained`` (the empty ones, or all of them when ``spec.epochs == 0``)."""
    out = np.empty((k_total, len(probes), spec.n_classes), np.float32) if probes is not None else None
    states: States = [None] * k_total  # type: ignore[list-item]
    untrained = np.setdiff1d(np.arange(k_total), trained)
    null = predict_proba(spec, init, probes) if out is not None and len(untrained) else None
    for j in untrained:
        if out is not None:
            out[j] = null
        if keep_states:
            states[j] = {k: v.clone() for k, v in init.items()}
    return out, states


# ---------------------------------------------------------------------------------------------------
# one chunk


def _train_chunk(
    job: _Job, masks: np.ndarray, keys: np.ndarray, idx: np.ndarray
) -> tuple[dict[str, torch.Tensor], np.ndarray | None]:
    """Train the K coalitions ``masks [K, n]`` (sorted by size, descending) together; return weights and utilities.

    ``keys [K]`` are their data-order keys and ``idx [K]`` their indices in the run (for error messages).
    Weights are views ``[K, *shape]``; utilities ``[K, P, m]`` float32, or None without probes. All
    parameters of model k live in row k of one flat buffer ``[K, D]``, so the optimiser is a handful of
    tensor operations per step on rows ``[:K_t]`` (the models that have a step t).
    """
    spec = job.spec
    plan = _plan(masks.sum(1), spec.batch_size, job.dev)
    models = _start_models(job.init, len(masks), spec.optimizer == "adam", job.xt, spec.batch_size)
    utils = None
    for epoch in range(spec.epochs):
        batches = _epoch_batches(keys, masks, epoch, plan.steps, spec.batch_size, job.dev)
        for t in range(plan.steps):
            _step(job, models, plan, batches, t)
        utils = _epoch_end(job, models, idx, epoch, utils)
    return _views(models.flat, models.shapes), _final_utilities(spec, utils, idx)


def _plan(sizes: np.ndarray, B: int, dev: torch.device) -> _Plan:
    """The minibatch plan of coalitions of ``sizes [K]`` (descending) with batch size ``B``."""
    steps = -(-sizes // B)  # ceil: steps per epoch of each model
    T = int(steps[0])
    active = np.array([int((steps > t).sum()) for t in range(T)])  # K_t: models with a step t (a prefix)
    width = np.array([min(B, int(sizes[0]) - t * B) for t in range(T)])  # widest minibatch at step t
    slot = np.arange(T)[:, None] * B + np.arange(B)[None, :]  # [T, B] position in the epoch order
    count = np.clip(sizes[:, None] - np.arange(T)[None, :] * B, 0, B)  # [K, T]
    valid = slot[None] < sizes[:, None, None]  # [K, T, B]
    weights = torch.from_numpy(np.where(valid, 1.0 / np.maximum(count, 1)[:, :, None], 0.0).astype(np.float32)).to(dev)
    return _Plan(T, active, width, weights)


def _start_models(init: dict[str, torch.Tensor], K: int, adam: bool, xt: torch.Tensor, B: int) -> _Models:
    """K copies of ``init`` in flat rows, zero Adam moments (if ``adam``), step counts, loss sums, and the
    step buffers (for minibatches of at most B rows of the prepared inputs ``xt``)."""
    dev = xt.device
    flat = torch.cat([v.reshape(1, -1) for v in init.values()], 1).to(dev).repeat(K, 1)
    m1 = torch.zeros_like(flat) if adam else None
    m2 = torch.zeros_like(flat) if adam else None
    n_steps = torch.zeros(K, 1, dtype=torch.float64, device=dev)
    xb = torch.empty(K * B * xt[0].numel(), dtype=xt.dtype, device=dev)
    return _Models(
        {k: v.shape for k, v in init.items()}, flat, m1, m2, n_steps, torch.zeros(K, device=dev),
        torch.empty_like(flat), torch.empty_like(flat) if adam else None, xb,
    )


def _epoch_batches(
    keys: np.ndarray, masks: np.ndarray, epoch: int, T: int, B: int, dev: torch.device
) -> torch.Tensor:
    """int64 ``[K, T, B]``: each model's epoch-``epoch`` order (members first) cut into T minibatches of B."""
    K, n = masks.shape
    order = epoch_orders(keys, masks, epoch)
    pad = np.zeros((K, T * B), np.int64)
    pad[:, : min(n, T * B)] = order[:, : T * B]
    return torch.from_numpy(pad.reshape(K, T, B)).to(dev)


def _step(job: _Job, models: _Models, plan: _Plan, batches: torch.Tensor, t: int) -> None:
    """Step ``t`` of the first ``plan.active[t]`` models on their minibatches ``batches [K, T, B]``."""
    k_t, w_t = int(plan.active[t]), int(plan.width[t])
    b_idx = batches[:k_t, t, :w_t]
    leaf = models.flat[:k_t].detach().requires_grad_()
    views = _views(leaf, models.shapes)
    logits = job.stacked.forward(views, _gather(job.xt, b_idx, models.xb), classes_first=True)  # [K_t, m, W_t]
    ce = F.cross_entropy(logits, job.yt[b_idx], reduction="none")  # [K_t, W_t]
    per_model = (ce * plan.weights[:k_t, t, :w_t]).sum(1)
    grads = torch.autograd.grad(per_model.sum(), list(views.values()))
    with torch.no_grad():
        g = torch.cat([gi.reshape(k_t, -1) for gi in grads], 1, out=models.grad[:k_t])
        models.loss_sum[:k_t] += per_model
        _optimiser_step(job.spec, models, g, k_t)


def _gather(xt: torch.Tensor, b_idx: torch.Tensor, buf: torch.Tensor) -> torch.Tensor:
    """``xt[b_idx]`` ``[K_t, W_t, ...]`` for indices ``b_idx [K_t, W_t]``, written into the front of ``buf``."""
    n = b_idx.numel()
    out = buf[: n * xt[0].numel()].view(n, *xt.shape[1:])
    return torch.index_select(xt, 0, b_idx.reshape(-1), out=out).view(*b_idx.shape, *xt.shape[1:])


def _optimiser_step(spec: TrainerSpec, models: _Models, g: torch.Tensor, k_t: int) -> None:
    """Weight decay, then an Adam or SGD update of rows ``[:k_t]`` with their flat gradients ``g [k_t, D]``."""
    w = models.flat[:k_t]
    if spec.weight_decay:
        g = g.add_(w, alpha=spec.weight_decay)
    if spec.optimizer == "adam":
        models.n_steps[:k_t] += 1
        _adam_update(w, models.m1[:k_t], models.m2[:k_t], g, models.n_steps[:k_t], spec.lr, models.scratch[:k_t])
    else:
        w.add_(g, alpha=-spec.lr)


def _adam_update(
    w: torch.Tensor, m1: torch.Tensor, m2: torch.Tensor, g: torch.Tensor, step: torch.Tensor, lr: float,
    scratch: torch.Tensor,
) -> None:
    """One Adam step (as torch.optim.Adam) on rows of flat parameters ``w [K_t, D]`` with their own step counts
    ``step [K_t, 1]``; ``scratch [K_t, D]`` is overwritten (the same operations, in place, as
    ``w -= m1 / (sqrt(m2) / bc2_sqrt + eps) * step_size``)."""
    b1, b2 = ADAM_BETAS
    step_size = (lr / (1 - b1**step)).to(torch.float32)
    bc2_sqrt = torch.sqrt(1 - b2**step).to(torch.float32)
    m1.lerp_(g, 1 - b1)
    m2.mul_(b2).addcmul_(g, g, value=1 - b2)
    u = torch.sqrt(m2, out=scratch).div_(bc2_sqrt).add_(ADAM_EPS)
    w.sub_(torch.div(m1, u, out=u).mul_(step_size))


def _epoch_end(
    job: _Job, models: _Models, idx: np.ndarray, epoch: int, utils: torch.Tensor | None
) -> torch.Tensor | None:
    """Check the epoch's losses, then add the probe softmax ``[K, P, m]`` to ``utils`` when the utility reads it."""
    bad = ~torch.isfinite(models.loss_sum)
    if bool(bad.any()):
        raise _diverged(bad, idx, f"loss in epoch {epoch}")
    spec = job.spec
    if job.probes is not None and (spec.utility == "mean" or epoch == spec.epochs - 1):
        sm = _probe_softmax(job.stacked, _views(models.flat, models.shapes), job.probes, job.block)
        utils = sm if utils is None else utils.add_(sm)
    return utils


def _final_utilities(spec: TrainerSpec, utils: torch.Tensor | None, idx: np.ndarray) -> np.ndarray | None:
    """The chunk's utilities ``[K, P, m]`` float32 (mean over epochs for ``"mean"``), checked finite."""
    if utils is None:
        return None
    if spec.utility == "mean":
        utils = utils / spec.epochs
    bad = ~torch.isfinite(utils).reshape(len(idx), -1).all(1)
    if bool(bad.any()):
        raise _diverged(bad, idx, "probe outputs")
    return utils.cpu().numpy().astype(np.float32, copy=False)


def _probe_softmax(stacked: _Stacked | _Generic, p: dict[str, torch.Tensor], probes: torch.Tensor, block: int) -> torch.Tensor:
    """Softmax ``[K, P, m]`` of all K stacked models on the shared probes, in blocks of probes."""
    parts = []
    with torch.no_grad():
        for i in range(0, len(probes), block):
            logits = stacked.forward(p, stacked.prepare(probes[i : i + block]), shared=True, classes_first=True)
            parts.append(torch.softmax(logits, 1))  # [K, m, block]
    return torch.cat(parts, 2).transpose(1, 2)


def _diverged(bad: torch.Tensor, idx: np.ndarray, where: str) -> TrainingDivergedError:
    """The error naming the run indices ``idx[bad]`` of the coalitions that produced NaN/Inf ``where``."""
    which = idx[bad.cpu().numpy()].tolist()
    return TrainingDivergedError(f"training diverged (NaN/Inf {where}) for coalition index(es) {which}")


def _views(flat: torch.Tensor, shapes: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
    """Named parameter views ``[K, *shape]`` into the flat parameter rows ``flat [K, D]``."""
    out, off = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        out[name] = flat[:, off : off + size].view(flat.shape[0], *shape)
        off += size
    return out
