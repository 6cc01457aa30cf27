"""``benchmarks/workflow.py --analyse``: job seconds, the compute floor and the table comparison of a run folder
(snakemake's benchmark TSV and the rules' log format, written here)."""

from __future__ import annotations

import importlib.util

from workflow_helpers import ROOT

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _module():
    spec = importlib.util.spec_from_file_location("workflow_bench", ROOT / "benchmarks" / "workflow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _job(run, name, seconds, stamps):
    bench, log = run / "benchmarks" / f"{name}.tsv", run / "logs" / f"{name}.log"
    bench.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    bench.write_text(HEADER + f"{seconds}\t0:00:0{int(seconds)}\t100.0\t200.0\t90.0\t95.0\t0.0\t0.0\t50.0\t1.0\n")
    log.write_text("".join(f"2026-11-29 23:18:{s} split INFO line {i}\nprogress bar text\n" for i, s in enumerate(stamps)))


def test_floor_is_the_sum_of_log_spans_and_tables_compare_byte_for_byte(tmp_path, capsys):
    wb = _module()
    run, other = tmp_path / "a", tmp_path / "b"
    _job(run, "split", 2.5, ["06,000", "07,250"])  # 1.25 s of work
    _job(run, "shards/kernel-full/0", 9.0, ["10,000", "11,000", "15,500"])  # 5.5 s
    _job(run, "design/kernel", 0.2, [])  # no log lines: all of it counts as work
    jobs = dict((name, (s, w)) for name, s, w in wb.job_seconds(run))
    assert jobs == {"split": (2.5, 1.25), "shards/kernel-full/0": (9.0, 5.5), "design/kernel": (0.2, 0.2)}
    for folder, loss in ((run, "1.5"), (other, "1.5")):
        (folder / "tables").mkdir(parents=True, exist_ok=True)
        (folder / "tables" / "value_loss.csv").write_text(f"method,H\nfds,{loss}\n")
        (folder / "tables" / "cost.csv").write_text(f"method,seconds\nfds,{len(str(folder))}\n")
    assert wb.compare_tables(run, other) == []  # cost.csv (seconds) is not compared
    (other / "tables" / "value_loss.csv").write_text("method,H\nfds,1.50000001\n")
    (other / "tables" / "extra.csv").write_text("x\n")
    assert wb.compare_tables(run, other) == ["extra.csv", "value_loss.csv"]
    wb.main(["--analyse", str(run), "--compare", str(other)])
    out = capsys.readouterr().out
    assert "jobs: 3; sum of job seconds: 12 s" in out and "compute floor" in out and ": 7 s;" in out
    assert "DIFFER: ['extra.csv', 'value_loss.csv']" in out
