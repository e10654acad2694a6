"""conv_general's frame_cache (issue 12): a causal 3D conv over chunks, each reading the frames
the previous call cached, equals one call over the whole sequence; a bad cache is the C++ core's
error, naming the argument."""

import numpy as np
import pytest

import vconv
from reference import TOLERANCE, conv_general, rel_error


def causal_problem(rng, frames=7, kd=3, dilation=1, n=2, c=4, o=5):
    x = rng.uniform(-1, 1, (n, frames, 6, 5, c)).astype(np.float32)
    w = rng.uniform(-1, 1, (o, kd, 3, 3, c)).astype(np.float32)
    f = (kd - 1) * dilation
    kwargs = {"padding": ([f, 1, 1], [0, 1, 1]), "kernel_dilation": [dilation, 1, 1]}
    return x, w, f, kwargs


@pytest.mark.parametrize("algorithm", ["reference", "depth_tap"])  # the CPU's that read a cache
@pytest.mark.parametrize("pad_mode", ["zeros", "replicate"])
@pytest.mark.parametrize("kd, dilation, chunks", [(3, 1, (1, 3, 3)), (3, 2, (2, 1, 4)), (2, 1, (7,))])
def test_chunks_equal_one_call(algorithm, pad_mode, kd, dilation, chunks):
    rng = np.random.default_rng(1)
    x, w, f, kwargs = causal_problem(rng, frames=sum(chunks), kd=kd, dilation=dilation)
    # Bitwise with the algorithm fixed.
    whole = vconv.conv_general(x, w, pad_mode=pad_mode, algorithm=algorithm, **kwargs)
    previous, parts, start = None, [], 0
    for size in chunks:
        next_frames = np.empty((x.shape[0], f, *x.shape[2:]), np.float32)
        parts.append(
            vconv.conv_general(
                x[:, start : start + size],
                w,
                pad_mode=pad_mode,
                algorithm=algorithm,
                frame_cache=(previous, next_frames),
                **kwargs,
            )
        )
        previous, start = next_frames, start + size
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)
    ref = conv_general(
        x, w, [1] * 3, *kwargs["padding"], kwargs["kernel_dilation"], [1] * 3, 1, False, [pad_mode] * 3
    )
    assert rel_error(whole, ref) <= TOLERANCE["float32"]


def test_previous_alone_and_next_alone():
    rng = np.random.default_rng(2)
    x, w, f, kwargs = causal_problem(rng)
    # Bitwise with the algorithm fixed: the planner's for a streaming call on the CPU.
    whole = vconv.conv_general(x, w, algorithm="depth_tap", **kwargs)
    cache = np.empty((x.shape[0], f, *x.shape[2:]), np.float32)
    first = vconv.conv_general(x[:, :4], w, algorithm="depth_tap", frame_cache=(None, cache), **kwargs)
    np.testing.assert_array_equal(cache, x[:, 2:4])  # the last F frames of the chunk
    rest = vconv.conv_general(x[:, 4:], w, algorithm="depth_tap", frame_cache=(cache, None), **kwargs)
    np.testing.assert_array_equal(np.concatenate([first, rest], axis=1), whole)


def test_frame_cache_errors_name_the_argument():
    rng = np.random.default_rng(3)
    x, w, f, kwargs = causal_problem(rng)
    good = np.zeros((x.shape[0], f, *x.shape[2:]), np.float32)
    with pytest.raises(
        ValueError, match=r"options\.frame_cache\.previous: shape \[2, 3, 6, 5, 4\], expected \[2, 2"
    ):
        vconv.conv_general(x, w, frame_cache=(np.concatenate([good, good[:, :1]], axis=1), None), **kwargs)
    with pytest.raises(ValueError, match=r"options\.frame_cache\.next: shape .*expected \[2, 2, 6, 5, 4\]"):
        vconv.conv_general(x, w, frame_cache=(None, good[:, :, :3]), **kwargs)
    with pytest.raises(ValueError, match=r"options\.frame_cache\.previous: dtype mismatch"):
        vconv.conv_general(x, w, frame_cache=(good.astype(np.float16), None), **kwargs)
    with pytest.raises(ValueError, match=r"options\.frame_cache: time padding 1:1; expected the causal 2:0"):
        vconv.conv_general(x, w, padding=1, frame_cache=(good, None))
    with pytest.raises(ValueError, match=r"options\.frame_cache: a 2D problem"):
        vconv.conv_general(x[:, 0], w[:, 0], padding=1, frame_cache=(good[:, :, 0], None))
    with pytest.raises(
        ValueError, match=r"options\.frame_cache\.next: overlaps options\.frame_cache\.previous"
    ):
        vconv.conv_general(x, w, frame_cache=(good, good), **kwargs)
    with pytest.raises(TypeError, match=r"options\.frame_cache\.previous: unsupported dtype"):
        vconv.conv_general(x, w, frame_cache=(good.astype(np.float64), None), **kwargs)
    with pytest.raises(ValueError, match=r"frame_cache: ndarray, expected None or a pair"):
        vconv.conv_general(x, w, frame_cache=good, **kwargs)


def test_plan_with_a_frame_cache_names_who_reads_one():
    rng = np.random.default_rng(4)
    x, w, f, kwargs = causal_problem(rng)
    plan = vconv.plan(x, w, frame_cache=True, **kwargs)
    readers = ("reference", "depth_tap")  # the CPU algorithms that read a cache
    assert plan.algorithm == "depth_tap"
    for name, valid, why_not, _ in plan.candidates:
        assert valid == (name in readers)
        if name not in readers and "frame cache" in why_not:
            assert "does not read a frame cache (options.frame_cache" in why_not
    assert vconv.plan(x, w, **kwargs).candidates != plan.candidates
