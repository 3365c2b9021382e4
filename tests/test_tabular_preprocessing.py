"""Table preprocessing (``glassnet.tabular.preprocessing``): standardization, one-hot encoding, imputation, targets, and their JSON."""
import json

import numpy as np
import pandas as pd
import pytest

import glassnet as gn
from glassnet.tabular import columns
from glassnet.tabular.preprocessing import TablePreprocessor, TargetEncoder


def frame():
    return pd.DataFrame({"x": [1.0, 2.0, 3.0, np.nan], "c": ["a", "b", None, "b"], "k": [5, 5, 5, 5],
                         "flag": [True, False, True, True]})


def test_numeric_columns_are_standardized_and_missing_values_become_the_mean():
    prep = TablePreprocessor.fit(frame())
    inputs, report = prep.transform(frame())
    assert prep.feature_names == ["x", "c=a", "c=b", "k", "flag"]
    np.testing.assert_allclose(inputs[:3, 0], (np.array([1, 2, 3]) - 2) / np.std([1, 2, 3]), rtol=1e-6)
    assert inputs[3, 0] == 0  # imputed with the mean
    assert np.all(inputs[:, 3] == 0)  # a constant column: std 1, all zeros
    assert report.missing == {"x": 1, "c": 1}


def test_categories_one_hot_with_the_most_frequent_for_missing_and_zeros_for_unseen():
    prep = TablePreprocessor.fit(frame())
    new = frame().assign(c=["b", "z", None, "a"])
    inputs, report = prep.transform(new, "new.csv")
    np.testing.assert_array_equal(inputs[:, 1:3], [[0, 1], [0, 0], [0, 1], [1, 0]])
    assert report.unseen == {"c": {"z": 1}}
    assert any("not seen in training" in line for line in report.lines())


def test_the_preprocessing_survives_json():
    prep = TablePreprocessor.fit(frame())
    again = TablePreprocessor.from_config(json.loads(json.dumps(prep.get_config())))
    np.testing.assert_array_equal(prep.transform(frame())[0], again.transform(frame())[0])


def test_a_column_without_values_is_refused():
    with pytest.raises(gn.DataError, match="column 'e' has no values at all; drop it"):
        TablePreprocessor.fit(pd.DataFrame({"e": [np.nan, np.nan], "x": [1, 2]}))


def test_class_labels_keep_the_users_values_and_types():
    target = TargetEncoder.fit(pd.Series([3, 1, 3, 2] * 10, name="grade"))
    assert target.task == "classification" and target.classes == [1, 2, 3]
    np.testing.assert_array_equal(target.encode(pd.Series([1.0, 3.0], name="grade")), [0, 2])
    assert list(target.decode([2, 0])) == [3, 1]
    with pytest.raises(gn.DataError, match="classes the model does not know: 7"):
        target.encode(pd.Series([7]))


def test_targets_that_cannot_be_learned_are_refused():
    with pytest.raises(gn.DataError, match="same value"):
        TargetEncoder.fit(pd.Series([2.5] * 30, name="y"), task="regression")
    with pytest.raises(gn.DataError, match="holds text"):
        TargetEncoder.fit(pd.Series(["a", "b"] * 5, name="y"), task="regression")


# -- columns the way a data scientist treats them (issue 14) ---------------------------------------
def test_dates_become_their_parts_the_same_way_at_prediction():
    train = pd.DataFrame({"day": ["2013-01-01", "2013-06-15", None, "2014-12-31"], "x": [1.0, 2.0, 3.0, 4.0]})
    prep = TablePreprocessor.fit(train)
    assert prep.feature_names == ["day.year", "day.month_sin", "day.month_cos", "day.day",
                                  "day.weekday_sin", "day.weekday_cos", "x"]
    inputs, _ = prep.transform(train)
    np.testing.assert_allclose(inputs[0, 1:3], [0, 1], atol=1e-7)  # January: angle 0
    np.testing.assert_array_equal(inputs[2, :6], 0)  # a missing date: the mean, the centre of each cycle
    again = TablePreprocessor.from_config(json.loads(json.dumps(prep.get_config())))
    stamps = train.assign(day=pd.to_datetime(train["day"]))  # pandas datetimes encode as the text did
    np.testing.assert_array_equal(again.transform(stamps)[0], inputs)
    with pytest.raises(gn.DataError, match=r"column 'day' of new.csv holds 'soon' in row 2 where dates are expected"):
        prep.transform(train.assign(day=["2015-01-01", "soon", None, None]), "new.csv")


