"""The fused conv's oracle for the Python tests: the unfused sequence in float64 torch
(F.group_norm / F.normalize, F.silu, F.interpolate(mode="nearest"), F.pad, F.conv1d/2d/3d, a
reshape for depth-to-space, the residual add), written from conv_params.h and conv.h and sharing
no code with vconv."""

import numpy as np
import torch

F = torch.nn.functional

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_TORCH_PAD = {"zeros": "constant", "replicate": "replicate", "reflect": "reflect"}


def channels_first(t):
    return t.movedim(-1, 1)


def channels_last(t):
    return t.movedim(1, -1)


def prologue_reference(x, norm=None, groups=0, eps=1e-5, scale=None, shift=None, activation=None):
    """x (N, C, spatial...) float64 through the norm and activation, as torch computes them."""
    c = x.shape[1]
    per_channel = (1, c) + (1,) * (x.dim() - 2)
    if norm == "group_norm":
        x = F.group_norm(x, groups, scale, shift, eps)
    elif norm == "rms_norm":  # Wan's WanRMS_norm: F.normalize over the channels, times sqrt(C) * gamma
        x = F.normalize(x, dim=1, eps=eps) * c**0.5
        x = x * (1 if scale is None else scale.view(per_channel)) + (
            0 if shift is None else shift.view(per_channel)
        )
    elif norm == "scale_shift":
        x = x * (1 if scale is None else scale.view(per_channel)) + (
            0 if shift is None else shift.view(per_channel)
        )
    return F.silu(x) if activation == "silu" else x


def upsample_reference(x, factors, causal):
    """Nearest upsampling of (N, C, spatial...); causal: frame 0 once in the first dimension."""
    if causal:
        first, rest = x[:, :, :1], x[:, :, 1:]
        rest = F.interpolate(rest, scale_factor=tuple(float(f) for f in factors), mode="nearest")
        first = F.interpolate(first, scale_factor=(1.0, *(float(f) for f in factors[1:])), mode="nearest")
        return torch.cat([first, rest], dim=2)
    if all(f == 1 for f in factors):
        return x
    return F.interpolate(x, scale_factor=tuple(float(f) for f in factors), mode="nearest")


def depth_to_space_reference(y, factors):
    """conv_params.h's depth-to-space of (N, O, spatial...): in 3D the first factor takes whole
    blocks of O / r0 channels (block k -> frame t * r0 + k), then the trailing dimensions are
    pixel_shuffle's (channel c * r1 * r2 + i * r2 + j -> (h * r1 + i, w * r2 + j))."""
    d = y.dim() - 2
    n, o, sizes = y.shape[0], y.shape[1], list(y.shape[2:])
    r = list(factors)
    stored = o // int(np.prod(r))
    # channel o = ((k0 * C' + c) * r1 + k1) * r2 + k2 in 3D; (c * r1 + k1) * r2 + k2 in 2D; c * r + k in 1D
    if d == 3:
        y = y.reshape(n, r[0], stored, r[1], r[2], *sizes)  # n, k0, c, k1, k2, t, h, w
        y = y.permute(0, 2, 5, 1, 6, 3, 7, 4)  # n, c, t, k0, h, k1, w, k2
    elif d == 2:
        y = y.reshape(n, stored, r[0], r[1], *sizes)  # n, c, k1, k2, h, w
        y = y.permute(0, 1, 4, 2, 5, 3)  # n, c, h, k1, w, k2
    else:
        y = y.reshape(n, stored, r[0], sizes[0]).permute(0, 1, 3, 2)  # n, c, l, k
    return y.reshape(n, stored, *[s * f for s, f in zip(sizes, r)])


def unfused(
    x,
    w,
    bias=None,
    lo=None,
    hi=None,
    pad_mode="zeros",
    activation=None,
    residual=None,
    upsample=None,
    causal_upsample=False,
    depth_to_space=None,
    prologue=None,
):
    """The fused call's result, computed as the unfused sequence in float64: channels-last in
    (x [N, spatial..., C], w [O, K..., C]), channels-last out."""
    d = x.dim() - 2
    x = channels_first(x.double())
    w = channels_first(w.double())
    if prologue is not None:
        x = prologue_reference(
            x,
            prologue.norm,
            prologue.groups,
            prologue.eps,
            None if prologue.scale is None else prologue.scale.double(),
            None if prologue.shift is None else prologue.shift.double(),
            prologue.activation,
        )
    x = upsample_reference(x, upsample or [1] * d, causal_upsample)
    lo, hi = lo or [0] * d, hi or [0] * d
    pads = [p for i in reversed(range(d)) for p in (lo[i], hi[i])]  # F.pad: last dimension first
    x = F.pad(x, pads, mode=_TORCH_PAD[pad_mode]) if pad_mode != "zeros" else F.pad(x, pads)
    y = _CONV[d](x, w, None if bias is None else bias.double())
    if activation == "silu":
        y = F.silu(y)
    y = depth_to_space_reference(y, depth_to_space or [1] * d)
    if residual is not None:
        y = y + channels_first(residual.double())
    return channels_last(y)


def rand(g, *shape):
    """Uniform in [-1, 1): random data, never zeros."""
    return torch.rand(*shape, generator=g) * 2 - 1
