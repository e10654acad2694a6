"""vconv's Python API on numpy arrays: conv_general over a random grid of MLX semantics against a
numpy oracle, the MLX wrappers, errors, and zero-copy behaviour."""

import tracemalloc

import numpy as np
import pytest
import vconv
from reference import TOLERANCE, conv_general, conv_transpose, rel_error


def random_problem(rng):
    """A random conv_general problem with a positive output size, as (x, w, kwargs, ref_args)."""
    while True:
        d = int(rng.integers(1, 4))
        groups = int(rng.integers(1, 4))
        cg, og = int(rng.integers(1, 6)), int(rng.integers(1, 5))
        n = int(rng.integers(1, 3))
        size = [int(rng.integers(1, 8)) for _ in range(d)]
        k = [int(rng.integers(1, 4)) for _ in range(d)]
        stride = [int(rng.integers(1, 4)) for _ in range(d)]
        kdil = [int(rng.integers(1, 3)) for _ in range(d)]
        idil = [int(rng.integers(1, 3)) for _ in range(d)]
        modes = [str(rng.choice(["zeros", "zeros", "replicate", "reflect"])) for _ in range(d)]
        lo, hi = [], []
        for i in range(d):
            dilated = (size[i] - 1) * idil[i] + 1
            low = -1 if modes[i] == "zeros" else 0  # negative padding crops (zeros mode here)
            top = 2 if modes[i] == "zeros" else min(2, dilated - 1)  # reflect needs pad < length
            lo.append(int(rng.integers(low, top + 1)))
            hi.append(int(rng.integers(low, top + 1)))
        flip = bool(rng.integers(0, 2))
        x = rng.uniform(-1, 1, size=(n, *size, cg * groups)).astype(np.float32)
        w = rng.uniform(-1, 1, size=(og * groups, *k, cg)).astype(np.float32)
        ref = conv_general(x, w, stride, lo, hi, kdil, idil, groups, flip, modes)
        if ref is None:
            continue

        # The argument forms MLX takes: ints where every dimension agrees, else sequences, and
        # padding as (lo, hi) when the two sides differ.
        def form(v):
            return v[0] if len(set(v)) == 1 and rng.integers(0, 2) else list(v)

        padding = form(lo) if lo == hi else (lo, hi)
        pad_mode = modes[0] if len(set(modes)) == 1 else modes
        kwargs = dict(
            stride=form(stride),
            padding=padding,
            kernel_dilation=form(kdil),
            input_dilation=form(idil),
            groups=groups,
            flip=flip,
            pad_mode=pad_mode,
        )
        return x, w, kwargs, ref


def test_conv_general_random_grid():
    rng = np.random.default_rng(5)
    for i in range(150):
        x, w, kwargs, ref = random_problem(rng)
        y = vconv.conv_general(x, w, **kwargs)
        assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == ref.shape, kwargs
        assert rel_error(y, ref) <= TOLERANCE["float32"], (i, kwargs, rel_error(y, ref))


def test_conv_general_float16():
    rng = np.random.default_rng(6)
    for _ in range(40):
        x, w, kwargs, _ = random_problem(rng)
        x, w = x.astype(np.float16), w.astype(np.float16)
        ref = conv_general(
            x,
            w,
            *[vconv._args.per_dim(kwargs[k], x.ndim - 2, k) for k in ("stride",)],
            *vconv._args.padding_lo_hi(kwargs["padding"], x.ndim - 2),
            vconv._args.per_dim(kwargs["kernel_dilation"], x.ndim - 2, ""),
            vconv._args.per_dim(kwargs["input_dilation"], x.ndim - 2, ""),
            kwargs["groups"],
            kwargs["flip"],
            vconv._args.pad_modes(kwargs["pad_mode"], x.ndim - 2),
        )
        y = vconv.conv_general(x, w, **kwargs)
        assert y.dtype == np.float16
        assert rel_error(y, ref) <= TOLERANCE["float16"], kwargs


