//! Resource quantities as validation needs them: their value, to compare, and their canonical
//! text (`Quantity.String()`), because upstream's messages print the canonical form (`0.5`
//! prints as `500m`, `2048Ki` as `2Mi`).

use serde_json::Value;

use crate::defaults::quantity::nanos;

const NANO: i128 = 1_000_000_000;

/// A parsed quantity: its value in nano-units and the notation it was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity {
    pub nanos: i128,
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

impl Quantity {
    /// `None` for what does not parse; decoding, not validation, rejects those.
    pub fn parse(v: &Value) -> Option<Quantity> {
        let value = nanos(v)?;
        let text = match v {
            Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        };
        let suffix = text.trim_start_matches(|c: char| c.is_ascii_digit() || matches!(c, '.' | '+' | '-'));
        let format = if suffix.ends_with('i') {
            Format::BinarySi
        } else if suffix.starts_with(['e', 'E']) {
            Format::DecimalExponent
        } else {
            Format::DecimalSi
        };
        Some(Quantity { nanos: value, format })
    }

    /// The canonical text upstream prints for this quantity.
    pub fn canonical(&self) -> String {
        if self.nanos == 0 {
            return "0".to_string();
        }
        let whole = self.nanos % NANO == 0;
        let binary = self.format == Format::BinarySi && whole && self.nanos.abs() >= 1024 * NANO;
        if binary {
            return self.binary();
        }
        let (mut mantissa, mut exponent) = (self.nanos, -9i32);
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        // The exponent of the printed form is a multiple of three.
        match exponent.rem_euclid(3) {
            1 => {
                mantissa *= 10;
                exponent -= 1;
            }
            2 => {
                mantissa *= 100;
                exponent -= 2;
            }
            _ => {}
        }
        let suffix = match (self.format, exponent) {
            (Format::DecimalExponent, 0) => String::new(),
            (Format::DecimalExponent, e) => format!("e{e}"),
            (_, -9) => "n".into(),
            (_, -6) => "u".into(),
            (_, -3) => "m".into(),
            (_, 0) => String::new(),
            (_, 3) => "k".into(),
            (_, 6) => "M".into(),
            (_, 9) => "G".into(),
            (_, 12) => "T".into(),
            (_, 15) => "P".into(),
            (_, 18) => "E".into(),
            (_, e) => format!("e{e}"),
        };
        format!("{mantissa}{suffix}")
    }

    fn binary(&self) -> String {
        let mut amount = self.nanos / NANO;
        let mut power = 0usize;
        while amount % 1024 == 0 && power < 6 {
            amount /= 1024;
            power += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
        format!("{amount}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: Value) -> String {
        Quantity::parse(&v).unwrap().canonical()
    }

    #[test]
    fn canonical_forms_match_quantity_string() {
        assert_eq!(canon(json!("100m")), "100m");
        assert_eq!(canon(json!("0.5")), "500m");
        assert_eq!(canon(json!("1.5")), "1500m");
        assert_eq!(canon(json!("2")), "2");
        assert_eq!(canon(json!(2)), "2");
        assert_eq!(canon(json!("1000")), "1k");
        assert_eq!(canon(json!("1500")), "1500");
        assert_eq!(canon(json!("1000m")), "1");
        assert_eq!(canon(json!("2048Ki")), "2Mi");
        assert_eq!(canon(json!("1.5Gi")), "1536Mi");
        assert_eq!(canon(json!("512")), "512");
        assert_eq!(canon(json!("100Ki")), "100Ki");
        assert_eq!(canon(json!("1e3")), "1e3");
        assert_eq!(canon(json!("128974848")), "128974848");
        assert_eq!(canon(json!("-1")), "-1");
        assert_eq!(canon(json!("0")), "0");
        assert_eq!(canon(json!("64Mi")), "64Mi");
    }

    #[test]
    fn values_compare() {
        let a = Quantity::parse(&json!("500m")).unwrap();
        let b = Quantity::parse(&json!("0.5")).unwrap();
        assert_eq!(a.nanos, b.nanos);
        assert!(Quantity::parse(&json!("abc")).is_none());
    }
}
