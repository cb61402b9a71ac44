#!/usr/bin/python3
"""gen_agreement.py — fixture for tests/test_agreement.c (Table 3 and McNemar's test).

Writes agreement.json (read by the C test with cJSON; no Python at test time):
  mcnemar  discordant counts (b, c) and statsmodels.stats.contingency_tables.mcnemar on [[a, b], [c, d]]:
           exact=True (p = min(1, 2 * scipy binom.cdf(min(b, c), b + c, 0.5))) and exact=False, correction=True
           (chi2 = (|b - c| - 1)^2 / (b + c), p = chi2.sf(chi2, 1)); the chi-square values are null when b + c = 0.
  tables   paired predictions and focus hits of two models on n images (numpy default_rng, fixed seeds), with the
           agreement categories, focus counts per category and McNemar per category computed here independently.

Run with Debian's interpreter and packages (python3-statsmodels, python3-scipy, python3-numpy):
    /usr/bin/python3 tests/golden/gen_agreement.py [OUT_DIR]     (default: the directory of this script)
"""
import json
import math
import os
import sys

import numpy as np
import scipy
import statsmodels
from statsmodels.stats.contingency_tables import mcnemar

CATEGORIES = ["both_correct", "both_wrong", "only_a_correct", "only_b_correct", "total"]


def num(v):
    v = float(v)
    return v if math.isfinite(v) else None


def mcnemar_case(b, c):
    table = [[7, b], [c, 3]]  # the concordant cells do not enter the test
    exact = mcnemar(table, exact=True)
    case = {"b": b, "c": c, "p_exact": num(exact.pvalue), "chi2": None, "p_chi2": None}
    if b + c > 0:
        chi = mcnemar(table, exact=False, correction=True)
        case["chi2"] = num(chi.statistic)
        case["p_chi2"] = num(chi.pvalue)
    return case


def table_case(name, seed, n, threshold):
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    score_a = np.round(rng.uniform(0, 1, n), 3)  # rounded: some scores equal the threshold
    score_b = np.round(np.clip(0.6 * score_a + 0.4 * rng.uniform(0, 1, n), 0, 1), 3)
    hit_a = (rng.uniform(0, 1, n) < 0.8).astype(int)
    hit_b = np.where(rng.uniform(0, 1, n) < 0.7, hit_a, (rng.uniform(0, 1, n) < 0.85).astype(int))
    ok_a = (score_a >= threshold).astype(int) == label
    ok_b = (score_b >= threshold).astype(int) == label
    masks = [ok_a & ok_b, ~ok_a & ~ok_b, ok_a & ~ok_b, ~ok_a & ok_b, np.ones(n, bool)]
    cells = {}
    for key, m in zip(CATEGORIES, masks):
        b = int(np.sum(m & (hit_a == 1) & (hit_b == 0)))
        c = int(np.sum(m & (hit_a == 0) & (hit_b == 1)))
        cell = {"n": int(m.sum()), "hits_a": int(hit_a[m].sum()), "hits_b": int(hit_b[m].sum())}
        cell.update(mcnemar_case(b, c))
        cells[key] = cell
    return {"name": name, "n": n, "threshold": threshold, "label": label.tolist(), "score_a": score_a.tolist(),
            "score_b": score_b.tolist(), "hit_a": hit_a.tolist(), "hit_b": hit_b.tolist(),
            "correct_a": int(ok_a.sum()), "correct_b": int(ok_b.sum()), "cells": cells}


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    pairs = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 9), (9, 2), (5, 5), (6, 5), (3, 12), (0, 25), (40, 68), (8, 74),
             (250, 251), (120, 380), (10, 2000), (20, 1000), (1500, 1600), (0, 1074), (2400, 2600), (4000, 4321)]
    fixture = {
        "generator": "tests/golden/gen_agreement.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "statsmodels": statsmodels.__version__},
        "mcnemar": [mcnemar_case(b, c) for b, c in pairs],
        "tables": [table_case("random_n200_t0.5", 6, 200, 0.5), table_case("random_n57_t0.37", 7, 57, 0.37)],
    }
    path = os.path.join(out_dir, "agreement.json")
    with open(path, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
