//! Is a change beyond run-to-run noise? The Mann–Whitney U test (Wilcoxon rank-sum) on
//! per-interval samples of two runs.
//!
//! Why this test: per-interval latency percentiles and rates are skewed and have outliers
//! (a GC pause, a slow second), so a test on means (Welch's t) would be dragged by one bad
//! interval; a rank test assumes no distribution and gives the same answer whatever the
//! unit. Unlike a bootstrap it needs no random numbers, so the same two files always get
//! the same verdict (a CI gate must not flicker). It is a few dozen lines, so it is
//! written here rather than taken from a statistics crate.
//!
//! The p-value is exact (the U distribution counted) for small samples without ties, and
//! from the normal approximation with tie and continuity corrections otherwise.

/// Largest `m + n` for which the U distribution is counted exactly (beyond it the normal
/// approximation is within about 0.001 of it).
const EXACT_MAX: usize = 60;

/// What the test says of two samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// The two-sided p-value (see [`mann_whitney`]).
    pub p: f64,
    /// Which way `b` lies from `a`: `Greater` when its values tend to be the larger ones
    /// (U of `a` below its mean), `Equal` when neither.
    pub b_vs_a: std::cmp::Ordering,
}

/// The two-sided p-value of the hypothesis that `a` and `b` are samples of one
/// distribution: small means a shift this large between them is unlikely to be noise.
/// `None` when a side is empty or a value is not finite.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<f64> {
    test(a, b).map(|o| o.p)
}

/// [`mann_whitney`], and which way the samples differ.
pub fn test(a: &[f64], b: &[f64]) -> Option<Outcome> {
    let (m, n) = (a.len(), b.len());
    if m == 0 || n == 0 || a.iter().chain(b).any(|x| !x.is_finite()) {
        return None;
    }
    let ranked = rank(a, b);
    // U of a: the pairs (x in a, y in b) with x > y, ties counting half.
    let u = ranked.rank_sum_a - (m * (m + 1)) as f64 / 2.0;
    let p = if ranked.tie_term == 0.0 && m + n <= EXACT_MAX {
        exact(m, n, u.round() as usize)
    } else {
        normal(m, n, u, ranked.tie_term)
    };
    let mean = (m * n) as f64 / 2.0;
    Some(Outcome {
        p,
        b_vs_a: mean.total_cmp(&u),
    })
}

/// The rank sum of `a` in the joint ranking (ties get their mean rank), and `Σ(t³ − t)`
/// over groups of `t` tied values.
struct Ranked {
    rank_sum_a: f64,
    tie_term: f64,
}

fn rank(a: &[f64], b: &[f64]) -> Ranked {
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (mut rank_sum_a, mut tie_term) = (0.0, 0.0);
    let mut i = 0;
    while i < all.len() {
        let j = i + all[i..].iter().take_while(|x| x.0 == all[i].0).count();
        // Ranks i+1 ..= j share their mean.
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        let in_a = all[i..j].iter().filter(|x| x.1).count();
        rank_sum_a += mean_rank * in_a as f64;
        let t = (j - i) as f64;
        tie_term += t * t * t - t;
        i = j;
    }
    Ranked {
        rank_sum_a,
        tie_term,
    }
}

/// Exact two-sided p of `U = u` for samples of `m` and `n` without ties: the share of the
/// `C(m+n, m)` rankings whose U is at least as far from its mean.
fn exact(m: usize, n: usize, u: usize) -> f64 {
    // ways[k][s]: ways to pick k of the ranks seen so far (0-based) with sum s.
    let total = m + n;
    let max_sum = m * total;
    let mut ways = vec![vec![0f64; max_sum + 1]; m + 1];
    ways[0][0] = 1.0;
    for r in 0..total {
        for k in (1..=m.min(r + 1)).rev() {
            for s in (r..=max_sum).rev() {
                ways[k][s] += ways[k - 1][s - r];
            }
        }
    }
    // U = (sum of a's 0-based ranks) − m(m−1)/2.
    let offset = m * m.saturating_sub(1) / 2;
    let counts: Vec<f64> = (0..=m * n).map(|x| ways[m][x + offset]).collect();
    let all: f64 = counts.iter().sum();
    let below: f64 = counts[..=u.min(m * n)].iter().sum();
    let above: f64 = counts[u.min(m * n)..].iter().sum();
    (2.0 * below.min(above) / all).min(1.0)
}

