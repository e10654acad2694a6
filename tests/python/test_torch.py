"""vconv with PyTorch: DLPack round trips, vconv.torch against torch.nn.functional and nn.ConvNd,
and the GPU (skipped, visibly, without torch or without a CUDA device)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the torch tests are skipped")
F = torch.nn.functional

import vconv
import vconv.torch as vt
from reference import TOLERANCE, conv_general, rel_error

cuda = pytest.mark.skipif(
    not (torch.cuda.is_available() and vconv.cuda_device_count() > 0),
    reason="no CUDA device (or vconv built without CUDA): GPU test skipped",
)


def err(y, ref):
    return rel_error(y.detach().float().cpu().numpy(), ref.detach().double().cpu().numpy())


def tol(dtype, tf32=False):
    if dtype == torch.float32:
        return 1e-3 if tf32 else 1e-5
    return 1e-2


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=cuda)])
def test_conv_general_round_trip(device):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 5, 9, 10, 16, generator=g).to(device) * 2 - 1
    w = torch.rand(8, 3, 3, 3, 16, generator=g).to(device) * 2 - 1
    y = vconv.conv_general(x, w, padding=([2, 1, 1], [0, 1, 1]), pad_mode="replicate")
    assert isinstance(y, torch.Tensor) and y.device == x.device and y.dtype == x.dtype
    ref = conv_general(
        x.cpu().numpy(),
        w.cpu().numpy(),
        [1] * 3,
        [2, 1, 1],
        [0, 1, 1],
        [1] * 3,
        [1] * 3,
        1,
        False,
        ["replicate"] * 3,
    )
    assert rel_error(y.cpu().numpy(), ref) <= TOLERANCE["float32"]
    out = torch.full_like(y, float("nan"))
    assert vconv.conv_general(x, w, padding=([2, 1, 1], [0, 1, 1]), pad_mode="replicate", out=out) is out
    assert rel_error(out.cpu().numpy(), ref) <= TOLERANCE["float32"]


def test_bfloat16_on_cpu():
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(1, 4, 8, 8, 16, generator=g) * 2 - 1).bfloat16()
    w = (torch.rand(8, 3, 3, 3, 16, generator=g) * 2 - 1).bfloat16()
    y = vconv.conv3d(x, w, padding=1)
    assert y.dtype == torch.bfloat16
    ref = conv_general(
        x.float().numpy(),
        w.float().numpy(),
        [1] * 3,
        [1] * 3,
        [1] * 3,
        [1] * 3,
        [1] * 3,
        1,
        False,
        ["zeros"] * 3,
    )
    assert rel_error(y.float().numpy(), ref) <= TOLERANCE["bfloat16"]


CASES = [  # (dims, N, C, O, size, kernel, stride, padding, dilation, groups)
    (3, 2, 8, 12, (5, 9, 10), (3, 3, 3), 1, 1, 1, 1),
    (3, 1, 16, 8, (6, 8, 8), (3, 1, 1), (2, 1, 1), 0, 1, 2),
    (3, 1, 8, 8, (7, 9, 9), (3, 3, 3), 1, "same", (1, 2, 2), 1),
    (3, 2, 4, 6, (4, 6, 6), (1, 3, 3), (1, 2, 2), (0, 1, 1), 1, 1),
    (2, 2, 8, 16, (11, 13), (3, 3), 2, 1, 1, 4),
    (2, 1, 6, 3, (9, 9), (5, 5), 1, "valid", 1, 1),
    (1, 3, 4, 8, (17,), (3,), 1, 2, 3, 1),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_functional_matches_torch(case, channels_last):
    dims, n, c, o, size, k, stride, padding, dilation, groups = case
    g = torch.Generator().manual_seed(3)
    x = torch.rand(n, c, *size, generator=g) * 2 - 1
    w = torch.rand(o, c // groups, *k, generator=g) * 2 - 1
    b = torch.rand(o, generator=g)
    if channels_last and dims > 1:
        x = x.contiguous(memory_format=torch.channels_last if dims == 2 else torch.channels_last_3d)
    ours = [vt.conv1d, vt.conv2d, vt.conv3d][dims - 1]
    theirs = [F.conv1d, F.conv2d, F.conv3d][dims - 1]
    y = ours(x, w, b, stride, padding, dilation, groups)
    ref = theirs(x.double(), w.double(), b.double(), stride, padding, dilation, groups)
    assert y.shape == ref.shape and y.dtype == x.dtype
    assert err(y, ref) <= 1e-5
    if dims > 1:  # results are channels-last
        assert y.movedim(1, -1).is_contiguous()


@pytest.mark.parametrize("padding_mode", ["zeros", "replicate", "reflect"])
def test_module_loads_state_dict_and_matches(padding_mode):
    torch.manual_seed(4)
    ref_module = torch.nn.Conv3d(8, 12, 3, padding=(2, 1, 1), padding_mode=padding_mode).double()
    module = vt.Conv3d(8, 12, 3, padding=(2, 1, 1), padding_mode=padding_mode)
    module.load_state_dict({k: v.float() for k, v in ref_module.state_dict().items()})
    x = torch.rand(2, 8, 5, 9, 9) * 2 - 1
    with torch.no_grad():
        assert err(module(x), ref_module(x.double())) <= 1e-5
    assert list(module.state_dict()) == list(ref_module.state_dict())


def test_convert_replaces_convs_in_a_model():
    torch.manual_seed(5)
    model = torch.nn.Sequential(
        torch.nn.Conv3d(4, 8, 3, padding=1),
        torch.nn.SiLU(),
        torch.nn.Conv3d(8, 3, (3, 1, 1), padding=(1, 0, 0)),
    )
    x = torch.rand(1, 4, 5, 8, 8)
    with torch.no_grad():
        ref = model(x)
        vt.convert(model)
        assert isinstance(model[0], vt.Conv3d) and isinstance(model[2], vt.Conv3d)
        assert err(model(x), ref.double()) <= 1e-5


class Plain(torch.nn.Conv3d):  # nn.Conv3d's forward: converted, still a Plain (importable: pickled)
    def extra_hook(self, module, inputs, output):
        return output


class Doubled(torch.nn.Conv3d):  # its own forward: left to torch
    def forward(self, x):
        return super().forward(x) * 2


def test_convert_takes_subclasses_with_nn_convs_forward_and_reports_the_rest():
    torch.manual_seed(8)

    model = torch.nn.Sequential(
        torch.nn.Conv3d(4, 4, 3, padding=1),
        Plain(4, 4, 3, padding=1, padding_mode="replicate"),
        Doubled(4, 4, 1),
        torch.nn.Conv3d(4, 4, 1).double(),
        torch.nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular"),
    )
    x = torch.randn(1, 4, 3, 5, 5)
    with torch.no_grad():
        ref = [model[i](x) for i in range(3)]
        report = vt.convert(model, report=True)
        assert [name for name, _ in report.patched] == ["0", "1"]
        assert dict(report.skipped).keys() == {"2", "3", "4"}
        assert "overrides forward" in dict(report.skipped)["2"]
        assert "float64" in dict(report.skipped)["3"] and "circular" in dict(report.skipped)["4"]
        assert type(model[0]) is vt.Conv3d and isinstance(model[1], Plain)
        assert isinstance(model[1], vt._ConvMixin) and not isinstance(model[2], vt._ConvMixin)
        for i in range(3):
            assert err(model[i](x), ref[i].double()) <= tol(torch.float32)
    assert "skipped 2: Doubled overrides forward" in str(report)
    import io

    buffer = io.BytesIO()
    torch.save(model, buffer)  # a converted subclass pickles as its class, converted on loading
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert isinstance(loaded[1], Plain) and isinstance(loaded[1], vt._ConvMixin)
    with torch.no_grad():
        assert torch.equal(loaded[1](x), model[1](x))
    import copy

    model[1].register_forward_hook(model[1].extra_hook)  # a module referring to itself
    twin = copy.deepcopy(model[1])
    assert twin._forward_hooks[next(iter(twin._forward_hooks))].__self__ is twin
    lazy = torch.nn.Sequential(torch.nn.LazyConv3d(4, 3), vt.CausalConv3d(4, 4, 3))
    report = vt.convert(lazy, report=True)  # a lazy conv is left as it is, and works after
    assert report.patched == [] and [name for name, _ in report.skipped] == ["0"]
    assert "not initialised" in report.skipped[0][1]
    with torch.no_grad():
        lazy[0](x)
    conv = torch.nn.Conv2d(3, 5, 3)
    assert vt.convert(conv) is conv and type(conv) is vt.Conv2d  # a model that is one conv


def test_backward_raises_a_clear_error():
    m = vt.Conv2d(4, 4, 3)
    y = m(torch.rand(1, 4, 6, 6))
    assert y.requires_grad
    with pytest.raises(RuntimeError, match="no backward"):
        y.sum().backward()


def test_torch_errors():
    with pytest.raises(ValueError, match="channel mismatch"):
        vt.conv3d(torch.rand(1, 8, 4, 4, 4), torch.rand(4, 6, 3, 3, 3))
    with pytest.raises(TypeError, match="unsupported dtype"):
        vt.conv2d(torch.rand(1, 4, 6, 6).double(), torch.rand(4, 4, 3, 3).double())
    with pytest.raises(ValueError, match="same"):
        vt.conv2d(torch.rand(1, 4, 6, 6), torch.rand(4, 4, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode"):
        vt.Conv2d(4, 4, 3, padding=1, padding_mode="circular")(torch.rand(1, 4, 6, 6))
    # An output no process could hold is vconv's error, before torch is asked for its memory.
    with pytest.raises(ValueError, match=r"output: shape \[1, 200000004, 200000004, 4\] of f32 .* 128 TiB"):
        vt.conv2d(torch.rand(1, 4, 6, 6), torch.rand(4, 4, 3, 3), padding=10**8)


@cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("allow_tf32", [False, True])
def test_module_on_gpu_matches_nn_conv3d(dtype, allow_tf32):
    torch.manual_seed(6)
    old = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = allow_tf32
    try:
        ref_module = torch.nn.Conv3d(32, 48, 3, padding=(2, 1, 1)).cuda().to(dtype)
        module = vt.Conv3d.from_torch(ref_module)
        x = (torch.rand(2, 32, 7, 20, 24, device="cuda") * 2 - 1).to(dtype)
        x = x.contiguous(memory_format=torch.channels_last_3d)
        with torch.no_grad():
            y = module(x)
            exact = torch.nn.functional.conv3d(
                x.double(), ref_module.weight.double(), ref_module.bias.double(), padding=(2, 1, 1)
            )
        assert y.device == x.device and y.dtype == dtype
        assert err(y, exact) <= tol(dtype, allow_tf32 and dtype == torch.float32)
    finally:
        torch.backends.cudnn.allow_tf32 = old


@cuda
def test_gpu_output_conv_and_side_stream():
    torch.manual_seed(7)
    x = (
        (torch.rand(1, 32, 6, 24, 20, device="cuda") * 2 - 1)
        .bfloat16()
        .contiguous(memory_format=torch.channels_last_3d)
    )
    w = (torch.rand(3, 32, 3, 3, 3, device="cuda") * 2 - 1).bfloat16()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream), torch.no_grad():
        y = vt.conv3d(x, w, padding=1)
    stream.synchronize()
    exact = F.conv3d(x.double(), w.double(), padding=1)
    assert err(y, exact) <= tol(torch.bfloat16)


@cuda
def test_gpu_conv_general_grid_against_numpy():
    from test_numpy import random_problem

    rng = np.random.default_rng(12)
    for _ in range(60):
        x, w, kwargs, ref = random_problem(rng)
        for fp32_math, t in (("exact", 1e-5), ("tf32", 1e-3)):
            y = vconv.conv_general(
                torch.from_numpy(x).cuda(), torch.from_numpy(w).cuda(), fp32_math=fp32_math, **kwargs
            )
            assert y.is_cuda
            assert rel_error(y.cpu().numpy(), ref) <= t, (kwargs, fp32_math)


@cuda
def test_channels_last_inputs_are_not_copied_on_gpu():
    x = (
        torch.rand(1, 64, 16, 64, 64, device="cuda")
        .bfloat16()
        .contiguous(memory_format=torch.channels_last_3d)
    )
    w = torch.rand(64, 64, 3, 3, 3, device="cuda").bfloat16().contiguous(memory_format=torch.channels_last_3d)
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        y = vt.conv3d(x, w, padding=1)
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - before
    out_bytes = y.numel() * y.element_size()
    # The output is the only tensor torch allocates: no copy of the input or the weight.
    assert extra <= out_bytes + (1 << 20), f"{extra} bytes allocated for a {out_bytes}-byte output"
    x_std = x.contiguous()  # (N, C, D, H, W) contiguous: copied once into channels-last
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    with torch.no_grad():
        vt.conv3d(x_std, w, padding=1)
    assert torch.cuda.max_memory_allocated() - before >= x_std.numel() * x_std.element_size()


def test_module_calls_are_prepared_once_and_stay_right():
    torch.manual_seed(4)
    conv = torch.nn.Conv3d(4, 6, 3, padding=1).to(memory_format=torch.channels_last_3d)
    ours = vt.Conv3d.from_torch(conv)
    x = torch.randn(2, 4, 3, 5, 5).contiguous(memory_format=torch.channels_last_3d)
    vconv._torch_call.prepared_calls.clear()
    with torch.no_grad():
        for inp in (x, x, x.contiguous(), x[0]):  # the same, a copied layout, unbatched
            assert err(ours(inp), conv(inp)) <= tol(torch.float32)
    assert len(vconv._torch_call.prepared_calls) == 2  # batched and unbatched shapes


def test_module_weights_are_stored_channels_last_once():
    torch.manual_seed(6)
    conv = torch.nn.Conv3d(4, 6, 3, padding=1)
    values = conv.weight.detach().clone()
    ours = vt.Conv3d.from_torch(conv)
    assert ours.weight is conv.weight and ours.weight.stride(1) == 1
    assert torch.equal(ours.weight, values)
    fresh = vt.Conv3d(4, 6, 3, padding=1)
    assert fresh.weight.stride(1) == 1
    fresh.load_state_dict(torch.nn.Conv3d(4, 6, 3, padding=1).state_dict())
    assert fresh.weight.stride(1) == 1  # load_state_dict copies into the tensor
    assert vt.Conv2d(4, 6, 3).weight.stride(1) == 1 and vt.Conv1d(4, 6, 3).weight.stride(1) == 1
    assert vt.CausalConv3d(4, 6, 3).weight.stride(1) == 1
    block_conv = torch.nn.Conv3d(4, 6, 3, padding=1)
    vt.NormActConv3d(torch.nn.GroupNorm(2, 4), block_conv)
    assert block_conv.weight.stride(1) == 1


def test_module_inference_follows_changed_arguments_and_pickles():
    torch.manual_seed(7)
    conv = torch.nn.Conv3d(4, 6, 3, padding=1)
    ours = vt.Conv3d.from_torch(torch.nn.Conv3d(4, 6, 3, padding=1))
    ours.load_state_dict(conv.state_dict())
    x = torch.randn(1, 4, 5, 6, 6)
    with torch.no_grad():
        assert err(ours(x), conv(x)) <= tol(torch.float32)
        for module in (conv, ours):  # arguments changed after the first call
            module.stride, module.padding = (1, 2, 2), (2, 0, 1)
        assert err(ours(x), conv(x)) <= tol(torch.float32)
        x2 = torch.randn(2, 4, 3, 7, 5)  # another shape
        assert err(ours(x2), conv(x2)) <= tol(torch.float32)
        xb = x.bfloat16()
        assert err(ours.bfloat16()(xb), conv.bfloat16()(xb)) <= tol(torch.bfloat16)
        import copy
        import io

        buffer = io.BytesIO()
        torch.save(ours, buffer)  # the prepared call is not pickled
        buffer.seek(0)
        for twin in (copy.deepcopy(ours), torch.load(buffer, weights_only=False)):
            assert torch.equal(twin(xb), ours(xb))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_conv_general_fuses_bias_and_silu_like_torch(dtype):
    g = torch.Generator().manual_seed(7)
    x = (torch.rand(2, 6, 5, 9, 9, generator=g) * 2 - 1).to(dtype)
    w = (torch.rand(8, 6, 3, 3, 3, generator=g) * 2 - 1).to(dtype)
    b = (torch.rand(8, generator=g) * 2 - 1).to(dtype)
    ref = F.silu(F.conv3d(x.double(), w.double(), b.double(), padding=1))
    # conv_general on the same tensors seen channels-last: input [N, D, H, W, C], weight [O, K..., C].
    x_last, w_last = x.movedim(1, -1).contiguous(), w.movedim(1, -1).contiguous()
    y = vconv.conv_general(x_last, w_last, padding=1, bias=b, activation="silu")
    assert y.dtype == dtype
    assert err(y.movedim(-1, 1), ref) <= tol(dtype)


def test_torch_bias_is_fused_into_the_conv():
    # In bf16 a separate `y += bias` pass rounds twice; the fused epilogue rounds once, so the
    # result is bit-equal to conv_general with the bias (and differs from the two-pass sum).
    g = torch.Generator().manual_seed(8)
    x = (torch.rand(1, 16, 4, 8, 8, generator=g) * 2 - 1).bfloat16()
    w = (torch.rand(16, 16, 3, 3, 3, generator=g) * 2 - 1).bfloat16()
    b = (torch.rand(16, generator=g) * 2 - 1).bfloat16()
    module = vt.Conv3d(16, 16, 3, padding=1).bfloat16()
    with torch.no_grad():
        module.weight.copy_(w)
        module.bias.copy_(b)
        y_module = module(x)
    y_functional = vt.conv3d(x, w, b, padding=1)
    x_last, w_last = x.movedim(1, -1).contiguous(), w.movedim(1, -1).contiguous()
    fused = vconv.conv_general(x_last, w_last, padding=1, bias=b).movedim(-1, 1)
    two_passes = vt.conv3d(x, w, None, padding=1) + b.view(-1, 1, 1, 1)
    assert torch.equal(y_module, fused) and torch.equal(y_functional, fused)
    assert not torch.equal(two_passes, fused)
    ref = F.conv3d(x.double(), w.double(), b.double(), padding=1)
    assert err(y_functional, ref) <= tol(torch.bfloat16)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=cuda)])
@pytest.mark.parametrize("algorithm", [None, "reference"])
def test_conv_general_takes_channels_first_memory(device, algorithm):
    """torch tensors in channels-first memory (N, C, D, H, W contiguous) viewed channels-last
    through vconv.conv_general: the contiguous call's result, without a copy by the caller."""
    if device == "cuda" and algorithm == "reference":
        pytest.skip("the reference runs on the CPU only")
    g = torch.Generator().manual_seed(12)
    x = (torch.rand(2, 8, 4, 6, 7, generator=g) * 2 - 1).to(device).permute(0, 2, 3, 4, 1)
    w = (torch.rand(16, 8, 3, 3, 3, generator=g) * 2 - 1).to(device).permute(0, 2, 3, 4, 1)
    assert x.stride(-1) != 1 and w.stride(-1) != 1
    kw = dict(padding=1, algorithm=algorithm)
    expected = vconv.conv_general(x.contiguous(), w.contiguous(), **kw)
    got = vconv.conv_general(x, w, **kw)
    assert got.is_contiguous()
    assert err(got, expected) <= 1e-5
    plan = vconv.plan(x, w, padding=1, algorithm=algorithm)
    assert ("input's channel stride is 168, not 1" in plan.staging) == (plan.algorithm != "reference")
