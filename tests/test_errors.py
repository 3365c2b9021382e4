"""Every mistake a user can make gets a GlassnetError (also the matching built-in) whose message
says what was expected and what came."""
import numpy as np
import pytest

import glassnet as gn
from glassnet import checks, layers

X = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
Y = np.arange(20) % 3


def compiled(loss="sparse_categorical_crossentropy", metrics=None):
    model = gn.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss=loss, metrics=metrics)
    return model


def built():
    model = compiled()
    model.fit(X, Y, epochs=1, verbose=0)
    return model


def with_value(array, index, value):
    array = np.array(array, dtype=np.float64)
    array[index] = value
    return array


CASES = [
    # (id, action, exception type, part of the message)
    ("x_wrong_features_fit", lambda: built().fit(X[:, :3], Y, verbose=0), gn.ShapeError, "3 features instead of 4"),
    ("x_wrong_features_predict", lambda: built().predict(X[:, :3]), gn.ShapeError, r"expects \(n, 4\)"),
    ("x_wrong_rank", lambda: built().predict(X.reshape(20, 2, 2)), gn.ShapeError, "rank 3 instead of 2"),
    ("x_one_dimensional", lambda: compiled().fit(X[:, 0], Y, verbose=0), gn.ShapeError, r"x\[None\]"),
    ("x_y_lengths", lambda: compiled().fit(X, Y[:-1], verbose=0), gn.ShapeError, "same number of examples, got 20 and 19"),
    ("x_nan", lambda: compiled().fit(with_value(X, (3, 1), np.nan), Y, verbose=0), gn.DataError, r"x contains NaN.*\(3, 1\)"),
    ("x_inf", lambda: compiled().predict(with_value(X, (0, 0), np.inf)), gn.DataError, "x contains infinite"),
    ("y_nan", lambda: compiled("mse").fit(X, with_value(np.zeros((20, 3)), (5, 2), np.nan), verbose=0), gn.DataError, "y contains NaN"),
    ("labels_out_of_range", lambda: compiled().fit(X, Y + 1, verbose=0), gn.DataError, r"\[0, 2\].*3 outputs, got \[3"),
    ("labels_negative", lambda: compiled().fit(X, Y - 1, verbose=0), gn.DataError, r"got \[-1"),
    ("labels_not_integer", lambda: compiled().fit(X, Y + 0.5, verbose=0), gn.DataError, "integer class labels"),
    ("labels_text", lambda: compiled().fit(X, np.array(["a"] * 20), verbose=0), gn.DataError, "numeric"),
    ("one_hot_for_sparse", lambda: compiled().fit(X, np.eye(3)[Y], verbose=0), gn.ShapeError, "categorical_crossentropy"),
    ("labels_for_categorical", lambda: compiled("categorical_crossentropy").fit(X, Y, verbose=0), gn.ShapeError, "sparse_categorical_crossentropy"),
    ("bce_targets_range", lambda: compiled("binary_crossentropy").fit(X, np.full((20, 3), 2.0), verbose=0), gn.DataError, r"\[0, 1\]"),
    ("regression_target_shape", lambda: compiled("mse").fit(X, np.zeros((20, 2)), verbose=0), gn.ShapeError, r"\(n, 3\)"),
    ("dropout_rate_high", lambda: layers.Dropout(1.0), gn.ConfigurationError, r"\[0, 1\), got 1.0"),
    ("dropout_rate_negative", lambda: layers.Dropout(-0.1), gn.ConfigurationError, r"\[0, 1\)"),
    ("dropout_rate_text", lambda: layers.Dropout("half"), gn.ConfigurationError, "number"),
    ("softmax_axis_text", lambda: layers.Softmax("1"), gn.ConfigurationError, "Softmax axis must be an integer"),
    ("softmax_axis_batch", lambda: gn.Sequential([layers.Input((3,)), layers.Softmax(axis=0)]).build(),
     gn.ConfigurationError, r"1 to 1, or -1 to -1\) .* got 0"),
    ("softmax_axis_huge", lambda: gn.Sequential([layers.Input((3,)), layers.Softmax(axis=10 ** 30)]).build(),
     gn.ConfigurationError, "Softmax axis must name an axis"),
    ("unknown_activation", lambda: layers.Dense(3, activation="relu6"), gn.ConfigurationError, "unknown activation 'relu6'.*gelu.*swish"),
    ("unknown_loss", lambda: compiled("ctc"), gn.ConfigurationError, "unknown loss 'ctc'.*mse"),
    ("unknown_optimizer", lambda: gn.Sequential([layers.Dense(1)]).compile(optimizer="adadelta", loss="mse"), gn.ConfigurationError, "unknown optimizer 'adadelta'.*rmsprop"),
    ("unknown_metric", lambda: compiled(metrics=["f2"]), gn.ConfigurationError, "unknown metric 'f2'.*accuracy"),
    ("accuracy_for_regression", lambda: compiled("mse", metrics=["accuracy"]), gn.ConfigurationError, "classification loss"),
    ("unknown_initializer", lambda: layers.Dense(3, kernel_initializer="xavier"), gn.ConfigurationError, "glorot_uniform"),
    ("dense_units", lambda: layers.Dense(0), gn.ConfigurationError, "positive integer, got 0"),
    ("batch_size_zero", lambda: compiled().fit(X, Y, batch_size=0, verbose=0), gn.ConfigurationError, "batch_size must be a positive integer, got 0"),
    ("batch_size_float", lambda: compiled().fit(X, Y, batch_size=2.5, verbose=0), gn.ConfigurationError, "batch_size"),
    ("epochs_zero", lambda: compiled().fit(X, Y, epochs=0, verbose=0), gn.ConfigurationError, "epochs must be a positive integer, got 0"),
    ("epochs_negative", lambda: compiled().fit(X, Y, epochs=-3, verbose=0), gn.ConfigurationError, "epochs"),
    ("validation_split_one", lambda: compiled().fit(X, Y, validation_split=1.0, verbose=0), gn.ConfigurationError, r"validation_split must be in \[0, 1\), got 1.0"),
    ("validation_split_negative", lambda: compiled().fit(X, Y, validation_split=-0.2, verbose=0), gn.ConfigurationError, "validation_split"),
    ("validation_split_tiny", lambda: compiled().fit(X, Y, validation_split=0.99, verbose=0), gn.ConfigurationError, "leaves no examples"),
    ("validation_data_shape", lambda: compiled().fit(X, Y, validation_data=X, verbose=0), gn.ConfigurationError, r"\(x_val, y_val\)"),
    ("empty_x", lambda: compiled().fit(np.zeros((0, 4)), np.zeros(0), verbose=0), gn.DataError, "empty"),
    ("empty_predict", lambda: built().predict(np.zeros((0, 4))), gn.DataError, "empty"),
    ("fit_before_compile", lambda: gn.Sequential([layers.Dense(1)]).fit(X, Y, verbose=0), gn.NotCompiledError, r"compile\(optimizer"),
    ("evaluate_before_compile", lambda: gn.Sequential([layers.Dense(1)]).evaluate(X, Y), gn.NotCompiledError, "compile"),
    ("compile_without_loss", lambda: gn.Sequential([layers.Dense(1)]).compile(optimizer="sgd"), gn.ConfigurationError, "needs a loss"),
    ("sample_weight_length", lambda: compiled().fit(X, Y, sample_weight=np.ones(5), verbose=0), gn.ShapeError, r"shape \(20,\)"),
    ("sample_weight_negative", lambda: compiled().fit(X, Y, sample_weight=-np.ones(20), verbose=0), gn.DataError, ">= 0"),
    ("class_weight_key", lambda: compiled().fit(X, Y, class_weight={7: 1.0}, verbose=0), gn.ConfigurationError, "class index"),
    ("set_weights_shape", lambda: built().set_weights([np.zeros((2, 2))] * 4), gn.ShapeError, "must have shape"),
    ("not_a_layer", lambda: gn.Sequential([layers.Dense(2), "relu"]), gn.ConfigurationError, "Layer instances, got str"),
    ("input_not_first", lambda: gn.Sequential([layers.Dense(2), layers.Input((3,))]), gn.ConfigurationError, "first entry"),
    ("input_shape_mismatch", lambda: gn.Sequential([layers.Input((5,)), layers.Dense(2)]).predict(X), gn.ShapeError, r"expects \(n, 5\)"),
    ("bad_input_shape", lambda: layers.Input((0,)), gn.ConfigurationError, "positive integers"),
    ("dense_after_images", lambda: gn.Sequential([layers.Dense(2)]).predict(np.zeros((2, 3, 3))), gn.ConfigurationError, "Flatten"),
    ("regularizer_negative", lambda: gn.regularizers.L2(-1), gn.ConfigurationError, ">= 0"),
    ("bad_dtype", lambda: gn.Sequential(dtype="int32"), gn.ConfigurationError, "'float32' or 'float64', got 'int32'"),
    ("float16", lambda: gn.Sequential(dtype="float16"), gn.ConfigurationError, "float16"),
    ("early_stopping_mode", lambda: gn.callbacks.EarlyStopping(mode="best"), gn.ConfigurationError, "'auto', 'min' or 'max'"),
    ("early_stopping_patience", lambda: gn.callbacks.EarlyStopping(patience=-1), gn.ConfigurationError, "patience"),
    ("metrics_not_a_list", lambda: compiled(metrics="accuracy"), gn.ConfigurationError, "list"),
    ("summary_shape_unknown", lambda: gn.Sequential([layers.Dense(2)]).build(), gn.NotBuiltError, "Input"),
    # arguments (glassnet/checks.py): the name, what was expected, what came; bool, NaN, inf and text refused
    ("learning_rate_bool", lambda: gn.optimizers.SGD(True), gn.ConfigurationError, "learning_rate must be a finite number > 0, got True"),
    ("momentum_nan", lambda: gn.optimizers.SGD(momentum=float("nan")), gn.ConfigurationError, r"momentum must be in \[0, 1\), got nan"),
    ("l2_infinite", lambda: gn.regularizers.L2(float("inf")), gn.ConfigurationError, "l2 must be a finite number >= 0, got inf"),
    ("label_smoothing_text", lambda: gn.losses.CategoricalCrossentropy(label_smoothing="0.1"), gn.ConfigurationError, r"label_smoothing must be a number in \[0, 1\], got '0.1'"),
    ("huber_delta_zero", lambda: gn.losses.Huber(0), gn.ConfigurationError, "Huber delta must be a finite number > 0, got 0"),
    ("leaky_relu_slope", lambda: layers.LeakyReLU(-0.1), gn.ConfigurationError, "negative_slope must be a finite number >= 0, got -0.1"),
    ("decay_steps_float", lambda: gn.optimizers.schedules.ExponentialDecay(0.1, 2.5, 0.9), gn.ConfigurationError, "decay_steps must be a positive integer, got 2.5"),
    ("cosine_alpha", lambda: gn.optimizers.schedules.CosineDecay(0.1, 10, alpha=1.5), gn.ConfigurationError, r"alpha must be in \[0, 1\], got 1.5"),
    ("dense_units_float", lambda: layers.Dense(2.0), gn.ConfigurationError, "Dense units must be a positive integer, got 2.0"),
    ("input_shape_float", lambda: layers.Input((3.5,)), gn.ConfigurationError, r"Input shape must be a tuple of positive integers, got \(3.5,\)"),
    ("input_shape_text", lambda: layers.Dense(2, input_shape="4"), gn.ConfigurationError, "input_shape must be a tuple of positive integers, got '4'"),
    ("hidden_sizes", lambda: checks.positive_ints("hidden layer sizes", [64, 0]), gn.ConfigurationError, r"hidden layer sizes must be positive integers, got \[64, 0\]"),
    # issue 13: hostile and careless input
    ("callbacks_text", lambda: compiled().fit(X, Y, callbacks=["x"], verbose=0), gn.ConfigurationError, "list of Callback objects"),
    ("callbacks_not_a_list", lambda: compiled().fit(X, Y, callbacks=gn.callbacks.TerminateOnNaN(), verbose=0), gn.ConfigurationError, "list of Callback"),
    ("x_no_features", lambda: compiled().fit(np.zeros((20, 0)), Y, verbose=0), gn.ShapeError, "at least one feature"),
    ("validation_split_text", lambda: compiled().fit(X, Y, validation_split="0.2", verbose=0), gn.ConfigurationError, "validation_split must be a number"),
    ("sample_weight_list", lambda: compiled().fit(X, Y, sample_weight=[1.0] * 19, verbose=0), gn.ShapeError, r"shape \(20,\)"),
    ("input_shape_fraction", lambda: layers.Dense(3, input_shape=(2.5,)), gn.ConfigurationError, r"got \(2.5,\)"),
    ("epochs_bool", lambda: compiled().fit(X, Y, epochs=True, verbose=0), gn.ConfigurationError, "epochs must be a positive integer, got True"),
    ("batch_size_zero", lambda: compiled().fit(X, Y, batch_size=0, verbose=0), gn.ConfigurationError, "batch_size"),
    ("verbose_text", lambda: compiled().fit(X, Y, verbose="loud"), gn.ConfigurationError, "verbose must be 'auto', 0, 1 or 2"),
    ("initial_epoch_bool", lambda: compiled().fit(X, Y, initial_epoch=True, verbose=0), gn.ConfigurationError, "initial_epoch"),
    ("x_beyond_float32", lambda: compiled().fit(with_value(X, (2, 2), 1e39), Y, verbose=0), gn.DataError, "beyond the range of float32"),
    ("y_beyond_float32", lambda: compiled("mse").fit(X, np.full((20, 3), -1e39), verbose=0), gn.DataError, "y has values .* beyond the range of float32"),
    ("sample_weight_beyond_float32", lambda: compiled().fit(X, Y, sample_weight=np.full(20, 1e39), verbose=0), gn.DataError, "beyond the range of float32"),
    ("class_weight_nan", lambda: compiled().fit(X, Y, class_weight={0: float("nan")}, verbose=0), gn.ConfigurationError, r"class_weight\[0\] must be a finite number >= 0, got nan"),
    ("class_weight_negative", lambda: compiled().fit(X, Y, class_weight={1: -2.0}, verbose=0), gn.ConfigurationError, ">= 0"),
    ("class_weight_text", lambda: compiled().fit(X, Y, class_weight={0: "x"}, verbose=0), gn.ConfigurationError, "class_weight"),
    ("class_weight_huge", lambda: compiled().fit(X, Y, class_weight={0: 1e300}, verbose=0), gn.DataError, "beyond the range of float32"),
    ("class_weight_regression", lambda: compiled("mse").fit(X, np.zeros((20, 3)), class_weight={0: 2.0}, verbose=0), gn.ConfigurationError, "has no classes"),
    ("seed_negative", lambda: gn.Sequential(seed=-1), gn.ConfigurationError, r"seed must be an integer in \[0, 2\*\*32\)"),
    ("dtype_nonsense", lambda: gn.Sequential(dtype="nope"), gn.ConfigurationError, "'float32' or 'float64'"),
    ("dense_too_large", lambda: gn.Sequential([layers.Input((3,)), layers.Dense(10**12)]).build(), gn.ConfigurationError, "parameters would need"),
    ("input_too_large", lambda: gn.Sequential([layers.Input((10**6, 10**6)), layers.Flatten(), layers.Dense(2)]).build(), gn.ConfigurationError, "GiB of memory"),
    ("learning_rate_beyond_float32", lambda: built().compile(gn.optimizers.SGD(1e39), "mse"), gn.ConfigurationError, "learning_rate must be a finite number <="),
    ("exponential_decay_growing", lambda: gn.optimizers.schedules.ExponentialDecay(0.1, 1, 10.0), gn.ConfigurationError, r"decay_rate must be in \(0, 1\]"),
    ("step_decay_growing", lambda: gn.optimizers.schedules.StepDecay(0.1, 1, gamma=2.0), gn.ConfigurationError, r"gamma must be in \(0, 1\]"),
    ("metric_for_other_targets", lambda: compiled(metrics=["mae"]), gn.ConfigurationError, "take different targets"),
    ("monitor_not_text", lambda: gn.callbacks.EarlyStopping(monitor=3), gn.ConfigurationError, "monitor"),
    ("min_delta_text", lambda: gn.callbacks.EarlyStopping(min_delta="x"), gn.ConfigurationError, "min_delta"),
    ("predict_complex", lambda: built().predict(X.astype(complex)), gn.DataError, "numeric"),
    ("predict_objects", lambda: built().predict(np.array([[1, None, 2, 3]])), gn.DataError, "numeric"),
    ("predict_ragged", lambda: built().predict([[1, 2, 3, 4], [1]]), gn.DataError, "could not convert"),
    ("predict_batch_size_zero", lambda: built().predict(X, batch_size=0), gn.ConfigurationError, "batch_size"),
    ("layer_call_shape", lambda: layers.Dense(2, input_shape=(4,))(np.zeros((2, 5))), gn.ShapeError, "5 features instead of 4"),
    ("gradcheck_eps", lambda: gn.gradcheck(layers.Dense(2), X, eps=0), gn.ConfigurationError, "eps"),
    ("gradcheck_target", lambda: gn.gradcheck("x", X), gn.ConfigurationError, "Layer, a Loss, a Sequential or a Model"),
    ("explain_hidden", lambda: gn.explain(hidden=None), gn.ConfigurationError, "hidden"),
    ("explain_too_large", lambda: gn.explain(hidden=(10**6, 10**6)), gn.ConfigurationError, "max_parameters"),
    ("initializer_huge", lambda: gn.initializers.he_normal((10**7, 10**7), np.random.default_rng(0)), gn.ConfigurationError, "GiB of memory"),
    ("initializer_no_rng", lambda: gn.initializers.glorot_uniform((2, 2), None), gn.ConfigurationError, "Generator"),
]


@pytest.mark.parametrize("action, error, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error(action, error, message):
    with pytest.raises(error, match=message) as info:
        action()
    assert isinstance(info.value, gn.GlassnetError)


def test_errors_are_also_builtin_exceptions():
    assert issubclass(gn.ConfigurationError, ValueError)
    assert issubclass(gn.ShapeError, ValueError)
    assert issubclass(gn.DataError, ValueError)
    assert issubclass(gn.NotCompiledError, RuntimeError)
    with pytest.raises(ValueError):
        layers.Dropout(2)
