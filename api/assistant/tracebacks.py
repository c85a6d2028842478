"""Read a Python traceback (IPython's or the plain one) and explain common errors."""

from __future__ import annotations

import re
from dataclasses import dataclass

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# IPython: "----> 3 print(x)"; plain Python: '  File "a.py", line 3, in f' then the code line.
IPYTHON_ARROW = re.compile(r"^-+>\s*(\d+)\s?(.*)$")
PLAIN_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)')
IPYTHON_FRAME = re.compile(r"^(Cell In\[\d+\]|File [^,]+), line (\d+)")
FINAL_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Warning)):?\s?(.*)$")


@dataclass(frozen=True)
class ParsedError:
    ename: str
    evalue: str
    location: str | None  # "Cell In[3], line 2" or "a.py, line 3"
    line: str | None  # the code of the last frame's failing line

    @property
    def short_name(self) -> str:
        return self.ename.rsplit(".", 1)[-1]


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def parse(ename: str | None, evalue: str | None, traceback: list[str] | str | None) -> ParsedError:
    """The exception and the last frame's location and code line, from whatever is given."""
    raw = traceback if isinstance(traceback, str) else "\n".join(traceback or [])
    lines = [line.rstrip() for line in strip_ansi(raw).splitlines()]
    location: str | None = None
    code: str | None = None
    for index, line in enumerate(lines):
        plain = PLAIN_FRAME.match(line)
        if plain:
            location = f"{plain.group(1)}, line {plain.group(2)}"
            following = lines[index + 1].strip() if index + 1 < len(lines) else ""
            code = following if following and not PLAIN_FRAME.match(following) else None
            continue
        frame = IPYTHON_FRAME.match(line.strip())
        if frame:
            location, code = f"{frame.group(1)}, line {frame.group(2)}", None
            continue
        arrow = IPYTHON_ARROW.match(line.strip())
        if arrow:
            code = arrow.group(2).strip() or None
    name, value = (ename or "").strip(), (evalue or "").strip()
    if not name:
        for line in reversed(lines):
            final = FINAL_LINE.match(line.strip())
            if final:
                name, value = final.group(1), value or final.group(2)
                break
    return ParsedError(name or "Error", value, location, code)


def _quoted(value: str) -> str | None:
    match = re.search(r"'([^']+)'", value)
    return match.group(1) if match else None


# Names people use before importing them, and the import they meant.
COMMON_IMPORTS = {
    "np": "import numpy as np",
    "pd": "import pandas as pd",
    "plt": "import matplotlib.pyplot as plt",
    "sns": "import seaborn as sns",
    "os": "import os",
    "sys": "import sys",
    "json": "import json",
    "re": "import re",
    "math": "import math",
    "datetime": "import datetime",
    "Path": "from pathlib import Path",
    "tf": "import tensorflow as tf",
    "torch": "import torch",
}


# Import names whose package on PyPI has another name.
PACKAGE_NAMES = {
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "cv2": "opencv-python",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "bs4": "beautifulsoup4",
    "dotenv": "python-dotenv",
    "dateutil": "python-dateutil",
    "jwt": "pyjwt",
    "Crypto": "pycryptodome",
    "serial": "pyserial",
    "attr": "attrs",
    "docx": "python-docx",
    "magic": "python-magic",
}


@dataclass(frozen=True)
class Explanation:
    summary: str
    fix: str
    code: str | None = None  # a concrete change to try, when one is clear


def explain(error: ParsedError) -> Explanation:
    name, value = error.short_name, error.evalue
    subject = _quoted(value)
    if name == "NameError":
        missing = subject or "this name"
        if missing in COMMON_IMPORTS:
            return Explanation(
                f"`{missing}` is used but was never defined in this kernel.",
                f"It is usually an import alias: run `{COMMON_IMPORTS[missing]}` first.",
                COMMON_IMPORTS[missing],
            )
        return Explanation(
            f"`{missing}` is used but was never defined in this kernel.",
            "Run the cell that defines it first (kernels forget everything on restart), "
            "check the spelling and capitalisation, or import it.",
        )
    if name in ("ModuleNotFoundError", "ImportError"):
        module = subject or "the module"
        if name == "ImportError" and "cannot import name" in value:
            return Explanation(
                f"The module exists but has no `{module}` (a typo, or another version of it).",
                "Check the name in the library's documentation and the installed version "
                "(`%pip show <package>`).",
            )
        top = module.split(".")[0]
        package = PACKAGE_NAMES.get(top, top)
        differs = f" (the package is `{package}`, imported as `{top}`)" if package != top else ""
        return Explanation(
            f"Python cannot find the module `{module}` in this kernel's environment.",
            f"Install it into the kernel with `%pip install {package}`{differs}, then restart "
            "the kernel; or check the spelling.",
            f"%pip install {package}",
        )
    if name == "KeyError":
        key = value or "the key"
        return Explanation(
            f"The dictionary (or DataFrame) has no key {key}.",
            "Look at what is there (`d.keys()`, `df.columns`), check spelling and spaces, "
            "or use `d.get(key, default)` when the key may be missing.",
        )
    if name == "IndexError":
        return Explanation(
            f"An index is beyond the end of the sequence ({value or 'index out of range'}).",
            "Indexes run from 0 to `len(seq) - 1`; check `len(seq)` before indexing, or "
            "the sequence is empty.",
        )
    if name == "TypeError":
        hint = "Check the types with `type(x)`; convert explicitly (`int()`, `str()`)."
        if "argument" in value:
            hint = "Compare the call with the function's signature (`help(f)` or `f?`)."
        elif "not subscriptable" in value or "not callable" in value:
            hint = "A name that held a list or function was overwritten by another value."
        return Explanation(f"An operation got a value of the wrong type: {value}.", hint)
    if name == "AttributeError":
        attribute = re.findall(r"'([^']+)'", value)
        has = f"`{attribute[0]}` has no attribute `{attribute[-1]}`" if attribute else value
        return Explanation(
            f"The object {has}.",
            "Check the spelling and the object's type (`type(x)`, `dir(x)`); a value that is "
            "`None` often means an earlier call returned nothing.",
        )
    if name == "ZeroDivisionError":
        return Explanation(
            "A number was divided by zero.",
            "Guard the division (`x / y if y else 0`) or find out why the divisor is zero.",
        )
    if name in ("SyntaxError", "IndentationError", "TabError"):
        return Explanation(
            f"Python cannot parse the code ({value or name}).",
            "Look at the marked line and the one before it: an unclosed bracket or quote, "
            "a missing colon, or mixed tabs and spaces.",
        )
    if name == "FileNotFoundError":
        path = subject or "the file"
        return Explanation(
            f"There is no file `{path}` relative to the current directory.",
            "Check `os.getcwd()` and the path; notebooks run in their own folder, so a "
            "relative path starts there.",
        )
    if name == "ValueError":
        return Explanation(
            f"A function got an argument of the right type but an unusable value: {value}.",
            "Check the value's shape and content (e.g. `int('3.5')`, mismatched lengths, "
            "unpacking the wrong number of items).",
        )
    return Explanation(
        f"The code raised {error.ename}: {value}." if value else f"The code raised {error.ename}.",
        "Read the last frame of the traceback: it is where the error happened.",
    )
