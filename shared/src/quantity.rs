//! Exact parsing of Kubernetes resource quantities.
//!
//! Costs are computed from these numbers, so they are parsed with integer arithmetic only:
//! `0.1` cores is exactly 100 millicores, never 99.999. The grammar is the apimachinery one
//! (`resource.ParseQuantity`):
//!
//! ```text
//! quantity  = sign? number suffix
//! number    = digits | digits "." digits? | "." digits
//! suffix    = binary | decimal | exponent
//! binary    = "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"             (powers of 1024)
//! decimal   = "n" | "u" | "m" | "" | "k" | "M" | "G" | "T" | "P" | "E"   (powers of 1000)
//! exponent  = ("e" | "E") sign? digits                            (powers of ten)
//! ```
//!
//! Subtleties that matter for cost and that the tests pin:
//! - `m` is milli for every resource, memory included: `500m` of memory is half a byte.
//! - `E` alone is exa (10^18), but `1E3` and `1e3` are a thousand.
//! - Case matters: `k` is 1000, `K` is invalid; `M` is mega, `m` is milli; `Ki` is 1024.
//! - A value that does not come out whole in the requested unit is rounded up, as
//!   `Quantity.MilliValue()` / `Quantity.Value()` do (`0.1m` cpu is 1 millicore, `1m` of memory
//!   is 1 byte).
//! - Negative quantities are errors here: requests, limits, capacities and usage never are.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Why a quantity string could not be turned into a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Nothing to parse.
    #[error("empty quantity")]
    Empty,
    /// The numeric part is missing or malformed.
    #[error("invalid number in quantity {0:?}")]
    InvalidNumber(String),
    /// The suffix is not one Kubernetes knows (suffixes are case-sensitive).
    #[error("unknown suffix in quantity {0:?}")]
    UnknownSuffix(String),
    /// A negative amount where only non-negative amounts make sense.
    #[error("negative quantity {0:?}")]
    Negative(String),
    /// The value does not fit in 64 bits in the requested unit.
    #[error("quantity {0:?} is too large")]
    Overflow(String),
}

/// CPU in millicores: `"250m"` → 250, `"1.5"` → 1500, `"2"` → 2000.
pub fn parse_cpu_millis(text: &str) -> Result<u64, QuantityError> {
    parse_scaled(text, 3)
}

/// Memory or storage in bytes: `"128Mi"` → 134217728, `"1G"` → 10^9, `"1500m"` → 2.
pub fn parse_bytes(text: &str) -> Result<u64, QuantityError> {
    parse_scaled(text, 0)
}

/// A whole count such as `pods` or `nvidia.com/gpu`; the same rules as [`parse_bytes`].
pub fn parse_count(text: &str) -> Result<u64, QuantityError> {
    parse_scaled(text, 0)
}

/// [`parse_cpu_millis`] for a k8s-openapi [`Quantity`].
pub fn cpu_millis(quantity: &Quantity) -> Result<u64, QuantityError> {
    parse_cpu_millis(&quantity.0)
}

/// [`parse_bytes`] for a k8s-openapi [`Quantity`].
pub fn bytes(quantity: &Quantity) -> Result<u64, QuantityError> {
    parse_bytes(&quantity.0)
}

