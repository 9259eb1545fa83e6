//! [`CpuHistogram`]: a container's hourly average CPU usage as counts in log buckets, the
//! compact form the daily usage rollup stores so that a percentile over a month of days is a
//! merge of 30 small maps instead of a sort of every pod-hour.
//!
//! Buckets keep the top [`EXACT_BITS`] significant bits of a value: every value below 1024
//! millicores has a bucket of its own (exact), and a larger value shares its bucket with
//! values less than 1/512 (0.2 %) apart. A percentile answers its bucket's largest value, so
//! it is never below the exact percentile and at most 0.2 % above it.

use std::collections::BTreeMap;

/// Significant bits a bucket keeps: values below `2^EXACT_BITS` are exact.
pub const EXACT_BITS: u32 = 10;

/// The bucket of `value`.
fn bucket(value: u64) -> u32 {
    let bits = u64::BITS - value.leading_zeros();
    if bits <= EXACT_BITS {
        return value as u32;
    }
    let shift = bits - EXACT_BITS;
    // `value >> shift` is in [2^(EXACT_BITS-1), 2^EXACT_BITS): each shift adds half a range.
    shift * (1 << (EXACT_BITS - 1)) + (value >> shift) as u32
}

/// The largest value of bucket `index`.
fn bucket_max(index: u32) -> u64 {
    let exact = 1u32 << EXACT_BITS;
    if index < exact {
        return u64::from(index);
    }
    let half = 1u32 << (EXACT_BITS - 1);
    let shift = (index - exact) / half + 1;
    let top = u128::from(index - shift * half);
    u64::try_from(((top + 1) << shift) - 1).unwrap_or(u64::MAX)
}

/// Counts of values per bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuHistogram {
    counts: BTreeMap<u32, u64>,
}

/// Text that is not a histogram's encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad cpu histogram {0:?}")]
pub struct ParseHistogramError(pub String);

impl CpuHistogram {
    /// Counts one value.
    pub fn add(&mut self, value: u64) {
        *self.counts.entry(bucket(value)).or_default() += 1;
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Self) {
        for (index, count) in &other.counts {
            *self.counts.entry(*index).or_default() += count;
        }
    }

    /// Values counted.
    pub fn len(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Whether nothing is counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The `p`-th percentile (1–100) by nearest rank, as its bucket's largest value: exact
    /// below 1024, else at most 0.2 % above the exact one.
    pub fn percentile(&self, p: u64) -> Option<u64> {
        let total = self.len();
        if total == 0 {
            return None;
        }
        let rank = (total * p).div_ceil(100).max(1);
        let mut seen = 0;
        for (index, count) in &self.counts {
            seen += count;
            if seen >= rank {
                return Some(bucket_max(*index));
            }
        }
        None
    }

    /// The stored form: `index:count` pairs in bucket order, separated by spaces.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.counts.len() * 8);
        for (i, (index, count)) in self.counts.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&index.to_string());
            out.push(':');
            out.push_str(&count.to_string());
        }
        out
    }

    /// Adds the counts of an [`encode`](Self::encode)d histogram, or of several joined by
    /// spaces (a month of a container's days read as one text): the pairs are summed in a
    /// dense array of every bucket, then added to the map once per bucket, because at 100k
    /// containers × 30 days × ~20 buckets a map update per pair was most of a right-sizing
    /// pass.
    pub fn merge_encoded(&mut self, text: &str) -> Result<(), ParseHistogramError> {
        DENSE.with_borrow_mut(|dense| {
            let added = dense.add_pairs(text);
            let counts = dense.drain();
            if added.is_err() {
                // Emptied all the same, so the next text starts from zero.
                counts.for_each(drop);
                return Err(ParseHistogramError(text.to_owned()));
            }
            if self.counts.is_empty() {
                self.counts = counts.collect();
            } else {
                for (index, count) in counts {
                    *self.counts.entry(index).or_default() += count;
                }
            }
            Ok(())
        })
    }

    /// An [`encode`](Self::encode)d histogram.
    pub fn decode(text: &str) -> Result<Self, ParseHistogramError> {
        let mut out = Self::default();
        out.merge_encoded(text)?;
        Ok(out)
    }
}

/// Buckets there are: the bucket of `u64::MAX` is the last.
const BUCKETS: usize =
    (u64::BITS - EXACT_BITS) as usize * (1 << (EXACT_BITS - 1)) + (1 << EXACT_BITS);

thread_local! {
    /// One dense array per thread, reused: 28,672 counts (224 KiB), zero between uses.
    static DENSE: std::cell::RefCell<Dense> = std::cell::RefCell::new(Dense::default());
}

/// Counts per bucket index and which indices are non-zero.
#[derive(Default)]
struct Dense {
    counts: Vec<u64>,
    touched: Vec<u32>,
}

