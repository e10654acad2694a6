"""vconv.diffusers.accelerate on tiny video autoencoders (random weights): patched encode and
decode against diffusers' own (AutoencoderKLWan in fp32 and bf16, HunyuanVideo, CogVideoX, LTX),
each patched causal conv against diffusers' with every kind of cache, the report, the state_dict,
the backward error (skipped, visibly, without torch or diffusers)."""

import copy

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the diffusers tests are skipped")
diffusers = pytest.importorskip(
    "diffusers", reason="diffusers is not installed: the diffusers tests are skipped"
)

import vconv._diffusers_cogvideox
import vconv._diffusers_wan
import vconv._torch_call
import vconv.diffusers
from vconv import bench_decode


def tiny_wan(dtype=torch.float32):
    """The decode benchmark's tiny Wan configuration (vconv.bench_decode), random weights."""
    torch.manual_seed(0)
    return diffusers.AutoencoderKLWan(**bench_decode.MODELS["wan-tiny"][0]).to(dtype).eval()


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


@pytest.fixture(scope="module")
def video():
    # 9 frames: Wan encodes frame 0 alone, then chunks of 4; decodes latent frame by frame, so the
    # first chunk's caches hold 1 frame and the later ones 2.
    return torch.randn(1, 3, 9, 16, 16, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def cache_reads(monkeypatch):
    """The frames each patched call read through vconv's frame cache (None: no cache)."""
    reads, conv = [], vconv._diffusers_wan._conv
    monkeypatch.setattr(vconv._torch_call, "streams", lambda *args: True)  # whatever the planner says

    def spy(*args):
        reads.append(None if args[-1] is None else args[-1].shape[2])
        return conv(*args)

    monkeypatch.setattr(vconv._diffusers_wan, "_conv", spy)
    return reads


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-4), (torch.bfloat16, 1e-2)])
def test_patched_encode_and_decode_match_diffusers(video, cache_reads, dtype, tolerance):
    ours, theirs = tiny_wan(dtype), tiny_wan(dtype)
    vconv.diffusers.accelerate(ours)
    x = video.to(dtype)
    with torch.no_grad():
        latent = theirs.encode(x).latent_dist.mode()
        assert rel(ours.encode(x).latent_dist.mode(), latent) <= tolerance
        decoded = ours.decode(latent).sample
        assert decoded.dtype == dtype
        assert rel(decoded, theirs.decode(latent).sample) <= tolerance
    # Later chunks read their cached frames through the frame cache, 2 frames each, and the
    # first chunk's 1-frame caches as they are (the core puts zeros before them, as Wan does).
    assert cache_reads.count(2) > 0 and cache_reads.count(1) > 0
    assert set(cache_reads) <= {None, 1, 2}


def test_bf16_is_as_close_to_the_fp32_model_as_diffusers(video):
    # bf16 against bf16 differs by about 0.9e-2 on decode (two ways of rounding); each is about
    # 2e-2 from the fp32 model, and vconv's rounding (fp32 sums, one rounding) is no worse.
    exact, ours, theirs = tiny_wan(), tiny_wan(torch.bfloat16), tiny_wan(torch.bfloat16)
    vconv.diffusers.accelerate(ours)
    with torch.no_grad():
        latent = exact.encode(video).latent_dist.mode()
        truth = exact.decode(latent).sample
        ours_error = rel(ours.decode(latent.bfloat16()).sample, truth)
        assert ours_error <= 1.1 * rel(theirs.decode(latent.bfloat16()).sample, truth)


def test_report_names_the_patched_and_the_skipped_modules():
    vae = tiny_wan()
    report = vconv.diffusers.accelerate(vae)
    wan_convs = [n for n, m in tiny_wan().named_modules() if type(m).__name__ == "WanCausalConv3d"]
    assert [name for name, _ in report.patched] == wan_convs
    assert {kind for _, kind in report.patched} == {"WanCausalConv3d"}
    assert "decoder.conv_out" in str(report) and "decoder.up_blocks.0.upsamplers.0.time_conv" in str(report)
    skipped = dict(report.skipped)  # the spatial resamplers and attention projections: nn.Conv2d
    assert skipped and all("Conv2d" in why and "left to torch" in why for why in skipped.values())
    assert all(
        isinstance(vae.get_submodule(n), diffusers.models.autoencoders.autoencoder_kl_wan.WanCausalConv3d)
        for n in wan_convs
    )
    again = vconv.diffusers.accelerate(vae)
    assert [kind for _, kind in again.patched] == ["WanCausalConv3d, already patched"] * len(wan_convs)


