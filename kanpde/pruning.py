"""Importance of a KAN's edges and nodes, the sparsity penalty, and pruning into a smaller KAN.

Shape letters: N samples, I inputs and O outputs of a layer.

The importance of an edge is its share of the variation of the output it feeds, passed back from the
network outputs. With s_{o,i} the standard deviation of phi_{o,i}(x_i) over the samples,

    e_{o,i} = n_o * s_{o,i} / sum_j s_{o,j},      n_i (input node of the layer) = sum_o e_{o,i},

starting from n = 1 at every network output. Scores lie in [0, 1], and the scores of one layer's
inputs sum to the number of network outputs. An edge whose function is constant on the samples
scores 0, because retraining can move its constant into the other edges. Scores do not
depend on the scale of the inputs or outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from kanpde.kan import KAN, check_samples

# Below this standard deviation an output's incoming edges are all treated as constant.
TINY_SCALE = 1e-300


@dataclass(frozen=True)
class Importance:
    """Edge scores per layer (O, I) and node scores per layer of nodes, inputs first."""

    edges: list[Tensor]
    nodes: list[Tensor]


@dataclass(frozen=True)
class PruneReport:
    """Record of a pruning: kept and removed node indices per layer of nodes (inputs first) and the
    number of edges switched off."""

    widths_before: list[int]
    widths_after: list[int]
    kept_nodes: list[list[int]]
    removed_nodes: list[list[int]]
    masked_edges: int
    unused_inputs: list[int] = field(default_factory=list)


def layer_activations(model: KAN, x: Tensor) -> list[tuple[Tensor, Tensor]]:
    """Return every layer's inputs (N, I) and edge outputs (N, O, I) at the network inputs x (N, widths[0])."""
    check_samples(x, model.input_dim)
    parameter = model.layers[0].coefficients
    x = x.to(dtype=parameter.dtype, device=parameter.device)
    layers = []
    for layer in model.layers:
        activations = layer.edge_activations(x)
        layers.append((x, activations))
        x = activations.sum(2)
    return layers


@torch.no_grad()
def importance(model: KAN, x: Tensor) -> Importance:
    """Score every edge and node of ``model`` on the samples x (N, widths[0]); see the module docstring.

    Raises:
        TypeError, ValueError: for samples that are not a finite float tensor shaped (N, widths[0]).
    """
    scales = [activations.std(0, unbiased=False) for _, activations in layer_activations(model, x)]
    node = torch.ones(model.output_dim, dtype=scales[-1].dtype, device=scales[-1].device)
    edges: list[Tensor] = []
    nodes = [node]
    for scale in reversed(scales):
        total = scale.sum(1, keepdim=True)  # (O, 1)
        share = torch.where(total > TINY_SCALE, scale / total.clamp_min(TINY_SCALE), torch.zeros_like(scale))
        edge = node.unsqueeze(1) * share  # (O, I)
        node = edge.sum(0)
        edges.insert(0, edge)
        nodes.insert(0, node)
    return Importance(edges, nodes)


def sparsity_penalty(model: KAN, x: Tensor, l1: float, entropy: float) -> Tensor:
    """Return l1 * sum of |phi| means + entropy * sum of per-layer entropies, a differentiable scalar.

    For layer l with A_{o,i} = mean_n |phi_{o,i}(x_i)| the terms are sum_{o,i} A_{o,i} and
    -sum_{o,i} p_{o,i} log p_{o,i} with p = A / sum A. The L1 term shrinks edges toward zero, and the
    entropy term pushes each layer to route its output through few edges, which is what lets
    ``prune`` cut a network down to a small structure.
    """
    penalty = x.new_zeros(())
    for _, activations in layer_activations(model, x):
        magnitude = activations.abs().mean(0)  # (O, I)
        total = magnitude.sum()
        penalty = penalty + l1 * total
        if entropy:
            share = magnitude / (total + TINY_SCALE)
            penalty = penalty - entropy * (share * torch.log(share + TINY_SCALE)).sum()
    return penalty


