"""Is production healthy? Reference profiles stored with each version, and drift windows cut from the recorded
traffic where an alias moved, each judged against the reference of the version it saw (the tests: `drift/`)."""
