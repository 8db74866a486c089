//! Resource quantities as the scheduler counts them: CPU in millicores, everything else in
//! whole units, both rounded up as upstream's `MilliValue()` and `Value()` round.

/// `"250m"` → 250, `"2"` → 2000, `"1.5"` → 1500. `None` when it does not parse.
pub fn milli_value(s: &str) -> Option<i64> {
    scaled(s, 3)
}

/// `"1Ki"` → 1024, `"1k"` → 1000, `"500m"` → 1 (rounded up). `None` when it does not parse.
pub fn value(s: &str) -> Option<i64> {
    scaled(s, 0)
}

/// The quantity times 10^`exp`, rounded up, saturating at i64's bounds.
fn scaled(s: &str, exp: i32) -> Option<i64> {
    let s = s.trim();
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(end);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let (binary, mut decimal_exp): (i128, i32) = match suffix {
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
        _ => {
            // Scientific notation: 1e3, 1E-3.
            let e = suffix.strip_prefix(['e', 'E'])?;
            (1, e.parse().ok()?)
        }
    };
    // mantissa × 10^-frac_len × binary × 10^decimal_exp × 10^exp
    let digits = format!("{int_part}{frac_part}");
    let mut mantissa: i128 = digits.trim_start_matches('0').parse().unwrap_or(0);
    if digits.trim_start_matches('0').len() > 30 {
        return Some(if negative { i64::MIN } else { i64::MAX });
    }
    decimal_exp += exp - frac_part.len() as i32;
    mantissa = mantissa.saturating_mul(binary);
    let result = if decimal_exp >= 0 {
        let mut m = mantissa;
        for _ in 0..decimal_exp {
            m = m.saturating_mul(10);
        }
        m
    } else {
        let divisor = 10i128.checked_pow((-decimal_exp) as u32).unwrap_or(i128::MAX);
        // Rounded away from zero, as upstream's Value and MilliValue round.
        (mantissa + divisor - 1) / divisor
    };
    let result = if negative { -result } else { result };
    Some(result.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_in_millicores() {
        assert_eq!(milli_value("250m"), Some(250));
        assert_eq!(milli_value("2"), Some(2000));
        assert_eq!(milli_value("1.5"), Some(1500));
        assert_eq!(milli_value("100u"), Some(1));
        assert_eq!(milli_value("0"), Some(0));
        assert_eq!(milli_value("x"), None);
    }

    #[test]
    fn memory_in_bytes() {
        assert_eq!(value("32Gi"), Some(32 << 30));
        assert_eq!(value("1k"), Some(1000));
        assert_eq!(value("500m"), Some(1));
        assert_eq!(value("1e3"), Some(1000));
        assert_eq!(value("110"), Some(110));
    }
}
