//! When a plain scalar reads as a string: the YAML 1.2 core schema and YAML 1.1 as PyYAML
//! resolves it, and how a string is written so that it reads back as itself.

/// Whether a plain scalar reads as a number under the YAML 1.2 core schema
/// (`6412849`, `0373973`, `63797e6`, `-1.5`, `.inf`, `0x1f`, `0o17`).
pub fn reads_as_number(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(lower.as_str(), ".inf" | "+.inf" | "-.inf" | ".nan") {
        return true;
    }
    if let Some(h) = s.strip_prefix("0x") {
        return !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(o) = s.strip_prefix("0o") {
        return !o.is_empty() && o.bytes().all(|c| (b'0'..=b'7').contains(&c));
    }
    // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let mut i = 0;
    if matches!(b[0], b'-' | b'+') {
        i = 1;
    }
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - s
    };
    let int = digits(&mut i);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac = digits(&mut i);
        if int == 0 && frac == 0 {
            return false;
        }
    } else if int == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && matches!(b[i], b'-' | b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Whether a plain scalar reads as something other than a string, under the YAML 1.2 core
/// schema or under YAML 1.1 as PyYAML (which the qontract tools use) resolves it: the one test
/// that decides whether a new tag must be quoted.
pub fn plain_is_not_string(s: &str) -> bool {
    reads_as_number(s) || s.is_empty() || is_null_or_bool(s) || yaml11_not_string(s)
}

/// A plain scalar that the YAML 1.2 core schema reads as null or a bool.
pub fn is_null_or_bool(s: &str) -> bool {
    matches!(
        s,
        "~" | "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
    )
}

/// YAML 1.1 types (yaml.org/type/*.html, and PyYAML's resolver where it differs).
fn yaml11_not_string(s: &str) -> bool {
    // bool: y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
    // null: ~|null|Null|NULL|(empty); PyYAML also resolves `<<` (merge) and `=` (value).
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | "<<"
            | "="
    ) || yaml11_int(s)
        || yaml11_float(s)
}

fn all_of(b: &[u8], f: impl Fn(u8) -> bool) -> bool {
    !b.is_empty() && b.iter().all(|c| f(*c))
}

fn digits_(b: &[u8]) -> bool {
    all_of(b, |c| c.is_ascii_digit() || c == b'_')
}

/// `(:[0-5]?[0-9])+` after the first `:`-separated part: every further part.
fn sexagesimal_tail<'a>(mut parts: impl Iterator<Item = &'a [u8]>) -> bool {
    let mut any = false;
    let ok = parts.all(|p| {
        any = true;
        match p {
            [d] => d.is_ascii_digit(),
            [a, d] => (b'0'..=b'5').contains(a) && d.is_ascii_digit(),
            _ => false,
        }
    });
    ok && any
}

/// YAML 1.1 int (yaml.org/type/int.html):
/// `[-+]?0b[0-1_]+` | `[-+]?0[0-7_]+` | `[-+]?(0|[1-9][0-9_]*)` | `[-+]?0x[0-9a-fA-F_]+` |
/// `[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+`.
fn yaml11_int(s: &str) -> bool {
    let b = s.strip_prefix(['-', '+']).unwrap_or(s).as_bytes();
    if let Some(r) = b.strip_prefix(b"0b") {
        return all_of(r, |c| matches!(c, b'0' | b'1' | b'_'));
    }
    if let Some(r) = b.strip_prefix(b"0x") {
        return all_of(r, |c| c.is_ascii_hexdigit() || c == b'_');
    }
    if b == b"0" {
        return true;
    }
    if let Some(r) = b.strip_prefix(b"0") {
        return all_of(r, |c| matches!(c, b'0'..=b'7' | b'_'));
    }
    if !b.first().is_some_and(|c| (b'1'..=b'9').contains(c)) {
        return false;
    }
    let mut parts = b.split(|c| *c == b':');
    let first = parts.next().unwrap_or_default();
    digits_(first) && (!b.contains(&b':') || sexagesimal_tail(parts))
}

/// YAML 1.1 float (yaml.org/type/float.html; PyYAML also allows `_` after the point):
/// `[-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?` | `[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*` |
/// `[-+]?\.(inf|Inf|INF)` | `\.(nan|NaN|NAN)`. The sign of the exponent is taken as optional,
/// as in YAML 1.2: quoting more than needed is harmless.
fn yaml11_float(s: &str) -> bool {
    if matches!(s, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let b = s.strip_prefix(['-', '+']).unwrap_or(s);
    if matches!(b, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    let Some((int, rest)) = b.split_once('.') else {
        return false;
    };
    let (frac, exp) = match rest.split_once(['e', 'E']) {
        Some((f, e)) => (f, Some(e)),
        None => (rest, None),
    };
    let frac_ok = frac
        .bytes()
        .all(|c| c.is_ascii_digit() || c == b'.' || c == b'_');
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        all_of(e.as_bytes(), |c| c.is_ascii_digit())
    });
    let ib = int.as_bytes();
    let int_ok = if ib.contains(&b':') {
        let mut parts = ib.split(|c| *c == b':');
        let first = parts.next().unwrap_or_default();
        exp.is_none()
            && first.first().is_some_and(u8::is_ascii_digit)
            && digits_(first)
            && sexagesimal_tail(parts)
    } else {
        ib.is_empty() || (ib[0].is_ascii_digit() && digits_(ib))
    };
    int_ok && frac_ok && exp_ok
}

