"""Maintainer tool: regenerate bench/published/*.json from the paper specs' section 8 tables.

    python -m deepclust.bench.transcribe /path/to/shared/specs

Every published number becomes one row {method, dataset, metric, statistic, value, table, ...} with the
value as a fraction in [0, 1]. What is transcribed mechanically: the numbers (from the spec tables, via
`spec_tables`). What is decided here, by hand, per paper: which tables, which column is which
dataset/metric/statistic, the unit (percent or fraction), and the map from the paper's method labels to
deepclust's registry names (`METHOD_NAMES`; unlisted labels become a slug of the label). The test
tests/bench/test_published.py re-reads the spec tables independently and checks every row.

Statistics: "mean", "median", "min", "max" as the paper states them; "reported" = a single number whose
statistic the paper does not state (mostly baselines copied from the literature). Our runs are compared
with a "reported" number through their mean.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from ..engine.io import write_bytes
from .spec_tables import find_table, parse_tables, parse_value

PUBLISHED_DIR = Path(__file__).parent / "published"

# paper label (footnote marks and [n] citations removed, case-insensitive) -> (method, variant, note)
METHOD_NAMES = {
    "k-means": ("kmeans", None, None),
    "kmeans": ("kmeans", None, None),
    "gmm": ("gmm", None, None),
    "ac": ("ward", None, "agglomerative clustering; linkage not stated in the source, compared with Ward"),
    "dec": ("dec", None, None),
    "idec": ("idec", None, None),
    "dcec": ("dcec", None, None),
    "ae": ("ae-kmeans", None, "autoencoder features + k-means"),
    "autoencoder+ k-means": ("ae-kmeans", None, None),
    "sae+k-means": ("ae-kmeans", None, "stacked autoencoder + k-means (DCEC paper's baseline)"),
    "aef+km": ("ae-kmeans", None, "the paper's own stage-1 autoencoder + k-means; our ae-kmeans uses "
                                  "DEC's d-500-500-2000-10 autoencoder"),
    "dc-k-means": ("dc-kmeans", None, "DeepCluster, Tian et al. (k-means variant)"),
    "dc-kmeans": ("dc-kmeans", None, "DeepCluster, Tian et al. (k-means variant)"),
    "dc-gmm": ("dc-gmm", None, "DeepCluster, Tian et al. (GMM variant)"),
    "dcfae": ("dcfae", None, None),
    "dcfae − dis": ("dcfae", "no-discriminator", "ablation: without the discriminator"),
    "dcfae − resnet": ("dcfae", "no-resnet", "ablation: plain conv encoder/decoder"),
    "dcfae − dennet": ("dcfae", "no-densenet", "ablation: without DeepDenseNet (clusters on mu)"),
    "cae-mle": ("cae-mle", None, None),
    "deep ifl (cae-mle)": ("deep-ifl", None, "Deep IFL on CAE-MLE features"),
    "deep ifl (dec)": ("deep-ifl", "dec", "Deep IFL on DEC features (earlier paper [1])"),
    "dcan (raw pixels)": ("dcan", "raw", None),
    "dcan (raw features)": ("dcan", "raw", None),
    "dcan (deep features)": ("dcan", "deep-features", "on ResNet features (not runnable here)"),
}
PAPER_OWN = {  # 'Ours' means a different method in each paper
    "002": {"ours": ("pfc", None, None),
            "ours* (with invariance knowledge / augmentation)": ("pfc", "invariance", "with invariance knowledge / "
                                                                   "augmentation; how is not described")},
    "003": {"ours": ("agmm", None, None),
            "deepgmm (η = 0)": ("agmm", "eta0", "ablation DeepGMM: eta = 0"),
            "deepgmm": ("agmm", "eta0", "ablation DeepGMM: eta = 0")},
    "004": {"ae": ("ae-kmeans-dcan", None, "autoencoder (reconstruction loss) + k-means"),
            "vae": ("vae-kmeans", None, "VAE + k-means on the mean code")},
}
DATASET_NAMES = {
    "mnist": "mnist", "mnist-test": "mnist-test", "usps": "usps", "fashion-mnist": "fashion-mnist",
    "f-mnist": "fashion-mnist", "fashion": "fashion-mnist", "coil-100": "coil-100", "coil100": "coil-100",
    "coil20": "coil-20", "cmupie": "cmu-pie", "cmu-pie": "cmu-pie", "stl-10": "stl-10", "stl10": "stl-10",
    "reuters-4": "reuters-4", "reuters4": "reuters-4", "cifar-10": "cifar-10", "imagenet-10": "imagenet-10",
    "svhn": "svhn", "reuters-10k": "reuters-10k", "artifact-mnist": "artifact-mnist", "usps700": "usps700",
}


def clean_label(label: str) -> str:
    s = label.replace("**", "")
    s = re.sub(r"\s*\[\d+\]", "", s)            # citations
    s = re.sub(r"\s[¹²³⁴⁵]+", "", s)            # footnote marks (after a space; S²ConvSCN keeps its ²)
    s = s.replace(" (listed a second time)", "")
    return " ".join(s.split()).strip()


def slug(label: str) -> str:
    s = clean_label(label).lower()
    s = s.replace("+", "-").replace("²", "2").replace("−", "-")
    s = re.sub(r"[^a-z0-9.-]+", "-", s)
    return re.sub(r"-+", "-", s).strip("-")


def method_of(label: str, paper: str):
    key = clean_label(label).lower()
    own = PAPER_OWN.get(paper, {})
    if key in own:
        return own[key]
    if key in METHOD_NAMES:
        return METHOD_NAMES[key]
    if key == "method":  # "Method [63]": an unnamed method, known by its citation
        ref = re.search(r"\[(\d+)\]", label).group(1)
        return f"method{ref}", None, f"unnamed method, reference [{ref}] of the paper"
    return slug(label), None, None


def cited(label: str) -> bool:
    """Copied from another paper: a citation [n] or a footnote mark naming the source."""
    return bool(re.search(r"\[\d+\]|[¹²³⁴⁵]", label))


def _row(paper, table, sub, row_label, column, value, *, dataset, dataset_paper, metric, statistic,
         unit, std=None, literature=False, n_runs=None, setting=None, method=None):
    m, variant, note = method if method is not None else method_of(row_label, paper)
    scale = 100.0 if unit == "percent" else 1.0
    r = {"method": m, "method_paper": clean_label(row_label), "variant": variant, "dataset": dataset,
         "dataset_paper": dataset_paper, "metric": metric, "statistic": statistic,
         "value": round(value / scale, 6), "std": None if std is None else round(std / scale, 6),
         "n_runs": n_runs, "setting": setting or {}, "table": table, "sub": sub, "row": row_label,
         "column": column, "from_literature": literature, "note": note}
    return r


def _wide(paper, tables, name, *, key, unit, columns, statistic, n_runs=None, sub=None, literature_rule=None):
    """Rows of a table with one row per method and one column per (dataset, metric[, statistic])."""
    t = find_table(tables, name, sub)
    k = t.header.index(key)
    out = []
    for row in t.rows:
        label = row[k]
        for j, col in enumerate(t.header):
            spec = columns(col)
            if spec is None:
                continue
            v = parse_value(row[j])
            if v is None:
                continue
            value, std, star = v
            ds_paper, metric, stat = spec[0], spec[1], (spec[2] if len(spec) > 2 else None)
            lit = star or (literature_rule(label) if literature_rule else False)
            st = stat or statistic
            if callable(st):
                st = st(label, star)
            out.append(_row(paper, name, sub, label, col, value, dataset=DATASET_NAMES.get(ds_paper.lower(), slug(ds_paper)),
                            dataset_paper=ds_paper, metric=metric, statistic=st, unit=unit, std=std,
                            literature=lit, n_runs=n_runs))
    return out


def _cols_ds_metric(col):
    """'USPS ACC' -> ('USPS', 'acc'); skips 'Average ...' and non-metric columns."""
    parts = col.rsplit(" ", 1)
    if len(parts) != 2 or parts[1] not in ("ACC", "NMI", "ARI") or parts[0] == "Average":
        return None
    return parts[0], parts[1].lower()


def paper_000(tables):
    rows = []
    stat = lambda label, star: "mean" if label.replace("**", "").startswith("DCFAE") else "reported"
    for name in ("Table 2", "Table 3", "Table 4", "Table 5"):
        rows += _wide("000", tables, name, key="Model", unit="percent", columns=_cols_ds_metric, statistic=stat,
                      literature_rule=lambda label: not label.startswith("DCFAE"))
    for r in rows:
        if r["method"] == "dcfae":
            r["n_runs"] = 10
    return rows


def paper_001(tables):
    rows = []
    for name, ds in (("Table II", "MNIST"), ("Table III", "USPS"), ("Table IV", "MNIST"), ("Table V", "USPS")):
        own = lambda label: label.startswith("**")
        rows += _wide("001", tables, name, key="Clustering model", unit="percent",
                      columns=lambda col, ds=ds: (ds, col.lower()) if col in ("NMI", "ACC") else None,
                      statistic=lambda label, star: "mean" if label.startswith("**") else "reported",
                      literature_rule=lambda label: not own(label))
    for r in rows:
        if r["statistic"] == "mean":
            r["n_runs"] = 5
        if r["table"] in ("Table IV", "Table V"):
            r["note"] = "tuned per dataset / data augmentation / noise reconstruction (not comparable)"
    return rows


def paper_002(tables):
    rows = []
    stats = {"Min": "min", "Max": "max", "Med": "median"}

    def cols(ds):
        def f(col):
            parts = col.split()
            if len(parts) == 2 and parts[0] in ("ACC", "NMI", "ARI") and parts[1] in stats:
                return ds, parts[0].lower(), stats[parts[1]]
            return None
        return f

    for name, ds in (("Table I", "MNIST"), ("Table II", "Fashion-MNIST"), ("Table III", "Artifact-MNIST"),
                     ("Table V", "USPS700")):
        rows += _wide("002", tables, name, key="Method", unit="fraction", columns=cols(ds), statistic=None, n_runs=10)
    for metric in ("ACC", "NMI", "ARI"):
        def f(col, metric=metric):
            if col == "Method":
                return None
            st, who = col.split()
            return ("ORL" if who == "ID" else "ORL-gender"), metric.lower(), stats[st]
        rows += _wide("002", tables, "Table IV", key="Method", unit="fraction", columns=f, statistic=None,
                      n_runs=10, sub=metric)
    rows += _wide("002", tables, "Table VI", key="Method", unit="fraction", columns=_cols_ds_metric,
                  statistic=lambda label, star: "median" if label.startswith("**Ours") else "reported",
                  literature_rule=lambda label: not label.startswith("**Ours"))
    for r in rows:
        if r["from_literature"]:  # '*' values: copied from the literature, their statistic unknown
            r["statistic"], r["n_runs"] = "reported", None
            r["note"] = "reported in the literature (*)"
        if r["dataset"] == "orl-gender":
            r["setting"] = {"n_clusters": 2, "labels": "gender"}
        if r["dataset"] == "artifact-mnist":
            r["setting"] = {"n_clusters": 3, "labels": "artifact value"}
    return rows


def paper_003(tables):
    rows = []
    for name, metric, unit in (("Table 3", "acc", "percent"), ("Table 4", "nmi", "fraction")):
        rows += _wide("003", tables, name, key="Dataset", unit=unit,
                      columns=lambda col, metric=metric: None if col == "Dataset" else (col, metric),
                      statistic="mean", n_runs=10)
    t5 = find_table(tables, "Table 5")
    for row in t5.rows:
        for j, col in enumerate(t5.header[1:], start=1):
            v = parse_value(row[j])
            if v is None:
                continue
            k, _, metric = col.split()
            rows.append(_row("003", "Table 5", None, row[0], col, v[0], dataset="reuters-20", dataset_paper="Reuters-20",
                             metric=metric.lower(), statistic="reported", unit="fraction",
                             setting={"n_clusters": int(k)}))
    t6 = find_table(tables, "Table 6")
    for row in t6.rows:
        ds_paper, metric = row[0].rsplit(" ", 1)
        for j, col in enumerate(t6.header[1:], start=1):
            v = parse_value(row[j])
            rows.append(_row("003", "Table 6", None, row[0], col, v[0], dataset=DATASET_NAMES[ds_paper.lower()],
                             dataset_paper=ds_paper, metric=metric.lower(), statistic="reported", unit="fraction",
                             setting={"eta": float(col)}, method=("agmm", None, "eta sweep")))
    return rows


def paper_004(tables):
    rows = []
    for name, ds in (("Table II", "SVHN"), ("Table III", "USPS"), ("Table IV", "MNIST"), ("Table V", "CIFAR10"),
                     ("Table VI", "REUTERS-10K")):
        dsn = {"CIFAR10": "cifar-10", "REUTERS-10K": "reuters-10k"}.get(ds, ds.lower())
        t = find_table(tables, name)
        for row in t.rows:
            v = parse_value(row[3])
            if v is None:
                continue
            r = _row("004", name, None, row[2], "ACC", v[0], dataset=dsn, dataset_paper=ds, metric="acc",
                     statistic="mean" if ds == "SVHN" else "reported", unit="fraction",
                     literature=cited(row[2]))
            if dsn == "mnist" and r["variant"] == "raw":
                r["setting"] = {"input": "14x14 raw pixels"}
            rows.append(r)
    t7 = find_table(tables, "Table VII")
    for row in t7.rows:
        lam = float(row[1].split("=")[1])
        for j, col in enumerate(t7.header[2:], start=2):
            v = parse_value(row[j])
            if v is None:
                continue
            metric, it = col.split()
            rows.append(_row("004", "Table VII", None, row[0], col, v[0], dataset="svhn", dataset_paper="SVHN",
                             metric=metric.lower(), statistic="reported", unit="fraction",
                             setting={"lambda3": lam, "iteration": it.strip("()").split("=")[1]},
                             method=("abc", None, "ablation of the ABC loss weight (not DCAN)")))
    return rows


PAPERS = {
    "000": ("000_dcfae", "DCFAE: Deep Clustering with Fusion AutoEncoder", paper_000),
    "001": ("001_caemle_ifl", "CAE-MLE and Deep IFL (with the DCEC baseline)", paper_001),
    "002": ("002_precise_feature", "Learning the Precise Feature for Cluster Assignment (PFC)", paper_002),
    "003": ("003_adaptive_gmm", "Unsupervised deep clustering via adaptive GMM modeling and optimization", paper_003),
    "004": ("004_dcan", "DCAN: Deep Clustering using Adversarial-net-based clustering loss", paper_004),
}
OUT_NAMES = {"000": "000_dcfae", "001": "001_caemle_ifl", "002": "002_pfc", "003": "003_agmm", "004": "004_dcan"}


def transcribe(specs_dir) -> dict[str, dict]:
    out = {}
    for pid, (stem, title, fn) in PAPERS.items():
        text = (Path(specs_dir) / f"{stem}.md").read_text()
        rows = fn(parse_tables(text))
        out[pid] = {"paper": pid, "key": OUT_NAMES[pid].split("_", 1)[1], "title": title, "spec": f"{stem}.md",
                    "units": "fractions in [0, 1] (the paper's percentages divided by 100)",
                    "statistics": "mean/median/min/max as stated by the paper; 'reported' = one number whose "
                                  "statistic is not stated (compared with our mean)",
                    "rows": rows}
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    specs = Path(argv[0] if argv else "/work/shared/specs")
    PUBLISHED_DIR.mkdir(exist_ok=True)
    for pid, doc in transcribe(specs).items():
        path = PUBLISHED_DIR / f"{OUT_NAMES[pid]}.json"
        write_bytes(path, (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
        print(f"{path}: {len(doc['rows'])} rows")


if __name__ == "__main__":
    main()
