"""Settings package: `base` holds everything; `test` tightens it for the test suite."""
