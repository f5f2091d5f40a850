"""Expression matrices as users write them: every parse problem stops with one message naming
the file, the field and the fix (issue 11), and nothing is written."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from ferroscope.errors import FerroscopeError
from ferroscope.io import read_table
from ferroscope.prepare import read_expression

HEADER = "gene\tDEMO-0001\tDEMO-0002\tDEMO-0003\n"
ROWS = "GPX4\t7.1\t7.4\t6.9\nSLC7A11\t5.0\t5.5\t4.8\n"


def write(tmp_path, name, text, *, gz=False, raw=None):
    p = tmp_path / name
    data = raw if raw is not None else text.encode("utf-8")
    p.write_bytes(gzip.compress(data) if gz else data)
    return p


def expect(path, pattern, *, fix):
    before = sorted(x.name for x in path.parent.iterdir())
    with pytest.raises(FerroscopeError, match=pattern) as exc:
        read_expression(str(path), what="expression matrix of cohort x",
                        field="cohorts.x.expression")
    msg = str(exc.value)
    assert str(path) in msg, msg
    assert "field '" in msg, msg  # the config key, or the column to blame
    assert "Fix:" in msg and fix in msg.split("Fix:", 1)[1], msg
    assert sorted(x.name for x in path.parent.iterdir()) == before  # nothing written
    return msg


def test_good_matrix_reads_as_float64(tmp_path):
    df = read_expression(str(write(tmp_path, "m.tsv.gz", HEADER + ROWS, gz=True)))
    assert df.shape == (2, 3) and df.dtypes.eq(np.float64).all()
    assert df.loc["GPX4", "DEMO-0002"] == 7.4


def test_missing_cells_are_kept_as_nan(tmp_path):
    text = HEADER + "GPX4\tNA\t7.4\t\nSLC7A11\t5.0\tNaN\t4.8\n"
    df = read_expression(str(write(tmp_path, "m.tsv", text)))
    assert int(df.isna().to_numpy().sum()) == 3


def test_r_write_table_header_without_gene_field(tmp_path):
    text = "DEMO-0001\tDEMO-0002\tDEMO-0003\n" + ROWS
    df = read_expression(str(write(tmp_path, "m.tsv", text)))
    assert list(df.columns) == ["DEMO-0001", "DEMO-0002", "DEMO-0003"]
    assert list(df.index) == ["GPX4", "SLC7A11"]


@pytest.mark.bad_input
def test_duplicated_sample_column_is_caught_on_the_raw_header(tmp_path):
    text = "gene\tDEMO-0001\tDEMO-0002\tDEMO-0001\n" + ROWS
    msg = expect(write(tmp_path, "m.tsv", text), r"'DEMO-0001' appears twice.*columns 2 and 4",
                 fix="unique")
    assert "DEMO-0001.1" not in msg


@pytest.mark.bad_input
def test_non_numeric_cells_are_listed(tmp_path):
    text = HEADER + "GPX4\t7.1\t7,4\t6.9\nSLC7A11\t5.0\t5.5\thigh\nNQO1\t1\t2\t3\n"
    msg = expect(write(tmp_path, "m.tsv", text), "2 cell.*not numbers", fix="numeric")
    assert "'GPX4'" in msg and "'DEMO-0002'" in msg and "'7,4'" in msg
    assert "'SLC7A11'" in msg and "'high'" in msg


@pytest.mark.bad_input
def test_header_only_matrix(tmp_path):
    msg = expect(write(tmp_path, "m.tsv", HEADER), "header .* but no gene rows",
                 fix="complete")
    assert "field 'cohorts.x.expression'" in msg


@pytest.mark.bad_input
def test_empty_file(tmp_path):
    expect(write(tmp_path, "m.tsv", ""), "is empty", fix="check the file")


@pytest.mark.bad_input
def test_gene_column_not_first(tmp_path):
    text = "DEMO-0001\tgene\tDEMO-0002\n7.1\tGPX4\t7.4\n5.0\tSLC7A11\t5.5\n"
    expect(write(tmp_path, "m.tsv", text), "gene names are not in the first column",
           fix="move the gene column 'gene' to the front")


@pytest.mark.bad_input
def test_comma_file_named_tsv(tmp_path):
    text = HEADER.replace("\t", ",") + ROWS.replace("\t", ",")
    expect(write(tmp_path, "m.tsv.gz", text, gz=True),
           "named .tsv but its header is comma-separated", fix="rename it to .csv")


@pytest.mark.bad_input
def test_tab_file_named_csv(tmp_path):
    expect(write(tmp_path, "m.csv", HEADER + ROWS), "named .csv but its header is tab-separated",
           fix="rename it to .tsv")


@pytest.mark.bad_input
def test_empty_gene_names(tmp_path):
    text = HEADER + ROWS + "\t1\t2\t3\n"
    expect(write(tmp_path, "m.tsv", text), r"1 row\(s\).*no gene name.*lines \[4\]",
           fix="fill in the gene names")


@pytest.mark.bad_input
def test_non_utf8_byte_names_the_line(tmp_path):
    raw = (HEADER + ROWS).encode() + b"CAF\xe9\t1\t2\t3\n"
    expect(write(tmp_path, "m.tsv", "", raw=raw), "line 4 .* not UTF-8", fix="UTF-8")


@pytest.mark.bad_input
def test_truncated_gzip_is_named(tmp_path):
    data = gzip.compress((HEADER + ROWS * 200).encode())
    p = tmp_path / "m.tsv.gz"
    p.write_bytes(data[: len(data) // 2])
    expect(p, "cannot be read", fix="download or copy it again")


@pytest.mark.bad_input
def test_duplicated_clinical_column_on_the_raw_header(tmp_path):
    p = write(tmp_path, "c.csv", "patient,os,os\nA,1,2\n")
    with pytest.raises(FerroscopeError, match="'os' appears twice") as exc:
        read_table(p, what="clinical table of cohort x")
    assert str(p) in str(exc.value) and "Fix:" in str(exc.value)
