"""vconv.torch's fused forms: conv1d/2d/3d's residual, upsample, causal_upsample, depth_to_space
and prologue keywords and the NormActConv3d block, against the unfused float64 torch sequence
(GPU tests skipped, visibly, without a CUDA device)."""

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the torch tests are skipped")
F = torch.nn.functional

import vconv
import vconv.torch as vt
from fusion_reference import channels_first, channels_last, prologue_reference, rand, unfused
from reference import TOLERANCE, rel_error

cuda = pytest.mark.skipif(
    not (torch.cuda.is_available() and vconv.cuda_device_count() > 0),
    reason="no CUDA device (or vconv built without CUDA): GPU test skipped",
)


def err(y, expected):
    return rel_error(y.detach().double().cpu().numpy(), expected.detach().cpu().numpy())


def reference(x, w, bias=None, padding=0, **fusions):
    """The unfused sequence on PyTorch's layout: x (N, C, spatial...), w (O, C, K...); padding an
    int or a (lo, hi) pair of lists; fusions as vconv.torch's, residual (N, O', spatial'...)."""
    d = x.dim() - 2
    lo, hi = (padding, padding) if isinstance(padding, int) else padding
    lo, hi = vconv._args.per_dim(lo, d, "lo"), vconv._args.per_dim(hi, d, "hi")
    for name in ("upsample", "depth_to_space"):
        if name in fusions:
            fusions[name] = vconv._args.per_dim(fusions[name], d, name)
    if fusions.get("residual") is not None:
        fusions["residual"] = channels_last(fusions["residual"])
    y = unfused(channels_last(x), channels_last(w), bias, lo, hi, **fusions)
    return channels_first(y)


CASES = [
    ("prologue_group_norm", 3, dict(prologue=("group_norm", 2, 1e-6, "silu"), residual=True)),
    ("prologue_rms_norm", 3, dict(prologue=("rms_norm", 0, 1e-12, "silu"))),
    ("prologue_scale_shift_2d", 2, dict(prologue=("scale_shift", 0, 1e-5, None), residual=True)),
    ("upsample_2d", 2, dict(upsample=2)),
    ("upsample_space", 3, dict(upsample=[1, 2, 2], residual=True)),
    ("causal_upsample", 3, dict(upsample=[2, 2, 2], causal_upsample=True)),
    ("depth_to_space_1d", 1, dict(depth_to_space=2)),
    ("depth_to_space_2d", 2, dict(depth_to_space=2, residual=True)),
    ("depth_to_space_time", 3, dict(depth_to_space=[2, 1, 1])),
    (
        "everything",
        3,
        dict(
            prologue=("group_norm", 4, 1e-6, "silu"),
            upsample=[1, 2, 2],
            depth_to_space=[2, 1, 1],
            residual=True,
        ),
    ),
]


def make(dims, spec, seed, c=8, o=8):
    """(x, w, b, vconv.torch keywords, reference keywords) in PyTorch's layout."""
    g = torch.Generator().manual_seed(seed)
    x = rand(g, 2, c, *[5, 6, 7][-dims:]) * 2 + 0.5
    w, b = rand(g, o, c, *[3] * dims), rand(g, o)
    kw = {k: v for k, v in spec.items() if k in ("upsample", "causal_upsample", "depth_to_space")}
    if "prologue" in spec:
        norm, groups, eps, activation = spec["prologue"]
        kw["prologue"] = vconv.Prologue(norm, groups, eps, rand(g, c) + 1.5, rand(g, c), activation)
    ref = dict(kw)
    if spec.get("residual"):
        shape = reference(x, w, b, 1, **ref).shape
        kw["residual"] = ref["residual"] = rand(g, *shape)
    return x, w, b, kw, ref


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_functional_fusions_match_the_unfused_sequence(case):
    name, dims, spec = case
    x, w, b, kw, ref = make(dims, spec, seed=len(name))
    conv = [vt.conv1d, vt.conv2d, vt.conv3d][dims - 1]
    expected = reference(x, w, b, 1, **ref)
    y = conv(x, w, b, padding=1, **kw)
    assert y.shape == expected.shape
    assert err(y, expected) <= TOLERANCE["float32"]
    # channels-last memory in (no copy) and an unbatched call give the same
    memory = torch.channels_last_3d if dims == 3 else torch.channels_last if dims == 2 else None
    if memory is not None:
        y = conv(x.to(memory_format=memory), w, b, padding=1, **kw)
        assert err(y, expected) <= TOLERANCE["float32"]
    if "residual" in kw:
        kw["residual"] = kw["residual"][0]
    y = conv(x[0], w, b, padding=1, **kw)
    assert y.shape == expected.shape[1:]
    assert err(y, expected[0]) <= TOLERANCE["float32"]


