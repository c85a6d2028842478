"""The offline engine's JavaScript (Node) templates: a CommonJS package tested with
``node --test``, no npm dependencies (the gates run without network)."""

from __future__ import annotations

import json

from api.generation.agents.model import is_test

SCRIPT_SUFFIXES = (".js", ".cjs", ".mjs")

SKELETON = """'use strict';

/** What this project is for. */
function describe() {{
  return {description};
}}

module.exports = {{ describe }};
"""

CLI = """#!/usr/bin/env node
'use strict';

const {{ describe }} = require('../{package}.js');

function main(argv) {{
  if (argv.includes('--help')) {{
    return 'usage: {name} [--help]';
  }}
  return describe();
}}

if (require.main === module) {{
  console.log(main(process.argv.slice(2)));
}}

module.exports = {{ main }};
"""

SKELETON_TEST = """'use strict';

const test = require('node:test');
const assert = require('node:assert');
const {{ describe }} = require('../{package}.js');
const {{ main }} = require('../bin/cli.js');

test('describe says what the project is for', () => {{
  assert.ok(describe().length > 0);
}});

test('the command line prints the description or its usage', () => {{
  assert.strictEqual(main([]), describe());
  assert.match(main(['--help']), /^usage: /);
}});
"""

SMOKE_TEST = """'use strict';
// Generated: every module of the project loads cleanly.

const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');

const MODULES = {modules};

for (const name of MODULES) {{
  test(`${{name}} loads`, () => {{
    assert.ok(require(path.join(__dirname, '..', name)) !== undefined);
  }});
}}
"""


def package_json(name: str, summary: str) -> str:
    body = {
        "name": name.replace("_", "-"),
        "version": "0.1.0",
        "description": summary,
        "main": f"{name}.js",
        "bin": {name.replace("_", "-"): "bin/cli.js"},
        "scripts": {"test": "node --test"},
        "engines": {"node": ">=20"},
        "license": "MIT",
    }
    return json.dumps(body, indent=2) + "\n"


def skeleton(package: str, description: str) -> dict[str, str]:
    return {
        f"{package}.js": SKELETON.format(description=json.dumps(description)),
        "bin/cli.js": CLI.format(package=package, name=package.replace("_", "-")),
    }


def modules(paths: list[str]) -> list[str]:
    """Loadable modules: scripts that are not tests."""
    return sorted(p for p in paths if p.endswith(SCRIPT_SUFFIXES) and not is_test(p))


def smoke_test(paths: list[str]) -> str:
    return SMOKE_TEST.format(modules=json.dumps(modules(paths)))
