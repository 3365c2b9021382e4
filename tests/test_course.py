"""The course's claims (issue 7), each asserted on a small, seeded run of its script in
examples/course/ (``--quick``); the figures go to a temporary folder."""
import importlib
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

COURSE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "course"
FASHION = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module", autouse=True)
def course_path():
    sys.path.insert(0, str(COURSE))
    yield
    sys.path.remove(str(COURSE))


def run(script, tmp_path):
    module = importlib.import_module(script)
    figure = tmp_path / f"{script}.png"
    result = module.run(quick=True, seed=0, figure=str(figure))
    assert figure.read_bytes()[:4] == b"\x89PNG"
    return result


def test_1_a_large_network_on_few_examples_overfits(tmp_path):
    result = run("overfitting", tmp_path)
    d, logs = result["diagnosis"], result["history"].history
    assert d.verdict == "overfit"
    assert logs["loss"][-1] < logs["loss"][d.best_epoch] and logs["val_loss"][-1] > logs["val_loss"][d.best_epoch]


@pytest.mark.skipif(not os.path.isdir(FASHION), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_2_dropout_l2_and_early_stopping_each_shrink_the_gap(tmp_path):
    result = run("regularization", tmp_path)
    for method in ("dropout 0.5", "L2 1e-3", "early stopping"):
        assert result[method]["gap"] < result["none"]["gap"], method
    # the figure's curves are the data loss of each epoch for all four (issue 17: L2's history adds its penalty)
    for method in ("none", "dropout 0.5", "L2 1e-3"):
        assert result[method]["val_curve"][-1] == pytest.approx(result[method]["val_loss"], rel=1e-6)
    l2 = result["L2 1e-3"]  # the history's val_loss adds the penalty, which the figure no longer shows
    assert l2["val_loss_logged"][-1] > l2["val_curve"][-1] + 0.05


def test_3_l1_gives_exact_zeros_and_l2_does_not(tmp_path):
    result = run("l1_sparsity", tmp_path)
    assert result["L1 1e-3"]["zeros"] >= 20
    assert result["L2 1e-3"]["zeros"] == 0 and result["none"]["zeros"] == 0
    assert result["L2 1e-3"]["mean_abs"] < result["none"]["mean_abs"]
    assert 0.0 not in result["subgradient"] and result["stopped"][-1] == 0.0


def test_4_adam_reaches_the_target_first_and_momentum_helps_sgd(tmp_path):
    result = run("optimizers", tmp_path)
    adam, momentum, sgd = result["Adam"], result["SGD + momentum 0.9"], result["SGD"]
    assert adam["reached"] is not None
    assert sgd["reached"] is None or adam["reached"] < sgd["reached"]
    assert momentum["final"] < sgd["final"]
    assert sgd["reached"] is None or (momentum["reached"] is not None and momentum["reached"] < sgd["reached"])


def test_5_one_example_at_a_time_zig_zags_and_takes_more_updates(tmp_path):
    result = run("batch_size", tmp_path)
    one, mini, full = (result[k] for k in ("one example (batch_size=1)", "mini-batch (batch_size=32)",
                                            "full batch (batch_size=None)"))
    assert (one["updates_per_epoch"], mini["updates_per_epoch"], full["updates_per_epoch"]) == (300, 10, 1)
    assert one["uphill"] > 0.2 and one["uphill"] > mini["uphill"] >= full["uphill"]


def test_6_mse_punishes_big_errors_more(tmp_path):
    result = run("mse", tmp_path)
    assert result["house"] == 25
    squared = {e: s for e, s, _ in result["table"]}
    absolute = {e: a for e, _, a in result["table"]}
    assert squared[10] == 4 * squared[5] and absolute[10] == 2 * absolute[5]


def test_7_cross_entropy_punishes_confident_wrong_answers(tmp_path):
    table = {p: (ce, se) for p, ce, se in run("cross_entropy", tmp_path)["table"]}
    assert table[0.5][0] == pytest.approx(np.log(2)) and table[0.01][0] == pytest.approx(-np.log(0.01))
    assert table[0.001][0] > 6 > 2 > table[0.001][1]


@pytest.mark.skipif(not os.path.isdir(FASHION), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
@pytest.mark.skipif(not os.path.isdir(FASHION), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_8_first_layer_filters_become_edges_and_deeper_units_more_class_specific(tmp_path):
    result = run("features", tmp_path)
    trained, change, random = result["trained"], result["change"], result["random"]
    # random filters spread their energy evenly: 2/25 on the best-oriented ramp, 6/25 on the smooth parts
    assert random["edge"] == pytest.approx(2 / 25, abs=0.01) and random["smooth"] == pytest.approx(6 / 25, abs=0.01)
    assert trained["edge"] > 1.5 * random["edge"] and trained["smooth"] > random["smooth"] + 0.06
    assert change["edge"] > 3 * random["edge"] and change["smooth"] > 2 * random["smooth"]  # what training added
    # units of deeper layers: their 25 most exciting test pictures belong more often to one class
    assert result["conv1"] < result["conv2"] < result["hidden"] and result["hidden"] > result["conv1"] + 0.2
    assert result["accuracy"] > 0.7
    assert result["overlapping_labels"] == []  # the rows' names were drawn on top of each other


def test_9_inverted_and_classic_dropout_give_the_same_expected_outputs(tmp_path):
    result = run("dropout", tmp_path)
    assert result["inverted_difference"] < 0.05 and result["classic_difference"] < 0.05
    np.testing.assert_allclose(result["classic_test"], 0.5 * result["inverted_test"], rtol=1e-6)


def test_a_script_runs_from_the_command_line(tmp_path):
    figure = tmp_path / "mse.png"
    out = subprocess.run([sys.executable, str(COURSE / "mse.py"), "--quick", "--figure", str(figure)],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert "squared error 25" in out and figure.exists()


def test_13_a_sigmoid_output_is_the_probability_of_dog_and_sends_back_p_minus_y(tmp_path):
    result = run("cat_dog", tmp_path)
    trace, z, p = result["trace"], result["z"], result["p"]
    assert p == pytest.approx(1 / (1 + np.exp(-z)), rel=1e-12)
    assert trace.data_loss == pytest.approx(-np.log(p), rel=1e-12)
    assert trace.layers[-1].dz[0, 0] == pytest.approx(p - 1, rel=1e-12) and trace.check.passed
    assert result["p_after_step"] > p and trace.loss_after < trace.loss
    assert result["p_dog"] > 0.9 and result["p_cat"] < 0.1 and result["val_accuracy"] >= 0.9


def test_12_adam_remembers_past_gradients_and_has_a_learning_rate_per_weight(tmp_path):
    result = run("adam_steps", tmp_path)
    np.testing.assert_allclose(result["first_moves"], 0.1, rtol=1e-4)  # every weight moves by lr on step 1
    assert result["first_sgd_moves"].max() / result["first_sgd_moves"].min() > 100
    second = result["trace_adam"].steps[1]
    for name, (_, g, _) in second.updates.items():  # m is the memory: 0.9 of step 1's plus 0.1 of this gradient
        np.testing.assert_allclose(second.slots[name]["m"], 0.9 * second.slots_before[name]["m"] + 0.1 * g, rtol=1e-12)
    assert result["rate_spread"] > 10
    assert result["m_sign_changes"] < result["g_sign_changes"] / 4
    momentum = result["trace_momentum"].steps
    assert momentum[1].loss_after < momentum[0].loss_after < momentum[0].loss_before


def test_11_the_guessing_student_halves_its_error_each_step(tmp_path):
    result = run("guessing_student", tmp_path)
    assert result["guesses"] == [40, 45, 47.5, 48.75, 49.375]
    assert result["gradients"] == [-20, -10, -5, -2.5]
    trace = result["trace"]
    assert trace.data_loss == 100 and trace.check.passed and trace.layers[0].d_weight[0, 0] == -20


def test_15_l1_drops_exactly_the_irrelevant_inputs_and_l2_none(tmp_path):
    result = run("l1_features", tmp_path)
    assert result["L1 0.005"]["dropped"] == [4, 5, 6, 7, 8, 9]
    assert result["L2 0.005"]["zeros"] == 0 and result["none"]["zeros"] == 0
    assert result["L1 0.005"]["val_accuracy"] > 0.95


@pytest.mark.skipif(not os.path.isdir(FASHION), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_16_higher_dropout_rates_shrink_the_gap(tmp_path):
    result = run("dropout_rates", tmp_path)
    gaps = [result[rate]["gap"] for rate in (0.0, 0.2, 0.3, 0.4, 0.5)]
    assert all(later < earlier for earlier, later in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] < 0.6 * gaps[0]


def test_frameworks_train_to_the_same_weights_but_where_they_differ_by_design(tmp_path):
    """docs/course/frameworks.md: the same network, weights and batches in glassnet, PyTorch and
    Keras (6 steps here): SGD with momentum agrees in all three and Adam with PyTorch to float32
    rounding; Keras's Adam differs by its epsilon placement, and agrees with epsilon 1e-12 and
    float32 betas; with the learning rate halved Keras's momentum convention parts from PyTorch's."""
    pytest.importorskip("torch", exc_type=ImportError)
    from glassnet.errors import MissingExtraError
    from glassnet.extras import require_keras
    try:
        require_keras("the frameworks page")
    except MissingExtraError as error:
        pytest.skip(str(error))
    result = run("frameworks", tmp_path)
    for name in ("SGD + momentum 0.9", "Adam", "Adam, epsilon 1e-12, float32 betas", "SGD + momentum 0.9, rate halved"):
        assert result[name]["weight_gap"]["PyTorch"] < 1e-6 and result[name]["loss_gap"]["PyTorch"] < 1e-6, name
    assert result["SGD + momentum 0.9"]["weight_gap"]["Keras"] < 1e-6
    assert result["Adam"]["weight_gap"]["Keras"] > 1e-5
    assert result["Adam, epsilon 1e-12"]["weight_gap"]["Keras"] < result["Adam"]["weight_gap"]["Keras"] / 10
    assert result["Adam, epsilon 1e-12, float32 betas"]["weight_gap"]["Keras"] < 1e-6
    halved = result["SGD + momentum 0.9, rate halved"]["differences"]["Keras"]
    assert max(halved[:3]) < 1e-6 and halved[-1] > 1e-3  # the same until the rate changes after step 3


def test_17_hidden_layers_bend_the_decision_boundary(tmp_path):
    result = run("decision_boundary", tmp_path)
    accuracy = result["accuracy"]
    assert accuracy[0] < 0.75 < accuracy[1] < accuracy[2] and accuracy[2] > 0.95
    history = result["history"]
    assert history.steps == [0, 100, 200, 300, 400, 500]
    assert result["history_accuracy"][0] < 0.7 and result["history_accuracy"][-1] == accuracy[3]
    assert result["overlapping_labels"] == []


def test_14_one_example_at_a_time_zig_zags_on_the_loss_surface(tmp_path):
    result = run("zigzag", tmp_path)
    one, mini, full, adam = (result[name] for name in ("one example at a time (batch_size=1)",
                                                        "mini-batch (batch_size=20)", "full batch (batch_size=None)",
                                                        "Adam, mini-batch of 20"))
    assert all(len(r["path"]) == 101 for r in (one, mini, full, adam))
    assert one["winding"] > 2 * mini["winding"] and mini["winding"] > full["winding"] and full["winding"] < 1.05
    assert one["uphill"] > 0.3 and full["uphill"] == 0 and adam["winding"] < 1.1
    assert max(r["final"] for r in (one, mini, full, adam)) < 0.3 < result["start_loss"]
    assert result["overlapping_labels"] == []


def test_10_forward_and_backward_each_row_of_the_table(tmp_path):
    r = run("forward_backward", tmp_path)
    assert r["forward_calls"] == ["dense", "dense_1"] and r["backward_calls"] == ["dense_1", "dense"]
    assert r["forward_changed"] == 0 and r["backward_changed"] == 0  # neither pass moves a weight
    assert r["update_changed"] == r["nonzero_gradients"] > 900 and r["update_is_sgd"] < 1e-12
    assert r["forward_same_with_other_targets"] and r["gradients_change_with_targets"] > 0.01
    assert r["predictions_equal_predict"] and r["rows_sum_to_one"] < 1e-12
    assert r["chain_rule_difference"] < 1e-12 and r["gradcheck"].passed
    assert r["optimizer_before_backward"] is None and r["update_calls"] == 0
    assert [kind for kind, _, _ in r["timeline"]] == ["forward", "forward", "loss", "backward", "backward", "update"]
    assert r["loss_after_update"] < r["loss"] and r["overlapping_labels"] == []
