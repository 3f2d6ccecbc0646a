import numpy as np
import pytest
import torch

from kanpde.sampling import Box, mesh, sample_boundary, sample_interior

BOX = Box((-1.0, 0.0), (1.0, 3.0))


@pytest.mark.parametrize("method", ["uniform", "sobol"])
def test_random_interior_inside_box_and_seeded(method):
    points = sample_interior(BOX, 1000, method, np.random.default_rng(5))
    assert points.shape == (1000, 2)
    assert points.dtype == torch.float64
    assert torch.all(points[:, 0] >= -1)
    assert torch.all(points[:, 0] <= 1)
    assert torch.all(points[:, 1] >= 0)
    assert torch.all(points[:, 1] <= 3)
    again = sample_interior(BOX, 1000, method, np.random.default_rng(5))
    assert torch.equal(points, again)
    other = sample_interior(BOX, 1000, method, np.random.default_rng(6))
    assert not torch.equal(points, other)


def test_sobol_fills_box_more_evenly_than_uniform():
    # Discrepancy of a scrambled Sobol set is far below that of independent draws.
    from scipy.stats import qmc

    box = Box.cube(2, 0.0, 1.0)
    sobol = sample_interior(box, 1024, "sobol", np.random.default_rng(0)).numpy()
    uniform = sample_interior(box, 1024, "uniform", np.random.default_rng(0)).numpy()
    assert qmc.discrepancy(sobol) < 0.5 * qmc.discrepancy(uniform)


def test_interior_mesh_is_regular():
    points = sample_interior(BOX, 2601, "mesh")
    assert points.shape == (2601, 2)
    assert len(torch.unique(points[:, 0])) == 51
    torch.testing.assert_close(points.min(0).values, torch.tensor([-1.0, 0.0], dtype=torch.float64))


def test_interior_mesh_count_must_be_power():
    with pytest.raises(ValueError, match="needs n_interior = m\\^2.*got 2600; try one of \\[2500, 2601, 2704\\]"):
        sample_interior(BOX, 2600, "mesh")


@pytest.mark.parametrize("method", ["uniform", "sobol", "mesh"])
def test_boundary_points_lie_on_boundary(method):
    points = sample_boundary(BOX, 400, method, np.random.default_rng(1))
    assert points.shape == (400, 2)
    on_x = torch.isclose(points[:, 0].abs(), torch.tensor(1.0, dtype=torch.float64))
    on_y = torch.isclose(points[:, 1], torch.tensor(0.0, dtype=torch.float64)) | torch.isclose(
        points[:, 1], torch.tensor(3.0, dtype=torch.float64)
    )
    assert torch.all(on_x | on_y)


def test_boundary_uniform_proportional_to_face_length():
    # Faces x = +-1 have length 3 and faces y = 0, 3 have length 2: 60% of points on x faces.
    points = sample_boundary(BOX, 20000, "uniform", np.random.default_rng(2))
    fraction = torch.isclose(points[:, 0].abs(), torch.tensor(1.0, dtype=torch.float64)).double().mean()
    assert abs(fraction.item() - 0.6) < 0.02  # about 6 binomial standard deviations


def test_boundary_mesh_has_no_duplicate_corners():
    points = sample_boundary(Box.cube(2), 200, "mesh")
    assert len(torch.unique(points, dim=0)) == 200


def test_boundary_mesh_count_must_divide_faces():
    with pytest.raises(ValueError, match="n_boundary divisible by 4.*got 202; try 200"):
        sample_boundary(Box.cube(2), 202, "mesh")


def test_boundary_in_one_dimension_is_the_end_points():
    points = sample_boundary(Box.cube(1), 2, "uniform")
    assert points[:, 0].tolist() == [-1.0, 1.0]


def test_three_dimensional_boundary_mesh():
    points = sample_boundary(Box.cube(3), 6 * 16, "mesh")
    assert points.shape == (96, 3)
    assert torch.all((points.abs() == 1).any(dim=1))


@pytest.mark.parametrize("n", [0, -5, 2.5])
def test_non_positive_counts_rejected(n):
    with pytest.raises(ValueError, match="n_interior must be a positive integer"):
        sample_interior(BOX, n)
    with pytest.raises(ValueError, match="n_boundary must be a positive integer"):
        sample_boundary(BOX, n)


def test_unknown_method_rejected():
    with pytest.raises(ValueError, match="unknown sampling method 'halton'"):
        sample_interior(BOX, 10, "halton")


def test_invalid_box_rejected():
    with pytest.raises(ValueError, match="every lower bound must be below its upper bound"):
        Box((0.0,), (0.0,))


def test_mesh_orders_last_axis_fastest():
    points = mesh(Box.cube(2, 0.0, 1.0), [3, 2])
    assert points.tolist() == [[0, 0], [0, 1], [0.5, 0], [0.5, 1], [1, 0], [1, 1]]
