//! CSV fields as Go's encoding/csv reads one record (bake's `type=...,k=v` specs).

/// Splits one CSV record (quotes allowed, as Go's csv reader reads them).
pub fn csv_fields(text: &str, sep: char) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == sep {
            fields.push(std::mem::take(&mut cur));
            at_start = true;
        } else {
            cur.push(c);
            at_start = false;
        }
    }
    if quoted {
        return Err(format!("unterminated quote in `{text}`"));
    }
    fields.push(cur);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_reads_quotes_and_separators() {
        assert_eq!(
            csv_fields("a,\"b,c\",d", ',').unwrap(),
            vec!["a", "b,c", "d"]
        );
        assert_eq!(csv_fields("k:v", ':').unwrap(), vec!["k", "v"]);
    }
}
