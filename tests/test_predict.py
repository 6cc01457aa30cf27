"""The one chunked predictor and the one device resolver."""

from __future__ import annotations

import numpy as np
import torch

from fastdatashapley.base.devices import resolve_device
from fastdatashapley.base.predict import predict_chunked
from fastdatashapley.engine.training import TrainerSpec, init_state


def _net():
    spec = TrainerSpec("digits_cnn", (1, 8, 8), 3)
    net = spec.build()
    net.load_state_dict(init_state(spec, 0))
    return net.eval()


def test_predict_chunked_is_a_softmax_over_chunks_and_handles_empty_input():
    net = _net()
    x = np.random.default_rng(0).random((10, 1, 8, 8), dtype=np.float32)
    whole = predict_chunked(net, x)
    assert whole.shape == (10, 3) and whole.dtype == np.float32
    np.testing.assert_allclose(whole.sum(1), 1.0, rtol=1e-6)
    with torch.no_grad():
        np.testing.assert_array_equal(whole, torch.softmax(net(torch.from_numpy(x)), 1).numpy())
    np.testing.assert_allclose(predict_chunked(net, x, batch=3), whole, atol=1e-7)
    assert predict_chunked(net, x[:0]).shape == (0, 3)
    emb = predict_chunked(net[:-1], x.astype(np.float64), fn=lambda h: h.flatten(1))
    assert emb.shape == (10, 144) and emb.dtype == np.float32


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