def test_date_times_add_hour_and_minute_in_utc():
    times = pd.DataFrame({"t": ["2013-01-01T10:30:00Z", "2013-01-01 12:00+02:00", "2013-03-01 00:15"]})
    prep = TablePreprocessor.fit(times)
    assert prep.columns[0]["parts"][-2:] == ["hour", "minute"]
    hours = prep.transform(times)[0][:, 6:8]
    np.testing.assert_allclose(hours[0], hours[1], atol=1e-6)  # 12:00+02:00 is 10:00 UTC
    assert any(line.startswith("t: dates -> year, month_sin") for line in prep.choices())


def test_many_categories_keep_the_most_frequent_and_one_other_input_in_float32():
    values = [f"c{i}" for i in range(150) for _ in range(150 - i)]  # c0 most frequent
    prep = TablePreprocessor.fit(pd.DataFrame({"c": values}))
    column = prep.columns[0]
    assert len(column["categories"]) == 100 and column["other"] == 50 and "c149" not in column["categories"]
    assert prep.feature_names[-1] == "c=(other)"
    inputs, report = prep.transform(pd.DataFrame({"c": ["c0", "c149", "never seen", None]}))
    assert inputs.dtype == np.float32 and inputs.shape == (4, 101)
    assert inputs[1, -1] == inputs[2, -1] == 1 and inputs[:, :-1].sum() == 2  # rare and unseen: (other)
    assert report.unseen == {}
    assert "the 100 most frequent one-hot encoded, the other 50" in prep.choices()[0]


def test_one_hot_encoding_allocates_only_the_float32_matrix():
    import tracemalloc
    rows = 20000
    frame = pd.DataFrame({"c": [f"v{i % 90}" for i in range(rows)], "x": np.arange(rows) % 7.0})
    prep = TablePreprocessor.fit(frame)
    tracemalloc.start()
    inputs, _ = prep.transform(frame)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert inputs.nbytes == rows * 91 * 4 and peak < 2 * inputs.nbytes  # no float64 (rows, categories) copy


def test_identifier_like_columns_are_left_out_unless_kept():
    frame = pd.DataFrame({"name": [f"customer {i}" for i in range(40)], "x": np.arange(40) % 3})
    prep = TablePreprocessor.fit(frame)
    assert prep.input_names == ["x"] and "40 distinct values in 40 rows" in prep.left_out["name"]
    assert "left out name: 40 distinct values in 40 rows, like an identifier (--keep name uses it)" in prep.choices()
    assert TablePreprocessor.fit(frame, keep=["name"]).input_names == ["name", "x"]


@pytest.mark.parametrize("name, values, index", [("rownames", [1, 2, 3, 4], True), ("i", [0, 1, 2, 3], True),
                                                 ("Unnamed: 0", [3, 0, 2, 1], True), ("n", [2, 3, 4, 5], False),
                                                 ("shuffled", [2, 1, 3, 4], False), ("x", [0.0, 1.0, 2.0, 3.0], False)])
def test_index_columns_are_recognised(name, values, index):
    from glassnet.tabular.columns import index_columns
    assert (name in index_columns(pd.DataFrame({name: values}))) == index


