//! The docs cannot drift from the code: the attribute tables of `docs/reference.md` are what
//! `report::reference::markdown` renders from `spec::attrs`, every diagnostic code in the
//! source has an entry in `docs/diagnostics.md`, every template filter is listed in
//! `docs/toml.md`, and every relative link in `docs/` points at a file that exists.
//!
//! `RBAKE_BLESS=1 cargo test --release --test offline docs::` rewrites the generated part of the reference.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rbake::eval::expr::jinja::{FILTERS, TESTS};
use rbake::report::reference::{BEGIN, END, markdown};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
    {
        let p = entry.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

#[test]
fn reference_tables_are_generated_from_attrs() {
    let path = root().join("docs/reference.md");
    let text = read("docs/reference.md");
    let start = text
        .find(BEGIN)
        .expect("docs/reference.md has the BEGIN marker");
    let end = text[start..].find(END).expect("and the END marker") + start + END.len();
    let want = markdown();
    let want = want.trim_end_matches('\n');
    if &text[start..end] != want {
        if std::env::var_os("RBAKE_BLESS").is_some() {
            let fresh = format!("{}{want}{}", &text[..start], &text[end..]);
            std::fs::write(&path, fresh).expect("write docs/reference.md");
            return;
        }
        panic!(
            "docs/reference.md's attribute tables differ from src/spec/attrs.rs: regenerate them with `RBAKE_BLESS=1 cargo test --release --test offline docs::`"
        );
    }
}

/// Every `layer::kind` code the source reports: `Diag::error("code"` and
/// `Diag::warning("code"` (also split over lines), and `const NAME: &str = "layer::kind"`.
fn codes_in_source() -> BTreeSet<String> {
    let call = regex::Regex::new(r#"Diag::(?:error|warning)\(\s*"([a-z0-9_]+::[a-z0-9_]+)""#)
        .expect("valid regex");
    let constant = regex::Regex::new(r#"const [A-Z_]+: &str = "([a-z0-9_]+::[a-z0-9_]+)""#)
        .expect("valid regex");
    let mut sources = Vec::new();
    files(&root().join("src"), "rs", &mut sources);
    let mut codes = BTreeSet::new();
    for f in sources {
        let text = std::fs::read_to_string(&f).expect("read source");
        for c in call
            .captures_iter(&text)
            .chain(constant.captures_iter(&text))
        {
            codes.insert(c[1].to_string());
        }
    }
    codes
}

#[test]
fn every_diagnostic_code_is_documented() {
    let doc = read("docs/diagnostics.md");
    let heading = regex::Regex::new(r"(?m)^### `([a-z0-9_]+::[a-z0-9_]+)`").expect("valid regex");
    let documented: BTreeSet<String> = heading
        .captures_iter(&doc)
        .map(|c| c[1].to_string())
        .collect();
    let codes = codes_in_source();
    assert!(codes.len() > 50, "found only {} codes", codes.len());
    let missing: Vec<&String> = codes.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "add an entry (`### \\`code\\``, when it happens, an example, the fix) to docs/diagnostics.md for: {missing:?}"
    );
    let stale: Vec<&String> = documented.difference(&codes).collect();
    assert!(
        stale.is_empty(),
        "docs/diagnostics.md documents codes the source no longer reports: {stale:?}"
    );
}

#[test]
fn every_filter_and_test_is_in_the_toml_docs() {
    let doc = read("docs/toml.md");
    for (name, _) in FILTERS {
        assert!(
            doc.contains(&format!("| `{name}` |")),
            "docs/toml.md: filter `{name}`"
        );
    }
    for name in TESTS {
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/toml.md: test `{name}`"
        );
    }
}

#[test]
fn relative_links_in_docs_resolve() {
    let link = regex::Regex::new(r"\]\(([^)#\s]+)(#[^)]*)?\)").expect("valid regex");
    let mut docs = Vec::new();
    files(&root().join("docs"), "md", &mut docs);
    files(&root().join("examples"), "md", &mut docs);
    docs.push(root().join("README.md"));
    let mut broken = Vec::new();
    for f in docs {
        let text = std::fs::read_to_string(&f).expect("read doc");
        for c in link.captures_iter(&text) {
            let target = &c[1];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let dir = f.parent().expect("a doc has a folder");
            if !dir.join(target).exists() {
                broken.push(format!("{} -> {target}", f.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}
