"""Supervised regression: fit u(x) to samples of a formula or to the rows of a data file.

Loss: the mean squared error on a fixed training set,

    loss = mean((model(x_train) - u_train)^2),

and the errors are measured on a held-out test set (``x_test``, ``u_test``). The command line's
default target is exp(sin(pi x) + y^2) on [-1, 1]^2, the toy function of the KAN authors'
introductory pykan example.

Shape letters: N points, D variables.
"""

from __future__ import annotations

import csv
import inspect
import keyword
import logging
import math
import os
import pickle
import tokenize
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import sympy
import torch
from sympy.core.function import AppliedUndef
from sympy.parsing.sympy_parser import convert_xor, parse_expr, standard_transformations
from torch import Tensor, nn

from kanpde.metrics import field_errors
from kanpde.problem import Problem, model_dtype_device
from kanpde.sampling import METHODS, Box, check_count, mesh, sample_interior

logger = logging.getLogger(__name__)

# ``x^2`` means x**2, as in sympy.sympify; Python alone would read ^ as exclusive or.
TRANSFORMATIONS = standard_transformations + (convert_xor,)

# Errors that parse_expr raises for formulas that are not valid sympy, found by trying bad input
# with sympy 1.14: SyntaxError ("x +"), TokenError ("(x"), TypeError ("sin()"), AttributeError
# ("x.y") and ValueError ('Float("abc")').
PARSE_ERRORS = (SyntaxError, tokenize.TokenError, TypeError, AttributeError, ValueError)

# Errors of sympy.lambdify and of the function it returns, for expressions that numpy and scipy
# cannot evaluate, such as an unevaluated Derivative or an indefinite Integral.
EVALUATION_ERRORS = (TypeError, ValueError, NameError, NotImplementedError, AttributeError, ZeroDivisionError)


