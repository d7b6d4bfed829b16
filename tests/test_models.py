"""optnotes.models: the layers they are said to have."""

import pytest
import torch

from optnotes import models
from optnotes.normalization import BatchNorm


def test_mlp_layers_and_bias_absorbed_by_batch_norm():
    plain = models.mlp([4, 8, 8, 3])
    assert [type(m) for m in plain] == [torch.nn.Linear, torch.nn.Tanh] * 2 + [torch.nn.Linear]
    bn = models.mlp([4, 8, 3], batch_norm=True)
    assert isinstance(bn[1], BatchNorm) and bn[0].bias is None and bn[-1].bias is not None
    assert bn(torch.randn(5, 4)).shape == (5, 3)


def test_residual_block_adds_its_input():
    torch.manual_seed(0)
    net = models.ResidualMLP(3, 4, 2, depth=1, skip=True)
    plain = models.ResidualMLP(3, 4, 2, depth=1, skip=False)
    plain.load_state_dict(net.state_dict())
    x = torch.randn(6, 3)
    h = torch.tanh(net.inp(x))
    torch.testing.assert_close(net(x), net.out(h + torch.tanh(net.blocks[0](h))))
    torch.testing.assert_close(plain(x), net.out(torch.tanh(net.blocks[0](h))))


@pytest.mark.parametrize("sizes", [[4], [4, 0, 2]])
def test_mlp_bad_sizes(sizes):
    with pytest.raises((ValueError, TypeError), match="sizes"):
        models.mlp(sizes)
