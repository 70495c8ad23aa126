//! Hashing and cryptography builtins: hex digests, bcrypt, and RSA decryption.

use md5::Md5;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use super::args::{arg_num, arg_str, quote, whole};
use super::encoding::decode_base64;
use super::{Env, Value};

fn hex_digest<D: Digest>(args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    let digest = D::digest(s.as_bytes());
    Ok(Value::String(
        digest.iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

pub(super) fn md5(_: &Env, args: &[Value]) -> Result<Value, String> {
    hex_digest::<Md5>(args)
}

pub(super) fn sha1(_: &Env, args: &[Value]) -> Result<Value, String> {
    hex_digest::<Sha1>(args)
}

pub(super) fn sha256(_: &Env, args: &[Value]) -> Result<Value, String> {
    hex_digest::<Sha256>(args)
}

pub(super) fn sha512(_: &Env, args: &[Value]) -> Result<Value, String> {
    hex_digest::<Sha512>(args)
}

/// A `$2a$` bcrypt hash with a random salt, following Go's `x/crypto/bcrypt`: a cost below
/// 4 means the default of 10, and passwords longer than 72 bytes are refused rather than
/// silently truncated.
pub(super) fn bcrypt(_: &Env, args: &[Value]) -> Result<Value, String> {
    let password = arg_str(args, 0, "str")?;
    if args.len() > 2 {
        return Err("bcrypt() takes no more than two arguments".into());
    }
    let cost = match args.get(1) {
        Some(_) => whole(&arg_num(args, 1, "cost")?)?,
        None => 10,
    };
    let failed = |e: &str| format!("error occured generating password {e}");
    let cost = if cost < 4 { 10 } else { cost };
    if cost > 31 {
        return Err(failed(&format!(
            "crypto/bcrypt: cost {cost} is outside allowed inclusive range 4..31"
        )));
    }
    if password.len() > 72 {
        return Err(failed("bcrypt: password length exceeds 72 bytes"));
    }
    ::bcrypt::hash_with_result(password.as_bytes(), cost as u32)
        .map(|h| Value::String(h.format_for_version(::bcrypt::Version::TwoA)))
        .map_err(|e| failed(&e.to_string()))
}

/// Decrypts base64 PKCS #1 v1.5 ciphertext with an unencrypted PKCS #1 PEM key.
pub(super) fn rsadecrypt(_: &Env, args: &[Value]) -> Result<Value, String> {
    let ciphertext = arg_str(args, 0, "ciphertext")?;
    let key = arg_str(args, 1, "privatekey")?;
    let bytes = decode_base64(&ciphertext).ok_or_else(|| {
        format!(
            "failed to decode input {}: cipher text must be base64-encoded",
            quote(&ciphertext)
        )
    })?;
    let block = pem::parse(key.as_bytes()).map_err(|_| "failed to parse key: no key found")?;
    if block.headers().get("Proc-Type") == Some("4,ENCRYPTED") {
        return Err("failed to parse key: password protected keys are not supported. Please decrypt the key prior to use".into());
    }
    let private = RsaPrivateKey::from_pkcs1_der(block.contents())
        .map_err(|e| format!("x509: failed to parse private key: {e}"))?;
    let plain = private
        .decrypt(Pkcs1v15Encrypt, &bytes)
        .map_err(|_| "crypto/rsa: decryption error")?;
    String::from_utf8(plain)
        .map(Value::String)
        .map_err(|_| "the decrypted text is not valid UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, s};
    use super::*;

    #[test]
    fn conformance_015_hashes() {
        assert_eq!(
            call("md5", &[s("rbake")]),
            Ok(s("58dc14667d65a3ef9386f9fe8640182e"))
        );
        assert_eq!(
            call("sha1", &[s("rbake")]),
            Ok(s("760ec641d31b625ec7a0c4a807e30c82a5d727dc"))
        );
        assert_eq!(
            call("sha256", &[s("rbake")]),
            Ok(s(
                "7d213cd774e68d99e10511fcd8c3ea6462f5a1ce3601387bebe71f30189c4341"
            ))
        );
    }

    #[test]
    fn corpus_wordpress_cache_keys() {
        // N0rthernL1ghts/wordpress names registry caches by these digests.
        assert_eq!(
            call("sha1", &[s("6.5.0-linux/amd64")]),
            Ok(s("3202f42f8292838a9f76cf1c63b9062cdf9d5f75"))
        );
        assert_eq!(
            call("sha1", &[s("main-linux/amd64")]),
            Ok(s("676ed950a4fa7cb5eef1c6358f8d96201dca787b"))
        );
    }

    #[test]
    fn sha512_and_conversions() {
        assert_eq!(
            call("sha512", &[s("")]),
            Ok(s(
                "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
            ))
        );
        assert_eq!(call("md5", &[Value::num(1.0)]), call("md5", &[s("1")]));
        assert!(call("sha1", &[Value::Null]).is_err());
    }

    #[test]
    fn bcrypt_hashes_verify() {
        let Ok(Value::String(hash)) = call("bcrypt", &[s("secret"), Value::num(4.0)]) else {
            panic!("bcrypt failed");
        };
        assert!(hash.starts_with("$2a$04$"));
        assert!(matches!(::bcrypt::verify("secret", &hash), Ok(true)));
        assert_eq!(
            call("bcrypt", &[s("x"), Value::num(32.0)]),
            Err("error occured generating password crypto/bcrypt: cost 32 is outside allowed inclusive range 4..31".into())
        );
        assert_eq!(
            call("bcrypt", &[s(&"x".repeat(73)), Value::num(4.0)]),
            Err(
                "error occured generating password bcrypt: password length exceeds 72 bytes".into()
            )
        );
        assert_eq!(
            call("bcrypt", &[s("x"), Value::num(4.0), Value::num(4.0)]),
            Err("bcrypt() takes no more than two arguments".into())
        );
    }

    // The fixture from hashicorp/go-cty-funcs' own tests.
    const CIPHER: &str = "eczGaDhXDbOFRZGhjx2etVzWbRqWDlmq0bvNt284JHVbwCgObiuyX9uV0LSAMY707IEgMkExJqXmsB4OWKxvB7epRB9G/3+F+pcrQpODlDuL9oDUAsa65zEpYF0Wbn7Oh7nrMQncyUPpyr9WUlALl0gRWytOA23S+y5joa4M34KFpawFgoqTu/2EEH4Xl1zo+0fy73fEto+nfkUY+meuyGZ1nUx/+DljP7ZqxHBFSlLODmtuTMdswUbHbXbWneW51D7Jm7xB8nSdiA2JQNK5+Sg5x8aNfgvFTt/m2w2+qpsyFa5Wjeu6fZmXSl840CA07aXbk9vN4I81WmJyblD/ZA==";
    const KEY: &str = "
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAgUElV5mwqkloIrM8ZNZ72gSCcnSJt7+/Usa5G+D15YQUAdf9
c1zEekTfHgDP+04nw/uFNFaE5v1RbHaPxhZYVg5ZErNCa/hzn+x10xzcepeS3KPV
Xcxae4MR0BEegvqZqJzN9loXsNL/c3H/B+2Gle3hTxjlWFb3F5qLgR+4Mf4ruhER
1v6eHQa/nchi03MBpT4UeJ7MrL92hTJYLdpSyCqmr8yjxkKJDVC2uRrr+sTSxfh7
r6v24u/vp/QTmBIAlNPgadVAZw17iNNb7vjV7Gwl/5gHXonCUKURaV++dBNLrHIZ
pqcAM8wHRph8mD1EfL9hsz77pHewxolBATV+7QIDAQABAoIBAC1rK+kFW3vrAYm3
+8/fQnQQw5nec4o6+crng6JVQXLeH32qXShNf8kLLG/Jj0vaYcTPPDZw9JCKkTMQ
0mKj9XR/5DLbBMsV6eNXXuvJJ3x4iKW5eD9WkLD4FKlNarBRyO7j8sfPTqXW7uat
NxWdFH7YsSRvNh/9pyQHLWA5OituidMrYbc3EUx8B1GPNyJ9W8Q8znNYLfwYOjU4
Wv1SLE6qGQQH9Q0WzA2WUf8jklCYyMYTIywAjGb8kbAJlKhmj2t2Igjmqtwt1PYc
pGlqbtQBDUiWXt5S4YX/1maIQ/49yeNUajjpbJiH3DbhJbHwFTzP3pZ9P9GHOzlG
kYR+wSECgYEAw/Xida8kSv8n86V3qSY/I+fYQ5V+jDtXIE+JhRnS8xzbOzz3v0WS
Oo5H+o4nJx5eL3Ghb3Gcm0Jn46dHrxinHbm+3RjXv/X6tlbxIYjRSQfHOTSMCTvd
qcliF5vC6RCLXuc7R+IWR1Ky6eDEZGtrvt3DyeYABsp9fRUFR/6NluUCgYEAqNsw
1aSl7WJa27F0DoJdlU9LWerpXcazlJcIdOz/S9QDmSK3RDQTdqfTxRmrxiYI9LEs
mkOkvzlnnOBMpnZ3ZOU5qIRfprecRIi37KDAOHWGnlC0EWGgl46YLb7/jXiWf0AG
Y+DfJJNd9i6TbIDWu8254/erAS6bKMhW/3q7f2kCgYAZ7Id/BiKJAWRpqTRBXlvw
BhXoKvjI2HjYP21z/EyZ+PFPzur/lNaZhIUlMnUfibbwE9pFggQzzf8scM7c7Sf+
mLoVSdoQ/Rujz7CqvQzi2nKSsM7t0curUIb3lJWee5/UeEaxZcmIufoNUrzohAWH
BJOIPDM4ssUTLRq7wYM9uQKBgHCBau5OP8gE6mjKuXsZXWUoahpFLKwwwmJUp2vQ
pOFPJ/6WZOlqkTVT6QPAcPUbTohKrF80hsZqZyDdSfT3peFx4ZLocBrS56m6NmHR
UYHMvJ8rQm76T1fryHVidz85g3zRmfBeWg8yqT5oFg4LYgfLsPm1gRjOhs8LfPvI
OLlRAoGBAIZ5Uv4Z3s8O7WKXXUe/lq6j7vfiVkR1NW/Z/WLKXZpnmvJ7FgxN4e56
RXT7GwNQHIY8eDjDnsHxzrxd+raOxOZeKcMHj3XyjCX3NHfTscnsBPAGYpY/Wxzh
T8UYnFu6RzkixElTf2rseEav7rkdKkI3LAeIZy7B0HulKKsmqVQ7
-----END RSA PRIVATE KEY-----
";

    #[test]
    fn rsadecrypt_fixture() {
        assert_eq!(call("rsadecrypt", &[s(CIPHER), s(KEY)]), Ok(s("message")));
        assert_eq!(
            call("rsadecrypt", &[s(CIPHER), s("bad key")]),
            Err("failed to parse key: no key found".into())
        );
        assert_eq!(
            call("rsadecrypt", &[s("bad cipher"), s(KEY)]),
            Err("failed to decode input \"bad cipher\": cipher text must be base64-encoded".into())
        );
        assert_eq!(
            call("rsadecrypt", &[s(""), s(KEY)]),
            Err("crypto/rsa: decryption error".into())
        );
    }
}
