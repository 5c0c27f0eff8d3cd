"""The benchmarks still run, and their own checks hold, on a short setting.

They are not timed here (SPEC 7: speed is measured by the benchmarks, never by a timed
test); this only keeps them from rotting, since README figures are made with them.
"""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def run_bench(module: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_pixel_benchmark_counts_every_answered_request() -> None:
    output = run_bench(
        "tests.bench.bench_pixel", "--rounds", "1", "--seconds", "1", "--connections", "8"
    )

    assert "ours / bare:" in output and "ours / INSERT:" in output
    assert "server CPU per pixel request, µs: bare Starlette" in output
    counted = output.split("counted: ")[1].split()
    opens, answered = counted[0], counted[3]
    assert opens == answered and int(opens.replace(",", "")) > 0


def test_the_write_benchmark_commits_groups() -> None:
    output = run_bench("tests.bench.bench_writes", "--seconds", "1", "--group", "50")

    hits = int(output.split("hits committed:")[1].split()[0].replace(",", ""))
    assert hits >= 50
