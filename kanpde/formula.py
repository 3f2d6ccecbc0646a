"""Turn a trained KAN into a formula: fit symbolic functions to its edges, snap them, export sympy.

Shape letters: N samples, I inputs and O outputs of a layer.

Each edge function phi_{o,i} of layer l is compared with c * f(a * x + b) + d for the functions f
of ``kanpde.symbolic.LIBRARY`` on the inputs that the edge sees at the samples. Snapping replaces the
edge by its best fit, with (a, b, c, d) left trainable. Once every active edge is symbolic the
network is a composition of closed forms, and ``network_expression`` writes it as one sympy
expression per output.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import sympy
import torch
from torch import Tensor

from kanpde.kan import KAN
from kanpde.pruning import layer_activations, symbolic_mask
from kanpde.symbolic import LIBRARY, EdgeFit, fit_edge, get_function, recognize_constants

logger = logging.getLogger(__name__)

# Multiples of pi with at most this many significant digits are written as such when rounding.
MAX_PI_DIGITS = 2

# An edge whose spread on the samples is below this share of the largest spread among the edges
# into the same node counts as constant and snaps to "zero" (its constant d). The R^2 of a
# constant fit is 0 by definition, so no threshold would snap it otherwise.
CONSTANT_EDGE = 1e-6

# Edge identifier: (layer, output, input), counted from 0.
Edge = tuple[int, int, int]


@dataclass(frozen=True)
class EdgeFits:
    """The ranked symbolic fits of one edge; ``snapped`` names the function it was replaced by."""

    edge: Edge
    fits: list[EdgeFit]
    snapped: str | None = None

    @property
    def best(self) -> EdgeFit:
        return self.fits[0]


def parse_edge(text: str | Sequence[int]) -> Edge:
    """Return an edge from ``"layer.output.input"`` (for example ``"0.1.0"``) or a triple of ints."""
    if isinstance(text, str):
        parts = text.strip().split(".")
        if len(parts) != 3 or not all(re.fullmatch(r"\d+", part) for part in parts):
            raise ValueError(
                f"invalid edge {text!r}; write an edge as layer.output.input with indices counted "
                f"from 0, for example 0.1.0 for layer 0, output node 1, input node 0"
            )
        return int(parts[0]), int(parts[1]), int(parts[2])
    layer, output, input = (int(value) for value in text)
    return layer, output, input


def check_edges(model: KAN, edges: Sequence[Edge]) -> None:
    """Raise ``ValueError`` for an edge that the network does not have."""
    for layer, output, input in edges:
        if not 0 <= layer < len(model.layers):
            raise ValueError(f"edge {layer}.{output}.{input}: the network has layers 0 to {len(model.layers) - 1}")
        model.layers[layer]._check_edge(output, input)


def check_functions(functions: Sequence[str] | None) -> list[str] | None:
    """Return the function names as a list, raising ``ValueError`` for an unknown one."""
    if functions is None:
        return None
    names = list(functions)
    if not names:
        raise ValueError(f"the function library is empty; name at least one of {sorted(LIBRARY)}")
    for name in names:
        get_function(name)
    return names


def spline_edges(model: KAN) -> list[Edge]:
    """Return the edges that still compute a spline-plus-SiLU function (not pruned, not symbolic)."""
    return [
        (level, int(o), int(i))
        for level, layer in enumerate(model.layers)
        for o, i in torch.nonzero(layer.mask > 0).tolist()
    ]


@torch.no_grad()
def fit_edges(
    model: KAN,
    x: Tensor,
    edges: Sequence[Edge] | None = None,
    functions: Sequence[str] | None = None,
    complexity_weight: float | None = None,
    top: int = 5,
) -> list[EdgeFits]:
    """Fit every function of the library to each spline edge, without changing the network.

    Args:
        model: a KAN.
        x: samples (N, widths[0]) at which the edges are evaluated, for example the training points.
        edges: edges to fit; None fits every spline edge.
        functions: names from ``kanpde.symbolic.LIBRARY``; None uses all of them.
        complexity_weight: score penalty per unit of complexity (see ``kanpde.symbolic.fit_edge``).
        top: number of fits kept per edge, best first.
    """
    functions = check_functions(functions)
    edges = spline_edges(model) if edges is None else [parse_edge(edge) for edge in edges]
    check_edges(model, edges)
    activations = layer_activations(model, x)
    results = []
    for level, output, input in edges:
        inputs, outputs = activations[level]
        fits = _fit(inputs[:, input], outputs[:, output, input], functions, complexity_weight)
        results.append(EdgeFits((level, output, input), fits[:top]))
    return results


def _fit(inputs: Tensor, outputs: Tensor, functions, complexity_weight) -> list[EdgeFit]:
    options = {} if complexity_weight is None else {"complexity_weight": complexity_weight}
    x = inputs.double().cpu().numpy()
    y = outputs.double().cpu().numpy()
    return fit_edge(x, y, functions=functions, **options)


@torch.no_grad()
def snap(
    model: KAN,
    x: Tensor,
    r2_threshold: float = 0.99,
    functions: Sequence[str] | None = None,
    edges: Mapping[Edge | str, str | None] | Sequence[Edge | str] | None = None,
    complexity_weight: float | None = None,
) -> list[EdgeFits]:
    """Replace spline edges by their best symbolic fits, in place, layer by layer.

    Each layer is fitted on the inputs that the already snapped layers before it produce, so the
    fits of later layers see the network as it will be. An edge is snapped when its best fit
    reaches ``r2_threshold``. Edges named in ``edges`` are the only ones considered; a name mapped
    to a function (``{"1.0.0": "exp"}``) is snapped to that function whatever its R^2.

    Args:
        model: a KAN, changed in place.
        x: samples (N, widths[0]), for example the problem's training points.
        r2_threshold: lowest R^2 in [0, 1] at which an edge is snapped to its best fit.
        functions: library subset for edges without a named function; None uses all.
        edges: None for every spline edge; a list of edges; or a mapping from edge to a function
            name or None (best fit).
        complexity_weight: see ``fit_edges``.

    Returns:
        One ``EdgeFits`` per considered edge, with ``snapped`` set where the edge was replaced.

    Raises:
        ValueError: for an unknown function or edge, or a threshold outside [0, 1].
    """
    if not (isinstance(r2_threshold, (int, float)) and 0 <= r2_threshold <= 1):
        raise ValueError(f"r2_threshold must be a number in [0, 1], got {r2_threshold!r}")
    functions = check_functions(functions)
    chosen = _chosen_edges(model, edges)
    results = []
    for level in range(len(model.layers)):
        layer_edges = [(edge, name) for edge, name in chosen.items() if edge[0] == level]
        if not layer_edges:
            continue
        inputs, outputs = layer_activations(model, x)[level]
        spread = outputs.std(0)  # (O, I)
        for (layer_index, output, input), forced in layer_edges:
            library = [forced] if forced else functions
            if forced is None and float(spread[output, input]) <= CONSTANT_EDGE * float(spread[output].max()):
                library = ["zero"]
                forced = "zero"
            fits = _fit(inputs[:, input], outputs[:, output, input], library, complexity_weight)
            best = fits[0]
            snapped = None
            if forced or best.r2 >= r2_threshold:
                model.layers[level].set_symbolic(output, input, best.function, (best.a, best.b, best.c, best.d))
                snapped = best.function
                logger.info(
                    "edge %d.%d.%d snapped to %s (R^2 = %.8f)", level, output, input, best.function, best.r2
                )
            else:
                logger.info(
                    "edge %d.%d.%d kept as a spline: best fit %s has R^2 = %.6f < %g",
                    level, output, input, best.function, best.r2, r2_threshold,
                )
            results.append(EdgeFits((layer_index, output, input), fits[:5], snapped))
    return results


def _chosen_edges(model: KAN, edges) -> dict[Edge, str | None]:
    if edges is None:
        return {edge: None for edge in spline_edges(model)}
    if isinstance(edges, Mapping):
        chosen = {parse_edge(edge): name for edge, name in edges.items()}
    else:
        chosen = {parse_edge(edge): None for edge in edges}
    check_edges(model, list(chosen))
    for name in chosen.values():
        if name is not None:
            get_function(name)
    inactive = [edge for edge in chosen if float(model.layers[edge[0]].mask[edge[1], edge[2]]) == 0
                and not bool(symbolic_mask(model.layers[edge[0]])[edge[1], edge[2]])]
    if inactive:
        listed = ", ".join(".".join(map(str, edge)) for edge in inactive)
        raise ValueError(f"edge(s) {listed} were pruned and cannot be snapped")
    return chosen


def network_expression(model: KAN, symbols: Sequence[sympy.Symbol]) -> list[sympy.Expr]:
    """Return one sympy expression per network output, in the input ``symbols``.

    Every active edge must be symbolic; pruned edges contribute nothing.

    Raises:
        ValueError: if some edge is still a spline (snap it first, or lower the R^2 threshold), or if
            the number of symbols differs from the number of inputs.
    """
    if len(symbols) != model.input_dim:
        raise ValueError(f"the network has {model.input_dim} input(s) but {len(symbols)} symbol(s) were given")
    remaining = spline_edges(model)
    if remaining:
        listed = ", ".join(".".join(map(str, edge)) for edge in remaining)
        raise ValueError(
            f"edge(s) {listed} are still splines, so the network has no closed form; snap them "
            f"(include them among the edges to snap when edges are named, lower the r2_threshold "
            f"or widen the function library) or prune them"
        )
    nodes: list[sympy.Expr] = list(symbols)
    for layer in model.layers:
        outputs = [sympy.Integer(0)] * layer.out_features
        for (o, i, name), affine in zip(layer.symbolic_edges, layer.symbolic_affine.detach().tolist()):
            a, b, c, d = (sympy.Float(value, 17) for value in affine)
            outputs[o] = outputs[o] + c * get_function(name).sympy(a * nodes[i] + b) + d
        nodes = outputs
    return nodes


def evaluate_expression(expression: sympy.Expr, symbols: Sequence[sympy.Symbol], x: np.ndarray) -> np.ndarray:
    """Evaluate ``expression`` at points x (N, len(symbols)) in float64, returning (N, 1)."""
    function = sympy.lambdify(list(symbols), expression, modules="numpy")
    values = function(*(x[:, column] for column in range(x.shape[1])))
    return np.broadcast_to(np.asarray(values, dtype=np.float64), (x.shape[0],)).reshape(-1, 1).copy()


def expand_expression(expression: sympy.Expr) -> sympy.Expr:
    """Multiply out products and powers, so that each coefficient is separate.

    Network formulas often subtract nearly equal terms (for example c1 * h1^2 - c2 * h2^2 with h
    sums of edge functions), and rounding their factors separately loses the cancellation.
    Logarithms and exponentials of sums are left whole, so that their arguments stay readable.
    """
    return sympy.expand(expression, log=False, power_exp=False)


def round_number(value: float, digits: int) -> sympy.Expr:
    """Round to ``digits`` significant digits, written as a multiple of pi when that multiple needs
    fewer digits and is no less accurate (3.1415926 becomes pi, 1.5707963 becomes 0.5*pi, and
    0.99998 becomes 1).
    Whole numbers become sympy Integers."""
    plain = float(f"{value:.{digits}g}")
    in_pi = float(f"{value / math.pi:.{digits}g}")
    # Only a short multiple of pi (pi, pi/2 as 0.5*pi, 0.25*pi, ...) is taken for one: any number
    # is some 4-digit multiple of pi, but 0.393*pi for 1.2346 would be a false pattern.
    simple = _significant_digits(in_pi) <= MAX_PI_DIGITS
    if simple and _significant_digits(in_pi) < _significant_digits(plain) and abs(in_pi * math.pi - value) <= abs(plain - value):
        return _exact_if_whole(in_pi, digits) * sympy.pi
    return _exact_if_whole(plain, digits)


def _significant_digits(value: float) -> int:
    mantissa = f"{abs(value):.15e}".split("e")[0].replace(".", "").rstrip("0")
    return len(mantissa)


def _exact_if_whole(value: float, digits: int) -> sympy.Expr:
    # Only small whole numbers become Integers; 1.2e20 stays a 4-digit Float, not 21 false digits.
    if value == int(value) and abs(value) < 10**digits:
        return sympy.Integer(int(value))
    return sympy.Float(value, digits)


def drop_small_terms(expression: sympy.Expr, symbols: Sequence[sympy.Symbol], x: np.ndarray, relative: float) -> sympy.Expr:
    """Drop the terms of a sum whose largest magnitude at the points x (N, len(symbols)) is below
    ``relative`` times that of the largest term."""
    if not isinstance(expression, sympy.Add):
        return expression
    terms = expression.args
    sizes = [float(np.max(np.abs(evaluate_expression(term, symbols, x)))) for term in terms]
    largest = max(sizes)
    return sympy.Add(*(term for term, size in zip(terms, sizes) if size >= relative * largest))


def round_coefficients(
    expression: sympy.Expr, symbols: Sequence[sympy.Symbol], x: np.ndarray, digits: int = 4
) -> sympy.Expr:
    """Round a network formula to ``digits`` significant digits, the way one rounds by hand.

    First the argument of every function (sin, exp, ...) is rounded, inner functions first: in
    every sum, terms below 10^-digits of the largest term at the points x are dropped, and the
    numbers are rounded (``round_number``). Edge functions that differ only below that precision then coincide, so
    expanding the products makes their nearly cancelling coefficients cancel exactly, in full
    precision. Last, the expanded sum loses its negligible terms and its numbers are rounded.
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"digits must be a positive integer (significant digits), got {digits!r}")
    relative = 10.0**-digits

    def round_all(part: sympy.Expr) -> sympy.Expr:
        part = _map_sums(part, lambda total: drop_small_terms(total, symbols, x, relative))
        return part.xreplace({number: round_number(float(number), digits) for number in part.atoms(sympy.Float)})

    cleaned = _map_function_arguments(expression, round_all)
    return round_all(expand_expression(cleaned))


