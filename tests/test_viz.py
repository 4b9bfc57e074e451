"""Claims about the plotting helpers: they draw what they are given, return figures, and reject bad input."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from reconleak_core import data, experiments, models, sliders, viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plane_basis_recovers_the_plane_of_subspace_data():
    X, _ = data.sphere(20, 5, subspace_dim=2, seed=3)
    B = viz.plane_basis(X)
    assert torch.allclose(B @ B.T, torch.eye(2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(X @ B.T @ B, X, atol=1e-12)  # projecting on the plane loses nothing


def test_plot_points_2d_draws_every_point_and_link():
    X, y = data.sphere(8, 3, subspace_dim=2)
    C = X[:3] + 0.5
    fig = viz.plot_points_2d(X, C, y=y, candidate_y=y[:3], links=[(0, 0), (1, 1)])
    ax = fig.axes[0]
    sizes = sorted(len(c.get_offsets()) for c in ax.collections)
    assert sizes == [3, 8]
    assert len(ax.lines) == 2


def test_plot_points_2d_rejects_mismatched_dimensions_and_bad_links():
    X, y = data.sphere(6, 3)
    with pytest.raises(ValueError, match="dimension"):
        viz.plot_points_2d(X, torch.zeros(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="out of range"):
        viz.plot_points_2d(X, X[:2], links=[(0, 5)])
    with pytest.raises(ValueError, match="orthonormal"):
        viz.plot_points_2d(X, basis=torch.ones(2, 3))
    with pytest.raises(ValueError, match="labels must be ±1"):
        viz.plot_points_2d(X, y=torch.zeros(6))


def test_activation_regions_count_the_cones_of_the_net():
    net = models.TwoLayerReLU(2, 3, seed=1)
    fig = viz.plot_activation_regions(net, resolution=201)
    image = fig.axes[0].images[0].get_array()
    # three lines through the origin cut the plane into six cones
    assert len(set(image.ravel().tolist())) == 6
    with pytest.raises(ValueError, match="basis"):
        viz.plot_activation_regions(models.TwoLayerReLU(3, 4))


def test_image_grid_lays_out_rows_and_accepts_flat_images():
    fig = viz.image_grid([[torch.rand(16), torch.rand(16)], [torch.rand(4, 4)]], image_shape=(4, 4),
                         titles=[["a", "b"], ["c"]], row_titles=["top", "bottom"])
    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="image_shape"):
        viz.image_grid([[torch.rand(15)]], image_shape=(4, 4))


def test_plot_curves_rejects_curves_of_the_wrong_length():
    fig = viz.plot_curves([1, 2, 3], {"eps": [3.0, 2.0, 1.0]}, xlabel="steps", ylabel="ε", logy=True)
    assert fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="has 2 values"):
        viz.plot_curves([1, 2, 3], {"eps": [1.0, 2.0]}, xlabel="x", ylabel="y")


def test_plot_curves_draws_the_spread_of_a_curve_as_a_band():
    fig = viz.plot_curves([1, 2, 3], {"median": [2.0, 2.0, 2.0], "other": [1.0, 1.0, 1.0]}, xlabel="x", ylabel="y",
                          spread={"median": ([1.5, 1.0, 1.8], [2.5, 3.0, 2.2])})
    bands = fig.axes[0].collections
    assert len(bands) == 1   # one band, for the curve that has a spread
    ys = bands[0].get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(1.0) and ys.max() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="unknown"):
        viz.plot_curves([1, 2], {"a": [1, 2]}, xlabel="x", ylabel="y", spread={"b": ([0, 0], [1, 1])})
    with pytest.raises(ValueError, match="as long as x"):
        viz.plot_curves([1, 2], {"a": [1, 2]}, xlabel="x", ylabel="y", spread={"a": ([0], [1])})


def test_scrub_animation_has_one_frame_per_value_and_no_cdn_icons():
    drawn = []

    def draw(fig, value):
        drawn.append(value)
        fig.add_subplot().plot([0, value])

    html = sliders.scrub_animation(draw, [1.0, 2.0, 3.0], default_mode="loop").data
    assert "new Array(3)" in html
    assert "font-awesome" not in html and 'class="fa' not in html
    assert set(drawn) == {1.0, 2.0, 3.0}
    assert plt.get_fignums() == []  # the animation's figure is closed, not shown twice
    with pytest.raises(ValueError, match="default_mode"):
        sliders.scrub_animation(draw, [1.0], default_mode="bounce")


def test_side_basis_shows_the_direction_candidates_leave_the_data_span():
    X, _ = data.sphere(10, 6, subspace_dim=3, seed=2)
    B = viz.plane_basis(X, which=(0, 5))            # an in-span direction and one orthogonal to the data
    C = X[:4] + 3.0 * B[1]
    S = viz.side_basis(X, C)
    assert torch.allclose(S @ S.T, torch.eye(2, dtype=torch.float64), atol=1e-10)
    assert abs(abs(S[1] @ B[1]) - 1) < 1e-10         # the side direction is the one the candidates moved along
    assert torch.allclose(viz.side_basis(X, X[:3] * 2), viz.plane_basis(X), atol=1e-12)


def test_experiment_figures_draw_one_panel_per_question():
    from types import SimpleNamespace

    t = lambda *v: torch.tensor(v, dtype=torch.float64)
    result = SimpleNamespace(steps=t(10, 100, 1000), eps_rel=t(0.5, 0.1, 0.02), split_distance=t(0.1, 0.5, 2.0),
                             split_median=t(1.0, 2.0, 4.0),
                             nearest=t(0.3, 0.4, 0.5), matched=t(0.4, 0.5, 0.6))
    fig = experiments.plot_training_length(result)
    assert len(fig.axes) == 3
    assert fig.axes[1].xaxis_inverted()                # longer training to the right
    radius = SimpleNamespace(radii=t(0.5, 1.0), kkt=torch.ones(2, 3), theta_sq=2.0, rates=torch.full((2, 3), 0.5),
                             chance=torch.zeros(2, 3, 20))
    assert len(experiments.plot_init_radius(radius).axes) == 2


def _slider_parts(html):
    """(frames, index, values, ids) of a static_slider's HTML, read back from its script and elements."""
    import json
    import re

    script = re.search(r"var frames = (\[.*?\]), index = (\[.*?\]), values = (\[.*?\]);", html)
    frames, index, values = (json.loads(script.group(k)) for k in (1, 2, 3))
    return frames, index, values, re.findall(r'id="([^"]+)"', html)