@pytest.mark.parametrize("algorithm", ["reference", "cpu_gemm", "depth_tap", "winograd_f2x3"])
def test_forced_algorithm(algorithm):
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (2, 5, 9, 10, 6)).astype(np.float32)
    w = rng.uniform(-1, 1, (4, 3, 3, 3, 6)).astype(np.float32)
    ref = conv_general(x, w, [1] * 3, [2, 1, 1], [0, 1, 1], [1] * 3, [1] * 3, 1, False, ["zeros"] * 3)
    y = vconv.conv3d(x, w, padding=([2, 1, 1], [0, 1, 1]), algorithm=algorithm)
    assert rel_error(y, ref) <= TOLERANCE["float32"]
    assert vconv.plan(x, w, padding=([2, 1, 1], [0, 1, 1]), algorithm=algorithm).algorithm == algorithm


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_mlx_wrappers(dims):
    rng = np.random.default_rng(8 + dims)
    conv = [vconv.conv1d, vconv.conv2d, vconv.conv3d][dims - 1]
    x = rng.uniform(-1, 1, (2, *([7] * dims), 6)).astype(np.float32)
    w = rng.uniform(-1, 1, (4, *([3] * dims), 3)).astype(np.float32)
    y = conv(x, w, stride=2, padding=1, dilation=1, groups=2)
    ref = conv_general(
        x, w, [2] * dims, [1] * dims, [1] * dims, [1] * dims, [1] * dims, 2, False, ["zeros"] * dims
    )
    assert rel_error(y, ref) <= TOLERANCE["float32"]
    with pytest.raises(ValueError, match="dimensions"):
        conv(x[0], w)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_mlx_transposed_wrappers(dims):
    rng = np.random.default_rng(20 + dims)
    convt = [vconv.conv_transpose1d, vconv.conv_transpose2d, vconv.conv_transpose3d][dims - 1]
    for stride, padding, dilation, output_padding, groups in [
        (2, 1, 1, 1, 1),
        (3, 0, 2, 2, 2),
        (1, 1, 1, 0, 1),
    ]:
        x = rng.uniform(-1, 1, (2, *([4] * dims), 4)).astype(np.float32)
        w = rng.uniform(-1, 1, (6, *([3] * dims), 4 // groups)).astype(np.float32)
        y = convt(
            x,
            w,
            stride=stride,
            padding=padding,
            dilation=dilation,
            output_padding=output_padding,
            groups=groups,
        )
        ref = conv_transpose(
            x, w, [stride] * dims, [padding] * dims, [dilation] * dims, [output_padding] * dims, groups
        )
        assert y.shape == ref.shape
        assert rel_error(y, ref) <= TOLERANCE["float32"], (stride, padding, dilation, output_padding, groups)


def test_errors_name_the_argument():
    x = np.ones((1, 5, 6, 7, 8), np.float32)
    w = np.ones((4, 3, 3, 3, 8), np.float32)
    with pytest.raises(ValueError, match="channel mismatch"):
        vconv.conv3d(x, np.ones((4, 3, 3, 3, 6), np.float32))
    with pytest.raises(TypeError, match="input: unsupported dtype"):
        vconv.conv3d(x.astype(np.float64), w)
    with pytest.raises(TypeError, match="unsupported dtype"):
        vconv.conv3d(x.astype(np.int32), w.astype(np.int32))
    with pytest.raises(ValueError, match="dtype"):
        vconv.conv3d(x, w.astype(np.float16))
    with pytest.raises(ValueError, match="output: unsupported strides"):  # channels-last only
        vconv.conv3d(x, w, out=np.empty((1, 4, 3, 4, 5), np.float32).transpose(0, 2, 3, 4, 1))
    with pytest.raises(ValueError, match="out"):
        vconv.conv3d(x, w, out=np.empty((1, 3, 4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="padding"):
        vconv.conv3d(x, w, padding=[1, 1])
    with pytest.raises(ValueError, match="stride"):
        vconv.conv3d(x, w, stride=0)
    with pytest.raises(ValueError, match="pad_mode"):
        vconv.conv3d(x, w, pad_mode="circular")
    with pytest.raises(ValueError, match="unknown algorithm"):
        vconv.conv3d(x, w, algorithm="fastest")
    with pytest.raises(ValueError, match="accumulate"):
        vconv.conv3d(x, w, accumulate=True)
    with pytest.raises(ValueError, match="fp32_math"):
        vconv.conv3d(x, w, fp32_math="fast")


def test_out_is_written_in_place_and_accumulates():
    rng = np.random.default_rng(9)
    x = rng.uniform(-1, 1, (1, 6, 8, 8, 8)).astype(np.float32)
    w = rng.uniform(-1, 1, (5, 3, 3, 3, 8)).astype(np.float32)
    ref = conv_general(x, w, [1] * 3, [1] * 3, [1] * 3, [1] * 3, [1] * 3, 1, False, ["zeros"] * 3)
    out = np.full(ref.shape, np.nan, np.float32)
    y = vconv.conv3d(x, w, padding=1, out=out)
    assert y is out
    assert rel_error(out, ref) <= TOLERANCE["float32"]
    start = rng.uniform(-1, 1, ref.shape).astype(np.float32)
    out[...] = start
    vconv.conv3d(x, w, padding=1, out=out, accumulate=True)
    assert rel_error(out, ref + start) <= TOLERANCE["float32"]


def test_strided_views_are_taken_as_they_lie():
    rng = np.random.default_rng(10)
    big = rng.uniform(-1, 1, (2, 9, 12, 14, 8)).astype(np.float32)
    x = big[:, ::2, 1:, ::3, :]  # not contiguous; the channel stride is 1
    w = rng.uniform(-1, 1, (4, 3, 3, 3, 8)).astype(np.float32)
    out_base = np.full((2, 5, 11, 5, 12), np.nan, np.float32)
    out = out_base[..., 4:8]  # a strided output view
    vconv.conv3d(x, w, padding=1, out=out)
    ref = conv_general(
        np.ascontiguousarray(x), w, [1] * 3, [1] * 3, [1] * 3, [1] * 3, [1] * 3, 1, False, ["zeros"] * 3
    )
    assert rel_error(out, ref) <= TOLERANCE["float32"]
    assert np.isnan(out_base[..., :4]).all() and np.isnan(out_base[..., 8:]).all()


def test_inputs_are_not_copied():
    rng = np.random.default_rng(11)
    x = rng.uniform(-1, 1, (1, 16, 64, 64, 16)).astype(np.float32)  # 4 MiB
    w = rng.uniform(-1, 1, (16, 1, 1, 1, 16)).astype(np.float32)
    out = np.empty((1, 16, 64, 64, 16), np.float32)
    tracemalloc.start()
    vconv.conv3d(x, w, out=out)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < x.nbytes // 8, f"{peak} bytes allocated through Python for a {x.nbytes}-byte input"


def test_plan_from_shapes_and_arrays():
    p = vconv.plan((1, 9, 32, 32, 64), (64, 3, 3, 3, 64), padding=([2, 1, 1], [0, 1, 1]))
    assert p.algorithm in vconv.algorithm_names()
    assert p.reason and "n=1 in=9x32x32 c=64 o=64 k=3x3x3" in p.problem
    names = [c[0] for c in p.candidates]
    assert names == vconv.algorithm_names()
    assert all(valid or why for _, valid, why, _ in p.candidates)
    assert p.algorithm in str(p)
    with pytest.raises(ValueError, match="cannot run"):
        vconv.plan((1, 9, 32, 32, 64), (64, 3, 3, 3, 64), algorithm="cpu_pointwise")
    with pytest.raises(TypeError, match="dtype"):
        vconv.plan((1, 4, 4, 4), (4, 3, 3, 4), dtype="int8")


def test_fp32_winograd_f4x3_only_under_tf32():
    def f4x3(fp32_math):
        p = vconv.plan((1, 16, 16, 64), (32, 3, 3, 64), padding=1, fp32_math=fp32_math)
        return next(c for c in p.candidates if c[0] == "winograd_f4x3")

    _, valid, why, _ = f4x3("exact")
    assert not valid and "fp32_math = tf32" in why
    assert f4x3("tf32")[1]
    # The default path at MLX's tolerance against the reference (double accumulation, rounded
    # once), unit-normal inputs, reduction 9 * 512.
    rng = np.random.default_rng(41)
    x = rng.standard_normal((1, 12, 12, 512)).astype(np.float32)
    w = rng.standard_normal((16, 3, 3, 512)).astype(np.float32)
    y = vconv.conv_general(x, w, padding=1)
    ref = vconv.conv_general(x, w, padding=1, algorithm="reference")
    np.testing.assert_allclose(y, ref, atol=1e-4, rtol=1e-4)


def test_output_beyond_the_size_limit_is_named_before_allocation():
    # 7e8 x 7e8 outputs (1.8e9 GiB of float32) from an input dilation off by orders of magnitude.
    x = np.ones((1, 8, 8, 1), np.float32)
    w = np.ones((1, 1, 1, 1), np.float32)
    with pytest.raises(ValueError, match=r"output: shape \[1, 700000001, 700000001, 1\] of f32 .* 128 TiB"):
        vconv.conv_general(x, w, input_dilation=10**8)
    with pytest.raises(ValueError, match="size overflows int64"):
        vconv.conv_general(x, w, input_dilation=2**62)


def test_readme_python_example_runs():
    import pathlib
    import re

    readme = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "README.md has no ```python example block"
    scope = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)
    ref = conv_general(
        scope["x"], scope["w"], [1] * 3, [2, 1, 1], [0, 1, 1], [1] * 3, [1] * 3, 1, False, ["replicate"] * 3
    )
    assert rel_error(scope["y"], ref) <= TOLERANCE["float32"]
    ref = conv_general(
        scope["x"], scope["w"], [1] * 3, [1] * 3, [1] * 3, [1] * 3, [1] * 3, 1, False, ["zeros"] * 3,
        bias=scope["b"], activation="silu",
    )
    assert rel_error(scope["z"], ref) <= TOLERANCE["float32"]


def test_a_call_is_prepared_once_per_argument_tuple():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 4, 5, 3), dtype=np.float32)
    w = rng.standard_normal((2, 3, 3, 3), dtype=np.float32)
    ref = conv_general(x, w, [1, 1], [1, 1], [1, 1], [1, 1], [1, 1], 1, False, ["zeros"] * 2)
    vconv._prepared_calls.clear()
    first = vconv.conv_general(x, w, padding=1)
    assert len(vconv._prepared_calls) == 1
    second = vconv.conv_general(x, w, padding=1)
    assert len(vconv._prepared_calls) == 1
    assert rel_error(first, ref) <= TOLERANCE["float32"] and np.array_equal(first, second)
    # Other shapes or arguments are other entries, each right.
    vconv.conv_general(x[:, :3], w, padding=1)
    vconv.conv_general(x, w, padding=([1, 1], [1, 1]))
    assert len(vconv._prepared_calls) == 3


def test_bad_arguments_raise_after_an_equal_valid_call():
    x = np.ones((1, 4, 5, 3), np.float32)
    w = np.ones((2, 1, 1, 3), np.float32)
    vconv.conv_general(x, w, stride=1, padding=(0, 0))
    for bad in ({"stride": True}, {"stride": 1.0}, {"padding": (0.0, 0)}, {"padding": (False, 0)}):
        with pytest.raises(ValueError, match="stride|padding"):
            vconv.conv_general(x, w, **{"stride": 1, "padding": (0, 0), **bad})
    vconv.conv_general(x, w, stride=np.int64(2))  # not marshallable: prepared without the cache


def test_bias_and_silu_are_fused_over_a_random_grid():
    rng = np.random.default_rng(11)
    forms = [(True, None), (False, "silu"), (True, "silu")]
    for i in range(90):
        x, w, kwargs, _ = random_problem(rng)
        use_bias, activation = forms[i % 3]
        dtype = np.float16 if i % 2 else np.float32
        x, w = x.astype(dtype), w.astype(dtype)
        bias = rng.uniform(-1, 1, w.shape[0]).astype(dtype) if use_bias else None
        dims = x.ndim - 2
        ref = conv_general(
            x,
            w,
            vconv._args.per_dim(kwargs["stride"], dims, ""),
            *vconv._args.padding_lo_hi(kwargs["padding"], dims),
            vconv._args.per_dim(kwargs["kernel_dilation"], dims, ""),
            vconv._args.per_dim(kwargs["input_dilation"], dims, ""),
            kwargs["groups"],
            kwargs["flip"],
            vconv._args.pad_modes(kwargs["pad_mode"], dims),
            bias=bias,
            activation=activation,
        )
        accumulate = bool(rng.integers(0, 2))
        out = rng.uniform(-1, 1, ref.shape).astype(dtype)
        expected = ref + out if accumulate else ref
        if not accumulate:
            out[...] = np.nan  # poisoned: an unwritten element fails
        y = vconv.conv_general(
            x, w, **kwargs, bias=bias, activation=activation, out=out, accumulate=accumulate
        )
        assert y is out
        tol = TOLERANCE["float16" if dtype == np.float16 else "float32"]
        error = rel_error(y, expected)
        assert error <= tol, (i, kwargs, use_bias, activation, accumulate, error)


@pytest.mark.parametrize(
    "algorithm", ["reference", "cpu_gemm", "depth_tap", "winograd_f2x3", "winograd_f4x3"]
)
def test_conv3d_fuses_bias_and_silu_in_forced_algorithms(algorithm):
    rng = np.random.default_rng(12)
    x = rng.uniform(-1, 1, (2, 5, 9, 10, 6)).astype(np.float32)
    w = rng.uniform(-1, 1, (4, 3, 3, 3, 6)).astype(np.float32)
    b = rng.uniform(-1, 1, 4).astype(np.float32)
    ref = conv_general(
        x, w, [1] * 3, [2, 1, 1], [0, 1, 1], [1] * 3, [1] * 3, 1, False, ["zeros"] * 3, b, "silu"
    )
    padding = ([2, 1, 1], [0, 1, 1])
    # fp32_math="tf32" admits winograd_f4x3 in fp32 (its norm-relative error stays within fp32's).
    y = vconv.conv3d(
        x, w, padding=padding, algorithm=algorithm, bias=b, activation="silu", fp32_math="tf32"
    )
    assert rel_error(y, ref) <= TOLERANCE["float32"]


def test_bias_is_per_call_data_of_one_prepared_call():
    rng = np.random.default_rng(13)
    x = rng.uniform(-1, 1, (1, 6, 6, 3)).astype(np.float32)
    w = rng.uniform(-1, 1, (5, 3, 3, 3)).astype(np.float32)
    plain = vconv.conv2d(x, w)
    vconv._prepared_calls.clear()
    for _ in range(3):
        b = rng.uniform(-1, 1, 5).astype(np.float32)
        np.testing.assert_allclose(vconv.conv2d(x, w, bias=b), plain + b, rtol=1e-6, atol=1e-6)
    assert len(vconv._prepared_calls) == 1


def test_epilogue_errors_name_the_argument():
    x = np.zeros((1, 6, 6, 3), np.float32)
    w = np.zeros((5, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"options\.epilogue\.bias.*\[4\].*expected \[5\]"):
        vconv.conv2d(x, w, bias=np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"options\.epilogue\.bias.*dtype mismatch"):
        vconv.conv2d(x, w, bias=np.zeros(5, np.float16))
    with pytest.raises(ValueError, match=r"options\.epilogue\.bias.*contiguous"):
        vconv.conv2d(x, w, bias=np.zeros(10, np.float32)[::2])
    with pytest.raises(ValueError, match=r"activation: 'relu', expected None or 'silu'"):
        vconv.conv2d(x, w, activation="relu")


@pytest.mark.parametrize("algorithm", [None, "cpu_gemm", "reference"])
def test_channels_first_memory_matches_contiguous(algorithm):
    """An input in channels-first memory viewed as [N, D, H, W, C] and a weight stored
    [KD, KH, KW, C, O]: the contiguous call's result; the plan says when a copy is made."""
    rng = np.random.default_rng(11)
    x_cf = rng.uniform(-1, 1, size=(2, 8, 4, 6, 7)).astype(np.float32)  # N, C, D, H, W
    w_io = rng.uniform(-1, 1, size=(3, 3, 3, 8, 16)).astype(np.float32)  # KD, KH, KW, C, O
    x, w = x_cf.transpose(0, 2, 3, 4, 1), w_io.transpose(4, 0, 1, 2, 3)
    assert x.strides[-1] != x.itemsize and w.strides[-1] != w.itemsize
    kw = dict(padding=1, algorithm=algorithm)
    expected = vconv.conv_general(np.ascontiguousarray(x), np.ascontiguousarray(w), **kw)
    assert rel_error(vconv.conv_general(x, w, **kw), expected) <= 1e-5
    bias = rng.uniform(-1, 1, size=16).astype(np.float32)
    out = rng.uniform(-1, 1, size=expected.shape).astype(np.float32)
    fused = dict(kw, bias=bias, activation="silu", accumulate=True)
    x_contiguous, w_contiguous = np.ascontiguousarray(x), np.ascontiguousarray(w)
    expected_fused = vconv.conv_general(x_contiguous, w_contiguous, out=out.copy(), **fused)
    got_fused = vconv.conv_general(x, w, out=out.copy(), **fused)
    assert rel_error(got_fused, expected_fused) <= 1e-5
    plan = vconv.plan(x, w, padding=1, algorithm=algorithm)
    if plan.algorithm == "reference":
        assert plan.staging == ""
    else:
        assert "input's channel stride is 168, not 1" in plan.staging
        assert "weight's channel stride is 16, not 1" in plan.staging
        assert "staging:" in str(plan)
    assert vconv.plan(x_contiguous, w_contiguous, padding=1, algorithm=algorithm).staging == ""
