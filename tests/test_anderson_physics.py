"""Quasiperiodic chains with mobility edges: Hamiltonians, localization, analytic edges and data sets."""

import logging
import math

import numpy as np
import pytest
from scipy.linalg import eigh

from kanpde.problems import anderson_physics
from kanpde.problems.anderson_physics import (
    MODELS,
    PARAMETER_NAMES,
    AndersonData,
    check_settings,
    energy_edge,
    fibonacci_approximant,
    generate_data,
    hamiltonian,
    lambda_edge_mosaic,
    localization,
    order_parameter,
    split_by_hamiltonian,
)

LOGGER = "kanpde.problems.anderson_physics"

# The module builds the phases x_n from the integers (F_(k+1)*n) mod N, and the tests write
# 2*pi*b*n + phi in floats. At n <= 987 the two differ by about 1e-13 rad, so 1e-10 is a wide margin.
PHASE_ROUND_OFF = 1e-10

# Eigenvalues of two 144-site Hamiltonians that are the same chain agree to about 1e-13.
EIGENVALUE_ROUND_OFF = 1e-9

# A plane wave cos(k*n + theta) has N*IPR = 1.5, and 2 at k = pi/2 and theta = 0 (every second
# site empty); the uniform state has 1. Real eigenvectors of a clean periodic chain are such waves.
CLEAN_N_IPR_RANGE = (1.0, 2.0)
IPR_ROUND_OFF = 1e-9

# GAAM with lambda = 5 at N = 144 gave a largest fractal dimension of 0.144 (localization length
# below one site); 0.2 is the bound for "near 0".
STRONG_DISORDER_MAX_D = 0.2

# At these parameter points, with four phases, analytic and numeric labels agreed on every state
# (GAAM and MAAM at N = 987, mosaic at N = 610); 0.99 leaves room for a few states at the edge.
FIXED_POINT_AGREEMENT = 0.99

# Random mosaic data at N = 144, lambda in (0.3, 1.2), 12 Hamiltonians: the analytic labels agreed
# on 96.6-99.3% of the states (seeds 3 to 5, misses near the edge, where localization lengths exceed
# what 144 sites resolve), the edge of the 2*lambda*cos convention (lambda_c = 1/|E|) on 60-67%.
# The right convention must score at least 0.95 and a wrong one at most 0.8.
RANDOM_AGREEMENT = 0.95
WRONG_CONVENTION_AGREEMENT = 0.8

# A share of analytically localized states in this range shows that both sides of the edge are in
# the spectrum of a fixed point, so its agreement check can fail.
MIXED_SHARE = (0.1, 0.9)

PHASES = (0.37, 1.91, 3.05, 4.66)

RANGES = {
    "mosaic": {"lambda": (0.3, 1.2)},
    "gaam": {"alpha": (-0.8, 0.8), "lambda": (0.2, 2.0)},
    "maam": {"p": (0.5, 2.5), "lambda": (0.5, 3.0)},
}


def numeric_and_analytic_labels(model, n_sites, parameters, phases=PHASES, kappa=2):
    """Return numeric (D < 0.5) and analytic (g > 0) labels of every state over the phases."""
    numeric, analytic = [], []
    for phi in phases:
        energies, vectors = eigh(hamiltonian(model, n_sites, phi, parameters, kappa))
        _, dimension = localization(vectors)
        numeric.append(dimension < 0.5)
        analytic.append(order_parameter(model, energies, parameters, kappa) > 0)
    return np.concatenate(numeric), np.concatenate(analytic)


def small_data(model="gaam", n_hamiltonians=6, seed=0, cache_dir=None, **kwargs):
    settings = {"n_sites": 55, "states_per_hamiltonian": 10, "kappa": 2, **kwargs}
    if model == "mosaic":
        settings["n_sites"] = kwargs.get("n_sites", 144)
    return generate_data(
        model, n_hamiltonians, parameter_ranges=RANGES[model], seed=seed, cache_dir=cache_dir, **settings
    )


def assert_same_data(first, second):
    assert first.feature_names == second.feature_names
    assert first.settings == second.settings
    for name in anderson_physics.ARRAY_NAMES:
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name), err_msg=name)


