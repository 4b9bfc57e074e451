"""Claim of issue 14: no function of the library takes more than six positional parameters; beyond the
natural first few, parameters are keyword-only (``tools/positional_params.py`` lists every module's).

Every module of reconleak_core is checked except those in ``NOT_YET_CHECKED``: a new module is covered
the day it is added."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("positional_params", ROOT / "tools" / "positional_params.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_library_functions_take_at_most_six_positional_parameters():
    assert _tool().offenders(6) == []


def test_tool_reports_a_reintroduced_offender(tmp_path):
    (tmp_path / "good.py").write_text("def ssim(img1, img2, *, data_range=1.0, window_size=3, sigma=1.5, K1=0.01,\n"
                                      "         K2=0.03, padding='same'):\n    pass\n"
                                      "class A:\n    def m(self, a, b, c, d, e, f):\n        pass\n")
    (tmp_path / "bad.py").write_text("def outer():\n"
                                     "    def _draw_rows(fig, rows, titles, row_titles, image_shape, normalize,"
                                     " cmap):\n"
                                     "        pass\n"
                                     "class B:\n    @classmethod\n    def make(cls, a, b, c, d, e, f, /, g):\n"
                                     "        pass\n")
    assert _tool().offenders(6, package=tmp_path) == [("bad.py", 2, "outer._draw_rows", 7), ("bad.py", 6, "B.make", 7)]
