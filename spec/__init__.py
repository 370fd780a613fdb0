"""Invariants (concrete checks and Z3 encodings) and theorems; spec/ reads model states, never changes them."""