/// Parses `text` and returns its value × 10^`unit_exp10`, rounded up to an integer.
///
/// `unit_exp10 = 3` yields thousandths (millicores); `0` yields whole units (bytes).
pub fn parse_scaled(text: &str, unit_exp10: i32) -> Result<u64, QuantityError> {
    if text.is_empty() {
        return Err(QuantityError::Empty);
    }
    let (negative, unsigned) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let number_len = unsigned
        .bytes()
        .position(|b| !(b.is_ascii_digit() || b == b'.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(QuantityError::InvalidNumber(text.to_owned()));
    }
    let (suffix_exp10, binary_exp2) =
        parse_suffix(suffix).ok_or_else(|| QuantityError::UnknownSuffix(text.to_owned()))?;

    let overflow = || QuantityError::Overflow(text.to_owned());
    // All significant digits as one integer; leading zeros would only waste headroom.
    let mut mantissa: u128 = 0;
    for digit in whole.bytes().chain(fraction.bytes()) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(u128::from(digit - b'0')))
            .ok_or_else(overflow)?;
    }
    if mantissa == 0 {
        return Ok(0);
    }
    if negative {
        return Err(QuantityError::Negative(text.to_owned()));
    }
    let fraction_len = i32::try_from(fraction.len()).map_err(|_| overflow())?;
    let exp10 = suffix_exp10
        .checked_add(unit_exp10)
        .and_then(|e| e.checked_sub(fraction_len))
        .ok_or_else(overflow)?;
    let scaled = mantissa
        .checked_mul(1u128 << binary_exp2)
        .ok_or_else(overflow)?;
    let value = if exp10 >= 0 {
        let factor = 10u128
            .checked_pow(exp10.unsigned_abs())
            .ok_or_else(overflow)?;
        scaled.checked_mul(factor).ok_or_else(overflow)?
    } else {
        match 10u128.checked_pow(exp10.unsigned_abs()) {
            Some(divisor) => scaled.div_ceil(divisor),
            // The divisor exceeds any u128, so the value is a positive fraction below one.
            None => 1,
        }
    };
    u64::try_from(value).map_err(|_| overflow())
}

