#!/usr/bin/python3
"""gen_stats.py — fixtures for tests/test_stats.c (tools/study/stats.c): distribution functions, t-tests,
Hosmer–Lemeshow both ways and the Brier score.

Run with Debian's interpreter and packages (python3-scipy, python3-statsmodels, python3-sklearn, python3-mpmath,
python3-numpy; no pip):

    /usr/bin/python3 tests/golden/gen_stats.py            # writes tests/golden/stats.json
    /usr/bin/python3 tests/golden/gen_stats.py /tmp/gold  # or somewhere else, to compare

stats.json (read by the C test with cJSON; floats are written with Python's repr, which round-trips exactly):

* "betainc": rows [a, b, x, scipy.special.betainc(a, b, x), exact]
* "gammainc": rows [a, x, scipy gammainc (P), scipy gammaincc (Q), exact P, exact Q]
* "t_sf2": rows [t, df, 2·scipy.stats.t.sf(|t|, df), exact]   (the two-sided p of the t-tests)
* "chi2_sf": rows [x, df, scipy.stats.chi2.sf(x, df), exact]
* "norm_cdf": rows [x, scipy.stats.norm.cdf(x), exact]
  "exact" is the same quantity in 50-digit mpmath arithmetic: mpmath's gammainc and ncdf, and for the incomplete
  beta the continued fraction of Numerical Recipes §6.4 evaluated at 50 digits to a 1e-45 stopping step (mpmath's
  own betainc does not converge for parameters near 1e4). It shows how far scipy itself is from the truth: the C
  test requires 1e-10 relative to scipy and a tighter bound relative to "exact". Arguments are chosen through
  scipy's inverse functions so that the values span 1e-300 … 1 − 1e-15; values below 1e-300 are not stored.
* "ttest_samples": {x1, x2, equal_var, t, df, p} — scipy.stats.ttest_ind (df restated: n1 + n2 − 2, or
  Welch–Satterthwaite as scipy's _unequal_var_ttest_denom computes it).
* "ttest_stats": {mean1, sd1, n1, mean2, sd2, n2, equal_var, t, df, p} — scipy.stats.ttest_ind_from_stats; the
  paper's Table 1 rows are among them.
* "hosmer_lemeshow": {name, p, y, g, quantile, equal, brier} where quantile / equal are {chi2, df, p, groups} or
  null when blasto must refuse (fewer than 3 non-empty groups). equal = statsmodels test_chisquare_binning with
  sort_method="stable" wherever statsmodels gives a number; quantile = a numpy re-statement of R
  ResourceSelection::hoslem.test (quantile breaks type 7, unique, cut(..., include.lowest = TRUE)). Both with
  blasto's two conventions: df = G − 2 over non-empty groups, and a cell with E = 0 counts 0 when O = 0 (the
  limit) and +inf otherwise — where statsmodels would give NaN the re-statement is used and the case says so
  ("equal_reference"); an infinite statistic is written as the string "inf" (JSON has no infinity).
  brier = sklearn.metrics.brier_score_loss.

Random data come from numpy's default_rng with fixed seeds, so a rerun with the same packages writes the same file.
"""
import json
import math
import os
import sys

import mpmath as mp
import numpy as np
import scipy
import scipy.special as sp
import scipy.stats as st
import sklearn
import statsmodels
from sklearn.metrics import brier_score_loss
from statsmodels.stats.diagnostic_gen import test_chisquare_binning

SEED = 20240505
mp.mp.dps = 50


# ---------------------------------------------------------------------------------------------------------------
# exact references

def mp_beta_fraction(a, b, x):
    """I_x(a,b) by the continued fraction, at 50 digits (valid for x < (a+1)/(a+b+2))."""
    a, b, x = mp.mpf(a), mp.mpf(b), mp.mpf(x)
    tiny = mp.mpf("1e-400")
    c, d = mp.mpf(1), 1 - (a + b) * x / (a + 1)
    d = 1 / d
    h = d
    stop = mp.mpf(10) ** -45
    for m in range(1, 10 ** 6):
        m2 = 2 * m
        aa = m * (b - m) * x / ((a - 1 + m2) * (a + m2))
        d = 1 + aa * d
        d = d if d != 0 else tiny
        c = 1 + aa / c
        c = c if c != 0 else tiny
        d = 1 / d
        h *= d * c
        aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1 + m2))
        d = 1 + aa * d
        d = d if d != 0 else tiny
        c = 1 + aa / c
        c = c if c != 0 else tiny
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < stop:
            break
    else:
        raise RuntimeError("continued fraction did not converge")
    return mp.exp(a * mp.log(x) + b * mp.log(1 - x) - mp.log(mp.beta(a, b))) * h / a


