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

#[cfg(test)]
mod tests {
    use super::*;

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
