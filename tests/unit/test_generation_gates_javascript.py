"""A Node project's gates run for real in the sandbox: node --check, node --test, and the
secret and dynamic-code scan."""

from __future__ import annotations

import shutil

import pytest

from api.generation import sandbox
from api.generation.gates import GateResult, run_gates

pytestmark = pytest.mark.skipif(
    not (shutil.which("bwrap") and shutil.which("node")),
    reason="bubblewrap and node are needed: make system-deps installs them",
)

BOX = sandbox.Bubblewrap()
GOOD = {
    "slug.js": (
        "'use strict';\n\nfunction slugify(text) {\n"
        "  return text.toLowerCase().trim().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');\n"
        "}\n\nmodule.exports = { slugify };\n"
    ),
    "test/slug.test.js": (
        "'use strict';\n\nconst test = require('node:test');\n"
        "const assert = require('node:assert');\nconst { slugify } = require('../slug.js');\n\n"
        "test('slugify', () => {\n  assert.strictEqual(slugify(' Hello World! '), 'hello-world');\n"
        "});\n\ntest('empty', () => {\n  assert.strictEqual(slugify(''), '');\n});\n"
    ),
}


def gates(files: dict[str, str]) -> dict[str, GateResult]:
    return {r.gate: r for r in run_gates(files, backend=BOX, language="javascript")}


def test_a_good_node_project_passes_every_gate() -> None:
    results = gates(GOOD)
    assert {name: r.passed for name, r in results.items()} == {
        "syntax": True,
        "tests": True,
        "security": True,
    }, {name: r.report for name, r in results.items()}
    assert results["tests"].metrics["tests"] == 2
    assert results["tests"].metrics["pass_rate"] == 1.0
    assert results["syntax"].metrics["scripts"] == 2


def test_a_broken_node_project_fails_the_test_gate() -> None:
    broken = GOOD | {"slug.js": GOOD["slug.js"].replace("'-'", "'_'")}
    tests = gates(broken)["tests"]
    assert not tests.passed
    assert (tests.metrics["tests"], tests.metrics["failed"], tests.metrics["pass_rate"]) == (
        2,
        1,
        0.5,
    )
    assert "hello_world" in tests.report


def test_syntax_errors_and_dynamic_code_fail_their_gates() -> None:
    results = gates(
        GOOD
        | {
            "bad.js": "function (\n",
            "run.js": "module.exports = (code) => eval(code);\n",
        }
    )
    assert not results["syntax"].passed and "bad.js" in results["syntax"].report
    assert not results["security"].passed
    assert "run.js:1 dynamic code execution" in results["security"].report


def test_node_code_cannot_reach_the_network_or_write_outside() -> None:
    probe = {
        "test/escape.test.js": (
            "'use strict';\nconst test = require('node:test');\n"
            "const assert = require('node:assert');\n"
            "const fs = require('node:fs');\nconst net = require('node:net');\n\n"
            "test('no writes outside', () => {\n"
            "  assert.throws(() => fs.writeFileSync('/etc/owned', 'x'));\n});\n\n"
            "test('no network', async () => {\n"
            "  await assert.rejects(new Promise((resolve, reject) => {\n"
            "    const socket = net.connect(443, '1.1.1.1', resolve);\n"
            "    socket.on('error', reject);\n  }));\n});\n"
        )
    }
    tests = gates(probe)["tests"]
    assert tests.passed, tests.report
    assert tests.metrics["tests"] == 2
