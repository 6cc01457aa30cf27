"""The batched retraining engine: train many sub-models f_{D_s} at once and read their utilities.

A *coalition* is a boolean mask ``s`` of shape ``[n]`` over the training set D. The engine trains one copy
of the service model per coalition, on that coalition's points only, and returns the softmax of every
copy on a shared set of *probe* points: ``utilities[k, p, y] = softmax(f_{D_{s_k}}(probe_p))_y``.

Rules (common random numbers, CRN):

* Every sub-model starts from the same seeded initial weights :func:`init_state` (the *null model*).
  The empty coalition is not trained: its utility is the null model's output.
* Data order is a function of ``(seed, mask content, epoch)`` only: in epoch ``e`` coalition ``s`` visits its
  members in the order of a counter-based hash (splitmix64 of a SHA-256 key of ``seed`` and the mask bytes),
  cut into consecutive minibatches of ``batch_size`` (the last one may be smaller). The same coalition
  therefore gets the same data order whatever design, shard, chunk or position it appears in, and the
  all-ones mask gives the service model f_D exactly as :func:`fastdatashapley.engine.service.fit_service_model`
  trains it (it calls :func:`train_models` with the all-ones mask).
* A coalition with ``ceil(|s| / batch_size)`` steps per epoch is updated on exactly those steps; on the
  other steps of its chunk its weights and optimiser state (Adam moments and step count) stay frozen and
  no compute is spent on it. Padding rows of a partial minibatch carry zero loss weight.

Vectorisation: a chunk of K coalitions is trained as one stacked network (:class:`_Stacked`): each
model gathers only its own minibatch, convolutions become grouped convolutions in channels-last layout
(K groups), linear layers batched matrix products, ReLU runs after max-pooling (identical outputs, less
work), and all parameters of a model sit in one row of a flat buffer so Adam is a few tensor operations
per step. A leading conv (+ maxpool) stage is computed as one patch product per model over inputs
unfolded once; probes always use it (their convolution is shared by all K models), training minibatches
only when the patches are small (``digits_cnn``; ``paper_cnn`` uses grouped convolutions). Measured on a
2-core CPU these choices beat ``torch.func.vmap`` over ``functional_call`` by 1.5-3x. Coalitions are sorted
by size (largest first), so at any step the still-active models are a prefix of their chunk.

Two paths (:mod:`.paths`, chosen automatically, visible as :func:`engine_path`): that hand-fused stacked network
for the built-in layer set (:data:`~fastdatashapley.engine.models.SUPPORTED_LAYERS` in a plain ``nn.Sequential``),
and for any other registered ``nn.Module`` the generic :class:`_Generic` (``torch.func.vmap`` over
``functional_call``, :mod:`.generic`). Both run the same minibatch plan, optimiser and utilities above.

Reproducibility: on CPU the same inputs, seed and ``chunk_size`` give bit-identical utilities across runs.
Changing the chunking changes chunk-mates, which may change floating-point rounding (about 1e-7) but
never the data order. Long training amplifies such rounding (as it does any 1e-7 perturbation of the
initial weights): after 50 epochs a sub-model's softmax can differ from the naive loop's by up to ~1e-2.

Modules:

* :mod:`.spec`: :class:`TrainerSpec`, the utility and optimiser choices, :class:`TrainingDivergedError`;
* :mod:`.order`: seeded initial weights and data order (:func:`init_state`, :func:`coalition_keys`,
  :func:`epoch_orders`);
* :mod:`.checks`: input checks; :mod:`.budget`: chunk sizes and probe blocks from a memory budget;
* :mod:`.stacked`: the stacked network :class:`_Stacked` (the fused path);
* :mod:`.generic`: the generic stacked network :class:`_Generic` and :func:`check_generic` (what it refuses);
* :mod:`.paths`: which of the two trains a model (:func:`engine_path`, :data:`ENGINE_PATHS`);
* :mod:`.engine`: :func:`train_submodels`, :func:`train_models` and the chunked training loop;
* :mod:`.reference`: the naive one-model loop :func:`train_single` and :func:`predict_proba`.

Tunables (``CPU_MEMORY_BUDGET``, ``CPU_MAX_CHUNK`` in :mod:`.budget`, ``FUSE_MAX_EXPANSION`` in
:mod:`.stacked`) are read from their own modules; change them there.
"""

from __future__ import annotations

from .engine import RunOptions, train_models, train_submodels
from .generic import check_generic
from .order import coalition_keys, epoch_orders, init_state
from .paths import ENGINE_PATHS, engine_path
from .reference import predict_proba, train_single
from .spec import ADAM_BETAS, ADAM_EPS, OPTIMIZERS, UTILITIES, TrainerSpec, TrainingDivergedError
from .stacked import _Stacked  # noqa: F401  (private, still importable as training._Stacked)

__all__ = [
    "ADAM_BETAS",
    "ADAM_EPS",
    "ENGINE_PATHS",
    "OPTIMIZERS",
    "UTILITIES",
    "RunOptions",
    "TrainerSpec",
    "TrainingDivergedError",
    "check_generic",
    "coalition_keys",
    "engine_path",
    "epoch_orders",
    "init_state",
    "predict_proba",
    "train_models",
    "train_single",
    "train_submodels",
]
