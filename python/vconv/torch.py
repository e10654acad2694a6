"""Drop-in replacements for torch.nn.functional.conv1d/2d/3d and nn.Conv1d/2d/3d, and a streaming
causal Conv3d.

Tensors keep PyTorch's logical layout (N, C, spatial...). vconv computes channels-last, so an
input in channels_last / channels_last_3d memory format (or any strides with the channel stride
1) is taken as it lies; any other input is copied once into channels-last, the one copy a
channels-first kernel would avoid. The result is in channels-last memory format. fp32 on a GPU
follows torch.backends.cudnn.allow_tf32, as cuDNN convolutions do. Forward only: a call that
needs a gradient raises at backward time. Under torch.compile the calls are the custom operators
vconv::conv and vconv::conv_streaming (vconv._torch_ops), traced without graph breaks.
"""

import torch

import vconv

from . import _torch_call, _torch_ops

__all__ = [
    "CausalConv3d",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "causal_conv3d",
    "conv1d",
    "conv2d",
    "conv3d",
    "convert",
]


class _NoBackward(torch.autograd.Function):
    """Runs vconv's forward inside autograd; its backward raises."""

    @staticmethod
    def forward(ctx, compute, *tensors):
        return compute()

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(_torch_call.NO_BACKWARD)


def _forward_only(compute, *tensors):
    """compute(), recorded for autograd (whose backward raises) when a tensor needs a gradient."""
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        return _NoBackward.apply(compute, *(t for t in tensors if t is not None))
    return compute()


def _compiled_conv(dims, input, weight, bias, stride, padding, dilation, groups, pad_mode, previous):
    """The call as the custom operator vconv::conv, which torch.compile traces."""
    stride, lo, hi, dilation = _torch_call.normalized(dims, weight.shape[2:], stride, padding, dilation)
    unbatched = input.dim() == dims + 1
    x = input.unsqueeze(0) if unbatched else input
    y = _torch_ops.conv(
        x, weight, bias, stride, lo, hi, dilation, int(groups), _torch_ops.pad_mode_string(pad_mode), previous
    )
    return y.squeeze(0) if unbatched else y


