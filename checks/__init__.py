"""Engines over the model: exploration, shrinking, counterexamples, diff, mutants and the command line."""
