//! Japan's local government codes: which 6-digit codes exist, and the
//! prefecture each belongs to.

use std::collections::HashMap;
use std::sync::OnceLock;

/// One municipality (or prefecture) from the national code list.
#[derive(Debug, Clone)]
pub struct Municipality {
    pub code: &'static str,
    pub prefecture: &'static str,
    /// Empty for the prefecture's own code.
    pub name: &'static str,
}

const CATALOGUE: &str = include_str!("../data/municipalities.csv");

fn index() -> &'static HashMap<&'static str, Municipality> {
    static INDEX: OnceLock<HashMap<&'static str, Municipality>> = OnceLock::new();
    INDEX.get_or_init(|| {
        CATALOGUE
            .lines()
            .filter(|line| !line.starts_with('#') && !line.starts_with("code,"))
            .filter_map(|line| {
                let mut fields = line.split(',');
                let code = fields.next()?;
                let prefecture = fields.next()?;
                let name = fields.next().unwrap_or("");
                Some((
                    code,
                    Municipality {
                        code,
                        prefecture,
                        name,
                    },
                ))
            })
            .collect()
    })
}

/// The municipality with this code, if the code is a real one.
pub fn lookup(code: &str) -> Option<&'static Municipality> {
    index().get(code)
}

/// The name of a prefecture from its 2-digit code ("13" → "東京都").
pub fn prefecture_name(code: &str) -> Option<&'static str> {
    if code.len() != 2 {
        return None;
    }
    let five = format!("{code}000");
    let full = format!("{five}{}", check_digit(&five)?);
    lookup(&full).map(|m| m.prefecture)
}

/// The JIS X 0402 check digit of a 5-digit code.
pub fn check_digit(first_five: &str) -> Option<u32> {
    let digits: Vec<u32> = first_five
        .chars()
        .map(|c| c.to_digit(10))
        .collect::<Option<_>>()?;
    if digits.len() != 5 {
        return None;
    }
    let sum: u32 = digits.iter().zip([6, 5, 4, 3, 2]).map(|(d, w)| d * w).sum();
    let rem = sum % 11;
    Some((11 - rem) % 10)
}

/// Why a municipality code was refused.
pub fn validate(code: &str) -> Result<&'static Municipality, String> {
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{code}` is not a 6-digit local government code"));
    }
    if check_digit(&code[..5]) != code[5..].chars().next().and_then(|c| c.to_digit(10)) {
        return Err(format!("`{code}` has a wrong check digit"));
    }
    let municipality =
        lookup(code).ok_or_else(|| format!("`{code}` is not a known local government code"))?;
    if municipality.name.is_empty() {
        return Err(format!("`{code}` is a prefecture, not a municipality"));
    }
    Ok(municipality)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokyo_wards_are_known() {
        assert_eq!(validate("131032").unwrap().name, "港区");
        assert_eq!(validate("131041").unwrap().name, "新宿区");
        assert_eq!(validate("131121").unwrap().prefecture, "東京都");
    }

    #[test]
    fn every_catalogue_code_has_a_valid_check_digit() {
        for code in index().keys() {
            assert_eq!(check_digit(&code[..5]), code[5..].parse().ok(), "{code}");
        }
        assert!(index().len() > 1700);
    }

    #[test]
    fn prefecture_names() {
        assert_eq!(prefecture_name("13"), Some("東京都"));
        assert_eq!(prefecture_name("01"), Some("北海道"));
        assert_eq!(prefecture_name("48"), None);
    }

    #[test]
    fn refuses_malformed_and_unknown_codes() {
        assert!(validate("13103").unwrap_err().contains("6-digit"));
        assert!(validate("131033").unwrap_err().contains("check digit"));
        assert!(validate("130001").unwrap_err().contains("prefecture"));
        // 99999x passes the digit check but names nothing.
        let code = format!("99999{}", check_digit("99999").unwrap());
        assert!(validate(&code).unwrap_err().contains("not a known"));
    }
}
