"""Service-model builders."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastdatashapley.engine.models import ARCHS, SUPPORTED_LAYERS, build_service_model


@pytest.mark.parametrize(
    "arch,in_shape,flat",
    [("paper_cnn", (1, 28, 28), 32 * 5 * 5), ("paper_cnn", (3, 32, 32), 32 * 6 * 6), ("digits_cnn", (1, 8, 8), 16 * 3 * 3),
     ("digits_mlp", (1, 8, 8), 64)],
)
def test_shapes(arch, in_shape, flat):
    net = build_service_model(arch, in_shape, 10)
    out = net(torch.rand(5, *in_shape))
    assert out.shape == (5, 10) and out.dtype == torch.float32
    last = [m for m in net if isinstance(m, nn.Linear)][-1]
    assert last.out_features == 10
    assert [m for m in net if isinstance(m, nn.Linear)][0].in_features == flat
    assert all(isinstance(m, SUPPORTED_LAYERS) for m in net)


def test_paper_cnn_layers_follow_the_authors_code():
    convs = [m for m in build_service_model("paper_cnn", (1, 28, 28), 10) if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [(1, 16, (5, 5), (2, 2)), (16, 32, (5, 5), (0, 0))]
    pools = [m for m in build_service_model("paper_cnn", (1, 28, 28), 10) if isinstance(m, nn.MaxPool2d)]
    assert [p.kernel_size for p in pools] == [2, 2]


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"'resnet'.*digits_cnn, digits_mlp, paper_cnn"):
        build_service_model("resnet", (1, 8, 8), 10)
    with pytest.raises(ValueError, match="too small"):
        build_service_model("paper_cnn", (1, 8, 8), 10)
    with pytest.raises(ValueError, match="in_shape"):
        build_service_model("digits_cnn", (8, 8), 10)
    with pytest.raises(ValueError, match="n_classes"):
        build_service_model("digits_mlp", (1, 8, 8), 1)
    assert set(ARCHS.names()) == {"paper_cnn", "digits_cnn", "digits_mlp"}