def mp_betainc(a, b, x):
    """x may be an mpf (exact arguments such as df/(df + t²))."""
    x = mp.mpf(x)
    if x == 0:
        return mp.mpf(0)
    if x == 1:
        return mp.mpf(1)
    if x > (mp.mpf(a) + 1) / (mp.mpf(a) + b + 2):
        return 1 - mp_beta_fraction(b, a, 1 - x)
    return mp_beta_fraction(a, b, x)


def fl(v):
    return float(v)


# ---------------------------------------------------------------------------------------------------------------
# distributions

def gen_betainc(rng):
    rows = []
    grid = [0.01, 0.2, 1.0, 3.5, 10.0, 70.0, 1000.0, 10000.0]
    targets = [1e-300, 1e-30, 1e-4, 0.3]

    def add(a, b, x):
        if not (0.0 < x < 1.0):
            return
        ref = float(sp.betainc(a, b, x))
        if ref < 1e-300:
            return
        rows.append([a, b, x, ref, fl(mp_betainc(a, b, x))])

    for a in grid:
        for b in grid:
            for t in targets:
                add(a, b, float(sp.betaincinv(a, b, t)))             # lower tail I = t
                add(a, b, 1.0 - float(sp.betaincinv(b, a, t)))       # upper tail 1 − I = t
            add(a, b, 0.5)
            add(a, b, a / (a + b))                                   # the mean, near the switch point
    for _ in range(200):
        a, b = 10 ** rng.uniform(-2, 4), 10 ** rng.uniform(-2, 4)
        t = 10 ** rng.uniform(-300, -0.3) if rng.uniform() < 0.5 else 1 - 10 ** rng.uniform(-15, -0.3)
        add(float(a), float(b), float(sp.betaincinv(a, b, t)))
    return rows


def gen_gammainc(rng):
    rows = []
    grid = [0.01, 0.1, 0.5, 1.0, 2.5, 9.5, 10.0, 30.0, 200.0, 1000.0, 10000.0]

    def add(a, x):
        if not (0.0 < x < math.inf):
            return
        P, Q = float(sp.gammainc(a, x)), float(sp.gammaincc(a, x))
        if max(P, Q) < 1e-300:
            return
        rows.append([a, x, P, Q, fl(mp.gammainc(a, 0, x, regularized=True)),
                     fl(mp.gammainc(a, x, mp.inf, regularized=True))])

    for a in grid:
        for t in [1e-300, 1e-30, 1e-5, 0.3]:
            add(a, float(sp.gammaincinv(a, t)))
            add(a, float(sp.gammainccinv(a, t)))
        add(a, a)
        add(a, a + 1.0)                                              # the series / fraction switch
    for _ in range(150):
        a = float(10 ** rng.uniform(-2, 4))
        t = float(10 ** rng.uniform(-300, -0.3))
        add(a, float(sp.gammaincinv(a, t)) if rng.uniform() < 0.5 else float(sp.gammainccinv(a, t)))
    return rows


def gen_t(rng):
    rows = []
    for df in [0.1, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0, 1000.0, 2553.0, 1e4, 1e5, 1e6]:
        for p in [1e-300, 1e-100, 1e-20, 1e-6, 0.01, 0.3, 0.9, 0.999999]:
            t = float(st.t.isf(p / 2, df))
            if not (0.0 < t < math.inf):
                continue
            ref = float(2 * st.t.sf(t, df))
            if ref < 1e-300:
                continue
            dfm, tm = mp.mpf(df), mp.mpf(t)
            rows.append([t if rng.uniform() < 0.5 else -t, df, ref, fl(mp_betainc(dfm / 2, 0.5, dfm / (dfm + tm * tm)))])
    return rows


