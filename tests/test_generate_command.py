"""``raysym generate`` writes hls4ml-layout files (raysym.generate.command)."""

import h5py

from raysym.cli import main


def test_cli_writes_one_file_per_chunk(ray_local, tmp_path):
    out = tmp_path / "jets"
    code = main(["generate", "--out", str(out), "--jets-per-class", "8", "--chunk-size", "4", "--seed", "2",
                 "--classes", "z", "--no-mpi", "--no-progress"])
    assert code == 0
    files = sorted(out.glob("jetImage_*.h5"))
    assert [f.name for f in files] == ["jetImage_gen_z_s2_c0000.h5", "jetImage_gen_z_s2_c0001.h5"]
    with h5py.File(files[1]) as f:
        assert f["jetConstituentList"].shape == (4, 150, 16)
        assert set(abs(f["jetTruthPdgId"][:])) == {23}