def test_state_dict_and_dtype_stay_diffusers():
    vae, original = tiny_wan(torch.bfloat16), tiny_wan(torch.bfloat16)
    vconv.diffusers.accelerate(vae)
    state, expected = vae.state_dict(), original.state_dict()
    assert list(state) == list(expected)
    assert all(torch.equal(state[k], expected[k]) and state[k].dtype == torch.bfloat16 for k in state)
    copy.deepcopy(vae).load_state_dict(expected)


def test_unsupported_modules_are_skipped_with_the_reason():
    vae = tiny_wan().double()
    report = vconv.diffusers.accelerate(vae)
    assert not report.patched
    assert (
        "dtype torch.float64: vconv takes float32, float16 and bfloat16"
        in dict(report.skipped)["decoder.conv_out"]
    )
    with pytest.raises(TypeError, match="vae: str, expected a torch.nn.Module"):
        vconv.diffusers.accelerate("vae")


def test_backward_through_a_patched_module_raises():
    vae = tiny_wan()
    vconv.diffusers.accelerate(vae)
    out = vae.decoder.conv_out(torch.randn(1, 8, 2, 8, 8))
    with pytest.raises(RuntimeError, match="no backward"):
        out.sum().backward()


def tiny_hunyuan_video():
    return diffusers.AutoencoderKLHunyuanVideo(
        latent_channels=4,
        down_block_types=("HunyuanVideoDownBlock3D",) * 3,
        up_block_types=("HunyuanVideoUpBlock3D",) * 3,
        block_out_channels=(8, 16, 16),
        layers_per_block=1,
        norm_num_groups=4,
        spatial_compression_ratio=4,
        temporal_compression_ratio=4,
    )


def tiny_cogvideox():
    return diffusers.AutoencoderKLCogVideoX(
        down_block_types=("CogVideoXDownBlock3D",) * 2,
        up_block_types=("CogVideoXUpBlock3D",) * 2,
        block_out_channels=(8, 16),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=4,
        temporal_compression_ratio=2,
    )


def tiny_ltx_video():
    return diffusers.AutoencoderKLLTXVideo(
        latent_channels=4,
        block_out_channels=(8, 16),
        down_block_types=("LTXVideoDownBlock3D",) * 2,
        decoder_block_out_channels=(8, 16),
        layers_per_block=(1, 1, 1),
        decoder_layers_per_block=(1, 1, 1),
        spatio_temporal_scaling=(True, False),
        decoder_spatio_temporal_scaling=(True, False),
        decoder_inject_noise=(False, False, False),
        downsample_type=("conv", "conv"),
        upsample_residual=(False, False),
        upsample_factor=(1, 1),
        patch_size=2,
        patch_size_t=1,
    )


@pytest.mark.parametrize(
    "make, causal_conv",
    [
        (tiny_hunyuan_video, "HunyuanVideoCausalConv3d"),
        (tiny_cogvideox, "CogVideoXCausalConv3d"),
        (tiny_ltx_video, "LTXVideoCausalConv3d"),
    ],
)
def test_other_video_autoencoders_match_diffusers(video, make, causal_conv):
    torch.manual_seed(2)
    theirs = make().eval()
    ours = copy.deepcopy(theirs)
    report = vconv.diffusers.accelerate(ours)
    expected = [n for n, m in theirs.named_modules() if type(m).__name__ == causal_conv]
    assert expected and [name for name, _ in report.patched] == expected
    with torch.no_grad():
        latent = theirs.encode(video).latent_dist.mode()
        assert rel(ours.encode(video).latent_dist.mode(), latent) <= 1e-4
        assert rel(ours.decode(latent).sample, theirs.decode(latent).sample) <= 1e-4


def test_cogvideox_conv_cache_is_the_frame_cache(video, monkeypatch):
    # CogVideoX decodes latent frames in batches of 2, each causal conv continuing from the
    # conv_cache of the batch before: vconv's frame cache, returned as the next conv_cache.
    caches, causal_conv3d = [], vconv._diffusers_cogvideox.causal_conv3d

    def spy(*args):
        caches.append(args[-1] is not None)
        return causal_conv3d(*args)

    monkeypatch.setattr(vconv._diffusers_cogvideox, "causal_conv3d", spy)
    monkeypatch.setattr(vconv._torch_call, "streams", lambda *args: True)  # whatever the planner says
    torch.manual_seed(3)
    theirs = tiny_cogvideox().eval()
    ours = copy.deepcopy(theirs)
    vconv.diffusers.accelerate(ours)
    latent = torch.randn(1, 4, 5, 8, 8)
    with torch.no_grad():
        assert rel(ours.decode(latent).sample, theirs.decode(latent).sample) <= 1e-4
    assert any(caches) and not all(caches)