def test_causal_padding_with_a_prologue_in_3d():
    x, w, b, kw, ref = make(3, dict(prologue=("rms_norm", 0, 1e-12, "silu")), seed=30)
    padding = ([2, 1, 1], [0, 1, 1])
    y = vt.conv3d(x, w, b, padding=padding, **kw)
    assert err(y, reference(x, w, b, padding, **ref)) <= TOLERANCE["float32"]


@pytest.mark.parametrize("norm", ["rms_norm", "group_norm"])
def test_causal_conv3d_streams_with_a_prologue_and_a_residual(norm):
    """Chunks through the frame cache: each chunk normalized on its own (its statistics), the
    cache holding frames after the prologue, as a chunked decoder computes them."""
    g = torch.Generator().manual_seed(46)
    x, w, b = rand(g, 1, 8, 6, 5, 6) * 2 + 0.5, rand(g, 4, 8, 3, 3, 3), rand(g, 4)
    scale, shift, residual = rand(g, 8) + 1.5, rand(g, 8), rand(g, 1, 4, 6, 5, 6)
    groups, eps = (2, 1e-6) if norm == "group_norm" else (0, 1e-12)
    prologue = vconv.Prologue(norm, groups, eps, scale, shift, "silu")
    chunks = [(0, 1), (1, 3), (3, 6)]
    outputs, cache = [], None
    for start, stop in chunks:
        y, cache = vt.causal_conv3d(
            x[:, :, start:stop],
            w,
            b,
            padding=1,
            cache=cache,
            residual=residual[:, :, start:stop],
            prologue=prologue,
        )
        outputs.append(y)
    normalized = torch.cat(
        [
            prologue_reference(
                x[:, :, start:stop].double(), norm, groups, eps, scale.double(), shift.double(), "silu"
            )
            for start, stop in chunks
        ],
        dim=2,
    )
    expected = F.conv3d(F.pad(normalized, (1, 1, 1, 1, 2, 0)), w.double(), b.double()) + residual.double()
    assert err(torch.cat(outputs, dim=2), expected) <= TOLERANCE["float32"]
    assert err(cache, normalized[:, :, -2:]) <= TOLERANCE["float32"]


def norm_act_conv_reference(norm, conv, x, activation, causal):
    """norm -> act -> (causal pad) -> conv in float64 with torch's functions: F.group_norm for an
    nn.GroupNorm, Wan's F.normalize * sqrt(C) * gamma + bias for an RMSNorm."""
    x = x.double()
    h = x
    if norm is not None:
        weight, bias = (None if p is None else p.detach().double() for p in (norm.weight, norm.bias))
        if isinstance(norm, torch.nn.GroupNorm):
            h = F.group_norm(x, norm.num_groups, weight, bias, norm.eps)
        else:
            per_channel = (1, -1, 1, 1, 1)
            h = F.normalize(x, dim=1, eps=norm.eps) * x.shape[1] ** 0.5 * weight.view(per_channel)
            h = h if bias is None else h + bias.view(per_channel)
    h = F.silu(h) if activation == "silu" else h
    if causal:
        h = F.pad(h, (0, 0, 0, 0, (conv.kernel_size[0] - 1) * conv.dilation[0], 0))
    return F.conv3d(
        h,
        conv.weight.double(),
        None if conv.bias is None else conv.bias.double(),
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
    )