@pytest.fixture
def no_diagonalization(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("scipy.linalg.eigh was called")

    monkeypatch.setattr(anderson_physics, "eigh", fail)


# --- Fibonacci sizes ---------------------------------------------------------------------------


@pytest.mark.parametrize("n_sites, b", [(144, 233 / 144), (610, 987 / 610), (987, 1597 / 987), (2, 3 / 2)])
def test_fibonacci_approximant_values(n_sites, b):
    assert fibonacci_approximant(n_sites) == b


@pytest.mark.parametrize("n_sites", [600, 4, 1, 0, 144.0])
def test_fibonacci_approximant_rejects_others(n_sites):
    with pytest.raises(ValueError, match="Fibonacci number"):
        fibonacci_approximant(n_sites)


def test_fibonacci_rejection_names_nearest():
    with pytest.raises(ValueError, match="the nearest ones are 377 and 610"):
        fibonacci_approximant(600)


# --- Hamiltonians ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("boundary, n_sites", [("periodic", 144), ("open", 40)])
def test_hamiltonian_symmetric_float64(model, boundary, n_sites):
    parameters = {"mosaic": {"lambda": 1.3}, "gaam": {"alpha": 0.4, "lambda": 0.7}, "maam": {"p": 0.8, "lambda": 1.5}}
    matrix = hamiltonian(model, n_sites, 0.7, parameters[model], boundary=boundary)
    assert matrix.shape == (n_sites, n_sites)
    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix, matrix.T)


def expected_phases(n_sites, phi, b):
    return 2 * np.pi * b * np.arange(1, n_sites + 1) + phi


@pytest.mark.parametrize("n_sites", [144, 987])
def test_gaam_potential_formula(n_sites):
    alpha, strength, phi = -0.6, 1.7, 2.2
    matrix = hamiltonian("gaam", n_sites, phi, {"alpha": alpha, "lambda": strength})
    cos_x = np.cos(expected_phases(n_sites, phi, fibonacci_approximant(n_sites)))
    expected = 2 * strength * cos_x / (1 - alpha * cos_x)
    np.testing.assert_allclose(np.diag(matrix), expected, rtol=0, atol=PHASE_ROUND_OFF * 2 * strength / (1 - abs(alpha)) ** 2)


def test_open_chain_uses_golden_ratio():
    golden = (1 + math.sqrt(5)) / 2
    matrix = hamiltonian("maam", 50, 0.4, {"p": 1.0, "lambda": 0.9}, boundary="open")
    expected = 0.9 * np.cos(expected_phases(50, 0.4, golden))
    np.testing.assert_allclose(np.diag(matrix), expected, rtol=0, atol=PHASE_ROUND_OFF)


@pytest.mark.parametrize("kappa", [2, 3])
def test_mosaic_potential_on_every_kappa_site(kappa):
    strength, phi = 1.3, 0.9
    matrix = hamiltonian("mosaic", 144, phi, {"lambda": strength}, kappa=kappa)
    potential = np.diag(matrix)
    sites = np.arange(1, 145)
    on = sites % kappa == 0
    x = expected_phases(144, phi, fibonacci_approximant(144))
    # lambda*cos(x_n) with no factor 2, and exactly zero elsewhere.
    np.testing.assert_allclose(potential[on], strength * np.cos(x[on]), rtol=0, atol=PHASE_ROUND_OFF)
    np.testing.assert_array_equal(potential[~on], 0.0)


def test_mosaic_potential_reaches_lambda():
    # Over 72 quasiperiodic phases max |cos| is close to 1, so the largest |V_n| is close to lambda, not 2*lambda.
    potential = np.diag(hamiltonian("mosaic", 144, 0.5, {"lambda": 1.0}))
    assert np.abs(potential).max() > 0.99
    assert np.abs(potential).max() <= 1.0


@pytest.mark.parametrize("model", ["mosaic", "gaam"])
@pytest.mark.parametrize("boundary", ["periodic", "open"])
def test_nearest_neighbour_hopping(model, boundary):
    parameters = {"mosaic": {"lambda": 1.0}, "gaam": {"alpha": 0.5, "lambda": 1.0}}[model]
    matrix = hamiltonian(model, 144, 0.3, parameters, boundary=boundary)
    hopping = matrix - np.diag(np.diag(matrix))
    expected = np.diag(np.ones(143), 1) + np.diag(np.ones(143), -1)
    if boundary == "periodic":
        expected[0, -1] = expected[-1, 0] = 1.0
    np.testing.assert_array_equal(hopping, expected)


@pytest.mark.parametrize("n_sites, boundary", [(13, "periodic"), (8, "periodic"), (9, "open")])
def test_maam_hopping_each_pair_once(n_sites, boundary):
    p, strength, phi = 0.7, 1.4, 1.1
    matrix = hamiltonian("maam", n_sites, phi, {"p": p, "lambda": strength}, boundary=boundary)
    expected = np.zeros((n_sites, n_sites))
    for i in range(n_sites):
        for j in range(n_sites):
            if i == j:
                continue
            distance = abs(i - j)
            if boundary == "periodic":
                distance = min(distance, n_sites - distance)
            # t*exp(-p*d) with t = exp(p), written into H[i, j] only, never added twice.
            expected[i, j] = math.exp(p) * math.exp(-p * distance)
    off_diagonal = matrix - np.diag(np.diag(matrix))
    np.testing.assert_allclose(off_diagonal, expected, rtol=1e-14, atol=0)
    b = fibonacci_approximant(n_sites) if boundary == "periodic" else (1 + math.sqrt(5)) / 2
    np.testing.assert_allclose(np.diag(matrix), strength * np.cos(expected_phases(n_sites, phi, b)), rtol=0, atol=PHASE_ROUND_OFF)


