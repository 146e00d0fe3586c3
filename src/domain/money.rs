//! Money is a decimal string with an ISO 4217 currency code; Stockade never does float
//! arithmetic on it.

/// A non-negative decimal with at most 12 integer digits and 4 fraction digits.
pub fn is_valid_amount(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |p: &str, max: usize| {
        !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_digit())
    };
    digits(int, 12) && frac.is_none_or(|f| digits(f, 4))
}

/// Three upper-case ASCII letters, the shape of an ISO 4217 alphabetic code.
pub fn is_valid_currency(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// Ten-thousandths of a currency unit: the finest amount Stockade keeps, and the unit of
/// exact sums and shares of money.
pub const SCALE: i128 = 10_000;

/// A decimal string (a leading `-`, any number of fraction digits, or exponent notation
/// as JSON numbers may print) in ten-thousandths, rounded half away from zero.
pub fn parse_scaled(s: &str) -> Option<i128> {
    let s = s.trim();
    if s.contains(['e', 'E']) {
        // Only JSON numbers print like this; go through a float once, to a decimal string.
        let f: f64 = s.parse().ok().filter(|f: &f64| f.is_finite())?;
        return parse_scaled(&format!("{f:.6}"));
    }
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 18 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let mut value: i128 = int.parse().ok()?;
    let mut kept = 0;
    for b in frac.bytes().take(4) {
        value = value * 10 + i128::from(b - b'0');
        kept += 1;
    }
    for _ in kept..4 {
        value *= 10;
    }
    if frac.as_bytes().get(4).is_some_and(|&b| b >= b'5') {
        value += 1;
    }
    Some(if negative { -value } else { value })
}

/// `v` with exactly `places` decimals (at most 4), rounded half away from zero.
pub fn format_scaled(v: i128, places: u32) -> String {
    let places = places.min(4);
    let step = 10_i128.pow(4 - places);
    let rounded = (v.abs() + step / 2) / step;
    let sign = if v < 0 && rounded > 0 { "-" } else { "" };
    if places == 0 {
        return format!("{sign}{rounded}");
    }
    let unit = 10_i128.pow(places);
    format!(
        "{sign}{}.{:0width$}",
        rounded / unit,
        rounded % unit,
        width = places as usize
    )
}

/// `v` in the shortest form that keeps every decimal: `30`, `14.5`, `14.3333`.
pub fn format_shortest(v: i128) -> String {
    let full = format_scaled(v, 4);
    full.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `v · part / whole`, rounded half away from zero: a share of a line's total.
pub fn portion(v: i128, part: i64, whole: i64) -> i128 {
    if whole == 0 {
        return 0;
    }
    let (num, den) = (v * i128::from(part), i128::from(whole));
    let q = num / den;
    let r = num % den;
    if 2 * r.abs() >= den.abs() {
        q + num.signum() * den.signum()
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_money_is_exact() {
        assert_eq!(parse_scaled("19.90"), Some(199_000));
        assert_eq!(parse_scaled("30"), Some(300_000));
        assert_eq!(parse_scaled("-10.00"), Some(-100_000));
        assert_eq!(parse_scaled("14.33333333"), Some(143_333));
        assert_eq!(parse_scaled("0.30000000000000004"), Some(3_000));
        assert_eq!(parse_scaled("2.00005"), Some(20_001));
        assert_eq!(parse_scaled("1e-7"), Some(0));
        assert_eq!(parse_scaled("1.5E2"), Some(1_500_000));
        for bad in ["", "abc", "1.2.3", "--1", ".5", "1,5"] {
            assert_eq!(parse_scaled(bad), None, "{bad}");
        }
        assert_eq!(format_scaled(199_000, 2), "19.90");
        assert_eq!(format_scaled(143_333, 2), "14.33");
        assert_eq!(format_scaled(143_350, 2), "14.34");
        assert_eq!(format_scaled(-100_000, 2), "-10.00");
        assert_eq!(format_scaled(5_000, 0), "1");
        assert_eq!(format_shortest(300_000), "30");
        assert_eq!(format_shortest(143_333), "14.3333");
        assert_eq!(format_shortest(145_000), "14.5");
        assert_eq!(portion(300_000, 1, 3), 100_000);
        assert_eq!(portion(100_000, 1, 3), 33_333);
        assert_eq!(portion(200_000, 1, 3), 66_667);
        assert_eq!(portion(-200_000, 1, 3), -66_667);
        assert_eq!(portion(5, 1, 0), 0);
    }

    #[test]
    fn amounts() {
        for ok in ["0", "19.90", "1234567890.1234", "5.5"] {
            assert!(is_valid_amount(ok), "{ok}");
        }
        for bad in [
            "", "-1", "1.", ".5", "1.23456", "1e3", "12,50", "0x10", " 1",
        ] {
            assert!(!is_valid_amount(bad), "{bad}");
        }
    }

    #[test]
    fn currencies() {
        assert!(is_valid_currency("EUR"));
        assert!(!is_valid_currency("eur"));
        assert!(!is_valid_currency("EURO"));
    }
}
