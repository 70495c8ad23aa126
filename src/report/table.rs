//! Plain text tables for `rbake ls` and the full summary.

use unicode_width::UnicodeWidthStr;

/// Renders rows as left-aligned columns separated by two spaces, with a header row. Columns are
/// measured in terminal columns, so a CJK or emoji name keeps the next columns aligned.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.width());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(c);
                l.push_str(&" ".repeat(widths[i] - c.width() + 2));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_cells_keep_columns_aligned() {
        let out = render(
            &["NAME", "STATUS"],
            &[
                vec!["构建".to_string(), "done".to_string()],
                vec!["🚀x".to_string(), "failed".to_string()],
                vec!["plain".to_string(), "done".to_string()],
            ],
        );
        assert_eq!(
            out,
            "NAME   STATUS\n构建   done\n🚀x    failed\nplain  done\n"
        );
    }
}
