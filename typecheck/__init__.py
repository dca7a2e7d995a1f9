"""Static-typing fixtures for relayq: code that mypy reads and nothing executes.

How to read these files (see STYLE.md, "Testing static types"):

- A line with no marker must type-check; ``assert_type(expr, T)`` pins the exact
  type mypy infers (``Any`` does not satisfy it).
- A line that must be *rejected* ends in ``# type: ignore[<code>]``. The project
  runs mypy in strict mode (``warn_unused_ignores``), so an ignore that suppresses
  nothing is itself an error, and a wrong code leaves the real error visible.

Plain ``mypy`` (the ``[tool.mypy]`` config in ``pyproject.toml``) is therefore the
whole runner: green means every pass line passes and every rejected line fails
for the stated reason. ``tests/test_typecheck.py`` proves the mechanism still
bites. Fixtures live inside functions so importing a module runs nothing.
"""