def gen_chi2():
    rows = []
    for df in [0.1, 0.5, 1.0, 2.0, 3.0, 8.0, 30.0, 100.0, 1000.0, 1e4, 1e5]:
        for p in [1e-300, 1e-100, 1e-20, 1e-6, 0.01, 0.5, 0.99, 1 - 1e-8]:
            x = float(st.chi2.isf(p, df))
            if not (0.0 < x < math.inf):
                continue
            ref = float(st.chi2.sf(x, df))
            if ref < 1e-300:
                continue
            rows.append([x, df, ref, fl(mp.gammainc(mp.mpf(df) / 2, mp.mpf(x) / 2, mp.inf, regularized=True))])
    return rows


def gen_norm():
    xs = [float(v) for v in np.linspace(-37.5, 8.5, 93)] + [0.0, 1e-10, -1e-10, 0.999, -0.999, 1.0, -1.0, 1.5, -1.5]
    return [[x, float(st.norm.cdf(x)), fl(mp.ncdf(x))] for x in xs if st.norm.cdf(x) >= 1e-300]


# ---------------------------------------------------------------------------------------------------------------
# t-tests

def welch_df(v1, n1, v2, n2):
    vn1, vn2 = v1 / n1, v2 / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (vn1 + vn2) ** 2 / (vn1 ** 2 / (n1 - 1) + vn2 ** 2 / (n2 - 1))
    return 1.0 if np.isnan(df) else float(df)


def gen_ttest_samples(rng):
    cases = [([36, 38, 41, 35, 39, 40, 37, 42], [33, 34, 36, 31, 35, 32])]  # paper-method.md §9 golden
    cases.append(([1.0, 2.0], [3.0, 5.0]))
    cases.append(([4.0, 4.0, 4.0], [1.0, 2.0, 6.0, 2.5]))  # one group constant
    cases.append((list(rng.normal(36.2, 3.9, 7)), list(rng.normal(34.0, 3.1, 3))))
    cases.append((list(np.round(rng.normal(36.2, 3.9, 173))), list(np.round(rng.normal(34.0, 3.1, 81)))))
    cases.append((list(rng.normal(0, 1, 40)), list(rng.normal(0.05, 25, 12))))          # very unequal variances
    cases.append((list(rng.normal(1e3, 0.1, 30)), list(rng.normal(1e3 + 0.1, 0.1, 30))))  # offset: one-pass var fails
    cases.append((list(np.round(rng.normal(36.2, 3.9, 1743), 1)), list(np.round(rng.normal(34.0, 3.1, 812), 1))))
    out = []
    for x1, x2 in cases:
        x1, x2 = np.asarray(x1, float), np.asarray(x2, float)
        for equal_var in (True, False):
            r = st.ttest_ind(x1, x2, equal_var=equal_var)
            v1, v2 = np.var(x1, ddof=1), np.var(x2, ddof=1)
            df = len(x1) + len(x2) - 2.0 if equal_var else welch_df(v1, len(x1), v2, len(x2))
            out.append({"x1": [float(v) for v in x1], "x2": [float(v) for v in x2], "equal_var": equal_var,
                        "t": float(r.statistic), "df": df, "p": float(r.pvalue)})
    return out


PAPER_TABLE1 = [  # group, n_neg, mean_neg, sd_neg, n_pos, mean_pos, sd_pos (Kim et al. 2024, Table 1)
    ("Total", 1743, 36.2, 3.9, 812, 34.0, 3.1), ("A", 931, 36.3, 4.0, 339, 33.4, 2.9),
    ("B", 309, 35.8, 4.3, 216, 34.0, 3.2), ("C", 325, 36.5, 3.1, 77, 34.7, 3.0),
    ("D", 95, 36.6, 3.6, 136, 35.6, 2.9), ("E", 83, 35.3, 4.3, 44, 33.5, 3.8)]


def gen_ttest_stats(rng):
    rows = [(m1, s1, n1, m2, s2, n2) for _, n1, m1, s1, n2, m2, s2 in PAPER_TABLE1]
    rows += [(0.0, 1.0, 2, 0.0, 1.0, 2), (1.0, 0.0, 5, 2.0, 3.0, 9), (10.0, 2.0, 100000, 10.01, 2.0, 100000),
             (5.0, 1e-3, 3, -5.0, 1e3, 1000)]
    for _ in range(20):
        n1, n2 = int(rng.integers(2, 400)), int(rng.integers(2, 400))
        rows.append((float(rng.normal(0, 5)), float(rng.uniform(0.1, 10)), n1, float(rng.normal(0, 5)),
                     float(rng.uniform(0.1, 10)), n2))
    out = []
    for m1, s1, n1, m2, s2, n2 in rows:
        for equal_var in (True, False):
            r = st.ttest_ind_from_stats(m1, s1, n1, m2, s2, n2, equal_var=equal_var)
            df = n1 + n2 - 2.0 if equal_var else welch_df(s1 * s1, n1, s2 * s2, n2)
            out.append({"mean1": m1, "sd1": s1, "n1": n1, "mean2": m2, "sd2": s2, "n2": n2,
                        "equal_var": equal_var, "t": float(r.statistic), "df": df, "p": float(r.pvalue)})
    return out


