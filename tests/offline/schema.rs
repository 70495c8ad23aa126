//! The JSON Schemas in `schema/`: each is exactly what `rbake schema <which>` prints (so a
//! change to the types or to `spec::attrs` that is not regenerated fails here), every example
//! `build.toml` validates against the TOML schema, and invalid specs fail at the expected
//! path. Invalid fixtures are `tests/fixtures/toml/schema/*.toml`, each starting with
//! `# expect: /JSON/POINTER`.

use std::path::{Path, PathBuf};

use rbake::cli::schema::{Which, text};
use rbake::report::metadata;
use serde_json::{Value, json};
use toml_edit::{Document, Item, TableLike, Value as T};

use crate::support::code;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn committed(file: &str) -> String {
    std::fs::read_to_string(root().join("schema").join(file))
        .unwrap_or_else(|e| panic!("schema/{file}: {e}"))
}

fn schema(file: &str) -> Value {
    serde_json::from_str(&committed(file)).expect("a schema is JSON")
}

/// The instance paths of every validation error (empty: valid).
fn errors(schema: &Value, doc: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("the schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| e.instance_path().to_string())
        .collect()
}

/// A TOML document as the JSON an editor validates (dates become their text).
fn to_json(text: &str) -> Value {
    fn table(t: &dyn TableLike) -> Value {
        Value::Object(t.iter().map(|(k, v)| (k.to_string(), item(v))).collect())
    }
    fn item(i: &Item) -> Value {
        match i {
            Item::None => Value::Null,
            Item::Value(v) => value(v),
            Item::Table(t) => table(t),
            Item::ArrayOfTables(a) => Value::Array(a.iter().map(|t| table(t)).collect()),
        }
    }
    fn value(v: &T) -> Value {
        match v {
            T::String(s) => json!(s.value()),
            T::Integer(i) => json!(i.value()),
            T::Float(f) => json!(f.value()),
            T::Boolean(b) => json!(b.value()),
            T::Datetime(d) => json!(d.value().to_string()),
            T::Array(a) => Value::Array(a.iter().map(value).collect()),
            T::InlineTable(t) => table(t),
        }
    }
    let doc = Document::parse(text).expect("valid TOML");
    table(doc.as_table())
}

#[test]
fn committed_schemas_are_what_rbake_prints() {
    for (which, file) in Which::ALL {
        assert!(
            committed(file) == text(*which),
            "schema/{file} is stale: regenerate it with `cargo run -- schema {} > schema/{file}` and commit it",
            file.split(".v").next().unwrap_or(file)
        );
    }
}

#[test]
fn rbake_schema_prints_each_file() {
    let dir = crate::support::TempDir::new("schema");
    for (_, file) in Which::ALL {
        let which = file.split(".v").next().unwrap_or(file);
        let run = crate::support::rbake(&dir.path, &["schema", which], &[]);
        assert_eq!(code(&run), 0, "{}", run.stderr);
        assert_eq!(run.stdout, committed(file), "rbake schema {which}");
    }
    let bad = crate::support::rbake(&dir.path, &["schema", "nope"], &[]);
    assert_eq!(code(&bad), 2);
}

fn example_tomls() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .expect("examples/")
        .filter_map(Result::ok)
        .map(|e| e.path().join("build.toml"))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

#[test]
fn every_example_build_toml_validates() {
    let s = schema("build-toml.v1.json");
    let files = example_tomls();
    assert!(files.len() >= 4, "examples with build.toml: {files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read example");
        assert!(
            text.starts_with("#:schema ../../schema/build-toml.v1.json\n"),
            "{}: start with the `#:schema` line editors read",
            f.display()
        );
        let errs = errors(&s, &to_json(&text));
        assert!(errs.is_empty(), "{}: {errs:?}", f.display());
    }
}

#[test]
fn invalid_specs_fail_at_the_expected_path() {
    let s = schema("build-toml.v1.json");
    let dir = root().join("tests/fixtures/toml/schema");
    let mut seen = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    entries.sort();
    for f in entries {
        let text = std::fs::read_to_string(&f).expect("read fixture");
        let want = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be `# expect: PATH`", f.display()));
        let errs = errors(&s, &to_json(&text));
        assert!(
            errs.iter().any(|e| e == want),
            "{}: expected an error at {want}, got {errs:?}",
            f.display()
        );
        seen += 1;
    }
    assert!(seen >= 5, "only {seen} invalid fixtures");
}

