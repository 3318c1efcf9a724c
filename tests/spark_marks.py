"""The marks every Spark test module carries (tests/conftest.py puts this folder on sys.path)."""

import pytest

SPARK_TESTS = [
    pytest.mark.slow,
    # pyspark 4 on pandas 3: its own notice, and pandas' deprecations inside pyspark's Arrow code.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    # Spark's Python workers and sockets are closed by the JVM, after the test has moved on.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