# ---------------------------------------------------------------------------------------------------------------
# Hosmer–Lemeshow

def pearson_cell(o, e):
    if e > 0:
        return (o - e) ** 2 / e
    return 0.0 if o == 0 else math.inf


def hl_from_groups(p, y, groups):
    groups = [g for g in groups if len(g)]
    if len(groups) < 3:
        return None
    chi2 = 0.0
    for idx in groups:
        o1, e1, e0 = float(np.sum(y[idx])), float(np.sum(p[idx])), float(np.sum(1.0 - p[idx]))
        chi2 += pearson_cell(o1, e1) + pearson_cell(len(idx) - o1, e0)
    df = len(groups) - 2
    return {"chi2": chi2 if math.isfinite(chi2) else "inf", "df": df, "p": float(st.chi2.sf(chi2, df)), "groups": len(groups)}


def hl_quantile(p, y, g):
    """R ResourceSelection::hoslem.test grouping: qq <- unique(quantile(yhat, probs = seq(0, 1, 1/g)));
    cut(yhat, breaks = qq, include.lowest = TRUE) — right-closed intervals, the lowest closed."""
    probs = np.minimum(np.arange(g + 1) * (1.0 / g), 1.0)
    qq = np.unique(np.quantile(p, probs))
    if len(qq) < 2:
        return None
    k = np.maximum(np.searchsorted(qq, p, side="left"), 1) - 1
    return hl_from_groups(p, y, [np.nonzero(k == j)[0] for j in range(len(qq) - 1)])


def hl_equal(p, y, g):
    order = np.argsort(p, kind="stable")
    return hl_from_groups(p, y, np.array_split(order, g))


def hl_equal_statsmodels(p, y, g):
    r = test_chisquare_binning(np.column_stack([1 - y, y]).astype(float), np.column_stack([1 - p, p]),
                               sort_var=p, bins=g, sort_method="stable")
    if not np.isfinite(r.statistic):
        return None
    return {"chi2": float(r.statistic), "df": int(r.df), "p": float(r.pvalue), "groups": g}