/// Two-sided p from the normal approximation of U, with the tie correction of its
/// variance and a continuity correction.
fn normal(m: usize, n: usize, u: f64, tie_term: f64) -> f64 {
    let (mf, nf) = (m as f64, n as f64);
    let total = mf + nf;
    let mean = mf * nf / 2.0;
    let var = mf * nf / 12.0 * ((total + 1.0) - tie_term / (total * (total - 1.0)));
    if var <= 0.0 {
        // Every value the same: nothing tells the samples apart.
        return 1.0;
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
    erfc(z / std::f64::consts::SQRT_2).min(1.0)
}

/// The complementary error function (Numerical Recipes' `erfcc`, fractional error below
/// 1.2e-7 everywhere): enough for a p-value.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn exact_p_values_of_small_samples() {
        // Fully separated: 2 of the C(10, 5) = 252 rankings are as extreme.
        let p = mann_whitney(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]).unwrap();
        assert!(close(p, 2.0 / 252.0, 1e-12), "{p}");
        // 3 vs 3: 2 of 20.
        let p = mann_whitney(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0]).unwrap();
        assert!(close(p, 0.1, 1e-12), "{p}");
        // Interleaved perfectly: U at its mean, p = 1.
        let p = mann_whitney(&[1.0, 4.0, 5.0, 8.0], &[2.0, 3.0, 6.0, 7.0]).unwrap();
        assert!(close(p, 1.0, 1e-12), "{p}");
        // 3 vs 4 with U = 2 (5 is above 3 and 4): 4 of the C(7, 3) = 35 rankings have
        // U <= 2, and as many U >= 10.
        let p = mann_whitney(&[1.0, 2.0, 5.0], &[3.0, 4.0, 6.0, 7.0]).unwrap();
        assert!(close(p, 8.0 / 35.0, 1e-12), "{p}");
    }

    #[test]
    fn symmetric_and_unit_free() {
        let a = [3.1, 2.7, 5.5, 4.0, 3.3, 2.9, 6.1];
        let b = [4.4, 5.9, 6.6, 5.0, 7.2, 4.9];
        let p = mann_whitney(&a, &b).unwrap();
        assert!(close(p, mann_whitney(&b, &a).unwrap(), 1e-12));
        let scaled: Vec<f64> = a.iter().map(|x| x * 1000.0 + 7.0).collect();
        let scaled_b: Vec<f64> = b.iter().map(|x| x * 1000.0 + 7.0).collect();
        assert!(close(p, mann_whitney(&scaled, &scaled_b).unwrap(), 1e-12));
    }

    #[test]
    fn the_normal_approximation_agrees_with_the_exact_count() {
        // 25 vs 25 without ties, shifted a little: both ways within 0.002.
        let a: Vec<f64> = (0..25).map(|i| (i * 37 % 101) as f64).collect();
        let b: Vec<f64> = (0..25).map(|i| (i * 53 % 103) as f64 + 20.5).collect();
        let r = rank(&a, &b);
        assert_eq!(r.tie_term, 0.0);
        let u = r.rank_sum_a - 25.0 * 26.0 / 2.0;
        let (e, n) = (exact(25, 25, u as usize), normal(25, 25, u, 0.0));
        assert!(e > 0.001 && e < 0.5, "{e}");
        assert!(close(e, n, 0.002), "exact {e} normal {n}");
    }

    #[test]
    fn identical_samples_are_noise_and_separated_large_ones_are_not() {
        let same = [5.0; 12];
        assert_eq!(mann_whitney(&same, &same), Some(1.0));
        let a: Vec<f64> = (0..40).map(|i| 1.0 + i as f64 * 0.01).collect();
        let b: Vec<f64> = (0..40).map(|i| 2.0 + i as f64 * 0.01).collect();
        assert!(mann_whitney(&a, &b).unwrap() < 1e-10);
        // Ties across the samples: the corrected normal approximation.
        let p = mann_whitney(&[0.0, 0.0, 0.0, 1.0, 0.0], &[0.0, 2.0, 3.0, 2.0, 1.0]).unwrap();
        assert!(p > 0.01 && p < 0.2, "{p}");
        assert_eq!(mann_whitney(&[], &[1.0]), None);
        assert_eq!(mann_whitney(&[f64::NAN], &[1.0]), None);
    }

    #[test]
    fn the_outcome_says_which_way() {
        use std::cmp::Ordering;
        let (low, high) = ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]);
        assert_eq!(test(&low, &high).unwrap().b_vs_a, Ordering::Greater);
        assert_eq!(test(&high, &low).unwrap().b_vs_a, Ordering::Less);
        assert_eq!(test(&low, &low).unwrap().b_vs_a, Ordering::Equal);
    }

    #[test]
    fn erfc_at_known_points() {
        assert!(close(erfc(0.0), 1.0, 1e-7));
        assert!(close(erfc(1.0), 0.157_299_207, 1e-7));
        assert!(close(erfc(2.0), 0.004_677_735, 1e-8));
        assert!(close(erfc(-1.0), 1.842_700_793, 1e-7));
    }
}