/// Whether `s` can be written as a plain scalar and read back as the same string: it reads as a
/// string, and holds nothing that would end it, start a comment or make it another node.
pub fn plain_ok(s: &str) -> bool {
    !s.is_empty()
        && !plain_is_not_string(s)
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@` ".contains(c))
        && !s.contains(['{', '}', '[', ']', ',', '\n'])
        && s.trim() == s
}

/// A string as a new scalar is written: plain when it reads back as itself, else single-quoted.
pub fn plain_or_single(s: &str) -> String {
    if plain_ok(s) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// Whether `s` can stand between the quotes of an existing quoted scalar as it is (no escape or
/// doubling needed in either quote style).
pub fn fits_in_quotes(s: &str) -> bool {
    !s.contains(['\'', '"', '\\'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_when_they_would_read_otherwise() {
        assert_eq!(plain_or_single("abc1234"), "abc1234");
        assert_eq!(plain_or_single("0373973"), "'0373973'");
        assert_eq!(plain_or_single("1e5"), "'1e5'");
        assert_eq!(plain_or_single("true"), "'true'");
        assert_eq!(plain_or_single("a: b"), "'a: b'");
        assert_eq!(plain_or_single("it's"), "it's");
        assert_eq!(plain_or_single("'x"), "'''x'");
    }

    #[test]
    fn numbers_under_the_core_schema() {
        for n in [
            "6412849", "0373973", "63797e6", "1e5", "-3", "+.5", "1.", ".inf", "0x1f", "0o17",
        ] {
            assert!(reads_as_number(n), "{n}");
        }
        for s in [
            "abc1234", "e123456", "123e", "12e4e5", "1234abc", "", "-", ".", "0x", "ff",
        ] {
            assert!(!reads_as_number(s), "{s}");
        }
    }

    /// Every plain form a new tag could take that a YAML reader would not read as a string:
    /// YAML 1.2 core and YAML 1.1 (yaml.org/type/{int,float,bool,null}.html, PyYAML).
    #[test]
    fn plain_scalars_that_are_not_strings_under_yaml_1_1_or_1_2() {
        let table: &[(&str, bool, &str)] = &[
            // 1.1 int, base 2: [-+]?0b[0-1_]+
            ("0b10110", true, "binary"),
            ("0b1011001", true, "binary, 7 characters"),
            ("-0b1_0", true, "signed binary with _"),
            ("0b10112", false, "2 is not binary"),
            ("0b1a", false, "a is not binary"),
            ("0b", false, "no digits"),
            // 1.1 int, base 8: [-+]?0[0-7_]+ (and 1.2 decimal when all digits)
            ("0123456", true, "octal"),
            ("0128", true, "not octal, but a 1.2 decimal"),
            ("0_7", true, "octal with _"),
            ("0a12345", false, "hex letter"),
            // 1.1 int, base 10: [-+]?(0|[1-9][0-9_]*)
            ("0", true, "zero"),
            ("1234567", true, "decimal"),
            ("1_000", true, "decimal with _"),
            ("+12_3", true, "signed with _"),
            ("1_000a", false, "trailing letter"),
            // 1.1 int, base 16: [-+]?0x[0-9a-fA-F_]+ (1.2: 0x[0-9a-fA-F]+)
            ("0x1f", true, "hex"),
            ("0x_", true, "1.1 hex of only _"),
            ("0x", false, "no digits"),
            // 1.1 int, base 60: [-+]?[1-9][0-9_]*(:[0-5]?[0-9])+
            ("1:30", true, "sexagesimal"),
            ("190:20:30", true, "sexagesimal, three parts"),
            ("1:60", false, "60 is not a sexagesimal digit pair"),
            ("1:", false, "empty part"),
            ("0:30", false, "leading 0 is not a sexagesimal int"),
            // 1.1 float: [-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?
            ("1.5", true, "float"),
            (".5", true, "float without int part"),
            ("1.", true, "float without fraction"),
            ("1.2.3", true, "1.1 allows dots in the fraction"),
            ("6.8523015e+5", true, "float with exponent"),
            ("1_0.5_0", true, "PyYAML allows _"),
            ("1.5f", false, "trailing letter"),
            // 1.1 float, base 60: [-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*
            ("190:20:30.15", true, "sexagesimal float"),
            ("0:30.5", true, "sexagesimal float may start with 0"),
            // 1.2 core float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
            ("1e5", true, "1.2 float without point"),
            ("123e4", true, "1.2 float"),
            ("63797e6", true, "a commit id that is a float"),
            ("e123456", false, "no mantissa"),
            ("123e", false, "no exponent digits"),
            ("12e4e5", false, "two exponents"),
            // infinity and not-a-number
            (".inf", true, ".inf"),
            ("-.Inf", true, "-.Inf"),
            ("+.INF", true, "+.INF"),
            (".nan", true, ".nan"),
            (".NaN", true, ".NaN"),
            // bool: 1.1 y|n|yes|no|on|off|true|false; 1.2 true|false
            ("y", true, "1.1 bool"),
            ("N", true, "1.1 bool"),
            ("yes", true, "1.1 bool"),
            ("No", true, "1.1 bool"),
            ("ON", true, "1.1 bool"),
            ("off", true, "1.1 bool"),
            ("true", true, "bool"),
            ("FALSE", true, "bool"),
            ("yEs", false, "mixed case is a string"),
            // null: ~|null|Null|NULL|(empty)
            ("", true, "empty"),
            ("~", true, "tilde"),
            ("Null", true, "null"),
            // PyYAML's merge and value keys
            ("<<", true, "merge"),
            ("=", true, "value"),
            // strings
            ("abc1234", false, "hex starting with a letter"),
            ("deadbee", false, "hex letters"),
            ("1234abc", false, "digits then letters"),
            ("0373e7a", false, "digits and e, not a float"),
        ];
        for (s, not_string, why) in table {
            assert_eq!(plain_is_not_string(s), *not_string, "{s:?}: {why}");
        }
    }
}
