"""The offline engine's pieces that need no database: tracebacks, errors, completion triggers."""

from __future__ import annotations

import pytest

from api.assistant import offline, tracebacks
from api.assistant.prompts import strip_fences

IPYTHON_TRACEBACK = [
    "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
    "\x1b[0;31mKeyError\x1b[0m                                  Traceback (most recent call last)",
    "Cell \x1b[0;32mIn[7], line 3\x1b[0m\n\x1b[1;32m      1\x1b[0m d = {}\n"
    "\x1b[0;32m----> 3\x1b[0m d[\x1b[38;5;124m'price'\x1b[39m]\n",
    "\x1b[0;31mKeyError\x1b[0m: 'price'",
]
PLAIN_TRACEBACK = """Traceback (most recent call last):
  File "/home/jovyan/job.py", line 12, in <module>
    main()
  File "/home/jovyan/job.py", line 9, in main
    total = sum(values) / len(values)
ZeroDivisionError: division by zero
"""


def test_ipython_traceback_gives_the_cell_and_line() -> None:
    parsed = tracebacks.parse("KeyError", "'price'", IPYTHON_TRACEBACK)
    assert parsed.location == "Cell In[7], line 3"
    assert parsed.line == "d['price']"


def test_plain_traceback_gives_the_last_frame_and_the_exception() -> None:
    parsed = tracebacks.parse(None, None, PLAIN_TRACEBACK)
    assert parsed.ename == "ZeroDivisionError" and parsed.evalue == "division by zero"
    assert parsed.location == "/home/jovyan/job.py, line 9"
    assert parsed.line == "total = sum(values) / len(values)"


@pytest.mark.parametrize(
    ("ename", "evalue", "expected"),
    [
        ("NameError", "name 'pd' is not defined", "import pandas as pd"),
        ("NameError", "name 'totl' is not defined", "check the spelling"),
        ("ModuleNotFoundError", "No module named 'sklearn'", "%pip install scikit-learn"),
        ("ModuleNotFoundError", "No module named 'polars.io'", "%pip install polars"),
        ("ImportError", "cannot import name 'foo' from 'os'", "has no `foo`"),
        ("KeyError", "'price'", "no key 'price'"),
        ("IndexError", "list index out of range", "len(seq) - 1"),
        ("TypeError", "f() takes 1 positional argument but 2 were given", "signature"),
        ("TypeError", "'list' object is not callable", "overwritten"),
        ("AttributeError", "'NoneType' object has no attribute 'shape'", "`None`"),
        ("ZeroDivisionError", "division by zero", "Guard the division"),
        ("SyntaxError", "invalid syntax", "unclosed bracket"),
        ("FileNotFoundError", "[Errno 2] No such file or directory: 'data.csv'", "`data.csv`"),
        ("ValueError", "invalid literal for int() with base 10: '3.5'", "unusable value"),
        ("RuntimeError", "boom", "last frame"),
    ],
)
def test_common_errors_get_a_concrete_explanation(ename: str, evalue: str, expected: str) -> None:
    explanation = tracebacks.explain(tracebacks.parse(ename, evalue, []))
    assert expected in explanation.summary + " " + explanation.fix + " " + (explanation.code or "")


def test_error_markdown_for_a_fix_names_the_line_to_change() -> None:
    request = offline.OfflineRequest("fix_error", PLAIN_TRACEBACK, None)
    text = offline.error_markdown(request)
    assert text.startswith("**ZeroDivisionError**: division by zero")
    assert "`total = sum(values) / len(values)`" in text


@pytest.mark.parametrize(
    ("prefix", "comment"),
    [
        ("# read a csv file\n", "read a csv file"),
        ("x = 1\n    # retry with exponential backoff", "retry with exponential backoff"),
        ("// debounce a function call\n", "debounce a function call"),
        ("# todo\n", None),
        ("x = compute(", None),
        ("", None),
    ],
)
def test_only_a_descriptive_comment_asks_the_library(prefix: str, comment: str | None) -> None:
    assert offline.comment_before_cursor(prefix) == comment


def test_stream_chunks_rebuild_the_text() -> None:
    text = "a" * 200 + "\nshort\n\nend"
    pieces = offline.chunks(text)
    assert "".join(pieces) == text and max(len(p) for p in pieces) <= 80


def test_a_fence_outlasts_the_backticks_inside() -> None:
    assert offline.fence_for("x = 1") == "```"
    assert offline.fence_for("# ADR\n```sql\nSELECT 1\n```\n") == "````"


def test_fences_are_stripped_from_completions() -> None:
    assert strip_fences("```python\nreturn 1\n```") == "return 1"
    assert strip_fences("return 1") == "return 1"
