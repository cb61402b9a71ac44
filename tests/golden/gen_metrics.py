#!/usr/bin/python3
"""gen_metrics.py — fixtures for tests/test_metrics.c and tests/test_calibration.c.

Writes two JSON files (read by the C tests with cJSON; no Python at test time):
  metrics.json      AUROC (sklearn roc_auc_score), Youden threshold (sklearn roc_curve + argmax), confusion counts
                    at 0.5 and at Youden (positive iff score >= t), DeLong variance / CI / paired test (a numpy
                    re-statement of the fast algorithm of Sun & Xu with scipy's midranks, checked here against the
                    direct O(m*n) DeLong placements on every case small enough).
  calibration.json  sklearn IsotonicRegression(increasing=True, out_of_bounds="clip"): X_thresholds_,
                    y_thresholds_ and predict() at query points; sklearn calibration_curve(strategy="uniform").

Run with Debian's interpreter and packages (python3-sklearn, python3-scipy, python3-numpy):
    /usr/bin/python3 tests/golden/gen_metrics.py [OUT_DIR]     (default: the directory of this script)
Data come from numpy's default_rng with fixed seeds; values that numpy writes as NaN are stored as null.
"""
import json
import math
import os
import sys

import numpy as np
import scipy
import scipy.stats
import sklearn
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score, roc_curve

Z_975 = 1.959963984540054  # scipy.stats.norm.ppf(0.975), R qnorm(0.975)