def test_missing_value_markers_are_missing_and_numbers_stay_numbers():
    frame = pd.DataFrame({"x": ["1.5", "?", "2.5", "n.d."], "c": ["a", "NULL", "b", "a"]})
    prep = TablePreprocessor.fit(frame, markers=["?", "NULL", "n.d."])
    assert [c["kind"] for c in prep.columns] == ["numeric", "categorical"]
    assert prep.columns[0]["missing"] == 2 and prep.columns[1]["categories"] == ["a", "b"]
    assert prep.transform(frame)[1].missing == {"x": 2, "c": 1}


def test_classification_of_a_continuous_target_is_refused():
    with pytest.raises(gn.DataError, match=r"the target 'y' holds numbers with fractions \(0.5, ...\), which are not classes"):
        TargetEncoder.fit(pd.Series([0.5, 1.0, 2.25, 3.0], name="y"), task="classification")
    assert TargetEncoder.fit(pd.Series([1.0, 2.0, 1.0], name="y"), task="classification").classes == [1, 2]


@pytest.mark.parametrize("change, field", [
    (lambda c: c["columns"][0].update(parts=["year"] * 10 ** 6), r"columns\[0\].parts"),
    (lambda c: c["columns"][0].update(kind="time"), r"columns\[0\].kind"),
    (lambda c: c["columns"][0]["std"].update(day=0.0), r"columns\[0\].std.day"),
    (lambda c: c["columns"][0]["mean"].pop("year"), r"columns\[0\].mean"),
    (lambda c: c["columns"][1].update(other=-1), r"columns\[1\].other"),
    (lambda c: c["columns"][1].update(other="many"), r"columns\[1\].other"),
    (lambda c: c.update(missing_markers="?"), "missing_markers"),
    (lambda c: c.update(missing_markers=[None]), "missing_markers"),
    (lambda c: c.update(left_out={"id": 3}), "left_out"),
    (lambda c: c.update(left_out=["id"]), "left_out")])
def test_crafted_dates_categories_markers_and_left_out_columns_are_refused(change, field):
    frame = pd.DataFrame({"d": ["2013-01-01", "2013-02-01"] * 60, "c": [f"c{i}" for i in range(120)] * 1,
                          "id": [f"{i}" for i in range(120)]})
    config = json.loads(json.dumps(TablePreprocessor.fit(frame, keep=["c"]).get_config()))
    assert config["columns"][1]["other"] == 20
    change(config)
    with pytest.raises(gn.ModelFileError, match=field):
        TablePreprocessor.from_config(config)


def test_a_value_that_standardizes_beyond_float32_is_refused_naming_the_column():
    preprocessor = TablePreprocessor.fit(pd.DataFrame({"a": [1.0, 2.0, 3.0]}))
    preprocessor.columns[0]["std"] = 1e-300  # as a crafted or extreme model file could hold
    with pytest.raises(gn.DataError, match=r"column 'a' of the table: row 1 .* beyond what the model's float32"):
        preprocessor.transform(pd.DataFrame({"a": [5.0, 1.0]}))


def test_date_parts_agree_with_pandas_calendar_across_centuries_and_leap_days():
    rng = np.random.default_rng(0)
    times = pd.Series(pd.Timestamp("1601-03-01") + pd.to_timedelta(rng.integers(0, 700 * 365 * 24 * 60, 50_000), unit="min"))
    times[::7] = pd.NaT
    times[1:5] = pd.to_datetime(["2000-02-29 23:59", "1900-02-28 00:00", "1969-12-31 23:59", "2100-03-01 12:30"])
    times = pd.to_datetime(times, utc=True)
    fields = times.dt
    expected = {"year": fields.year, "month": fields.month - 1, "day": fields.day, "weekday": fields.day_of_week,
                "hour": fields.hour, "minute": fields.minute}
    parts = columns.date_parts(times)
    for name, values in expected.items():
        np.testing.assert_array_equal(parts[name], values.astype(float).to_numpy(), err_msg=name)