def test_maam_nearest_hopping_is_one():
    matrix = hamiltonian("maam", 144, 0.3, {"p": 2.0, "lambda": 0.0})
    assert matrix[0, 1] == 1.0
    assert matrix[0, 143] == 1.0
    assert matrix[0, 72] == pytest.approx(math.exp(-2.0 * 71), rel=1e-14)


@pytest.mark.parametrize(
    "model, parameters",
    [("mosaic", {"lambda": 1.2}), ("maam", {"p": 1.0, "lambda": 2.0}), ("gaam", {"alpha": 0.5, "lambda": 0.5})],
)
def test_sign_of_lambda_is_phase_shift(model, parameters):
    # V(-lambda, phi) = V(lambda, phi + pi) for mosaic and MAAM, and (lambda, alpha) -> (-lambda,
    # -alpha) for GAAM, so the analytic edges depend on |lambda| (and sgn(lambda)*alpha).
    flipped = {name: -value if name in ("lambda", "alpha") else value for name, value in parameters.items()}
    shifted = np.linalg.eigvalsh(hamiltonian(model, 144, 0.4 + math.pi, parameters))
    negative = np.linalg.eigvalsh(hamiltonian(model, 144, 0.4, flipped))
    np.testing.assert_allclose(negative, shifted, rtol=0, atol=EIGENVALUE_ROUND_OFF)
    energies = np.linspace(-3, 3, 13)
    np.testing.assert_array_equal(
        order_parameter(model, energies, flipped), order_parameter(model, energies, parameters)
    )


# --- localization ------------------------------------------------------------------------------


def test_localization_of_basis_and_uniform():
    vectors = np.column_stack([np.eye(8)[:, 3], np.full(8, 5.0), -np.eye(8)[:, 0] * 2])
    ipr, dimension = localization(vectors)
    np.testing.assert_allclose(ipr, [1.0, 1 / 8, 1.0], rtol=1e-14)
    np.testing.assert_allclose(dimension, [0.0, 1.0, 0.0], rtol=0, atol=1e-14)


@pytest.mark.parametrize(
    "vectors, message",
    [
        (np.ones(5), r"shaped \(N, K\)"),
        (np.ones((1, 3)), r"N >= 2"),
        (np.zeros((4, 2)), r"column\(s\) \[0, 1\] are zero"),
        (np.full((4, 2), np.nan), "NaN or infinite"),
    ],
)
def test_localization_rejects_bad_vectors(vectors, message):
    with pytest.raises(ValueError, match=message):
        localization(vectors)


@pytest.mark.parametrize("model", MODELS)
def test_clean_chain_extended(model):
    parameters = {"mosaic": {"lambda": 0.0}, "gaam": {"alpha": 0.5, "lambda": 0.0}, "maam": {"p": 1.0, "lambda": 0.0}}
    _, vectors = eigh(hamiltonian(model, 144, 0.37, parameters[model]))
    ipr, _ = localization(vectors)
    low, high = CLEAN_N_IPR_RANGE
    assert np.all(144 * ipr >= low - IPR_ROUND_OFF)
    assert np.all(144 * ipr <= high + IPR_ROUND_OFF)


@pytest.mark.parametrize("alpha", [0.5, -0.5])
def test_strong_disorder_localized(alpha):
    _, vectors = eigh(hamiltonian("gaam", 144, 0.37, {"alpha": alpha, "lambda": 5.0}))
    _, dimension = localization(vectors)
    assert dimension.max() < STRONG_DISORDER_MAX_D


# --- analytic edges ----------------------------------------------------------------------------


def test_energy_edge_examples():
    assert energy_edge("gaam", {"alpha": 0.5, "lambda": 0.5}) == pytest.approx(2.0, rel=1e-15)
    assert energy_edge("maam", {"p": 1.0, "lambda": 2.0}) == pytest.approx(math.exp(-1), rel=1e-14)


def test_energy_edge_vectorized():
    edges = energy_edge("gaam", {"alpha": np.array([0.5, -0.5, 0.0]), "lambda": 0.5})
    np.testing.assert_allclose(edges[:2], [2.0, -2.0], rtol=1e-15)
    assert np.isnan(edges[2])


