"""conv_general's fused options (prologue, residual, upsample, causal_upsample, depth_to_space)
against the unfused sequence in float64 torch (F.group_norm / F.normalize, F.silu,
F.interpolate(mode="nearest"), F.pad, F.conv1d/2d/3d, F.pixel_shuffle or a reshape, the residual
add), their errors, the prepared-call cache, and vconv.plan's view of them."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the fusion tests are skipped")
F = torch.nn.functional

import vconv
from fusion_reference import channels_first, channels_last, rand, unfused
from reference import TOLERANCE, rel_error

cuda = pytest.mark.skipif(
    not (torch.cuda.is_available() and vconv.cuda_device_count() > 0),
    reason="no CUDA device (or vconv built without CUDA): GPU test skipped",
)

# (name, dims, C, O, kernel, conv_general keywords and the reference's) per case; tensors are made
# per case from its seed.
CASES = [
    ("group_norm_silu", 3, 8, 6, 3, dict(prologue=("group_norm", 4, 1e-6, True, "silu"), padding=1)),
    ("group_norm_plain", 2, 6, 5, 3, dict(prologue=("group_norm", 3, 1e-5, False, None), padding=1)),
    (
        "rms_norm_silu_causal",
        3,
        8,
        4,
        3,
        dict(prologue=("rms_norm", 0, 1e-12, True, "silu"), lo=[2, 1, 1], hi=[0, 1, 1]),
    ),
    (
        "rms_norm_replicate",
        3,
        4,
        4,
        3,
        dict(prologue=("rms_norm", 0, 1e-12, True, None), padding=1, pad_mode="replicate"),
    ),
    ("scale_shift", 2, 5, 3, 3, dict(prologue=("scale_shift", 0, 1e-5, True, None), padding=1)),
    ("silu_only", 1, 4, 3, 3, dict(prologue=(None, 0, 1e-5, False, "silu"), padding=1)),
    ("upsample_space", 3, 4, 5, 3, dict(upsample=[1, 2, 2], padding=1)),
    ("upsample_2d", 2, 3, 4, 3, dict(upsample=2, padding=1, pad_mode="reflect")),
    ("upsample_1d", 1, 3, 2, 3, dict(upsample=3, padding=1)),
    ("causal_upsample", 3, 4, 3, 3, dict(upsample=2, causal_upsample=True, lo=[2, 1, 1], hi=[0, 1, 1])),
    ("depth_to_space_2d", 2, 4, 12, 3, dict(depth_to_space=2, padding=1)),
    ("depth_to_space_time", 3, 4, 8, 3, dict(depth_to_space=[2, 1, 1], lo=[2, 1, 1], hi=[0, 1, 1])),
    ("depth_to_space_3d", 3, 3, 16, 1, dict(depth_to_space=[2, 2, 1])),
    ("depth_to_space_1d", 1, 3, 6, 3, dict(depth_to_space=3, padding=1)),
    ("residual", 3, 4, 5, 3, dict(residual=True, padding=1, activation="silu", bias=True)),
    (
        "all",
        3,
        8,
        16,
        3,
        dict(
            prologue=("group_norm", 2, 1e-6, True, "silu"),
            upsample=[1, 2, 2],
            depth_to_space=[2, 1, 1],
            residual=True,
            bias=True,
            lo=[2, 1, 1],
            hi=[0, 1, 1],
        ),
    ),
]


def make_case(dims, c, o, kernel, spec, seed):
    """(x, w, conv_general keywords, unfused() keywords) of a case, channels-last torch tensors."""
    g = torch.Generator().manual_seed(seed)
    sizes = [5, 6, 7][-dims:]
    x = rand(g, 2, *sizes, c) * 2 + 0.5  # off-centre, so that the norms have work to do
    w = rand(g, o, *[kernel] * dims, c)
    kw, ref = {}, {}
    if "padding" in spec:
        kw["padding"] = spec["padding"]
        ref["lo"] = ref["hi"] = vconv._args.per_dim(spec["padding"], dims, "padding")
    if "lo" in spec:
        kw["padding"] = (spec["lo"], spec["hi"])
        ref["lo"], ref["hi"] = spec["lo"], spec["hi"]
    for name in ("pad_mode", "activation", "causal_upsample"):
        if name in spec:
            kw[name] = ref[name] = spec[name]
    for name in ("upsample", "depth_to_space"):
        if name in spec:
            kw[name] = spec[name]
            ref[name] = vconv._args.per_dim(spec[name], dims, name)
    if spec.get("bias"):
        kw["bias"] = ref["bias"] = rand(g, o)
    if "prologue" in spec:
        norm, groups, eps, affine, activation = spec["prologue"]
        scale, shift = (rand(g, c) + 1.5, rand(g, c)) if affine else (None, None)
        kw["prologue"] = ref["prologue"] = vconv.Prologue(norm, groups, eps, scale, shift, activation)
    if spec.get("residual"):
        shape = unfused(x, w, **ref).shape
        kw["residual"] = ref["residual"] = rand(g, *shape)
    return x, w, kw, ref


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_fused_call_matches_the_unfused_sequence(case):
    _, dims, c, o, kernel, spec = case
    x, w, kw, ref = make_case(dims, c, o, kernel, spec, seed=len(case[0]))
    expected = unfused(x, w, **ref)
    y = vconv.conv_general(x, w, **kw)
    assert y.shape == expected.shape
    assert rel_error(y.numpy(), expected.numpy()) <= TOLERANCE["float32"]
    # The planner's choice agrees with the reference algorithm forced.
    forced = vconv.conv_general(x, w, algorithm="reference", **kw)
    assert rel_error(forced.numpy(), expected.numpy()) <= TOLERANCE["float32"]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision(dtype):
    """The prologue rounds x' to the input's dtype, as the unfused model stores it; the rest
    accumulates in float: within 1e-2 of the float64 sequence."""
    x, w, kw, ref = make_case(3, 8, 16, 3, CASES[-1][-1], seed=6)
    expected = unfused(x, w, **ref)
    p = kw["prologue"]
    kw["prologue"] = vconv.Prologue(
        p.norm, p.groups, p.eps, p.scale.to(dtype), p.shift.to(dtype), p.activation
    )
    kw = {k: v.to(dtype) if isinstance(v, torch.Tensor) else v for k, v in kw.items()}
    y = vconv.conv_general(x.to(dtype), w.to(dtype), **kw)
    assert y.dtype == dtype
    assert rel_error(y.float().numpy(), expected.numpy()) <= TOLERANCE[str(dtype).split(".")[-1]]


def test_numpy_arrays_and_accumulate():
    x, w, kw, ref = make_case(3, 8, 16, 3, CASES[-1][-1], seed=3)
    expected = unfused(x, w, **ref).numpy()
    as_numpy = {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in kw.items()}
    p = kw["prologue"]
    as_numpy["prologue"] = vconv.Prologue(
        p.norm, p.groups, p.eps, p.scale.numpy(), p.shift.numpy(), p.activation
    )
    y = vconv.conv_general(x.numpy(), w.numpy(), **as_numpy)
    assert isinstance(y, np.ndarray) and y.shape == expected.shape
    assert rel_error(y, expected) <= TOLERANCE["float32"]
    start = np.random.default_rng(4).uniform(-1, 1, expected.shape).astype(np.float32)
    out = start.copy()
    vconv.conv_general(x.numpy(), w.numpy(), out=out, accumulate=True, **as_numpy)
    assert rel_error(out, expected + start) <= TOLERANCE["float32"]


def test_pixel_shuffle_is_depth_to_space_in_2d():
    """The 2D reference above is F.pixel_shuffle's order (the one the header promises)."""
    g = torch.Generator().manual_seed(11)
    x, w = rand(g, 1, 6, 7, 3), rand(g, 12, 3, 3, 3)
    y = vconv.conv2d(x, w, padding=1, depth_to_space=2)
    conv = F.conv2d(channels_first(x.double()), channels_first(w.double()), padding=1)
    expected = channels_last(F.pixel_shuffle(conv, 2))
    assert y.shape == expected.shape == (1, 12, 14, 3)
    assert rel_error(y.numpy(), expected.numpy()) <= TOLERANCE["float32"]


