"""File stores of a fleet root (tasks now; registry nouns and knowledge later)."""
