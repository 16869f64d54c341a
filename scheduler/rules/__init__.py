"""Pure rules: no I/O, no framework; they take ``now`` and return decisions."""
