"""The frameworks vconv meets through DLPack: which one an array belongs to, where it lives, how to
allocate a result of the same kind, and which stream its framework computes on."""


def framework_of(a):
    """'numpy', 'torch', 'cupy', or the top-level module name of the array's type."""
    return type(a).__module__.split(".")[0]


def shape_of(a):
    return tuple(int(s) for s in a.shape)


def element_strides(a):
    """The array's strides in elements (torch counts them so; numpy and cupy count bytes)."""
    if framework_of(a) == "torch":
        return list(a.stride())
    return [s // a.itemsize for s in a.strides]


def dtype_name(a):
    """'f32', 'f16' or 'bf16' for the array's dtype, as the planner spells them; None otherwise."""
    name = str(a.dtype).split(".")[-1]
    return {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}.get(name)


def device_of(a):
    """('cpu', 0) or ('cuda', index) of an array, from its DLPack device."""
    kind, index = a.__dlpack_device__()
    # DLPack device types: 1 CPU, 2 CUDA, 3 CUDA host (pinned), 13 CUDA managed.
    if kind in (1, 3):
        return "cpu", 0
    if kind in (2, 13):
        return "cuda", int(index)
    raise TypeError(f"unsupported device (DLPack device type {kind}); expected the CPU or a CUDA device")


class _Framework:
    """What vconv does per call with an array of one type, found once per type: a call then
    costs a dict lookup, not a framework lookup.
    empty(x, shape): an uninitialised array of `shape`, of x's framework, dtype and device.
    stream(x): the CUDA stream x's framework computes on now (0, the default stream, when it has
    none or x is not on a GPU).
    export(x): what the extension takes for x: a DLPack capsule for torch
    (torch.utils.dlpack.to_dlpack costs a tenth of Tensor.__dlpack__, which nanobind calls
    otherwise), x itself for the others."""

    __slots__ = ("empty", "stream", "export")

    def __init__(self, x):
        fw = framework_of(x)
        self.export = _itself
        self.stream = _default_stream
        if fw == "numpy":
            import numpy

            self.empty = lambda x, shape: numpy.empty(shape, dtype=x.dtype)
        elif fw == "torch":
            import torch
            import torch.utils.dlpack

            self.empty = lambda x, shape: x.new_empty(shape)
            self.stream = lambda x: torch.cuda.current_stream(x.device).cuda_stream if x.is_cuda else 0
            self.export = torch.utils.dlpack.to_dlpack
        elif fw == "cupy":
            import cupy

            def empty(x, shape):
                with x.device:
                    return cupy.empty(shape, dtype=x.dtype)

            def stream(x):
                with x.device:
                    return cupy.cuda.get_current_stream().ptr

            self.empty, self.stream = empty, stream
        elif hasattr(x, "__array_namespace__"):
            self.empty = lambda x, shape: x.__array_namespace__().empty(shape, dtype=x.dtype, device=x.device)
        else:
            self.empty = _cannot_allocate


def _itself(x):
    return x


def _default_stream(x):
    return 0


def _cannot_allocate(x, shape):
    raise TypeError(
        f"cannot allocate a result of type {type(x).__name__}: pass out= (any DLPack array), "
        "or use numpy, torch, cupy or an array-API array"
    )


_frameworks = {}  # array type -> _Framework


def framework_functions(x):
    """The _Framework of x's type."""
    fw = _frameworks.get(type(x))
    if fw is None:
        fw = _frameworks[type(x)] = _Framework(x)
    return fw


def exported(x):
    """x as the extension takes it (_Framework.export)."""
    return framework_functions(x).export(x)
