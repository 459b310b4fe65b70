"""The pieces of the pypi plugin that need no server: parsing, tags, markers, requirements."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.markers import Marker
from packaging.requirements import Requirement

from mirrorkit.plugins.pypi.reqfile import read_requirements
from mirrorkit.plugins.pypi.reqspec import check_requirement, split_plain
from mirrorkit.plugins.pypi.simple import JSON_TYPE, PageError, parse_project, parse_root
from mirrorkit.plugins.pypi.targets import Targets, expand_platform
from mirrorkit.plugins.pypi.versions import wheel_tags

SHA = "ab" * 32


def test_html_page_attributes_are_read_like_pip() -> None:
    body = f"""<html><body>
    <a href="../../files/a-1.0.tar.gz#sha256={SHA}" data-requires-python="&gt;=3.9"
       data-yanked data-core-metadata="sha256={'cd' * 32}">a-1.0.tar.gz</a>
    <a href="https://other.example/a-2.0-py3-none-any.whl#sha256={SHA.upper()}"
       data-yanked="bad build" data-dist-info-metadata="true">a-2.0-py3-none-any.whl</a>
    <a href="a-3.0.tar.gz#md5=0123">a-3.0.tar.gz</a>
    </body></html>""".encode()
    page = parse_project(body, "text/html", "https://idx.example/simple/a/", "a", "42")
    first, second = page.files
    assert first.url == "https://idx.example/files/a-1.0.tar.gz"
    assert (first.requires_python, first.yanked, first.metadata_sha256) == (
        ">=3.9", True, "cd" * 32)
    assert (second.sha256, second.yanked, second.metadata_sha256) == (SHA, "bad build", "")
    assert page.skipped == 1 and page.serial == 42  # no sha256: never mirrored


def test_json_page_and_root() -> None:
    body = (b'{"meta": {"_last-serial": 7}, "name": "A.b", "files": [{"filename": '
            b'"a_b-1.0-py3-none-any.whl", "url": "/f/a_b-1.0-py3-none-any.whl", "hashes": '
            b'{"sha256": "' + SHA.encode() + b'"}, "yanked": false, "size": 3, '
            b'"core-metadata": {"sha256": "' + SHA.encode() + b'"}}]}')
    page = parse_project(body, JSON_TYPE, "http://h/simple/a-b/", "a-b", None)
    assert page.name == "A.b" and page.serial == 7
    assert page.files[0].url == "http://h/f/a_b-1.0-py3-none-any.whl"
    assert page.files[0].metadata_sha256 == SHA and page.files[0].size == 3
    root = parse_root(b'{"meta": {"_last-serial": 9}, "projects": [{"name": "A_B", '
                      b'"_last-serial": 7}]}', JSON_TYPE, None)
    assert root.serial == 9 and root.projects == {"a-b": 7}
    with pytest.raises(PageError, match="unsafe file name"):
        parse_project(body.replace(b'"a_b-1.0-py3', b'"../x-1.0-py3'), JSON_TYPE,
                      "http://h/simple/a-b/", "a-b", None)


def test_platform_tags_accept_what_an_installer_accepts() -> None:
    linux = expand_platform("manylinux_2_28_x86_64")
    assert "manylinux2014_x86_64" in linux and "manylinux_2_5_x86_64" in linux
    assert "manylinux_2_29_x86_64" not in linux
    t = Targets(("3.11",), ("manylinux_2_28_x86_64",))
    fits = {name: t.wheel_fits(wheel_tags(name)) for name in (
        "a-1-py3-none-any.whl", "a-1-cp311-cp311-manylinux_2_17_x86_64.whl",
        "a-1-cp38-abi3-manylinux2014_x86_64.whl", "a-1-cp312-cp312-manylinux_2_17_x86_64.whl",
        "a-1-cp311-cp311-manylinux_2_34_x86_64.whl", "a-1-cp311-cp311-win_amd64.whl")}
    assert list(fits.values()) == [True, True, True, False, False, False]
    assert t.python_fits(">=3.8") and not t.python_fits(">=3.12")


def test_markers_follow_the_targets() -> None:
    win = Targets(("3.12",), ("win_amd64",))
    linux = Targets(("3.12",), ("manylinux_2_17_aarch64",))
    marker = Marker('sys_platform == "win32" and python_version >= "3.10"')
    assert win.marker_applies(marker) and not linux.marker_applies(marker)
    assert linux.marker_applies(Marker('platform_machine == "aarch64"'))
    extra = Marker('extra == "socks"')
    assert not linux.marker_applies(extra) and linux.marker_applies(extra, "socks")
    # no targets: any installation counts
    assert Targets((), ()).marker_applies(Marker('python_version < "3.9"'))


def test_requirements_file(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("idna>=3 # comment\n--index-url https://x/simple/\n")
    main = tmp_path / "req.txt"
    main.write_text("-r base.txt\nrequests[socks] \\\n  ==2.32.3 --hash=sha256:00\n"
                    'colorama; sys_platform == "win32"\n')
    assert read_requirements(main) == ["idna>=3", "requests[socks] ==2.32.3",
                                       'colorama; sys_platform == "win32"']
    main.write_text("ok\n./local/path\n")
    with pytest.raises(ValueError, match=r"req\.txt:2: .*not a requirement"):
        read_requirements(main)
    main.write_text("-r req.txt\n")
    with pytest.raises(ValueError, match="includes itself"):
        read_requirements(main)
    with pytest.raises(ValueError, match="direct URL"):
        check_requirement("pkg @ https://example.org/pkg.whl")


_names = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,8}[A-Za-z0-9])?", fullmatch=True)
_versions = st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}", fullmatch=True)
_ops = st.sampled_from(["==", "!=", "<=", ">=", "<", ">", "~="])


@given(_names, st.lists(_names, max_size=2), st.lists(st.tuples(_ops, _versions), max_size=3),
       st.sampled_from(["", " "]))
def test_plain_requirements_agree_with_packaging(name: str, extras: list[str],
                                                 clauses: list[tuple[str, str]],
                                                 space: str) -> None:
    text = name + (f"[{','.join(extras)}]" if extras else "") + space + ",".join(
        op + space + v for op, v in clauses)
    plain = split_plain(text)
    try:
        req = Requirement(text)
    except Exception:
        assert plain is None  # the fast path never accepts what packaging refuses
        return
    if plain is not None:
        assert plain[0] == req.name and set(plain[1]) == req.extras
        assert Requirement(f"x{plain[2]}").specifier == req.specifier


def test_pypi_paths_are_kept_so_a_bandersnatch_tree_is_adopted_in_place() -> None:
    from mirrorkit.plugins.pypi.layout import dist_path
    from mirrorkit.plugins.pypi.simple import DistFile

    pypi_url = ("https://files.pythonhosted.org/packages/f9/9b/" + "3" * 60
                + "/requests-2.32.3-py3-none-any.whl")
    f = DistFile("requests-2.32.3-py3-none-any.whl", pypi_url, SHA)
    assert dist_path(f) == f"packages/f9/9b/{'3' * 60}/requests-2.32.3-py3-none-any.whl"
    other = DistFile("a-1.0.tar.gz", "https://idx.example/files/a-1.0.tar.gz", SHA)
    assert dist_path(other) == f"packages/ab/ab/{SHA[4:]}/a-1.0.tar.gz"
