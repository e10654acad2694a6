"""Drop-in replacements for torch.nn.functional.conv1d/2d/3d and nn.Conv1d/2d/3d.

Tensors keep PyTorch's logical layout (N, C, spatial...). vconv computes channels-last, so an
input in channels_last / channels_last_3d memory format (or any strides with the channel stride
1) is taken as it lies; any other input is copied once into channels-last, the one copy a
channels-first kernel would avoid. The result is in channels-last memory format. fp32 on a GPU
follows torch.backends.cudnn.allow_tf32, as cuDNN convolutions do. Forward only: a call that
needs a gradient raises at backward time.
"""

import torch
from torch.utils.dlpack import to_dlpack

import vconv

__all__ = ["Conv1d", "Conv2d", "Conv3d", "conv1d", "conv2d", "conv3d", "convert"]


def _with_unit_channel_stride(t):
    """t (N, C, spatial...) itself when its channel stride is 1 (channels_last /
    channels_last_3d), else a copy in that memory format."""
    if t.stride(1) != 1:
        t = t.detach().movedim(1, -1).contiguous().movedim(-1, 1)
    return t


def _same_padding(kernel, dilation, stride):
    if any(s != 1 for s in stride):
        raise ValueError("padding='same': needs stride 1 (as torch.nn.functional)")
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    lo = [t // 2 for t in total]
    return lo, [t - l for t, l in zip(total, lo)]


class _NoBackward(torch.autograd.Function):
    """Runs vconv's forward inside autograd; its backward raises."""

    @staticmethod
    def forward(ctx, compute, *tensors):
        return compute()

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(
            "vconv.torch convolutions have no backward yet: run them under torch.no_grad() or "
            "torch.inference_mode(), or train with torch.nn.functional"
        )


def _channels_last(shape):
    """(N, C, spatial...) -> [N, spatial..., C]."""
    return [shape[0], *shape[2:], shape[1]]


def _prepare(dims, input_shape, weight_shape, dtype, stride, padding, dilation, groups, pad_mode, fp32_math):
    """(unbatched, output shape (N, spatial..., O), PreparedConv) of a call; ValueError for a bad
    argument."""
    unbatched = len(input_shape) == dims + 1
    if unbatched:
        input_shape = (1, *input_shape)
    if len(input_shape) != dims + 2:
        raise ValueError(
            f"input: {tuple(input_shape)}, expected (N, C, {dims} spatial) or (C, {dims} spatial)"
        )
    if len(weight_shape) != dims + 2:
        raise ValueError(f"weight: {tuple(weight_shape)}, expected (O, C / groups, {dims} spatial)")
    kernel = list(weight_shape[2:])
    stride = vconv._args.per_dim(stride, dims, "stride")
    dilation = vconv._args.per_dim(dilation, dims, "dilation")
    if padding == "valid":
        padding = 0
    if padding == "same":
        padding = _same_padding(kernel, dilation, stride)
    elif isinstance(padding, str):
        raise ValueError(f"padding: {padding!r}, expected an int, a tuple, 'valid' or 'same'")
    lo, hi = vconv._args.padding_lo_hi(padding, dims)
    params = (stride, lo, hi, dilation, [1] * dims, int(groups), False, vconv._args.pad_modes(pad_mode, dims))
    # Checked (sizes, and vconv's size limit in this dtype) before torch is asked for the memory.
    output_shape = tuple(
        vconv._vconv.output_shape(_channels_last(input_shape), _channels_last(weight_shape), dtype, *params)
    )
    return unbatched, output_shape, vconv._vconv.PreparedConv(*params, "", False, fp32_math, "none")


def _stream(x):
    return torch.cuda.current_stream(x.device).cuda_stream if x.is_cuda else 0


_prepared_calls = {}  # (shapes, marshalled arguments) -> (unbatched, output shape, PreparedConv)


def _conv(dims, input, weight, bias, stride, padding, dilation, groups, pad_mode="zeros"):
    if not isinstance(input, torch.Tensor) or not isinstance(weight, torch.Tensor):
        raise TypeError("input and weight: expected torch.Tensor")
    # fp32 on a GPU follows torch.backends.cudnn.allow_tf32, as cuDNN convolutions do.
    fp32_math = "tf32" if input.is_cuda and torch.backends.cudnn.allow_tf32 else "exact"
    dtype = vconv._arrays.dtype_name(input) or "f32"  # an unsupported dtype is refused by the call
    arguments = (dims, dtype, stride, padding, dilation, groups, pad_mode, fp32_math)
    unbatched, output_shape, prepared = vconv._args.prepared_call(
        _prepared_calls,
        (input.shape, weight.shape),
        arguments,
        lambda: _prepare(
            dims, input.shape, weight.shape, dtype, stride, padding, dilation, groups, pad_mode, fp32_math
        ),
    )

    def compute():
        # Computed into (N, spatial..., O); returned as its (N, O, spatial...) view, which is the
        # channels_last / channels_last_3d memory format.
        x = _with_unit_channel_stride(input.unsqueeze(0) if unbatched else input)
        y = x.new_empty(output_shape)
        # DLPack capsules: a tenth of the cost of Tensor.__dlpack__ (vconv._arrays._Framework).
        # The bias is added by the conv's store (the fused epilogue), not by a second pass over y.
        prepared(
            to_dlpack(x),
            to_dlpack(_with_unit_channel_stride(weight)),
            to_dlpack(y),
            _stream(x),
            True,
            None if bias is None else to_dlpack(bias.detach().contiguous()),
        )
        return y.movedim(-1, 1)

    if torch.is_grad_enabled() and (
        input.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
    ):
        out = _NoBackward.apply(compute, *(t for t in (input, weight, bias) if t is not None))
    else:
        out = compute()
    return out.squeeze(0) if unbatched else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv1d: input (N, C, L), weight (O, C / groups, K)."""
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv2d: input (N, C, H, W), weight (O, C / groups, KH, KW)."""
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv3d: input (N, C, D, H, W), weight (O, C / groups, KD, KH, KW)."""
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


_PAD_MODES = {"zeros": "zeros", "replicate": "replicate", "reflect": "reflect"}


class _ConvMixin:
    """forward() of nn.ConvNd through vconv; parameters, state_dict and repr are nn.ConvNd's."""

    _dims = 0

    def forward(self, input):
        if self.padding_mode not in _PAD_MODES:
            raise ValueError(
                f"padding_mode: {self.padding_mode!r} is not supported by vconv; expected one of "
                f"{tuple(_PAD_MODES)}"
            )
        return _conv(
            self._dims,
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            _PAD_MODES[self.padding_mode],
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
