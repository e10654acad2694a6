"""vconv.torch's streaming causal conv (causal_conv3d, CausalConv3d) against torch's pad-and-conv
(skipped, visibly, without torch)."""

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the torch tests are skipped")
F = torch.nn.functional

import vconv.torch as vt


def causal_reference(x, conv, dilation=1):
    """torch's causal conv over the whole sequence: (KD - 1) * dilation zero frames before."""
    f = (conv.weight.shape[2] - 1) * dilation
    padded = F.pad(x.double(), (conv.padding[2],) * 2 + (conv.padding[1],) * 2 + (f, 0))
    return F.conv3d(padded, conv.weight.double(), conv.bias.double(), conv.stride, 0, (dilation, 1, 1))


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


@pytest.mark.parametrize("chunks", [(1, 4, 4), (3, 3, 3), (9,), (1, 1, 1, 6)])
def test_module_chunks_equal_the_whole_sequence(chunks):
    torch.manual_seed(1)
    conv = vt.CausalConv3d(4, 6, 3, padding=1)
    x = torch.randn(2, 4, sum(chunks), 6, 5)
    ref = causal_reference(x, conv)
    with torch.no_grad():
        parts, start = [], 0
        for size in chunks:
            parts.append(conv(x[:, :, start : start + size]))
            start += size
        assert conv.cache.shape == (2, 4, 2, 6, 5)
        assert rel(torch.cat(parts, 2), ref) <= 1e-6
        conv.reset()
        assert rel(conv(x), ref) <= 1e-6  # a new sequence after reset()


def test_module_loads_an_nn_conv3d_state_dict():
    torch.manual_seed(2)
    ref = torch.nn.Conv3d(4, 6, (3, 3, 3), padding=(0, 1, 1), dilation=(2, 1, 1))
    conv = vt.CausalConv3d(4, 6, 3, padding=1, dilation=(2, 1, 1))
    conv.load_state_dict(ref.state_dict())
    assert list(conv.state_dict()) == list(ref.state_dict())
    x = torch.randn(1, 4, 7, 5, 5)
    with torch.no_grad():
        y = torch.cat([conv(x[:, :, :2]), conv(x[:, :, 2:])], 2)
    assert rel(y, causal_reference(x, ref, dilation=2)) <= 1e-6


def test_functional_returns_the_next_cache():
    torch.manual_seed(3)
    x, w, b = torch.randn(1, 4, 5, 6, 6), torch.randn(3, 4, 3, 3, 3), torch.randn(3)
    first, cache = vt.causal_conv3d(x[:, :, :3], w, b, padding=1)
    assert torch.equal(cache, x[:, :, 1:3]) and cache.stride(1) == 1  # channels-last memory
    rest, cache = vt.causal_conv3d(x[:, :, 3:], w, b, padding=1, cache=cache)
    whole = F.conv3d(F.pad(x, (1, 1, 1, 1, 2, 0)).double(), w.double(), b.double())
    assert rel(torch.cat([first, rest], 2), whole) <= 1e-6


def test_bfloat16_cache():
    torch.manual_seed(4)
    conv = vt.CausalConv3d(8, 8, 3, padding=1).bfloat16()
    x = torch.randn(1, 8, 6, 6, 6).bfloat16()
    with torch.no_grad():
        y = torch.cat([conv(x[:, :, :1]), conv(x[:, :, 1:])], 2)
    assert y.dtype == torch.bfloat16 and rel(y, causal_reference(x.float(), conv.float())) <= 1e-2


def test_streaming_errors_name_the_argument():
    x, w = torch.randn(1, 4, 5, 6, 6), torch.randn(3, 4, 3, 3, 3)
    _, cache = vt.causal_conv3d(x, w, padding=1)
    with pytest.raises(
        ValueError, match=r"options\.frame_cache\.previous: shape \[1, 3, 6, 6, 4\], expected \[1, 2"
    ):
        vt.causal_conv3d(x, w, padding=1, cache=torch.cat([cache, cache[:, :, :1]], 2))
    with pytest.raises(ValueError, match=r"options\.frame_cache\.previous: dtype mismatch"):
        vt.causal_conv3d(x, w, padding=1, cache=cache.half())
    with pytest.raises(ValueError, match=r"options\.frame_cache: time stride 2"):
        vt.causal_conv3d(x, w, stride=(2, 1, 1), padding=1)
    with pytest.raises(ValueError, match=r"input: .*expected a torch.Tensor \(N, C, D, H, W\)"):
        vt.causal_conv3d(x[0], w, padding=1)
    with pytest.raises(ValueError, match=r"padding \(spatial"):
        vt.causal_conv3d(x, w, padding=(1, 1, 1))
    with pytest.raises(ValueError, match="padding_mode"):
        vt.CausalConv3d(4, 4, 3, padding_mode="circular")


def test_kernel_depth_1_keeps_no_frames():
    x, w = torch.randn(1, 4, 5, 6, 6), torch.randn(3, 4, 1, 3, 3)
    y, cache = vt.causal_conv3d(x, w, padding=1)
    assert cache.shape == (1, 4, 0, 6, 6)
    assert rel(y, F.conv3d(x.double(), w.double(), padding=(0, 1, 1))) <= 1e-6


def test_backward_raises_a_clear_error():
    y = vt.CausalConv3d(4, 4, 3, padding=1)(torch.randn(1, 4, 3, 5, 5))
    assert y.requires_grad
    with pytest.raises(RuntimeError, match="no backward"):
        y.sum().backward()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: GPU test skipped")
@pytest.mark.parametrize(
    "dtype,tf32,tol", [(torch.float32, False, 1e-5), (torch.float32, True, 1e-3), (torch.bfloat16, True, 1e-2)]
)
def test_module_chunks_on_the_gpu(dtype, tf32, tol, monkeypatch):
    """On CUDA the implicit-GEMM kernels read the cache (no concatenation): NCDHW chunks, whose
    cache is copied to channels-last with the chunk's strides (_torch_call.cache_like). fp32
    follows torch.backends.cudnn.allow_tf32 (True by default), as cuDNN does: exact without it."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", tf32)
    torch.manual_seed(4)
    conv = vt.CausalConv3d(16, 32, 3, padding=1).cuda().to(dtype)
    x = torch.randn(1, 16, 7, 8, 10, device="cuda", dtype=dtype)
    ref = causal_reference(x, conv)
    with torch.no_grad():
        y = torch.cat([conv(x[:, :, :1]), conv(x[:, :, 1:4]), conv(x[:, :, 4:])], 2)
    assert rel(y, ref) <= tol