def test_energy_edge_none_without_disorder():
    assert np.isnan(energy_edge("gaam", {"alpha": 0.5, "lambda": 0.0}))
    assert order_parameter("gaam", 3.0, {"alpha": 0.5, "lambda": 0.0}) == -2.0


def test_energy_edge_rejects_mosaic():
    with pytest.raises(ValueError, match="use lambda_edge_mosaic"):
        energy_edge("mosaic", {"lambda": 1.0})


def test_lambda_edge_mosaic_values():
    energies = np.array([-3.0, -2.0, 0.5, 2.0, 4.0])
    np.testing.assert_allclose(lambda_edge_mosaic(energies), 2 / np.abs(energies), rtol=1e-15)
    # U_2(E/2) = E^2 - 1 for kappa = 3.
    np.testing.assert_allclose(lambda_edge_mosaic(energies, kappa=3), 2 / np.abs(energies**2 - 1), rtol=1e-14)


def test_mosaic_zero_energy_never_localized():
    # U_1(0) = 0 gives lambda_c = inf; no RuntimeWarning (pytest turns those into errors here).
    assert lambda_edge_mosaic(0.0) == math.inf
    assert order_parameter("mosaic", 0.0, {"lambda": 100.0}) == -math.inf


@pytest.mark.parametrize(
    "model, parameters, localized_energy, extended_energy",
    [
        ("gaam", {"alpha": 0.5, "lambda": 0.5}, 2.1, 1.9),
        ("gaam", {"alpha": -0.5, "lambda": 0.5}, -2.1, -1.9),
        ("maam", {"p": 1.0, "lambda": 2.0}, 0.3, 0.4),
        ("mosaic", {"lambda": 1.0}, -2.1, 1.9),
    ],
)
def test_order_parameter_sides(model, parameters, localized_energy, extended_energy):
    assert order_parameter(model, localized_energy, parameters) > 0
    assert order_parameter(model, extended_energy, parameters) < 0


def test_order_parameter_zero_at_edge():
    parameters = {"alpha": np.array([0.3, -0.7]), "lambda": np.array([0.6, 1.4])}
    edges = energy_edge("gaam", parameters)
    np.testing.assert_allclose(order_parameter("gaam", edges, parameters), 0.0, rtol=0, atol=1e-14)
    parameters = {"p": np.array([0.5, 2.0]), "lambda": np.array([1.0, 3.0])}
    edges = energy_edge("maam", parameters)
    np.testing.assert_allclose(order_parameter("maam", edges, parameters), 0.0, rtol=0, atol=1e-13)


@pytest.mark.parametrize(
    "model, n_sites, parameters",
    [
        ("gaam", 987, {"alpha": 0.5, "lambda": 0.5}),  # E_c = 2, states above it localized
        ("maam", 987, {"p": 1.0, "lambda": 2.0}),  # E_c = exp(-1), states below it localized
        ("mosaic", 610, {"lambda": 1.0}),  # kappa = 2, edges at E = -2 and 2
    ],
)
def test_analytic_labels_match_numeric(model, n_sites, parameters):
    numeric, analytic = numeric_and_analytic_labels(model, n_sites, parameters)
    assert analytic.mean() > MIXED_SHARE[0]
    assert analytic.mean() < MIXED_SHARE[1]
    assert np.mean(numeric == analytic) >= FIXED_POINT_AGREEMENT


# --- wrong conventions must fail ---------------------------------------------------------------


def test_random_mosaic_data_agrees():
    data = generate_data("mosaic", 12, 144, RANGES["mosaic"], None, seed=3)
    assert np.mean(data.labels == data.analytic_labels) >= RANDOM_AGREEMENT


def test_mosaic_factor_two_guard_fails():
    # Wang et al., PRL 125, 196604 (2020) write the potential as 2*lambda*cos(x_n), with lambda_c =
    # 1/|E| for kappa = 2. Applied to these chains, that edge is the order parameter at 2*lambda.
    data = generate_data("mosaic", 12, 144, RANGES["mosaic"], None, seed=3)
    energy, strength = data.features[:, 0], data.features[:, 1]
    wrong = order_parameter("mosaic", energy, {"lambda": 2 * strength}) > 0
    assert np.mean(data.labels == wrong) <= WRONG_CONVENTION_AGREEMENT


@pytest.mark.parametrize("model", MODELS)
def test_wrong_side_guard_fails(model):
    data = small_data(model, n_hamiltonians=12, seed=4, n_sites=144)
    wrong = (data.order_parameter < 0).astype(np.float64)
    assert np.mean(data.labels == data.analytic_labels) >= RANDOM_AGREEMENT
    assert np.mean(data.labels == wrong) <= WRONG_CONVENTION_AGREEMENT


