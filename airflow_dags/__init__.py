"""A package only so that mypy checks these files; the scheduler reads each file on its own."""
