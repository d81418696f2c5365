//! Resource quantities (`100m`, `1.5`, `64Mi`, `1G`, `1e3`) as upstream parses them, in
//! thousandths of the unit (millicores for CPU, millibytes for memory), so sums and
//! comparisons are exact for every value kubectl users write.

/// The value of `text` in thousandths; `None` if it is not a quantity.
pub fn parse_milli(text: &str) -> Option<i128> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(split);
    if number.is_empty() {
        return None;
    }
    // Decimal number as an integer numerator over a power of ten.
    let negative = number.starts_with('-');
    let digits = number.trim_start_matches(['+', '-']);
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let mantissa: i128 = format!("{whole}{frac}").parse().ok()?;
    let mut scale = -(frac.len() as i32); // value = mantissa * 10^scale
    let mut factor: i128 = 1;
    match suffix {
        "" => {}
        "m" => scale -= 3,
        "k" => scale += 3,
        "M" => scale += 6,
        "G" => scale += 9,
        "T" => scale += 12,
        "P" => scale += 15,
        "E" => scale += 18,
        "Ki" => factor = 1 << 10,
        "Mi" => factor = 1 << 20,
        "Gi" => factor = 1 << 30,
        "Ti" => factor = 1 << 40,
        "Pi" => factor = 1 << 50,
        "Ei" => factor = 1 << 60,
        s if s.starts_with(['e', 'E']) => scale += s[1..].parse::<i32>().ok()?,
        _ => return None,
    }
    scale += 3; // thousandths
    let mut value = mantissa.checked_mul(factor)?;
    if scale >= 0 {
        value = value.checked_mul(10i128.checked_pow(scale as u32)?)?;
    } else {
        let div = 10i128.checked_pow((-scale) as u32)?;
        // Round up, as upstream rounds a quantity to its smallest representable unit.
        value = (value + div - 1) / div;
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_to_thousandths() {
        assert_eq!(parse_milli("100m"), Some(100));
        assert_eq!(parse_milli("1"), Some(1000));
        assert_eq!(parse_milli("1.5"), Some(1500));
        assert_eq!(parse_milli("64Mi"), Some(64 * 1024 * 1024 * 1000));
        assert_eq!(parse_milli("1G"), Some(1_000_000_000_000));
        assert_eq!(parse_milli("1e3"), Some(1_000_000));
        assert_eq!(parse_milli("0.1m"), Some(1), "rounded up");
        assert_eq!(parse_milli("12Zi"), None);
        assert_eq!(parse_milli("abc"), None);
        assert_eq!(parse_milli(""), None);
    }
}
