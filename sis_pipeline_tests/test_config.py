"""A bad configuration is refused before any work starts, with the file, integration and field named."""

import textwrap

import pytest

from sis_pipeline.config import ConfigError, load_config

ENV = {"OR_ID": "client", "OR_SECRET": "s3cret-value"}
GOOD = """
integrations:
  - name: springfield
    provider: oneroster
    base_url: https://sis.example.org/ims/oneroster/v1p1
    token_url: https://sis.example.org/oauth/token
    client_id_env: OR_ID
    client_secret_env: OR_SECRET
"""


def write(tmp_path, text):
    path = tmp_path / "integrations.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def refusal(tmp_path, text, env=ENV) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env=env)
    return str(caught.value)


def test_good_config_has_defaults(tmp_path):
    config = load_config(write(tmp_path, GOOD), env=ENV)
    springfield = config.integration("springfield")
    assert (springfield.page_size, springfield.conflict_strategy, springfield.timezone) == (1000, "sis_wins", "UTC")
    assert springfield.base_url.endswith("/v1p1")


def test_unknown_provider_is_named(tmp_path):
    message = refusal(tmp_path, GOOD.replace("provider: oneroster", "provider: blackboard"))
    assert "integration 'springfield'" in message and "'provider'" in message and "blackboard" in message
    assert "oneroster" in message  # the installed ones are listed


def test_missing_env_var_is_named_without_secret(tmp_path):
    message = refusal(tmp_path, GOOD, env={"OR_ID": "client"})
    assert "client_secret_env" in message and "OR_SECRET" in message and "springfield" in message
    assert str(tmp_path / "integrations.yaml") in message


def test_bad_url_is_named(tmp_path):
    message = refusal(tmp_path, GOOD.replace("https://sis.example.org/oauth/token", "sis.example.org/token"))
    assert "'token_url'" in message and "not an http(s) URL" in message


def test_duplicate_names_refused(tmp_path):
    body = GOOD.split("integrations:")[1]
    message = refusal(tmp_path, "integrations:" + body + body)
    assert "duplicate integration name 'springfield'" in message


@pytest.mark.parametrize(
    "change, field, words",
    [
        (("name: springfield", "name: Spring-Field"), "name", "pattern"),
        (("client_secret_env: OR_SECRET", "client_secret_env: OR_SECRET\n    colour: blue"), "colour", "unknown field"),
        (("/ims/oneroster/v1p1", "/api/v3"), "base_url", "ims/oneroster"),
        (("    token_url: https://sis.example.org/oauth/token\n", ""), "token_url", "required"),
        (("client_secret_env: OR_SECRET", "client_secret_env: OR_SECRET\n    conflict_strategy: coin_flip"), "conflict_strategy", "sis_wins"),
        (("client_secret_env: OR_SECRET", "client_secret_env: OR_SECRET\n    timezone: Mars/Olympus"), "timezone", "unknown time zone"),
        (("client_secret_env: OR_SECRET", "client_secret_env: OR_SECRET\n    options: {verison: '1.2'}"), "options", "verison"),
        (("client_secret_env: OR_SECRET", "client_secret_env: OR_SECRET\n    options: {extra_fields: {parents: {a: b}}}"), "options", "extra_fields"),
    ],
)
def test_field_errors_name_the_field(tmp_path, change, field, words):
    message = refusal(tmp_path, GOOD.replace(*change))
    assert f"'{field}'" in message and words in message


def test_version_from_options(tmp_path):
    text = GOOD.replace("/ims/oneroster/v1p1", "/oneroster").replace("client_secret_env: OR_SECRET", "client_secret_env: OR_SECRET\n    options: {version: '1.2'}")
    assert load_config(write(tmp_path, text), env=ENV).integration("springfield").options["version"] == "1.2"


def test_missing_file_and_empty_list(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", env=ENV)
    assert "at least one integration" in refusal(tmp_path, "integrations: []")


@pytest.mark.parametrize("field", ["base_url", "token_url"])
def test_a_url_with_credentials_is_refused_and_the_password_shows_nowhere(tmp_path, field, capsys):
    import traceback

    from sis_pipeline.cli import main

    password = "Pa55-w0rd-in-a-url"
    url = f"https://district-admin:{password}@sis.example.org/ims/oneroster/v1p1"
    text = GOOD.replace(f"    {field}: https://sis.example.org/", f"    {field}: https://district-admin:{password}@sis.example.org/", 1)
    assert password in text and url.split("/ims")[0] in text
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env=ENV)
    error = caught.value
    message = str(error)
    assert "integration 'springfield'" in message and f"field '{field}'" in message and "credentials" in message
    shown = [message, repr(error), "".join(traceback.format_exception(error))]
    chained = error.__cause__ or error.__context__
    assert chained is None  # no chained validation error holding the raw input
    assert not any(password in text or "district-admin" in text for text in shown)

    # the command line says the same, and nothing else
    assert main(["sync", "--config", str(tmp_path / "integrations.yaml"), "--json"]) == 2
    printed = capsys.readouterr()
    assert "credentials" in printed.err and password not in printed.err + printed.out


def test_a_mangled_url_holding_an_at_sign_is_not_echoed(tmp_path):
    message = refusal(tmp_path, GOOD.replace("https://sis.example.org/oauth/token", "sis.example.org:hunter2@x"))
    assert "field 'token_url'" in message and "hunter2" not in message
