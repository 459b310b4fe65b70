"""Secrets given in the config (``"${VAR}"``) or the environment never leak.

A run is made to fail in the ways most likely to print a secret (a URL with credentials
and a token parameter that answers 503 with the request echoed back, a webhook with a
bearer token and a signed URL, AWS keys in the environment), with debug JSON logs, the JSON
report and a webhook notification; then a config error quotes a value that came from a
secret variable. No secret may appear in stdout, stderr or the webhook body, while the
upstream proves each secret was really used.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import run_cli
from tests.support.upstream import Handler, Upstream

SECRETS = {
    "MIRROR_PASSWORD": "pw-Vq8rT2mZk4",
    "MIRROR_TOKEN": "tok-7Hd9sLq2Xw",
    "HOOK_TOKEN": "hook-Zp3nB8vQ1r",
    "HOOK_SIG": "sig-Ke4uW9yT6m",
    "AWS_ACCESS_KEY_ID": "AKIAQWERTYUIOP123456",
    "AWS_SECRET_ACCESS_KEY": "aws-Rt5yU7iO9pLk3jH1",
}


def _leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


def test_secrets_stay_out_of_logs_reports_notifications_and_errors(
    upstream: Upstream, tmp_path: Path
) -> None:
    hooks: list[tuple[dict[str, str], bytes]] = []

    def hook(req: Handler) -> bool:
        hooks.append((dict(req.headers.items()), req.request_body))
        req.send_body(200, b"ok")
        return True

    def echo_503(req: Handler) -> bool:  # a hostile upstream quoting the request back
        body = f"unavailable: {req.path} {dict(req.headers.items())}".encode()
        req.send_body(503, body)
        return True

    upstream.route("/hook", hook)
    upstream.route("/repo/", echo_503)
    host = upstream.url.removeprefix("http://")
    env = {
        **SECRETS,
        "INDEX_URL": f"http://mirror:{SECRETS['MIRROR_PASSWORD']}@{host}/repo/index.json"
                     f"?token={SECRETS['MIRROR_TOKEN']}",
        "HOOK_URL": f"{upstream.url}/hook?sig={SECRETS['HOOK_SIG']}",
    }
    config = tmp_path / "mirrors.toml"
    config.write_text(f"""
[[mirrors]]
name = "demo"
registry = "static-list"
dest = "{tmp_path / 'mirror'}"
index_url = "${{INDEX_URL}}"
settings = {{ retries = 1, backoff_initial = 0, backoff_max = 0 }}

[[mirrors.notify]]
type = "webhook"
on = "always"
url = "${{HOOK_URL}}"
headers = {{ Authorization = "Bearer ${{HOOK_TOKEN}}" }}
""")
    res = run_cli("--log-level", "debug", "--log-format", "json", "run", "--config", config,
                  "--json", env=env)
    assert res.code == 1, res.stderr
    assert res.json["status"] == "failed"
    # the secrets were used: credentials and token reached the upstream, the hook its token
    index_reqs = upstream.requests("/repo/index.json")
    assert index_reqs and SECRETS["MIRROR_TOKEN"] in index_reqs[0].path
    assert "Authorization" in index_reqs[0].headers  # basic auth from the URL's userinfo
    assert len(hooks) == 1
    assert hooks[0][0]["Authorization"] == f"Bearer {SECRETS['HOOK_TOKEN']}"
    assert upstream.requests("/hook")[0].path.endswith(SECRETS["HOOK_SIG"])
    # ... and appear nowhere a person or a log shipper reads
    for line in res.stderr.splitlines():
        if line.startswith("{"):
            json.loads(line)  # every log line is one JSON object
    assert _leaks(res.stdout) == [], res.stdout
    assert _leaks(res.stderr) == [], res.stderr
    body = hooks[0][1].decode()
    assert json.loads(body)
    assert _leaks(body) == [], body
    assert "index.json" in res.stdout  # the failure is still reported, redacted


def test_config_errors_do_not_quote_secret_values(tmp_path: Path) -> None:
    config = tmp_path / "mirrors.toml"
    config.write_text("""
[[mirrors]]
name = "demo"
registry = "static-list"
index_url = "${MIRROR_TOKEN}"
settings = { retries = "${AWS_SECRET_ACCESS_KEY}" }
""")
    res = run_cli("run", "--config", config, env=SECRETS)
    assert res.code == 2
    assert "index_url" in res.stderr and "retries" in res.stderr
    assert _leaks(res.stderr) == [], res.stderr


# values that came from ${VAR}, whatever their key or place in a URL
MARKED = {
    "REPO_SLUG": "slug-Qw7eR5tY3u",  # a path segment: no secret-looking name anywhere
    "INDEX_JWT": "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl",  # ?jwt=, not a secret-looking name
    "HOOK_PATH": "hookpath-Mn4bV6cX8z",
}


def test_values_from_config_variables_are_redacted_wherever_they_appear(
    upstream: Upstream, tmp_path: Path
) -> None:
    hooks: list[bytes] = []

    def hook(req: Handler) -> bool:
        hooks.append(req.request_body)
        req.send_body(200, b"ok")
        return True

    def echo_503(req: Handler) -> bool:
        req.send_body(503, f"unavailable: {req.path}".encode())
        return True

    upstream.route(f"/{MARKED['HOOK_PATH']}", hook)
    upstream.route("/repo/", echo_503)
    config = tmp_path / "mirrors.toml"
    config.write_text(f"""
[[mirrors]]
name = "demo"
registry = "static-list"
dest = "{tmp_path / 'mirror'}"
index_url = "{upstream.url}/repo/${{REPO_SLUG}}/index.json?jwt=${{INDEX_JWT}}"
settings = {{ retries = 1, backoff_initial = 0, backoff_max = 0 }}

[[mirrors.notify]]
type = "webhook"
on = "always"
url = "{upstream.url}/${{HOOK_PATH}}"
""")
    res = run_cli("--log-level", "debug", "--log-format", "json", "run", "--config", config,
                  "--json", env=MARKED)
    assert res.code == 1, res.stderr
    # the values were used ...
    assert upstream.requests(f"/repo/{MARKED['REPO_SLUG']}/index.json")
    assert MARKED["INDEX_JWT"] in upstream.requests("/repo/")[0].path
    assert len(hooks) == 1
    # ... and appear nowhere: not in stdout (the --json report), stderr (JSON logs), the hook
    for where, text in (("stdout", res.stdout), ("stderr", res.stderr),
                        ("webhook", hooks[0].decode())):
        leaked = [name for name, value in MARKED.items() if value in text]
        assert leaked == [], (where, text)
    assert "index.json" in res.stdout and res.json["status"] == "failed"


def test_an_environment_variable_named_pwd_is_no_secret(tmp_path: Path) -> None:
    """``PWD`` (set by every shell) matched the ``pwd`` pattern: messages lost the directory."""
    work = tmp_path / "workdir-shown"
    work.mkdir()
    url = f"http://127.0.0.1:9{work}/index.json"  # a message quoting the current directory
    res = run_cli("--log-format", "json", "run", "static-list", "--index-url", url,
                  "--dest", work / "m", "--retries", "0", "--json", cwd=work,
                  env={"PWD": str(work), "OLDPWD": str(tmp_path)})
    assert res.code == 1
    assert res.json["errors"][0]["url"] == url
    assert f"({url})" in res.stderr and "***" not in res.stderr, res.stderr
