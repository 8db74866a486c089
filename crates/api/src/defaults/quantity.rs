//! Just enough of resource quantities to compare and add them: a quantity as a whole number of
//! nano-units, rounded up as upstream rounds sub-nano precision.

use serde_json::Value;

const NANO_DIGITS: i32 = 9;

/// The value of a quantity in nano-units (`"100m"` is 100_000_000, `"1Ki"` is 1024 × 10⁹).
/// Accepts the JSON string forms and plain JSON numbers; `None` when it does not parse.
/// Values too large for the representation saturate.
pub(crate) fn nanos(v: &Value) -> Option<i128> {
    match v {
        Value::String(s) => parse(s),
        Value::Number(n) => parse(&n.to_string()),
        _ => None,
    }
}

fn parse(s: &str) -> Option<i128> {
    let s = s.trim();
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let (binary_multiplier, decimal_exponent): (i128, i32) = match suffix {
        "" => (1, 0),
        "n" => (1, -9),
        "u" => (1, -6),
        "m" => (1, -3),
        "k" => (1, 3),
        "M" => (1, 6),
        "G" => (1, 9),
        "T" => (1, 12),
        "P" => (1, 15),
        "E" => (1, 18),
        "Ki" => (1 << 10, 0),
        "Mi" => (1 << 20, 0),
        "Gi" => (1 << 30, 0),
        "Ti" => (1 << 40, 0),
        "Pi" => (1 << 50, 0),
        "Ei" => (1 << 60, 0),
        other => {
            let exp = other.strip_prefix(['e', 'E'])?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (1, exp.parse::<i32>().ok()?)
        }
    };
    // mantissa × 10^(exponent) with exponent counted from the last fractional digit.
    let mut mantissa: i128 = 0;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        mantissa = mantissa.saturating_mul(10).saturating_add(i128::from(b - b'0'));
    }
    let exponent = decimal_exponent - frac_part.len() as i32 + NANO_DIGITS;
    let mut value = mantissa.saturating_mul(binary_multiplier);
    if exponent >= 0 {
        for _ in 0..exponent.min(40) {
            value = value.saturating_mul(10);
        }
    } else {
        let divisor = (0..(-exponent).min(40)).fold(1i128, |d, _| d.saturating_mul(10));
        // Round up, away from zero for the magnitude, as upstream does below nano precision.
        value = value / divisor + i128::from(value % divisor != 0);
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_suffix_forms() {
        const N: i128 = 1_000_000_000;
        let cases: &[(Value, i128)] = &[
            (json!("100m"), N / 10),
            (json!("0.5"), N / 2),
            (json!("1"), N),
            (json!(2), 2 * N),
            (json!(1.5), 3 * N / 2),
            (json!("1Ki"), 1024 * N),
            (json!("128Mi"), 128 * (1 << 20) * N),
            (json!("1G"), N * N),
            (json!("1e3"), 1000 * N),
            (json!("1E-3"), N / 1000),
            (json!("12n"), 12),
            (json!("1.5Gi"), 3 * (1 << 29) * N),
            (json!("-2k"), -2000 * N),
            (json!(".5"), N / 2),
            (json!("0.0000000001"), 1),
        ];
        for (input, want) in cases {
            assert_eq!(nanos(input), Some(*want), "{input}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_quantity() {
        for input in
            [json!(""), json!("abc"), json!("1Xi"), json!("1e"), json!("."), json!(null), json!(true)]
        {
            assert_eq!(nanos(&input), None, "{input}");
        }
    }
}