# --- data sets ---------------------------------------------------------------------------------


def test_data_columns_and_shapes():
    data = small_data("maam", n_hamiltonians=6)
    assert isinstance(data, AndersonData)
    assert data.feature_names == ("E", "p", "lambda", "phi")
    assert data.features.shape == (60, 4)
    assert len(data) == 60
    for name in ("labels", "fractal_dimension", "ipr", "order_parameter"):
        assert getattr(data, name).shape == (60,)
        assert getattr(data, name).dtype == np.float64
    assert data.hamiltonian_id.dtype == np.int64
    np.testing.assert_array_equal(np.unique(data.hamiltonian_id), np.arange(6))
    assert set(np.unique(data.labels)) <= {0.0, 1.0}


def test_data_rows_match_their_hamiltonian():
    data = small_data("gaam", n_hamiltonians=3)
    rows = data.hamiltonian_id == 1
    energy, alpha, strength, phi = data.features[rows].T
    assert np.all(alpha == alpha[0])
    assert np.all(phi == phi[0])
    assert phi[0] > 0
    assert phi[0] < 2 * math.pi
    # The driver of generate_data: eigenvectors of near-degenerate pairs depend on the driver.
    matrix = hamiltonian("gaam", 55, phi[0], {"alpha": alpha[0], "lambda": strength[0]})
    energies, vectors = eigh(matrix, driver="evd")
    columns = np.abs(energies[:, None] - energy[None, :]).argmin(axis=0)
    np.testing.assert_allclose(energies[columns], energy, rtol=0, atol=EIGENVALUE_ROUND_OFF)
    ipr, dimension = localization(vectors[:, columns])
    np.testing.assert_allclose(data.ipr[rows], ipr, rtol=IPR_ROUND_OFF, atol=0)
    np.testing.assert_array_equal(data.labels[rows], (dimension < 0.5).astype(np.float64))
    np.testing.assert_array_equal(
        data.order_parameter[rows], order_parameter("gaam", energy, {"alpha": alpha, "lambda": strength})
    )


def test_parameters_within_ranges():
    data = small_data("gaam", n_hamiltonians=30)
    for column, name in enumerate(PARAMETER_NAMES["gaam"], start=1):
        low, high = RANGES["gaam"][name]
        assert data.features[:, column].min() >= low
        assert data.features[:, column].max() <= high


def test_open_boundary_data():
    # Open chains need no Fibonacci size, and the mosaic chain no multiple of kappa. Edge states in
    # the gaps cost a few labels: 97.4% agreed for GAAM at N = 200 (12 Hamiltonians, seed 1).
    data = generate_data("gaam", 12, 200, RANGES["gaam"], None, boundary="open", seed=1)
    assert np.mean(data.labels == data.analytic_labels) >= RANDOM_AGREEMENT
    mosaic = generate_data("mosaic", 2, 201, RANGES["mosaic"], 5, boundary="open")
    assert len(mosaic) == 10


def test_range_pairs_as_arrays():
    data = generate_data("maam", 2, 55, {"p": np.array([1.0, 2.0]), "lambda": [0.5, 1.0]}, 5)
    assert len(data) == 10


def test_fixed_parameter_range():
    data = generate_data("gaam", 3, 55, {"alpha": (0.5, 0.5), "lambda": (0.2, 2.0)}, 5)
    assert np.all(data.features[:, 1] == 0.5)


@pytest.mark.parametrize("states", [None, 55, 1000])
def test_all_states_kept(states):
    data = generate_data("gaam", 2, 55, RANGES["gaam"], states)
    assert len(data) == 110
    assert data.settings["states_per_hamiltonian"] == 55


def test_same_seed_same_data():
    assert_same_data(small_data(seed=5), small_data(seed=5))


def test_other_seed_other_data():
    first, second = small_data(seed=5), small_data(seed=6)
    assert not np.array_equal(first.features, second.features)


def test_hamiltonian_independent_of_count():
    # Each Hamiltonian's stream depends only on (seed, index), so the first three of six are the
    # three of a shorter run.
    short = small_data(n_hamiltonians=3, seed=2)
    long = small_data(n_hamiltonians=6, seed=2)
    rows = long.hamiltonian_id < 3
    np.testing.assert_array_equal(long.features[rows], short.features)
    np.testing.assert_array_equal(long.labels[rows], short.labels)


