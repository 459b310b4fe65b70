"""The redactor on its own: what it masks in the strings a run report can hold."""

from __future__ import annotations

from mirrorkit.core.redact import MASK, Redactor


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
