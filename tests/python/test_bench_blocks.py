"""python -m vconv.bench --suite blocks, tiny on the CPU in float32: every case runs (none
skipped: the CPU reference applies every fusion) and prints vconv's output within float32's
tolerance of torch eager's (skipped, visibly, without torch). torch.compile is left out here: it
takes longer than the whole suite on a small CPU."""

import math

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the torch tests are skipped")

import vconv.torch as vt
from reference import TOLERANCE
from vconv import bench, bench_blocks

ARGS = ["--suite", "blocks", "--device", "cpu", "--dtype", "float32", "--scale", "32", "--repeat", "1"]


def test_every_block_prints_a_rel_diff_within_float32_tolerance(capsys):
    rows = bench.main(ARGS + ["--no-compile"])
    printed = capsys.readouterr().out.splitlines()
    names = [name for name, _ in bench_blocks.blocks(torch.device("cpu"), torch.float32, 32)]
    assert [row["name"] for row in rows] == names
    for row in rows:
        assert "skipped" not in row, f"{row['name']}: {row['skipped']}"
        lines = [line for line in printed if line[: bench_blocks.NAME_WIDTH].rstrip() == row["name"]]
        assert len(lines) == 1, f"{row['name']}: printed {lines}"
        rel_diff = float(lines[0].split()[-1])
        assert math.isfinite(rel_diff) and rel_diff <= TOLERANCE["float32"], lines[0]
        assert math.isclose(rel_diff, row["rel_diff"], rel_tol=1e-2), (lines[0], row["rel_diff"])


def test_a_vconv_call_that_raises_prints_its_case_as_skipped(monkeypatch):
    """As on a GPU where no algorithm applies a case's fusions: the suite goes on."""
    cpu = torch.device("cpu")
    upsample = [case for case in bench_blocks.blocks(cpu, torch.float32, 32) if case[0].startswith("up 2x")]
    monkeypatch.setattr(bench_blocks, "blocks", lambda *args: upsample)

    def no_algorithm(*args, **kwargs):
        raise RuntimeError("no algorithm applies upsample\n(details)")

    monkeypatch.setattr(vt, "conv2d", no_algorithm)
    printed = []
    rows = bench_blocks.run_blocks(cpu, torch.float32, 1, 32, compile=False, out=printed.append)
    name = upsample[0][0]
    assert rows == [{"name": name, "skipped": "no algorithm applies upsample\n(details)"}]
    assert printed[-1] == f"{name:<{bench_blocks.NAME_WIDTH}} skipped: no algorithm applies upsample"
