"""Helpers shared by the tests, importable as `support.<module>` (pyproject: [tool.pytest.ini_options] pythonpath
and [tool.mypy] mypy_path name tests/). Fixtures stay in the conftest modules."""
