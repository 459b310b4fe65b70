"""The redactor on its own: what it masks in the strings a run report can hold."""

from __future__ import annotations

from mirrorkit.core.redact import (
    MASK,
    Redactor,
    redact,
    register_secrets,
    register_url_secrets,
    storable_url,
    usable_url,
)


def test_url_credentials_and_secret_query_parameters_are_masked() -> None:
    r = Redactor(environ={})
    text = ("fetch https://alice:pw123@example.org/a?x=1&token=abc&X-Amz-Signature=f00 "
            "and http://h/p?sig=zz;page=2")
    out = r.text(text)
    assert out == (f"fetch https://{MASK}@example.org/a?x=1&token={MASK}&X-Amz-Signature={MASK} "
                   f"and http://h/p?sig={MASK};page=2")


def test_values_of_secret_looking_variables_are_masked_anywhere() -> None:
    env = {"GITHUB_TOKEN": "ghp_abcdefgh12345", "API_KEY": "short", "HOME": "/home/someone-long"}
    r = Redactor(environ=env)
    out = r.data({"errors": [{"error": "401 with ghp_abcdefgh12345 from /home/someone-long"}],
                  "n": 3, "ok": True})
    assert out == {"errors": [{"error": f"401 with {MASK} from /home/someone-long"}],
                   "n": 3, "ok": True}
    assert r.text("short words stay") == "short words stay"


def test_a_url_as_stored_holds_no_credential_and_gets_them_back_from_its_source() -> None:
    register_secrets({"slug-Lp0oKi9j": "${INDEX_SLUG}"})  # as the config registers ${VAR}s
    source = "https://u:pa55-Wd8Zx@pkgs.example/slug-Lp0oKi9j/simple/?token=qq1&page=2"
    file = "https://u:pa55-Wd8Zx@pkgs.example/slug-Lp0oKi9j/files/a.whl?token=qq1"
    stored = storable_url(file)
    assert stored == f"https://pkgs.example/${{INDEX_SLUG}}/files/a.whl?token={MASK}"
    assert usable_url(stored, source) == file
    # another host never gets the index's credentials (pip's rule)
    cdn = storable_url("https://cdn.example/slug-Lp0oKi9j/a.whl")
    assert usable_url(cdn, source) == "https://cdn.example/slug-Lp0oKi9j/a.whl"


def test_a_conda_token_of_a_configured_url_is_a_secret_and_a_debian_pool_path_is_not() -> None:
    channel = "https://conda.example/t/tk-9Qw2Er7Ty/chan"
    register_url_secrets(channel)
    repodata = f"{channel}/linux-64/repodata.json"
    assert redact(f"failed ({repodata})") == \
        f"failed (https://conda.example/t/{MASK}/chan/linux-64/repodata.json)"
    stored = storable_url(repodata)
    assert stored == f"https://conda.example/t/{MASK}/chan/linux-64/repodata.json"
    assert usable_url(stored, channel) == repodata
    pool = "http://deb.example/debian/pool/main/t/tar/tar_1.35_amd64.deb"
    assert redact(pool) == storable_url(pool) == pool
    # no token shape (no digit), or no web URL: nothing registered, nothing masked
    register_url_secrets("https://pkgs.example/t/simplest/index/")
    register_url_secrets("s3://bucket/t/mirror2024/")
    assert redact("simplest mirror2024") == "simplest mirror2024"
