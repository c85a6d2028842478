"""Helpers the test layers and the benchmarks share: one concept a module, no fixtures.

Test modules and conftests import from here, never from each other; conftests hold the
fixtures (which may call these helpers). ``tests/unit/test_suite_layout.py`` checks it.
"""