@pytest.mark.parametrize("fuse", [True, False, None])
@pytest.mark.parametrize(
    "norm_kind, activation, causal",
    [
        ("group_norm", "silu", False),
        ("group_norm", "silu", True),
        ("rms_norm", "silu", True),
        ("rms_norm", None, False),
        (None, "silu", False),
    ],
)
def test_norm_act_conv3d_loads_torch_weights_and_matches(norm_kind, activation, causal, fuse):
    torch.manual_seed(40)
    c, o = 8, 6
    # The weights of a model's own GroupNorm and Conv3d, loaded under norm. and conv.
    source_norm = {
        "group_norm": torch.nn.GroupNorm(4, c, eps=1e-6),
        "rms_norm": vt.RMSNorm(c, bias=True),
        None: None,
    }[norm_kind]
    source_conv = torch.nn.Conv3d(c, o, 3, padding=(0, 1, 1) if causal else 1)
    state = {}
    if source_norm is not None:
        torch.nn.init.uniform_(source_norm.weight, 0.5, 1.5)
        torch.nn.init.uniform_(source_norm.bias, -0.5, 0.5)
        state.update({f"norm.{k}": v for k, v in source_norm.state_dict().items()})
    state.update({f"conv.{k}": v for k, v in source_conv.state_dict().items()})
    block_norm = {
        "group_norm": torch.nn.GroupNorm(4, c, eps=1e-6),
        "rms_norm": vt.RMSNorm(c, bias=True),
        None: None,
    }[norm_kind]
    block = vt.NormActConv3d(
        block_norm, torch.nn.Conv3d(c, o, 3, padding=(0, 1, 1) if causal else 1), activation, causal, fuse
    )
    assert sorted(block.state_dict()) == sorted(state)
    block.load_state_dict(state)
    x = torch.randn(2, c, 5, 6, 7) * 2 + 0.5
    with torch.no_grad():
        y = block(x)
        expected = norm_act_conv_reference(source_norm, source_conv, x, activation, causal)
    assert y.shape == expected.shape == (2, o, 5, 6, 7)
    assert err(y, expected) <= TOLERANCE["float32"]


def test_rms_norm_is_wans():
    """RMSNorm's own forward is diffusers' WanRMS_norm (channel_first): F.normalize * sqrt(C) * gamma."""
    torch.manual_seed(41)
    norm = vt.RMSNorm(6)
    torch.nn.init.uniform_(norm.weight, 0.5, 1.5)
    x = torch.randn(2, 6, 3, 4, 5).double()
    gamma = norm.weight.detach().double().view(6, 1, 1, 1)
    expected = F.normalize(x, dim=1) * 6**0.5 * gamma
    assert torch.allclose(norm.double()(x), expected)


def test_norm_act_conv3d_errors():
    conv = torch.nn.Conv3d(8, 4, 3, padding=1)
    with pytest.raises(TypeError, match="conv: Conv2d, expected a torch.nn.Conv3d"):
        vt.NormActConv3d(None, torch.nn.Conv2d(8, 4, 3))
    with pytest.raises(TypeError, match="norm: LayerNorm, expected"):
        vt.NormActConv3d(torch.nn.LayerNorm(8), conv)
    with pytest.raises(ValueError, match="norm: 6 channels, expected conv's in_channels = 8"):
        vt.NormActConv3d(torch.nn.GroupNorm(2, 6), conv)
    with pytest.raises(
        ValueError, match=r"conv\.padding: \(1, 1, 1\); expected \(0, H, W\) with causal=True"
    ):
        vt.NormActConv3d(torch.nn.GroupNorm(2, 8), conv, causal=True)
    with pytest.raises(ValueError, match="activation: 'gelu'"):
        vt.NormActConv3d(torch.nn.GroupNorm(2, 8), conv, activation="gelu")
    with pytest.raises(ValueError, match="fuse: 'yes', expected None"):
        vt.NormActConv3d(torch.nn.GroupNorm(2, 8), conv, fuse="yes")
    with pytest.raises(
        ValueError, match=r"input: torch.Size\(\[8, 3, 4, 4\]\), expected a torch.Tensor \(N, C, D, H, W\)"
    ):
        vt.NormActConv3d(torch.nn.GroupNorm(2, 8), conv)(torch.randn(8, 3, 4, 4))


