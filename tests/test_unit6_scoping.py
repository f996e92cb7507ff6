"""Unit 6 switches on mixed precision for one section only: the cells before it still give the same results.

Keras keeps the dtype policy in a global setting that every layer built later
reads. The notebook scopes it with ``course.runtime.precision_policy`` in a
``with`` block. These tests run an earlier cell's code (the ``small_cnn`` model of
the small experiments) before and after the mixed-precision cell, in a fresh
process, and require identical outputs; a second test proves that the same
comparison fails when the policy is left switched on.
"""

import ast
import json
import os
import subprocess
import sys

import nbformat
import pytest

from course.notebooks import QUICK_ENV, ROOT

NOTEBOOK = ROOT / "units" / "06_improving_deep_networks.ipynb"
MIXED_SECTION = 'with precision_policy("mixed_float16"):'

# Runs in a child process: the notebook's imports, then the earlier cell and a probe model
# built from it, then the mixed-precision cell, then the earlier cell and the probe again.
HARNESS = r"""
import json, sys

import numpy as np

import course

runtime_info = course.runtime.setup(verbose=False)
import keras

with open(sys.argv[1]) as handle:
    cells = json.load(handle)
namespace = {"runtime_info": runtime_info}
exec(cells["imports"], namespace)

policies_set = []
set_global_policy = keras.mixed_precision.set_global_policy


def recording_set_global_policy(policy):
    policies_set.append(str(getattr(policy, "name", policy)))
    set_global_policy(policy)


keras.mixed_precision.set_global_policy = recording_set_global_policy


def probe():
    exec(cells["earlier"], namespace)  # the earlier cell's code, run (again)
    keras.utils.set_random_seed(0)
    model = namespace["small_cnn"]()
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("float32")
    logits = keras.ops.convert_to_numpy(model(images, training=False))
    return {
        "global_policy": keras.mixed_precision.global_policy().name,
        "layer_policies": sorted({layer.dtype_policy.name for layer in model.layers}),
        "output_dtype": str(logits.dtype),
        "logits": logits.astype("float64").tolist(),
    }


before = probe()
exec(cells["mixed"], namespace)
after = probe()
print("RESULT " + json.dumps({"before": before, "after": after, "policies_set": policies_set}))
"""


def code_cells() -> list[str]:
    """The notebook's code cells after the shared setup cell (which holds a %pip magic)."""
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    return [c.source for c in cells if c.cell_type == "code"][1:]


def cell_that(predicate, what: str) -> str:
    found = [source for source in code_cells() if predicate(source)]
    assert len(found) == 1, f"expected exactly one code cell that {what}, found {len(found)}"
    return found[0]


def defines(name: str):
    def test(source: str) -> bool:
        tree = ast.parse(source)
        return any(isinstance(node, ast.FunctionDef) and node.name == name for node in tree.body)

    return test


def notebook_cells() -> dict[str, str]:
    return {
        "imports": cell_that(lambda s: "from course.runtime import" in s, "imports course.runtime"),
        "earlier": cell_that(defines("small_cnn"), "defines small_cnn"),
        "mixed": cell_that(lambda s: MIXED_SECTION in s, f"contains {MIXED_SECTION!r}"),
    }


def run_harness(cells: dict[str, str], tmp_path) -> dict:
    cells_file = tmp_path / "cells.json"
    cells_file.write_text(json.dumps(cells))
    done = subprocess.run(
        [sys.executable, "-c", HARNESS, str(cells_file)], capture_output=True, text=True,
        env={**os.environ, **QUICK_ENV}, cwd=NOTEBOOK.parent, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def differences(result: dict) -> list[str]:
    """What changed between the earlier cell's run before and after the mixed-precision cell."""
    before, after = result["before"], result["after"]
    return [f"{key}: {before[key]!r} before, {after[key]!r} after"[:300]
            for key in before if before[key] != after[key]]


@pytest.mark.slow
def test_an_earlier_cell_gives_the_same_model_after_the_mixed_precision_section(tmp_path):
    result = run_harness(notebook_cells(), tmp_path)
    # The section really switched to mixed precision (else this test could not fail) ...
    assert "mixed_float16" in result["policies_set"], result["policies_set"]
    # ... and left nothing behind: same policy, same layers, bit-identical logits.
    assert result["before"]["global_policy"] == "float32"
    assert result["before"]["output_dtype"] == "float32"
    found = differences(result)
    assert found == [], "the mixed-precision section leaked:\n" + "\n".join(found)


@pytest.mark.slow
def test_the_comparison_fails_when_the_policy_leaks(tmp_path):
    """The same harness, with the section rewritten to set the policy globally, sees the leak."""
    cells = notebook_cells()
    leaking = cells["mixed"].replace(
        MIXED_SECTION, 'keras.mixed_precision.set_global_policy("mixed_float16")\nif True:')
    assert leaking != cells["mixed"]
    result = run_harness({**cells, "mixed": leaking}, tmp_path)
    found = differences(result)
    assert any(d.startswith("global_policy") for d in found), found
    assert any(d.startswith("output_dtype") for d in found), found
    keras_is_reset = result["before"]["global_policy"] == "float32"
    assert keras_is_reset


def _with_blocks(tree) -> list[ast.With]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.With)]


def _is_precision_policy(call) -> bool:
    return (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id == "precision_policy")


def test_the_policy_is_only_ever_changed_by_a_with_block():
    for source in code_cells():
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                assert node.attr != "set_global_policy", (
                    f"a cell sets the global policy directly:\n{source[:300]}")
        scoped = {id(item.context_expr) for block in _with_blocks(tree) for item in block.items}
        for node in ast.walk(tree):
            if _is_precision_policy(node):
                assert id(node) in scoped, f"precision_policy(...) outside a with block:\n{source[:300]}"


def test_the_ladder_is_trained_inside_its_precision_block():
    ladder = cell_that(lambda s: "run_rung(name, **settings)" in s, "trains the ladder")
    tree = ast.parse(ladder)
    blocks = [b for b in _with_blocks(tree) if any(_is_precision_policy(i.context_expr) for i in b.items)]
    assert len(blocks) == 1
    calls = [n for n in ast.walk(blocks[0]) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name) and n.func.id == "run_rung"]
    all_calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Name) and n.func.id == "run_rung"]
    assert calls and len(calls) == len(all_calls)