def clean(v):
    """JSON-safe: numpy scalars to Python, NaN/inf to None."""
    if isinstance(v, (list, tuple, np.ndarray)):
        return [clean(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else None
    return v


# ---- the paper-method.md §9 toy data (n = 30, 13 positives, ties): reconstructed from its golden values ----------
# (AUROC, DeLong variance, Brier, Youden, isotonic thresholds and calibration curve of §9 all follow from this
# multiset; the row order and the second score vector p2 of §9 are not recoverable, so §9's HL equal-size value and
# its paired test are not checked against these rows.)
TOY_NEG = [.05, .05, .10, .10, .15, .20, .20, .25, .30, .30, .35, .35, .40, .45, .50, .50, .60]
TOY_POS = [.35, .35, .45, .55, .55, .65, .65, .70, .75, .80, .85, .90, .95]


def toy():
    score = np.array(TOY_NEG + TOY_POS)
    label = np.array([0] * len(TOY_NEG) + [1] * len(TOY_POS))
    return score, label


# ---- DeLong ----------------------------------------------------------------------------------------------------
def delong_components(score, label):
    """V10 (per positive), V01 (per negative) and the AUC by midranks (Sun & Xu 2014, Theorem 1)."""
    pos, neg = score[label == 1], score[label == 0]
    m, n = len(pos), len(neg)
    tz = scipy.stats.rankdata(np.concatenate([pos, neg]), method="average")
    tx = scipy.stats.rankdata(pos, method="average")
    ty = scipy.stats.rankdata(neg, method="average")
    auc = tz[:m].sum() / m / n - (m + 1.0) / 2.0 / n
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    return auc, v10, v01


def delong_direct(score, label):
    """DeLong et al. (1988) from the definition: psi kernel placements, O(m*n)."""
    pos, neg = score[label == 1], score[label == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), v10, v01


def cov_or_nan(rows):
    rows = np.atleast_2d(rows)
    if rows.shape[1] < 2:
        return np.full((rows.shape[0], rows.shape[0]), np.nan)
    return np.atleast_2d(np.cov(rows))


def delong(score, label, score2=None):
    auc1, a10, a01 = delong_components(score, label)
    m, n = int(label.sum()), int(len(label) - label.sum())
    if len(label) <= 2000:  # the fast algorithm must equal the definition
        auc_d, d10, d01 = delong_direct(score, label)
        assert abs(auc_d - auc1) < 1e-12 and np.allclose(d10, a10, atol=1e-12) and np.allclose(d01, a01, atol=1e-12)
    out = {"auc": auc1}
    if score2 is None:
        s = cov_or_nan(a10) / m + cov_or_nan(a01) / n
        var = s[0, 0]
    else:
        auc2, b10, b01 = delong_components(score2, label)
        s = cov_or_nan(np.vstack([a10, b10])) / m + cov_or_nan(np.vstack([a01, b01])) / n
        var = s[0, 0]
        out.update(auc2=auc2, var2=s[1, 1], cov12=s[0, 1])
        denom = s[0, 0] + s[1, 1] - 2 * s[0, 1]
        if np.isfinite(denom) and denom > 0:
            z = (auc1 - auc2) / np.sqrt(denom)
            out.update(z=z, p=2 * scipy.stats.norm.sf(abs(z)))
        else:
            out.update(z=None, p=None)
    out["var"] = var
    if np.isfinite(var):
        out["ci_low"] = max(0.0, auc1 - Z_975 * math.sqrt(var))
        out["ci_high"] = min(1.0, auc1 + Z_975 * math.sqrt(var))
    else:
        out["ci_low"] = out["ci_high"] = None
    return out


def confusion(score, label, t):
    pred = score >= t
    tp, fp = int(np.sum(pred & (label == 1))), int(np.sum(pred & (label == 0)))
    tn, fn = int(np.sum(~pred & (label == 0))), int(np.sum(~pred & (label == 1)))
    return {"threshold": float(t), "tp": tp, "fp": fp, "tn": tn, "fn": fn}


def metrics_case(name, score, label, score2=None):
    score, label = np.asarray(score, dtype=np.float64), np.asarray(label, dtype=np.int64)
    case = {"name": name, "n": len(score), "score": score.tolist(), "label": label.tolist()}
    if score2 is not None:
        case["score2"] = np.asarray(score2, dtype=np.float64).tolist()
    both = 0 < label.sum() < len(label)
    if both:
        fpr, tpr, thr = roc_curve(label, score)
        youden = thr[np.argmax(tpr - fpr)]
        case["expected"] = {
            "auroc": roc_auc_score(label, score),
            "roc_points": len(fpr),
            "youden_threshold": youden,
            "at_half": confusion(score, label, 0.5),
            "at_youden": confusion(score, label, youden),
            "delong": delong(score, label, None if score2 is None else np.asarray(score2, dtype=np.float64)),
        }
        if score2 is not None:
            case["expected"]["auroc2"] = roc_auc_score(label, score2)
    else:
        case["expected"] = {"single_class": True, "at_half": confusion(score, label, 0.5)}
    return clean_tree(case)


def clean_tree(obj):
    if isinstance(obj, dict):
        return {k: clean_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [clean_tree(v) for v in obj]
    return clean(obj)


def metrics_cases():
    rng = np.random.default_rng(20240611)
    cases = []
    s, y = toy()
    cases.append(metrics_case("toy_section9", s, y, np.clip(np.round(s + rng.normal(0, 0.1, len(s)), 2), 0, 1)))

    def correlated(n, prevalence, grid, shift, rng):
        y = (rng.random(n) < prevalence).astype(int)
        y[0], y[1] = 0, 1
        raw = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + shift * y)))
        raw2 = 1 / (1 + np.exp(-(0.8 * np.log(raw / (1 - raw)) + rng.normal(0, 0.7, n))))
        if grid:
            raw, raw2 = np.round(np.round(raw / grid) * grid, 10), np.round(np.round(raw2 / grid) * grid, 10)
        return np.clip(raw, 0, 1), y, np.clip(raw2, 0, 1)

    s, y, s2 = correlated(200, 0.3, 0.05, 1.2, rng)
    cases.append(metrics_case("ties_grid_0.05_n200", s, y, s2))
    s, y, s2 = correlated(300, 0.4, None, 1.0, rng)
    cases.append(metrics_case("continuous_n300", s, y, s2))
    s, y, s2 = correlated(5000, 0.318, 0.001, 1.1, rng)
    cases.append(metrics_case("large_grid_0.001_n5000", s, y, s2))
    s, y, s2 = correlated(150, 0.5, 0.1, 0.0, rng)
    cases.append(metrics_case("no_signal_grid_0.1_n150", s, y, s2))
    y = (rng.random(60) < 0.4).astype(int)
    y[:2] = [0, 1]
    cases.append(metrics_case("constant_scores_n60", np.full(60, 0.5), y, rng.random(60)))
    cases.append(metrics_case("constant_both_n60", np.full(60, 0.25), y, np.full(60, 0.75)))
    cases.append(metrics_case("tiny_n2", [0.3, 0.7], [0, 1], [0.7, 0.3]))
    cases.append(metrics_case("tiny_n2_reversed", [0.7, 0.3], [0, 1], [0.2, 0.2]))
    cases.append(metrics_case("tiny_n3_tie", [0.4, 0.4, 0.9], [0, 1, 1], [0.1, 0.5, 0.4]))
    cases.append(metrics_case("perfect_n20", np.linspace(0, 1, 20), [0] * 8 + [1] * 12, np.linspace(1, 0, 20)))
    cases.append(metrics_case("reversed_n20", np.linspace(0, 1, 20), [1] * 9 + [0] * 11, rng.random(20)))
    y = np.zeros(80, dtype=int)
    y[17] = 1
    cases.append(metrics_case("one_positive_n80", np.round(rng.random(80), 2), y, np.round(rng.random(80), 2)))
    cases.append(metrics_case("single_class_n10", np.round(rng.random(10), 2), np.ones(10, dtype=int)))
    return cases


