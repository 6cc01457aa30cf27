"""Coalitions/s of pyDVL's utility evaluations against the batched engine, on the same digits task.

pyDVL (0.10) evaluates a utility one coalition at a time: ``Utility(model, data)(subset)`` fits a copy of a
scikit-learn-style model on the subset and scores it. The model here trains the project's digits_cnn with the
same spec, initial weights and data order as the engine (``train_single``), so both arms do the same training.
Needs the optional environment: make bench-pydvl
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from pydvl.utils import Dataset, Utility

from fastdatashapley.games.coalitions import kernel_masks
from fastdatashapley.data import load_dataset, make_split
from fastdatashapley.engine.training import TrainerSpec, init_state, predict_proba, train_single, train_submodels

SPEC = TrainerSpec("digits_cnn", (1, 8, 8), 10, lr=1e-3, epochs=50, batch_size=20)
INIT = init_state(SPEC, 0)


class DigitsCNN:
    """scikit-learn-style wrapper (fit/predict/score) around one digits_cnn trained by ``train_single``."""

    def fit(self, x, y):
        x = np.asarray(x, np.float32).reshape(-1, 1, 8, 8)
        self.state = train_single(SPEC, INIT, x, np.asarray(y, np.int64), np.ones(len(y), bool), seed=0) if len(y) else INIT
        return self

    def predict(self, x):
        return predict_proba(SPEC, self.state, np.asarray(x, np.float32).reshape(-1, 1, 8, 8)).argmax(1)

    def score(self, x, y):
        return float((self.predict(x) == np.asarray(y)).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--coalitions", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(2)
    ds = load_dataset("digits")
    split = make_split(ds, 100, 10, 0, seed=0)
    x, y = ds.x[split.train], ds.y[split.train]
    x_test, y_test = ds.x[split.rest[:200]], ds.y[split.rest[:200]]
    masks = kernel_masks(100, args.coalitions, seed=0)

    data = Dataset(x.reshape(100, -1), y, x_test.reshape(200, -1), y_test)
    utility = Utility(DigitsCNN(), data, catch_errors=False)  # no cache backend: every call trains
    t0 = time.perf_counter()
    scores_pydvl = [utility(set(np.flatnonzero(m).tolist())) for m in masks]
    t_pydvl = time.perf_counter() - t0

    t0 = time.perf_counter()
    u = train_submodels(SPEC, INIT, x, y, masks, x_test, seed=0, device="cpu")
    scores_engine = (u.argmax(2) == y_test[None]).mean(1)
    t_engine = time.perf_counter() - t0
    k = len(masks)
    print(f"pyDVL Utility (one model at a time): {k / t_pydvl:8.2f} coalitions/s ({t_pydvl:.1f} s)")
    print(f"batched engine:                      {k / t_engine:8.2f} coalitions/s ({t_engine:.1f} s)")
    print(f"max |accuracy difference| over the {k} coalitions: {np.abs(np.array(scores_pydvl) - scores_engine).max():.3f}")
    print(f"speedup: {t_pydvl / t_engine:.1f}x")


if __name__ == "__main__":
    main()