def test_progress_logged(caplog):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        small_data(n_hamiltonians=20)
    progress = [record.getMessage() for record in caplog.records if record.getMessage().startswith("generated ")]
    assert len(progress) == 10
    assert progress[0].startswith("generated 2/20 Hamiltonians | ")
    assert progress[-1].startswith("generated 20/20 Hamiltonians | ")


def test_progress_of_few_hamiltonians(caplog):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        small_data(n_hamiltonians=3)
    progress = [record.getMessage() for record in caplog.records if record.getMessage().startswith("generated ")]
    assert [message.split(" |")[0] for message in progress] == [
        "generated 1/3 Hamiltonians", "generated 2/3 Hamiltonians", "generated 3/3 Hamiltonians"
    ]


# --- cache -------------------------------------------------------------------------------------


def cache_files(folder):
    return sorted(folder.iterdir())


def test_cache_written_then_read(tmp_path, monkeypatch, caplog):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        first = small_data(cache_dir=tmp_path)
    (path,) = cache_files(tmp_path)
    assert path.name.startswith("anderson-")
    assert path.suffix == ".npz"
    assert f"wrote 60 states to cache file {path}" in caplog.text

    def fail(*args, **kwargs):
        raise AssertionError("the cached data set was generated again")

    monkeypatch.setattr(anderson_physics, "eigh", fail)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        second = small_data(cache_dir=tmp_path)
    assert f"read 60 states from cache file {path}" in caplog.text
    assert_same_data(first, second)


def test_cache_name_follows_settings(tmp_path):
    small_data(cache_dir=tmp_path)
    small_data(cache_dir=tmp_path, threshold=0.6)
    small_data(cache_dir=tmp_path, seed=1)
    assert len(cache_files(tmp_path)) == 3


def test_cache_ignores_kappa_of_other_models(tmp_path):
    small_data("gaam", cache_dir=tmp_path, kappa=2)
    small_data("gaam", cache_dir=tmp_path, kappa=3)
    assert len(cache_files(tmp_path)) == 1


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def edit_label(path):
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["labels"] = 1.0 - arrays["labels"]
    np.savez(path, **arrays)


def drop_array(path):
    with np.load(path) as archive:
        arrays = dict(archive)
    del arrays["ipr"]
    np.savez(path, **arrays)


def replace_with_text(path):
    path.write_text("not an npz archive")


def relabel_with_checksum(path):
    # A consistent checksum over labels that do not follow from the fractal dimensions.
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["labels"] = 1.0 - arrays["labels"]
    names = tuple(str(name) for name in arrays["feature_names"])
    arrays["checksum"] = np.array(anderson_physics._array_checksum(arrays, names, str(arrays["settings_json"])))
    np.savez(path, **arrays)


def swap_settings(path):
    # A file with a valid checksum, but for other settings, stored under this name.
    other = small_data(seed=9)
    anderson_physics._write_cache(path, other)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (truncate, "could not be read"),
        (edit_label, "checksum does not match"),
        (drop_array, "contains the arrays"),
        (replace_with_text, "could not be read"),
        (swap_settings, "written for other settings"),
        (relabel_with_checksum, "labels do not follow"),
    ],
)
def test_damaged_cache_regenerated(tmp_path, caplog, damage, reason):
    original = small_data(cache_dir=tmp_path)
    (path,) = cache_files(tmp_path)
    damage(path)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        again = small_data(cache_dir=tmp_path)
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0]
    assert reason in warnings[0]
    assert f"wrote 60 states to cache file {path}" in caplog.text
    assert_same_data(original, again)
    assert cache_files(tmp_path) == [path]
    assert_same_data(original, anderson_physics._read_cache(path, original.settings))


def test_damaged_cache_deleted_first(tmp_path, monkeypatch):
    # The damaged file is gone even when generating the data again fails.
    small_data(cache_dir=tmp_path)
    (path,) = cache_files(tmp_path)
    truncate(path)

    def fail(*args, **kwargs):
        raise RuntimeError("diagonalization stopped by the test")

    monkeypatch.setattr(anderson_physics, "eigh", fail)
    with pytest.raises(RuntimeError, match="stopped by the test"):
        small_data(cache_dir=tmp_path)
    assert cache_files(tmp_path) == []


def test_cache_leaves_no_temporary_file(tmp_path):
    small_data(cache_dir=tmp_path)
    assert [path.suffix for path in cache_files(tmp_path)] == [".npz"]


def test_cache_folder_created(tmp_path):
    folder = tmp_path / "a" / "b"
    small_data(cache_dir=folder)
    assert len(cache_files(folder)) == 1


def test_cache_dir_that_is_a_file_rejected(tmp_path, no_diagonalization):
    path = tmp_path / "cache"
    path.write_text("")
    with pytest.raises(ValueError, match="exists but is not a folder"):
        small_data(cache_dir=path)


