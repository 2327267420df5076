"""Config precedence and the error tree's promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from deai import errors
from deai.config import Config
from deai.errors import AnvilNotFound, DeaiError


def test_environment_overrides_toml_and_arguments_override_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "deai.toml"
    toml.write_text(f'data_dir = "{tmp_path / "from-toml"}"\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("DEAI_CONFIG_FILE", str(toml))
    assert Config().data_dir == tmp_path / "from-toml"
    assert Config().log_level == "DEBUG"
    monkeypatch.setenv("DEAI_DATA_DIR", str(tmp_path / "from-env"))
    assert Config().data_dir == tmp_path / "from-env"
    assert Config(data_dir=tmp_path / "explicit").data_dir == tmp_path / "explicit"


def test_paths_derive_from_the_data_dir(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path)
    assert config.keystore_dir == tmp_path / "keystores"
    assert config.deployment_file == tmp_path / "devnet" / "deployment.json"


def test_explicit_anvil_path_that_is_wrong_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AnvilNotFound) as err:
        Config(anvil_bin=tmp_path / "nope").resolve_anvil()
    assert "make setup" in err.value.hint


def test_every_error_has_a_hint_and_an_exit_code() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, DeaiError)]
    assert len(classes) > 20
    for cls in classes:
        assert cls.exit_code != 0
        if cls not in (DeaiError,) and cls.__name__ != "ContractRevert":
            assert cls("x").hint, f"{cls.__name__} gives the user no hint"
        assert cls.__name__ in (errors.__doc__ or ""), f"{cls.__name__} missing from the tree"
