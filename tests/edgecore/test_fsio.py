import pytest

from edgecore import OutputExistsError, atomic_dir, atomic_write, prepare_output_dir


def test_atomic_write_leaves_nothing_when_interrupted(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w") as f:
            f.write("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_dir_appears_only_when_complete(tmp_path):
    target = tmp_path / "bundle"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "model.onnx").write_bytes(b"x")
            raise RuntimeError("crash")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    assert (target / "a").read_text() == "1"


def test_atomic_dir_refuses_existing_without_force_and_replaces_with_it(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "old").write_text("keep")
    with pytest.raises(OutputExistsError, match="--force"):
        with atomic_dir(target):
            pass
    assert (target / "old").read_text() == "keep"
    with atomic_dir(target, force=True) as tmp:
        (tmp / "new").write_text("1")
    assert sorted(p.name for p in target.iterdir()) == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_prepare_output_dir(tmp_path):
    assert prepare_output_dir(tmp_path / "new").is_dir()
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("1")
    with pytest.raises(OutputExistsError, match="not empty"):
        prepare_output_dir(full)
    assert prepare_output_dir(full, force=True) == full
    file = tmp_path / "file"
    file.write_text("1")
    with pytest.raises(OutputExistsError, match="is a file"):
        prepare_output_dir(file, force=True)


def test_outputs_get_the_usual_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "f.json", "w") as f:
            f.write("{}")
        with atomic_dir(tmp_path / "bundle") as tmp:
            (tmp / "a").write_text("1")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "bundle").stat().st_mode) == 0o755
