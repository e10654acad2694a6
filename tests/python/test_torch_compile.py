"""vconv.torch under torch.compile: its calls are the custom operators vconv::conv and
vconv::conv_streaming, traced into one graph (fullgraph=True fails on a graph break) that gives
the eager result (skipped, visibly, without torch)."""

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the torch tests are skipped")
F = torch.nn.functional

import vconv
import vconv.torch as vt


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = vt.Conv3d(4, 6, 3, padding=1)
        self.pointwise = torch.nn.Conv3d(6, 5, 1)
        self.causal = vt.CausalConv3d(5, 3, 3, padding=(1, 1))

    def forward(self, x):
        y = F.silu(self.conv(x))
        y = vt.conv3d(y, self.pointwise.weight, self.pointwise.bias) * 2
        z, cache = vt.causal_conv3d(y, self.causal.weight, self.causal.bias, padding=1)
        return self.causal(y) + z, cache


def test_compiled_model_gives_the_eager_result():
    torch.manual_seed(1)
    model = Tiny()
    x = torch.randn(2, 4, 5, 6, 7)
    with torch.no_grad():
        eager, eager_cache = model(x)
        model.causal.reset()
        compiled, compiled_cache = torch.compile(model, fullgraph=True)(x)
    # Inductor fuses the elementwise ops between the convs its own way: equal to rounding.
    for a, b in ((compiled, eager), (compiled_cache, eager_cache)):
        assert ((a - b).norm() / b.norm()).item() <= 1e-6
    assert compiled.stride() == eager.stride()  # the fake implementation's channels-last strides


def test_compiled_streaming_module_continues_its_sequence():
    torch.manual_seed(2)
    conv = vt.CausalConv3d(4, 4, 3, padding=1)
    x = torch.randn(1, 4, 6, 5, 5)
    with torch.no_grad():
        eager = torch.cat([conv(x[:, :, :1]), conv(x[:, :, 1:])], 2)
        conv.reset()
        compiled = torch.compile(conv, fullgraph=True)
        streamed = torch.cat([compiled(x[:, :, :1]), compiled(x[:, :, 1:])], 2)
    assert torch.equal(streamed, eager)


def test_compiled_streaming_call_with_a_prologue_gives_the_eager_result():
    torch.manual_seed(4)
    x, w, b, residual = (
        torch.randn(1, 4, 5, 5, 5),
        torch.randn(4, 4, 3, 3, 3),
        torch.randn(4),
        torch.randn(1, 4, 5, 5, 5),
    )
    prologue = vconv.Prologue("rms_norm", 0, 1e-12, torch.rand(4) + 0.5, torch.randn(4), "silu")

    def chunked(x, residual):
        first, cache = vt.causal_conv3d(
            x[:, :, :2], w, b, padding=1, residual=residual[:, :, :2], prologue=prologue
        )
        rest, cache = vt.causal_conv3d(
            x[:, :, 2:], w, b, padding=1, cache=cache, residual=residual[:, :, 2:], prologue=prologue
        )
        return torch.cat([first, rest], 2), cache

    with torch.no_grad():
        eager = chunked(x, residual)
        compiled = torch.compile(chunked, fullgraph=True)(x, residual)
    for a, e in zip(compiled, eager):
        assert torch.equal(a, e)


def test_custom_operators_pass_torch_library_checks():
    x, w, b = torch.randn(1, 4, 3, 5, 5), torch.randn(3, 4, 3, 3, 3), torch.randn(3)
    args = (x, w, b, [1, 1, 1], [2, 1, 1], [0, 1, 1], [1, 1, 1], 1, "zeros")
    torch.library.opcheck(torch.ops.vconv.conv.default, (*args, None))
    torch.library.opcheck(torch.ops.vconv.conv_streaming.default, (*args, x[:, :, :2].clone()))


class FusedBlock(torch.nn.Module):
    """GroupNorm + SiLU + causal conv as NormActConv3d, fused and as the planner decides, then an
    upsampling conv with depth-to-space in time and a residual: every fusion through vconv::conv."""

    def __init__(self):
        super().__init__()
        self.fused = vt.NormActConv3d(
            torch.nn.GroupNorm(2, 4), torch.nn.Conv3d(4, 8, 3, padding=(0, 1, 1)), causal=True, fuse=True
        )
        self.planned = vt.NormActConv3d(vt.RMSNorm(8), torch.nn.Conv3d(8, 8, 3, padding=1))
        self.up = torch.nn.Conv3d(8, 8, 3, padding=1)

    def forward(self, x, residual):
        y = self.planned(self.fused(x))
        return vt.conv3d(
            y,
            self.up.weight,
            self.up.bias,
            padding=1,
            upsample=[1, 2, 2],
            depth_to_space=[2, 1, 1],
            residual=residual,
        )


def test_compiled_fusions_give_the_eager_result():
    torch.manual_seed(3)
    model = FusedBlock()
    x, residual = torch.randn(2, 4, 3, 5, 6), torch.randn(2, 4, 6, 10, 12)
    with torch.no_grad():
        eager = model(x, residual)
        compiled = torch.compile(model, fullgraph=True)(x, residual)
    assert compiled.shape == eager.shape == (2, 4, 6, 10, 12)
    assert compiled.stride() == eager.stride()
    # Inductor computes an unfused norm its own way: equal to rounding.
    assert ((compiled - eager).norm() / eager.norm()).item() <= 1e-6


def test_fused_operator_passes_torch_library_checks():
    x, w, b = torch.randn(1, 4, 3, 5, 5), torch.randn(8, 4, 3, 3, 3), torch.randn(8)
    scale, shift, residual = torch.rand(4) + 0.5, torch.randn(4), torch.randn(1, 4, 6, 10, 10)
    args = (x, w, b, [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1, "zeros", None, residual)
    fused = ([1, 2, 2], False, [2, 1, 1], "group_norm", 2, 1e-6, "silu", scale, shift)
    torch.library.opcheck(torch.ops.vconv.conv.default, (*args, *fused))
    streaming = (x, w[:4], b[:4], [1, 1, 1], [2, 1, 1], [0, 1, 1], [1, 1, 1], 1, "zeros", x[:, :, :2].clone())
    prologue = ("rms_norm", 0, 1e-12, "silu", scale, shift)
    torch.library.opcheck(
        torch.ops.vconv.conv_streaming.default, (*streaming, torch.randn(1, 4, 3, 5, 5), *prologue)
    )


def test_compiled_backward_raises_a_clear_error():
    conv = vt.Conv3d(4, 4, 3, padding=1)
    y = torch.compile(conv, fullgraph=True)(torch.randn(1, 4, 3, 5, 5))
    with pytest.raises(RuntimeError, match="no backward"):
        y.sum().backward()
