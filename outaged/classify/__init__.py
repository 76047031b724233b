"""Classification: scope of a root, its severity S1–S4 and its deadlines."""
