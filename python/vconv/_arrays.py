"""The frameworks vconv meets through DLPack: which one an array belongs to, where it lives, how to
allocate a result of the same kind, and which stream its framework computes on."""


def framework_of(a):
    """'numpy', 'torch', 'cupy', or the top-level module name of the array's type."""
    return type(a).__module__.split(".")[0]


def shape_of(a):
    return tuple(int(s) for s in a.shape)


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


def empty_like_input(x, shape):
    """An uninitialised array of `shape`, of x's framework, dtype and device."""
    fw = framework_of(x)
    if fw == "numpy":
        import numpy

        return numpy.empty(shape, dtype=x.dtype)
    if fw == "torch":
        import torch

        return torch.empty(shape, dtype=x.dtype, device=x.device)
    if fw == "cupy":
        import cupy

        with x.device:
            return cupy.empty(shape, dtype=x.dtype)
    if hasattr(x, "__array_namespace__"):
        xp = x.__array_namespace__()
        return xp.empty(shape, dtype=x.dtype, device=x.device)
    raise TypeError(
        f"cannot allocate a result of type {type(x).__name__}: pass out= (any DLPack array), "
        "or use numpy, torch, cupy or an array-API array"
    )


def current_stream(x):
    """The CUDA stream x's framework computes on now (0, the default stream, when it has none)."""
    if device_of(x)[0] != "cuda":
        return 0
    fw = framework_of(x)
    if fw == "torch":
        import torch

        return torch.cuda.current_stream(x.device).cuda_stream
    if fw == "cupy":
        import cupy

        with x.device:
            return cupy.cuda.get_current_stream().ptr
    return 0
