"""One runnable example per public component (README, "Python import"); `tests/test_examples.py` runs
each `main()` under the mock engine."""
