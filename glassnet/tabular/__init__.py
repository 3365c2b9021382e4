"""The table application that the command line, the scikit-learn estimators and the ONNX exporter
share: from a CSV or Parquet table to a trained model and back to the user's labels.

    files.py          reading and writing tables (CSV, Parquet, folders), the built-in data sets
    columns.py        what a raw column holds (numbers, text, dates, missing markers, an index) and
                      how each kind becomes inputs
    preprocessing.py  raw columns -> network inputs (TablePreprocessor), target <-> loss (TargetEncoder)
    networks.py       dense networks from a few numbers, compiled for a task; the hold-out split
    model.py          TableModel: fit (split, preprocess, train, refit), predict, scores
"""