# ---- isotonic and calibration curve ------------------------------------------------------------------------------
def isotonic_case(name, x, y, weight=None, rng=None):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    iso = IsotonicRegression(increasing=True, out_of_bounds="clip")
    iso.fit(x, y, sample_weight=weight)
    lo, hi = float(iso.X_thresholds_[0]), float(iso.X_thresholds_[-1])
    query = [lo - 0.25, lo, hi, hi + 0.25, 0.0, 1.0]
    query += iso.X_thresholds_.tolist()
    t = iso.X_thresholds_
    query += ((t[1:] + t[:-1]) / 2).tolist()
    query += np.sort(rng.random(40)).tolist()
    query += x[:20].tolist()
    query = np.array(query)
    case = {"name": name, "n": len(x), "x": x.tolist(), "y": y.tolist(),
            "expected": {"X_thresholds": iso.X_thresholds_.tolist(), "y_thresholds": iso.y_thresholds_.tolist(),
                         "query": query.tolist(), "predict": iso.predict(query).tolist()}}
    if weight is not None:
        case["weight"] = np.asarray(weight, dtype=np.float64).tolist()
    return clean_tree(case)


def curve_case(name, p, label, n_bins):
    p, label = np.asarray(p, dtype=np.float64), np.asarray(label, dtype=np.int64)
    prob_true, prob_pred = calibration_curve(label, p, n_bins=n_bins, strategy="uniform")
    return clean_tree({"name": name, "n": len(p), "n_bins": n_bins, "p": p.tolist(), "label": label.tolist(),
                       "expected": {"prob_true": prob_true.tolist(), "prob_pred": prob_pred.tolist()}})


