"""One vconv call on torch tensors in PyTorch's layout (N, C, spatial...): torch.nn.functional's
argument forms normalised, the call prepared once per argument tuple, and run. Autograd and
torch.compile live above it (vconv.torch, vconv._torch_ops)."""

import torch
from torch.utils.dlpack import to_dlpack

import vconv

NO_BACKWARD = (
    "vconv.torch convolutions have no backward yet: run them under torch.no_grad() or "
    "torch.inference_mode(), or train with torch.nn.functional"
)


def with_unit_channel_stride(t):
    """t (N, C, spatial...) itself when its channel stride is 1 (channels_last /
    channels_last_3d), else a copy in that memory format."""
    if t.stride(1) != 1:
        t = t.detach().movedim(1, -1).contiguous().movedim(-1, 1)
    return t


def cache_like(previous, x):
    """A frame cache (N, C, F, H, W) with unit channel stride and, as the CUDA kernels address a
    cached pixel with the input's strides, x's height and width strides (a channels_last_3d copy
    otherwise)."""
    previous = with_unit_channel_stride(previous)
    if previous.stride()[3:] != x.stride()[3:]:
        previous = previous.detach().movedim(1, -1).contiguous().movedim(-1, 1)
    return previous


def _same_padding(kernel, dilation, stride):
    if any(s != 1 for s in stride):
        raise ValueError("padding='same': needs stride 1 (as torch.nn.functional)")
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    lo = [t // 2 for t in total]
    return lo, [t - l for t, l in zip(total, lo)]


def channels_last(shape):
    """(N, C, spatial...) -> [N, spatial..., C]."""
    return [shape[0], *shape[2:], shape[1]]


def streams(input, weight, stride, padding, dilation, groups, pad_mode):
    """Whether a causal 3D conv with a frame cache should run as one streaming vconv call on
    input's device, rather than with the cached frames concatenated before the chunk (a copy of
    the chunk): when an algorithm there reads a cache at most twice as slow, by the planner's
    estimates, as its best without one (_fusion_pays). On the CPU depth_tap reads a cache (a
    one-frame chunk still concatenates: depth_tap's estimate there is over twice the best plain
    algorithm's); on CUDA the implicit-GEMM algorithms do, at the cost of the same call without
    one. As other algorithms learn to, this says so with no change here. Arguments as
    torch.nn.functional's."""
    return _fusion_pays(
        input, weight, stride, padding, dilation, groups, pad_mode, True, vconv._args.NO_PROLOGUE
    )


def fuses_prologue(input, weight, stride, padding, dilation, groups, pad_mode, prologue):
    """Whether a 3D conv's input prologue (the fields of a vconv.Prologue) should run inside the
    vconv call on input's device, rather than in torch before it (one more pass over the input):
    when an algorithm there applies it at most twice as slow, by the planner's estimates, as its
    best without one (_fusion_pays). Every algorithm applies it today, most through a staging pass
    before they run (core/staging.h) that the estimates do not count; as kernels learn to apply it
    while they read, this says so with no change here. Arguments as torch.nn.functional's."""
    return _fusion_pays(input, weight, stride, padding, dilation, groups, pad_mode, False, tuple(prologue))


def _fusion_pays(input, weight, stride, padding, dilation, groups, pad_mode, frame_cache, prologue):
    """Whether the call with a frame cache (frame_cache) or a prologue (its fields) has an
    algorithm on input's device at most twice as slow, by the planner's estimates, as the best
    for the same call without them."""
    kind, index = ("cuda", input.device.index or 0) if input.is_cuda else ("cpu", 0)
    return _planned_fusion_pays(
        tuple(channels_last(input.shape)),
        tuple(channels_last(weight.shape)),
        vconv._arrays.dtype_name(input) or "f32",
        kind,
        index,
        normalized(3, tuple(weight.shape[2:]), stride, padding, dilation),
        int(groups),
        tuple(vconv._args.pad_modes(pad_mode, 3)),
        frame_cache,
        prologue,
    )


_fusion_answers = {}  # _planned_fusion_pays' arguments -> its answer


# The answer is a constant of the shapes and the device, computed when torch.compile traces (the
# planner is C++, which Dynamo cannot trace).
@torch.compiler.assume_constant_result
def _planned_fusion_pays(
    input_shape, weight_shape, dtype, kind, index, normalized_args, groups, pad_modes, frame_cache, prologue
):
    key = (input_shape, weight_shape, dtype, kind, index, repr(normalized_args), groups, pad_modes)
    key += (frame_cache, prologue)
    answer = _fusion_answers.get(key)
    if answer is None:
        stride, lo, hi, dilation = normalized_args
        params = (stride, lo, hi, dilation, [1] * 3, groups, False, list(pad_modes), [1] * 3, False, [1] * 3)
        estimate = {}
        for fused in (True, False):
            try:
                algorithm, _, candidates, _, _, _ = vconv._vconv.plan(
                    list(input_shape),
                    list(weight_shape),
                    dtype,
                    kind,
                    index,
                    *params,
                    "",
                    "exact",
                    frame_cache and fused,
                    False,  # no residual
                    *(prologue if fused else vconv._args.NO_PROLOGUE),
                    [],  # contiguous: planning for the shapes
                    [],
                )
            except ValueError:  # no algorithm there applies the fusion
                estimate[fused] = float("inf")
                continue
            estimate[fused] = next(ms for name, _, _, ms in candidates if name == algorithm)
        answer = _fusion_answers[key] = estimate[True] <= 2 * estimate[False]
    return answer


def empty_channels_last(like, shape):
    """An empty (N, C, spatial...) tensor of `shape` whose memory is (N, spatial..., C)."""
    return like.new_empty([shape[0], *shape[2:], shape[1]]).movedim(-1, 1)


def cache_shape(input, weight, dilation):
    """(N, C, F, H, W) of a causal 3D conv's frame cache: F = (KD - 1) * dilation[0] frames."""
    n, c, _, h, w = input.shape
    return [n, c, (weight.shape[2] - 1) * dilation[0], h, w]


def normalized(dims, kernel, stride, padding, dilation):
    """(stride, lo, hi, dilation) as lists of `dims` ints from torch.nn.functional's forms
    (padding: an int, a sequence, a (lo, hi) pair of sequences, 'valid' or 'same')."""
    stride = vconv._args.per_dim(stride, dims, "stride")
    dilation = vconv._args.per_dim(dilation, dims, "dilation")
    if padding == "valid":
        padding = 0
    if padding == "same":
        padding = _same_padding(kernel, dilation, stride)
    elif isinstance(padding, str):
        raise ValueError(f"padding: {padding!r}, expected an int, a tuple, 'valid' or 'same'")
    lo, hi = vconv._args.padding_lo_hi(padding, dims)
    return stride, lo, hi, dilation


def _prepare(
    dims,
    input_shape,
    weight_shape,
    dtype,
    stride,
    padding,
    dilation,
    groups,
    pad_mode,
    fp32_math,
    upsample,
    causal_upsample,
    depth_to_space,
    prologue,
):
    """(unbatched, output shape (N, spatial..., O), PreparedConv) of a call; ValueError for a bad
    argument. upsample, causal_upsample, depth_to_space: conv_general's; prologue: the fields of
    a vconv.Prologue (Prologue.fields())."""
    unbatched = len(input_shape) == dims + 1
    if unbatched:
        input_shape = (1, *input_shape)
    if len(input_shape) != dims + 2:
        raise ValueError(
            f"input: {tuple(input_shape)}, expected (N, C, {dims} spatial) or (C, {dims} spatial)"
        )
    if len(weight_shape) != dims + 2:
        raise ValueError(f"weight: {tuple(weight_shape)}, expected (O, C / groups, {dims} spatial)")
    stride, lo, hi, dilation = normalized(dims, list(weight_shape[2:]), stride, padding, dilation)
    params = (
        stride,
        lo,
        hi,
        dilation,
        [1] * dims,
        int(groups),
        False,
        vconv._args.pad_modes(pad_mode, dims),
        vconv._args.per_dim(upsample, dims, "upsample"),
        bool(causal_upsample),
        vconv._args.per_dim(depth_to_space, dims, "depth_to_space"),
    )
    # Checked (sizes, and vconv's size limit in this dtype) before torch is asked for the memory.
    output_shape = tuple(
        vconv._vconv.output_shape(channels_last(input_shape), channels_last(weight_shape), dtype, *params)
    )
    return (
        unbatched,
        output_shape,
        vconv._vconv.PreparedConv(*params, "", False, fp32_math, "none", *prologue),
    )


def _stream(x):
    return torch.cuda.current_stream(x.device).cuda_stream if x.is_cuda else 0


prepared_calls = {}  # (shapes, marshalled arguments) -> (unbatched, output shape, PreparedConv)


class Call:
    """A prepared call: run(input, weight, bias, previous, next, residual, scale, shift) computes
    it. upsample, causal_upsample, depth_to_space: conv_general's; prologue: the fields of a
    vconv.Prologue (Prologue.fields()), whose scale and shift run() takes."""

    __slots__ = ("output_shape", "prepared", "unbatched")

    def __init__(
        self,
        dims,
        input,
        weight,
        stride,
        padding,
        dilation,
        groups,
        pad_mode,
        upsample=1,
        causal_upsample=False,
        depth_to_space=1,
        prologue=vconv._args.NO_PROLOGUE,
    ):
        if not isinstance(input, torch.Tensor) or not isinstance(weight, torch.Tensor):
            raise TypeError("input and weight: expected torch.Tensor")
        # fp32 on a GPU follows torch.backends.cudnn.allow_tf32, as cuDNN convolutions do.
        fp32_math = "tf32" if input.is_cuda and torch.backends.cudnn.allow_tf32 else "exact"
        dtype = vconv._arrays.dtype_name(input) or "f32"  # an unsupported dtype is refused by the call
        arguments = (
            dims,
            dtype,
            stride,
            padding,
            dilation,
            groups,
            pad_mode,
            fp32_math,
            upsample,
            causal_upsample,
            depth_to_space,
            prologue,
        )
        self.unbatched, self.output_shape, self.prepared = vconv._args.prepared_call(
            prepared_calls,
            (input.shape, weight.shape),
            arguments,
            lambda: _prepare(dims, input.shape, weight.shape, dtype, *arguments[2:]),
        )

    def run(self, input, weight, bias, previous=None, next=None, residual=None, scale=None, shift=None):
        """The output (N, O, spatial...) in channels-last memory (the (N, spatial..., O) tensor it
        is computed into, seen through movedim); unbatched in, unbatched out. previous / next:
        the frame cache (Options::frame_cache) as (N, C, F, H, W) tensors, next written;
        residual: None or a tensor of the output's shape (N, O, spatial...), unbatched with an
        unbatched input; scale / shift: the prologue's, None or (C,)."""
        if next is not None and next.shape[2] == 0:  # a depth-1 kernel keeps no frame
            previous = next = None
        x = with_unit_channel_stride(input.unsqueeze(0) if self.unbatched else input)
        y = x.new_empty(self.output_shape)
        # DLPack capsules: a tenth of the cost of Tensor.__dlpack__ (vconv._arrays._Framework).
        # The bias is added by the conv's store (the fused epilogue), not by a second pass over y.
        arguments = (
            to_dlpack(x),
            to_dlpack(with_unit_channel_stride(weight)),
            to_dlpack(y),
            _stream(x),
            True,
            None if bias is None else to_dlpack(bias.detach().contiguous()),
            None if previous is None else to_dlpack(cache_like(previous, x)),
            None if next is None else to_dlpack(next),
            None if residual is None else to_dlpack(self._batched(residual)),
            None if scale is None else to_dlpack(scale.detach().contiguous()),
            None if shift is None else to_dlpack(shift.detach().contiguous()),
        )
        if torch.autograd._profiler_enabled():  # the call as an operator in torch.profiler's tables
            with torch.profiler.record_function("vconv::conv"):
                self.prepared(*arguments)
        else:
            self.prepared(*arguments)
        y = y.movedim(-1, 1)
        return y.squeeze(0) if self.unbatched else y

    def _batched(self, residual):
        """The residual as the call takes it: batched like the input, unit channel stride."""
        return with_unit_channel_stride(
            residual.detach().unsqueeze(0) if self.unbatched else residual.detach()
        )