# --- splits ------------------------------------------------------------------------------------


def test_split_by_hamiltonian_disjoint():
    data = small_data(n_hamiltonians=20)
    train, validation, test = split_by_hamiltonian(data)
    ids = [set(part.hamiltonian_id.tolist()) for part in (train, validation, test)]
    assert not ids[0] & ids[1]
    assert not ids[0] & ids[2]
    assert not ids[1] & ids[2]
    assert ids[0] | ids[1] | ids[2] == set(range(20))
    assert [len(part_ids) for part_ids in ids] == [14, 3, 3]
    assert [len(part) for part in (train, validation, test)] == [140, 30, 30]


def test_split_keeps_rows_whole():
    data = small_data(n_hamiltonians=10)
    train, _, _ = split_by_hamiltonian(data, fractions=(0.5, 0.2, 0.3))
    rows = np.isin(data.hamiltonian_id, train.hamiltonian_id)
    np.testing.assert_array_equal(train.features, data.features[rows])
    np.testing.assert_array_equal(train.labels, data.labels[rows])
    assert [len(np.unique(part.hamiltonian_id)) for part in split_by_hamiltonian(data, (0.5, 0.2, 0.3))] == [5, 2, 3]


def test_split_deterministic():
    data = small_data(n_hamiltonians=20)
    first = split_by_hamiltonian(data, seed=1)
    second = split_by_hamiltonian(data, seed=1)
    other = split_by_hamiltonian(data, seed=2)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.hamiltonian_id, b.hamiltonian_id)
    assert not np.array_equal(np.unique(first[2].hamiltonian_id), np.unique(other[2].hamiltonian_id))


def test_split_of_three_hamiltonians():
    parts = split_by_hamiltonian(small_data(n_hamiltonians=3))
    assert [len(np.unique(part.hamiltonian_id)) for part in parts] == [1, 1, 1]


def test_split_too_few_hamiltonians():
    with pytest.raises(ValueError, match="has 2 Hamiltonian"):
        split_by_hamiltonian(small_data(n_hamiltonians=2))


@pytest.mark.parametrize("fractions", [(0.7, 0.3, 0.0), (0.5, 0.5), (0.6, 0.3, 0.3), "abc", (0.8, -0.1, 0.3)])
def test_split_bad_fractions(fractions):
    data = small_data(n_hamiltonians=3)
    with pytest.raises(ValueError, match="fractions must be three numbers above 0 that sum to 1"):
        split_by_hamiltonian(data, fractions=fractions)


# --- invalid settings --------------------------------------------------------------------------


BAD_SETTINGS = [
    ({"model": "aubry"}, r"unknown model 'aubry'; choose one of \['mosaic', 'gaam', 'maam'\]"),
    ({"model": "mosaic", "parameter_ranges": {"lambda": (0, 1)}, "kappa": 1}, "kappa .* integer of at least 2, got 1"),
    ({"model": "mosaic", "parameter_ranges": {"lambda": (0, 1)}, "kappa": 2.5}, "kappa .* integer of at least 2, got 2.5"),
    ({"model": "mosaic", "parameter_ranges": {"lambda": (0, 1)}, "kappa": True}, "kappa .* got True"),
    ({"parameter_ranges": {"alpha": (-1.0, 0.5), "lambda": (0, 1)}}, r"alpha must satisfy \|alpha\| < 1, got -1.0"),
    ({"parameter_ranges": {"alpha": (0.0, 1.2), "lambda": (0, 1)}}, r"alpha must satisfy \|alpha\| < 1, got 1.2"),
    ({"model": "maam", "parameter_ranges": {"p": (0.0, 1.0), "lambda": (0, 1)}}, "p must be positive, got 0.0"),
    ({"model": "maam", "parameter_ranges": {"p": (-1.0, 1.0), "lambda": (0, 1)}}, "p must be positive, got -1.0"),
    ({"n_sites": 600}, "n_sites 600 is not a Fibonacci number.*such as 377 or 610, or boundary='open'"),
    ({"n_sites": 2}, "too small for periodic boundaries"),
    ({"n_sites": 144.0}, "n_sites must be an integer, got 144.0"),
    ({"model": "mosaic", "parameter_ranges": {"lambda": (0, 1)}, "n_sites": 377}, "n_sites 377 is not a multiple of kappa 2"),
    ({"model": "mosaic", "parameter_ranges": {"lambda": (0, 1)}, "kappa": 4}, "n_sites 55 is not a multiple of kappa 4"),
    ({"model": "mosaic", "parameter_ranges": {"lambda": (0, 1)}, "kappa": 3, "n_sites": 2, "boundary": "open"}, "use at least 3"),
    ({"n_sites": 1, "boundary": "open"}, "use at least 2"),
    ({"threshold": 0}, "threshold .* above 0 and below 1, got 0"),
    ({"threshold": 1.0}, "threshold .* got 1.0"),
    ({"threshold": 1.5}, "threshold .* got 1.5"),
    ({"boundary": "closed"}, r"unknown boundary 'closed'; choose one of \['periodic', 'open'\]"),
    ({"parameter_ranges": {"alpha": (0.5, -0.5), "lambda": (0, 1)}}, r"range of alpha has low > high, got \(0.5, -0.5\)"),
    ({"parameter_ranges": {"alpha": (0, 0.5), "lambda": (0, 1), "beta": (0, 1)}}, r"unknown parameter\(s\) \['beta'\] .* \['alpha', 'lambda'\]"),
    ({"parameter_ranges": {"lambda": (0, 1)}}, r"no range for \['alpha'\]"),
    ({"parameter_ranges": {"alpha": (0, 0.5), "lambda": (0, math.inf)}}, "lambda must be a finite number, got inf"),
    ({"parameter_ranges": {"alpha": 0.5, "lambda": (0, 1)}}, r"range of alpha must be a pair \(low, high\)"),
    ({"parameter_ranges": [("alpha", (0, 1))]}, "parameter_ranges must be a dict"),
]