@pytest.fixture(params=["frame cache", "concatenated"])
def frame_cache_or_not(request, monkeypatch):
    """Both forms of a patched conv's cached frames, whatever the planner would say
    (_torch_call.streams): vconv's frame cache, and the cache concatenated before the chunk."""
    answer = request.param == "frame cache"
    monkeypatch.setattr(vconv._torch_call, "streams", lambda *args: answer)
    return request.param


@pytest.mark.parametrize("padding", [1, 2])  # 2: 4 frames of time padding, more than the taps reach
@pytest.mark.parametrize("cache_frames", [None, 1, 2, 3])
def test_wan_causal_conv_with_any_cache(padding, cache_frames, frame_cache_or_not):
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d

    torch.manual_seed(4)
    theirs = WanCausalConv3d(4, 6, 3, padding=padding)
    ours = copy.deepcopy(theirs)
    vconv.diffusers.accelerate(ours)
    x = torch.randn(1, 4, 3, 7, 6)
    cache = None if cache_frames is None else torch.randn(1, 4, cache_frames, 7, 6)
    with torch.no_grad():
        assert rel(ours(x, cache), theirs(x, cache)) <= 1e-6


@pytest.mark.parametrize("pad_mode", ["constant", "replicate"])  # replicate: Mochi's
def test_cogvideox_causal_conv_pad_modes(pad_mode, frame_cache_or_not):
    from diffusers.models.autoencoders.autoencoder_kl_cogvideox import CogVideoXCausalConv3d

    torch.manual_seed(5)
    theirs = CogVideoXCausalConv3d(4, 6, 3, pad_mode=pad_mode)
    ours = copy.deepcopy(theirs)
    vconv.diffusers.accelerate(ours)
    x, more = torch.randn(1, 4, 3, 7, 6), torch.randn(1, 4, 2, 7, 6)
    with torch.no_grad():
        (y, cache), (ref, ref_cache) = ours(x), theirs(x)
        assert rel(y, ref) <= 1e-6
        if pad_mode == "replicate":
            assert cache is None and ref_cache is None
        else:
            assert torch.equal(cache, ref_cache)
            assert rel(ours(more, cache)[0], theirs(more, ref_cache)[0]) <= 1e-6


def test_patched_wan_conv_compiles_without_graph_breaks():
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d

    torch.manual_seed(6)
    theirs = WanCausalConv3d(4, 6, 3, padding=1)
    ours = copy.deepcopy(theirs)
    vconv.diffusers.accelerate(ours)
    compiled = torch.compile(ours, fullgraph=True)
    x = torch.randn(1, 4, 3, 7, 6)
    with torch.no_grad():
        for cache in (None, torch.randn(1, 4, 1, 7, 6), torch.randn(1, 4, 2, 7, 6)):
            assert rel(compiled(x, cache), theirs(x, cache)) <= 1e-6


def test_the_planner_decides_whether_a_cache_streams():
    # On the CPU depth_tap reads a cache: a Wan-sized two-frame chunk streams through it; a
    # one-frame chunk, of whose three taps a call without a cache computes one (the others read
    # zero padding), is over twice as fast without, so it concatenates the cached frames; a
    # problem the reference is as fast for streams.
    x, w = torch.randn(1, 64, 2, 32, 32), torch.randn(64, 64, 3, 3, 3)
    assert vconv._torch_call.streams(x, w, 1, ([2, 1, 1], [0, 1, 1]), 1, 1, "zeros")
    x = torch.randn(1, 64, 1, 32, 32)
    assert not vconv._torch_call.streams(x, w, 1, ([2, 1, 1], [0, 1, 1]), 1, 1, "zeros")
    x, w = torch.randn(1, 1, 1, 1, 1), torch.randn(1, 1, 2, 1, 1)
    assert vconv._torch_call.streams(x, w, 1, ([1, 0, 0], [0, 0, 0]), 1, 1, "zeros")


def test_decode_benchmark_reports_each_variant():
    """python -m vconv.bench --suite decode (issue 12), on the tiny Wan config on the CPU: one row
    per variant, vconv's video within fp32 accuracy of eager's, the patch report printed."""
    lines = []
    rows = bench_decode.run_decode("wan-tiny", "cpu", torch.float32, repeat=1, out=lines.append)
    assert [r["name"] for r in rows] == ["eager NCDHW", "eager channels_last", "vconv", "vconv fused blocks"]
    assert all(r["ms"] > 0 for r in rows)
    for row in rows[2:]:
        assert row["rel_diff"] <= 1e-4 and row["report"].patched
    kinds = {kind for _, kind in rows[3]["report"].patched}
    assert "WanResidualBlock" in kinds and "WanResidualBlock" not in {k for _, k in rows[2]["report"].patched}
    assert len(lines) == 7 and all("modules on vconv" in line for line in lines[-2:])


