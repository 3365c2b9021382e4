"""Table preprocessing (``glassnet.tabular.preprocessing``): standardization, one-hot encoding, imputation, targets, and their JSON."""
import json

import numpy as np
import pandas as pd
import pytest

import glassnet as gn
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
