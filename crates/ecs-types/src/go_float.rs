//! Doubles written the way the reference (Go's `encoding/json`) writes them:
//! an integral value has no fraction (`64`, not `64.0`), so our frames match the
//! reference's and a received value re-encodes to the same JSON.

use serde::{Serialize, Serializer};

/// Largest magnitude below which every integral f64 converts to i64 exactly.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

struct GoF64(f64);

impl Serialize for GoF64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.fract() == 0.0 && v.abs() < EXACT_INT_LIMIT {
            s.serialize_i64(v as i64)
        } else {
            s.serialize_f64(v)
        }
    }
}

pub(crate) fn f64<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    GoF64(*v).serialize(s)
}

pub(crate) fn opt_f64<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    v.map(GoF64).serialize(s)
}

pub(crate) fn opt_vec_f64<S: Serializer>(v: &Option<Vec<f64>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(values) => s.collect_seq(values.iter().copied().map(GoF64)),
        None => s.serialize_none(),
    }
}