def recognize_expression(expression: sympy.Expr, tolerance: float = 1e-4) -> sympy.Expr:
    """Replace numbers by the simple constants they approximate (0, p/q, p/q * pi) within
    ``tolerance`` and simplify; see ``kanpde.symbolic.recognize_constant``.

    Function arguments are recognized first, so that edge functions that are equal up to the
    tolerance coincide and their coefficients merge when the products are expanded. The merged
    coefficients are recognized after that.
    """
    cleaned = _map_function_arguments(expression, lambda part: recognize_constants(part, tolerance))
    return sympy.simplify(recognize_constants(expand_expression(cleaned), tolerance))


def _map_sums(expression: sympy.Expr, transform) -> sympy.Expr:
    """Apply ``transform`` to every sum in the expression, innermost first."""
    if expression.is_Atom:
        return expression
    rebuilt = expression.func(*(_map_sums(argument, transform) for argument in expression.args))
    return transform(rebuilt) if isinstance(rebuilt, sympy.Add) else rebuilt


def _map_function_arguments(expression: sympy.Expr, transform) -> sympy.Expr:
    """Apply ``transform`` to the argument of every function application, innermost first."""
    if expression.is_Atom:
        return expression
    arguments = [_map_function_arguments(argument, transform) for argument in expression.args]
    if isinstance(expression, sympy.Function):
        arguments = [transform(argument) for argument in arguments]
    return expression.func(*arguments)