def call_generate(settings):
    arguments = {
        "model": "gaam",
        "n_hamiltonians": 4,
        "n_sites": 55,
        "parameter_ranges": {"alpha": (-0.5, 0.5), "lambda": (0.2, 2.0)},
        "states_per_hamiltonian": 5,
        **settings,
    }
    return generate_data(**arguments)


@pytest.mark.parametrize("settings, message", BAD_SETTINGS)
def test_invalid_settings_rejected(settings, message, no_diagonalization):
    with pytest.raises(ValueError, match=message):
        call_generate(settings)


@pytest.mark.parametrize("settings, message", BAD_SETTINGS)
def test_check_settings_rejects(settings, message):
    arguments = {"model": "gaam", "n_sites": 55, "parameter_ranges": {"alpha": (-0.5, 0.5), "lambda": (0.2, 2.0)}, **settings}
    with pytest.raises(ValueError, match=message):
        check_settings(**arguments)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"n_hamiltonians": 0}, "n_hamiltonians must be a positive integer, got 0"),
        ({"states_per_hamiltonian": 0}, "states_per_hamiltonian must be a positive integer or None"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
        ({"seed": 1.5}, "seed must be a non-negative integer, got 1.5"),
    ],
)
def test_invalid_counts_rejected(settings, message, no_diagonalization):
    with pytest.raises(ValueError, match=message):
        call_generate(settings)


def test_valid_settings_pass():
    check_settings("mosaic", 144, kappa=3, parameter_ranges={"lambda": (0.5, 0.5)})
    check_settings("gaam", 11, boundary="open")
    check_settings("mosaic", 11, boundary="open", kappa=2)


@pytest.mark.parametrize(
    "model, parameters, phi, message",
    [
        ("gaam", {"lambda": 1.0}, 0.3, r"takes the parameters \['alpha', 'lambda'\]"),
        ("gaam", {"alpha": 1.0, "lambda": 1.0}, 0.3, r"\|alpha\| < 1, got 1.0"),
        ("maam", {"p": 0.0, "lambda": 1.0}, 0.3, "p must be positive, got 0.0"),
        ("maam", {"p": 1.0, "lambda": "1"}, 0.3, "parameter lambda must be a real number, got '1'"),
        ("mosaic", {"lambda": 1.0}, math.nan, "phi must be a finite real number"),
    ],
)
def test_hamiltonian_rejects_bad_parameters(model, parameters, phi, message):
    with pytest.raises(ValueError, match=message):
        hamiltonian(model, 144, phi, parameters)


@pytest.mark.parametrize(
    "model, parameters, message",
    [
        ("gaam", {"alpha": np.array([0.5, 1.0]), "lambda": 1.0}, r"\|alpha\| < 1"),
        ("maam", {"p": -1.0, "lambda": 1.0}, "p must be positive"),
        ("maam", {"p": 1.0}, r"takes the parameters \['p', 'lambda'\]"),
        ("mosaic", {"lambda": np.nan}, "must be finite"),
        ("ising", {"lambda": 1.0}, "unknown model 'ising'"),
    ],
)
def test_order_parameter_rejects_bad_parameters(model, parameters, message):
    with pytest.raises(ValueError, match=message):
        order_parameter(model, 0.5, parameters)
