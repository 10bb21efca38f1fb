"""instruct stage."""