/// Returns (power of ten, power of two) for a suffix, or `None` if Kubernetes rejects it.
fn parse_suffix(suffix: &str) -> Option<(i32, u32)> {
    let decimal = match suffix {
        "n" => Some(-9),
        "u" => Some(-6),
        "m" => Some(-3),
        "" => Some(0),
        "k" => Some(3),
        "M" => Some(6),
        "G" => Some(9),
        "T" => Some(12),
        "P" => Some(15),
        "E" => Some(18),
        _ => None,
    };
    if let Some(exp10) = decimal {
        return Some((exp10, 0));
    }
    let binary = match suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    if let Some(exp2) = binary {
        return Some((0, exp2));
    }
    // Decimal exponent: checked after the table so that a bare "E" stays exa.
    let exponent = suffix.strip_prefix(['e', 'E'])?;
    let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    exponent.parse::<i32>().ok().map(|exp10| (exp10, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities_become_exact_millicores() {
        let cases: &[(&str, u64)] = &[
            ("100m", 100),
            ("1", 1000),
            ("0.5", 500),
            ("1.25", 1250),
            (".5", 500),
            ("2.", 2000),
            ("+3", 3000),
            ("0.1", 100),
            ("1500m", 1500),
            ("250000u", 250),
            ("1k", 1_000_000),
            ("1e3", 1_000_000),
            ("1E3", 1_000_000),
            ("5e-1", 500),
            ("0", 0),
            ("0m", 0),
            ("-0", 0),
            ("007", 7000),
            // Sub-millicore values round up, like Quantity.MilliValue().
            ("0.1m", 1),
            ("1n", 1),
            ("1000001n", 2),
            ("1.0001", 1001),
        ];
        for (text, want) in cases {
            assert_eq!(parse_cpu_millis(text), Ok(*want), "cpu {text:?}");
        }
    }

    #[test]
    fn memory_quantities_become_exact_bytes() {
        let cases: &[(&str, u64)] = &[
            ("128974848", 128_974_848),
            ("129e6", 129_000_000),
            ("129M", 129_000_000),
            ("123Mi", 128_974_848),
            ("1k", 1000),
            ("1Ki", 1024),
            ("1Mi", 1 << 20),
            ("1Gi", 1 << 30),
            ("1Ti", 1 << 40),
            ("1Pi", 1 << 50),
            ("1Ei", 1 << 60),
            ("1G", 1_000_000_000),
            ("1T", 1_000_000_000_000),
            ("1P", 1_000_000_000_000_000),
            ("1E", 1_000_000_000_000_000_000),
            ("1.5Gi", 1_610_612_736),
            ("0.5Ki", 512),
            // `m` is milli for memory too, and the remainder rounds up to a whole byte.
            ("1m", 1),
            ("500m", 1),
            ("1500m", 2),
            ("2000m", 2),
            ("1e3", 1000),
            ("1E3", 1000),
            ("1e0", 1),
            ("12e+2", 1200),
            ("1e-3", 1),
        ];
        for (text, want) in cases {
            assert_eq!(parse_bytes(text), Ok(*want), "memory {text:?}");
        }
    }

    #[test]
    fn suffixes_are_case_sensitive() {
        assert_eq!(parse_bytes("1M"), Ok(1_000_000));
        assert_eq!(parse_bytes("1m"), Ok(1));
        assert_eq!(parse_bytes("1k"), Ok(1000));
        for text in [
            "1K", "1KI", "1ki", "1kI", "1mi", "1MI", "1g", "1gi", "1KB", "1Kib",
        ] {
            assert_eq!(
                parse_bytes(text),
                Err(QuantityError::UnknownSuffix(text.to_owned())),
                "{text:?}"
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_number() {
        let invalid_number = ["abc", ".", "-", "+", "1.2.3", "..5", "Ki", "m", " 1"];
        for text in invalid_number {
            assert_eq!(
                parse_bytes(text),
                Err(QuantityError::InvalidNumber(text.to_owned())),
                "{text:?}"
            );
        }
        let unknown_suffix = [
            "1 Mi", "1Mi ", "1e", "1E+", "1e1.5", "1ee3", "1x", "1.5e3e3",
        ];
        for text in unknown_suffix {
            assert_eq!(
                parse_bytes(text),
                Err(QuantityError::UnknownSuffix(text.to_owned())),
                "{text:?}"
            );
        }
        assert_eq!(parse_bytes(""), Err(QuantityError::Empty));
    }

    #[test]
    fn negative_and_oversized_values_are_errors() {
        assert_eq!(
            parse_cpu_millis("-1"),
            Err(QuantityError::Negative("-1".into()))
        );
        assert_eq!(
            parse_bytes("-5Mi"),
            Err(QuantityError::Negative("-5Mi".into()))
        );
        // 16 Ei is 2^64 bytes: one past u64::MAX.
        assert_eq!(
            parse_bytes("16Ei"),
            Err(QuantityError::Overflow("16Ei".into()))
        );
        assert_eq!(parse_bytes("15Ei"), Ok(15 << 60));
        // One exa-core is 10^21 millicores: too large for u64.
        assert_eq!(
            parse_cpu_millis("1E"),
            Err(QuantityError::Overflow("1E".into()))
        );
        assert_eq!(
            parse_bytes("1e40"),
            Err(QuantityError::Overflow("1e40".into()))
        );
        let many_digits = "9".repeat(60);
        assert_eq!(
            parse_bytes(&many_digits),
            Err(QuantityError::Overflow(many_digits.clone()))
        );
    }

    #[test]
    fn tiny_positive_values_round_up_to_one_unit() {
        assert_eq!(parse_bytes("1e-50"), Ok(1));
        assert_eq!(parse_cpu_millis("0.0000001"), Ok(1));
        assert_eq!(parse_bytes("0.000"), Ok(0));
    }

    #[test]
    fn k8s_openapi_quantities_parse_the_same() {
        assert_eq!(cpu_millis(&Quantity("3500m".into())), Ok(3500));
        assert_eq!(bytes(&Quantity("8Gi".into())), Ok(8 << 30));
        assert_eq!(parse_count("110"), Ok(110));
    }

    #[test]
    fn errors_read_as_lowercase_messages() {
        let err = parse_bytes("12XB").unwrap_err();
        assert_eq!(err.to_string(), "unknown suffix in quantity \"12XB\"");
    }
}
