"""vconv's convolutions as PyTorch custom operators (torch.library), so that torch.compile traces
a model that calls them into one graph instead of breaking it at each call. A fake
implementation gives the output's shape and strides (channels-last, as the real call returns) from
the arguments alone; autograd raises at backward, as the eager path does.

vconv.torch calls these only while compiling: eager calls take vconv.torch's own path, which
crosses into C++ once with no dispatcher in between (a custom operator's Python dispatch costs
more than the call's own overhead)."""

from typing import Optional

import torch

import vconv

from . import _torch_call


def pad_mode_string(pad_mode):
    """A pad mode, or one per dimension, as the operators' one string ('zeros',
    'replicate/zeros/zeros': vconv's notation), for the schema has no list of strings."""
    return pad_mode if isinstance(pad_mode, str) else "/".join(pad_mode)


def _run(
    input,
    weight,
    bias,
    stride,
    lo,
    hi,
    dilation,
    groups,
    pad_mode,
    previous=None,
    next=None,
    residual=None,
    upsample=1,
    causal_upsample=False,
    depth_to_space=1,
    prologue=vconv._args.NO_PROLOGUE,
    scale=None,
    shift=None,
):
    modes = pad_mode.split("/")
    modes = modes[0] if len(modes) == 1 else modes
    call = _torch_call.Call(
        len(stride),
        input,
        weight,
        stride,
        (lo, hi),
        dilation,
        groups,
        modes,
        upsample,
        causal_upsample,
        depth_to_space,
        prologue,
    )
    return call.run(input, weight, bias, previous, next, residual, scale, shift)


