import copy

"""Importance scores, the sparsity penalty and pruning into a smaller KAN."""

import pytest
import torch

from kanpde import KAN, Stage, Trainer
from kanpde.pruning import count_active_edges, importance, prune, sparsity_penalty
from kanpde.trainer import Sparsity

# A pruned copy evaluates the same floating-point operations on copied weights.
ROUND_OFF = 1e-12


def _points(n=200, dim=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, dim, generator=generator, dtype=torch.float64) * 2 - 1


def _masked_reference(model, pruned_edges):
    """The original network with the given edges switched off."""
    reference = copy.deepcopy(model)
    for level, output, input in pruned_edges:
        reference.layers[level].mask[output, input] = 0.0
    return reference


def _silence_hidden_nodes(model, nodes, scale=1e-6):
    """Make the outgoing edges of hidden nodes nearly constant zero, so their importance is tiny."""
    with torch.no_grad():
        for node in nodes:
            model.layers[1].coefficients[:, node] *= scale
            model.layers[1].base_weight[:, node] *= scale


def test_importance_sums_to_one_per_layer():
    model = KAN([2, 5, 1], seed=0, dtype=torch.float64)
    scores = importance(model, _points())
    for nodes in scores.nodes:
        assert float(nodes.sum()) == pytest.approx(1.0, abs=1e-12)
    assert bool((scores.edges[0] >= 0).all())


def test_importance_ignores_output_scale():
    model = KAN([2, 5, 1], seed=0, dtype=torch.float64)
    x = _points()
    before = importance(model, x).edges[0]
    with torch.no_grad():
        model.layers[1].coefficients *= 7.0
        model.layers[1].base_weight *= 7.0
    after = importance(model, x).edges[0]
    assert torch.allclose(before, after, atol=1e-12)


def test_unused_hidden_nodes_score_low():
    model = KAN([2, 5, 1], seed=0, dtype=torch.float64)
    _silence_hidden_nodes(model, [1, 2, 3, 4])
    nodes = importance(model, _points()).nodes[1]
    assert float(nodes[0]) > 0.99
    assert float(nodes[1:].max()) < 1e-4


def test_prune_removes_silent_nodes():
    model = KAN([2, 5, 1], seed=0, dtype=torch.float64)
    _silence_hidden_nodes(model, [1, 2, 3, 4])
    pruned, report = prune(model, _points(), threshold=0.01)
    assert pruned.widths == [2, 1, 1]
    assert report.widths_after == [2, 1, 1]
    assert report.removed_nodes[1] == [1, 2, 3, 4]
    assert report.kept_nodes[1] == [0]


def test_prune_keeps_surviving_paths_exactly():
    model = KAN([2, 5, 1], seed=0, dtype=torch.float64)
    _silence_hidden_nodes(model, [1, 3])
    x = _points()
    pruned, report = prune(model, x, threshold=0.01)
    assert report.kept_nodes[1] == [0, 2, 4]
    removed = [(0, node, input) for node in (1, 3) for input in (0, 1)] + [(1, 0, node) for node in (1, 3)]
    reference = _masked_reference(model, removed)
    assert torch.allclose(pruned(x), reference(x), atol=ROUND_OFF, rtol=0)


def test_prune_keeps_symbolic_edges():
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    model.layers[0].set_symbolic(2, 0, "sin", (2.0, 0.0, 1.0, 0.0))
    model.layers[1].set_symbolic(0, 2, "x", (1.0, 0.0, 1.0, 0.0))
    _silence_hidden_nodes(model, [1])
    x = _points()
    pruned, _ = prune(model, x, threshold=0.01)
    assert pruned.widths == [2, 2, 1]
    assert pruned.layers[0].symbolic_edges == [(1, 0, "sin")]
    reference = _masked_reference(model, [(0, 1, 0), (0, 1, 1), (1, 0, 1)])
    assert torch.allclose(pruned(x), reference(x), atol=ROUND_OFF, rtol=0)


