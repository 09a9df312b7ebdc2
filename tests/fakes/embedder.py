"""A deterministic stand-in for a sentence embedder: bag of words hashed into 64 dimensions,
with a few synonyms folded together, so "automobile" is near "car" without sharing a word
(what makes semantic search find what full text cannot). ``Words.embedded`` counts texts."""

from __future__ import annotations

import re
import zlib
from typing import Any

import numpy as np

SYNONYMS = {"automobile": "car", "vehicle": "car", "cars": "car", "puppy": "dog"}


class Words:
    name = "fake-words"
    embedded = 0

    def embed(self, texts: list[str]) -> Any:
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                word = SYNONYMS.get(word, word)
                out[i, zlib.crc32(word.encode()) % 64] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        Words.embedded += len(texts)
        return out / np.where(norms == 0, 1, norms)
