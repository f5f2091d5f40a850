

@pytest.mark.bad_input
def test_missing_signature_file_stops_the_run_before_any_job(tmp_path):
    import yaml

    from .conftest import make_workdir, run_snakemake

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["signatures"]["files"] = ["resources/signatures/nope.tsv"]
    wd = make_workdir(tmp_path, yaml.safe_dump(cfg))
    res = run_snakemake(wd, "-n")
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert "field 'signatures.files'" in err and "'resources/signatures/nope.tsv' does not exist" \
        in err and "Fix:" in err
    assert not (wd / "results").exists()