def gen_hosmer_lemeshow(rng):
    def bern(p):
        return (rng.uniform(size=len(p)) < p).astype(int)

    cases = []
    p = rng.uniform(0.02, 0.98, 200)
    cases.append(("continuous n=200", p, bern(p), 10))
    p = np.round(rng.beta(2, 3, 300) * 20) / 20
    cases.append(("ties: 0.05 grid n=300", p, bern(p), 10))
    levels = np.array([0.1, 0.25, 0.3, 0.55, 0.7, 0.9])
    p = levels[rng.integers(0, len(levels), 500)]
    cases.append(("isotonic-like 6 levels n=500", p, bern(np.clip(p + 0.1, 0, 1)), 10))
    p = np.full(50, 0.3)
    cases.append(("constant p n=50", p, bern(p), 10))
    cases.append(("tiny n=3", np.array([0.2, 0.5, 0.8]), np.array([0, 1, 1]), 10))
    cases.append(("tiny n=4 with a tie", np.array([0.4, 0.1, 0.4, 0.9]), np.array([0, 0, 1, 1]), 10))
    p = np.round(rng.uniform(0, 1, 2000), 3)
    cases.append(("large n=2000, 3 decimals", p, bern(p), 10))
    p = np.concatenate([np.zeros(20), np.ones(15), rng.uniform(0.05, 0.95, 60)])
    y = np.concatenate([np.zeros(20, int), np.ones(15, int), bern(p[35:])])
    cases.append(("exact zeros and ones (E = 0, O = 0)", p, y, 10))
    p = np.concatenate([np.zeros(20), rng.uniform(0.05, 0.95, 40)])
    y = np.concatenate([np.zeros(19, int), [1], bern(p[20:])])
    cases.append(("event at p = 0 (infinite statistic)", p, y, 10))
    p = rng.uniform(0.1, 0.6, 97)
    cases.append(("g=5 n=97", p, bern(p), 5))
    p = rng.uniform(0.1, 0.6, 23)
    cases.append(("g=3 n=23", p, bern(p), 3))
    p = np.array([0.2] * 30 + [0.7] * 30)
    cases.append(("two levels: quantile has 2 groups", p, bern(p), 10))

    # paper-method.md §9 toy data (n = 30, 13 positives), reconstructed: scores on the 0.05 grid (the isotonic
    # thresholds are), and the calibration-curve bin means and fractions, the isotonic blocks, the Youden counts,
    # AUROC = 203.5/221 and Brier = 0.12875 leave exactly one multiset of (score, label). Its quantile-cut HL is
    # §9's value (order-free). Equal-size groups of 3 split the four 0.35 scores (2 positive) 2 + 2 across groups
    # 4 and 5, so the statistic depends on their input order under a stable sort: 6.18 (negatives first), 6.76
    # (positives first), 3.534 (one of each first) — §9's 3.53431037486765 is the last, which this order gives.
    toy = [(0.05, 0), (0.05, 0), (0.1, 0), (0.1, 0), (0.15, 0), (0.2, 0), (0.2, 0), (0.25, 0), (0.3, 0), (0.3, 0),
           (0.35, 0), (0.35, 1), (0.35, 0), (0.35, 1), (0.4, 0), (0.45, 0), (0.45, 1), (0.5, 0), (0.5, 0), (0.55, 1),
           (0.55, 1), (0.6, 0), (0.65, 1), (0.65, 1), (0.7, 1), (0.75, 1), (0.8, 1), (0.85, 1), (0.9, 1), (0.95, 1)]
    cases.insert(0, ("paper-method 9 toy data", np.array([v for v, _ in toy]), np.array([c for _, c in toy]), 10))

    out = []
    for name, p, y, g in cases:
        p, y = np.asarray(p, float), np.asarray(y, int)
        eq = hl_equal(p, y, g)
        ref = "restated"
        sm = hl_equal_statsmodels(p, y, g) if len(p) >= g else None
        if sm is not None:  # statsmodels defines it: the re-statement must agree, and statsmodels is stored
            assert eq is not None and eq["df"] == sm["df"], (name, eq, sm)
            assert math.isclose(eq["chi2"], sm["chi2"], rel_tol=1e-12), (name, eq, sm)
            eq, ref = sm, "statsmodels"
        out.append({"name": name, "p": [float(v) for v in p], "y": [int(v) for v in y], "g": g,
                    "quantile": hl_quantile(p, y, g), "equal": eq, "equal_reference": ref,
                    "brier": float(brier_score_loss(y, p))})
    return out


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    rng = np.random.default_rng(SEED)
    data = {
        "generator": "tests/golden/gen_stats.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "statsmodels": statsmodels.__version__,
                     "sklearn": sklearn.__version__, "mpmath": mp.__version__},
        "betainc": gen_betainc(rng),
        "gammainc": gen_gammainc(rng),
        "t_sf2": gen_t(rng),
        "chi2_sf": gen_chi2(),
        "norm_cdf": gen_norm(),
        "ttest_samples": gen_ttest_samples(rng),
        "ttest_stats": gen_ttest_stats(rng),
        "hosmer_lemeshow": gen_hosmer_lemeshow(rng),
    }
    text = json.dumps(data, separators=(",", ":"), allow_nan=True)
    path = os.path.join(out_dir, "stats.json")
    with open(path, "w") as f:
        f.write(text + "\n")
    worst = {}
    for key, ref_col, exact_col in [("betainc", 3, 4), ("gammainc", 2, 4), ("t_sf2", 2, 3), ("chi2_sf", 2, 3),
                                    ("norm_cdf", 1, 2)]:
        w = 0.0
        for r in data[key]:
            if r[exact_col] != 0:
                w = max(w, abs(r[ref_col] - r[exact_col]) / abs(r[exact_col]))
        worst[key] = (len(data[key]), w)
    print(f"wrote {path} ({len(text)} bytes)")
    for key, (n, w) in worst.items():
        print(f"  {key:9s} {n:4d} rows; scipy vs 50-digit reference: worst relative difference {w:.3g}")


if __name__ == "__main__":
    main()
