from pathlib import Path

import pytest

from switch.config import ConfigError, load


def test_defaults_need_no_file(tmp_path: Path) -> None:
    cfg = load(environ={"SWITCH_CONFIG": ""} | {"HOME": str(tmp_path)})
    assert cfg.services.embedded_postgres and cfg.services.embedded_redis
    assert cfg.ledger.linger_s <= 0.002


def test_file_then_environment(tmp_path: Path) -> None:
    f = tmp_path / "switch.toml"
    f.write_text('[services]\ndata_dir = "/srv/a"\n[ledger]\nmax_batch = 128\n')
    cfg = load(
        f, environ={"SWITCH_LEDGER_MAX_BATCH": "256", "SWITCH_DATABASE_URL": "postgresql://x/y"}
    )
    assert cfg.services.data_dir == "/srv/a"
    assert cfg.ledger.max_batch == 256
    assert cfg.services.database_url == "postgresql://x/y"
    assert not cfg.services.embedded_postgres


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[ledger]\nmax_batch = 'many'\n", {}, "max_batch must be int"),
        ("[ledger]\nbogus = 1\n", {}, "unknown setting"),
        ("[nowhere]\nx = 1\n", {}, "unknown section"),
        ("not toml at all [", {}, "not valid TOML"),
        ("", {"SWITCH_LEDGER_PIPELINE_DEPTH": "two"}, "pipeline_depth must be int"),
        ('[bulk]\nfetch_at = "6 am"\n', {}, "fetch_at: a time of day HH:MM"),
        ('[bulk]\ntariffs_files = ["/nowhere/t.toml"]\n', {}, "tariffs_files"),
    ],
)
def test_bad_settings_are_named(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    f = tmp_path / "switch.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load(f, environ=env)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.toml", environ={})


def test_billers_come_from_the_file(tmp_path: Path) -> None:
    f = tmp_path / "switch.toml"
    f.write_text(
        '[[billers]]\nid = "UPPCL"\nname = "Power"\nendpoint = "http://127.0.0.1:1"\n'
        "max_concurrency = 8\ncommission_bps = 50\n"
        '[[billers]]\nid = "JAL"\nname = "Water"\nkind = "water"\nconnector = "stub"\n'
    )
    cfg = load(f, environ={})
    assert [b.id for b in cfg.billers] == ["UPPCL", "JAL"]
    assert cfg.billers[0].max_concurrency == 8 and cfg.billers[1].kind == "water"


def test_default_billers_without_a_file(tmp_path: Path) -> None:
    cfg = load(environ={"HOME": str(tmp_path)})
    assert {b.kind for b in cfg.billers} == {"electricity", "water"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('id = ""\nname = "x"\nconnector = "stub"', "id must be"),
        ('id = "A"\nkind = "gas"\nconnector = "stub"', "kind must be"),
        ('id = "A"\nconnector = "ftp"', "connector must be"),
        ('id = "A"\nendpoint = "nowhere"', "endpoint must be"),
        ('id = "A"\nconnector = "stub"\nfavourite_colour = "blue"', "unknown setting"),
        ('id = "A"\nconnector = "stub"\n[[billers]]\nid = "A"\nconnector = "stub"', "unique"),
    ],
)
def test_bad_billers_are_named(tmp_path: Path, body: str, message: str) -> None:
    f = tmp_path / "switch.toml"
    f.write_text("[[billers]]\n" + body + "\n")
    with pytest.raises(ConfigError, match=message):
        load(f, environ={})