class Regression(Problem):
    """Least-squares fit of a scalar function u of D variables to a fixed data set.

    The data come from exactly one of two sources:

    - ``target``, a formula in the variables such as ``"x*y + sin(z)"``. Training and test
      points are drawn in ``domain`` and u is the formula's value there, computed in float64.
    - ``data_file``, a ``.csv`` file with a header row, or a ``.npz`` archive with arrays ``x``
      (N, D) and ``u`` (N,) or (N, 1). A share ``test_fraction`` of the rows, chosen at random
      with ``data_seed``, is held out as the test set.

    The data are drawn once, here, and depend only on the settings and ``data_seed``: a problem
    built twice with the same settings has the same data.

    Args:
        target: formula of u in the variables, parsed by ``sympy.parsing.sympy_parser.parse_expr``
            with the names of sympy (``sin``, ``exp``, ``pi``, ``sqrt``, ...) and the variables.
            ``^`` is read as ``**``. A plain number is a constant target. The formula runs
            through Python's ``eval``, so pass only formulas that you trust. On the command line,
            quote it twice, because Hydra rejects parentheses in unquoted values:
            ``"problem.target='x*y + sin(z)'"``.
        variables: names of the inputs in column order, each a Python identifier and not a
            keyword. They name the formula's symbols and, for a CSV file, its input columns.
        domain: one ``[low, high]`` pair per variable, the box in which a target formula is
            sampled; None means [-1, 1] for every variable.
        n_train: number of training points for a target formula.
        n_test: number of test points for a target formula.
        noise: standard deviation of the Gaussian noise added to the training targets (both
            sources); the test targets stay exact.
        sampling: how training points are drawn in the domain: ``uniform`` (independent uniform
            draws), ``sobol`` (scrambled Sobol sequence) or ``mesh`` (regular mesh, both ends of
            every axis included). ``mesh`` uses round(n_train ** (1 / D)) points per axis, at
            least 2, so the count becomes the nearest m^D.
        test_sampling: the same choice for the test points. ``mesh`` also sets ``test_shape``,
            which the command line needs for its field plot in one or two dimensions; 10201 test
            points give the 101 x 101 mesh on which Poisson errors are measured.
        data_seed: non-negative integer that seeds the draws of points, noise and the train/test
            split. Points, noise and split use separate streams, so changing ``noise`` or
            ``n_test`` leaves the training points as they were.
        data_file: path of a ``.csv`` or ``.npz`` file, relative to the working directory.
        target_column: the CSV column that contains u. Columns other than it and the variables
            are ignored.
        test_fraction: share of a data file's rows held out for testing, above 0 and below 1.
            The test set gets round(test_fraction * N) rows, and at least one row is left on
            each side.

    Attributes:
        x_train, u_train: training inputs (N, D) and targets (N, 1), float64, noise included.
        x_test, u_test: test inputs (N_test, D) and targets (N_test, 1), float64, without noise.
        test_shape: points per axis of the test mesh; set only when ``test_sampling`` is ``mesh``.
        u_exact: ``target_values``, the formula's values x (N, D) -> u (N, 1). Only a problem
            built from a target formula has this attribute, so that code which looks for it
            (the command line's field plot) skips data files.
        expression: the parsed formula, or None for a data file.

    Raises:
        ValueError: when both or neither of ``target`` and ``data_file`` are given, or for an
            invalid setting or data file. A formula is invalid when it does not parse, names
            unknown symbols or functions, or is not a finite real number in the domain.
        TypeError: for a setting of the wrong type, such as a variable name that is not a string.
        FileNotFoundError: when ``data_file`` does not exist.
    """

    output_dim = 1
    derivative_order = 0

    def __init__(
        self,
        target: str | float | None = None,
        variables: Sequence[str] = ("x", "y"),
        domain: Sequence[Sequence[float]] | None = None,
        n_train: int = 1000,
        n_test: int = 1000,
        noise: float = 0.0,
        sampling: str = "uniform",
        test_sampling: str = "uniform",
        data_seed: int = 0,
        data_file: str | os.PathLike | None = None,
        target_column: str = "u",
        test_fraction: float = 0.2,
    ) -> None:
        if target is None and data_file is None:
            raise ValueError(
                "Regression needs a target formula or a data file, got neither; set target (a "
                "formula such as 'x + y**2') or data_file (a .csv or .npz path)"
            )
        if target is not None and data_file is not None:
            raise ValueError(
                f"Regression takes a target formula or a data file, not both, got target={target!r} "
                f"and data_file={str(data_file)!r}; set one of them to null, for example "
                f"problem.target=null problem.data_file=PATH on the command line"
            )

        self.variable_names = _check_variables(variables)
        self.input_dim = len(self.variable_names)
        self.loss_weights = {"data": 1.0}
        self.noise = _check_noise(noise)
        self.data_seed = _check_data_seed(data_seed)
        self.target = None if target is None else _check_target(target)
        self.data_file = None if data_file is None else Path(data_file).expanduser()
        self.expression: sympy.Expr | None = None
        point_rng, test_rng, noise_rng, split_rng = (
            np.random.default_rng(stream) for stream in np.random.SeedSequence(self.data_seed).spawn(4)
        )

        if self.target is not None:
            _log_ignored({"target_column": target_column, "test_fraction": test_fraction}, "a target formula")
            x_train, u_train, x_test, u_test = self._data_from_formula(
                domain, n_train, n_test, sampling, test_sampling, point_rng, test_rng
            )
        else:
            _log_ignored(
                {"domain": domain, "n_train": n_train, "n_test": n_test, "sampling": sampling, "test_sampling": test_sampling},
                "a data file",
            )
            x_train, u_train, x_test, u_test = self._data_from_file(target_column, test_fraction, split_rng)

        if self.noise > 0:
            u_train = u_train + self.noise * noise_rng.standard_normal(u_train.shape)

        self.x_train = torch.as_tensor(x_train, dtype=torch.float64)
        self.u_train = torch.as_tensor(u_train, dtype=torch.float64).reshape(-1, 1)
        self.x_test = torch.as_tensor(x_test, dtype=torch.float64)
        self.u_test = torch.as_tensor(u_test, dtype=torch.float64).reshape(-1, 1)
        logger.info(
            "regression data: %s | variables %s | %d training and %d test points | noise %g | data_seed %d",
            f"target {self.target}" if self.target is not None else f"file {self.data_file}",
            ", ".join(self.variable_names), len(self.x_train), len(self.x_test), self.noise, self.data_seed,
        )

    def _data_from_formula(
        self,
        domain: Sequence[Sequence[float]] | None,
        n_train: int,
        n_test: int,
        sampling: str,
        test_sampling: str,
        point_rng: np.random.Generator,
        test_rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Parse the target, draw the points and evaluate it; return x_train, u_train, x_test, u_test."""
        check_count("n_train", n_train)
        check_count("n_test", n_test)
        _check_sampling("sampling", sampling)
        _check_sampling("test_sampling", test_sampling)
        self.box = _check_domain(domain, self.variable_names)
        self.sampling = sampling
        self.test_sampling = test_sampling
        self.expression = parse_target(self.target, self.symbols())
        try:
            self._function = sympy.lambdify(self.symbols(), self.expression, modules=["scipy", "numpy"])
        except EVALUATION_ERRORS as error:
            raise _evaluation_error(self.target, error) from error

        x_train = self._draw_points(n_train, sampling, point_rng, "n_train")
        x_test = self._draw_points(n_test, test_sampling, test_rng, "n_test")
        u_train = self._formula_values(x_train, "training")
        u_test = self._formula_values(x_test, "test")
        if test_sampling == "mesh":
            self.test_shape = (_mesh_side(len(x_test), self.input_dim),) * self.input_dim
        # The formula's values as a model-like function, for field plots and comparisons.
        self.u_exact = self.target_values
        return x_train, u_train, x_test, u_test

    def _data_from_file(
        self, target_column: str, test_fraction: float, split_rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Load the data file and split its rows; return x_train, u_train, x_test, u_test."""
        if not isinstance(target_column, str) or not target_column:
            raise TypeError(f"target_column must be a non-empty string such as 'u', got {target_column!r}")
        if target_column in self.variable_names:
            raise ValueError(
                f"target_column {target_column!r} is also one of the variables "
                f"{list(self.variable_names)}; give the target column another name"
            )
        self.target_column = target_column
        self.test_fraction = _check_test_fraction(test_fraction)
        x, u = load_data(self.data_file, self.variable_names, target_column)
        return _split(x, u, self.test_fraction, split_rng, self.data_file)

    def symbols(self) -> tuple[sympy.Symbol, ...]:
        """Return the sympy symbols of the variables, in column order."""
        return tuple(sympy.Symbol(name) for name in self.variable_names)

    def exact_expression(self, symbols: Sequence[sympy.Symbol] | None = None) -> sympy.Expr | None:
        """Return the target formula as a sympy expression, or None for a data file.

        Args:
            symbols: one sympy symbol per variable, in column order, to write the formula in;
                None keeps ``symbols()``. Poisson's ``exact_expression`` takes the same argument.

        Raises:
            ValueError: when the number of symbols differs from the number of variables.
        """
        if self.expression is None or symbols is None:
            return self.expression
        symbols = tuple(symbols)
        if len(symbols) != self.input_dim:
            raise ValueError(
                f"exact_expression needs {self.input_dim} symbol(s), one per variable "
                f"{list(self.variable_names)}, got {len(symbols)}: {symbols}"
            )
        return self.expression.xreplace(dict(zip(self.symbols(), symbols)))

    def target_values(self, x: Tensor) -> Tensor:
        """Evaluate the target formula at points x (N, D); return u (N, 1).

        The values are computed in float64 with numpy and scipy and returned in x's floating
        dtype (float64 for integer x) on x's device. They carry no autograd graph.

        Raises:
            ValueError: for a problem built from a data file, for x that is not (N, D), or where
                the formula is not a finite real number at some point of x.
        """
        if self.expression is None:
            raise ValueError(
                f"this problem was built from the data file {self.data_file} and has no target "
                f"formula; compare with u_test at x_test instead"
            )
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(
                f"x must be shaped (N, {self.input_dim}), one column per variable "
                f"{list(self.variable_names)}, got {tuple(x.shape)}"
            )
        values = self._formula_values(x.detach().cpu().double().numpy(), "requested")
        dtype = x.dtype if x.is_floating_point() else torch.float64
        return torch.as_tensor(values, dtype=torch.float64).reshape(-1, 1).to(dtype=dtype, device=x.device)

    def sample(self, rng: np.random.Generator) -> dict[str, Tensor]:
        """Return copies of the fixed training set {"x_train": (N, D), "u_train": (N, 1)}, float64.

        ``rng`` is unused: the data were drawn once at construction with ``data_seed``, so every
        call returns the same values and ``trainer.resample_every`` changes nothing.
        """
        return {"x_train": self.x_train.clone(), "u_train": self.u_train.clone()}

    def losses(self, model: nn.Module, points: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Return {"data": mean((model(x_train) - u_train)^2)}, in the model's dtype and device."""
        dtype, device = model_dtype_device(model)
        x = points["x_train"].to(dtype=dtype, device=device)
        u_train = points["u_train"].to(dtype=dtype, device=device)
        u = model(x)
        if u.shape != u_train.shape:
            raise ValueError(
                f"the model returned shape {tuple(u.shape)} for {len(x)} points, expected "
                f"{tuple(u_train.shape)}; a regression model needs a single output column"
            )
        return {"data": (u - u_train).pow(2).mean()}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Return mse, rel_l2 and max_abs of the model on the test set (see ``field_errors``)."""
        dtype, device = model_dtype_device(model)
        with torch.no_grad():
            u = model(self.x_test.to(dtype=dtype, device=device))
        # Errors are formed in float64 against the float64 test targets, whatever the model dtype.
        return field_errors(u.detach().cpu().double(), self.u_test)

    def check_model(self, model: nn.Module) -> None:
        """Check the model's widths like every problem, and warn when a KAN's grid misses the data."""
        super().check_model(model)
        grid_range = getattr(model, "grid_range", None)
        if grid_range is None:
            return
        inputs = torch.cat([self.x_train, self.x_test])
        lowest = inputs.min(0).values.tolist()
        highest = inputs.max(0).values.tolist()
        outside = [
            f"{name} in [{low:g}, {high:g}]"
            for name, low, high in zip(self.variable_names, lowest, highest)
            if low < grid_range[0] or high > grid_range[1]
        ]
        if outside:
            logger.warning(
                "the inputs %s reach beyond the KAN's grid_range [%g, %g]. The splines of the first "
                "layer cover grid_range and spline_order grid intervals on each side, and beyond "
                "them an edge function is its SiLU part alone. Set model.grid_range=[%g, %g] or "
                "turn on grid updates with trainer.grid_update.every",
                ", ".join(outside), grid_range[0], grid_range[1], min(lowest), max(highest),
            )

    def _draw_points(self, count: int, method: str, rng: np.random.Generator, name: str) -> np.ndarray:
        if method == "mesh":
            side = _mesh_side(count, self.input_dim)
            points = mesh(self.box, side)
            if len(points) != count:
                logger.info(
                    "%s=%d with mesh sampling in %d dimension(s) uses the nearest mesh, %d points per "
                    "axis, %d points in all",
                    name, count, self.input_dim, side, len(points),
                )
            return points.numpy()
        return sample_interior(self.box, count, method, rng).numpy()

    def _formula_values(self, x: np.ndarray, point_set: str) -> np.ndarray:
        """Evaluate the formula at x (N, D) in float64; return u (N,).

        Raises:
            ValueError: where the formula is not a finite real number, naming ``point_set``.
        """
        try:
            # Invalid values (sqrt of a negative number, log of 0) are reported below, by point.
            with np.errstate(all="ignore"):
                values = np.asarray(self._function(*x.T))
        except EVALUATION_ERRORS as error:
            raise _evaluation_error(self.target, error) from error
        if np.iscomplexobj(values):
            # Some functions, such as LambertW, return complex numbers with zero imaginary part.
            real = np.isreal(values)
            values = np.where(real, values.real, np.nan)
        with np.errstate(all="ignore"):
            values = np.broadcast_to(values.astype(np.float64), (len(x),)).copy()
        bad = ~np.isfinite(values)
        if bad.any():
            example = dict(zip(self.variable_names, x[np.argmax(bad)].tolist()))
            raise ValueError(
                f"target {self.target!r} is not a finite real number at {int(bad.sum())} of the "
                f"{len(x)} {point_set} points, for example at {example}; choose a domain in which the "
                f"formula is defined and finite"
            )
        return values


def _evaluation_error(target: str, error: Exception) -> ValueError:
    return ValueError(
        f"target {target!r} could not be evaluated with numpy and scipy ({type(error).__name__}: "
        f"{error}); write it with functions that have numpy or scipy counterparts"
    )


def parse_target(target: str, symbols: Sequence[sympy.Symbol]) -> sympy.Expr:
    """Parse a formula in the given symbols with sympy's names.

    Raises:
        ValueError: for a formula that does not parse, is not a scalar expression, or uses a
            symbol or function that is neither a variable nor one of sympy's.
    """
    variables = [str(symbol) for symbol in symbols]
    # The variables shadow sympy names of the same spelling (a variable named E is not Euler's number).
    local_names = {str(symbol): symbol for symbol in symbols}
    # Python's builtins are left out, so that a formula cannot call open, __import__ and the like
    # by accident. This is not a sandbox: parse_expr still runs the formula through eval.
    global_names: dict[str, Any] = {name: getattr(sympy, name) for name in sympy.__all__}
    global_names["__builtins__"] = {}
    try:
        expression = parse_expr(target, local_dict=local_names, global_dict=global_names, transformations=TRANSFORMATIONS)
    except PARSE_ERRORS as error:
        raise ValueError(
            f"target {target!r} could not be parsed as a sympy formula ({type(error).__name__}: "
            f"{error}); write it in Python syntax with ** for powers, e.g. 'exp(sin(pi*x) + y**2)'"
        ) from error
    if not isinstance(expression, sympy.Expr) or isinstance(expression, sympy.Lambda):
        raise ValueError(
            f"target {target!r} parsed to {type(expression).__name__} {expression!r}, not a scalar "
            f"formula; write one expression in the variables {variables}"
        )
    unknown_symbols = sorted(str(symbol) for symbol in expression.free_symbols - set(symbols))
    if unknown_symbols:
        raise ValueError(
            f"target {target!r} uses unknown symbol(s) {unknown_symbols}; the variables are "
            f"{variables}. Add the names to variables, or write them as numbers"
        )
    unknown_functions = sorted({str(call.func) for call in expression.atoms(AppliedUndef)})
    if unknown_functions:
        raise ValueError(
            f"target {target!r} calls unknown function(s) {unknown_functions}; use functions that "
            f"sympy defines, such as sin, exp, log, sqrt, tanh, besselj"
        )
    return expression


def load_data(path: str | os.PathLike, variables: Sequence[str], target_column: str = "u") -> tuple[np.ndarray, np.ndarray]:
    """Read inputs x (N, D) and targets u (N,) in float64 from a ``.csv`` or ``.npz`` file.

    A CSV file needs a header row that names the variables and ``target_column``; its other
    columns are ignored. An NPZ archive needs arrays ``x`` shaped (N, D), with D the number of
    variables, and ``u`` shaped (N,) or (N, 1).

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: for another suffix, missing columns or arrays, wrong shapes, entries that are
            not numbers, NaN or infinite values, or fewer than 2 rows.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"data file {str(path)!r} not found (resolved to {path.resolve()}); a relative path is "
            f"taken from the working directory {Path.cwd()}"
        )
    suffix = path.suffix.lower()
    if suffix == ".csv":
        x, u = _read_csv(path, variables, target_column)
    elif suffix == ".npz":
        x, u = _read_npz(path, variables)
    else:
        raise ValueError(
            f"data file {str(path)!r} has the suffix {path.suffix!r}; use a .csv file with a header "
            f"row or a .npz archive with arrays x and u"
        )

    if len(x) < 2:
        raise ValueError(
            f"data file {str(path)!r} has {len(x)} data row(s); at least 2 are needed, so that the "
            f"training and test sets get one each"
        )
    for name, values in (("inputs", x), ("targets", u)):
        bad_rows = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(1))
        if len(bad_rows):
            raise ValueError(
                f"data file {str(path)!r} has NaN or infinite {name} in {len(bad_rows)} row(s), the "
                f"first at data row {bad_rows[0]} (counting from 0); remove or fill those rows"
            )
    return x, u


