"""Claim of issue 14: no function of the attack, kkt, models and priors modules takes more than six positional
parameters (``tools/positional_params.py`` lists every module's)."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
OWNED = {"attack.py", "kkt.py", "models.py", "priors.py"}


def test_library_core_functions_take_at_most_six_positional_parameters():
    spec = importlib.util.spec_from_file_location("positional_params", ROOT / "tools" / "positional_params.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert [o for o in module.offenders(6) if o[0] in OWNED] == []
