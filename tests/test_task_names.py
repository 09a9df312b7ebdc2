"""Task ids read from a directory's file names: one pass over all the names gives what
reading each name gives, whatever the names are."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from aof import Fleet
from aof.model.task import ALPHABET, State, id_from_filename, ids_in_names

ids = st.text(alphabet=ALPHABET, min_size=1, max_size=18).map(lambda s: "t-" + s)
slugs = st.text(alphabet="abc-\n./ _é", max_size=12)
task_names = st.builds(lambda i, s, ext: f"{i}-{s}{ext}" if s else f"{i}{ext}", ids, slugs,
                       st.sampled_from([".md", ".md", ".txt", ".md\n", ""]))  # fmt: skip
other_names = st.sampled_from([".gitkeep", "2026-11", "notes.md", "t-.md", ".t-abcd.md", "\n"])
names = st.lists(st.one_of(task_names, other_names, st.text(max_size=20)), max_size=30)


@given(names)
@example(["t-abcd-no-extension", "notes.md"])  # one name must not run on into the next
@example(["t-abcd-two\nlines.md", "t-efgh.md"])
def test_ids_in_names_is_id_from_filename_of_each(drawn: list[str]) -> None:
    assert ids_in_names(drawn) == [i for i in map(id_from_filename, drawn) if i is not None]


def test_month_shards_are_directories_and_never_links(fleet: Fleet, tmp_path: Path) -> None:
    done = fleet.root / "tasks" / "done"
    (done / "2026-10").mkdir(parents=True)
    (done / "2026-11").write_text("a file named like a month")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, done / "2026-12")
    shards = [d.name for d in fleet.tasks.dirs(State.DONE) if d != done]
    assert shards == ["2026-10"]