@torch.library.custom_op("vconv::conv", mutates_args=())
def conv(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    stride: list[int],
    lo: list[int],
    hi: list[int],
    dilation: list[int],
    groups: int,
    pad_mode: str,
    previous: Optional[torch.Tensor],
    residual: Optional[torch.Tensor] = None,
    upsample: Optional[list[int]] = None,
    causal_upsample: bool = False,
    depth_to_space: Optional[list[int]] = None,
    prologue_norm: str = "none",
    prologue_groups: int = 0,
    prologue_eps: float = 1e-5,
    prologue_activation: str = "none",
    scale: Optional[torch.Tensor] = None,
    shift: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """conv + bias + residual of a batched (N, C, spatial...) input through the prologue
    (prologue_*, scale, shift: a vconv.Prologue's fields), upsampled and stored through
    depth-to-space (None: 1 in every dimension); previous: the frame cache or None."""
    return _run(
        input,
        weight,
        bias,
        stride,
        lo,
        hi,
        dilation,
        groups,
        pad_mode,
        previous,
        residual=residual,
        upsample=upsample or 1,
        causal_upsample=causal_upsample,
        depth_to_space=depth_to_space or 1,
        prologue=(prologue_norm, prologue_groups, prologue_eps, prologue_activation),
        scale=scale,
        shift=shift,
    )


@torch.library.custom_op("vconv::conv_streaming", mutates_args=())
def conv_streaming(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    stride: list[int],
    lo: list[int],
    hi: list[int],
    dilation: list[int],
    groups: int,
    pad_mode: str,
    previous: Optional[torch.Tensor],
    residual: Optional[torch.Tensor] = None,
    prologue_norm: str = "none",
    prologue_groups: int = 0,
    prologue_eps: float = 1e-5,
    prologue_activation: str = "none",
    scale: Optional[torch.Tensor] = None,
    shift: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(output, next frame cache) of a causal 3D conv continuing from `previous` (None: the first
    chunk); the next cache is (N, C, F, H, W), F = (KD - 1) * dilation[0], of frames after the
    prologue (prologue_*, scale, shift: a vconv.Prologue's fields); plus residual."""
    next = _torch_call.empty_channels_last(input, _torch_call.cache_shape(input, weight, dilation))
    output = _run(
        input,
        weight,
        bias,
        stride,
        lo,
        hi,
        dilation,
        groups,
        pad_mode,
        previous,
        next,
        residual=residual,
        prologue=(prologue_norm, prologue_groups, prologue_eps, prologue_activation),
        scale=scale,
        shift=shift,
    )
    return output, next


def _output_shape(
    input, weight, stride, lo, hi, dilation, upsample=None, causal_upsample=False, depth_to_space=None
):
    """(N, O, spatial...) of the conv, as vconv computes it (input dilation 1): the input upsampled
    (frame 0 once under causal_upsample), the output stored through depth-to-space (conv_params.h;
    None: factors of 1). Arithmetic here rather than vconv's C++ output_shape, which
    _torch_call._prepare asks in eager calls: a fake implementation's sizes may be symbolic
    (torch.SymInt under dynamic shapes), which the C++ function cannot take; the fake-versus-real
    tests (test_torch_compile.py) hold the two to the same shapes."""
    dims = len(stride)
    upsample, depth_to_space = upsample or [1] * dims, depth_to_space or [1] * dims
    sizes = [size * u for size, u in zip(input.shape[2:], upsample)]
    if causal_upsample:
        sizes[0] = 1 + upsample[0] * (input.shape[2] - 1)
    spatial = [
        ((size + l + h - d * (k - 1) - 1) // s + 1) * r
        for size, k, s, l, h, d, r in zip(sizes, weight.shape[2:], stride, lo, hi, dilation, depth_to_space)
    ]
    blocks = 1
    for r in depth_to_space:
        blocks *= r
    return [input.shape[0], weight.shape[0] // blocks, *spatial]


@conv.register_fake
def _(
    input,
    weight,
    bias,
    stride,
    lo,
    hi,
    dilation,
    groups,
    pad_mode,
    previous,
    residual=None,
    upsample=None,
    causal_upsample=False,
    depth_to_space=None,
    prologue_norm="none",
    prologue_groups=0,
    prologue_eps=1e-5,
    prologue_activation="none",
    scale=None,
    shift=None,
):
    shape = _output_shape(input, weight, stride, lo, hi, dilation, upsample, causal_upsample, depth_to_space)
    return _torch_call.empty_channels_last(input, shape)


@conv_streaming.register_fake
def _(
    input,
    weight,
    bias,
    stride,
    lo,
    hi,
    dilation,
    groups,
    pad_mode,
    previous,
    residual=None,
    prologue_norm="none",
    prologue_groups=0,
    prologue_eps=1e-5,
    prologue_activation="none",
    scale=None,
    shift=None,
):
    return (
        _torch_call.empty_channels_last(input, _output_shape(input, weight, stride, lo, hi, dilation)),
        _torch_call.empty_channels_last(input, _torch_call.cache_shape(input, weight, dilation)),
    )


@torch.library.custom_op("vconv::no_backward", mutates_args=())
def no_backward(grad: torch.Tensor, shape: list[int]) -> torch.Tensor:
    """The gradient of a vconv input of `shape`: raises when it runs. An operator rather than a
    raise in the backward formula, so that torch.compile can trace the backward of a graph that
    records vconv calls (AOTAutograd traces it at compile time) and the error comes when a
    backward pass actually runs, as in eager mode."""
    raise RuntimeError(_torch_call.NO_BACKWARD)


@no_backward.register_fake
def _(grad, shape):
    return grad.new_empty(shape)


def _save_shapes(ctx, inputs, output):
    ctx.shapes = [t.shape if isinstance(t, torch.Tensor) else None for t in inputs]


def _backward(ctx, *grads):
    grad = next((g for g in grads if g is not None), None)
    if grad is None:  # no gradient reaches the outputs: none to raise for
        return (None,) * len(ctx.shapes)
    return tuple(
        no_backward(grad, list(shape)) if needed else None
        for shape, needed in zip(ctx.shapes, ctx.needs_input_grad)
    )


conv.register_autograd(_backward, setup_context=_save_shapes)
conv_streaming.register_autograd(_backward, setup_context=_save_shapes)