def test_static_slider_draws_every_grid_point_once_in_row_major_order():
    drawn = []

    def draw(fig, offset, guess):
        drawn.append((offset, guess))
        fig.add_subplot().plot([0, offset, guess])

    html = sliders.static_slider(draw, {"secret offset": [0.0, 0.5, 1.0], "guess": [0.0, 1.0]}, figsize=(3, 2),
                             dpi=50, initial=(0.5, 1.0)).data
    assert drawn == [(a, b) for a in (0.0, 0.5, 1.0) for b in (0.0, 1.0)]
    frames, index, values, _ = _slider_parts(html)
    assert len(index) == 6 and len(frames) == 6
    assert values == [["0", "0.5", "1"], ["0", "1"]]
    assert html.count('type="range"') == 2 and 'max="2"' in html and 'max="1"' in html
    assert 'data-frame="3"' in html                     # (0.5, 1.0): row 1, column 1 of a 3 × 2 grid
    assert f'src="data:image/png;base64,{frames[index[3]]}"' in html  # the initial frame shows without JS
    assert "http" not in html                           # self-contained: no CDN, no external file
    assert plt.get_fignums() == []                      # frames are never pyplot figures


def test_static_slider_stores_identical_frames_once_and_ids_never_clash():
    def draw(fig, k):
        fig.add_subplot().plot([0, k % 2])

    first = sliders.static_slider(draw, {"k": range(4)}, figsize=(2, 2), dpi=40).data
    second = sliders.static_slider(draw, {"k": range(4)}, figsize=(2, 2), dpi=40).data
    frames, index, _, ids = _slider_parts(first)
    assert len(frames) == 2 and index == [0, 1, 0, 1]
    assert not set(ids) & set(_slider_parts(second)[3])


def test_static_slider_formats_values_and_rejects_bad_input():
    def draw(fig, *values):
        fig.add_subplot()

    radii = [0.1, 1.0, 10.0]
    html = sliders.static_slider(draw, {"radius": range(3)}, value_format=lambda k: f"r = {radii[k]:g}",
                             figsize=(2, 2), dpi=40).data
    assert _slider_parts(html)[2] == [["r = 0.1", "r = 1", "r = 10"]]
    with pytest.raises(ValueError, match="one or two entries"):
        sliders.static_slider(draw, {"a": [1], "b": [1], "c": [1]})
    with pytest.raises(ValueError, match="has no values"):
        sliders.static_slider(draw, {"a": []})
    with pytest.raises(ValueError, match="not one of slider 'a'"):
        sliders.static_slider(draw, {"a": [1, 2]}, initial=3)
    with pytest.raises(ValueError, match="dpi"):
        sliders.static_slider(draw, {"a": [1]}, dpi=1000)
    with pytest.raises(ValueError, match="max_bytes"):
        sliders.static_slider(draw, {"a": [1, 2]}, figsize=(2, 2), dpi=40, max_bytes=100)
    with pytest.raises(TypeError, match="callable"):
        sliders.static_slider("draw", {"a": [1]})


def test_plot_bias_shift_draws_a_median_curve_and_band_per_bias_setting():
    from types import SimpleNamespace

    import numpy as np

    D, O = 3, 2
    result = SimpleNamespace(name="bias_shift", offsets=np.array([0.0, 1.0]), biases=np.array([False, True]),
                             median=np.random.default_rng(0).uniform(0.4, 0.7, (D, O, 2)),
                             eps_rel=np.random.default_rng(1).uniform(0.1, 0.7, (D, O, 2)))
    fig = experiments.plot_bias_shift(result)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert len(ax.lines) == 2 and len(ax.collections) == 2       # one median line and one range band per bias
        np.testing.assert_allclose(ax.lines[0].get_ydata(), np.median(
            result.median if ax is fig.axes[0] else result.eps_rel, axis=0)[:, 0])