def test_prune_threshold_zero_keeps_everything():
    model = KAN([2, 4, 1], seed=0, dtype=torch.float64)
    x = _points()
    pruned, report = prune(model, x, threshold=0.0)
    assert pruned.widths == [2, 4, 1]
    assert report.masked_edges == 0
    assert torch.equal(pruned(x), model(x))


def test_prune_reports_masked_edge_count():
    model = KAN([2, 5, 1], seed=0, dtype=torch.float64)
    _silence_hidden_nodes(model, [1, 2, 3, 4])
    pruned, report = prune(model, _points(), threshold=0.01)
    assert report.masked_edges == count_active_edges(model) - count_active_edges(pruned)
    assert report.masked_edges == 12


@pytest.mark.parametrize("threshold", [-0.1, 1.0, "0.1", True])
def test_prune_rejects_bad_threshold(threshold):
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match="threshold must be a number in"):
        prune(model, _points(), threshold=threshold)


def test_prune_rejects_wrong_sample_shape():
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"shaped \(N, 2\)"):
        prune(model, _points(dim=3))


def test_sparsity_penalty_matches_definition():
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    x = _points()
    expected = 0.0
    inputs = x
    with torch.no_grad():
        for layer in model.layers:
            magnitude = layer.edge_activations(inputs).abs().mean(0)
            share = magnitude / magnitude.sum()
            expected += 0.3 * float(magnitude.sum()) - 0.7 * float((share * share.log()).sum())
            inputs = layer(inputs)
        penalty = float(sparsity_penalty(model, x, l1=0.3, entropy=0.7))
    assert penalty == pytest.approx(expected, rel=1e-12)


class _RegressionProblem:
    """Least squares on y = sin(pi x1), which needs one path through a [2, 4, 1] network."""

    input_dim, output_dim, derivative_order = 2, 1, 0
    variable_names = ("x1", "x2")
    loss_weights = {"data": 1.0}

    def __init__(self):
        self.x = _points(300, seed=1)
        self.u = torch.sin(torch.pi * self.x[:, :1])

    def sample(self, rng):
        return {"x_train": self.x}

    def losses(self, model, points):
        return {"data": (model(points["x_train"]) - self.u).pow(2).mean()}

    def evaluate(self, model):
        with torch.no_grad():
            return {"mse": float((model(self.x) - self.u).pow(2).mean())}

    def grid_samples(self, points):
        return points["x_train"]

    def check_model(self, model):
        pass


def test_sparsity_training_concentrates_importance():
    problem = _RegressionProblem()
    scores = []
    for sparsity in (None, Sparsity(l1=1e-2, entropy=1e-2)):
        model = KAN([2, 4, 1], seed=0, dtype=torch.float64)
        Trainer(problem, model, [Stage("lbfgs", 30)], sparsity=sparsity, log_every=100).fit()
        scores.append(importance(model, problem.x).edges[0])
    plain, sparse = scores
    # The unused input x2 loses its share, and the edges concentrate on fewer hidden nodes.
    assert float(sparse[:, 1].sum()) < float(plain[:, 1].sum())
    assert float((sparse > 0.05).sum()) < float((plain > 0.05).sum())


def test_sparsity_history_column():
    problem = _RegressionProblem()
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    result = Trainer(problem, model, [Stage("adam", 3)], sparsity=Sparsity(l1=0.01), log_every=100).fit()
    assert all("sparsity" in entry for entry in result.history[:-1])
    assert result.history[0]["sparsity"] > 0


@pytest.mark.parametrize("field, value", [("l1", -1.0), ("entropy", float("nan")), ("l1", "0.1")])
def test_sparsity_rejects_bad_weight(field, value):
    with pytest.raises(ValueError, match=f"sparsity.{field} must be a finite non-negative number"):
        Sparsity(**{field: value})
