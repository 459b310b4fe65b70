from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.plugins.pypi.fake_pypi import FakePyPI, build_sdist, build_wheel

ALPHA_REQUIRES = ["beta>=1.0", 'gamma; python_version < "3.8"',
                  'delta; sys_platform == "win32"', 'epsilon; extra == "fast"']


def populate(pypi: FakePyPI) -> None:
    """The catalogue every test starts from (see test_pypi_e2e's docstring)."""
    for version in ("1.0", "2.0"):
        pypi.add("Alpha",
                 build_wheel("alpha", version, requires=ALPHA_REQUIRES, extras=["fast"]),
                 build_sdist("alpha", version, requires=ALPHA_REQUIRES))
    pypi.add("beta",
             build_wheel("beta", "1.0", requires=["zeta"]),
             build_wheel("beta", "1.5", requires=["zeta"]),
             build_wheel("beta", "2.0", requires=["zeta"], requires_python=">=3.12"),
             build_wheel("beta", "2.1", requires=["zeta"]))
    pypi.yank("beta", "beta-2.1-py3-none-any.whl", "broken build")
    zeta = build_wheel("zeta", "1.0", requires=["eta"])
    zeta.serve_metadata = False  # dependencies read from the wheel itself
    pypi.add("zeta", build_wheel("zeta", "0.9"), zeta)
    for name in ("gamma", "delta", "epsilon", "eta"):
        pypi.add(name, build_wheel(name, "1.0"))
    pypi.add("native",
             build_wheel("native", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64"),
             build_wheel("native", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64"),
             build_wheel("native", "1.0", tag="cp311-cp311-win_amd64"),
             build_sdist("native", "1.0"))


@pytest.fixture
def pypi() -> Iterator[FakePyPI]:
    server = FakePyPI().start()
    populate(server)
    yield server
    server.up.stop()