impl Dense {
    /// Adds the `index:count` pairs of `text`; `Err` at the first that is not one (or names
    /// no bucket).
    fn add_pairs(&mut self, text: &str) -> Result<(), ()> {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        for pair in text.split_ascii_whitespace() {
            let (index, count) = pair.split_once(':').ok_or(())?;
            let index = digits(index)
                .and_then(|i| u32::try_from(i).ok())
                .ok_or(())?;
            let count = digits(count).ok_or(())?;
            let slot = self.counts.get_mut(index as usize).ok_or(())?;
            if *slot == 0 {
                self.touched.push(index);
            }
            *slot = slot.saturating_add(count);
        }
        Ok(())
    }

    /// The non-zero counts in bucket order, leaving every count zero.
    fn drain(&mut self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.touched.sort_unstable();
        let counts = &mut self.counts;
        self.touched
            .drain(..)
            .map(move |index| (index, std::mem::take(&mut counts[index as usize])))
            .filter(|(_, count)| *count > 0)
    }
}

/// A decimal number of ASCII digits (what [`CpuHistogram::encode`] writes), without the
/// sign, space and overflow handling of `str::parse`, which cost more than the addition.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    text.bytes().try_fold(0u64, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_below_1024_are_exact_and_larger_ones_within_a_512th() {
        for v in 0..1024 {
            assert_eq!(bucket_max(bucket(v)), v);
        }
        // 1024 = 2^10: 11 bits, shift 1, buckets of two values.
        assert_eq!(bucket(1024), bucket(1025));
        assert_eq!(bucket_max(bucket(1024)), 1025);
        assert_ne!(bucket(1025), bucket(1026));
        // 4000: 12 bits, shift 2 → buckets of four: 4000..=4003.
        assert_eq!(bucket_max(bucket(4000)), 4003);
        for v in [1024, 1500, 4001, 65_537, 1 << 40, u64::MAX / 3, u64::MAX] {
            let max = bucket_max(bucket(v));
            assert!(max >= v, "{v}: {max}");
            assert!((max - v) as f64 <= v as f64 / 512.0, "{v}: {max}");
        }
        assert_eq!(
            bucket(u64::MAX) as usize,
            BUCKETS - 1,
            "the dense array's size"
        );
        // Buckets are ordered like their values.
        let mut last = 0;
        for v in (0..200_000).step_by(7) {
            let b = bucket(v);
            assert!(b >= last);
            last = b;
        }
    }

    #[test]
    fn the_percentile_is_the_nearest_rank_over_merged_days() {
        // 96 samples: 48 at 200m, 48 at 400m → rank ceil(0.95 × 96) = 92 → 400.
        let (mut a, mut b) = (CpuHistogram::default(), CpuHistogram::default());
        (0..48).for_each(|_| a.add(200));
        (0..48).for_each(|_| b.add(400));
        a.merge(&b);
        assert_eq!(a.len(), 96);
        assert_eq!(a.percentile(95), Some(400));
        // 1..=100: p95 is 95, p1 is 1; empty has none.
        let mut h = CpuHistogram::default();
        (1..=100).for_each(|v| h.add(v));
        assert_eq!(h.percentile(95), Some(95));
        assert_eq!(h.percentile(1), Some(1));
        assert_eq!(CpuHistogram::default().percentile(95), None);
        // Above 1024, the bucket's top: 5000 shares 5000..=5007 (13 bits, shift 3).
        let mut big = CpuHistogram::default();
        big.add(5000);
        assert_eq!(big.percentile(95), Some(5007));
    }

    #[test]
    fn the_encoding_round_trips_and_refuses_junk() {
        let mut h = CpuHistogram::default();
        [3, 3, 900, 70_000].iter().for_each(|v| h.add(*v));
        let text = h.encode();
        assert_eq!(text.split(' ').next(), Some("3:2"));
        assert_eq!(CpuHistogram::decode(&text).unwrap(), h);
        assert_eq!(CpuHistogram::decode("").unwrap(), CpuHistogram::default());
        let mut twice = h.clone();
        twice.merge_encoded(&text).unwrap();
        assert_eq!(twice.len(), 8);
        assert!(CpuHistogram::decode("3:x").is_err());
        assert!(CpuHistogram::decode("3").is_err());
        assert!(CpuHistogram::decode("3:+1").is_err());
        assert!(CpuHistogram::decode("99999:1").is_err(), "no such bucket");
        // A junk text leaves nothing behind for the next.
        assert_eq!(CpuHistogram::decode("5:1").unwrap().len(), 1);
        // Several days joined by spaces (as the database merges them) decode to their sum.
        let mut other = CpuHistogram::default();
        [3, 70_000, 70_000, 5].iter().for_each(|v| other.add(*v));
        let joined = format!("{text}  {}", other.encode());
        let mut sum = h.clone();
        sum.merge(&other);
        assert_eq!(CpuHistogram::decode(&joined).unwrap(), sum);
        assert_eq!(sum.percentile(1), Some(3));
        assert_eq!(sum.len(), 8);
    }
}