#[test]
fn a_json_bake_file_validates_and_prints_like_its_hcl() {
    let s = schema("bake-json.v1.json");
    let fixture = root().join("tests/fixtures/toml/schema/bake");
    let text = std::fs::read_to_string(fixture.join("docker-bake.json")).expect("fixture");
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(errors(&s, &doc), Vec::<String>::new());

    let mut bad = doc.clone();
    bad["target"]["release"]["platforms"] = json!("linux/amd64");
    assert!(errors(&s, &bad).contains(&"/target/release/platforms".to_string()));

    // The fixture is the multiarch example in HCL's JSON syntax.
    let example = root().join("examples/multiarch");
    let json_run = crate::support::rbake(
        &example,
        &[
            "print",
            "-f",
            fixture.join("docker-bake.json").to_str().unwrap(),
            "release",
            "local",
        ],
        &[],
    );
    let hcl_run = crate::support::rbake(
        &example,
        &[
            "print",
            "-f",
            "docker-bake.hcl",
            "-f",
            "build.hcl",
            "release",
            "local",
        ],
        &[],
    );
    assert_eq!(code(&json_run), 0, "{}", json_run.stderr);
    assert_eq!(json_run.stdout, hcl_run.stdout);
}

#[test]
fn metadata_documents_validate() {
    let s = schema("metadata.v2.json");
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let mut doc = metadata::Document::new();
    doc.rbake.nodes.insert(
        "build:release:linux/arm64".into(),
        metadata::Node {
            digest: digest.clone(),
            platform: "linux/arm64".into(),
            target: "release".into(),
            build_ref: Some("arm/arm/8m2k1bq3y0xj".into()),
        },
    );
    doc.targets.insert(
        "release".into(),
        metadata::Target {
            build_ref: Some("arm/arm/8m2k1bq3y0xj".into()),
            digest: Some(digest.clone()),
            config_digest: Some(digest.clone()),
            descriptor: Some(metadata::Descriptor {
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                digest: digest.clone(),
                size: 512,
            }),
            image_name: Some("127.0.0.1:5000/demo/hello:1.0.0".into()),
        },
    );
    doc.rbake.published.push(metadata::Published {
        tag: "127.0.0.1:5000/demo/hello:1.0.0".into(),
        digest: digest.clone(),
        platforms: vec!["linux/arm64".into()],
    });
    doc.rbake.loaded.push(metadata::Loaded {
        tag: "demo/hello:1.0.0-linux-arm64".into(),
        platform: "linux/arm64".into(),
        image_id: digest,
    });
    doc.rbake.results.insert(
        "build:release:linux/arm64".into(),
        metadata::NodeResult {
            status: "done".into(),
            milliseconds: Some(5120),
            cached_percent: Some(75),
            builder: Some("arm".into()),
        },
    );
    doc.rbake.results.insert(
        "push:release".into(),
        metadata::NodeResult {
            status: "skipped".into(),
            milliseconds: None,
            cached_percent: None,
            builder: None,
        },
    );
    let value: Value = serde_json::from_str(&doc.to_json()).expect("JSON");
    assert_eq!(errors(&s, &value), Vec::<String>::new());

    let mut bad = value.clone();
    bad["rbake.metadata"]["nodes"]["build:release:linux/arm64"]["digest"] = json!("md5:abc");
    assert_eq!(
        errors(&s, &bad),
        vec!["/rbake.metadata/nodes/build:release:linux~1arm64/digest".to_string()]
    );
    let mut bad = value.clone();
    bad["release"]["containerimage.digest"] = json!("md5:abc");
    assert_eq!(
        errors(&s, &bad),
        vec!["/release/containerimage.digest".to_string()]
    );
    let mut wrong = value;
    wrong["rbake.metadata"]["schema"] = json!("rbake.metadata.v1");
    assert_eq!(
        errors(&s, &wrong),
        vec!["/rbake.metadata/schema".to_string()]
    );
}
