"""Drop-in replacements for torch.nn.functional.conv1d/2d/3d and nn.Conv1d/2d/3d, and a streaming
causal Conv3d.

Tensors keep PyTorch's logical layout (N, C, spatial...). vconv computes channels-last, so an
input in channels_last / channels_last_3d memory format (or any strides with the channel stride
1) is taken as it lies; any other input is copied once into channels-last, the one copy a
channels-first kernel would avoid. The result is in channels-last memory format. fp32 on a GPU
follows torch.backends.cudnn.allow_tf32, as cuDNN convolutions do. Forward only: a call that
needs a gradient raises at backward time. Under torch.compile the calls are the custom operators
vconv::conv and vconv::conv_streaming (vconv._torch_ops), traced without graph breaks. The
modules store their weights in channels-last memory once (_unit_channel_stride_weights).

conv1d/2d/3d take vconv.conv_general's fusions as keywords beyond torch.nn.functional's, run in
the same call (the CPU reference applies them all; vconv.plan says which other algorithms do):
residual: None or a tensor of the output's shape (N, O', spatial'...): conv + bias + residual.
upsample: an int or one per spatial dimension: F.interpolate(input, scale_factor=upsample,
mode="nearest") before the conv, never stored; causal_upsample: the first dimension upsampled
causally (frame 0 once, T -> 1 + upsample[0] * (T - 1)).
depth_to_space: an int or one per spatial dimension r: the conv's O channels stored as
O / prod(r) channels on a grid r times larger (F.pixel_shuffle's order in space; in time, whole
blocks of O / r[0] channels become consecutive frames, as Wan's time upsampler).
prologue: None or a vconv.Prologue whose scale and shift are (C,) tensors: a norm (GroupNorm,
Wan's RMS norm, or a scale and shift) and SiLU applied to the input as the conv reads it.
    y = vconv.torch.conv3d(x, w, b, padding=1, residual=x, prologue=vconv.Prologue(
        "group_norm", groups=32, eps=1e-6, scale=norm.weight, shift=norm.bias, activation="silu"))
NormActConv3d is that block as a module.
"""

import torch

import vconv

from . import _torch_call, _torch_ops

