"""The forge: pull requests, their checks and reviews, and issues, on a code host
(:mod:`aof.forge.base` is the interface; :mod:`aof.forge.github` is GitHub's)."""
