"""Index columns (``glassnet.tabular.columns.index_columns``): row numbers written with a table are
left out, with gaps too when the column is named like an index, and real numeric features stay;
the same answer over the parts of an MPI job (processes simulated by threads)."""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from glassnet.tabular.columns import index_columns
from glassnet.tabular.model import TableModel


def reasons(name, values):
    return index_columns(pd.DataFrame({name: values}))


@pytest.mark.parametrize("name", ["rownames", "row.names", "index", "ID", "Row_ID"])
def test_row_numbers_with_gaps_named_like_an_index_are_left_out(name):
    assert "named like an index" in reasons(name, [1, 2, 5, 9, 10, 14])[name]


@pytest.mark.parametrize("name, values", [
    ("year", [2001, 2003, 2004, 2008]),          # a sorted table's years: a feature
    ("amount", [10, 20, 35, 50]),                # rising, but not named like an index
    ("rownames", [1, 2, 2, 5]),                  # a repeat: not one number per row
    ("rownames", [5, 1, 9, 2]),                  # not in table order
    ("id", [1.0, 3.0, 4.0, 8.0]),                # fractions are measurements, not row numbers
    ("index", [True, True, True, False]),
])
def test_features_that_only_look_like_row_numbers_stay(name, values):
    assert reasons(name, values) == {}


def test_counting_rows_is_an_index_whatever_the_name_and_pandas_index_whatever_the_order():
    assert reasons("n", [1, 2, 3, 4]) == {"n": "numbers the rows (like an index)"}
    assert reasons("Unnamed: 0", [3, 0, 2, 1])["Unnamed: 0"].startswith("an unnamed integer column")


def test_a_training_split_of_a_table_with_row_names_leaves_them_out():
    rows = np.random.default_rng(0).permutation(400)[:320]
    frame = pd.DataFrame({"rownames": np.arange(1, 401), "year": np.repeat(np.arange(1990, 2030), 10),
                          "y": np.arange(400) % 7 * 1.5})
    table, _ = TableModel.fit(frame.iloc[np.sort(rows)], "y", epochs=1)
    assert table.features.input_names == ["year"] and "named like an index" in table.features.left_out["rownames"]


class ThreadComm:
    """One process of a job whose processes are threads: ``allgather`` through a shared list."""

    def __init__(self, rank, shared, barrier):
        self.rank, self.shared, self.barrier = rank, shared, barrier

    def allgather(self, value, what=""):
        self.shared[self.rank] = value
        self.barrier.wait()
        gathered = list(self.shared)
        self.barrier.wait()
        return gathered


def on_processes(frame, cuts):
    """``index_columns`` as each process of a job finds it, the rows of ``frame`` cut at ``cuts``."""
    parts = np.split(np.arange(len(frame)), cuts)
    shared, barrier = [None] * len(parts), threading.Barrier(len(parts))
    with ThreadPoolExecutor(len(parts)) as pool:
        return list(pool.map(lambda rank: index_columns(frame.iloc[parts[rank]], ThreadComm(rank, shared, barrier)),
                             range(len(parts))))


@pytest.mark.parametrize("cuts", [[3], [2, 5], [0, 4], [6, 6]])  # [0, 4], [6, 6]: a process without rows
def test_processes_agree_with_one_process_on_the_whole_table(cuts):
    frame = pd.DataFrame({"rownames": [1, 2, 5, 9, 10, 14, 15, 20], "n": np.arange(8),
                          "year": [2001, 2002, 2002, 2003, 2005, 2005, 2006, 2007],
                          "id": [1, 2, 3, 7, 5, 8, 9, 10]})
    alone = index_columns(frame)
    assert sorted(alone) == ["n", "rownames"]
    assert on_processes(frame, cuts) == [alone] * (len(cuts) + 1)


def test_parts_that_rise_but_overlap_between_processes_are_not_an_index():
    frame = pd.DataFrame({"rownames": [1, 4, 6, 2, 3, 8]})  # each half rises, the table does not
    assert on_processes(frame, [3]) == [{}, {}]
