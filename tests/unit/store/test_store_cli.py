"""``deai store`` through the real CLI entry point, output captured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deai.cli.main import run

HELLO = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


@pytest.fixture
def deai(tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run(["--data-dir", str(tmp_path / "data"), "store", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def _json(out: str) -> dict:  # type: ignore[type-arg]
    return json.loads(out.strip().splitlines()[-1])


def test_add_cat_stat_pins(deai, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "hello.txt"
    src.write_bytes(b"hello world\n")
    code, out, _ = deai("add", str(src))
    assert code == 0 and out.strip() == HELLO
    code, out, _ = deai("add", str(src), "--only-hash", "--profile", "unixfs-v0-2015", "--json")
    assert _json(out) == {"cid": "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o", "path": str(src),
                          "profile": "unixfs-v0-2015", "stored": False}
    code, out, _ = deai("cat", HELLO)
    assert code == 0 and out == "hello world\n"
    code, out, _ = deai("stat", "--json")
    stat = _json(out)
    assert (stat["blocks"], stat["bytes"], stat["pins"]) == (1, 12, 1)
    code, out, _ = deai("pins", "--json")
    assert _json(out) == {"pins": [HELLO]}
    assert deai("unpin", HELLO)[0] == 0
    code, out, _ = deai("gc", "--json")
    assert _json(out)["removed_blocks"] == 1
    assert deai("pin", HELLO)[0] == 5  # gone now: a typed error, exit code 5


def test_folder_get_ls_and_car(deai, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    cid = deai("add", str(src))[1].strip()
    code, out, _ = deai("ls", cid, "--json")
    assert [e["name"] for e in _json(out)["entries"]] == ["a.txt", "sub"]
    code, out, _ = deai("ls", cid)
    assert "a.txt" in out
    code, out, _ = deai("get", cid, "-o", str(tmp_path / "out"), "--json")
    assert code == 0 and (tmp_path / "out" / "sub" / "b.txt").read_text() == "b"
    car = tmp_path / "tree.car"
    code, out, _ = deai("car", "export", cid, "-o", str(car), "--json")
    assert _json(out)["blocks"] == 4 and car.is_file()
    assert deai("unpin", cid)[0] == 0 and deai("gc")[0] == 0
    code, out, _ = deai("car", "import", str(car), "--json")
    assert _json(out)["pinned"] == [cid] and _json(out)["new_blocks"] == 4
    assert deai("cat", f"{cid}/sub/b.txt")[1] == "b"


def test_errors_are_one_line_with_a_hint(deai, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = deai("cat", "not-a-cid")
    assert code == 5 and "is not a CID" in err and "hint" in err
    code, _, err = deai("add", str(tmp_path / "missing"))
    assert code == 5 and "does not exist" in err
    code, _, err = deai("add", str(tmp_path), "--profile", "kubo")
    assert code == 5 and "unknown import profile" in err
    bad = tmp_path / "bad.car"
    bad.write_bytes(b"\x05hello")
    code, _, err = deai("car", "import", str(bad))
    assert code == 5 and "CAR" in err
    code, _, err = deai("car", "export", HELLO, "-o", str(tmp_path / "x.car"), "--scope", "deep")
    assert code == 5 and not (tmp_path / "x.car").exists()
