"""Static-typing fixtures for relayq: code that mypy and pyright read and nothing executes.

How to read these files (see STYLE.md, "Testing static types"):

- A line with no marker must type-check; ``assert_type(expr, T)`` pins the exact
  type mypy infers (``Any`` does not satisfy it).
- A line that must be *rejected* ends in ``# type: ignore[<code>]`` (mypy) and
  ``# pyright: ignore[<rule>]`` (pyright). Each checker ignores the other's
  comment, and both run strict with unused ignores reported (mypy's
  ``warn_unused_ignores``; pyright's ``reportUnnecessaryTypeIgnoreComment``), so
  an ignore that suppresses nothing is itself an error, and a wrong code leaves
  the real error visible: every rejection is checked by both.
- Where the checkers differ, the fixture says so: a pin for one checker carries
  the other's ignore with the reason beside it, and a rejection only one makes
  says which ("mypy only: ..."). An annotated assignment (``_x: T = expr``) is
  used instead of ``assert_type`` to check a subtype relation, because pyright
  narrows a variable to the type of what was assigned.

Plain ``mypy`` (``[tool.mypy]`` in ``pyproject.toml``) and plain ``basedpyright``
(``[tool.basedpyright]``) are therefore the whole runners: green means every pass
line passes and every rejected line fails for the stated reason.
``tests/test_typecheck.py`` runs both and proves each mechanism still bites.
Fixtures live inside functions so importing a module runs nothing.
"""