def calibration_cases():
    rng = np.random.default_rng(20240612)
    iso, curves = [], []
    s, y = toy()
    iso.append(isotonic_case("toy_section9", s, y, rng=rng))
    curves.append(curve_case("toy_section9", s, y, 10))
    curves.append(curve_case("toy_section9_5bins", s, y, 5))

    n = 200
    y = (rng.random(n) < 0.35).astype(int)
    s = np.clip(np.round(np.round((0.25 + 0.4 * y + rng.normal(0, 0.2, n)) / 0.05) * 0.05, 10), 0, 1)
    iso.append(isotonic_case("ties_grid_0.05_n200", s, y, rng=rng))
    curves.append(curve_case("ties_grid_0.05_n200", s, y, 10))
    # every multiple of 0.1 (the bin edges, where linspace's rounding decides the bin) plus 0 and 1
    # i/10 and i*0.1 differ in the last bit for i = 3, 6, 7: only linspace's i*(1/n) puts each in sklearn's bin
    edge_p = np.array([i / 10 for i in range(11)] * 3 + [i * 0.1 for i in range(11)] + [0.3, 0.7, 0.9, 0.6])
    edge_y = (rng.random(len(edge_p)) < edge_p).astype(int)
    curves.append(curve_case("edges_exact_tenths", edge_p, edge_y, 10))
    curves.append(curve_case("edges_exact_tenths_7bins", edge_p, edge_y, 7))

    n = 300
    y = (rng.random(n) < 0.4).astype(int)
    s = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.2 * y)))
    iso.append(isotonic_case("continuous_n300", s, y, rng=rng))
    curves.append(curve_case("continuous_n300", s, y, 10))

    n = 5000
    y = (rng.random(n) < 0.318).astype(int)
    s = np.round(1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.1 * y))), 3)
    iso.append(isotonic_case("large_grid_0.001_n5000", s, y, rng=rng))
    curves.append(curve_case("large_grid_0.001_n5000", s, y, 10))

    # x values closer than numpy's float64 resolution (1e-15) are merged by sklearn's _make_unique
    base = np.array([0.2, 0.5, 0.5 + 2 ** -52, 0.5 + 2 ** -50, 0.5 + 2 ** -40, 0.7, 0.7 - 2 ** -53, 0.9])
    iso.append(isotonic_case("near_ties_below_resolution", base, [1, 0, 1, 1, 0, 0, 1, 1], rng=rng))
    # weighted, real-valued targets
    n = 120
    x = np.round(rng.random(n), 2)
    yv = np.sin(3 * x) + rng.normal(0, 0.3, n)
    iso.append(isotonic_case("weighted_real_targets_n120", x, yv, weight=rng.uniform(0.1, 3.0, n), rng=rng))
    # equal neighbours are pooled too (PAVA pools on y[i] >= y[k]): the pooled mean of equal values is not always
    # the value itself in floating point, so this pins the comparison
    for k, w in enumerate(([0.3, 0.7, 1.1, 0.9, 0.13], [0.1, 0.2, 0.3, 0.4, 0.5])):
        iso.append(isotonic_case(f"equal_targets_weighted_{k}", [0.1, 0.2, 0.3, 0.4, 0.5], [0.1, 0.1, 0.1, 0.7, 0.7],
                                 weight=w, rng=rng))
    iso.append(isotonic_case("decreasing_all_pooled", [0.1, 0.2, 0.3, 0.4], [1, 1, 0, 0], rng=rng))
    iso.append(isotonic_case("constant_x", [0.4] * 6, [0, 1, 1, 0, 1, 1], rng=rng))
    iso.append(isotonic_case("single_sample", [0.3], [1], rng=rng))
    iso.append(isotonic_case("two_samples", [0.3, 0.6], [0, 1], rng=rng))
    iso.append(isotonic_case("single_class", [0.1, 0.5, 0.5, 0.8], [0, 0, 0, 0], rng=rng))
    return iso, curves


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    versions = {"sklearn": sklearn.__version__, "scipy": scipy.__version__, "numpy": np.__version__}
    metrics = {"generator": "tests/golden/gen_metrics.py", "versions": versions, "z_975": Z_975,
               "cases": metrics_cases()}
    iso, curves = calibration_cases()
    calibration = {"generator": "tests/golden/gen_metrics.py", "versions": versions, "isotonic": iso,
                   "calibration_curve": curves}
    for name, doc in (("metrics.json", metrics), ("calibration.json", calibration)):
        path = os.path.join(out_dir, name)
        with open(path, "w") as f:
            json.dump(doc, f, separators=(",", ":"), allow_nan=False)
            f.write("\n")
        print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
