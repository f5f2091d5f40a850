"""GEO and TCGA sources on real public files from ../shared, and the GEO cohort through the
workflow against a loopback mirror laid out like ftp.ncbi.nlm.nih.gov/geo."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml

from ferroscope.errors import FerroscopeError
from ferroscope.prepare import standardise_clinical
from ferroscope.sources import geo, tcga

from .conftest import REPO, make_workdir, run_snakemake, shared_path
from .mirror import Mirror

TUMOUR = {"characteristic": "Tissue", "values": ["Liver Tumor Tissue"],
          "exclude_values": ["Liver Non-Tumor Tissue", "Liver tissue of six healthy donors",
                             "Liver tissue of six healthy liver donors"]}


@pytest.fixture(scope="module")
def gpl571():
    return geo.read_series_matrix(
        shared_path("cohorts", "GSE14520", "GSE14520-GPL571_series_matrix.txt.gz"))


@pytest.fixture(scope="module")
def supplement():
    return pd.read_csv(shared_path("cohorts", "GSE14520", "GSE14520_clinical_full.csv"))


def test_urls_follow_geo_layout():
    base = "https://ftp.ncbi.nlm.nih.gov/geo"
    assert geo.series_matrix_url(base, "GSE14520", "GPL571") == (
        f"{base}/series/GSE14nnn/GSE14520/matrix/GSE14520-GPL571_series_matrix.txt.gz")
    assert geo.series_matrix_url(base, "GSE123") == (
        f"{base}/series/GSEnnn/GSE123/matrix/GSE123_series_matrix.txt.gz")
    assert geo.platform_annot_url(base, "GPL3921") == (
        f"{base}/platforms/GPL3nnn/GPL3921/annot/GPL3921.annot.gz")
    assert geo.supplement_url(base, "GSE76427", "x.txt.gz").endswith(
        "/series/GSE76nnn/GSE76427/suppl/x.txt.gz")


def test_series_matrix_parses_both_platform_lines_and_characteristics(gpl571):
    assert gpl571.expression.shape == (22268, 43)
    assert gpl571.platforms == ["GPL571", "GPL3921"]  # a multi-platform series
    assert {"tissue", "disease state", "individual"} <= set(gpl571.samples.columns)
    assert gpl571.expression.index[0] == "1007_s_at"


def test_tumours_join_survival_on_gsm(gpl571, supplement):
    gsm = geo.select_samples(gpl571, TUMOUR, "matrix")
    assert len(gsm) == 22
    clin = geo.clinical_table(gpl571, gsm, supplement, "Affy_GSM", "supplement")
    assert (clin["geo_accession"] == clin["Affy_GSM"]).all()
    std = standardise_clinical(clin, {"sample_id": "geo_accession",
                                      "os_time": {"column": "Survival.months", "unit": "months"},
                                      "os_event": {"column": "Survival.status",
                                                   "event_values": [1],
                                                   "censor_values": [0]}},
                               source="supplement", cohort="GSE14520")
    has_os = std.dropna(subset=["os_time_months"])
    assert len(has_os) == 21 and int(has_os["os_event"].sum()) == 11


def test_probes_map_to_symbols_dropping_multi_gene_probes(gpl571):
    table = shared_path("platforms-reference", "derived_GPL571_probe2symbol_idmap2.tsv")
    symbols = geo.read_platform_table(table, "ID", "symbol")
    expr, stats = geo.map_probes(gpl571.expression, symbols)
    assert stats["probes_multi_gene"] > 0 and "DDR1 /// MIR4640" not in set(expr.index)
    assert not expr.index.str.contains("///").any() and (expr.index != "").all()
    assert {"SLC7A11", "GPX4", "NQO1", "HMOX1"} <= set(expr.index)
    assert stats["probes_kept"] == len(expr) == stats["probes"] - stats["probes_no_symbol"] - \
        stats["probes_multi_gene"]


@pytest.mark.bad_input
def test_missing_table_begin_is_named(tmp_path):
    bad = tmp_path / "GSE1_series_matrix.txt.gz"
    with gzip.open(bad, "wt") as fh:
        fh.write('!Series_title\t"x"\n!Sample_geo_accession\t"GSM1"\n"ID_REF"\t"GSM1"\n')
    with pytest.raises(FerroscopeError, match="GSE1_series_matrix.*series_matrix_table_begin"):
        geo.read_series_matrix(bad)


@pytest.mark.bad_input
def test_truncated_table_is_named(tmp_path):
    bad = tmp_path / "m.txt"
    bad.write_text('!Sample_geo_accession\t"GSM1"\n!series_matrix_table_begin\n"ID_REF"\t"GSM1"\n')
    with pytest.raises(FerroscopeError, match="series_matrix_table_end.*truncated"):
        geo.read_series_matrix(bad)


@pytest.mark.bad_input
def test_missing_characteristic_is_named(gpl571):
    with pytest.raises(FerroscopeError, match=r"characteristic 'histology'.*tissue"):
        geo.select_samples(gpl571, {"characteristic": "histology", "values": ["HCC"]}, "m")


@pytest.mark.bad_input
def test_duplicated_sample_ids_are_named(tmp_path, gpl571, supplement):
    bad = tmp_path / "m.txt"
    bad.write_text('!Sample_geo_accession\t"GSM1"\t"GSM1"\n!series_matrix_table_begin\n'
                   '"ID_REF"\t"GSM1"\t"GSM1"\n"p1"\t1\t2\n!series_matrix_table_end\n')
    with pytest.raises(FerroscopeError, match="'GSM1' appears twice"):
        geo.read_series_matrix(bad)
    doubled = pd.concat([supplement, supplement.iloc[:1]])
    with pytest.raises(FerroscopeError, match="appears twice in the supplementary table"):
        geo.clinical_table(gpl571, list(gpl571.expression.columns), doubled, "Affy_GSM", "sup")


@pytest.mark.bad_input
def test_all_samples_lacking_survival_is_named(gpl571, supplement):
    gsm = geo.select_samples(gpl571, {"characteristic": "tissue",
                                      "values": ["Liver Non-Tumor Tissue"],
                                      "exclude_values": TUMOUR["exclude_values"][1:]
                                      + TUMOUR["values"]}, "m")
    clin = geo.clinical_table(gpl571, gsm, supplement, "Affy_GSM", "supplement")
    assert clin["Survival.months"].isna().all()  # survival is given on tumour rows only
    with pytest.raises(FerroscopeError, match="no sample has overall survival time"):
        standardise_clinical(clin, {"sample_id": "geo_accession",
                                    "os_time": {"column": "Survival.months", "unit": "months"},
                                    "os_event": {"column": "Survival.status",
                                                 "event_values": [1],
                                                   "censor_values": [0]}},
                             source="supplement", cohort="GSE14520")


def test_tcga_cdr_xlsx_gives_377_lihc_patients():
    cdr = tcga.read_cdr(shared_path("cohorts", "TCGA-LIHC",
                                    "TCGA-CDR-SupplementalTableS1_v2.xlsx"))
    assert len(cdr) == 377 and cdr["bcr_patient_barcode"].is_unique
    std = standardise_clinical(cdr, {"sample_id": "bcr_patient_barcode",
                                     "os_time": {"column": "OS.time", "unit": "days"},
                                     "os_event": {"column": "OS", "event_values": [1],
                                                   "censor_values": [0]}},
                               source="cdr", cohort="TCGA-LIHC")
    ok = std.dropna(subset=["os_time_months"])
    assert len(ok) == 376 and int(ok["os_event"].sum()) == 132
    assert ok["os_time_months"].max() == pytest.approx(3675 / 30.4375)


def test_tcga_barcodes_and_ensembl_versions():
    m = pd.DataFrame(np.arange(12.0).reshape(3, 4), index=["ENSG01.5", "ENSG02.1", "ENSG03.2"],
                     columns=["TCGA-AA-0001-01A", "TCGA-AA-0001-11A", "TCGA-AA-0002-01B",
                              "TCGA-AA-0002-01A"])
    pm = pd.DataFrame({"id": ["ENSG01.5", "ENSG02.1"], "gene": ["GPX4", "SLC7A11"]})
    out = tcga.xena_expression(m, pm, "matrix")
    assert list(out.index) == ["GPX4", "SLC7A11"]  # unmapped id dropped
    assert list(out.columns) == ["TCGA-AA-0001", "TCGA-AA-0002"]  # normals (11A) dropped
    assert out.loc["GPX4", "TCGA-AA-0002"] == 3.0  # vial A kept over B


def geo_config(base_url: str) -> str:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["mirrors"] = {"geo": base_url}
    cfg["download"] = {"retries": 3, "backoff_seconds": 0.05}
    cfg["scoring"]["methods"] = ["mean_z"]
    cfg["cohorts"] = {"GSE14520_GPL571": {
        "source": "geo", "accession": "GSE14520", "platform": "GPL571", "multi_platform": True,
        "description": "LCI cohort, HG-U133A_2 arrays (the GPL571 part of GSE14520)",
        "probe_table": {"file": "derived_GPL571_probe2symbol_idmap2.tsv",
                        "probe_column": "ID", "symbol_column": "symbol"},
        "samples": {"keep": TUMOUR},
        "clinical_supplement": {"file": "GSE14520_clinical_full.csv", "id_column": "Affy_GSM"},
        "clinical": {"sample_id": "geo_accession", "sample_title": "title",
                     "os_time": {"column": "Survival.months", "unit": "months"},
                     "os_event": {"column": "Survival.status", "event_values": [1],
                                  "censor_values": [0]}},
    }}
    return yaml.safe_dump(cfg)


@pytest.fixture()
def geo_mirror(tmp_path):
    root = tmp_path / "host"
    layout = {
        "series/GSE14nnn/GSE14520/matrix/GSE14520-GPL571_series_matrix.txt.gz":
            ("cohorts", "GSE14520", "GSE14520-GPL571_series_matrix.txt.gz"),
        "series/GSE14nnn/GSE14520/suppl/GSE14520_clinical_full.csv":
            ("cohorts", "GSE14520", "GSE14520_clinical_full.csv"),
        "platforms/GPLnnn/GPL571/annot/derived_GPL571_probe2symbol_idmap2.tsv":
            ("platforms-reference", "derived_GPL571_probe2symbol_idmap2.tsv"),
    }
    for rel, src in layout.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_path(*src), root / rel)
    with Mirror(root) as m:
        yield m


@pytest.mark.slow
def test_gse14520_gpl571_through_the_workflow(geo_mirror, tmp_path):
    matrix = "/series/GSE14nnn/GSE14520/matrix/GSE14520-GPL571_series_matrix.txt.gz"
    geo_mirror.faults[matrix] = ["drop", "truncate"]  # recovered by resume and re-fetch
    wd = make_workdir(tmp_path / "wd", geo_config(geo_mirror.url))
    target = "results/GSE14520_GPL571/prepared.h5ad"
    res = run_snakemake(wd, target)
    assert res.returncode == 0, res.stderr[-4000:]
    adata = ad.read_h5ad(wd / target)
    assert adata.n_obs == 22 and adata.obs_names.str.startswith("GSM").all()
    assert int(adata.obs["os_time_months"].notna().sum()) == 21
    assert {"SLC7A11", "GPX4", "NQO1"} <= set(adata.var_names)
    assert 2 < float(np.median(adata.X)) < 14  # log2 scale kept
    keep = json.loads(adata.uns["clinical_mapping"])[0]
    assert keep == {"mapping": "samples.keep", "column": "Tissue", "kept": 22, "dropped": 21,
                    "excluded": 21, "missing": 0}
    dl = wd / "resources" / "cohorts" / "GSE14520_GPL571" / "download"
    assert sorted(p.name for p in dl.iterdir() if p.name.endswith(".sha256.json")) == sorted(
        f"{n}.sha256.json" for n in ("GSE14520-GPL571_series_matrix.txt.gz",
                                     "GSE14520_clinical_full.csv",
                                     "derived_GPL571_probe2symbol_idmap2.tsv"))
    assert not [p for p in wd.rglob("*") if p.name.endswith((".part", ".tmp"))]


@pytest.mark.slow
@pytest.mark.bad_input
def test_unknown_accession_fails_with_the_url_and_leaves_nothing(geo_mirror, tmp_path):
    cfg = yaml.safe_load(geo_config(geo_mirror.url))
    cfg["cohorts"]["GSE14520_GPL571"]["accession"] = "GSE99999999"
    wd = make_workdir(tmp_path / "wd", yaml.safe_dump(cfg))
    res = run_snakemake(wd, "results/GSE14520_GPL571/prepared.h5ad")
    assert res.returncode != 0
    assert "logs/fetch/GSE14520_GPL571/GSE99999999-GPL571_series_matrix.txt.gz.log" in res.stderr
    log = (wd / "logs" / "fetch" / "GSE14520_GPL571").glob("*.log")
    text = "\n".join(p.read_text() for p in log)
    assert "GSE99999999" in text and "HTTP 404" in text and "Fix:" in text
    # nothing of the failed URL and nothing half-written remains; downloads that ran in
    # parallel and finished (the probe map, the supplement) stay, each complete and verified
    cohort_dir = wd / "resources" / "cohorts" / "GSE14520_GPL571"
    files = [p for p in cohort_dir.rglob("*") if p.is_file()] if cohort_dir.exists() else []
    assert not [p for p in files if "GSE99999999" in p.name or p.name.endswith((".part", ".tmp"))]
    for manifest in [p for p in files if p.name.endswith(".sha256.json")]:
        data = manifest.with_name(manifest.name[: -len(".sha256.json")])
        assert json.loads(manifest.read_text())["sha256"] == hashlib.sha256(
            data.read_bytes()).hexdigest()
    assert all(p.name.endswith(".sha256.json") or p.with_name(p.name + ".sha256.json").exists()
               for p in files)
    assert not (wd / "results" / "GSE14520_GPL571").exists() or not [
        p for p in (wd / "results" / "GSE14520_GPL571").rglob("*") if p.is_file()]


def test_gpl3921_samples_from_real_annotations_select_225_tumours(tmp_path):
    """GSE14520's main platform: no GPL3921 matrix is in ../shared, but its sample annotations
    (GEOquery pData) are. A series-matrix header written from their verbatim characteristic
    strings (capitalised 'Individual:' on most arrays, 'individual:' on some) goes through the
    parser, the tumour selection of config/public_cohorts.yaml and the supplement join."""
    pdata = pd.read_csv(shared_path("cohorts", "GSE14520", "GSE14520_clinical_platform1.csv.gz"))
    supplement = pd.read_csv(shared_path("cohorts", "GSE14520", "GSE14520_clinical_full.csv"))
    gsm = pdata["geo_accession"].tolist()

    def line(key, values):
        return "\t".join([f"!{key}", *[f'"{v}"' for v in values]]) + "\n"

    text = line("Series_platform_id", ["GPL3921"]) + line("Sample_title", pdata["title"])
    text += line("Sample_geo_accession", gsm)
    for col in ("characteristics_ch1", "characteristics_ch1.1", "characteristics_ch1.2"):
        text += line("Sample_characteristics_ch1", pdata[col])
    text += "!series_matrix_table_begin\n" + "\t".join(['"ID_REF"', *gsm]) + "\n"
    text += "\t".join(['"1007_s_at"', *["7.0"] * len(gsm)]) + "\n!series_matrix_table_end\n"
    path = tmp_path / "GSE14520-GPL3921_series_matrix.txt.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(text)

    sm = geo.read_series_matrix(path)
    assert sm.samples["individual"].notna().all()  # both spellings land in one column
    cohorts = yaml.safe_load((REPO / "config" / "public_cohorts.yaml").read_text())["cohorts"]
    entry = cohorts["GSE14520_GPL3921"]
    kept = geo.select_samples(sm, entry["samples"]["keep"], str(path))
    clin = geo.clinical_table(sm, kept, supplement, entry["clinical_supplement"]["id_column"],
                              "supplement")
    assert len(kept) == 225
    assert int(clin["Survival.months"].notna().sum()) == 221
    assert int(clin["Survival.status"].sum()) == 85


# ------------------------------------------------------------------------------------------
# the public GSE14520_GPL571 entry, verbatim, end to end through a loopback mirror of the
# real files: series matrix, the real GSE14520_Extra_Supplement.txt.gz, and a GPL571.annot.gz
# written (GEO .annot layout) from the derived probe -> symbol table

SEED_GENES = ("SLC7A11", "GPX4", "STIM1", "KDELR3")


def write_annot(src, dest) -> None:
    """A GEO ``.annot.gz`` (header lines, ``!platform_table_begin``, ID / Gene symbol table)."""
    table = pd.read_csv(src, sep="\t", dtype=str)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(dest, "wt") as fh:
        fh.write("^Annotation\n!Annotation_platform = GPL571\n#ID = probe set\n"
                 "#Gene symbol = gene symbol\n!platform_table_begin\nID\tGene symbol\n")
        for probe, sym in zip(table["ID"], table["symbol"].fillna(""), strict=True):
            fh.write(f"{probe}\t{sym}\n")
        fh.write("!platform_table_end\n")


@pytest.fixture()
def public_gpl571_mirror(tmp_path):
    root = tmp_path / "host"
    series = root / "series" / "GSE14nnn" / "GSE14520"
    for rel, name in (("matrix", "GSE14520-GPL571_series_matrix.txt.gz"),
                      ("suppl", "GSE14520_Extra_Supplement.txt.gz")):
        (series / rel).mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_path("cohorts", "GSE14520", name), series / rel / name)
    write_annot(shared_path("platforms-reference", "derived_GPL571_probe2symbol_idmap2.tsv"),
                root / "platforms" / "GPLnnn" / "GPL571" / "annot" / "GPL571.annot.gz")
    with Mirror(root) as m:
        yield m


@pytest.mark.slow
def test_public_gse14520_gpl571_tumour_vs_nontumour_end_to_end(public_gpl571_mirror, tmp_path,
                                                                capsys):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    public = yaml.safe_load((REPO / "config" / "public_cohorts.yaml").read_text())["cohorts"]
    cfg["mirrors"] = {"geo": public_gpl571_mirror.url}
    cfg["cohorts"] = {"GSE14520_GPL571": public["GSE14520_GPL571"]}
    cfg.pop("models", None)
    wd = make_workdir(tmp_path / "wd", yaml.safe_dump(cfg))
    res = run_snakemake(wd, "results/report.html")
    assert res.returncode == 0, res.stderr[-4000:]
    # tumours: exactly as without the comparison
    adata = ad.read_h5ad(wd / "results" / "GSE14520_GPL571" / "prepared.h5ad")
    assert adata.n_obs == 22 and adata.n_vars == 12548
    assert int(adata.obs["os_time_months"].notna().sum()) == 21
    assert int(adata.obs["os_event"].sum()) == 11
    assert "ferroscope_tissue" not in adata.obs
    keep = json.loads(adata.uns["clinical_mapping"])[0]
    assert keep["kept"] == 22 and keep["excluded"] == 21
    # tumours and non-tumours together, 19 pairs
    both = ad.read_h5ad(wd / "results" / "GSE14520_GPL571" / "tissue" / "prepared.h5ad")
    assert both.obs["ferroscope_tissue"].value_counts().to_dict() == {"tumour": 22,
                                                                      "non_tumour": 19}
    assert json.loads(both.uns["clinical_mapping"])[0]["pairs"] == 19
    stats = pd.read_csv(wd / "results" / "statistics.tsv", sep="\t")
    tissue = stats[stats["analysis"] == "tumour_vs_nontumour"]
    assert (tissue["test"] == "signed_rank").all() and (tissue["n"] == 19).all()
    gsh = tissue[(tissue["set"] == "FERROPTOSIS_DEFENCE_GSH")
                 & (tissue["method"] == cfg["scoring"]["primary"])].iloc[0]
    genes = tissue[tissue["method"] == "expression"].set_index("gene")
    assert set(SEED_GENES) <= set(genes.index)
    with capsys.disabled():  # the numbers quoted in the closing note of issue 18
        cols = ["estimate", "ci_low", "ci_high", "p", "n"]
        print("\nGSE14520_GPL571 tumour - non-tumour (paired Wilcoxon, HL [95% CI], p, pairs)")
        print(f"FERROPTOSIS_DEFENCE_GSH ({gsh['method']}):", gsh[cols].to_dict())
        for g in SEED_GENES:
            print(g, genes.loc[g, cols].to_dict())
    report = (wd / "results" / "report.html").read_text()
    assert 'id="tissue"' in report and "scored together" in report


def test_gpl571_comparison_group_pairs_19_by_supplement_id(gpl571):
    supplement = pd.read_csv(shared_path("cohorts", "GSE14520", "GSE14520_Extra_Supplement.txt.gz"),
                             sep="\t")
    entry = yaml.safe_load((REPO / "config" / "public_cohorts.yaml").read_text())[
        "cohorts"]["GSE14520_GPL571"]["samples"]
    tumours = geo.select_samples(gpl571, entry["keep"], "matrix")
    normals = geo.select_comparison(gpl571, entry["compare"], entry["keep"], "matrix")
    assert len(tumours) == 22 and len(normals) == 19
    clin = geo.clinical_table(gpl571, tumours + normals, supplement, "Affy_GSM", "sup")
    marked = geo.mark_comparison(clin, normals, entry["pair_by"], "sup")
    from ferroscope.tissue import compare_record

    assert compare_record(marked, "tissue") == {
        "mapping": "samples.compare", "column": "tissue", "kept": 19, "dropped": 0,
        "tumours": 22, "pairs": 19}


@pytest.mark.bad_input
def test_comparison_value_matching_nothing_is_named(gpl571):
    with pytest.raises(FerroscopeError, match=r"'Liver Normal'.*samples.compare.values.*"
                                              r"Observed values.*'Liver Non-Tumor Tissue' 19"):
        geo.select_comparison(gpl571, {"characteristic": "tissue", "values": ["Liver Normal"]},
                              TUMOUR, "matrix")
    with pytest.raises(FerroscopeError, match="both tumours"):
        geo.select_comparison(gpl571, {"characteristic": "Tissue",
                                       "values": ["Liver Tumor Tissue"]}, TUMOUR, "matrix")