def _read_csv(path: Path, variables: Sequence[str], target_column: str) -> tuple[np.ndarray, np.ndarray]:
    # utf-8-sig drops the byte order mark that some spreadsheet programs write before the header.
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise ValueError(
                f"data file {str(path)!r} is empty; its first line must be a header naming the "
                f"columns, such as {','.join([*variables, target_column])}"
            )
        names = [name.strip() for name in header]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"data file {str(path)!r} names the column(s) {repeated} more than once; rename them")
        columns = [*variables, target_column]
        missing = [name for name in columns if name not in names]
        if missing:
            raise ValueError(
                f"data file {str(path)!r} has no column(s) {missing}; its header names {names}. "
                f"Name the input columns after the variables {list(variables)} and the target column "
                f"{target_column!r}, or set variables and target_column to the file's names"
            )
        indices = [names.index(name) for name in columns]

        rows = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(names):
                raise ValueError(
                    f"data file {str(path)!r}: line {reader.line_num} has {len(row)} field(s) but "
                    f"the header has {len(names)}; give every row one value per column"
                )
            try:
                rows.append([float(row[index]) for index in indices])
            except ValueError:
                bad = next(name for name, index in zip(columns, indices) if not _is_number(row[index]))
                raise ValueError(
                    f"data file {str(path)!r}: line {reader.line_num}, column {bad!r} contains "
                    f"{row[names.index(bad)]!r}, which is not a number"
                ) from None

    table = np.asarray(rows, dtype=np.float64).reshape(-1, len(columns))
    return table[:, :-1], table[:, -1]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_npz(path: Path, variables: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    dim = len(variables)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"data file {str(path)!r} could not be read as a .npz archive ({error}); write it with "
            f"numpy.savez(path, x=x, u=u)"
        ) from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"data file {str(path)!r} contains a single array, not a .npz archive; write it with "
            f"numpy.savez(path, x=x, u=u)"
        )
    with archive:
        missing = [name for name in ("x", "u") if name not in archive.files]
        if missing:
            raise ValueError(
                f"data file {str(path)!r} has no array(s) {missing}; it contains {sorted(archive.files)}. "
                f"Write it with numpy.savez(path, x=inputs, u=targets)"
            )
        try:
            x = archive["x"]
            u = archive["u"]
        except ValueError as error:
            raise ValueError(f"data file {str(path)!r}: arrays x and u must be numeric ({error})") from error

    for name, array in (("x", x), ("u", u)):
        if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise ValueError(
                f"data file {str(path)!r}: array {name} has dtype {array.dtype}; it must contain real "
                f"numbers (integer or floating point)"
            )
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(
            f"data file {str(path)!r}: array x has shape {x.shape}, expected (N, {dim}), one column "
            f"per variable {list(variables)}; save x as a 2-D array with one column per variable, "
            f"or set variables to one name per column of x"
        )
    if not (u.ndim == 1 or (u.ndim == 2 and u.shape[1] == 1)) or len(u) != len(x):
        raise ValueError(
            f"data file {str(path)!r}: array u has shape {u.shape}, expected ({len(x)},) or "
            f"({len(x)}, 1), one target per row of x"
        )
    return x.astype(np.float64), u.reshape(-1).astype(np.float64)


