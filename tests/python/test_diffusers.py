"""vconv.diffusers.accelerate on a tiny AutoencoderKLWan (random weights): patched encode and
decode against diffusers' own, the report, the state_dict, the backward error (skipped, visibly,
without torch or diffusers)."""

import copy

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the diffusers tests are skipped")
diffusers = pytest.importorskip("diffusers", reason="diffusers is not installed: the diffusers tests are skipped")

import vconv._diffusers_wan
import vconv.diffusers


def tiny_wan(dtype=torch.float32):
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLWan(
        base_dim=8,
        z_dim=4,
        dim_mult=[1, 2, 2],
        num_res_blocks=1,
        attn_scales=[],
        temperal_downsample=[False, True],
        latents_mean=[0.0] * 4,
        latents_std=[1.0] * 4,
    )
    return vae.to(dtype).eval()


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
    # Later chunks read their cached frames through the frame cache, 2 frames each (Wan's short
    # first-chunk caches zero-padded to them).
    assert cache_reads.count(2) > 0 and set(cache_reads) <= {None, 2}


def test_report_names_the_patched_and_the_skipped_modules():
    vae = tiny_wan()
    report = vconv.diffusers.accelerate(vae)
    wan_convs = [n for n, m in tiny_wan().named_modules() if type(m).__name__ == "WanCausalConv3d"]
    assert [name for name, _ in report.patched] == wan_convs
    assert {kind for _, kind in report.patched} == {"WanCausalConv3d"}
    assert "decoder.conv_out" in str(report) and "decoder.up_blocks.0.upsamplers.0.time_conv" in str(report)
    skipped = dict(report.skipped)  # the spatial resamplers and attention projections: nn.Conv2d
    assert skipped and all("Conv2d" in why and "left to torch" in why for why in skipped.values())
    assert all(isinstance(vae.get_submodule(n), diffusers.models.autoencoders.autoencoder_kl_wan.WanCausalConv3d)
               for n in wan_convs)
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
    assert "dtype torch.float64: vconv takes float32, float16 and bfloat16" in dict(report.skipped)["decoder.conv_out"]
    with pytest.raises(TypeError, match="vae: str, expected a torch.nn.Module"):
        vconv.diffusers.accelerate("vae")


def test_backward_through_a_patched_module_raises():
    vae = tiny_wan()
    vconv.diffusers.accelerate(vae)
    out = vae.decoder.conv_out(torch.randn(1, 8, 2, 8, 8))
    with pytest.raises(RuntimeError, match="no backward"):
        out.sum().backward()