def test_functional_errors_name_the_argument():
    g = torch.Generator().manual_seed(42)
    x, w = rand(g, 1, 8, 4, 5, 6), rand(g, 6, 8, 3, 3, 3)
    with pytest.raises(ValueError, match=r"options\.epilogue\.residual: shape"):
        vt.conv3d(x, w, padding=1, residual=rand(g, 1, 6, 4, 5, 5))
    with pytest.raises(ValueError, match=r"params\.depth_to_space: O = 6"):
        vt.conv3d(x, w, padding=1, depth_to_space=2)
    with pytest.raises(ValueError, match=r"options\.prologue\.scale: shape \[6\], expected \[8\]"):
        vt.conv3d(x, w, padding=1, prologue=vconv.Prologue("group_norm", 2, scale=rand(g, 6)))
    with pytest.raises(ValueError, match=r"options\.prologue\.groups: 3 groups for C = 8"):
        vt.conv3d(x, w, padding=1, prologue=vconv.Prologue("group_norm", 3))
    with pytest.raises(ValueError, match=r"upsample: \[1, 2\], expected an int or a sequence of 3 ints"):
        vt.conv3d(x, w, padding=1, upsample=[1, 2])


def test_fused_backward_raises_a_clear_error():
    x, w, b, kw, _ = make(3, dict(prologue=("group_norm", 2, 1e-6, "silu"), residual=True), seed=43)
    kw["residual"].requires_grad_(True)
    y = vt.conv3d(x, w, b, padding=1, **kw)
    with pytest.raises(RuntimeError, match="no backward"):
        y.sum().backward()


def test_fuse_decides_where_the_norm_runs():
    """fuse=True applies the norm inside the vconv call (the norm module's forward never runs);
    fuse=False runs it in torch first."""
    torch.manual_seed(45)
    block = vt.NormActConv3d(torch.nn.GroupNorm(2, 8), torch.nn.Conv3d(8, 4, 3, padding=1), fuse=True)
    calls = []
    block.norm.register_forward_hook(lambda *args: calls.append(args))
    x = torch.randn(1, 8, 3, 4, 5)
    with torch.no_grad():
        fused = block(x)
        assert calls == []
        block.fuse = False
        unfused_result = block(x)
    assert len(calls) == 1
    assert err(fused, unfused_result.double()) <= TOLERANCE["float32"]


@cuda
def test_norm_act_conv3d_on_gpu():
    """On a GPU the planner decides whether the norm is fused (fuse=None): right either way."""
    torch.manual_seed(44)
    block = vt.NormActConv3d(torch.nn.GroupNorm(2, 8), torch.nn.Conv3d(8, 8, 3, padding=1))
    x = torch.randn(1, 8, 4, 6, 6) * 2 + 0.5
    with torch.no_grad():
        expected = norm_act_conv_reference(block.norm, block.conv, x, "silu", False)
        y = block.cuda()(x.cuda())
    # fp32 on a GPU follows torch.backends.cudnn.allow_tf32, as cuDNN convolutions do
    assert err(y, expected) <= (1e-3 if torch.backends.cudnn.allow_tf32 else TOLERANCE["float32"])