def test_decode_profile_splits_time_by_kind():
    """--suite decode --profile: every variant's decode split by kind of kernel (operators on the
    CPU), vconv's time only in the patched variants, and the kinds summing to the total."""
    lines = []
    rows = bench_decode.run_decode("wan-tiny", "cpu", torch.float32, repeat=1, profile=True, out=lines.append)
    for row in rows:
        prof = row["profile"]
        assert prof["total_ms"] > 0 and prof["top"]
        assert sum(prof["kinds"].values()) == pytest.approx(prof["total_ms"])
        assert (prof["kinds"]["vconv"] > 0) == row["name"].startswith("vconv"), row["name"]
    assert rows[0]["profile"]["kinds"]["torch conv"] > 0
    assert sum(line.startswith("  profile ") for line in lines) == 4


def test_kernel_kinds_by_name():
    kind = bench_decode.kernel_kind
    assert kind("void vconv::cuda::implicit_gemm::conv_ws_kernel<...>") == "vconv"
    assert kind("vconv::conv_general") == "vconv"
    assert kind("sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc") == "torch conv"
    assert kind("aten::cudnn_convolution") == "torch conv"
    assert kind("void at::native::(anonymous namespace)::CatArrayBatchedCopy<...>") == "copies, cat, layout"
    assert kind("void at::native::vectorized_elementwise_kernel<4, silu_kernel>") == "elementwise"
    assert kind("aten::upsample_nearest3d") == "upsample"
    assert kind("something else") == "other"


@pytest.mark.parametrize("in_dim, out_dim", [(8, 8), (8, 12)])  # 12: a 1x1x1 shortcut conv
def test_fused_wan_residual_block_matches_diffusers_over_chunks(in_dim, out_dim, frame_cache_or_not):
    """accelerate(fuse_blocks=True) on a WanResidualBlock with trained-looking norms (random gamma):
    a first chunk of 1 frame, then 2 and 3, each through the block's feature caches as Wan's
    decoder passes them; every chunk's output against diffusers' block."""
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanResidualBlock

    torch.manual_seed(5)
    theirs = WanResidualBlock(in_dim, out_dim).eval()
    with torch.no_grad():
        for norm in (theirs.norm1, theirs.norm2):
            norm.gamma.uniform_(0.5, 1.5)
    ours = copy.deepcopy(theirs)
    report = vconv.diffusers.accelerate(ours, fuse_blocks=True)
    assert [kind for _, kind in report.patched] == ["WanResidualBlock"]
    caches = {"ours": [None, None], "theirs": [None, None]}
    with torch.no_grad():
        for frames in (1, 2, 3):
            x = torch.randn(1, in_dim, frames, 6, 7) * 2 + 0.5
            y_theirs = theirs(x, caches["theirs"], [0])
            y_ours = ours(x, caches["ours"], [0])
            assert y_ours.shape == y_theirs.shape
            assert rel(y_ours, y_theirs) <= 1e-5, frames
        whole = torch.randn(1, in_dim, 4, 6, 7)  # no feature cache: the whole sequence at once
        assert rel(ours(whole), theirs(whole)) <= 1e-5


def test_fused_blocks_encode_and_decode_match_diffusers(video, frame_cache_or_not):
    ours, theirs = tiny_wan(), tiny_wan()
    report = vconv.diffusers.accelerate(ours, fuse_blocks=True)
    blocks = [n for n, m in theirs.named_modules() if type(m).__name__ == "WanResidualBlock"]
    assert [n for n, kind in report.patched if kind == "WanResidualBlock"] == blocks
    assert not any(name.startswith(tuple(b + "." for b in blocks)) for name, _ in report.patched)
    with torch.no_grad():
        latent = theirs.encode(video).latent_dist.mode()
        assert rel(ours.encode(video).latent_dist.mode(), latent) <= 1e-4
        assert rel(ours.decode(latent).sample, theirs.decode(latent).sample) <= 1e-4


def test_fused_blocks_in_bf16_are_as_close_to_the_fp32_model_as_diffusers(video, frame_cache_or_not):
    # Fused, a block rounds once per conv input where diffusers rounds the norm, its scale and
    # SiLU apart: 2.2e-2 from diffusers' bf16 decode, and closer than it to the fp32 model
    # (1.8e-2 against 2.0e-2).
    exact, ours, theirs = tiny_wan(), tiny_wan(torch.bfloat16), tiny_wan(torch.bfloat16)
    vconv.diffusers.accelerate(ours, fuse_blocks=True)
    with torch.no_grad():
        latent = exact.encode(video).latent_dist.mode()
        truth = exact.decode(latent).sample
        ours_error = rel(ours.decode(latent.bfloat16()).sample, truth)
        assert ours_error <= 1.1 * rel(theirs.decode(latent.bfloat16()).sample, truth)