def test_prepared_calls_tell_the_new_arguments_apart():
    """Calls of the same shapes differing only in a fused option each get their own result."""
    g = torch.Generator().manual_seed(12)
    x, w = rand(g, 1, 4, 5, 6, 8) + 0.5, rand(g, 8, 3, 3, 3, 8)
    scale, shift = rand(g, 8) + 1.5, rand(g, 8)
    variants = [
        dict(),
        dict(prologue=vconv.Prologue("group_norm", 2, 1e-5, scale, shift)),
        dict(prologue=vconv.Prologue("group_norm", 4, 1e-5, scale, shift)),
        dict(prologue=vconv.Prologue("group_norm", 4, 1e-5, scale, shift, "silu")),
        dict(prologue=vconv.Prologue("rms_norm", 0, 1e-12, scale, shift)),
        dict(prologue=vconv.Prologue("rms_norm", 0, 1e-12, shift, scale)),  # per-call tensors
        dict(upsample=[1, 2, 2]),
        dict(upsample=2),
        dict(upsample=2, causal_upsample=True),
        dict(depth_to_space=2),
        dict(depth_to_space=[2, 1, 1]),
        dict(depth_to_space=[1, 2, 2]),
    ]
    for _ in range(2):  # the second round finds every call prepared
        results = []
        for kw in variants:
            ref = {
                k: vconv._args.per_dim(v, 3, k) if k in ("upsample", "depth_to_space") else v
                for k, v in kw.items()
            }
            expected = unfused(x, w, lo=[1] * 3, hi=[1] * 3, **ref)
            y = vconv.conv3d(x, w, padding=1, **kw)
            assert y.shape == expected.shape, kw
            assert rel_error(y.numpy(), expected.numpy()) <= TOLERANCE["float32"], kw
            results.append(y)
        for a, b in zip(results, results[1:]):
            assert a.shape != b.shape or not torch.equal(a, b)


