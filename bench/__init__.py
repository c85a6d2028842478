"""The platform's benchmarks: each module runs on its own (``make bench`` runs them all)."""
