"""Search strategies, one per file: breadth-first exhaustion and random-walk simulation."""