def test_plan_says_which_algorithms_apply_each_fusion():
    shapes = dict(input=[1, 4, 6, 6, 8], weight=[8, 3, 3, 3, 8])
    plain = vconv.plan(shapes["input"], shapes["weight"], padding=1)
    assert plain.algorithm != "reference"
    # The prologue runs on every algorithm: one that does not apply it while it reads runs on a
    # staging pass (core/staging.h) the plan names.
    group_norm = vconv.Prologue("group_norm", 2)
    staged = vconv.plan(shapes["input"], shapes["weight"], padding=1, prologue=group_norm, algorithm=plain.algorithm)
    assert staged.algorithm == plain.algorithm
    assert "prologue" in staged.staging, staged
    # Every CPU algorithm adds a residual in its store.
    residual = vconv.plan(shapes["input"], shapes["weight"], padding=1, residual=True)
    assert residual.algorithm == plain.algorithm, residual
    assert not any("residual" in why_not for _, _, why_not, _ in residual.candidates), residual
    for kw, why in [
        (dict(upsample=2), "upsample"),
        (dict(depth_to_space=2), "depth-to-space"),
    ]:
        p = vconv.plan(shapes["input"], shapes["weight"], padding=1, **kw)
        assert p.algorithm == "reference", kw  # the only CPU algorithm that applies them today
        assert any(why in why_not for _, valid, why_not, _ in p.candidates if not valid), (kw, p)