def _conv(dims, input, weight, bias, stride, padding, dilation, groups, pad_mode="zeros", previous=None):
    """conv + bias; pad_mode: one or one per dimension; previous: a causal 3D conv's frame cache
    (N, C, F, H, W), or None."""
    if torch.compiler.is_compiling():
        return _compiled_conv(
            dims, input, weight, bias, stride, padding, dilation, groups, pad_mode, previous
        )
    call = _torch_call.Call(dims, input, weight, stride, padding, dilation, groups, pad_mode)
    return _forward_only(lambda: call.run(input, weight, bias, previous), input, weight, bias, previous)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv1d: input (N, C, L), weight (O, C / groups, K)."""
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv2d: input (N, C, H, W), weight (O, C / groups, KH, KW)."""
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv3d: input (N, C, D, H, W), weight (O, C / groups, KD, KH, KW)."""
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


def causal_conv3d(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros", cache=None
):
    """A streaming conv3d, causal in time: returns (output, next_cache).

    Output frame t reads input frames t - F .. t, F = (KD - 1) * dilation[0], so no frame after
    it. input (N, C, D, H, W), weight (O, C / groups, KD, KH, KW); padding: the spatial padding
    (an int or (H, W)); stride: its time entry must be 1. cache: None on a sequence's first chunk
    (the F frames before it are padding_mode's), else the next_cache the previous call returned,
    (N, C, F, H, W), read in place of that padding. Chunks of any length >= 1 give what one call
    over the whole sequence gives.
    """
    if not isinstance(input, torch.Tensor) or input.dim() != 5:
        raise ValueError(
            f"input: {getattr(input, 'shape', type(input).__name__)}, expected a torch.Tensor "
            "(N, C, D, H, W) (a streaming conv keeps a cache per batch)"
        )
    if not isinstance(weight, torch.Tensor) or weight.dim() != 5:
        raise ValueError(
            f"weight: {getattr(weight, 'shape', type(weight).__name__)}, expected a torch.Tensor "
            "(O, C / groups, KD, KH, KW)"
        )
    dilation = vconv._args.per_dim(dilation, 3, "dilation")
    ph, pw = vconv._args.per_dim(padding, 2, "padding (spatial: an int or (H, W))")
    frames = (weight.shape[2] - 1) * dilation[0]
    lo, hi = [frames, ph, pw], [0, ph, pw]
    if torch.compiler.is_compiling():
        return _torch_ops.conv_streaming(
            input,
            weight,
            bias,
            vconv._args.per_dim(stride, 3, "stride"),
            lo,
            hi,
            dilation,
            int(groups),
            _torch_ops.pad_mode_string(padding_mode),
            cache,
        )
    call = _torch_call.Call(3, input, weight, stride, (lo, hi), dilation, groups, padding_mode)

    def compute():
        next_cache = _torch_call.empty_channels_last(input, _torch_call.cache_shape(input, weight, dilation))
        return call.run(input, weight, bias, cache, next_cache), next_cache

    return _forward_only(compute, input, weight, bias, cache)


_PAD_MODES = ("zeros", "replicate", "reflect")


def _pad_mode(padding_mode):
    """nn.ConvNd's padding_mode as vconv's pad mode."""
    if padding_mode not in _PAD_MODES:
        raise ValueError(
            f"padding_mode: {padding_mode!r} is not supported by vconv; expected one of {_PAD_MODES}"
        )
    return padding_mode


class _ConvMixin:
    """forward() of nn.ConvNd through vconv; parameters, state_dict and repr are nn.ConvNd's."""

    _dims = 0

    def forward(self, input):
        return _conv(
            self._dims,
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            _pad_mode(self.padding_mode),
        )

    @classmethod
    def from_torch(cls, module):
        """A vconv module sharing `module`'s parameters (no copy)."""
        m = cls.__new__(cls)
        m.__dict__.update(module.__dict__)
        return m


class Conv1d(_ConvMixin, torch.nn.Conv1d):
    _dims = 1


class Conv2d(_ConvMixin, torch.nn.Conv2d):
    _dims = 2


class Conv3d(_ConvMixin, torch.nn.Conv3d):
    _dims = 3


class CausalConv3d(torch.nn.Conv3d):
    """nn.Conv3d, causal in time and streaming (causal_conv3d): each forward(input) continues the
    sequence of the previous one, reading the F = (KD - 1) * dilation[0] frames it holds in
    `cache` in place of time padding and keeping the last F frames for the next; reset() starts a
    new sequence. padding is the spatial padding (an int or (H, W)); the time padding is always
    the causal F:0. Its parameters and state_dict are nn.Conv3d's (the cache is not state): it
    loads an nn.Conv3d state_dict unchanged."""

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        padding_mode="zeros",
        device=None,
        dtype=None,
    ):
        spatial = vconv._args.per_dim(padding, 2, "padding (spatial: an int or (H, W))")
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            (0, *spatial),
            dilation,
            groups,
            bias,
            _pad_mode(padding_mode),
            device,
            dtype,
        )
        self.cache = None

    def forward(self, input):
        output, self.cache = causal_conv3d(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding[1:],
            self.dilation,
            self.groups,
            self.padding_mode,
            self.cache,
        )
        return output

    def reset(self):
        """Forgets the cached frames: the next forward() is a sequence's first chunk."""
        self.cache = None


def convert(model):
    """Replaces every nn.Conv1d/2d/3d in `model` (in place) by its vconv module, sharing
    parameters; returns the model."""
    kinds = {torch.nn.Conv1d: Conv1d, torch.nn.Conv2d: Conv2d, torch.nn.Conv3d: Conv3d}
    for name, child in model.named_children():
        if type(child) in kinds:
            setattr(model, name, kinds[type(child)].from_torch(child))
        else:
            convert(child)
    return model