__all__ = [
    "CausalConv3d",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "NormActConv3d",
    "RMSNorm",
    "Report",
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


def _compiled_conv(dims, input, weight, bias, stride, padding, dilation, groups, pad_mode, previous, fusions):
    """The call as the custom operator vconv::conv, which torch.compile traces."""
    stride, lo, hi, dilation = _torch_call.normalized(dims, weight.shape[2:], stride, padding, dilation)
    unbatched = input.dim() == dims + 1
    x = input.unsqueeze(0) if unbatched else input
    residual = fusions["residual"]
    if unbatched and residual is not None:
        residual = residual.unsqueeze(0)
    norm, prologue_groups, eps, activation = fusions["prologue"]
    y = _torch_ops.conv(
        x,
        weight,
        bias,
        stride,
        lo,
        hi,
        dilation,
        int(groups),
        _torch_ops.pad_mode_string(pad_mode),
        previous,
        residual,
        vconv._args.per_dim(fusions["upsample"], dims, "upsample"),
        bool(fusions["causal_upsample"]),
        vconv._args.per_dim(fusions["depth_to_space"], dims, "depth_to_space"),
        norm,
        prologue_groups,
        eps,
        activation,
        fusions["scale"],
        fusions["shift"],
    )
    return y.squeeze(0) if unbatched else y


def _conv(
    dims,
    input,
    weight,
    bias,
    stride,
    padding,
    dilation,
    groups,
    pad_mode="zeros",
    previous=None,
    residual=None,
    upsample=1,
    causal_upsample=False,
    depth_to_space=1,
    prologue=None,
):
    """conv + bias (+ residual, through the prologue, upsampled, stored through depth-to-space:
    vconv.conv_general's fusions); pad_mode: one or one per dimension; previous: a causal 3D
    conv's frame cache (N, C, F, H, W), or None."""
    prologue_fields, scale, shift = vconv._args.prologue(prologue)
    if torch.compiler.is_compiling():
        fusions = dict(
            residual=residual,
            upsample=upsample,
            causal_upsample=causal_upsample,
            depth_to_space=depth_to_space,
            prologue=prologue_fields,
            scale=scale,
            shift=shift,
        )
        return _compiled_conv(
            dims, input, weight, bias, stride, padding, dilation, groups, pad_mode, previous, fusions
        )
    call = _torch_call.Call(
        dims,
        input,
        weight,
        stride,
        padding,
        dilation,
        groups,
        pad_mode,
        upsample,
        causal_upsample,
        depth_to_space,
        prologue_fields,
    )
    return _forward_only(
        lambda: call.run(input, weight, bias, previous, None, residual, scale, shift),
        input,
        weight,
        bias,
        previous,
        residual,
        scale,
        shift,
    )


def _functional(dims, doc):
    """A functional conv of `dims` spatial dimensions, as torch.nn.functional's, with the fusions
    as keywords; `doc` names its shapes."""

    def conv(
        input,
        weight,
        bias=None,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        *,
        residual=None,
        upsample=1,
        causal_upsample=False,
        depth_to_space=1,
        prologue=None,
    ):
        return _conv(
            dims,
            input,
            weight,
            bias,
            stride,
            padding,
            dilation,
            groups,
            residual=residual,
            upsample=upsample,
            causal_upsample=causal_upsample,
            depth_to_space=depth_to_space,
            prologue=prologue,
        )

    conv.__name__ = conv.__qualname__ = f"conv{dims}d"
    conv.__doc__ = doc + "; the keywords are the fusions (the module's docstring)."
    return conv


conv1d = _functional(1, "torch.nn.functional.conv1d: input (N, C, L), weight (O, C / groups, K)")
conv2d = _functional(2, "torch.nn.functional.conv2d: input (N, C, H, W), weight (O, C / groups, KH, KW)")
conv3d = _functional(
    3, "torch.nn.functional.conv3d: input (N, C, D, H, W), weight (O, C / groups, KD, KH, KW)"
)


def causal_conv3d(
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    padding_mode="zeros",
    cache=None,
    *,
    residual=None,
    prologue=None,
):
    """A streaming conv3d, causal in time: returns (output, next_cache).

    Output frame t reads input frames t - F .. t, F = (KD - 1) * dilation[0], so no frame after
    it. input (N, C, D, H, W), weight (O, C / groups, KD, KH, KW); padding: the spatial padding
    (an int or (H, W)); stride: its time entry must be 1. cache: None on a sequence's first chunk
    (the F frames before it are padding_mode's), else the next_cache the previous call returned,
    (N, C, F, H, W), read in place of that padding. Chunks of any length >= 1 give what one call
    over the whole sequence gives. residual and prologue: conv3d's fusions (the module's
    docstring); the cache then holds frames after the prologue, as the models cache them, and a
    norm's statistics are each chunk's (per-pixel norms, rms_norm and scale_shift, make chunks
    equal one call; group_norm's are those of a decoder that normalizes each chunk).
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
    prologue_fields, scale, shift = vconv._args.prologue(prologue)
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
            residual,
            *prologue_fields,
            scale,
            shift,
        )
    call = _torch_call.Call(
        3, input, weight, stride, (lo, hi), dilation, groups, padding_mode, prologue=prologue_fields
    )

    def compute():
        next_cache = _torch_call.empty_channels_last(input, _torch_call.cache_shape(input, weight, dilation))
        return call.run(input, weight, bias, cache, next_cache, residual, scale, shift), next_cache

    return _forward_only(compute, input, weight, bias, cache, residual, scale, shift)


_PAD_MODES = ("zeros", "replicate", "reflect")


def _pad_mode(padding_mode):
    """nn.ConvNd's padding_mode as vconv's pad mode."""
    if padding_mode not in _PAD_MODES:
        raise ValueError(
            f"padding_mode: {padding_mode!r} is not supported by vconv; expected one of {_PAD_MODES}"
        )
    return padding_mode


def _unit_channel_stride_weights(module):
    """Stores the weight of `module` and of every conv inside it with unit channel stride
    (channels_last / channels_last_3d memory; values, dtype, device and Parameter unchanged),
    once, so that no vconv call copies it (_torch_call.with_unit_channel_stride would, at every
    call). A later load_state_dict keeps the layout (it copies into the tensor). The weight gets new
    storage: parameters that shared storage without being the same Parameter (views, flat
    parameters) stop sharing it."""
    for m in module.modules():
        w = getattr(m, "weight", None)
        if isinstance(m, torch.nn.modules.conv._ConvNd) and isinstance(w, torch.Tensor) and w.stride(1) != 1:
            with torch.inference_mode(False), torch.no_grad():
                w.data = _torch_call.with_unit_channel_stride(w.data)


def _frozen(value):
    """A module argument as a cache key holds it: lists as tuples (a list changed in place must not
    compare equal to itself as it was)."""
    return tuple(value) if isinstance(value, list) else value


class _ConvMixin:
    """forward() of nn.ConvNd through vconv; parameters, state_dict and repr are nn.ConvNd's.
    The weight is kept with unit channel stride (_unit_channel_stride_weights)."""

    _dims = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _unit_channel_stride_weights(self)

    def forward(self, input):
        weight = self.weight
        args = (_frozen(self.stride), _frozen(self.padding), _frozen(self.dilation), self.groups,
                _pad_mode(self.padding_mode))
        if torch.is_grad_enabled() or torch.compiler.is_compiling():
            # Autograd's refusal of a backward, torch.compile's custom operator: _conv's path.
            return _conv(self._dims, input, weight, self.bias, *args)
        # Inference: the call prepared at the last forward when nothing it depends on changed
        # (a model calls each conv on the same shapes over and over), else a new one.
        key = (
            input.shape,
            input.dtype,
            input.device,
            weight.shape,
            weight.dtype,
            args,
            input.is_cuda and torch.backends.cudnn.allow_tf32,
        )
        prepared = self.__dict__.get("_vconv_call")
        if prepared is None or prepared[0] != key:
            prepared = self.__dict__["_vconv_call"] = (key, _torch_call.Call(self._dims, input, weight, *args))
        return prepared[1].run(input, weight, self.bias)

    def __getstate__(self):
        # The prepared call is vconv's extension object: not pickled (torch.save, deepcopy).
        get = getattr(super(), "__getstate__", None)  # a subclass's own, or object's (3.11+)
        state = get() if get is not None else self.__dict__
        if isinstance(state, dict) and "_vconv_call" in state:
            state = {k: v for k, v in state.items() if k != "_vconv_call"}
        return state

    @classmethod
    def from_torch(cls, module):
        """A vconv module sharing `module`'s parameters (no copy of the Parameters; the weight's
        memory becomes channels-last once, _unit_channel_stride_weights)."""
        m = cls.__new__(cls)
        m.__dict__.update(module.__dict__)
        _unit_channel_stride_weights(m)
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
        _unit_channel_stride_weights(self)

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


class RMSNorm(torch.nn.Module):
    """Wan's RMS norm over the channels of (N, C, spatial...): F.normalize(x, dim=1, eps=eps) *
    sqrt(C) * weight + bias, per pixel (diffusers' WanRMS_norm: its gamma and bias, of shape
    (C, 1, 1, 1), are this module's weight and bias flattened to (C,)). NormActConv3d fuses it into
    its conv; its own forward is the unfused torch computation."""

    def __init__(self, num_channels, eps=1e-12, bias=False, device=None, dtype=None):
        super().__init__()
        self.num_channels, self.eps = int(num_channels), float(eps)
        self.weight = torch.nn.Parameter(torch.ones(num_channels, device=device, dtype=dtype))
        if bias:
            self.bias = torch.nn.Parameter(torch.zeros(num_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, input):
        per_channel = (1, -1) + (1,) * (input.dim() - 2)
        y = torch.nn.functional.normalize(input, dim=1, eps=self.eps) * self.num_channels**0.5
        y = y * self.weight.view(per_channel)
        return y if self.bias is None else y + self.bias.view(per_channel)

    def extra_repr(self):
        return f"{self.num_channels}, eps={self.eps}, bias={self.bias is not None}"


class NormActConv3d(torch.nn.Module):
    """conv(act(norm(input))), as one vconv call where that pays: the norm and the activation
    applied as the conv reads its input (a vconv.Prologue), so the normalized tensor is never
    stored; else the norm and activation in torch, then the vconv conv.

    norm: an nn.GroupNorm (torch's GroupNorm), a vconv.torch.RMSNorm (Wan's RMS norm) or None;
    conv: an nn.Conv3d; activation: 'silu' or None. Both modules are held as they are (shared, not
    copied), so the state_dict is theirs under the prefixes `norm.` and `conv.`: `norm.weight`,
    `norm.bias` (absent for a norm without them) and `conv.weight`, `conv.bias`: a model's
    GroupNorm and Conv3d weights load unchanged. causal: the time padding is the causal F frames
    before the input and none after, F = (KD - 1) * dilation[0], conv.padding[0] must be 0 and
    conv.padding[1:] is the spatial padding (as CausalConv3d's); without it conv's padding
    applies as nn.Conv3d's. The norm's statistics are those of the whole input (no frame cache).
    fuse: None (the default) fuses where an algorithm on the input's device applies the prologue
    at most twice as slow, by the planner's estimates, as the best conv without it (today only
    the CPU reference applies one, far slower: so not yet; vconv.plan(..., prologue=...) shows
    it); True always fuses (an error where no algorithm applies it); False never does.
    Forward only, as the other vconv modules.
        block = NormActConv3d(nn.GroupNorm(32, 128, eps=1e-6), nn.Conv3d(128, 128, 3, padding=1))
        block.load_state_dict({"norm.weight": ..., "norm.bias": ..., "conv.weight": ..., "conv.bias": ...})
    """

    def __init__(self, norm, conv, activation="silu", causal=False, fuse=None):
        super().__init__()
        if not isinstance(conv, torch.nn.Conv3d):
            raise TypeError(f"conv: {type(conv).__name__}, expected a torch.nn.Conv3d")
        if norm is not None and not isinstance(norm, (torch.nn.GroupNorm, RMSNorm)):
            raise TypeError(
                f"norm: {type(norm).__name__}, expected a torch.nn.GroupNorm, a vconv.torch.RMSNorm or None"
            )
        channels = norm.num_channels if norm is not None else conv.in_channels
        if channels != conv.in_channels:
            raise ValueError(f"norm: {channels} channels, expected conv's in_channels = {conv.in_channels}")
        if causal and (isinstance(conv.padding, str) or conv.padding[0] != 0):
            raise ValueError(
                f"conv.padding: {conv.padding!r}; expected (0, H, W) with causal=True (the time "
                "padding is the causal one)"
            )
        _pad_mode(conv.padding_mode)
        vconv._args.activation(activation)
        if fuse not in (None, True, False):
            raise ValueError(f"fuse: {fuse!r}, expected None (the planner decides), True or False")
        self.norm, self.conv, self.activation, self.causal = norm, conv, activation, bool(causal)
        self.fuse = fuse
        _unit_channel_stride_weights(conv)

    def prologue(self):
        """The norm and activation as the vconv.Prologue the call applies."""
        norm = self.norm
        if isinstance(norm, torch.nn.GroupNorm):
            return vconv.Prologue(
                "group_norm", norm.num_groups, norm.eps, norm.weight, norm.bias, self.activation
            )
        if isinstance(norm, RMSNorm):
            return vconv.Prologue("rms_norm", 0, norm.eps, norm.weight, norm.bias, self.activation)
        return vconv.Prologue(activation=self.activation)

    def forward(self, input):
        if not isinstance(input, torch.Tensor) or input.dim() != 5:
            raise ValueError(
                f"input: {getattr(input, 'shape', type(input).__name__)}, expected a torch.Tensor "
                "(N, C, D, H, W)"
            )
        conv = self.conv
        padding = conv.padding
        if self.causal:
            frames = (conv.kernel_size[0] - 1) * conv.dilation[0]
            padding = ([frames, *conv.padding[1:]], [0, *conv.padding[1:]])
        args = (conv.stride, padding, conv.dilation, conv.groups, _pad_mode(conv.padding_mode))
        prologue = self.prologue()
        fuse = self.fuse
        if fuse is None:
            fuse = _torch_call.fuses_prologue(input, conv.weight, *args, prologue.fields())
        if fuse:
            return _conv(3, input, conv.weight, conv.bias, *args, prologue=prologue)
        h = input if self.norm is None else self.norm(input)
        h = torch.nn.functional.silu(h) if self.activation == "silu" else h
        return _conv(3, h, conv.weight, conv.bias, *args)

    def extra_repr(self):
        return f"activation={self.activation!r}, causal={self.causal}, fuse={self.fuse}"


class Report:
    """What convert() or vconv.diffusers.accelerate() did: `patched`, (module name, its class
    name) of each module now running on vconv; `skipped`, (module name, why) of each conv left to
    torch."""

    def __init__(self):
        self.patched, self.skipped = [], []

    def __str__(self):
        lines = [f"vconv patched {len(self.patched)} modules, skipped {len(self.skipped)}"]
        lines += [f"  patched {name} ({kind})" for name, kind in self.patched]
        lines += [f"  skipped {name}: {why}" for name, why in self.skipped]
        return "\n".join(lines)

    def __repr__(self):
        return f"Report(patched={len(self.patched)}, skipped={len(self.skipped)})"


_KINDS = {torch.nn.Conv1d: Conv1d, torch.nn.Conv2d: Conv2d, torch.nn.Conv3d: Conv3d}


def _why_not_weights(weight):
    """Why vconv cannot take a module whose parameters are like `weight` (dtype, device); None when
    it can. convert's and vconv.diffusers.accelerate's one check."""
    if weight.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        return f"dtype {weight.dtype}: vconv takes float32, float16 and bfloat16"
    if weight.device.type not in ("cpu", "cuda", "meta"):
        return f"device {weight.device}: vconv runs on the CPU and CUDA devices"
    return None
_subclass_patches = {}  # a subclass of nn.ConvNd -> its vconv subclass


def _why_not_converted(module, base):
    """Why convert() leaves `module` (an instance of a subclass of `base`, an nn.ConvNd) to torch;
    None when its forward is nn.ConvNd's own computation on arguments vconv takes."""
    kind = type(module)
    if isinstance(module.weight, torch.nn.parameter.UninitializedParameter):
        return f"{kind.__name__}: its parameters are not initialised yet (a lazy module before its first call)"
    if torch.nn.utils.parametrize.is_parametrized(module):
        return f"{kind.__name__}: parametrized (torch.nn.utils.parametrize); remove the parametrizations first"
    for method in ("forward", "_conv_forward"):
        if getattr(kind, method) is not getattr(base, method):
            return (
                f"{kind.__name__} overrides {method}: vconv cannot prove it computes "
                f"{base.__name__}'s (vconv.diffusers.accelerate knows diffusers' causal convs)"
            )
    if module.padding_mode not in _PAD_MODES:
        return f"padding_mode {module.padding_mode!r}: vconv takes {', '.join(_PAD_MODES)}"
    return _why_not_weights(module.weight)


def _vconv_subclass(kind, base):
    """`kind` (a subclass of nn.ConvNd `base`) with vconv's forward: a subclass of it, so that
    the converted module is still a `kind`. Pickled as `kind` converted again on loading (the
    class is made here, not importable by name)."""
    if kind not in _subclass_patches:
        members = {"_dims": _KINDS[base]._dims, "_vconv_kind": kind}
        if kind.__reduce_ex__ is object.__reduce_ex__ and kind.__reduce__ is object.__reduce__:
            members["__reduce_ex__"] = _reduce_converted  # else the class's own reduction
        _subclass_patches[kind] = type(kind.__name__, (_ConvMixin, kind), members)
    return _subclass_patches[kind]


def _reduce_converted(module, protocol):
    # The state apart from the constructor call, so that a module referring to itself (a bound
    # hook) pickles and copies as plain torch modules do. A class derived from the converted one
    # is importable by its own name: pickled as usual.
    kind = type(module)._vconv_kind
    if type(module) is not _subclass_patches.get(kind):
        return object.__reduce_ex__(module, protocol)
    return _rebuild_converted, (kind,), module.__getstate__()


def _rebuild_converted(kind):
    """An empty module of `kind` as convert() converts it; pickle then sets its state."""
    base = next(b for b in _KINDS if issubclass(kind, b))
    return torch.nn.Module.__new__(_vconv_subclass(kind, base))


def convert(model, report=False):
    """Runs the convs of `model` (in place) on vconv, sharing their parameters: each nn.Conv1d/2d/3d
    becomes vconv.torch's Conv1d/2d/3d, and each instance of a subclass of one whose forward and
    _conv_forward are nn.ConvNd's own (the same computation) becomes an instance of a subclass of
    its class with vconv's forward. Convs vconv cannot take (a subclass with its own forward, a
    padding_mode, dtype or device vconv lacks) stay as they are. Returns the model, or with
    report=True a Report of what was converted and what was skipped, and why."""
    result = Report()
    for name, module in list(model.named_modules()):
        base = next((b for b in _KINDS if isinstance(module, b)), None)
        if base is None or isinstance(module, _ConvMixin) or type(module).__module__ == __name__:
            continue  # not a conv, or vconv's own (CausalConv3d)
        why = _why_not_converted(module, base)
        if why:
            result.skipped.append((name, why))
            continue
        kind = type(module)
        # The module itself becomes the vconv one (its Parameters, hooks and place in the model
        # stay), as from_torch's copy would; the class last, after what can raise.
        _unit_channel_stride_weights(module)
        module.__class__ = _KINDS[base] if kind is base else _vconv_subclass(kind, base)
        result.patched.append((name, kind.__name__))
    return result if report else model