@torch.no_grad()
def prune(model: KAN, x: Tensor, threshold: float = 0.01) -> tuple[KAN, PruneReport]:
    """Return a smaller copy of ``model`` without the edges and hidden nodes that score below ``threshold``.

    Edges with importance below ``threshold`` are masked. Then, repeatedly, a hidden node without
    an active incoming edge or without an active outgoing edge is removed with all its edges. The
    copy keeps every surviving edge exactly (knots, coefficients, weights and symbolic functions),
    so its output equals the output of ``model`` with the masked edges switched off. Removing an
    edge drops its contribution, including any constant part, so retrain the copy afterwards.
    Network inputs and outputs are never removed; inputs left without an edge are reported.

    Raises:
        ValueError: for a threshold outside [0, 1) or invalid samples.
    """
    if not (isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and 0 <= threshold < 1):
        raise ValueError(
            f"threshold must be a number in [0, 1) (a share of each output's variation), got {threshold!r}"
        )
    scores = importance(model, x)
    active = [
        ((layer.mask > 0) | symbolic_mask(layer)) & (edge >= threshold)
        for layer, edge in zip(model.layers, scores.edges)
    ]
    keep = [torch.ones(width, dtype=torch.bool) for width in model.widths]
    changed = True
    while changed:
        changed = False
        for level in range(1, len(model.widths) - 1):
            incoming = (active[level - 1][:, keep[level - 1]]).any(1)  # (width,)
            outgoing = (active[level][keep[level + 1]]).any(0)
            survives = keep[level] & incoming & outgoing
            if not torch.equal(survives, keep[level]):
                keep[level] = survives
                changed = True
    for level, kept in enumerate(keep):
        if not bool(kept.any()):
            raise ValueError(
                f"pruning at threshold {threshold} would remove every node of hidden layer {level}; "
                f"lower the threshold"
            )

    kept_nodes = [torch.nonzero(kept).flatten().tolist() for kept in keep]
    widths = [len(nodes) for nodes in kept_nodes]
    pruned = KAN(
        widths,
        grid_size=model.grid_size,
        spline_order=model.spline_order,
        grid_range=model.grid_range,
        noise_scale=model.noise_scale,
        derivatives=model.derivative_method,
        dtype=model.layers[0].coefficients.dtype,
        device=model.layers[0].coefficients.device,
    )
    for level, (source, target) in enumerate(zip(model.layers, pruned.layers)):
        inputs, outputs = kept_nodes[level], kept_nodes[level + 1]
        rows, columns = torch.tensor(outputs), torch.tensor(inputs)
        edge_active = active[level][rows][:, columns]
        target.set_grid(source.knots[columns].clone(), source.coefficients.detach()[rows][:, columns].clone())
        target.base_weight.copy_(source.base_weight[rows][:, columns])
        target.spline_weight.copy_(source.spline_weight[rows][:, columns])
        target.mask.copy_(source.mask[rows][:, columns] * edge_active)
        position_in = {node: index for index, node in enumerate(inputs)}
        position_out = {node: index for index, node in enumerate(outputs)}
        for (o, i, name), affine in zip(source.symbolic_edges, source.symbolic_affine.detach()):
            if o in position_out and i in position_in and bool(active[level][o, i]):
                target.set_symbolic(position_out[o], position_in[i], name, affine.tolist())

    unused = [i for i in range(model.input_dim) if not bool(active[0][:, i].any())]
    report = PruneReport(
        widths_before=list(model.widths),
        widths_after=widths,
        kept_nodes=kept_nodes,
        removed_nodes=[torch.nonzero(~kept).flatten().tolist() for kept in keep],
        masked_edges=count_active_edges(model) - count_active_edges(pruned),
        unused_inputs=unused,
    )
    return pruned, report


def symbolic_mask(layer) -> Tensor:
    """Return a bool (O, I) mask of the layer's symbolic edges."""
    result = torch.zeros(layer.out_features, layer.in_features, dtype=torch.bool, device=layer.mask.device)
    if len(layer.symbolic_functions):
        result[layer.symbolic_index[:, 0], layer.symbolic_index[:, 1]] = True
    return result



def count_active_edges(model: KAN) -> int:
    """Return the number of edges that are neither pruned nor masked: spline edges plus symbolic edges."""
    return sum(int(((layer.mask > 0) | symbolic_mask(layer)).sum()) for layer in model.layers)