def test_errors_name_the_argument():
    g = torch.Generator().manual_seed(13)
    x, w = rand(g, 1, 4, 5, 6, 8), rand(g, 6, 3, 3, 3, 8)
    with pytest.raises(
        ValueError,
        match=r"options\.epilogue\.residual: shape \[1, 4, 5, 6, 5\], expected the output's \[1, 4, 5, 6, 6\]",
    ):
        vconv.conv3d(x, w, padding=1, residual=rand(g, 1, 4, 5, 6, 5))
    with pytest.raises(ValueError, match=r"options\.prologue\.groups: 3 groups for C = 8 .*divisor"):
        vconv.conv3d(x, w, padding=1, prologue=vconv.Prologue("group_norm", groups=3))
    with pytest.raises(ValueError, match=r"options\.prologue\.groups: 0 groups"):
        vconv.conv3d(x, w, padding=1, prologue=vconv.Prologue("group_norm"))
    with pytest.raises(ValueError, match=r"params\.depth_to_space: O = 6 .*not divisible by 4"):
        vconv.conv3d(x, w, padding=1, depth_to_space=[1, 2, 2])
    with pytest.raises(ValueError, match=r"options\.prologue\.scale: shape \[7\], expected \[8\]"):
        vconv.conv3d(x, w, padding=1, prologue=vconv.Prologue("scale_shift", scale=rand(g, 7)))
    with pytest.raises(ValueError, match=r"options\.prologue\.shift: shape \[8, 1\]"):
        vconv.conv3d(x, w, padding=1, prologue=vconv.Prologue("rms_norm", shift=rand(g, 8, 1)))
    with pytest.raises(ValueError, match=r"options\.prologue\.eps"):
        vconv.conv3d(x, w, padding=1, prologue=vconv.Prologue("rms_norm", eps=0.0))
    with pytest.raises(ValueError, match=r"params\.causal_upsample: upsample\[0\] = 1"):
        vconv.conv3d(x, w, padding=1, upsample=[1, 2, 2], causal_upsample=True)
    with pytest.raises(ValueError, match=r"upsample: \[2, 2\], expected an int or a sequence of 3 ints"):
        vconv.conv3d(x, w, padding=1, upsample=[2, 2])
    with pytest.raises(ValueError, match=r"params\.depth_to_space\[0\]: got 0, expected >= 1"):
        vconv.conv3d(x, w, padding=1, depth_to_space=0)
    with pytest.raises(ValueError, match=r"prologue\.norm: 'layer_norm', expected None or one of"):
        vconv.Prologue("layer_norm")
    with pytest.raises(ValueError, match=r"prologue\.activation: 'relu'"):
        vconv.Prologue("rms_norm", activation="relu")
    with pytest.raises(TypeError, match=r"prologue\.groups: 2\.0, expected an int"):
        vconv.Prologue("group_norm", groups=2.0)
    with pytest.raises(ValueError, match=r"prologue\.scale / prologue\.shift: given without a norm"):
        vconv.Prologue(scale=rand(g, 8))
    with pytest.raises(TypeError, match=r"prologue: dict, expected None or a vconv\.Prologue"):
        vconv.conv3d(x, w, padding=1, prologue={"norm": "rms_norm"})


@cuda
def test_gpu_matches_the_unfused_sequence():
    """On a GPU wherever a CUDA algorithm applies the fusions (the planner says which)."""
    x, w, kw, ref = make_case(3, 8, 16, 3, CASES[-1][-1], seed=5)
    try:
        vconv.plan(
            list(x.shape),
            list(w.shape),
            padding=kw["padding"],
            device="cuda:0",
            residual=True,
            upsample=kw["upsample"],
            depth_to_space=kw["depth_to_space"],
            prologue=kw["prologue"],
        )
    except ValueError as e:
        pytest.skip(f"no CUDA algorithm applies these fusions yet: {e}")
    expected = unfused(x, w, **ref)
    p = kw["prologue"]
    kw["prologue"] = vconv.Prologue(p.norm, p.groups, p.eps, p.scale.cuda(), p.shift.cuda(), p.activation)
    kw = {k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in kw.items()}
    y = vconv.conv_general(x.cuda(), w.cuda(), **kw)
    assert rel_error(y.cpu().numpy(), expected.numpy()) <= TOLERANCE["float32"]
