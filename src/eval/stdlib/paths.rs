//! Path builtins. bake files are portable, so paths are always slash-separated and follow
//! Go's `path` package rather than the host's conventions.

use super::args::arg_str;
use super::{Env, Value};

pub(super) fn basename(_: &Env, args: &[Value]) -> Result<Value, String> {
    let path = arg_str(args, 0, "path")?;
    Ok(Value::String(base(&path)))
}

pub(super) fn dirname(_: &Env, args: &[Value]) -> Result<Value, String> {
    let path = arg_str(args, 0, "path")?;
    Ok(Value::String(dir(&path)))
}

/// The user's home directory as the CLI found it when it started.
pub(super) fn homedir(env: &Env, _: &[Value]) -> Result<Value, String> {
    env.home
        .clone()
        .map(Value::String)
        .ok_or_else(|| "cannot determine the home directory".into())
}

/// Go's `path.Base`: the last element, ignoring trailing slashes.
fn base(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Go's `path.Dir`: everything before the last slash, cleaned.
fn dir(path: &str) -> String {
    let cut = path.rfind('/').map_or(0, |i| i + 1);
    crate::base::clean_path(&path[..cut])
}

#[cfg(test)]
mod tests {
    use super::super::lookup;
    use super::super::testing::s;
    use super::*;

    fn call(name: &str, args: &[Value]) -> Result<Value, String> {
        let f = lookup(name).expect("builtin exists");
        let env = Env {
            now_unix: 0,
            home: Some("/home/me".into()),
        };
        (f.call)(&env, args)
    }

    #[test]
    fn conformance_212_paths() {
        let file = "services/billing/Dockerfile.prod";
        assert_eq!(call("basename", &[s(file)]), Ok(s("Dockerfile.prod")));
        assert_eq!(call("dirname", &[s(file)]), Ok(s("services/billing")));
    }

    #[test]
    fn go_path_semantics() {
        for (input, want_base, want_dir) in [
            ("", ".", "."),
            ("/", "/", "/"),
            ("a", "a", "."),
            ("/a", "a", "/"),
            ("a/b/", "b", "a/b"),
            ("//a//b", "b", "/a"),
            ("../x", "x", ".."),
            ("a/../../b", "b", ".."),
            ("/../a", "a", "/"),
        ] {
            assert_eq!(
                call("basename", &[s(input)]),
                Ok(s(want_base)),
                "basename({input:?})"
            );
            assert_eq!(
                call("dirname", &[s(input)]),
                Ok(s(want_dir)),
                "dirname({input:?})"
            );
        }
    }

    #[test]
    fn homedir_comes_from_env() {
        assert_eq!(call("homedir", &[]), Ok(s("/home/me")));
        let f = lookup("homedir").expect("builtin exists");
        assert!((f.call)(&Env::default(), &[]).is_err());
    }
}
