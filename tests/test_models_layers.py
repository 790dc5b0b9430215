"""Model building blocks: the composite LayerNorm matches torch's and differentiates correctly in every mode."""

import torch
from torch import nn

from raysym.models.layers import LayerNorm


def test_layer_norm_matches_torch_forward_and_parameter_layout():
    torch.manual_seed(0)
    ours, theirs = LayerNorm(8).double(), nn.LayerNorm(8).double()
    with torch.no_grad():
        for p in (ours.weight, ours.bias):
            p.normal_()
        theirs.load_state_dict(ours.state_dict())
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    assert torch.allclose(ours(x), theirs(x), atol=1e-12)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


def test_reverse_mode_through_forward_mode_derivative_matches_finite_difference():
    # The pattern of δSEAL training: d/dW of (JVP of the output along a tangent)². torch 2.13's fused
    # layer norm gets this wrong (pytorch/pytorch#196700); ours must agree with a finite difference.
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 8), LayerNorm(8)).double()
    x, v = torch.randn(3, 5, 8, dtype=torch.float64), torch.randn(3, 5, 8, dtype=torch.float64)
    weight = net[0].weight

    def squared_jvp():
        _, d = torch.func.jvp(lambda z: net(z).tanh().sum((-1, -2)), (x,), (v,))
        return d.pow(2).sum()

    (grad,) = torch.autograd.grad(squared_jvp(), weight)
    h, index = 1e-6, (2, 3)
    with torch.no_grad():
        weight[index] += h
        up = squared_jvp().item()
        weight[index] -= 2 * h
        down = squared_jvp().item()
        weight[index] += h
    assert abs(grad[index].item() - (up - down) / (2 * h)) < 1e-6 * max(1.0, abs(grad[index].item()))