def _split(
    x: np.ndarray, u: np.ndarray, test_fraction: float, rng: np.random.Generator, path: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out a random share of the rows; return x_train, u_train, x_test, u_test."""
    n_test = min(max(round(test_fraction * len(x)), 1), len(x) - 1)
    order = rng.permutation(len(x))
    test_rows, train_rows = order[:n_test], order[n_test:]
    logger.info("data file %s: %d rows, %d for training and %d held out for testing", path, len(x), len(train_rows), n_test)
    return x[train_rows], u[train_rows], x[test_rows], u[test_rows]


def _check_target(target: Any) -> str:
    if isinstance(target, bool) or not isinstance(target, (str, int, float)):
        raise TypeError(
            f"target must be a formula string such as 'x + y**2', got {target!r} "
            f"({type(target).__name__})"
        )
    target = str(target)
    if not target.strip():
        raise ValueError("target is an empty string; give a formula such as 'x + y**2'")
    return target


def _check_variables(variables: Any) -> tuple[str, ...]:
    if isinstance(variables, str) or not isinstance(variables, Sequence):
        raise TypeError(
            f"variables must be a list of names such as ['x', 'y'], got {variables!r} "
            f"({type(variables).__name__})"
        )
    if not variables:
        raise ValueError("variables is empty; name at least one input, e.g. ['x']")
    for name in variables:
        if not isinstance(name, str):
            raise TypeError(f"every variable name must be a string, got {name!r} ({type(name).__name__}) in {list(variables)}")
        if not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(
                f"variable name {name!r} is not a valid Python identifier or is a keyword; use names "
                f"such as x, y, x1 or t"
            )
    repeated = sorted({name for name in variables if list(variables).count(name) > 1})
    if repeated:
        raise ValueError(f"variables {list(variables)} name {repeated} more than once; give every input its own name")
    return tuple(variables)


def _check_domain(domain: Any, variables: Sequence[str]) -> Box:
    if domain is None:
        return Box.cube(len(variables), -1.0, 1.0)
    if isinstance(domain, str) or not isinstance(domain, Sequence) or len(domain) != len(variables):
        raise ValueError(
            f"domain must be a list of {len(variables)} [low, high] pair(s), one per variable "
            f"{list(variables)}, got {domain!r}; null means [-1, 1] for every variable"
        )
    lower, upper = [], []
    for name, bounds in zip(variables, domain):
        valid = (
            isinstance(bounds, Sequence)
            and not isinstance(bounds, str)
            and len(bounds) == 2
            and all(_is_real(bound) and math.isfinite(bound) for bound in bounds)
        )
        if not valid or not bounds[0] < bounds[1]:
            raise ValueError(
                f"the domain of variable {name!r} must be a pair [low, high] of finite numbers with "
                f"low < high, got {bounds!r}"
            )
        lower.append(float(bounds[0]))
        upper.append(float(bounds[1]))
    return Box(tuple(lower), tuple(upper))


def _check_sampling(name: str, method: Any) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown {name} method {method!r}; choose one of {list(METHODS)}")


def _check_noise(noise: Any) -> float:
    if not (_is_real(noise) and math.isfinite(noise) and noise >= 0):
        raise ValueError(
            f"noise (the standard deviation of the noise on the training targets) must be a finite "
            f"non-negative number, got {noise!r}; 0 means exact targets"
        )
    return float(noise)


def _check_data_seed(data_seed: Any) -> int:
    if isinstance(data_seed, bool) or not isinstance(data_seed, int) or data_seed < 0:
        raise ValueError(f"data_seed must be a non-negative integer, got {data_seed!r}")
    return data_seed


def _check_test_fraction(test_fraction: Any) -> float:
    if not (_is_real(test_fraction) and 0 < test_fraction < 1):
        raise ValueError(
            f"test_fraction must be a number above 0 and below 1, got {test_fraction!r}; for example "
            f"0.2 keeps a fifth of the rows for testing"
        )
    return float(test_fraction)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _mesh_side(count: int, dim: int) -> int:
    """Return the points per axis of the mesh nearest to count points in dim dimensions, at least 2."""
    return max(round(count ** (1.0 / dim)), 2)


def _log_ignored(settings: Mapping[str, Any], source: str) -> None:
    """Log the settings, given as {name: value}, that differ from their defaults but do not apply to the data source."""
    defaults = inspect.signature(Regression.__init__).parameters
    changed = [f"{name}={value!r}" for name, value in settings.items() if value != defaults[name].default]
    if changed:
        logger.info("settings ignored by a problem built from %s: %s", source, ", ".join(changed))
